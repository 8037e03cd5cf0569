package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ganlink/ganlink/gateway/admin"
	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// apiClient signs in on the admin API and sends the session's cookie and CSRF token.
type apiClient struct {
	t      *testing.T
	base   string
	cookie *http.Cookie
	csrf   string
}

func (c *apiClient) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		js, _ := json.Marshal(body)
		rd = bytes.NewReader(js)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if method == "POST" && path == "/api/session" && resp.StatusCode == 200 {
		for _, ck := range resp.Cookies() {
			if ck.Name == admin.CookieName {
				c.cookie = ck
			}
		}
		var sb struct {
			CSRF string `json:"csrf_token"`
		}
		_ = json.Unmarshal(data, &sb)
		c.csrf = sb.CSRF
	}
	return resp.StatusCode, data
}

func signedIn(t *testing.T, base, user, pass string) *apiClient {
	t.Helper()
	c := &apiClient{t: t, base: base}
	if code, body := c.do("POST", "/api/session", map[string]string{"user": user, "password": pass}); code != 200 {
		t.Fatalf("sign in %s: %d %s", user, code, body)
	}
	return c
}

func compact(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}

// configFile is a gateway configuration with comments, users and an MQTT source on a
// real broker.
func configFile(dir, broker string) string {
	return fmt.Sprintf(`# workshop 7 (hand-written; the page must keep this comment)
workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws7}
admin:
  listen: "127.0.0.1:0"
  users:
    - {name: li, role: engineer, password: Li-pw-1}     # the commissioning engineer
    - {name: wang, role: viewer, password: Wang-pw-2}
queue: {dir: %s}
kpi: {state_file: %s}
sources:
  mqtt:
    - name: meters
      broker: %q
devices:
  # the legacy lathe, not networked
  - id: m1
    kind: machine
    class: equipment
  - id: em1   # the main meter
    kind: energy_meter
    class: meter
    source: meters
    topic: ws7/em1
    signals:
      kwh: {path: kwh, role: energy_kwh_total, counter: true, unit: kWh}
`, filepath.Join(dir, "data", "queue"), filepath.Join(dir, "data", "kpi.json"), broker)
}

