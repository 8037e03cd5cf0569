package admin

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ganlink/ganlink/gateway/corrections"
	"github.com/ganlink/ganlink/internal/httpauth"
)

// Auth configures the admin endpoint's authentication: HTTP basic authentication with
// one user, or a bearer token, not both.
type Auth struct {
	// Username and Password enable basic authentication.
	Username, Password string
	// Token enables "Authorization: Bearer <token>". A browser, which cannot send a
	// bearer token, may log in with basic authentication: any user name and the token as
	// the password.
	Token string
	// ProtectMetrics also requires the credentials for /metrics, /healthz and /readyz.
	ProtectMetrics bool
}

// realm names the protection space in WWW-Authenticate challenges.
const realm = "ganlink gateway"

// openPaths are the monitoring and probe endpoints that stay open unless
// Auth.ProtectMetrics is set. Any other path, including ones added with Handle, is
// protected.
var openPaths = map[string]bool{"/metrics": true, "/healthz": true, "/readyz": true}

// authWarnEvery throttles the warning about refused requests.
const authWarnEvery = time.Minute

// authenticator checks credentials against SHA-256 digests, so every comparison takes
// the same time whatever the length or content of the presented value.
type authenticator struct {
	basic          bool
	user, secret   httpauth.Digest // secret: the password, or the token
	protectMetrics bool

	mu       sync.Mutex
	lastWarn time.Time
	refused  int
}

// SetAuth enables authentication; call it before Run. Both methods at once, a user name
// without a password, a user name containing ':' or a password without a user name
// are errors.
func (s *Server) SetAuth(a Auth) error {
	switch {
	case a.Username == "" && a.Password == "" && a.Token == "":
		if a.ProtectMetrics {
			return errors.New("set admin auth: protecting /metrics needs basic authentication or a token")
		}
		s.auth = nil
		return nil
	case (a.Username != "" || a.Password != "") && a.Token != "":
		return errors.New("set admin auth: basic authentication and a token are exclusive")
	case a.Token == "" && (a.Username == "" || a.Password == ""):
		return errors.New("set admin auth: basic authentication needs a user name and a password")
	case strings.ContainsAny(a.Username, ":\r\n"):
		return errors.New("set admin auth: the user name must not contain ':' or line breaks")
	}
	au := &authenticator{protectMetrics: a.ProtectMetrics}
	if a.Token != "" {
		au.secret = httpauth.Hash(a.Token)
	} else {
		au.basic = true
		au.user = httpauth.Hash(a.Username)
		au.secret = httpauth.Hash(a.Password)
	}
	s.auth = au
	return nil
}

// guard wraps h with the authentication check.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := s.auth
		if a == nil || (!a.protectMetrics && openPaths[r.URL.Path]) {
			h.ServeHTTP(w, r)
			return
		}
		ok, badToken := a.check(r)
		if ok {
			h.ServeHTTP(w, r)
			return
		}
		s.refuse(w, r, badToken)
	})
}

// check reports whether r carries valid credentials, and whether it presented a bearer
// token that is wrong.
func (a *authenticator) check(r *http.Request) (ok, badToken bool) {
	if user, pass, isBasic := r.BasicAuth(); isBasic {
		if a.basic {
			// Both compared, always: no early exit on a wrong user name.
			u, p := httpauth.Equal(httpauth.Hash(user), a.user), httpauth.Equal(httpauth.Hash(pass), a.secret)
			return u && p, false
		}
		return httpauth.Equal(httpauth.Hash(pass), a.secret), false
	}
	tok, found := httpauth.Bearer(r)
	if a.basic || !found {
		return false, false
	}
	ok = httpauth.Equal(httpauth.Hash(tok), a.secret)
	return ok, !ok
}

// refuse answers 401 with the challenges of the configured method, and logs refused
// requests at most once a minute (never what they presented).
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, badToken bool) {
	a := s.auth
	h := w.Header()
	if !a.basic {
		h.Add("WWW-Authenticate", httpauth.Challenge(realm, badToken))
	}
	h.Add("WWW-Authenticate", `Basic realm="`+realm+`", charset="UTF-8"`)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte("unauthorized\n"))
	if s.corr != nil && strings.HasPrefix(r.URL.Path, "/api/corrections") {
		s.corr.Refused(corrections.ReasonUnauthenticated)
	}

	a.mu.Lock()
	a.refused++
	now := time.Now()
	warn := now.Sub(a.lastWarn) >= authWarnEvery
	n := a.refused
	if warn {
		a.lastWarn, a.refused = now, 0
	}
	a.mu.Unlock()
	if warn {
		s.log.Warn("admin request refused: missing or wrong credentials", "remote", r.RemoteAddr,
			"path", r.URL.Path, "refused_since_last_warning", n)
	}
}

// isLoopback reports whether addr is bound to a loopback address only.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
