package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// browser is a client of the admin API as the page is: a session cookie and its CSRF
// token, or an Authorization header.
type browser struct {
	t      *testing.T
	base   string
	cookie *http.Cookie
	csrf   string
	auth   string
	header map[string]string // extra headers of the next request
}

func (b *browser) do(method, path, body string) (int, string, *http.Response) {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.base+path, strings.NewReader(body))
	if b.cookie != nil {
		req.AddCookie(b.cookie)
	}
	if b.csrf != "" {
		req.Header.Set(CSRFHeader, b.csrf)
	}
	if b.auth != "" {
		req.Header.Set("Authorization", b.auth)
	}
	for k, v := range b.header {
		req.Header.Set(k, v)
	}
	b.header = nil
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data), resp
}

// expect checks status and body (JSON compacted).
func (b *browser) expect(method, path, body string, code int, want string) string {
	b.t.Helper()
	got, data, _ := b.do(method, path, body)
	if compact := compactJSON(data); got != code || (want != "" && compact != want) {
		b.t.Errorf("%s %s = %d %s, want %d %s", method, path, got, compact, code, want)
	}
	return data
}

func compactJSON(s string) string {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return s
	}
	return mustJSON(v)
}

// signIn signs in and keeps the cookie and CSRF token.
func (b *browser) signIn(user, pass string) sessionBody {
	b.t.Helper()
	code, data, resp := b.do("POST", "/api/session", `{"user":"`+user+`","password":"`+pass+`"}`)
	var sb sessionBody
	if err := json.Unmarshal([]byte(data), &sb); code != 200 || err != nil {
		b.t.Fatalf("sign in %s: %d %s", user, code, data)
	}
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			b.cookie = c
		}
	}
	if b.cookie == nil {
		b.t.Fatalf("sign in %s: no %s cookie", user, CookieName)
	}
	b.csrf = sb.CSRFToken
	return sb
}

func metricValue(t *testing.T, base, series string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return v
		}
	}
	return "absent"
}

// echoHandler is an engineer-only handler mounted with Handle, as gateway/commission is:
// it answers who called and audits the call.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	name, role := UserFrom(r)
	Audit(r, "test.echo", "target-1", "-a\n+b\n", "ok")
	writeJSON(w, http.StatusOK, map[string]string{"user": name, "role": role})
}

func securedServer(t *testing.T, auth Auth, setup func(s *Server)) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	s, _ := startServer(t, "127.0.0.1:0", func(s *Server) {
		if err := s.SetAuth(auth); err != nil {
			t.Fatal(err)
		}
		s.SetDataDir(dir)
		s.Handle("POST /api/commission/echo", http.HandlerFunc(echoHandler))
		s.Handle("GET /api/commission/echo", http.HandlerFunc(echoHandler))
		if setup != nil {
			setup(s)
		}
	})
	return s, dir
}

var testUsers = Auth{Users: []User{{Name: "li", Role: "engineer", Password: "Li-pw-1"}, {Name: "wang", Role: "viewer", Password: "Wang-pw-2"}}}

