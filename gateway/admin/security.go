package admin

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"

	"github.com/ganlink/ganlink/gateway/corrections"
	"github.com/prometheus/client_golang/prometheus"
)

// The reason label of ganlink_admin_requests_refused_total.
const (
	// ReasonUnauthenticated: no or wrong credentials where they are needed (401).
	ReasonUnauthenticated = "unauthenticated"
	// ReasonCrossSite: a state-changing request from another site (403).
	ReasonCrossSite = "cross_site"
	// ReasonCSRF: a state-changing request without its session's X-CSRF-Token (403).
	ReasonCSRF = "csrf"
	// ReasonRole: a viewer asked for what only an engineer may do (403).
	ReasonRole = "role"
	// ReasonNoCredentials: an editing request while no credentials are configured (403).
	ReasonNoCredentials = "no_credentials"
)

// The reason label of ganlink_admin_signins_refused_total.
const (
	SignInWrongCredentials = "wrong_credentials"
	SignInBadRequest       = "bad_request"
	SignInNotConfigured    = "not_configured"
	SignInCrossSite        = "cross_site"
	SignInLocked           = "locked"
)

// Refusal messages (the "error" of the JSON body).
const (
	MsgNoCredentials = "editing needs a signed-in engineer: configure admin.users (docs/commissioning.md)"
	MsgCSRF          = "missing or invalid CSRF token"
	MsgCrossSite     = "cross-site request refused"
)

// CSRFHeader carries the session's CSRF token on every state-changing request.
const CSRFHeader = "X-CSRF-Token"

// engineerPrefixes are the paths only an engineer may use, whatever the method: the
// configuration, commissioning and the audit log. A path is under a prefix when it
// equals it without the trailing slash or starts with it.
var engineerPrefixes = []string{"/api/config/", "/api/commission/", "/api/audit/"}

// EngineerOnly reports whether path is one only an engineer may use.
func EngineerOnly(path string) bool {
	for _, p := range engineerPrefixes {
		if path == p[:len(p)-1] || strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// signInPaths are reachable without credentials when authentication is configured: the
// sign-in API and the commissioning page's HTML (which holds no data and signs in).
var signInPaths = map[string]bool{sessionPath: true, "/commission": true}

// changes reports whether a method changes state (needs CSRF protection).
func changes(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

type metrics struct {
	refused, signIns *prometheus.CounterVec
	auditErrors      prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ganlink_admin_requests_refused_total",
			Help: "Admin requests refused, by reason: unauthenticated, cross_site, csrf, role, no_credentials."}, []string{"reason"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ganlink_admin_signins_refused_total",
			Help: "Sign-ins refused, by reason: wrong_credentials, bad_request, not_configured, cross_site, locked."}, []string{"reason"}),
		auditErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "ganlink_admin_audit_errors_total",
			Help: "Audit log entries that could not be written (each logged)."}),
	}
	for _, r := range []string{ReasonUnauthenticated, ReasonCrossSite, ReasonCSRF, ReasonRole, ReasonNoCredentials} {
		m.refused.WithLabelValues(r)
	}
	for _, r := range []string{SignInWrongCredentials, SignInBadRequest, SignInNotConfigured, SignInCrossSite, SignInLocked} {
		m.signIns.WithLabelValues(r)
	}
	return m
}

func (m *metrics) register(reg prometheus.Registerer) {
	for _, c := range []prometheus.Collector{m.refused, m.signIns, m.auditErrors} {
		_ = reg.Register(c) // a registry shared by two servers keeps the first one's
	}
}

type ctxKey struct{}

// reqInfo is what the guard attaches to a request.
type reqInfo struct {
	id identity
	s  *Server
}

func infoOf(r *http.Request) *reqInfo {
	ri, _ := r.Context().Value(ctxKey{}).(*reqInfo)
	return ri
}

func identityOf(r *http.Request) identity {
	if ri := infoOf(r); ri != nil {
		return ri.id
	}
	return identity{}
}

