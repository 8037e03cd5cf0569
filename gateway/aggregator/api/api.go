// Package api serves the aggregator's HTTP API under /api/v1 (JSON, or CSV with
// ?format=csv) for the provincial platform: programme progress, KPI roll-ups per region,
// park and enterprise, and the workshop list with qualification detail. Every request
// carries a bearer token scoped to a region subtree; /api/v1/openapi.json, /metrics and
// /healthz are open.
package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/gateway/aggregator/service"
	"github.com/ganlink/ganlink/internal/httpauth"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3 document of the API.
func OpenAPI() []byte { return openAPI }

// Options bound what a request may ask for.
type Options struct {
	// DefaultRange is the period's length when a request gives neither from nor to (or
	// only to); 0, the default, is the calendar month (month to date).
	DefaultRange time.Duration
	// RequestTimeout bounds the TSDB queries of one request; default 60s.
	RequestTimeout time.Duration
	// MaxURLBytes bounds the request target (path and query); default 4096.
	MaxURLBytes int
	// MaxBodyBytes bounds a request body (the API takes none); default 4096.
	MaxBodyBytes int64
	// MaxInFlight bounds the authenticated requests worked on at once; default 4.
	MaxInFlight int
	// MaxQueued bounds the requests waiting for one of them; a request beyond it gets
	// 503 at once; default 16.
	MaxQueued int
	// QueueTimeout bounds the wait (503 after it) and is the Retry-After of every 503;
	// default 5s.
	QueueTimeout time.Duration
	// MaxRows bounds the rows of one response (groups × buckets); a request that would
	// return more gets 400 before any work; default 20 000.
	MaxRows int
}

// API is the HTTP handler.
type API struct {
	svc    *service.Service
	tokens *Tokens
	opt    Options
	log    *slog.Logger
	mux    *http.ServeMux

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	refusals *prometheus.CounterVec
	lim      *limiter
}

// New builds the handler; metrics are registered on reg and /metrics serves gatherer.
func New(svc *service.Service, tokens *Tokens, opt Options, reg prometheus.Registerer, gatherer prometheus.Gatherer, log *slog.Logger) *API {
	if opt.DefaultRange < 0 {
		opt.DefaultRange = 0
	}
	if opt.RequestTimeout <= 0 {
		opt.RequestTimeout = 60 * time.Second
	}
	if opt.MaxURLBytes <= 0 {
		opt.MaxURLBytes = 4096
	}
	if opt.MaxBodyBytes <= 0 {
		opt.MaxBodyBytes = 4096
	}
	if opt.MaxInFlight <= 0 {
		opt.MaxInFlight = 4
	}
	if opt.MaxQueued < 0 {
		opt.MaxQueued = 0
	} else if opt.MaxQueued == 0 {
		opt.MaxQueued = 16
	}
	if opt.QueueTimeout <= 0 {
		opt.QueueTimeout = 5 * time.Second
	}
	if opt.MaxRows <= 0 {
		opt.MaxRows = 20000
	}
	a := &API{svc: svc, tokens: tokens, opt: opt, log: log, mux: http.NewServeMux(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ganlink_aggregator_api_requests_total",
			Help: "API requests by route and HTTP status code."}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ganlink_aggregator_api_request_duration_seconds",
			Help:    "API request duration by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"route"}),
	}
	a.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ganlink_aggregator_correction_refusals_total",
		Help: "Requests to record or revoke a correction that were refused, by reason."}, []string{"reason"})
	for _, r := range refusalReasons() {
		a.refusals.WithLabelValues(r)
	}
	reg.MustRegister(a.requests, a.duration, a.refusals)
	a.lim = newLimiter(opt.MaxInFlight, opt.MaxQueued, opt.QueueTimeout, reg)
	for _, r := range routes {
		a.mux.Handle("GET "+r.path, a.authed(r))
	}
	for _, r := range postRoutes {
		a.mux.Handle("POST "+r.path, a.authed(r))
	}
	a.mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	a.mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError), MaxRequestsInFlight: 4}))
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	return a
}

// route is one authenticated endpoint.
type route struct {
	path   string
	params []string // accepted query parameters besides format
	h      func(a *API, rq *request) (*result, error)
}

var routes = []route{
	{"/api/v1/programme", []string{"region", "from", "to"}, (*API).programme},
	{"/api/v1/kpi/regions", []string{"region", "level", "from", "to", "step"}, (*API).kpiRegions},
	{"/api/v1/kpi/parks", []string{"region", "park", "from", "to", "step"}, (*API).kpiParks},
	{"/api/v1/kpi/enterprises", []string{"region", "park", "enterprise", "from", "to", "step"}, (*API).kpiEnterprises},
	{"/api/v1/workshops", []string{"region", "park", "enterprise", "qualified", "missed", "from", "to"}, (*API).workshops},
	{"/api/v1/regions", []string{"region"}, (*API).regions},
	{"/api/v1/consistency", []string{"region", "from", "to"}, (*API).consistency},
	{"/api/v1/corrections", []string{"region", "workshop", "from", "to"}, (*API).corrections},
}

