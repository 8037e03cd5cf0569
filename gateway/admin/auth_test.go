package admin

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ganlink/ganlink/internal/testutil"
)

// startServer runs a server on addr until the test ends; setup may adjust it first.
func startServer(t *testing.T, addr string, setup func(s *Server)) (*Server, *testutil.LogBuffer) {
	t.Helper()
	logs := &testutil.LogBuffer{}
	s := New(addr, prometheus.NewRegistry(), func() error { return nil }, func(url.Values) (any, error) { return map[string]int{"devices": 2}, nil },
		slog.New(slog.NewTextHandler(logs, nil)))
	s.Handle("GET /extra", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("extra\n")) }))
	if setup != nil {
		setup(s)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s, logs
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestAuth(t *testing.T) {
	const (
		user  = "ops"
		pass  = "Adm1n-Passw0rd"
		token = "glk_5d41402abc4b2a76b9719d911017c592"
	)
	basicAuth := Auth{Username: user, Password: pass}
	tokenAuth := Auth{Token: token}
	basicChallenge := `Basic realm="ganlink gateway", charset="UTF-8"`
	tokenChallenge := `Bearer realm="ganlink gateway"|` + basicChallenge
	badTokenChallenge := `Bearer realm="ganlink gateway", error="invalid_token"|` + basicChallenge
	type req struct {
		path, auth string
		code       int
		challenge  string
	}
	pages := []string{"/", "/api/status", "/extra"}
	probes := []string{"/metrics", "/healthz", "/readyz"}
	var (
		openAll           []req
		basicOK, tokenOK  []req
		basicNo, tokenNo  []req
		probesOpen        []req
		probesBasicNo     []req
		probesTokenNo     []req
		probesTokenBearer []req
	)
	for _, p := range append(append([]string{}, pages...), probes...) {
		openAll = append(openAll, req{p, "", 200, ""})
		basicOK = append(basicOK, req{p, basic(user, pass), 200, ""})
		tokenOK = append(tokenOK, req{p, "Bearer " + token, 200, ""}, req{p, "bearer  " + token, 200, ""},
			req{p, basic("anyone", token), 200, ""})
	}
	for _, p := range pages {
		basicNo = append(basicNo,
			req{p, "", 401, basicChallenge},
			req{p, basic(user, "wrong"), 401, basicChallenge},
			req{p, basic("root", pass), 401, basicChallenge},
			req{p, basic(user, pass+"x"), 401, basicChallenge},
			req{p, "Bearer " + pass, 401, basicChallenge})
		tokenNo = append(tokenNo,
			req{p, "", 401, tokenChallenge},
			req{p, "Bearer " + token[:len(token)-1], 401, badTokenChallenge},
			req{p, "Bearer ", 401, tokenChallenge}, // sent as "Bearer": no token
			req{p, "Token " + token, 401, tokenChallenge},
			req{p, basic(token, "x"), 401, tokenChallenge})
	}
	for _, p := range probes {
		probesOpen = append(probesOpen, req{p, "", 200, ""}, req{p, basic("x", "y"), 200, ""})
		probesBasicNo = append(probesBasicNo, req{p, "", 401, basicChallenge}, req{p, basic(user, "wrong"), 401, basicChallenge})
		probesTokenNo = append(probesTokenNo, req{p, "", 401, tokenChallenge}, req{p, "Bearer nope", 401, badTokenChallenge})
		probesTokenBearer = append(probesTokenBearer, req{p, "Bearer " + token, 200, ""})
	}
	cat := func(rs ...[]req) []req {
		var out []req
		for _, r := range rs {
			out = append(out, r...)
		}
		return out
	}
	tests := []struct {
		name string
		auth Auth
		reqs []req
	}{
		{"no auth", Auth{}, openAll},
		{"basic", basicAuth, cat(basicOK, basicNo, probesOpen)},
		{"token", tokenAuth, cat(tokenOK, tokenNo, probesOpen)},
		{"basic, metrics protected", Auth{Username: user, Password: pass, ProtectMetrics: true}, cat(basicOK, basicNo, probesBasicNo)},
		{"token, metrics protected", Auth{Token: token, ProtectMetrics: true}, cat(tokenOK, tokenNo, probesTokenNo, probesTokenBearer)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, logs := startServer(t, "127.0.0.1:0", func(s *Server) {
				if err := s.SetAuth(tt.auth); err != nil {
					t.Fatal(err)
				}
			})
			for _, rq := range tt.reqs {
				r, _ := http.NewRequest("GET", "http://"+s.Addr()+rq.path, nil)
				if rq.auth != "" {
					r.Header.Set("Authorization", rq.auth)
				}
				resp, err := http.DefaultClient.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				challenge := strings.Join(resp.Header.Values("WWW-Authenticate"), "|")
				if resp.StatusCode != rq.code || challenge != rq.challenge {
					t.Errorf("GET %s with %q = %d %q, want %d %q", rq.path, rq.auth, resp.StatusCode, challenge, rq.code, rq.challenge)
				}
				if rq.code == 401 && (string(body) != "unauthorized\n" || resp.Header.Get("Cache-Control") != "no-store") {
					t.Errorf("GET %s: 401 body %q, Cache-Control %q", rq.path, body, resp.Header.Get("Cache-Control"))
				}
			}
			l := logs.String()
			for _, secret := range []string{pass, token, token[:len(token)-1]} {
				if strings.Contains(l, secret) {
					t.Fatalf("credential in the log:\n%s", l)
				}
			}
			if refused := strings.Count(l, `msg="admin request refused: missing or wrong credentials"`); (refused == 1) != (len(tt.auth.Token+tt.auth.Password) > 0) {
				t.Errorf("%d warnings about refused requests (once a minute at most):\n%s", refused, l)
			}
		})
	}
}

