package admin

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestStatusPage(t *testing.T) {
	s := New("127.0.0.1:0", prometheus.NewRegistry(), func() error { return nil }, func(url.Values) (any, error) { return map[string]int{}, nil },
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
	for _, tc := range []struct {
		path   string
		code   int
		header map[string]string
	}{
		{"/", 200, map[string]string{"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": pageCSP,
			"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}},
		{"/index.html", 404, nil},
		{"/api/status", 200, map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}},
	} {
		resp, err := http.Get("http://" + s.Addr() + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("GET %s = %d, want %d", tc.path, resp.StatusCode, tc.code)
		}
		for k, v := range tc.header {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("GET %s: %s = %q, want %q", tc.path, k, got, v)
			}
		}
		if tc.path == "/" && string(body) != string(statusPage) {
			t.Errorf("GET / did not serve the embedded page")
		}
	}
}

// TestStatusPageSelfContained checks that the page loads nothing from elsewhere (it must
// work on an edge box without internet) and fetches its data relative to its own URL.
func TestStatusPageSelfContained(t *testing.T) {
	page := string(statusPage)
	external := regexp.MustCompile(`(?i)(src|href|action)\s*=\s*["']?\s*(https?:)?//|url\(\s*["']?(https?:)?//|@import|<link\b|<script[^>]*\bsrc=`)
	if m := external.FindString(page); m != "" {
		t.Errorf("page references an external resource: %q", m)
	}
	for _, want := range []string{`fetch("api/status"`, `localStorage.getItem("ganlink.lang")`, `lang = "zh"`, `"st.offline": "离线"`, `"st.offline": "Offline"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
