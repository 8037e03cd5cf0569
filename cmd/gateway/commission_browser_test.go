package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// commissionGateway is the gateway binary serving a configuration file, as an engineer
// runs it: the page's apply and rollback go through its serve loop's reload.
type commissionGateway struct {
	t       *testing.T
	cfgPath string
	base    string // http://127.0.0.1:PORT
	log     bytes.Buffer
}

// startCommissionGateway writes yml (with ADMIN replaced by the admin address) and runs
// the gateway on it until the test ends; it returns once /healthz answers.
func startCommissionGateway(t *testing.T, dir, yml string) *commissionGateway {
	t.Helper()
	admin := fmt.Sprintf("127.0.0.1:%d", testsrv.FreePort(t))
	g := &commissionGateway{t: t, cfgPath: filepath.Join(dir, "gateway.yaml"), base: "http://" + admin}
	if err := os.WriteFile(g.cfgPath, []byte(strings.ReplaceAll(yml, "ADMIN", admin)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testsrv.GatewayBinary(t), "-config", g.cfgPath)
	cmd.Stdout, cmd.Stderr = &g.log, &g.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("gateway log:\n%s", tailText(g.log.String(), 8000))
		}
	})
	if msg := testsrv.WaitFor(30*time.Second, func() string {
		resp, err := http.Get(g.base + "/healthz")
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return resp.Status
		}
		return ""
	}); msg != "" {
		t.Fatalf("gateway did not start: %s\n%s", msg, g.log.String())
	}
	return g
}