func TestSetAuthErrors(t *testing.T) {
	s := New("127.0.0.1:0", prometheus.NewRegistry(), nil, nil, slog.New(slog.DiscardHandler))
	for _, tc := range []struct {
		auth Auth
		want string
	}{
		{Auth{}, ""},
		{Auth{Username: "u", Password: "p"}, ""},
		{Auth{Token: "t"}, ""},
		{Auth{ProtectMetrics: true}, "set admin auth: protecting /metrics needs basic authentication, a token or users"},
		{Auth{Username: "u", Password: "p", Token: "t"}, "set admin auth: basic authentication and a token are exclusive"},
		{Auth{Username: "u"}, "set admin auth: basic authentication needs a user name and a password"},
		{Auth{Password: "p"}, "set admin auth: basic authentication needs a user name and a password"},
		{Auth{Username: "a:b", Password: "p"}, "set admin auth: the user name must not contain ':' or line breaks"},
	} {
		err := s.SetAuth(tc.auth)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("SetAuth(%+v) = %q, want %q", tc.auth, got, tc.want)
		}
	}
}

// TestSlowClientsAreCutOff checks the server limits: a client that never finishes its
// headers, an oversized header and an idle keep-alive connection.
func TestSlowClientsAreCutOff(t *testing.T) {
	s, _ := startServer(t, "127.0.0.1:0", func(s *Server) {
		s.readHeaderTimeout = 300 * time.Millisecond
		s.readTimeout = 2 * time.Second
		s.idleTimeout = 300 * time.Millisecond
	})

	t.Run("slowloris", func(t *testing.T) {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		begin := time.Now()
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: gw\r\n"); err != nil {
			t.Fatal(err)
		}
		closed := make(chan error, 1)
		go func() {
			_, err := c.Read(make([]byte, 1))
			closed <- err
		}()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case err := <-closed:
				if d := time.Since(begin); d < 250*time.Millisecond || d > 2*time.Second {
					t.Fatalf("connection closed after %s, want about 300ms", d)
				}
				if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
					t.Fatalf("read: %v, want the connection closed", err)
				}
				return
			case <-tick.C:
				// One more header line, never the blank line that ends them.
				_, _ = io.WriteString(c, "X-Slow: still typing\r\n")
				if i > 100 {
					t.Fatal("connection still open after 5s of trickled headers")
				}
			}
		}
	})

	t.Run("oversized header", func(t *testing.T) {
		r, _ := http.NewRequest("GET", "http://"+s.Addr()+"/healthz", nil)
		r.Header.Set("X-Big", strings.Repeat("a", 64<<10))
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", resp.StatusCode)
		}
	})

	t.Run("idle keep-alive", func(t *testing.T) {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		begin := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
			t.Fatalf("idle connection: read %v, want EOF", err)
		}
		if d := time.Since(begin); d < 250*time.Millisecond || d > 2*time.Second {
			t.Fatalf("idle connection closed after %s, want about 300ms", d)
		}
	})
}

func TestDefaultLimits(t *testing.T) {
	s := New("127.0.0.1:0", prometheus.NewRegistry(), nil, nil, slog.New(slog.DiscardHandler))
	if s.readHeaderTimeout != 5*time.Second || s.readTimeout != 10*time.Second || s.writeTimeout != 30*time.Second ||
		s.idleTimeout != 60*time.Second || s.maxHeaderBytes != 16<<10 {
		t.Fatalf("limits: %+v", s)
	}
}

func TestExposedWithoutAuthWarns(t *testing.T) {
	for _, tc := range []struct {
		addr string
		auth Auth
		warn bool
	}{
		{"127.0.0.1:0", Auth{}, false},
		{"0.0.0.0:0", Auth{}, true},
		{"0.0.0.0:0", Auth{Token: "t"}, false},
	} {
		_, logs := startServer(t, tc.addr, func(s *Server) {
			if err := s.SetAuth(tc.auth); err != nil {
				t.Fatal(err)
			}
		})
		want := `level=WARN msg="admin endpoint is reachable from the network without authentication: set admin.users, admin.basic_auth or admin.token_file, or listen on 127.0.0.1"`
		deadline := time.Now().Add(2 * time.Second)
		for tc.warn && !strings.Contains(logs.String(), want) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := strings.Contains(logs.String(), want); got != tc.warn {
			t.Errorf("%s %+v: warning %v, want %v:\n%s", tc.addr, tc.auth, got, tc.warn, logs.String())
		}
	}
}

// TestNoBasicChallengeToFetch: a 401 to a page's own fetch carries no Basic challenge
// (the browser would open its password dialog over the page); a navigation, and a
// client that says nothing (a script, curl), still get it.
func TestNoBasicChallengeToFetch(t *testing.T) {
	s, _ := startServer(t, "127.0.0.1:0", func(s *Server) {
		if err := s.SetAuth(Auth{Username: "ops", Password: "secret"}); err != nil {
			t.Fatal(err)
		}
	})
	basic := `Basic realm="ganlink gateway", charset="UTF-8"`
	for _, c := range []struct{ mode, want string }{{"", basic}, {"navigate", basic}, {"cors", ""}, {"same-origin", ""}, {"no-cors", ""}} {
		r, _ := http.NewRequest("GET", "http://"+s.Addr()+"/api/status", nil)
		if c.mode != "" {
			r.Header.Set("Sec-Fetch-Mode", c.mode)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := strings.Join(resp.Header.Values("WWW-Authenticate"), "|"); resp.StatusCode != 401 || got != c.want {
			t.Errorf("Sec-Fetch-Mode %q: %d %q, want 401 %q", c.mode, resp.StatusCode, got, c.want)
		}
	}
}
