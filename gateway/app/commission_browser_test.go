package app_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ganlink/ganlink/adapters/opcua/pki"
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

// TestCommissionTrustInChromium: browsing a new endpoint whose server certificate the
// gateway does not trust shows the certificate's thumbprint on the page; the engineer's
// Trust moves it into the PKI directory's trusted/, and once the server trusts the
// gateway's certificate too, the same browse lists the address space.
func TestCommissionTrustInChromium(t *testing.T) {
	opts := testsrv.MachineToolOptions{Policies: []string{"Basic256Sha256"}, NoNone: true}
	srv := testsrv.StartMachineTool(t, opts)
	dir := t.TempDir()
	yml := fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws9}
admin:
  listen: "127.0.0.1:0"
  users: [{name: li, role: engineer, password: "engineer-pw-1"}]
queue: {dir: %q}
pki: {dir: %q}
devices:
  - {id: lathe1, kind: machine}
`, filepath.Join(dir, "queue"), filepath.Join(dir, "pki"))
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := runGatewayConfig(t, cfg, app.Options{ConfigPath: path})
	b := testsrv.StartBrowser(t)
	b.Navigate("http://"+a.AdminAddr()+"/commission?lang=en", "#signin-form")
	b.Type("#user", "li")
	b.Type("#password", "engineer-pw-1")
	b.Click("#signin-btn")
	b.Wait("the signed-in page", `!document.getElementById("app").hidden && document.getElementById("fileinfo").textContent !== ""`)
	b.Select("#src-name", "")
	b.Type("#src-endpoint", srv.URL)
	b.Select("#src-policy", "Basic256Sha256")
	b.Select("#src-mode", "SignAndEncrypt")
	b.Click("#btn-browse")
	b.Wait("the certificate", `!document.getElementById("cert").hidden || document.getElementById("banner").textContent`)
	thumb := pki.Thumbprint(srv.ServerCertificate())
	if got := b.TextOf("#cert-thumbprint"); got != "SHA-1 "+thumb {
		t.Fatalf("certificate shown %q, want SHA-1 %s (banner %q)", got, thumb, b.TextOf("#banner"))
	}
	b.Screenshot("10-certificate")
	b.Click("#btn-trust")
	b.WaitText("#cert-result", "Trusted:")
	trusted, err := os.ReadDir(filepath.Join(dir, "pki", "trusted"))
	if err != nil || len(trusted) != 1 {
		t.Fatalf("trusted/ holds %v (%v), want the server's certificate", trusted, err)
	}
	if c, err := pki.ReadCertificate(filepath.Join(dir, "pki", "trusted", trusted[0].Name())); err != nil || pki.Thumbprint(c.Raw) != thumb {
		t.Fatalf("trusted/%s: %v", trusted[0].Name(), err)
	}
	// The server in turn trusts the gateway's certificate.
	own, err := pki.ReadCertificate(filepath.Join(dir, "pki", "own", "cert.der"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	opts.TrustedClients = [][]byte{own.Raw}
	srv.StartWith(opts)
	b.Click("#btn-browse")
	b.Wait("the address space", `document.querySelectorAll("#found tr.node").length > 0 || document.getElementById("banner").textContent`)
	if !strings.Contains(b.TextOf("#found"), "Machines") {
		t.Errorf("browse after trusting: %q (banner %q)", b.TextOf("#found"), b.TextOf("#banner"))
	}
	if p := b.Problems(); len(p) != 0 {
		t.Errorf("page console errors: %q", p)
	}
}