func TestSignInRolesAndCSRF(t *testing.T) {
	s, dir := securedServer(t, testUsers, nil)
	base := "http://" + s.Addr()
	anon := &browser{t: t, base: base}

	// Unauthenticated: refused, also the engineer's API; the sign-in API answers JSON.
	anon.expect("POST", "/api/commission/echo", `{}`, 401, "unauthorized\n")
	anon.expect("GET", "/api/status", "", 401, "unauthorized\n")
	anon.expect("GET", "/api/session", "", 401, `{"error":"not signed in"}`)
	anon.expect("POST", "/api/session", `{"user":"li","password":"wrong"}`, 401, `{"error":"wrong user name or password"}`)
	anon.expect("POST", "/api/session", `{"user":"nobody","password":"Li-pw-1"}`, 401, `{"error":"wrong user name or password"}`)
	anon.expect("POST", "/api/session", `{"user":"li","pass":"x"}`, 400, `{"error":"body: json: unknown field \"pass\""}`)
	anon.header = map[string]string{"Sec-Fetch-Site": "cross-site"}
	anon.expect("POST", "/api/session", `{"user":"li","password":"Li-pw-1"}`, 403, `{"error":"cross-site request refused"}`)

	// The engineer signs in: an HttpOnly, SameSite=Strict cookie on /.
	li := &browser{t: t, base: base}
	if sb := li.signIn("li", "Li-pw-1"); sb.User != "li" || sb.Role != "engineer" || len(sb.CSRFToken) != 43 {
		t.Errorf("sign-in answer %+v", sb)
	}
	if c := li.cookie; !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || len(c.Value) != 43 {
		t.Errorf("cookie %+v", c)
	}
	li.expect("GET", "/api/session", "", 200, `{"csrf_token":"`+li.csrf+`","role":"engineer","user":"li"}`)
	li.expect("GET", "/api/status", "", 200, `{"devices":2}`)
	li.expect("POST", "/api/commission/echo", `{}`, 200, `{"role":"engineer","user":"li"}`)

	// CSRF: missing, wrong, cross-site.
	tok := li.csrf
	li.csrf = ""
	li.expect("POST", "/api/commission/echo", `{}`, 403, `{"error":"missing or invalid CSRF token"}`)
	li.csrf = tok[:42] + "A"
	if tok[42] == 'A' {
		li.csrf = tok[:42] + "B"
	}
	li.expect("POST", "/api/commission/echo", `{}`, 403, `{"error":"missing or invalid CSRF token"}`)
	li.csrf = tok
	li.header = map[string]string{"Sec-Fetch-Site": "cross-site"}
	li.expect("POST", "/api/commission/echo", `{}`, 403, `{"error":"cross-site request refused"}`)
	li.header = map[string]string{"Origin": "http://evil.example"}
	li.expect("POST", "/api/commission/echo", `{}`, 403, `{"error":"cross-site request refused"}`)
	li.header = map[string]string{"Origin": "http://127.0.0.1:1"} // another port is another origin
	li.expect("POST", "/api/commission/echo", `{}`, 403, `{"error":"cross-site request refused"}`)
	li.header = map[string]string{"Origin": base, "Sec-Fetch-Site": "same-origin"}
	li.expect("POST", "/api/commission/echo", `{}`, 200, `{"role":"engineer","user":"li"}`)

	// The viewer reads, and the API (not only the page) refuses what an engineer does.
	wang := &browser{t: t, base: base}
	wang.signIn("wang", "Wang-pw-2")
	wang.expect("GET", "/api/status", "", 200, `{"devices":2}`)
	wang.expect("POST", "/api/commission/echo", `{}`, 403, `{"error":"role viewer may not POST /api/commission/echo: an engineer may"}`)
	wang.expect("GET", "/api/commission/echo", "", 403, `{"error":"role viewer may not GET /api/commission/echo: an engineer may"}`)
	wang.expect("GET", "/api/audit", "", 403, `{"error":"role viewer may not GET /api/audit: an engineer may"}`)
	wang.expect("GET", "/api/config", "", 403, `{"error":"role viewer may not GET /api/config: an engineer may"}`)

	// Basic authentication (a browser sends it on its own) needs the CSRF token too;
	// GET /api/session gives it.
	basicLi := &browser{t: t, base: base, auth: basic("li", "Li-pw-1")}
	basicLi.expect("POST", "/api/commission/echo", `{}`, 403, `{"error":"missing or invalid CSRF token"}`)
	var sb sessionBody
	_ = json.Unmarshal([]byte(basicLi.expect("GET", "/api/session", "", 200, "")), &sb)
	basicLi.csrf = sb.CSRFToken
	basicLi.expect("POST", "/api/commission/echo", `{}`, 200, `{"role":"engineer","user":"li"}`)
	basicWang := &browser{t: t, base: base, auth: basic("wang", "Wang-pw-2")}
	_ = json.Unmarshal([]byte(basicWang.expect("GET", "/api/session", "", 200, "")), &sb)
	if sb.CSRFToken == basicLi.csrf || sb.Role != "viewer" {
		t.Errorf("basic wang: %+v", sb)
	}
	basicWang.csrf = sb.CSRFToken
	basicWang.expect("POST", "/api/commission/echo", `{}`, 403, `{"error":"role viewer may not POST /api/commission/echo: an engineer may"}`)
	(&browser{t: t, base: base, auth: basic("li", "nope")}).expect("GET", "/api/session", "", 401, `{"error":"not signed in"}`)

	// Signing out ends the session: its cookie no longer works.
	old := li.cookie
	li.expect("DELETE", "/api/session", "", 204, "")
	li.expect("GET", "/api/session", "", 401, `{"error":"not signed in"}`)
	li.cookie = old
	li.expect("POST", "/api/commission/echo", `{}`, 401, "unauthorized\n")

	for series, want := range map[string]string{
		`ganlink_admin_signins_refused_total{reason="wrong_credentials"}`: "2",
		`ganlink_admin_signins_refused_total{reason="bad_request"}`:       "1",
		`ganlink_admin_signins_refused_total{reason="cross_site"}`:        "1",
		`ganlink_admin_signins_refused_total{reason="not_configured"}`:    "0",
		`ganlink_admin_requests_refused_total{reason="unauthenticated"}`:  "4",
		`ganlink_admin_requests_refused_total{reason="csrf"}`:             "3",
		`ganlink_admin_requests_refused_total{reason="cross_site"}`:       "4",
		`ganlink_admin_requests_refused_total{reason="role"}`:             "5",
		`ganlink_admin_requests_refused_total{reason="no_credentials"}`:   "0",
		`ganlink_admin_audit_errors_total`:                                "0",
	} {
		if got := metricValue(t, base, series); got != want {
			t.Errorf("%s = %s, want %s", series, got, want)
		}
	}

	// The audit log: sign-ins (refused ones too), the engineer's calls, sign-out.
	eng := &browser{t: t, base: base}
	eng.signIn("li", "Li-pw-1")
	var entries []AuditEntry
	if err := json.Unmarshal([]byte(eng.expect("GET", "/api/audit?limit=4", "", 200, "")), &entries); err != nil || len(entries) != 4 {
		t.Fatalf("audit: %v %+v", err, entries)
	}
	type row struct{ user, role, action, target, diff, result string }
	got := []row{}
	for _, e := range entries {
		got = append(got, row{e.User, e.Role, e.Action, e.Target, e.Diff, e.Result})
		if !strings.HasPrefix(e.Remote, "127.0.0.1:") || time.Since(e.Time) > time.Minute {
			t.Errorf("entry %+v", e)
		}
	}
	want := []row{
		{"li", "engineer", ActionSignIn, "", "", "ok"},
		{"li", "engineer", ActionSignOut, "", "", "ok"},
		{"li", "engineer", "test.echo", "target-1", "-a\n+b\n", "ok"},
		{"li", "engineer", "test.echo", "target-1", "-a\n+b\n", "ok"},
	}
	if mustJSON(got) != mustJSON(want) {
		t.Errorf("audit newest first:\n%+v\nwant\n%+v", got, want)
	}
	data, err := os.ReadFile(filepath.Join(dir, "audit", "audit.jsonl"))
	if err != nil || strings.Count(string(data), "\n") != 18 ||
		!strings.Contains(string(data), `"action":"request.refused","target":"POST /api/commission/echo","diff":"","result":"refused: role viewer may not POST /api/commission/echo: an engineer may"}`) ||
		!strings.Contains(string(data), `"user":"nobody","role":"","remote":"127.0.0.1:`) {
		t.Errorf("audit.jsonl (%v):\n%s", err, data)
	}
	if fi, err := os.Stat(filepath.Join(dir, "audit", "audit.jsonl")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("audit.jsonl mode: %v %v", fi, err)
	}
	eng.expect("GET", "/api/audit?limit=0", "", 400, `{"error":"limit: \"0\" is not a number from 1 to 1000"}`)
}

