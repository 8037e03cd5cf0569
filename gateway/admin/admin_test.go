package admin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "ganlink_test_things_total", Help: "Things."})
	reg.MustRegister(c)
	c.Add(3)
	var notReady error = errors.New(`source "cnc" has not connected yet`)
	s := New("127.0.0.1:0", reg, func() error { return notReady }, func() any { return map[string]int{"devices": 2} },
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
	s := New("127.0.0.1:notaport", prometheus.NewRegistry(), func() error { return nil }, func() any { return nil },
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.Listen(); err == nil {
		t.Fatal("no error for a bad address")
	}
	_ = time.Second
}
