package commission

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Prefix is the path every commissioning endpoint lies under.
const Prefix = "/api/commission/"

// AuditFunc records a state-changing request (admin.Audit's signature).
type AuditFunc func(r *http.Request, action, target, diff, result string)

// Handler serves the commissioning API. It is safe for concurrent use.
type Handler struct {
	b      Backend
	log    *slog.Logger
	audit  AuditFunc
	mux    *http.ServeMux
	routes []string
	reqs   *prometheus.CounterVec

	mu     sync.Mutex
	busy   map[string]bool // the sources an operation runs on
	active int
}

// New builds the handler. reg receives ganlink_commission_requests_total; audit, when
// not nil, records every PKI trust.
func New(b Backend, reg prometheus.Registerer, log *slog.Logger, audit AuditFunc) *Handler {
	h := &Handler{b: b, log: log, audit: audit, mux: http.NewServeMux(), busy: map[string]bool{},
		reqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ganlink_commission_requests_total",
			Help: "Commissioning API requests by operation and result (ok, bad_request, not_found, untrusted, busy, device_failed, timeout, error).",
		}, []string{"operation", "result"})}
	for _, op := range Operations {
		for _, r := range Results {
			h.reqs.WithLabelValues(op, r)
		}
	}
	if reg != nil {
		reg.MustRegister(h.reqs)
	}
	for _, r := range []struct {
		path string
		f    http.HandlerFunc
	}{{"opcua/browse", h.browse}, {"pki/trust", h.trust}, {"mqtt/sniff", h.sniff}, {"modbus/scan", h.scan},
		{"read", h.read}, {"suggest", h.suggest}} {
		h.routes = append(h.routes, "POST "+Prefix+r.path)
		h.mux.HandleFunc("POST "+Prefix+r.path, r.f)
	}
	return h
}

// Routes returns the patterns the handler serves ("POST /api/commission/read", ...):
// mount it on each.
func (h *Handler) Routes() []string { return append([]string(nil), h.routes...) }

// ServeHTTP serves the paths under Prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// decode reads a JSON body strictly (unknown fields are errors) into v.
func decode(w http.ResponseWriter, r *http.Request, v any) *Error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return Errorf(http.StatusUnsupportedMediaType, "content type %q: want application/json", ct)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return &Error{Status: http.StatusRequestEntityTooLarge, Reason: ResultBadRequest,
				Msg: fmt.Sprintf("request body larger than %d bytes", MaxBodyBytes)}
		}
		return BadRequest("body", "%v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return BadRequest(te.Field, "want a %s, got a JSON %s", te.Type, te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return BadRequest(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "unknown field")
		}
		return BadRequest("body", "invalid JSON: %v", err)
	}
	if dec.More() {
		return BadRequest("body", "invalid JSON: more than one value")
	}
	return nil
}

// Deadline parses a request's "timeout": default DefaultTimeout, at most MaxTimeout.
func Deadline(s string) (time.Duration, *Error) {
	if s == "" {
		return DefaultTimeout, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > MaxTimeout {
		return 0, BadRequest("timeout", "invalid duration %q: want e.g. \"10s\", at most %s", truncate(s, 40), MaxTimeout)
	}
	return d, nil
}

// run is the frame of every operation: it takes the source's slot (429 when taken),
// bounds the call by timeout, extends the response's write deadline to match, calls
// f, counts the result and writes the answer or the error.
func (h *Handler) run(w http.ResponseWriter, r *http.Request, op, key string, timeout time.Duration, f func(ctx context.Context) (any, error)) {
	if e := h.acquire(key); e != nil {
		h.fail(w, op, e)
		return
	}
	defer h.release(key)
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeout + 10*time.Second))
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	v, err := f(ctx)
	if err != nil {
		h.fail(w, op, asError(ctx, op+" "+key, err))
		return
	}
	h.reqs.WithLabelValues(op, ResultOK).Inc()
	writeJSON(w, http.StatusOK, v)
}