// Without any credentials configured, reading stays open and editing is refused.
func TestNoCredentialsRefuseEditing(t *testing.T) {
	s, _ := securedServer(t, Auth{}, nil)
	base := "http://" + s.Addr()
	b := &browser{t: t, base: base}
	b.expect("GET", "/api/status", "", 200, `{"devices":2}`)
	b.expect("POST", "/api/commission/echo", `{}`, 403, `{"error":"`+MsgNoCredentials+`"}`)
	b.expect("GET", "/api/audit", "", 403, `{"error":"`+MsgNoCredentials+`"}`)
	b.expect("GET", "/api/config", "", 403, `{"error":"`+MsgNoCredentials+`"}`)
	b.expect("POST", "/api/session", `{"user":"li","password":"x"}`, 401,
		`{"error":"sign-in is not configured: configure admin.users (docs/commissioning.md)"}`)
	b.expect("GET", "/api/session", "", 401, `{"error":"not signed in"}`)
	b.header = map[string]string{"Origin": "http://evil.example"}
	b.expect("POST", "/api/commission/echo", `{}`, 403, `{"error":"cross-site request refused"}`)
	for series, want := range map[string]string{
		`ganlink_admin_requests_refused_total{reason="no_credentials"}`: "3",
		`ganlink_admin_requests_refused_total{reason="cross_site"}`:     "1",
		`ganlink_admin_signins_refused_total{reason="not_configured"}`:  "1",
	} {
		if got := metricValue(t, base, series); got != want {
			t.Errorf("%s = %s, want %s", series, got, want)
		}
	}
}

