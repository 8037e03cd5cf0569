package admin

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/httpauth"
)

// Auth configures the admin endpoint's authentication: HTTP basic authentication with
// one user or a bearer token (not both), and any number of Users with roles. The basic
// user and the token have role engineer.
type Auth struct {
	// Username and Password enable basic authentication.
	Username, Password string
	// Token enables "Authorization: Bearer <token>". A browser, which cannot send a
	// bearer token, may log in with basic authentication: any user name and the token as
	// the password.
	Token string
	// Users sign in with POST /api/session (or basic authentication), each with a role
	// (config.RoleViewer or config.RoleEngineer; gateway/config validates them).
	Users []User
	// ProtectMetrics also requires the credentials for /metrics, /healthz and /readyz.
	ProtectMetrics bool
}

// User is one user of admin.users.
type User struct {
	Name, Role, Password string
}

// realm names the protection space in WWW-Authenticate challenges.
const realm = "ganlink gateway"

// openPaths are the monitoring and probe endpoints that stay open unless
// Auth.ProtectMetrics is set. Any other path, including ones added with Handle, is
// protected, except the sign-in endpoint and the commissioning page's HTML (signInPaths).
var openPaths = map[string]bool{"/metrics": true, "/healthz": true, "/readyz": true}

// authWarnEvery throttles the warning about refused requests.
const authWarnEvery = time.Minute

// authenticator checks credentials against SHA-256 digests, so every comparison takes
// the same time whatever the length or content of the presented value.
type authenticator struct {
	basic          bool // basic user configured (and no token)
	hasToken       bool
	user, secret   httpauth.Digest // secret: the password, or the token
	users          []userDigest
	protectMetrics bool

	mu       sync.Mutex
	lastWarn time.Time
	refused  int
}

type userDigest struct {
	name      string
	nameHash  httpauth.Digest
	pass      httpauth.Digest
	role      string
	fromBasic bool
}

// SetAuth enables authentication; call it before Run. Both methods at once, a user name
// without a password, a user name containing ':' or a password without a user name
// are errors.
func (s *Server) SetAuth(a Auth) error {
	switch {
	case a.Username == "" && a.Password == "" && a.Token == "" && len(a.Users) == 0:
		if a.ProtectMetrics {
			return errors.New("set admin auth: protecting /metrics needs basic authentication, a token or users")
		}
		s.auth = nil
		return nil
	case (a.Username != "" || a.Password != "") && a.Token != "":
		return errors.New("set admin auth: basic authentication and a token are exclusive")
	case a.Token == "" && (a.Username != "" || a.Password != "") && (a.Username == "" || a.Password == ""):
		return errors.New("set admin auth: basic authentication needs a user name and a password")
	case strings.ContainsAny(a.Username, ":\r\n"):
		return errors.New("set admin auth: the user name must not contain ':' or line breaks")
	}
	au := &authenticator{protectMetrics: a.ProtectMetrics}
	switch {
	case a.Token != "":
		au.hasToken = true
		au.secret = httpauth.Hash(a.Token)
	case a.Username != "":
		au.basic = true
		au.user = httpauth.Hash(a.Username)
		au.secret = httpauth.Hash(a.Password)
		au.users = append(au.users, userDigest{name: a.Username, nameHash: au.user, pass: au.secret,
			role: config.RoleEngineer, fromBasic: true})
	}
	for _, u := range a.Users {
		if u.Name == "" || u.Password == "" || strings.ContainsAny(u.Name, ":\r\n") {
			return errors.New("set admin auth: a user needs a name without ':' or line breaks and a password")
		}
		role := u.Role
		if role != config.RoleEngineer {
			role = config.RoleViewer // least privilege for anything config did not validate
		}
		au.users = append(au.users, userDigest{name: u.Name, nameHash: httpauth.Hash(u.Name),
			pass: httpauth.Hash(u.Password), role: role})
	}
	s.auth = au
	return nil
}

// how a request was authenticated.
type via int

