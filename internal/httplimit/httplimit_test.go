package httplimit

import (
	"context"
	"net"
	"net/http"
	"testing"
)

// TestHeaderBytes serves with http.Server and checks that a head of exactly the limit
// is read and one byte more gets 431, for several limits.
func TestHeaderBytes(t *testing.T) {
	for _, limit := range []int{MinHeadBytes, 8 << 10, 16 << 10, 64 << 10} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{MaxHeaderBytes: HeaderBytes(limit),
			Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })}
		go func() { _ = srv.Serve(ln) }()
		for _, tc := range []struct{ size, code int }{{200, 200}, {limit - 1, 200}, {limit, 200}, {limit + 1, 431}, {limit + 4096, 431}} {
			code, err := ProbeHead(ln.Addr().String(), "/", tc.size)
			if err != nil || code != tc.code {
				t.Errorf("limit %d: head of %d bytes: %d %v, want %d", limit, tc.size, code, err, tc.code)
			}
		}
		_ = srv.Shutdown(context.Background())
	}
	if got := HeaderBytes(100); got != 1 {
		t.Errorf("HeaderBytes(100) = %d, want 1 (the limit raised to MinHeadBytes)", got)
	}
}
