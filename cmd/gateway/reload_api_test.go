package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/ganlink/ganlink/gateway/admin"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// session is a signed-in client of a gateway's admin API.
type session struct {
	t      *testing.T
	g      *gateway
	cookie *http.Cookie
	csrf   string
}

func signIn(t *testing.T, g *gateway, user, pass string) *session {
	t.Helper()
	s := &session{t: t, g: g}
	code, body, resp := s.do("POST", "/api/session", fmt.Sprintf(`{"user":%q,"password":%q}`, user, pass))
	var sb struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.Unmarshal([]byte(body), &sb); code != 200 || err != nil {
		t.Fatalf("sign in: %d %s", code, body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == admin.CookieName {
			s.cookie = c
		}
	}
	s.csrf = sb.CSRF
	return s
}

func (s *session) do(method, path, body string) (int, string, *http.Response) {
	s.t.Helper()
	req, _ := http.NewRequest(method, "http://"+s.g.admin+path, strings.NewReader(body))
	if s.cookie != nil {
		req.AddCookie(s.cookie)
	}
	if s.csrf != "" {
		req.Header.Set(admin.CSRFHeader, s.csrf)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error(), nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp
}

// reload polls GET /api/reload until reload id has an outcome.
func (s *session) reload(id int) admin.ReloadStatus {
	s.t.Helper()
	var st admin.ReloadStatus
	if msg := testsrv.WaitFor(60*time.Second, func() string {
		code, body, _ := s.do("GET", "/api/reload", "")
		if code != 200 {
			return fmt.Sprintf("GET /api/reload: %d %s", code, body)
		}
		st = admin.ReloadStatus{}
		if err := json.Unmarshal([]byte(body), &st); err != nil || st.ID != id || st.State == admin.ReloadPending {
			return "reload still pending: " + body
		}
		return ""
	}); msg != "" {
		s.t.Fatal(msg)
	}
	return st
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}

// TestReloadFromAPI: the real gateway process, a real broker and VictoriaMetrics. An
// engineer adds a device through the API; the gateway reloads as on SIGHUP, the
// session and the reload's outcome survive the in-process restart, and the new device's
// data reaches VictoriaMetrics. A configuration that cannot start (its admin port
// taken) is reported failed, with why, and the previous one runs on; a SIGHUP with a
// broken file is reported through the same API.
func TestReloadFromAPI(t *testing.T) {
	m := testsrv.StartMosquittoWith(t, brokerSettings...)
	vm := testsrv.StartVictoria(t)
	g := newGateway(t, defaultGWConfig(t, m.URL, vm.URL, 1))
	orig, err := os.ReadFile(g.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	withUsers := strings.Replace(string(orig), "admin:\n", "admin:\n  users: [{name: li, role: engineer, password: Li-pw-1}]\n", 1)
	if err := os.WriteFile(g.cfgPath, []byte(withUsers), 0o600); err != nil {
		t.Fatal(err)
	}
	g.Start()
	li := signIn(t, g, "li", "Li-pw-1")

	// 1. A new device through the API: 202, pending, then applied.
	code, body, _ := li.do("PUT", "/api/config/devices/fm07", `{"base_sha256":"`+fileSHA(t, g.cfgPath)+`",`+
		`"device":{"kind":"flow_meter","source":"meters","topic":"ft/fm07","timestamp_path":"ts","signals":{"flow_m3h":{"path":"v"}}}}`)
	var put struct {
		SHA256 string              `json:"sha256"`
		Reload *admin.ReloadStatus `json:"reload"`
	}
	if err := json.Unmarshal([]byte(body), &put); code != 202 || err != nil || put.Reload == nil ||
		put.Reload.State != admin.ReloadPending || put.Reload.Trigger != admin.TriggerAPI {
		t.Fatalf("PUT device: %d %s", code, body)
	}
	st := li.reload(put.Reload.ID) // the same cookie, after the restart
	if st.State != admin.ReloadApplied || st.SHA256 != put.SHA256 || st.Error != "" {
		t.Fatalf("reload %+v", st)
	}
	if msg := testsrv.WaitFor(30*time.Second, func() string {
		if code, body := g.get("/readyz"); code != 200 {
			return "not ready: " + body
		}
		return ""
	}); msg != "" {
		t.Fatal(msg)
	}
	c := paho.NewClient(paho.NewClientOptions().AddBroker(m.URL).SetClientID("api-reload-publisher"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	ts := time.Now().UnixMilli()
	if tok := c.Publish("ft/fm07", 1, false, `{"ts":`+strconv.FormatInt(ts, 10)+`,"v":7.25}`); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	waitStored(t, vm, map[string]float64{"fm07 " + strconv.FormatInt(ts, 10): 7.25}, 60*time.Second)

	// 2. A configuration that cannot start: its admin port is taken. The file is written
	// (it validates), the reload fails with why, the previous configuration runs on.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cur, _ := os.ReadFile(g.cfgPath)
	moved := strings.Replace(string(cur), `listen: "`+g.admin+`"`, `listen: "`+taken.Addr().String()+`"`, 1)
	js, _ := json.Marshal(map[string]string{"base_sha256": fileSHA(t, g.cfgPath), "yaml": moved})
	code, body, _ = li.do("PUT", "/api/config", string(js))
	if err := json.Unmarshal([]byte(body), &put); code != 202 || err != nil || put.Reload == nil {
		t.Fatalf("PUT file: %d %s", code, body)
	}
	st = li.reload(put.Reload.ID)
	wantErr := fmt.Sprintf("the new configuration cannot start; the previous one runs: listen on admin address %q: listen tcp %s: bind: address already in use",
		taken.Addr().String(), taken.Addr().String())
	if st.State != admin.ReloadFailed || st.Error != wantErr || st.SHA256 != put.SHA256 {
		t.Fatalf("reload %+v\nwant failed: %s", st, wantErr)
	}
	if code, body := g.get("/readyz"); code != 200 || !g.Running() {
		t.Fatalf("previous configuration not running: %d %s", code, body)
	}
	ts2 := ts + 1000
	if tok := c.Publish("ft/fm07", 1, false, `{"ts":`+strconv.FormatInt(ts2, 10)+`,"v":8.5}`); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	waitStored(t, vm, map[string]float64{"fm07 " + strconv.FormatInt(ts, 10): 7.25, "fm07 " + strconv.FormatInt(ts2, 10): 8.5}, 60*time.Second)

	// 3. SIGHUP with a broken file: reported by the same API, the running one stays.
	if err := os.WriteFile(g.cfgPath, append(cur, []byte("bogus_key: 1\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(g.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	st = li.reload(put.Reload.ID + 1)
	if st.State != admin.ReloadFailed || st.Trigger != admin.TriggerSIGHUP ||
		!strings.HasPrefix(st.Error, "configuration rejected; the running configuration stays: "+g.cfgPath+":") ||
		!strings.Contains(st.Error, "bogus_key: unknown key") {
		t.Fatalf("SIGHUP reload %+v", st)
	}

	// The audit log has the write, the reload request and the whole-file write.
	code, body, _ = li.do("GET", "/api/audit?limit=10", "")
	var entries []admin.AuditEntry
	if err := json.Unmarshal([]byte(body), &entries); code != 200 || err != nil {
		t.Fatalf("audit: %d %s", code, body)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Action+" "+e.Target)
	}
	want := []string{"config.reload " + g.cfgPath, "config.write file", "config.reload " + g.cfgPath, "config.write devices/fm07", "session.sign_in "}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !bytes.Contains(orig, []byte("listen:")) {
		t.Fatal("template changed")
	}
}