// The configuration API against a real gateway: read, validate with gateway validate's
// messages, dry-run and write a device keeping the rest of the file, refuse stale and
// invalid writes, keep versions and roll back byte for byte; viewers, missing CSRF
// tokens and unauthenticated requests are refused.
func TestConfigAPI(t *testing.T) {
	m := testsrv.StartMosquitto(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	original := []byte(configFile(dir, m.URL))
	if err := os.WriteFile(path, original, 0o640); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := runGatewayConfig(t, cfg, app.Options{ConfigPath: path})
	base := "http://" + a.AdminAddr()
	li := signedIn(t, base, "li", "Li-pw-1")

	// GET /api/config: the file as it is.
	code, body := li.do("GET", "/api/config", nil)
	var got struct {
		Path, SHA256, YAML string
	}
	if err := json.Unmarshal(body, &got); code != 200 || err != nil || got.Path != path || got.YAML != string(original) {
		t.Fatalf("GET /api/config: %d %s", code, body)
	}
	sha0 := got.SHA256

	// Validate: the body is what gateway validate prints, from one function.
	bad := strings.Replace(string(original), "role: energy_kwh_total", "role: energy_kwh_totl", 1)
	code, body = li.do("POST", "/api/config/validate", map[string]string{"yaml": bad})
	want := `{"ok":false,"errors":[{"line":25,"path":"devices[1].signals.kwh.role","message":"unknown role \"energy_kwh_totl\": want one of ` + roles + `"}],"warnings":[],"plan":[]}`
	if code != 200 || compact(body) != want {
		t.Errorf("validate invalid:\n%d %s\nwant %s", code, compact(body), want)
	}
	badPath := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(badPath, []byte(bad), 0o600)
	var stderr bytes.Buffer
	v := app.ValidateFile(badPath)
	v.Print(io.Discard, &stderr, badPath, false)
	if wantOut := badPath + `:25: devices[1].signals.kwh.role: unknown role "energy_kwh_totl": want one of ` + roles + "\n1 error(s)\n"; stderr.String() != wantOut {
		t.Errorf("gateway validate prints %q, want %q", stderr.String(), wantOut)
	}
	code, body = li.do("POST", "/api/config/validate", map[string]string{"yaml": string(original)})
	want = `{"ok":true,"errors":[],"warnings":[],"plan":[` +
		`{"device":"m1","class":"equipment","kpis":[],"missing":[],"line":"m1 equipment: inventory only (no source): counted in the equipment figures, no device_kpi"},` +
		`{"device":"em1","class":"meter","kpis":["energy"],"missing":["state: a meter: online/offline only","water: no water_m3_total role"],"line":"em1 meter: state – (a meter: online/offline only) energy ✓ (energy_kwh_total=kwh) water – (no water_m3_total role)"}]}`
	if code != 200 || compact(body) != want {
		t.Errorf("validate valid:\n%d %s\nwant %s", code, compact(body), want)
	}

	// A device: dry run, then written; the rest of the file stays byte for byte.
	m2 := json.RawMessage(`{"kind":"machine","class":"equipment","source":"meters","topic":"ws7/m2","signals":{"parts_total":{"path":"parts","counter":true}}}`)
	code, body = li.do("PUT", "/api/config/devices/m2", map[string]any{"base_sha256": sha0, "device": m2, "dry_run": true})
	var dry struct {
		OK   bool
		YAML string
	}
	wantFile := string(original) + "  - id: m2\n    kind: machine\n    class: equipment\n    source: meters\n    topic: ws7/m2\n" +
		"    signals:\n      parts_total:\n        path: parts\n        counter: true\n"
	if err := json.Unmarshal(body, &dry); code != 200 || err != nil || !dry.OK || dry.YAML != wantFile {
		t.Fatalf("dry run: %d %s", code, body)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, original) {
		t.Fatal("a dry run wrote the file")
	}
	code, body = li.do("PUT", "/api/config/devices/m2", map[string]any{"base_sha256": sha0, "device": m2})
	var put struct {
		SHA256, Version string
		Reload          *admin.ReloadStatus
	}
	if err := json.Unmarshal(body, &put); code != 202 || err != nil || put.Reload != nil {
		t.Fatalf("PUT device: %d %s", code, body)
	}
	written, _ := os.ReadFile(path)
	if string(written) != wantFile || put.SHA256 != sha256hex(written) {
		t.Fatalf("file written:\n%s\nwant\n%s", written, wantFile)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the file's 0640", fi.Mode().Perm())
	}

	// A stale base: 409, nothing written.
	code, body = li.do("PUT", "/api/config/devices/m3", map[string]any{"base_sha256": sha0, "device": map[string]any{"kind": "machine"}})
	if want := `{"error":"the configuration file changed since you loaded it (sha256 ` + put.SHA256 + `); reload the page"}`; code != 409 || compact(body) != want {
		t.Errorf("stale: %d %s, want 409 %s", code, compact(body), want)
	}
	// An invalid mapping: 422 with gateway validate's message, nothing written.
	code, body = li.do("PUT", "/api/config/devices/m3", map[string]any{"base_sha256": put.SHA256,
		"device": json.RawMessage(`{"kind":"machine","source":"meters","topic":"ws7/m3","signals":{"state":{"path":"s","role":"machine_sate"}}}`)})
	want = `{"ok":false,"errors":[{"line":42,"path":"devices[3].signals.state.role","message":"unknown role \"machine_sate\": want one of ` + roles + `"}],"warnings":[],"plan":[]}`
	if code != 422 || compact(body) != want {
		t.Errorf("invalid: %d %s\nwant 422 %s", code, compact(body), want)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, written) {
		t.Fatal("an invalid configuration was written")
	}
	// A source, then the whole file.
	code, body = li.do("PUT", "/api/config/sources/mqtt/meters", map[string]any{"base_sha256": put.SHA256,
		"source": json.RawMessage(`{"broker":"` + m.URL + `","qos":0}`)})
	if code != 202 {
		t.Fatalf("PUT source: %d %s", code, body)
	}
	afterSource, _ := os.ReadFile(path)
	if want := strings.Replace(string(written), fmt.Sprintf("    - name: meters\n      broker: %q\n", m.URL),
		fmt.Sprintf("    - name: meters\n      broker: %s\n      qos: 0\n", m.URL), 1); string(afterSource) != want {
		t.Fatalf("source written:\n%s", afterSource)
	}
	code, body = li.do("PUT", "/api/config", map[string]any{"base_sha256": sha256hex(afterSource), "yaml": string(original)})
	if code != 202 {
		t.Fatalf("PUT file: %d %s", code, body)
	}

	// Versions, newest first; roll back to the file with m2, byte for byte.
	code, body = li.do("GET", "/api/config/versions", nil)
	var versions []admin.Version
	if err := json.Unmarshal(body, &versions); code != 200 || err != nil || len(versions) != 3 {
		t.Fatalf("versions: %d %s", code, body)
	}
	if versions[0].SHA256 != sha256hex(afterSource) || versions[1].SHA256 != put.SHA256 || versions[2].SHA256 != sha0 ||
		versions[0].User != "li" || versions[1].Bytes != len(written) {
		t.Errorf("versions %+v", versions)
	}
	code, body = li.do("POST", "/api/config/rollback", map[string]any{"id": versions[1].ID, "base_sha256": sha0})
	if code != 202 {
		t.Fatalf("rollback: %d %s", code, body)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, written) {
		t.Fatalf("rollback restored\n%s\nwant\n%s", now, written)
	}
	code, body = li.do("POST", "/api/config/rollback", map[string]any{"id": "20990101T000000Z-00000000", "base_sha256": put.SHA256})
	if code != 404 || compact(body) != `{"error":"no configuration version \"20990101T000000Z-00000000\""}` {
		t.Errorf("unknown version: %d %s", code, body)
	}
	code, body = li.do("POST", "/api/config/rollback", map[string]any{"id": "../../etc/passwd", "base_sha256": put.SHA256})
	if code != 404 || compact(body) != `{"error":"no configuration version \"../../etc/passwd\""}` {
		t.Errorf("path as a version: %d %s", code, body)
	}

	// Refused: the viewer (by the API, not only the page), no CSRF token, no session.
	wang := signedIn(t, base, "wang", "Wang-pw-2")
	code, body = wang.do("PUT", "/api/config/devices/m9", map[string]any{"base_sha256": put.SHA256, "device": map[string]any{"kind": "machine"}})
	if code != 403 || compact(body) != `{"error":"role viewer may not PUT /api/config/devices/m9: an engineer may"}` {
		t.Errorf("viewer: %d %s", code, body)
	}
	code, body = wang.do("POST", "/api/config/rollback", map[string]any{"id": versions[2].ID, "base_sha256": put.SHA256})
	if code != 403 || compact(body) != `{"error":"role viewer may not POST /api/config/rollback: an engineer may"}` {
		t.Errorf("viewer rollback: %d %s", code, body)
	}
	noCSRF := &apiClient{t: t, base: base, cookie: li.cookie}
	code, body = noCSRF.do("PUT", "/api/config", map[string]any{"base_sha256": put.SHA256, "yaml": string(original)})
	if code != 403 || compact(body) != `{"error":"missing or invalid CSRF token"}` {
		t.Errorf("no CSRF: %d %s", code, body)
	}
	anon := &apiClient{t: t, base: base}
	code, body = anon.do("PUT", "/api/config", map[string]any{"base_sha256": put.SHA256, "yaml": string(original)})
	if code != 401 || string(body) != "unauthorized\n" {
		t.Errorf("unauthenticated: %d %s", code, body)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, written) {
		t.Fatal("a refused request changed the file")
	}

	// The audit log has every change with its diff, newest first.
	code, body = li.do("GET", "/api/audit?limit=20", nil)
	var entries []admin.AuditEntry
	if err := json.Unmarshal(body, &entries); code != 200 || err != nil {
		t.Fatalf("audit: %d %s", code, body)
	}
	var actions []string
	for _, e := range entries {
		if e.Action != admin.ActionSignIn {
			actions = append(actions, e.User+" "+e.Action+" "+e.Target+" "+strings.SplitN(e.Result, ":", 2)[0])
		}
	}
	wantActions := []string{
		"li request.refused PUT /api/config refused",
		"wang request.refused POST /api/config/rollback refused",
		"wang request.refused PUT /api/config/devices/m9 refused",
		"li config.rollback " + versions[1].ID + " ok",
		"li config.write file ok",
		"li config.write sources/mqtt/meters ok",
		"li config.write devices/m3 refused",
		"li config.write devices/m3 refused",
		"li config.write devices/m2 ok",
	}
	if strings.Join(actions, "\n") != strings.Join(wantActions, "\n") {
		t.Errorf("audit:\n%s\nwant\n%s", strings.Join(actions, "\n"), strings.Join(wantActions, "\n"))
	}
	for _, e := range entries {
		if e.Target == "devices/m2" && !strings.Contains(e.Diff, "+  - id: m2\n+    kind: machine\n") {
			t.Errorf("diff of the m2 write:\n%s", e.Diff)
		}
	}
}

const roles = "machinery_item_state, operation_mode, channel_state, program_state, alarm, spindle_speed_rpm, parts_total, energy_kwh_total, power_kw, water_m3_total"

func sha256hex(b []byte) string {
	return admin.Digest(b)
}

// TestConfigVersionsKept: the newest admin.KeepVersions previous files are kept, each
// restorable byte for byte; older ones are deleted.
func TestConfigVersionsKept(t *testing.T) {
	m := testsrv.StartMosquitto(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	file := func(i int) string { return configFile(dir, m.URL) + fmt.Sprintf("# edit %d\n", i) }
	if err := os.WriteFile(path, []byte(file(0)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := runGatewayConfig(t, cfg, app.Options{ConfigPath: path})
	li := signedIn(t, "http://"+a.AdminAddr(), "li", "Li-pw-1")
	const writes = admin.KeepVersions + 3
	for i := 1; i <= writes; i++ {
		cur, _ := os.ReadFile(path)
		if code, body := li.do("PUT", "/api/config", map[string]any{"base_sha256": sha256hex(cur), "yaml": file(i)}); code != 202 {
			t.Fatalf("write %d: %d %s", i, code, body)
		}
	}
	code, body := li.do("GET", "/api/config/versions", nil)
	var versions []admin.Version
	if err := json.Unmarshal(body, &versions); code != 200 || err != nil || len(versions) != admin.KeepVersions {
		t.Fatalf("versions: %d, %d kept", code, len(versions))
	}
	for i, v := range versions { // newest first: the file of write writes-1-i
		data, err := os.ReadFile(filepath.Join(dir, "data", admin.VersionsDir, v.ID+".yaml"))
		if err != nil || string(data) != file(writes-1-i) || v.SHA256 != sha256hex(data) {
			t.Fatalf("version %d (%s): %v\n%s", i, v.ID, err, data)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "data", admin.VersionsDir))
	if len(ents) != 2*admin.KeepVersions {
		t.Errorf("%d files in config-versions, want %d", len(ents), 2*admin.KeepVersions)
	}
	oldest := versions[len(versions)-1]
	cur, _ := os.ReadFile(path)
	if code, body := li.do("POST", "/api/config/rollback", map[string]any{"id": oldest.ID, "base_sha256": sha256hex(cur)}); code != 202 {
		t.Fatalf("rollback: %d %s", code, body)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, []byte(file(writes-admin.KeepVersions))) {
		t.Fatalf("rollback to the oldest kept:\n%s", now)
	}
}

// TestConfigWriteThroughLink: a configuration path that is a symbolic link stays one;
// the file it points to is written.
func TestConfigWriteThroughLink(t *testing.T) {
	m := testsrv.StartMosquitto(t)
	dir := t.TempDir()
	real := filepath.Join(dir, "releases", "gateway-v1.yaml")
	link := filepath.Join(dir, "gateway.yaml")
	_ = os.MkdirAll(filepath.Dir(real), 0o700)
	if err := os.WriteFile(real, []byte(configFile(dir, m.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.LoadConfig(link)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := runGatewayConfig(t, cfg, app.Options{ConfigPath: link})
	li := signedIn(t, "http://"+a.AdminAddr(), "li", "Li-pw-1")
	next := configFile(dir, m.URL) + "# edited\n"
	cur, _ := os.ReadFile(link)
	if code, body := li.do("PUT", "/api/config", map[string]any{"base_sha256": sha256hex(cur), "yaml": next}); code != 202 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi, err)
	}
	if got, _ := os.ReadFile(real); string(got) != next {
		t.Fatalf("target:\n%s", got)
	}
}

// An unknown source kind in the path is refused with the kinds the gateway runs.
func TestConfigAPIUnknownKind(t *testing.T) {
	m := testsrv.StartMosquitto(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(configFile(dir, m.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := runGatewayConfig(t, cfg, app.Options{ConfigPath: path})
	li := signedIn(t, "http://"+a.AdminAddr(), "li", "Li-pw-1")
	code, body := li.do("PUT", "/api/config/sources/bacnet/b1", map[string]any{"base_sha256": "x", "source": map[string]any{}})
	if want := `{"error":"unknown source kind \"bacnet\": want one of opcua, modbus, mqtt, dlt645"}`; code != 404 || compact(body) != want {
		t.Errorf("%d %s, want 404 %s", code, compact(body), want)
	}
}