func (h *Handler) acquire(key string) *Error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.busy[key] {
		return Errorf(http.StatusTooManyRequests, "a commissioning operation on %s is running: one at a time per source; retry when it ends", key)
	}
	if h.active >= MaxConcurrent {
		return Errorf(http.StatusTooManyRequests, "%d commissioning operations are running: at most %d at a time; retry when one ends", h.active, MaxConcurrent)
	}
	h.busy[key] = true
	h.active++
	return nil
}

func (h *Handler) release(key string) {
	h.mu.Lock()
	delete(h.busy, key)
	h.active--
	h.mu.Unlock()
}

// fail counts and writes an error.
func (h *Handler) fail(w http.ResponseWriter, op string, e *Error) {
	reason := e.Reason
	if reason == "" {
		reason = reasonOf(e.Status)
	}
	h.reqs.WithLabelValues(op, reason).Inc()
	if e.Status >= 500 && h.log != nil {
		h.log.Warn("commissioning request failed", "operation", op, "status", e.Status, "err", e.Msg)
	}
	body := map[string]any{"error": e.Msg}
	if e.Certificate != nil {
		body["certificate"] = e.Certificate
	}
	writeJSON(w, e.Status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// sourceKey names the source an operation runs on: a configured source by name, or a
// new endpoint by its URL (without credentials). It is 400 when neither or both are set.
func sourceKey(source, endpoint, endpointField string) (string, *Error) {
	switch {
	case source != "" && endpoint != "":
		return "", BadRequest("source", "set source (a configured source) or %s (a new one), not both", endpointField)
	case source != "":
		return fmt.Sprintf("source %q", truncate(source, 80)), nil
	case endpoint != "":
		return fmt.Sprintf("%s %q", endpointField, truncate(redact(endpoint), 200)), nil
	}
	return "", BadRequest("source", "required: the name of a configured source, or %s", endpointField)
}

// redact drops the user information of a URL.
func redact(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	if at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@"); at >= 0 {
		rest = rest[at+1:]
	}
	return scheme + "://" + rest
}

// truncate cuts s to n bytes at a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

func (h *Handler) browse(w http.ResponseWriter, r *http.Request) {
	var req BrowseRequest
	if e := decode(w, r, &req); e != nil {
		h.fail(w, OpBrowse, e)
		return
	}
	key, e := sourceKey(req.Source, req.Endpoint, "endpoint")
	if e == nil {
		e = checkBrowse(&req)
	}
	timeout, te := Deadline(req.Timeout)
	if e == nil {
		e = te
	}
	if e != nil {
		h.fail(w, OpBrowse, e)
		return
	}
	h.run(w, r, OpBrowse, key, timeout, func(ctx context.Context) (any, error) { return h.b.BrowseOPCUA(ctx, &req) })
}

// checkBrowse applies the defaults and bounds of a browse.
func checkBrowse(req *BrowseRequest) *Error {
	if req.Depth == nil {
		d := DefaultDepth
		req.Depth = &d
	}
	if *req.Depth < 0 || *req.Depth > MaxDepth {
		return BadRequest("depth", "%d: want 0 to %d", *req.Depth, MaxDepth)
	}
	switch {
	case req.MaxNodes == 0:
		req.MaxNodes = DefaultMaxNodes
	case req.MaxNodes < 0 || req.MaxNodes > MaxMaxNodes:
		return BadRequest("max_nodes", "%d: want 1 to %d", req.MaxNodes, MaxMaxNodes)
	}
	return nil
}

func (h *Handler) trust(w http.ResponseWriter, r *http.Request) {
	var req TrustRequest
	if e := decode(w, r, &req); e != nil {
		h.fail(w, OpTrust, e)
		return
	}
	if !isThumbprint(req.Thumbprint) {
		h.fail(w, OpTrust, BadRequest("thumbprint", "%q: want the 40 hex digits of a SHA-1 thumbprint", truncate(req.Thumbprint, 60)))
		return
	}
	h.run(w, r, OpTrust, "pki", DefaultTimeout, func(ctx context.Context) (any, error) {
		file, err := h.b.Trust(ctx, req.Thumbprint)
		result := "ok"
		if err != nil {
			result = "failed: " + err.Error()
		}
		if h.audit != nil {
			h.audit(r, "pki.trust", strings.ToUpper(req.Thumbprint), file, result)
		}
		if err != nil {
			return nil, err
		}
		return map[string]string{"trusted": file}, nil
	})
}

func isThumbprint(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func (h *Handler) sniff(w http.ResponseWriter, r *http.Request) {
	var req SniffRequest
	if e := decode(w, r, &req); e != nil {
		h.fail(w, OpSniff, e)
		return
	}
	key, e := sourceKey(req.Source, req.Broker, "broker")
	if e == nil {
		switch {
		case req.Seconds == 0:
			req.Seconds = DefaultSniff
		case req.Seconds < 0 || req.Seconds > MaxSniffSeconds:
			e = BadRequest("seconds", "%d: want 1 to %d", req.Seconds, MaxSniffSeconds)
		}
	}
	if req.Filter == "" {
		req.Filter = "#"
	}
	if e != nil {
		h.fail(w, OpSniff, e)
		return
	}
	// The deadline covers connecting and the listening time.
	timeout := time.Duration(req.Seconds)*time.Second + DefaultTimeout
	h.run(w, r, OpSniff, key, timeout, func(ctx context.Context) (any, error) { return h.b.SniffMQTT(ctx, &req) })
}

func (h *Handler) scan(w http.ResponseWriter, r *http.Request) {
	var req ScanRequest
	if e := decode(w, r, &req); e != nil {
		h.fail(w, OpScan, e)
		return
	}
	key, e := sourceKey(req.Source, req.Endpoint, "endpoint")
	timeout, te := Deadline(req.Timeout)
	if e == nil {
		e = te
	}
	if e == nil && req.UnitTimeout != "" {
		if d, err := time.ParseDuration(req.UnitTimeout); err != nil || d <= 0 || d > 5*time.Second {
			e = BadRequest("unit_timeout", "invalid duration %q: want e.g. \"100ms\", at most 5s", truncate(req.UnitTimeout, 40))
		}
	}
	if req.Units == "" {
		req.Units = "1-247"
	}
	if e != nil {
		h.fail(w, OpScan, e)
		return
	}
	h.run(w, r, OpScan, key, timeout, func(ctx context.Context) (any, error) { return h.b.ScanModbus(ctx, &req) })
}

func (h *Handler) read(w http.ResponseWriter, r *http.Request) {
	var req ReadRequest
	if e := decode(w, r, &req); e != nil {
		h.fail(w, OpRead, e)
		return
	}
	timeout, e := Deadline(req.Timeout)
	if e == nil && req.Device == nil {
		e = BadRequest("device", "required: the device as in the configuration")
	}
	var key string
	if e == nil {
		name, _ := req.Device["source"].(string)
		if req.Source != nil {
			if n, ok := req.Source["name"].(string); ok {
				name = n
			}
		}
		if name == "" {
			e = BadRequest("device.source", "required: the name of the device's source")
		}
		key = fmt.Sprintf("source %q", truncate(name, 80))
	}
	if e != nil {
		h.fail(w, OpRead, e)
		return
	}
	h.run(w, r, OpRead, key, timeout, func(ctx context.Context) (any, error) { return h.b.Read(ctx, &req) })
}

func (h *Handler) suggest(w http.ResponseWriter, r *http.Request) {
	var req SuggestRequest
	if e := decode(w, r, &req); e != nil {
		h.fail(w, OpSuggest, e)
		return
	}
	if len(req.Nodes) > MaxMaxNodes {
		h.fail(w, OpSuggest, BadRequest("nodes", "%d nodes: at most %d", len(req.Nodes), MaxMaxNodes))
		return
	}
	for i, n := range req.Nodes {
		if n.BrowseName == "" && n.BrowsePath == "" {
			h.fail(w, OpSuggest, BadRequest(fmt.Sprintf("nodes[%d].browse_name", i), "required (or browse_path)"))
			return
		}
	}
	res, err := h.b.Suggest(&req)
	if err != nil {
		h.fail(w, OpSuggest, asError(context.Background(), OpSuggest, err))
		return
	}
	h.reqs.WithLabelValues(OpSuggest, ResultOK).Inc()
	writeJSON(w, http.StatusOK, res)
}