const (
	viaNone    via = iota // anonymous
	viaSession            // the ganlink_session cookie
	viaBasic              // HTTP basic authentication
	viaBearer             // a bearer token
)

// identity is who makes a request.
type identity struct {
	name, role string
	via        via
	token      bool     // signed in with the token as the password
	sess       *session // viaSession
}

// verify checks a user name and password (POST /api/session, basic authentication):
// the basic user, a token as the password (any user name), or one of the users. Every
// user is compared, always: no early exit that would tell a wrong name from a wrong
// password by its timing.
func (a *authenticator) verify(user, pass string) (identity, bool) {
	uh, ph := httpauth.Hash(user), httpauth.Hash(pass)
	var (
		found identity
		ok    bool
	)
	for _, u := range a.users {
		n, p := httpauth.Equal(uh, u.nameHash), httpauth.Equal(ph, u.pass)
		if n && p && !ok {
			found, ok = identity{name: u.name, role: u.role}, true
		}
	}
	if a.hasToken && httpauth.Equal(ph, a.secret) && !ok {
		name := user
		if name == "" {
			name = TokenUser
		}
		found, ok = identity{name: name, role: config.RoleEngineer, token: true}, true
	}
	return found, ok
}

// role returns the current role of a user name, false when no such user is configured
// any longer (a session outlives a reload that removed its user: it ends then).
func (a *authenticator) role(name string, token bool) (string, bool) {
	if token {
		return config.RoleEngineer, a.hasToken
	}
	for _, u := range a.users {
		if u.name == name {
			return u.role, true
		}
	}
	return "", false
}

// check returns who r is: presented says whether it carried basic or bearer
// credentials, ok whether they are valid, badToken whether it presented a wrong bearer
// token. A valid session cookie counts first; a stale cookie is ignored.
func (s *Server) check(r *http.Request) (id identity, presented, ok, badToken bool) {
	a := s.auth
	if sess := s.state.sessionOf(r, s.now()); sess != nil {
		if role, still := a.role(sess.user, sess.token); still {
			return identity{name: sess.user, role: role, via: viaSession, token: sess.token, sess: sess}, true, true, false
		}
		s.state.drop(sess)
	}
	if user, pass, isBasic := r.BasicAuth(); isBasic {
		name, now := point.Truncate(user, 64), s.now()
		if locked, _ := s.state.locked(name, now); locked {
			return identity{}, true, false, false // basic authentication honours the lock-out too
		}
		id, ok := a.verify(user, pass)
		s.state.signInResult(name, ok, now)
		id.via = viaBasic
		return id, true, ok, false
	}
	tok, found := httpauth.Bearer(r)
	if !found {
		return identity{}, false, false, false
	}
	if !a.hasToken {
		return identity{}, true, false, false
	}
	ok = httpauth.Equal(httpauth.Hash(tok), a.secret)
	return identity{name: TokenUser, role: config.RoleEngineer, via: viaBearer}, true, ok, !ok
}

// refuse answers 401 with the challenges of the configured method, and logs refused
// requests at most once a minute (never what they presented). The sign-in API answers
// JSON without challenges, so a page's fetch never opens the browser's password dialog.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, badToken bool) {
	a := s.auth
	s.metrics.refused.WithLabelValues(ReasonUnauthenticated).Inc()
	if r.URL.Path == sessionPath {
		writeError(w, http.StatusUnauthorized, "not signed in")
	} else {
		h := w.Header()
		if a.hasToken {
			h.Add("WWW-Authenticate", httpauth.Challenge(realm, badToken))
		}
		// A page's own fetch (Sec-Fetch-Mode other than navigate) gets no Basic challenge:
		// it would open the browser's password dialog over the page, which signs in itself.
		if m := r.Header.Get("Sec-Fetch-Mode"); m == "" || m == "navigate" {
			h.Add("WWW-Authenticate", `Basic realm="`+realm+`", charset="UTF-8"`)
		}
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("unauthorized\n"))
	}
	s.refusedCorrection(r)
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
