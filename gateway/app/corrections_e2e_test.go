package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/corrections"
)

// TestStatusPageCorrectionsInChromium: the status page lists the corrections in force
// (a revoked one disappears), with the device, signal, id, recorder and reason as text
// (a reason that looks like markup stays text).
func TestStatusPageCorrectionsInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is needed for this test (scripts/install-deps.sh installs it): %v", err)
	}
	dir := t.TempDir()
	yml := fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws9, timezone: Asia/Shanghai}
admin: {listen: "127.0.0.1:0"}
queue: {dir: %q}
devices:
  - {id: em1, kind: energy_meter, class: meter}
`, filepath.Join(dir, "queue"))
	a, _ := runGateway(t, yml, app.Options{})
	add := func(body string) corrections.Correction {
		t.Helper()
		resp, err := http.Post("http://"+a.AdminAddr()+"/api/corrections", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var res corrections.Result
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 201 {
			t.Fatalf("POST %s: %d %v", body, resp.StatusCode, err)
		}
		return res.Correction
	}
	shop := add(`{"kind":"invalid","from":"2026-01-05T00:00:00Z","until":"2026-01-05T02:00:00Z","by":"alice","reason":"<script>alert(1)</script> test run"}`)
	gone := add(`{"kind":"invalid","device":"em1","from":"2026-01-05T00:00:00Z","until":"2026-01-05T01:00:00Z","by":"alice","reason":"typo"}`)
	resp, err := http.Post("http://"+a.AdminAddr()+"/api/corrections/"+gone.ID+"/revoke", "application/json",
		strings.NewReader(`{"reason":"wrong device","by":"bob"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke: %v %v", resp, err)
	}
	resp.Body.Close()

	page := dumpStatusPage(t, chromium, t.TempDir(), "http://"+a.AdminAddr()+"/?lang=en")
	if !page.CorrShown || len(page.Corrections) != 1 {
		t.Fatalf("corrections section shown %v, rows %q", page.CorrShown, page.Corrections)
	}
	row := page.Corrections[shop.ID]
	for _, want := range []string{"invalid span", "whole workshop", shop.ID, "alice", "<script>alert(1)</script> test run", "05/01/2026, 08:00:00"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
	if page.Scripts != 1 {
		t.Errorf("%d script elements: a reason was rendered as markup", page.Scripts)
	}
}