// The basic_auth user and the token are engineers; a bearer token needs no CSRF token.
func TestLegacyCredentialsAreEngineers(t *testing.T) {
	for _, tc := range []struct {
		name string
		auth Auth
		hdr  string
		user string
		csrf bool
	}{
		{"basic", Auth{Username: "ops", Password: "pw"}, basic("ops", "pw"), "ops", true},
		{"token as basic password", Auth{Token: "tok"}, basic("alice", "tok"), "alice", true},
		{"bearer", Auth{Token: "tok"}, "Bearer tok", TokenUser, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := securedServer(t, tc.auth, nil)
			b := &browser{t: t, base: "http://" + s.Addr(), auth: tc.hdr}
			var sb sessionBody
			_ = json.Unmarshal([]byte(b.expect("GET", "/api/session", "", 200, "")), &sb)
			if sb.User != tc.user || sb.Role != "engineer" || (sb.CSRFToken != "") != tc.csrf {
				t.Errorf("session %+v", sb)
			}
			if tc.csrf {
				b.expect("POST", "/api/commission/echo", `{}`, 403, `{"error":"missing or invalid CSRF token"}`)
				b.csrf = sb.CSRFToken
			}
			b.expect("POST", "/api/commission/echo", `{}`, 200, `{"role":"engineer","user":"`+tc.user+`"}`)
			// The token signs in on the page too, with any user name.
			if tc.auth.Token != "" {
				p := &browser{t: t, base: b.base}
				if sb := p.signIn("zhao", "tok"); sb.User != "zhao" || sb.Role != "engineer" {
					t.Errorf("token sign-in %+v", sb)
				}
				p.expect("POST", "/api/commission/echo", `{}`, 200, `{"role":"engineer","user":"zhao"}`)
			}
		})
	}
}

// A session ends after SessionIdle without use; it outlives the server that made it (a
// reload) when the next server shares the State, but not its user's removal.
func TestSessionIdleAndReload(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	st := NewState()
	s1, _ := securedServer(t, testUsers, func(s *Server) { s.SetState(st); s.now = clock })
	b := &browser{t: t, base: "http://" + s1.Addr()}
	b.signIn("li", "Li-pw-1")
	advance(SessionIdle - time.Second)
	b.expect("GET", "/api/session", "", 200, "")
	advance(SessionIdle - time.Second) // used a moment ago: still alive
	b.expect("GET", "/api/session", "", 200, "")

	s2, _ := securedServer(t, testUsers, func(s *Server) { s.SetState(st); s.now = clock })
	b.base = "http://" + s2.Addr()
	b.expect("POST", "/api/commission/echo", `{}`, 200, `{"role":"engineer","user":"li"}`)
	demoted := Auth{Users: []User{{Name: "li", Role: "viewer", Password: "Li-pw-1"}}}
	s3, _ := securedServer(t, demoted, func(s *Server) { s.SetState(st); s.now = clock })
	b.base = "http://" + s3.Addr()
	b.expect("POST", "/api/commission/echo", `{}`, 403, `{"error":"role viewer may not POST /api/commission/echo: an engineer may"}`)
	s4, _ := securedServer(t, Auth{Users: testUsers.Users[1:]}, func(s *Server) { s.SetState(st); s.now = clock })
	b.base = "http://" + s4.Addr()
	b.expect("GET", "/api/session", "", 401, `{"error":"not signed in"}`)

	b.base = "http://" + s1.Addr()
	b.signIn("li", "Li-pw-1")
	advance(SessionIdle)
	b.expect("GET", "/api/session", "", 401, `{"error":"not signed in"}`)
}

