package app_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// TestStatusPageDriven drives the status page in Chromium through the DevTools
// protocol: it renders in Chinese, the language button switches it to English in
// place, and its footer links to the commissioning page.
func TestStatusPageDriven(t *testing.T) {
	dir := t.TempDir()
	yml := fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws9, name: 二车间}
admin: {listen: "127.0.0.1:0"}
queue: {dir: %q}
devices:
  - {id: legacy1, kind: machine, key_process: true}
`, filepath.Join(dir, "queue"))
	a, _ := runGateway(t, yml, app.Options{})
	b := testsrv.StartBrowser(t)
	b.Navigate("http://"+a.AdminAddr()+"/", `section[data-device="legacy1"]`)
	if got := b.TextOf("h1"); got != "二车间 · ws9" {
		t.Errorf("title %q", got)
	}
	if got := b.TextOf(`section[data-device="legacy1"]`); !strings.Contains(got, "未联网") {
		t.Errorf("legacy1 card %q, want it marked 未联网", got)
	}
	b.Click("#lang")
	b.Wait("English", `document.documentElement.lang === "en"`)
	b.WaitText(`section[data-device="legacy1"]`, "Not networked")
	if href := testsrv.Eval[string](b, `document.getElementById("commission-link").href`); href != "http://"+a.AdminAddr()+"/commission" {
		t.Errorf("commissioning link %q", href)
	}
	if p := b.Problems(); len(p) != 0 {
		t.Errorf("page console errors: %q", p)
	}
}
