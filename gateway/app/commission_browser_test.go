package app_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/opcua/pki"
	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/internal/devsim"
	"github.com/ganlink/ganlink/internal/testsrv"
	mb "github.com/simonvetter/modbus"
)

// TestStatusPageDriven drives the status page in Chromium through the DevTools
// protocol: it renders in Chinese, the language button switches it to English in
// place, and its link opens the commissioning page in the same language.
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
	if got := b.TextOf("#commission"); got != "设备调试" {
		t.Errorf("commissioning link reads %q", got)
	}
	b.Click("#lang")
	b.Wait("English", `document.documentElement.lang === "en"`)
	b.WaitText(`section[data-device="legacy1"]`, "Not networked")
	if got := b.TextOf("#commission"); got != "Commissioning" {
		t.Errorf("commissioning link reads %q in English", got)
	}
	b.Click("#commission")
	b.Wait("the commissioning page", `location.pathname === "/commission" && document.getElementById("signin-form")`)
	if lang := testsrv.Eval[string](b, `document.documentElement.lang`); lang != "en" {
		t.Errorf("the commissioning page opened in %q, want the status page's English", lang)
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

// signInPage starts a browser on the commissioning page of the gateway built from yml
// (written to a file, so the configuration API has one) and signs in as li, engineer,
// password "engineer-pw-1" (yml must configure her).
func signInPage(t *testing.T, yml, lang string) *testsrv.Browser {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := runGatewayConfig(t, cfg, app.Options{ConfigPath: path})
	b := testsrv.StartBrowser(t)
	b.Navigate("http://"+a.AdminAddr()+"/commission?lang="+lang, "#signin-form")
	b.Type("#user", "li")
	b.Type("#password", "engineer-pw-1")
	b.Click("#signin-btn")
	b.Wait("the signed-in page", `!document.getElementById("app").hidden && document.getElementById("fileinfo").textContent !== ""`)
	return b
}

// TestCommissionMQTTInChromium: the page listens to a configured broker, lists the
// topic with its sample payload and JSON paths, and a path picked into an energy meter
// checks (dry run) with the energy KPI in its plan.
func TestCommissionMQTTInChromium(t *testing.T) {
	broker := testsrv.StartMosquitto(t)
	pub := publisher(t, broker.URL)
	if tok := pub.Publish("m/em1", 1, true, `{"ts":1765090000000,"kwh":1234.5,"v":{"a":230.1}}`); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	dir := t.TempDir()
	b := signInPage(t, fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws9}
admin:
  listen: "127.0.0.1:0"
  users: [{name: li, role: engineer, password: "engineer-pw-1"}]
queue: {dir: %q}
sources:
  mqtt:
    - name: meters
      broker: %q
      client_id: commission-mqtt
devices:
  - id: lathe1
    kind: machine
`, filepath.Join(dir, "queue"), broker.URL), "zh")
	b.Select("#src-kind", "mqtt")
	if got := testsrv.Eval[string](b, `document.getElementById("src-name").value`); got != "meters" {
		t.Fatalf("MQTT source offered %q, want meters", got)
	}
	b.Type("#mq-filter", "m/#")
	b.Type("#mq-seconds", "1")
	b.Click("#btn-sniff")
	b.Wait("the topic", `document.querySelector('#found tr[data-topic="m/em1"]') || document.getElementById("banner").textContent`)
	row := b.TextOf(`#found tr[data-topic="m/em1"]`)
	for _, want := range []string{`{"ts":1765090000000,"kwh":1234.5,"v":{"a":230.1}}`, "kwh (number) = 1234.5", "v.a (number) = 230.1"} {
		if !strings.Contains(row, want) {
			t.Errorf("topic row %q lacks %q (banner %q)", row, want, b.TextOf("#banner"))
		}
	}
	b.Screenshot("11-mqtt")
	b.Click(`#found tr[data-topic="m/em1"] div[data-json-path="kwh"] button.pick`)
	b.Click(`#tabs button[data-tab="map"]`)
	if got := testsrv.Eval[string](b, `document.getElementById("dev-topic").value`); got != "m/em1" {
		t.Errorf("device topic %q, want m/em1", got)
	}
	b.Type("#dev-id", "em1")
	b.Type("#dev-kind", "energy_meter")
	b.Select("#dev-class", "meter")
	b.Type(`#signals tr[data-signal="0"] input.f-field`, "energy_kwh_total")
	b.Select(`#signals tr[data-signal="0"] select.f-role`, "energy_kwh_total")
	b.Type(`#signals tr[data-signal="0"] input.f-unit`, "kWh")
	b.Click("#btn-dryrun")
	b.Wait("the dry run", `document.querySelector("#validate-ok, #validate-errors") || document.getElementById("banner").textContent`)
	if e := b.TextOf("#errors"); !strings.Contains(e, "配置有效") {
		t.Fatalf("dry run: %q %q", e, b.TextOf("#banner"))
	}
	if plan := b.TextOf(`#plan tr[data-plan="em1"]`); !strings.Contains(plan, "energy ✓ (energy_kwh_total)") {
		t.Errorf("KPI plan of em1 %q, want the energy group", plan)
	}
	if p := b.Problems(); len(p) != 0 {
		t.Errorf("page console errors: %q", p)
	}
}

// TestCommissionModbusInChromium: the page scans a Modbus TCP line, lists the unit that
// answered with the meter type recognised, and a register added on that unit, addressed
// from the meter's register map, test-reads its value.
func TestCommissionModbusInChromium(t *testing.T) {
	bank := &unitBank{meterBank{regs: map[uint16]uint16{}}}
	bank.setFloat(0x0000, 230.5)
	port := testsrv.FreePort(t)
	srv, err := mb.NewServer(&mb.ServerConfiguration{URL: fmt.Sprintf("tcp://127.0.0.1:%d", port),
		Timeout: 30 * time.Second, MaxClients: 4}, bank)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	dir := t.TempDir()
	b := signInPage(t, fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws9}
admin:
  listen: "127.0.0.1:0"
  users: [{name: li, role: engineer, password: "engineer-pw-1"}]
queue: {dir: %q}
sources:
  modbus:
    - {name: rs485, endpoint: "tcp://127.0.0.1:%d", timeout: 1s}
devices:
  - id: lathe1
    kind: machine
`, filepath.Join(dir, "queue"), port), "zh")
	b.Select("#src-kind", "modbus")
	b.Type("#mb-units", "1-3")
	b.Click("#btn-scan")
	b.Wait("the scan", `document.querySelector('#found tr[data-unit="1"]') || document.getElementById("banner").textContent`)
	if row := b.TextOf(`#found tr[data-unit="1"]`); !strings.Contains(row, "sdm630") || !strings.Contains(row, "230.5 V") {
		t.Errorf("unit 1 row %q (banner %q), want the sdm630 template and 230.5 V", row, b.TextOf("#banner"))
	}
	b.Screenshot("12-modbus")
	b.Click(`#found tr[data-unit="1"] button.pick`)
	b.Click(`#tabs button[data-tab="map"]`)
	b.Type("#dev-id", "em1")
	b.Type("#dev-kind", "energy_meter")
	b.Select("#dev-class", "meter")
	b.Type(`#signals tr[data-signal="0"] input.f-field`, "voltage_l1_v")
	b.Type(`#signals tr[data-signal="0"] input.f-bind`, `{"area":"input","address":0,"type":"float32"}`)
	b.Click("#btn-read")
	b.Wait("the test-read", `document.querySelector('#readout tr[data-read="voltage_l1_v"]') || document.getElementById("banner").textContent`)
	cells := testsrv.Eval[[]string](b, `[...(document.querySelector('#readout tr[data-read="voltage_l1_v"]') || {cells: []}).cells].map(c => c.textContent)`)
	if len(cells) < 3 || cells[1] != "230.5" || !strings.HasPrefix(cells[2], "good") {
		t.Errorf("test-read %q (banner %q), want 230.5 good", cells, b.TextOf("#banner"))
	}
	if p := b.Problems(); len(p) != 0 {
		t.Errorf("page console errors: %q", p)
	}
}

