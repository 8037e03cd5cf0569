package influx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/testutil"
)

// hangingServer accepts connections and never answers. With read set it consumes the
// request; otherwise it never reads, so a large body stalls in the socket buffers.
type hangingServer struct {
	URL  string
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn []net.Conn
}

func startHangingServer(t *testing.T, read bool) *hangingServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hangingServer{URL: "http://" + ln.Addr().String(), ln: ln}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conn = append(h.conn, c)
			h.mu.Unlock()
			if read {
				h.wg.Add(1)
				go func() {
					defer h.wg.Done()
					_, _ = io.Copy(io.Discard, c)
				}()
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		h.mu.Lock()
		for _, c := range h.conn {
			c.Close()
		}
		h.mu.Unlock()
		h.wg.Wait()
	})
	return h
}

func TestWriteAbortsOnHangingServer(t *testing.T) {
	big := bytes.Repeat([]byte("energy_meter,device=em1 energy_kwh_total=12345.5 1700000000123456789\n"), 128<<10) // 9 MB
	for _, tc := range []struct {
		name    string
		read    bool
		gzip    bool
		lines   []byte
		ctx     func() (context.Context, context.CancelFunc)
		timeout time.Duration
		want    string // after the URL
		is      error
	}{
		{
			name: "cancel while awaiting response", read: true, gzip: true, lines: testLines("w"),
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(100*time.Millisecond, cancel)
				return ctx, cancel
			},
			want: `: context canceled`, is: context.Canceled,
		},
		{
			name: "cancel while sending a body the server does not read", read: false, gzip: false, lines: big,
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(100*time.Millisecond, cancel)
				return ctx, cancel
			},
			want: `: context canceled`, is: context.Canceled,
		},
		{
			name: "deadline", read: true, gzip: true, lines: testLines("w"),
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			want: `: context deadline exceeded`, is: context.DeadlineExceeded,
		},
		{
			name: "request timeout", read: true, gzip: true, lines: testLines("w"), timeout: 100 * time.Millisecond,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithCancel(context.Background())
			},
			want: `: context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, is: context.DeadlineExceeded,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHangingServer(t, tc.read)
			var logs testutil.LogBuffer
			cfg := config("hang", h.URL, "b")
			cfg.Gzip = tc.gzip
			if tc.timeout > 0 {
				cfg.Timeout = tc.timeout
			}
			s := newSink(t, cfg, debugLogger(&logs))
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			err := s.Write(ctx, tc.lines)
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("Write took %v", d)
			}
			want := fmt.Sprintf(`write sink "hang": Post "%s/api/v2/write?bucket=b&org=&precision=ns"%s`, h.URL, tc.want)
			if errString(err) != want {
				t.Fatalf("Write = %v\nwant %s", err, want)
			}
			if !errors.Is(err, tc.is) {
				t.Fatalf("error does not wrap %v", tc.is)
			}
			if c := classOf(err); c != (class{}) {
				t.Fatalf("classification %+v, want retryable without status", c)
			}
			if strings.Contains(logs.String(), "not released") {
				t.Fatalf("request body not released:\n%s", logs.String())
			}
		})
	}
}
