package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/httpauth"
)

// Sessions.
const (
	// CookieName is the session cookie: HttpOnly, SameSite=Strict, Path=/.
	CookieName = "ganlink_session"
	// SessionIdle ends a session not used for this long.
	SessionIdle = 8 * time.Hour
	// MaxSessions bounds the sessions kept; signing in beyond it ends the session
	// used least recently.
	MaxSessions = 256
	// maxSignInBody bounds POST /api/session's body.
	maxSignInBody = 4 << 10
	// SignInMaxFailures wrong passwords in a row for one user name lock that name out of
	// signing in (POST /api/session and basic authentication) for SignInLockout.
	SignInMaxFailures = 10
	SignInLockout     = time.Minute
	// maxTrackedNames bounds the user names whose failures are counted; beyond it the
	// entry changed least recently is forgotten.
	maxTrackedNames = 1024
)

// failures counts one user name's wrong passwords in a row.
type failures struct {
	n     int
	until time.Time // locked out until then
	last  time.Time
}

// locked reports whether name is locked out at now, and for how long still.
func (st *State) locked(name string, now time.Time) (bool, time.Duration) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f := st.fails[name]
	if f == nil || !now.Before(f.until) {
		return false, 0
	}
	return true, f.until.Sub(now)
}

// signInResult records a sign-in attempt of name; it reports whether this failure
// locked the name out.
func (st *State) signInResult(name string, ok bool, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if ok {
		delete(st.fails, name)
		return false
	}
	f := st.fails[name]
	if f == nil {
		if len(st.fails) >= maxTrackedNames {
			var oldest string
			for k, v := range st.fails {
				if oldest == "" || v.last.Before(st.fails[oldest].last) {
					oldest = k
				}
			}
			delete(st.fails, oldest)
		}
		f = &failures{}
		st.fails[name] = f
	}
	f.n++
	f.last = now
	if f.n >= SignInMaxFailures {
		f.n, f.until = 0, now.Add(SignInLockout)
		return true
	}
	return false
}

// sessionPath is the sign-in API.
const sessionPath = "/api/session"

// State is what the admin endpoint keeps across the in-process restart a reload
// performs: the signed-in sessions, the key of the CSRF tokens of basic authentication,
// and the reloads (their outcome is read after the restart). cmd/gateway's serve loop
// makes one (NewState) and hands it to every gateway it builds; a server without one
// makes its own.
type State struct {
	key [32]byte

	mu       sync.Mutex
	sessions map[httpauth.Digest]*session // by the digest of the cookie value
	fails    map[string]*failures         // wrong passwords by user name (bounded)

	auditMu  sync.Mutex // one writer of the audit log, also across reloads
	configMu sync.Mutex // one change of the configuration file at a time

	// Reloads runs and reports the reloads the API requests; nil: none (no reload API).
	Reloads *Reloads
}

// NewState returns an empty state with a fresh random key.
func NewState() *State {
	st := &State{sessions: map[httpauth.Digest]*session{}, fails: map[string]*failures{}}
	if _, err := rand.Read(st.key[:]); err != nil {
		panic("admin: no randomness: " + err.Error()) // crypto/rand never fails on supported systems
	}
	return st
}

// session is one signed-in browser.
type session struct {
	id    httpauth.Digest
	user  string
	token bool // signed in with the token as the password
	csrf  string
	last  time.Time
}

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("admin: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newSession signs id in and returns the cookie value.
func (st *State) newSession(id identity, now time.Time) (string, *session) {
	value := randomToken()
	sess := &session{id: httpauth.Hash(value), user: id.name, token: id.token, csrf: randomToken(), last: now}
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, s := range st.sessions {
		if now.Sub(s.last) >= SessionIdle {
			delete(st.sessions, k)
		}
	}
	for len(st.sessions) >= MaxSessions {
		var oldest *session
		for _, s := range st.sessions {
			if oldest == nil || s.last.Before(oldest.last) {
				oldest = s
			}
		}
		delete(st.sessions, oldest.id)
	}
	st.sessions[sess.id] = sess
	return value, sess
}

// sessionOf returns r's live session, nil when its cookie names none; using it counts
// as activity.
func (st *State) sessionOf(r *http.Request, now time.Time) *session {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	sess := st.sessions[httpauth.Hash(c.Value)]
	if sess == nil {
		return nil
	}
	if now.Sub(sess.last) >= SessionIdle {
		delete(st.sessions, sess.id)
		return nil
	}
	sess.last = now
	return sess
}

func (st *State) drop(sess *session) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.sessions, sess.id)
}

