package influx

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/ganlink/ganlink/internal/testutil"
)

// TestTokenNeverLeaks drives every path that produces an error or a log line with a
// secret token and checks neither contains it, including a server that echoes the
// Authorization header back in its error messages.
func TestTokenNeverLeaks(t *testing.T) {
	const password = "Sup3r-Secret-Passw0rd"
	const token = "writer:" + password
	secrets := []string{token, password}

	v := testsrv.StartVictoria(t)
	var mu sync.Mutex
	var seenAuth []string
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		mu.Lock()
		seenAuth = append(seenAuth, auth)
		mu.Unlock()
		w.Header().Set("X-Influxdb-Error", "bad credentials "+auth)
		switch r.URL.Path {
		case "/json/api/v2/write":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"code":"unauthorized","message":"token %s rejected"}`, auth)
		case "/header/api/v2/write":
			w.WriteHeader(http.StatusForbidden)
		case "/retry/api/v2/write":
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "overloaded, come back later, %s\n", auth)
		default: // ping and anything else
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "cannot serve %s for %s", r.URL.Path, auth)
		}
	}))
	defer echo.Close()
	closedPort := testsrv.FreePort(t)

	var logs testutil.LogBuffer
	log := debugLogger(&logs)
	ctx := context.Background()
	var errs []error
	sink := func(url string) *Sink {
		cfg := config("secret", url, "ganlink")
		cfg.Token = token
		return newSink(t, cfg, log)
	}

	for _, url := range []string{v.URL, echo.URL + "/json", echo.URL + "/header", echo.URL + "/retry",
		fmt.Sprintf("http://127.0.0.1:%d", closedPort)} {
		s := sink(url)
		errs = append(errs, s.Write(ctx, testLines("secret")), s.Write(ctx, []byte("bad line\n")), s.Ping(ctx))
	}
	for _, u := range []string{"http://writer:" + password + "@127.0.0.1:1", "http://writer:" + password + "@127.0.0.1:1/%zz"} {
		cfg := config("secret", u, "b")
		_, err := New(cfg, log)
		errs = append(errs, err)
	}

	for i, err := range errs {
		t.Logf("%d: %v", i, err)
	}
	nonNil := 0
	for i, err := range errs {
		if err == nil {
			continue
		}
		nonNil++
		for _, sec := range secrets {
			if strings.Contains(err.Error(), sec) {
				t.Errorf("error %d contains the secret: %v", i, err)
			}
		}
	}
	// VictoriaMetrics accepts both blocks and the ping; everything else fails.
	if nonNil != len(errs)-3 {
		t.Errorf("%d errors, want %d: %q", nonNil, len(errs)-3, errs)
	}
	out := logs.String()
	for _, sec := range secrets {
		if strings.Contains(out, sec) {
			t.Errorf("log output contains the secret:\n%s", out)
		}
	}
	if !strings.Contains(out, "influx write") || !strings.Contains(out, "token_set=true") {
		t.Errorf("debug log missing expected lines:\n%s", out)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range seenAuth {
		if a != "Token "+token {
			t.Fatalf("server saw Authorization %q", a)
		}
	}
	if len(seenAuth) != 9 {
		t.Fatalf("echo server saw %d requests, want 9", len(seenAuth))
	}
	// The redacted messages stay informative.
	want := `write sink "secret": permanent write error: status 401: token Token writer:xxxxx rejected`
	if got := errString(errs[3]); got != want {
		t.Errorf("redacted error\n%s\nwant\n%s", got, want)
	}
}