// Routes returns the authenticated paths (for documentation checks).
func Routes() []string {
	out := make([]string, len(routes))
	for i, r := range routes {
		out[i] = r.path
	}
	return out
}

// statusWriter records the status code.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP enforces the size limits, routes, and counts the request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	switch {
	case len(r.RequestURI) > a.opt.MaxURLBytes:
		writeError(sw, http.StatusRequestURITooLong, fmt.Sprintf("request target longer than %d bytes", a.opt.MaxURLBytes))
	case r.ContentLength > a.opt.MaxBodyBytes:
		writeError(sw, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", a.opt.MaxBodyBytes))
	default:
		r.Body = http.MaxBytesReader(sw, r.Body, a.opt.MaxBodyBytes)
		a.mux.ServeHTTP(sw, r)
	}
	route := "unmatched"
	if r.Pattern != "" {
		route = strings.TrimPrefix(r.Pattern, "GET ")
		if strings.HasPrefix(route, "POST ") {
			route = strings.TrimPrefix(route, "POST ") + " (post)"
		}
	}
	if sw.code == 0 {
		sw.code = http.StatusOK
	}
	a.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
	a.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
}

// apiError is an error with its HTTP status (and the reason it is counted under in
// ganlink_aggregator_requests_rejected_total, if any).
type apiError struct {
	code   int
	msg    string
	reason string
	// corrReason is the reason counted in ganlink_aggregator_correction_refusals_total.
	corrReason string
}

func (e *apiError) Error() string { return e.msg }

func errorf(code int, format string, a ...any) error {
	return &apiError{code: code, msg: fmt.Sprintf(format, a...)}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	b, _ := json.Marshal(map[string]string{"error": msg})
	_, _ = w.Write(append(b, '\n'))
}

// request is an authenticated request.
type request struct {
	r     *http.Request
	ctx   context.Context
	token Token
	reg   *registry.Registry
	scope *registry.Region
	query map[string]string // from parseQuery: every parameter known and given once
}

// param returns the value of a query parameter ("" when absent).
func (rq *request) param(name string) string { return rq.query[name] }

// result is a response: an envelope for JSON and the rows for CSV.
type result struct {
	envelope record
	rowsKey  string
	rows     iter.Seq[record] // nil: none
	template record
	// status is the HTTP status of a JSON response; 0: 200.
	status int
}