// csrfToken returns the CSRF token a request of id must send: its session's, or for
// basic authentication one derived from the user name with the state's key (stable for
// the life of the process, across reloads); "" for a bearer token, which is exempt.
func (st *State) csrfToken(id identity) string {
	switch id.via {
	case viaSession:
		return id.sess.csrf
	case viaBasic:
		m := hmac.New(sha256.New, st.key[:])
		m.Write([]byte("ganlink csrf basic\x00" + id.name))
		return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	return ""
}

// sessionBody is the answer of the sign-in API.
type sessionBody struct {
	User      string `json:"user"`
	Role      string `json:"role"`
	CSRFToken string `json:"csrf_token"`
}

// handleSession serves the sign-in API:
//
//	POST   /api/session  {"user","password"} → 200 {"user","role","csrf_token"} and the cookie
//	GET    /api/session  → 200 the same for the current credentials, 401 without
//	DELETE /api/session  → 204, signs out
func (s *Server) handleSession() {
	s.handleFunc("POST "+sessionPath, func(w http.ResponseWriter, r *http.Request) {
		if s.auth == nil {
			s.metrics.signIns.WithLabelValues(SignInNotConfigured).Inc()
			writeError(w, http.StatusUnauthorized, "sign-in is not configured: configure admin.users (docs/commissioning.md)")
			return
		}
		var req struct {
			User     string `json:"user"`
			Password string `json:"password"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSignInBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			s.metrics.signIns.WithLabelValues(SignInBadRequest).Inc()
			msg := err.Error()
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				msg = "larger than 4 KiB"
			}
			writeError(w, http.StatusBadRequest, "body: "+point.Truncate(msg, 200))
			return
		}
		name := point.Truncate(req.User, 64)
		if locked, left := s.state.locked(name, s.now()); locked {
			s.metrics.signIns.WithLabelValues(SignInLocked).Inc()
			msg := fmt.Sprintf("too many wrong passwords for %q: try again in %d s", name, int(left.Seconds()+0.999))
			s.audit(r, identity{name: name}, ActionSignIn, "", "", "refused: "+msg)
			writeError(w, http.StatusTooManyRequests, msg)
			return
		}
		id, ok := s.auth.verify(req.User, req.Password)
		lockedNow := s.state.signInResult(name, ok, s.now())
		if !ok {
			s.metrics.signIns.WithLabelValues(SignInWrongCredentials).Inc()
			result := "refused: wrong user name or password"
			if lockedNow {
				result += fmt.Sprintf("; %q locked out for %s", name, SignInLockout)
				s.log.Warn("sign-in locked out after repeated wrong passwords", "user", name, "remote", r.RemoteAddr,
					"failures", SignInMaxFailures, "lockout", SignInLockout)
			}
			s.audit(r, identity{name: name}, ActionSignIn, "", "", result)
			writeError(w, http.StatusUnauthorized, "wrong user name or password")
			return
		}
		id.via = viaSession
		value, sess := s.state.newSession(id, s.now())
		id.sess = sess
		http.SetCookie(w, &http.Cookie{Name: CookieName, Value: value, Path: "/", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		s.audit(r, id, ActionSignIn, "", "", "ok")
		writeJSON(w, http.StatusOK, sessionBody{User: id.name, Role: id.role, CSRFToken: sess.csrf})
	})
	s.handleFunc("GET "+sessionPath, func(w http.ResponseWriter, r *http.Request) {
		id := identityOf(r)
		if id.via == viaNone {
			writeError(w, http.StatusUnauthorized, "not signed in")
			return
		}
		writeJSON(w, http.StatusOK, sessionBody{User: id.name, Role: id.role, CSRFToken: s.state.csrfToken(id)})
	})
	s.handleFunc("DELETE "+sessionPath, func(w http.ResponseWriter, r *http.Request) {
		id := identityOf(r)
		if id.sess != nil {
			s.state.drop(id.sess)
			s.audit(r, id, ActionSignOut, "", "", "ok")
		}
		http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		w.WriteHeader(http.StatusNoContent)
	})
}

// roleOK reports whether role may do what only an engineer may.
func roleOK(role string) bool { return role == config.RoleEngineer }
