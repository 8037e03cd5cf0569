package loadgen

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// writeProxy sits between the gateway's sink and VictoriaMetrics. It forwards every
// request unchanged and, for each write the TSDB accepted (2xx), stamps the time of
// that answer and records, for every line of the watched measurement, the latency from
// the line's timestamp (the source timestamp) to it. Lines whose timestamp lies outside
// the current window are forwarded but not recorded.
type writeProxy struct {
	ln      net.Listener
	target  string
	measure []byte // "<measurement>" the lines of interest start with
	also    []byte // a second watched measurement (the soak's); nil: none
	client  *http.Client
	log     *slog.Logger
	hist    *latencyHist

	winFrom, winTo atomic.Int64 // Unix ns; a line counts when winFrom < ts ≤ winTo
	points         atomic.Int64 // watched lines in the window accepted by the TSDB
	fields         atomic.Int64 // their field values
	lastAccept     atomic.Int64 // Unix ns of the last accepted write holding such lines
	writes         atomic.Int64 // write requests forwarded
	rejected       atomic.Int64 // write requests the TSDB answered with a non-2xx status
	down           atomic.Bool  // simulated outage: answer 503 without forwarding
}

// newWriteProxy listens on a free loopback port and forwards to target (the TSDB's
// base URL). It watches lines of the given measurement.
func newWriteProxy(target, measurement string, log *slog.Logger) (*writeProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for write proxy: %w", err)
	}
	p := &writeProxy{
		ln: ln, target: target, measure: []byte(measurement), log: log, hist: newLatencyHist(),
		client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 8}},
	}
	p.winFrom.Store(math.MinInt64)
	p.winTo.Store(math.MaxInt64)
	return p, nil
}

// URL is the base URL the gateway's sink should write to.
func (p *writeProxy) URL() string { return "http://" + p.ln.Addr().String() }

// setWindow sets the interval (from, to] of line timestamps that are counted.
func (p *writeProxy) setWindow(from, to time.Time) {
	p.winFrom.Store(from.UnixNano())
	p.winTo.Store(to.UnixNano())
}

// Run serves until ctx is done, then shuts the server down and returns.
func (p *writeProxy) Run(ctx context.Context) error {
	srv := &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(p.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve write proxy: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve write proxy: %w", err)
	}
	p.client.CloseIdleConnections()
	return nil
}

// hopHeaders are not forwarded.
var hopHeaders = map[string]bool{"Connection": true, "Keep-Alive": true, "Proxy-Connection": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Content-Length": true}

func (p *writeProxy) serve(w http.ResponseWriter, r *http.Request) {
	if p.down.Load() {
		_, _ = io.Copy(io.Discard, r.Body)
		http.Error(w, "simulated outage", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for k, v := range r.Header {
		if !hopHeaders[k] {
			req.Header[k] = v
		}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		http.Error(w, "forward: "+err.Error(), http.StatusBadGateway)
		return
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	accepted := time.Now()
	if err != nil {
		http.Error(w, "forward: "+err.Error(), http.StatusBadGateway)
		return
	}
	for k, v := range resp.Header {
		if !hopHeaders[k] {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
	if r.URL.Path != "/api/v2/write" {
		return
	}
	p.writes.Add(1)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		p.rejected.Add(1)
		return
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush() // the gateway has its answer; the accounting below is off its path
	}
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			body, err = io.ReadAll(zr)
		}
		if err != nil {
			p.log.Warn("write proxy cannot decompress an accepted write", "err", err)
			return
		}
	}
	unit, err := precisionUnit(r.URL.Query().Get("precision"))
	if err != nil {
		p.log.Warn("write proxy: unknown precision", "err", err)
		return
	}
	p.record(body, unit, accepted)
}

// record accounts the watched lines of an accepted line-protocol body.
func (p *writeProxy) record(body []byte, unit time.Duration, accepted time.Time) {
	from, to := p.winFrom.Load(), p.winTo.Load()
	var points, fields int64
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		m, ts, nf, ok := parseLine(line)
		if !ok || !(bytes.Equal(m, p.measure) || (p.also != nil && bytes.Equal(m, p.also))) {
			continue
		}
		t := ts * int64(unit)
		if t <= from || t > to {
			continue
		}
		points++
		fields += int64(nf)
		p.hist.add(accepted.Sub(time.Unix(0, t)), 1)
	}
	if points > 0 {
		p.points.Add(points)
		p.fields.Add(fields)
		p.lastAccept.Store(accepted.UnixNano())
	}
}

// parseLine returns the measurement, the timestamp and the number of field values
// (quality flags not counted) of one line of line protocol as the gateway writes it:
// no quoted string fields, a timestamp on every line. ok is false for blank lines,
// comments and lines without a timestamp.
func parseLine(line []byte) (measurement []byte, ts int64, fields int, ok bool) {
	if len(line) == 0 || line[0] == '#' {
		return nil, 0, 0, false
	}
	// The measurement ends at the first unescaped ',' or ' '.
	end := -1
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
		case ',', ' ':
			end = i
		}
		if end >= 0 {
			break
		}
	}
	if end < 0 {
		return nil, 0, 0, false
	}
	sp := bytes.LastIndexByte(line, ' ')
	if sp <= end {
		return nil, 0, 0, false
	}
	ts, err := strconv.ParseInt(string(line[sp+1:]), 10, 64)
	if err != nil {
		return nil, 0, 0, false
	}
	// The field set is between the last unescaped space before the timestamp and it.
	rest := line[:sp]
	fs := 0
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case '\\':
			i++
		case ' ':
			fs = i + 1
		}
	}
	for _, kv := range bytes.Split(rest[fs:], []byte{','}) {
		k, _, _ := bytes.Cut(kv, []byte{'='})
		if !bytes.HasSuffix(k, []byte("_quality")) {
			fields++
		}
	}
	return line[:end], ts, fields, true
}

// precisionUnit maps the write API's precision parameter to its unit.
func precisionUnit(p string) (time.Duration, error) {
	switch p {
	case "", "ns":
		return time.Nanosecond, nil
	case "us":
		return time.Microsecond, nil
	case "ms":
		return time.Millisecond, nil
	case "s":
		return time.Second, nil
	}
	return 0, fmt.Errorf("precision %q: want ns, us, ms or s", p)
}

// proxyStats is a snapshot of a writeProxy's counters.
type proxyStats struct {
	Points, Fields, Writes, Rejected int64
	LastAccept                       time.Time
}

func (p *writeProxy) stats() proxyStats {
	return proxyStats{Points: p.points.Load(), Fields: p.fields.Load(), Writes: p.writes.Load(),
		Rejected: p.rejected.Load(), LastAccept: time.Unix(0, p.lastAccept.Load())}
}