func (a *API) authed(rt route) http.Handler {
	allowed := map[string]bool{"format": true}
	for _, p := range rt.params {
		allowed[p] = true
	}
	name := strings.NewReplacer("/", "-", "{", "", "}", "").Replace(strings.TrimPrefix(rt.path, "/api/v1/"))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		bearer, ok := httpauth.Bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", httpauth.Challenge("ganlink", false))
			writeError(w, http.StatusUnauthorized, "missing bearer token")
			return
		}
		tok, ok := a.tokens.Lookup(bearer)
		if !ok {
			w.Header().Set("WWW-Authenticate", httpauth.Challenge("ganlink", true))
			writeError(w, http.StatusUnauthorized, "invalid bearer token")
			return
		}
		reg := a.svc.Registry()
		scope := reg.Region(tok.Region)
		if scope == nil {
			writeError(w, http.StatusForbidden, fmt.Sprintf("scope region %q of token %q is not in the registry", tok.Region, tok.Name))
			return
		}
		query, err := parseQuery(r.URL.RawQuery, allowed)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		format := query["format"]
		if format != "" && format != "json" && format != "csv" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("format: %q is not json or csv", clip(format)))
			return
		}
		release, reason, msg := a.lim.acquire(r.Context())
		if release == nil {
			if reason != "" {
				a.lim.refuse(w, msg)
			}
			return
		}
		defer release()
		ctx, cancel := context.WithTimeout(r.Context(), a.opt.RequestTimeout)
		defer cancel()
		res, err := rt.h(a, &request{r: r, ctx: ctx, token: tok, reg: reg, scope: scope, query: query})
		if err != nil {
			a.fail(w, r, tok, err)
			return
		}
		if format == "csv" {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.csv"`, name))
			_ = writeCSV(w, res.rows, res.template)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if res.status != 0 {
			w.WriteHeader(res.status)
		}
		_ = writeJSON(w, res.envelope, res.rowsKey, res.rows)
	})
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, tok Token, err error) {
	var ae *apiError
	var be *service.BackendError
	var te *service.TooManyPointsError
	switch {
	case errors.As(err, &ae):
		if ae.reason != "" {
			a.lim.rejected.WithLabelValues(ae.reason).Inc()
		}
		if ae.corrReason != "" {
			a.refusals.WithLabelValues(ae.corrReason).Inc()
		}
		writeError(w, ae.code, ae.msg)
	case errors.As(err, &te):
		a.lim.rejected.WithLabelValues(rejectTooManyPoints).Inc()
		writeError(w, http.StatusBadRequest, err.Error())
	case service.IsPeriodError(err):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.As(err, &be):
		a.log.Error("api query failed", "path", r.URL.Path, "token", tok.Name, "err", err)
		writeError(w, http.StatusBadGateway, "the time-series database did not answer; see the aggregator log")
	default:
		a.log.Error("api request failed", "path", r.URL.Path, "token", tok.Name, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

// regionParam returns the region parameter (default: the token's scope), which must
// be registered and within the scope.
func (rq *request) regionParam() (*registry.Region, error) {
	code := rq.param("region")
	if code == "" {
		return rq.scope, nil
	}
	if _, err := registry.CheckRegionCode(code); err != nil {
		return nil, errorf(http.StatusBadRequest, "region: %v", err)
	}
	reg := rq.reg.Region(code)
	if reg == nil {
		return nil, errorf(http.StatusNotFound, "unknown region %q", clip(code))
	}
	if !rq.reg.Within(code, rq.scope.Code) {
		return nil, rq.outOfScope("region", code)
	}
	return reg, nil
}

func (rq *request) outOfScope(kind, id string) error {
	return errorf(http.StatusForbidden, "%s %q is outside the scope of token %q (region %s)", kind, id, rq.token.Name, rq.scope.Code)
}

// parkParam returns the park parameter (nil when absent), which must be registered and
// lie within the scope.
func (rq *request) parkParam() (*registry.Park, error) {
	id := rq.param("park")
	if id == "" {
		return nil, nil
	}
	p := rq.reg.Park(id)
	if p == nil {
		return nil, errorf(http.StatusNotFound, "unknown park %q", clip(id))
	}
	if !rq.reg.Within(p.Region, rq.scope.Code) {
		return nil, rq.outOfScope("park", id)
	}
	return p, nil
}

func (rq *request) enterpriseParam() (*registry.Enterprise, error) {
	id := rq.param("enterprise")
	if id == "" {
		return nil, nil
	}
	e := rq.reg.Enterprise(id)
	if e == nil {
		return nil, errorf(http.StatusNotFound, "unknown enterprise %q", clip(id))
	}
	if !rq.reg.Within(e.Region, rq.scope.Code) {
		return nil, rq.outOfScope("enterprise", id)
	}
	return e, nil
}

// period parses from, to and (when allowed) step. Times are RFC 3339, or local dates
// "2006-01-02" and local times "2006-01-02T15:04" in the workshops' zone. Without from
// and to the period is the current calendar month up to the end of the settled data
// (DefaultRange 0, the default) or the DefaultRange before that end; with only to, the
// calendar month (or DefaultRange) before to. A period reaching past the end of the
// settled data is clipped to it (the response says so in clipped_from_to); one that
// starts there or later is refused.
func (a *API) period(rq *request, withStep bool) (service.Period, error) {
	loc := a.svc.Location()
	before := func(to time.Time) service.Period {
		if a.opt.DefaultRange == 0 {
			return a.svc.MonthOf(to)
		}
		return service.Period{From: to.Add(-a.opt.DefaultRange), To: to}
	}
	var p service.Period
	if a.opt.DefaultRange == 0 {
		p = a.svc.MonthToDate()
	} else {
		p = a.svc.DefaultPeriod(a.opt.DefaultRange)
	}
	from, to := rq.param("from"), rq.param("to")
	var err error
	if to != "" {
		if p.To, err = ParseTime(to, loc); err != nil {
			return p, errorf(http.StatusBadRequest, "to: %v", err)
		}
		p.From = before(p.To).From
	}
	if from != "" {
		if p.From, err = ParseTime(from, loc); err != nil {
			return p, errorf(http.StatusBadRequest, "from: %v", err)
		}
	}
	if s := rq.param("step"); s != "" && withStep {
		d, err := service.ParseDuration(s)
		if err != nil || d <= 0 {
			return p, errorf(http.StatusBadRequest, "step: invalid duration %q", clip(s))
		}
		p.Step = d
		if p.Step == p.To.Sub(p.From) {
			p.Step = 0
		}
	}
	if err := a.svc.CheckPeriod(p); err != nil {
		return p, err
	}
	// Clip after the checks, so that a bad period is reported as asked for.
	if p, p.RequestedTo, err = a.svc.ClipToData(p); err != nil {
		return p, err
	}
	return p, nil
}

// ParseTime parses a local date "2006-01-02" or local time "2006-01-02T15:04" in loc, or
// an RFC 3339 time: the times of the API's parameters and of the correct command.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time %q (want 2006-01-02, 2006-01-02T15:04 or RFC 3339)", clip(s))
	}
	return t.In(loc), nil
}

func (a *API) periodRecord(p service.Period) record {
	window, _ := a.svc.Window()
	r := record{{"from", p.From.In(a.svc.Location())}, {"to", p.To.In(a.svc.Location())}}
	if !p.RequestedTo.IsZero() {
		r.add("clipped_from_to", p.RequestedTo.In(a.svc.Location()))
		r.add("note", "to is after the end of the settled data: the period was clipped to end there")
	}
	if p.Step != 0 {
		r.add("step", service.FormatDuration(p.Step))
	}
	r.add("window", window)
	return r
}

func regionRecord(r *registry.Region) record {
	return record{{"code", r.Code}, {"name", r.Name}, {"level", r.Level.String()}}
}
