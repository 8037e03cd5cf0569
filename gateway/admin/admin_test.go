package admin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/httplimit"
	"github.com/prometheus/client_golang/prometheus"
)

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "ganlink_test_things_total", Help: "Things."})
	reg.MustRegister(c)
	c.Add(3)
	var notReady error = errors.New(`source "cnc" has not connected yet`)
	s := New("127.0.0.1:0", reg, func() error { return notReady }, func(url.Values) (any, error) { return map[string]int{"devices": 2}, nil },
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/healthz", 200, "ok\n"},
		{"/readyz", 503, "not ready: source \"cnc\" has not connected yet\n"},
		{"/api/status", 200, "{\n  \"devices\": 2\n}\n"},
	} {
		code, body := get(tc.path)
		if code != tc.code || body != tc.body {
			t.Errorf("GET %s = %d %q, want %d %q", tc.path, code, body, tc.code, tc.body)
		}
	}
	notReady = nil
	if code, body := get("/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("/readyz after ready = %d %q", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "ganlink_test_things_total 3") {
		t.Errorf("/metrics = %d %q", code, body)
	}
	if code, _ := get("/nope"); code != 404 {
		t.Errorf("unknown path = %d", code)
	}
}

func TestListenError(t *testing.T) {
	s := New("127.0.0.1:notaport", prometheus.NewRegistry(), func() error { return nil }, func(url.Values) (any, error) { return nil, nil },
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.Listen(); err == nil {
		t.Fatal("no error for a bad address")
	}
	_ = time.Second
}

func TestPprof(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		s := New("127.0.0.1:0", prometheus.NewRegistry(), func() error { return nil }, func(url.Values) (any, error) { return nil, nil },
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		if enabled {
			s.EnablePprof()
			if err := s.SetAuth(Auth{Token: "t0ken"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Listen(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		get := func(path, token string) (int, []byte) {
			req, _ := http.NewRequest("GET", "http://"+s.Addr()+path, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, b
		}
		if !enabled {
			if code, _ := get("/debug/pprof/heap", ""); code != http.StatusNotFound {
				t.Errorf("pprof off: heap %d, want 404", code)
			}
		} else {
			if code, _ := get("/debug/pprof/heap", ""); code != http.StatusUnauthorized {
				t.Errorf("pprof without the token: %d, want 401", code)
			}
			code, b := get("/debug/pprof/heap", "t0ken")
			// A heap profile is a gzipped protocol buffer.
			if code != http.StatusOK || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
				t.Errorf("heap profile: %d, %d bytes", code, len(b))
			}
			if code, b := get("/debug/pprof/", "t0ken"); code != http.StatusOK || !strings.Contains(string(b), "goroutine") {
				t.Errorf("index: %d %.100s", code, b)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// TestHeadLimit checks the documented limit exactly: a request head of 16 KiB is read,
// 16 KiB + 1 byte gets 431 (net/http alone would read 4 KiB more).
func TestHeadLimit(t *testing.T) {
	s, _ := startServer(t, "127.0.0.1:0", nil)
	for _, tc := range []struct{ size, code int }{{100, 200}, {16 << 10, 200}, {16<<10 + 1, 431}, {20 << 10, 431}} {
		code, err := httplimit.ProbeHead(s.Addr(), "/healthz", tc.size)
		if err != nil || code != tc.code {
			t.Errorf("head of %d bytes: %d %v, want %d", tc.size, code, err, tc.code)
		}
	}
	if code, body := func() (int, string) {
		resp, err := http.Get("http://" + s.Addr() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}(); code != 200 || body != "ok\n" {
		t.Errorf("normal request: %d %q", code, body)
	}
}