func tailText(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// file returns the configuration file's bytes.
func (g *commissionGateway) file() []byte {
	g.t.Helper()
	b, err := os.ReadFile(g.cfgPath)
	if err != nil {
		g.t.Fatal(err)
	}
	return b
}

// request sends a request with the given headers and returns the status and the
// "error" of the JSON body.
func (g *commissionGateway) request(method, path, body string, header map[string]string) (int, string) {
	g.t.Helper()
	req, err := http.NewRequest(method, g.base+path, strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error string `json:"error"`
	}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, e.Error
}

// pageFetch is the answer to a request the page made with its own api() function.
type pageFetch struct {
	Status int `json:"status"`
	Data   struct {
		Error string `json:"error"`
	} `json:"data"`
}

// rowID returns the id of the browse row whose browse path ends with suffix; the test
// fails if there is none or more than one.
func rowID(t *testing.T, b *testsrv.Browser, suffix string) string {
	t.Helper()
	ids := testsrv.Eval[[]string](b, fmt.Sprintf(`[...document.querySelectorAll("#found tr.node")]
		.filter(r => r.dataset.path.endsWith(%q)).map(r => r.id)`, suffix))
	if len(ids) != 1 {
		t.Fatalf("%d browse rows end with %q, want 1: %q", len(ids), suffix, b.TextOf("#found"))
	}
	return ids[0]
}

// TestCommissionInChromium commissions a machine in the browser, end to end, against
// the gateway binary, the node-opcua OPC 40501-shaped server and VictoriaMetrics:
// requests without a session or without the CSRF token are refused; the engineer signs
// in, browses the server's tree (expanding it, then searching below M1), picks M1's
// MachineryItemState number and parts counter, maps them with the machinery_item_state
// and parts_total roles, sees the KPI plan of the dry run, test-reads the values,
// applies, and the running gateway's device_kpi and raw series of m1 appear in
// VictoriaMetrics. A meter with the key-process flag is refused with the message of
// `gateway validate` and the file is untouched; the rollback restores the file as it
// was before the apply, byte for byte; a viewer sees no apply button and the API
// refuses the page's own request.
func TestCommissionInChromium(t *testing.T) {
	srv := testsrv.StartMachineTool(t, testsrv.MachineToolOptions{Parts: 40})
	vm := testsrv.StartVictoria(t)
	dir := t.TempDir()
	pw := filepath.Join(dir, "li.password")
	if err := os.WriteFile(pw, []byte("engineer-pw-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yml := fmt.Sprintf(`# Workshop 1 gateway. Hand edits and the commissioning page's edits coexist.
workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1, name: 一号车间}
admin:
  listen: "ADMIN"
  users:
    - {name: li, role: engineer, password_file: %q}
    - {name: wang, role: viewer, password: "viewer-pw-1"}
queue: {dir: %q}
kpi: {windows: [5s], allowed_lateness: 1s}
health: {interval: 0s}
sources:
  opcua:
    - {name: mt, endpoint: %q, security_policy: None, publishing_interval: 100ms}
sinks:
  influx:
    - {name: tsdb, url: %q, bucket: b, flush_interval: 100ms}
devices:
  - id: lathe1 # a manual lathe: inventory only
    kind: machine
    key_process: true
`, pw, filepath.Join(dir, "queue"), srv.URL, vm.URL)
	g := startCommissionGateway(t, dir, yml)
	original := g.file()

	// Refused before any page: no credentials, then a session without its CSRF token.
	if code, msg := g.request("PUT", "/api/config/devices/m1", `{}`, nil); code != http.StatusUnauthorized {
		t.Errorf("PUT without credentials: %d %q, want 401", code, msg)
	}
	if code, msg := g.request("POST", "/api/commission/opcua/browse", `{"source":"mt"}`, nil); code != http.StatusUnauthorized {
		t.Errorf("browse without credentials: %d %q, want 401", code, msg)
	}

	b := testsrv.StartBrowser(t)
	b.Navigate(g.base+"/commission", "#signin-form")
	if lang := testsrv.Eval[string](b, `document.documentElement.lang`); lang != "zh-CN" {
		t.Errorf("page language %q, want zh-CN", lang)
	}
	b.WaitText("#signin h2", "登录")
	b.Screenshot("01-signin")
	b.Type("#user", "li")
	b.Type("#password", "wrong")
	b.Click("#signin-btn")
	b.WaitText("#signin-err", "用户名或密码错误")
	b.Type("#password", "engineer-pw-1")
	b.Click("#signin-btn")
	b.Wait("the signed-in page", `!document.getElementById("app").hidden && document.getElementById("fileinfo").textContent !== ""`)
	if who := b.TextOf("#who"); who != "li（工程师）" {
		t.Errorf("signed in as %q", who)
	}
	// The session's cookie without the CSRF token is refused: the page's fetch, bare.
	bare := testsrv.Eval[pageFetch](b, `fetch("api/config/devices/m1", {method: "PUT", headers: {"Content-Type": "application/json"},
		body: "{}"}).then(async r => ({status: r.status, data: await r.json()}))`)
	if bare.Status != http.StatusForbidden || bare.Data.Error != "missing or invalid CSRF token" {
		t.Errorf("PUT without X-CSRF-Token from the page: %+v, want 403 missing or invalid CSRF token", bare)
	}

	// Browse: the top of the tree, expand Machines and M1.
	b.Click("#btn-browse")
	b.Wait("the Objects folder's children", `document.querySelectorAll("#found tr.node").length > 0`)
	machines := rowID(t, b, ";Machines")
	b.Click("#" + machines + " button.expand")
	b.Wait("M1", `[...document.querySelectorAll("#found tr.node")].some(r => r.dataset.path.endsWith(";M1"))`)
	m1 := rowID(t, b, ";M1")
	b.Click("#" + m1 + " button.expand")
	b.Wait("M1's children", `[...document.querySelectorAll("#found tr.node")].some(r => r.dataset.path.endsWith(";M1/nsu=http://opcfoundation.org/UA/MachineTool/;Monitoring"))`)
	b.Screenshot("02-browse-tree")

	// Search below M1 by name, and pick the two signals.
	m1Node := testsrv.Eval[string](b, `document.getElementById("`+m1+`").dataset.node`)
	const (
		mach    = "nsu=http://opcfoundation.org/UA/Machinery/;"
		mt      = "nsu=http://opcfoundation.org/UA/MachineTool/;"
		m1Path  = "Objects/" + mach + "Machines/nsu=urn:ganlink:testsrv:machines;M1"
		state   = m1Path + "/" + mach + "MachineryBuildingBlocks/MachineryItemState/0:CurrentState/Number"
		counter = m1Path + "/" + mt + "Monitoring/MachineTool/nsu=http://opcfoundation.org/UA/DI/;OperationCounters/" + mt + "PartsProducedInLifetime"
	)
	b.Type("#ua-node", m1Node)
	b.Type("#ua-depth", "8")
	b.Type("#ua-match", "Number")
	b.Click("#btn-browse")
	b.Wait("the state numbers", `[...document.querySelectorAll("#found tr.node")].some(r => r.dataset.path === `+jsq(state)+`)`)
	b.Click("#" + rowID(t, b, state) + " button.pick")
	b.Type("#ua-match", "PartsProducedInLifetime")
	b.Click("#btn-browse")
	b.Wait("the parts counters", `[...document.querySelectorAll("#found tr.node")].some(r => r.dataset.path === `+jsq(counter)+`)`)
	row := rowID(t, b, counter)
	if got := b.TextOf("#" + row); !strings.Contains(got, "UInt64") || !strings.Contains(got, "40") || !strings.Contains(got, "Good") || !strings.Contains(got, "parts_total") {
		t.Errorf("parts counter row %q: want type UInt64, value 40, status Good and suggested role parts_total", got)
	}
	b.Click("#" + row + " button.pick")
	b.Screenshot("03-browse-search")

	// Map: the gateway suggests the roles (OPC 40501 browse names) of the picked nodes.
	b.Click(`#tabs button[data-tab="map"]`)
	b.Click("#btn-suggest")
	b.Wait("the suggestion", `document.getElementById("signals").dataset.suggested === "1" || document.getElementById("banner").textContent`)
	suggested := testsrv.Eval[[]string](b, `[...document.querySelectorAll("#signals tr[data-signal]")].map(r =>
		r.querySelector("input.f-field").value + " " + r.querySelector("select.f-role").value + " " + r.querySelector("input.f-counter").checked)`)
	if len(suggested) != 2 || suggested[0] != "machinery_item_state machinery_item_state false" ||
		suggested[1] != "parts_total parts_total true" || b.TextOf("#banner") != "" {
		t.Errorf("suggested signals %q (banner %q), want the state number as machinery_item_state and the counter as parts_total", suggested, b.TextOf("#banner"))
	}
	b.Type("#dev-id", "m1")
	b.Type("#dev-name", "1号加工中心")
	b.Type("#dev-kind", "cnc")
	b.Select("#dev-class", "equipment")
	b.Click("#dev-key_process")
	b.Click("#dev-numerical_control")
	b.Type(`#signals tr[data-signal="0"] input.f-field`, "machinery_item_state")
	b.Select(`#signals tr[data-signal="0"] select.f-role`, "machinery_item_state")
	b.Type(`#signals tr[data-signal="1"] input.f-field`, "parts_total")
	b.Select(`#signals tr[data-signal="1"] select.f-role`, "parts_total")
	if !testsrv.Eval[bool](b, `document.querySelector('#signals tr[data-signal="1"] input.f-counter').checked`) {
		t.Error("the parts_total role did not tick the counter box")
	}
	b.Click("#btn-dryrun")
	b.Wait("the dry run", `document.querySelector("#validate-ok, #validate-errors") || document.getElementById("banner").textContent || !document.getElementById("conflict").hidden`)
	if s := b.TextOf("#banner"); s != "" {
		t.Fatalf("dry run: %s", s)
	}
	if e := b.TextOf("#errors"); !strings.Contains(e, "配置有效") {
		t.Fatalf("dry run: %q", e)
	}
	plan := b.TextOf(`#plan tr[data-plan="m1"]`)
	for _, k := range []string{"state", "parts"} {
		if !strings.Contains(plan, k) {
			t.Errorf("KPI plan of m1 %q lacks %s", plan, k)
		}
	}
	if !bytes.Equal(g.file(), original) {
		t.Fatal("the dry run wrote the file")
	}
	b.Click("#btn-read")
	b.Wait("the test-read", `document.querySelectorAll("#readout tr[data-read]").length === 2`)
	for field, want := range map[string]string{"machinery_item_state": "3", "parts_total": "40"} {
		r := `#readout tr[data-read="` + field + `"]`
		if q := testsrv.Eval[string](b, `document.querySelector('`+r+`').dataset.quality`); q != "good" {
			t.Errorf("test-read %s: quality %q (%s)", field, q, b.TextOf(r))
		}
		if cells := testsrv.Eval[[]string](b, `[...document.querySelector('`+r+`').cells].map(c => c.textContent)`); len(cells) < 4 || cells[1] != want || cells[3] == "—" {
			t.Errorf("test-read %s: %q, want value %s and a source time", field, cells, want)
		}
	}
	b.Screenshot("04-map-checked")

	// Apply, and follow the reload.
	b.Click("#btn-apply")
	b.Wait("the reload", `document.querySelector('#applystate [data-state="applied"], #applystate [data-state="failed"]')`)
	if s := b.TextOf("#applystate"); !strings.Contains(s, "已生效") {
		t.Fatalf("apply: %q", s)
	}
	b.Screenshot("05-applied")
	applied := g.file()
	for _, want := range []string{"# Workshop 1 gateway. Hand edits", "# a manual lathe: inventory only", "id: m1", state, "parts_total"} {
		if !bytes.Contains(applied, []byte(want)) {
			t.Errorf("the applied file lacks %q:\n%s", want, applied)
		}
	}

	// The running gateway delivers m1's KPIs: a whole 5 s window running, and its raw
	// signals, in VictoriaMetrics.
	if msg := testsrv.WaitFor(40*time.Second, func() string {
		vm.Flush()
		raw := vm.Export(`{__name__=~"cnc_(parts_total|machinery_item_state)",device="m1",workshop="ws1"}`)
		got := map[string]float64{}
		for _, s := range raw {
			got[s.Labels["__name__"]] = s.Value
		}
		if got["cnc_parts_total"] != 40 || got["cnc_machinery_item_state"] != 3 {
			return fmt.Sprintf("raw series of m1: %v", got)
		}
		for _, s := range vm.Export(`device_kpi_running_s{device="m1",window="5s",workshop="ws1"}`) {
			if s.Value == 5 {
				return ""
			}
		}
		return "no 5 s window of m1 with running_s 5 yet"
	}); msg != "" {
		t.Fatal(msg)
	}
	// No part was made: every window of m1 books 0 parts (the counter's first value, 40,
	// is a baseline, not production).
	parts := vm.Export(`device_kpi_parts{device="m1",window="5s",workshop="ws1"}`)
	if len(parts) == 0 {
		t.Error("no device_kpi_parts of m1")
	}
	for _, s := range parts {
		if s.Value != 0 {
			t.Errorf("device_kpi_parts of m1 at %s = %v, want 0", time.UnixMilli(s.Timestamp).UTC().Format(time.TimeOnly), s.Value)
		}
	}

	// A hand edit after the page loaded the file: the page refuses to overwrite it and
	// says so; once it re-read the file, the change applies on top of the hand edit.
	handEdited := append(append([]byte{}, applied...), []byte("# checked by hand after commissioning m1\n")...)
	if err := os.WriteFile(g.cfgPath, handEdited, 0o644); err != nil {
		t.Fatal(err)
	}
	b.Type("#dev-name", "1号加工中心（东）")
	b.Click("#btn-apply")
	b.Wait("the conflict", `!document.getElementById("conflict").hidden`)
	if c := b.TextOf("#conflict-msg"); !strings.HasPrefix(c, "the configuration file changed since you loaded it (sha256 ") {
		t.Errorf("conflict message %q", c)
	}
	b.Screenshot("05b-conflict")
	if !bytes.Equal(g.file(), handEdited) {
		t.Fatal("a write based on a stale file overwrote the hand edit")
	}
	b.Click("#btn-refile")
	b.Wait("the file re-read", `document.getElementById("conflict").hidden`)
	b.Click("#btn-apply")
	b.Wait("the second reload", `document.querySelector('#applystate [data-state="applied"], #applystate [data-state="failed"]')`)
	if s := b.TextOf("#applystate"); !strings.Contains(s, "已生效") {
		t.Fatalf("apply after the conflict: %q", s)
	}
	applied = g.file()
	if !bytes.Contains(applied, []byte("# checked by hand after commissioning m1")) || !bytes.Contains(applied, []byte("1号加工中心（东）")) {
		t.Errorf("the file after the second apply lacks the hand edit or the new name:\n%s", applied)
	}

	// An invalid mapping: a meter flagged as key-process equipment. Refused with the
	// message of gateway validate, inline; the file is untouched.
	b.Type("#dev-id", "em9")
	b.Select("#dev-class", "meter")
	b.Click("#btn-apply")
	b.Wait("the refusal", `document.querySelector("#validate-errors")`)
	want := "devices[2].key_process: a meter is not production equipment (class meter): key_process applies to class equipment only"
	if e := b.TextOf("#validate-errors"); !strings.Contains(e, want) {
		t.Errorf("refusal %q lacks %q", e, want)
	}
	b.Screenshot("06-invalid")
	if !bytes.Equal(g.file(), applied) {
		t.Errorf("an invalid mapping changed the file:\n%s\nwas:\n%s", g.file(), applied)
	}

	// Versions: the file before the apply is one; rolling back restores it byte for byte.
	b.Click(`#tabs button[data-tab="versions"]`)
	b.Wait("the versions", `document.querySelectorAll("#versions tr[data-version]").length >= 1`)
	sum := sha256.Sum256(original)
	ver := testsrv.Eval[string](b, `[...document.querySelectorAll("#versions tr[data-version]")].map(r => r.dataset.version)
		.find(id => document.querySelector('#versions tr[data-version="' + id + '"]').textContent.includes(`+jsq(hex.EncodeToString(sum[:])[:12])+`)) || ""`)
	if ver == "" {
		t.Fatalf("no version with the original file's sha256: %q", b.TextOf("#versions"))
	}
	b.Screenshot("07-versions")
	b.Click(`#versions tr[data-version="` + ver + `"] button.rollback`)
	b.Wait("the rollback's reload", `document.querySelector('#rollstate [data-state="applied"], #rollstate [data-state="failed"]')`)
	if s := b.TextOf("#rollstate"); !strings.Contains(s, "已生效") {
		t.Fatalf("rollback: %q", s)
	}
	if got := g.file(); !bytes.Equal(got, original) {
		t.Errorf("after the rollback the file is\n%s\nwant the original\n%s", got, original)
	}

	// The audit log names who did what.
	b.Click(`#tabs button[data-tab="audit"]`)
	b.Wait("the audit rows", `document.querySelectorAll("#audit tr[data-action]").length >= 3`)
	actions := testsrv.Eval[[]string](b, `[...document.querySelectorAll("#audit tr[data-action]")].map(r => r.dataset.action + " " + r.cells[1].textContent)`)
	sort.Strings(actions)
	if s := strings.Join(actions, "\n"); !strings.Contains(s, "li") || !strings.Contains(s, "rollback") {
		t.Errorf("audit rows:\n%s", s)
	}
	b.Screenshot("08-audit")

	// A viewer: no apply button, and the API refuses the page's own request.
	b.Click("#signout")
	b.Wait("the sign-in form", `!document.getElementById("signin").hidden`)
	b.Type("#user", "wang")
	b.Type("#password", "viewer-pw-1")
	b.Click("#signin-btn")
	b.Wait("the viewer's page", `!document.getElementById("app").hidden && !document.getElementById("readonly").hidden`)
	if visible := testsrv.Eval[bool](b, `document.getElementById("btn-apply").offsetParent !== null || document.getElementById("btn-browse").offsetParent !== null`); visible {
		t.Error("a viewer sees the apply or browse button")
	}
	refused := testsrv.Eval[pageFetch](b, `api("PUT", "api/config/devices/m1", {base_sha256: `+jsq(hex.EncodeToString(sum[:]))+`, device: {id: "m1", kind: "cnc"}})`)
	if refused.Status != http.StatusForbidden || refused.Data.Error != "role viewer may not PUT /api/config/devices/m1: an engineer may" {
		t.Errorf("a viewer's PUT from the page: %+v, want 403 and the role message", refused)
	}
	b.Screenshot("09-viewer")
	b.Click("#lang")
	b.WaitText("#readonly", "Read-only: a viewer cannot browse devices")
	if h := b.TextOf("h1"); h != "Commissioning" {
		t.Errorf("English title %q", h)
	}
	if !bytes.Equal(g.file(), original) {
		t.Error("a viewer's request changed the file")
	}
	if p := b.Problems(); len(p) != 0 {
		t.Errorf("the page reported errors: %q", p)
	}
}

// jsq quotes s as a JavaScript string literal.
func jsq(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}
