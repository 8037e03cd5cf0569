// Package admin serves the gateway's HTTP surface: /metrics (Prometheus), /healthz
// (the process is alive), /readyz (every sink's queue is open and every source has
// connected at least once), /api/status (JSON snapshot) and / (the status page, which
// renders /api/status).
//
// Optional authentication (SetAuth) protects the status page, /api/status and every
// other page; /metrics, /healthz and /readyz stay open for monitoring and probes unless
// Auth.ProtectMetrics is set. Users sign in with POST /api/session (a session cookie) and
// have a role, viewer or engineer; every state-changing request needs its CSRF token and
// is recorded in the audit log (guard, Audit; docs/security.md). The server bounds slow and oversized requests: headers must
// arrive within 5s and fit 16 KiB, a request within 10s, a response within 30s, and an
// idle keep-alive connection is closed after 60s. The header limit is exact: a request
// head (request line, header lines, blank line) of 16 KiB is read, one byte more gets
// 431 (internal/httplimit).
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"slices"
	"time"

	"github.com/ganlink/ganlink/internal/httplimit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server limits.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxHeaderBytes    = 16 << 10
)

// Server is the admin HTTP server.
type Server struct {
	addr    string
	mux     *http.ServeMux
	log     *slog.Logger
	ready   func() error
	status  func(url.Values) (any, error)
	ln      net.Listener
	auth    *authenticator // nil: open
	corr    Corrections    // nil: no correction endpoints
	state   *State         // sessions, CSRF key, reloads: kept across reloads
	metrics *metrics
	now     func() time.Time
	dataDir string // "": no audit log, no configuration versions

	routes     []string                // every pattern registered (Routes)
	configPath string                  // SetConfig: the configuration file
	validate   func([]byte) Validation // SetConfig: app.Validate

	// HTTP server limits (the defaults above; tests shorten them).
	readHeaderTimeout, readTimeout, writeTimeout, idleTimeout time.Duration
	maxHeaderBytes                                            int
}

// New builds the server. ready returns nil when the gateway is ready; status returns a
// JSON-encodable snapshot.
func New(addr string, gatherer prometheus.Gatherer, ready func() error, status func(query url.Values) (any, error), log *slog.Logger) *Server {
	s := &Server{addr: addr, mux: http.NewServeMux(), log: log, ready: ready, status: status,
		readHeaderTimeout: DefaultReadHeaderTimeout, readTimeout: DefaultReadTimeout,
		writeTimeout: DefaultWriteTimeout, idleTimeout: DefaultIdleTimeout, maxHeaderBytes: DefaultMaxHeaderBytes,
		state: NewState(), metrics: newMetrics(), now: time.Now}
	if reg, ok := gatherer.(prometheus.Registerer); ok {
		s.metrics.register(reg)
	}
	s.handleSession()
	s.handleAudit()
	s.handleReload()
	s.handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError), MaxRequestsInFlight: 4,
	}))
	s.handleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.handleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := s.ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	s.handleFunc("GET /{$}", serveStatusPage)
	s.registerCommissionPage()
	s.handleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.status(r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
	})
	return s
}

// EnablePprof serves the Go runtime's profiles (net/http/pprof) under /debug/pprof/,
// behind the endpoint's authentication: heap, goroutine, allocs, and CPU profiles of up
// to 29 s (the write timeout bounds a response), e.g.
// `go tool pprof http://127.0.0.1:9273/debug/pprof/heap`.
func (s *Server) EnablePprof() {
	s.handleFunc("GET /debug/pprof/", pprof.Index)
	s.handleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	s.handleFunc("GET /debug/pprof/profile", pprof.Profile)
	s.handleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	s.handleFunc("GET /debug/pprof/trace", pprof.Trace)
}

// Handle adds a handler (e.g. the status page) to the server's mux. It is behind the
// same authentication, CSRF and role checks as every route (see guard): a handler under
// /api/commission/ or /api/config is served to engineers only, and UserFrom and Audit
// work in it.
func (s *Server) Handle(pattern string, h http.Handler) { s.handle(pattern, h) }

// handle registers a route and records its pattern (Routes).
func (s *Server) handle(pattern string, h http.Handler) {
	s.routes = append(s.routes, pattern)
	s.mux.Handle(pattern, h)
}

func (s *Server) handleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	s.handle(pattern, http.HandlerFunc(h))
}

// Routes returns the patterns registered so far ("GET /api/status", ...), in order:
// docs/admin-api.openapi.yaml documents every one.
func (s *Server) Routes() []string { return slices.Clone(s.routes) }

// SetState makes the server use st (sessions, CSRF key, reloads) instead of its own, so
// that they outlive the server across reloads; call it before Run.
func (s *Server) SetState(st *State) {
	if st != nil {
		s.state = st
	}
}

// Listen binds the address, so a bad address fails start-up before anything runs.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	s.ln = ln
	return nil
}

// Addr returns the bound address (after Listen).
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.addr
	}
	return s.ln.Addr().String()
}

// Run serves until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	if s.auth == nil && !isLoopback(s.ln.Addr()) {
		s.log.Warn("admin endpoint is reachable from the network without authentication: "+
			"set admin.users, admin.basic_auth or admin.token_file, or listen on 127.0.0.1", "addr", s.ln.Addr().String())
	}
	srv := &http.Server{
		Handler:           s.guard(s.mux),
		ReadHeaderTimeout: s.readHeaderTimeout,
		ReadTimeout:       s.readTimeout,
		WriteTimeout:      s.writeTimeout,
		IdleTimeout:       s.idleTimeout,
		MaxHeaderBytes:    httplimit.HeaderBytes(s.maxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-errc
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}