// TestCommissionDLT645InChromium: the page discovers a DL/T 645-2007 meter on a new
// serial-server endpoint, lists its data items with values, and the energy item picked
// into a meter device test-reads the meter's value.
func TestCommissionDLT645InChromium(t *testing.T) {
	m, err := devsim.NewDLT645Meter(devsim.DLT645MeterConfig{Address: "000000000001", BaseKW: 2, EnergyKWh: 1500.25})
	if err != nil {
		t.Fatal(err)
	}
	bus, err := devsim.NewDLT645Bus(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	sdone := make(chan struct{})
	go func() { _ = bus.ServeTCP(sctx, ln); close(sdone) }()
	t.Cleanup(func() { scancel(); <-sdone })
	dir := t.TempDir()
	b := signInPage(t, fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws9}
admin:
  listen: "127.0.0.1:0"
  users: [{name: li, role: engineer, password: "engineer-pw-1"}]
queue: {dir: %q}
devices:
  - id: lathe1
    kind: machine
`, filepath.Join(dir, "queue")), "en")
	b.Select("#src-kind", "dlt645")
	b.Type("#src-endpoint", "tcp://"+ln.Addr().String())
	b.Type("#dl-addresses", "000000000001")
	b.Click("#btn-dlscan")
	b.Wait("the meter", `document.querySelector('#found tr[data-di="00010000"]') || document.getElementById("banner").textContent`)
	if row := b.TextOf(`#found tr[data-di="00010000"]`); !strings.Contains(row, "000000000001") || !strings.Contains(row, "kWh") {
		t.Fatalf("total active energy row %q (banner %q)", row, b.TextOf("#banner"))
	}
	b.Click(`#found tr[data-di="00010000"] button.pick`)
	b.Click(`#tabs button[data-tab="map"]`)
	if got := testsrv.Eval[string](b, `document.getElementById("dev-address").value`); got != "000000000001" {
		t.Errorf("device address %q", got)
	}
	b.Type("#dev-id", "em1")
	b.Type("#dev-kind", "energy_meter")
	b.Select("#dev-class", "meter")
	b.Type("#dev-source", "bus1")
	b.Type(`#signals tr[data-signal="0"] input.f-field`, "energy_kwh_total")
	b.Select(`#signals tr[data-signal="0"] select.f-role`, "energy_kwh_total")
	b.Click("#btn-read")
	b.Wait("the test-read", `document.querySelector('#readout tr[data-read="energy_kwh_total"]') || document.getElementById("banner").textContent`)
	cells := testsrv.Eval[[]string](b, `[...(document.querySelector('#readout tr[data-read="energy_kwh_total"]') || {cells: []}).cells].map(c => c.textContent)`)
	if len(cells) < 3 || !strings.HasPrefix(cells[1], "1500") || !strings.HasPrefix(cells[2], "good") {
		t.Errorf("test-read %q (banner %q), want about 1500.25 good", cells, b.TextOf("#banner"))
	}
	if p := b.Problems(); len(p) != 0 {
		t.Errorf("page console errors: %q", p)
	}
}