// UserFrom returns who makes r, a request served by the admin server: the user name
// (TokenUser for a bearer token) and role ("viewer" or "engineer": config.RoleViewer, config.RoleEngineer);
// "", "" when the endpoint has no credentials configured.
func UserFrom(r *http.Request) (name, role string) {
	id := identityOf(r)
	return id.name, id.role
}

// guard wraps h with authentication, the cross-site and CSRF checks of state-changing
// requests, and the role check, in this order:
//
//   - /metrics, /healthz, /readyz: open unless Auth.ProtectMetrics.
//   - Credentials: a session cookie, basic authentication or a bearer token; wrong ones
//     401; none 401 where authentication is configured (but the sign-in API and the
//     commissioning page's HTML).
//   - POST, PUT, PATCH, DELETE: 403 when cross-site (Sec-Fetch-Site: cross-site, or an
//     Origin other than the server's host); 403 without the X-CSRF-Token of the session
//     (cookie) or of the basic user; bearer tokens are exempt, as is signing in.
//   - The configuration, commissioning and audit APIs (EngineerOnly), and with
//     authentication configured every state-changing request but signing in and out:
//     role engineer, else 403; without any credentials configured the engineer-only
//     paths are refused (MsgNoCredentials) and the rest stays open as before.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := s.auth
		if openPaths[r.URL.Path] && (a == nil || !a.protectMetrics) {
			h.ServeHTTP(w, r)
			return
		}
		var id identity
		if a != nil {
			got, presented, ok, badToken := s.check(r)
			switch {
			case presented && !ok:
				s.refuse(w, r, badToken)
				return
			case ok:
				id = got
			case !signInPaths[r.URL.Path]:
				s.refuse(w, r, false)
				return
			}
		}
		signIn := r.URL.Path == sessionPath && r.Method == http.MethodPost
		if changes(r.Method) {
			if crossSite(r) {
				if signIn {
					s.metrics.signIns.WithLabelValues(SignInCrossSite).Inc()
				}
				s.deny(w, r, id, ReasonCrossSite, MsgCrossSite)
				return
			}
			if !signIn && (id.via == viaSession || id.via == viaBasic) && !tokenEqual(r.Header.Get(CSRFHeader), s.state.csrfToken(id)) {
				s.deny(w, r, id, ReasonCSRF, MsgCSRF)
				return
			}
		}
		needEngineer := EngineerOnly(r.URL.Path) ||
			(a != nil && changes(r.Method) && r.URL.Path != sessionPath)
		switch {
		case !needEngineer:
		case a == nil:
			s.deny(w, r, id, ReasonNoCredentials, MsgNoCredentials)
			return
		case !roleOK(id.role):
			s.deny(w, r, id, ReasonRole, "role "+id.role+" may not "+r.Method+" "+r.URL.Path+": an engineer may")
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, &reqInfo{id: id, s: s})))
	})
}

// deny answers 403 with msg and counts it; a refused state-changing request is
// audited (ActionRefused).
func (s *Server) deny(w http.ResponseWriter, r *http.Request, id identity, reason, msg string) {
	s.metrics.refused.WithLabelValues(reason).Inc()
	if changes(r.Method) {
		s.audit(r, id, ActionRefused, r.Method+" "+r.URL.Path, "", "refused: "+msg)
	}
	writeError(w, http.StatusForbidden, msg)
}

// refusedCorrection counts a refused correction request in the correction service's
// counter too (docs/corrections.md).
func (s *Server) refusedCorrection(r *http.Request) {
	if s.corr != nil && strings.HasPrefix(r.URL.Path, "/api/corrections") {
		s.corr.Refused(corrections.ReasonUnauthenticated)
	}
}

// crossSite reports a request a browser sent from another site: Sec-Fetch-Site says so,
// or its Origin is not this server.
func crossSite(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return true
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	return err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host)
}

func tokenEqual(got, want string) bool {
	if got == "" || want == "" || len(got) != len(want) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
