package admin

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
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

// TestCommissionPageServed: GET /commission serves the embedded page with the status
// page's Content-Security-Policy; the page is one document with one script of its own,
// loads nothing from elsewhere, and names the device model's roles exactly.
func TestCommissionPageServed(t *testing.T) {
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
	resp, err := http.Get("http://" + s.Addr() + "/commission")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != string(commissionPage) {
		t.Fatalf("GET /commission = %d, %d bytes; want 200 and the embedded page", resp.StatusCode, len(body))
	}
	for k, v := range map[string]string{"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": commissionCSP,
		"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	page := string(body)
	if n := strings.Count(page, "<script"); n != 1 {
		t.Errorf("%d script elements, want the page's own one", n)
	}
	// What a device sends (browse names, values, payloads, errors) is only ever set as
	// text: the script parses no markup.
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(page, sink) {
			t.Errorf("the page uses %s", sink)
		}
	}
	// Only that script may run: by its hash, never 'unsafe-inline'.
	script := page[strings.Index(page, "<script>")+len("<script>") : strings.Index(page, "</script>")]
	sum := sha256.Sum256([]byte(script))
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"';") || strings.Contains(csp, "script-src 'unsafe-inline'") {
		t.Errorf("CSP %q does not allow exactly the page's script", csp)
	}
	// Nothing is fetched from another origin: every URL in the page is relative.
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//`).FindString(page); m != "" {
		t.Errorf("the page refers to another origin: %s", m)
	}
	var want pageModel
	m := regexp.MustCompile(`const MODEL = (\{.*\});`).FindStringSubmatch(page)
	if m == nil || json.Unmarshal([]byte(m[1]), &want) != nil {
		t.Fatalf("no MODEL object filled in: %q", m)
	}
	if !slices.Equal(want.Roles, schema.RoleNames()) || !slices.Equal(want.CounterRoles, []string{schema.RawPartsTotal, schema.RawEnergyKWhTotal, schema.RawWaterM3Total}) ||
		!slices.Equal(want.Classes, []string{schema.ClassEquipment, schema.ClassMeter}) {
		t.Errorf("MODEL %+v", want)
	}
}