// The audit log is bounded: past MaxAuditBytes the file is rotated once; reading spans
// both files, newest first.
func TestAuditRotation(t *testing.T) {
	st, dir := NewState(), t.TempDir()
	diff := strings.Repeat("x", MaxAuditDiff-100)
	n := 2*MaxAuditBytes/MaxAuditDiff + 10
	for i := range n {
		if err := st.appendAudit(dir, AuditEntry{Action: "a", Target: strings.Repeat("t", i%7), Diff: diff, Result: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	var total int64
	for _, name := range []string{AuditFile, AuditOldFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Size() > MaxAuditBytes {
			t.Fatalf("%s: %v %v", name, fi, err)
		}
		total += fi.Size()
	}
	if total < MaxAuditBytes {
		t.Errorf("kept %d bytes, want more than one file's worth", total)
	}
	entries, err := st.readAudit(dir, MaxAuditLimit)
	if err != nil {
		t.Fatal(err)
	}
	perFile := int(MaxAuditBytes / (MaxAuditDiff - 100 + 80))
	if len(entries) < perFile || len(entries) > 2*perFile+2 {
		t.Errorf("%d entries read", len(entries))
	}
	for i, e := range entries {
		if want := strings.Repeat("t", (n-1-i)%7); e.Target != want {
			t.Fatalf("entry %d target %q, want %q (newest first)", i, e.Target, want)
		}
	}
	if d := truncateDiff(strings.Repeat("é", MaxAuditDiff)); len(d) > MaxAuditDiff+40 || !strings.HasSuffix(d, " more bytes)\n") {
		t.Errorf("truncated diff ends %q", d[len(d)-40:])
	}
}

// The diff audited for a configuration change hides secrets written inline.
func TestAuditDiffRedactsSecrets(t *testing.T) {
	old := "admin:\n  users:\n    - {name: li, role: engineer, password: Li-pw-1}\n  token_file: /etc/t\nsinks: []\n"
	next := "admin:\n  users:\n    - {name: li, role: engineer, password: \"N3w, pw\"}\n  token: abc # inline\n  token_file: /etc/t\nsinks: []\n"
	want := "@@ -3,1 +3,2 @@\n" +
		"-    - {name: li, role: engineer, password: <redacted>}\n" +
		"+    - {name: li, role: engineer, password: <redacted>}\n" +
		"+  token: <redacted> # inline\n"
	if got := lineDiff(old, next); got != want {
		t.Errorf("diff:\n%s\nwant\n%s", got, want)
	}
}

// SignInMaxFailures wrong passwords in a row lock one user name out of signing in, by the
// page and by basic authentication, for SignInLockout; other names are not affected.
func TestSignInLockout(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, _ := securedServer(t, testUsers, func(s *Server) { s.now = clock })
	base := "http://" + s.Addr()
	b := &browser{t: t, base: base}
	for range SignInMaxFailures {
		b.expect("POST", "/api/session", `{"user":"li","password":"guess"}`, 401, `{"error":"wrong user name or password"}`)
	}
	b.expect("POST", "/api/session", `{"user":"li","password":"Li-pw-1"}`, 429, `{"error":"too many wrong passwords for \"li\": try again in 60 s"}`)
	(&browser{t: t, base: base, auth: basic("li", "Li-pw-1")}).expect("GET", "/api/session", "", 401, `{"error":"not signed in"}`)
	(&browser{t: t, base: base}).signIn("wang", "Wang-pw-2")
	mu.Lock()
	now = now.Add(SignInLockout - time.Second)
	mu.Unlock()
	b.expect("POST", "/api/session", `{"user":"li","password":"Li-pw-1"}`, 429, `{"error":"too many wrong passwords for \"li\": try again in 1 s"}`)
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	b.signIn("li", "Li-pw-1")
	for series, want := range map[string]string{
		`ganlink_admin_signins_refused_total{reason="wrong_credentials"}`: "10",
		`ganlink_admin_signins_refused_total{reason="locked"}`:            "2",
		`ganlink_admin_requests_refused_total{reason="unauthenticated"}`:  "1",
	} {
		if got := metricValue(t, base, series); got != want {
			t.Errorf("%s = %s, want %s", series, got, want)
		}
	}
}
