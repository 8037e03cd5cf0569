package admin

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ganlink/ganlink/gateway/schema"
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

// TestStatusPageKPIFromSchema checks that the served page carries its KPI table and
// tiles filled in from gateway/schema, each a workshop_kpi field, and no longer the
// empty marker.
func TestStatusPageKPIFromSchema(t *testing.T) {
	page := string(statusPage)
	if strings.Contains(page, pageKPIMarker) {
		t.Fatal("served page still holds the empty KPI marker")
	}
	for _, want := range []string{
		`const KPI = {"fields":[{"key":"cnc_rate","zh":"数控化率","en":"CNC rate","format":"pct"},`,
		`{"key":"energy_kgce_per_part","zh":"单件能耗（kgce/件）","en":"Energy per part (kgce)","digits":4}`,
		`"tiles":{"cnc":"cnc_rate","net":"networked_rate","parts":"parts"}};`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	shop := schema.WorkshopKPIFields()
	for _, f := range pageKPI.Fields {
		if !slices.Contains(shop, f.Key) {
			t.Errorf("table row %q is not a workshop_kpi field", f.Key)
		}
		if f.ZH == "" || f.EN == "" {
			t.Errorf("table row %q lacks a label", f.Key)
		}
	}
	for tile, key := range pageKPI.Tiles {
		if !slices.Contains(shop, key) {
			t.Errorf("tile %s shows %q, not a workshop_kpi field", tile, key)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("a page without the KPI marker was accepted")
		}
	}()
	fillPageKPI([]byte("<html></html>"))
}
