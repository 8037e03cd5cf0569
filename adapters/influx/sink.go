package influx

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	http2 "github.com/influxdata/influxdb-client-go/v2/api/http"
)

// Sink writes encoded line protocol to one InfluxDB-compatible server. It is safe for
// concurrent use and starts no goroutines of its own.
type Sink struct {
	name     string
	log      *slog.Logger
	client   influxdb2.Client
	svc      http2.Service
	tr       *http.Transport
	writeURL string
	gzip     bool
	timeout  time.Duration
	secrets  []string
	closed   atomic.Bool
	comps    compressors

	pingURL, healthURL string // see Ping
}

// New validates cfg and creates the sink's HTTP client. It opens no connection: the
// first Write or Ping does. log may be nil.
func New(cfg Config, log *slog.Logger) (*Sink, error) {
	if cfg.Name == "" {
		cfg.Name = "influx"
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("create sink %q: %w", cfg.Name, err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("sink", cfg.Name)

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: cfg.TLSInsecureSkipVerify, //nolint:gosec // explicit opt-in for self-signed servers
	}
	tr.MaxIdleConnsPerHost = 4
	// Precision and gzip are applied by Write itself; the client supplies the HTTP
	// service (authorization, user agent) and Ping.
	opts := influxdb2.DefaultOptions().
		SetHTTPClient(&http.Client{Transport: tr, Timeout: cfg.Timeout}).
		SetApplicationName("ganlink")
	client := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	svc := client.HTTPService()

	// The same endpoint and parameters as the client's own write API.
	u, err := url.Parse(svc.ServerAPIURL())
	if err == nil {
		u, err = u.Parse("write")
	}
	if err != nil {
		return nil, fmt.Errorf("create sink %q: url: invalid url %q", cfg.Name, redactURL(cfg.URL))
	}
	q := url.Values{}
	q.Set("org", cfg.Org)
	q.Set("bucket", cfg.Bucket)
	q.Set("precision", "ns")
	u.RawQuery = q.Encode()

	// Ping's URLs: /ping below the configured URL, /health at its host's root.
	base, err := url.Parse(strings.TrimSuffix(svc.ServerURL(), "/") + "/ping")
	if err != nil {
		return nil, fmt.Errorf("create sink %q: url: invalid url %q", cfg.Name, redactURL(cfg.URL))
	}
	health := *base
	health.Path, health.RawPath, health.RawQuery = "/health", "", ""

	s := &Sink{
		pingURL:   base.String(),
		healthURL: health.String(),
		name:      cfg.Name,
		log:       log,
		client:    client,
		svc:       svc,
		tr:        tr,
		writeURL:  u.String(),
		gzip:      cfg.Gzip,
		timeout:   cfg.Timeout,
		secrets:   secretsOf(cfg.Token),
	}
	log.Debug("influx sink created", "url", redactURL(cfg.URL), "org", cfg.Org, "bucket", cfg.Bucket,
		"gzip", cfg.Gzip, "timeout", cfg.Timeout, "token_set", cfg.Token != "")
	return s, nil
}

// Write sends lines — newline-separated line protocol with nanosecond timestamps, as
// point.AppendBatch produces — in one POST to the write API, and classifies the result:
//
//   - nil: the server accepted the block (2xx).
//   - an error wrapping ErrPermanent and a *StatusError: the server rejected the request
//     (4xx other than 408 and 429); the same block will never succeed.
//   - any other error: retryable. A *StatusError for 408, 429, 5xx and any other
//     non-2xx status; a network error (connection refused, reset, timeout); ctx's error
//     when ctx ended. When the server sent Retry-After the error also implements
//     RetryAfterError.
//
// Write neither batches nor retries. It does not retain lines: it returns only after
// the HTTP transport has released the request body, so the caller may reuse the buffer.
// An empty block is not sent.
func (s *Sink) Write(ctx context.Context, lines []byte) error {
	if s.closed.Load() {
		return fmt.Errorf("write sink %q: %w", s.name, errClosed)
	}
	if len(lines) == 0 {
		return nil
	}
	start := time.Now()
	payload := lines
	var comp *compressor
	if s.gzip {
		comp = s.comps.get()
		payload = comp.compress(lines)
	}
	body := &requestBody{closed: make(chan struct{})}
	body.Reset(payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.writeURL, body)
	if err != nil {
		// The body was never handed to a transport.
		s.comps.put(comp)
		return fmt.Errorf("write sink %q: %w", s.name, err)
	}
	req.ContentLength = int64(len(payload))
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("Accept", "application/json")
	if s.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}

	resp, err := s.svc.DoHTTPRequestWithResponse(req, nil)
	var werr error
	status := 0
	if err != nil {
		werr = wrapClean("write", s.name, err, s.secrets)
	} else {
		status = resp.StatusCode
		werr = s.classify(resp)
	}
	if s.released(body) {
		s.comps.put(comp)
	}
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("influx write", "bytes", len(lines), "sent_bytes", len(payload), "status", status,
			"duration", time.Since(start), "err", werr)
	}
	return werr
}

// classify turns a response into Write's result and closes its body.
func (s *Sink) classify(resp *http.Response) error {
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	se := statusError(resp, s.secrets)
	if permanentStatus(resp.StatusCode) {
		return fmt.Errorf("write sink %q: %w: %w", s.name, ErrPermanent, se)
	}
	err := fmt.Errorf("write sink %q: %w", s.name, se)
	if d, ok := retryAfter(resp.Header, time.Now()); ok {
		return &retryAfterError{err: err, after: d}
	}
	return err
}

// released waits until the transport has closed the request body, which it does once
// the body is written or the request failed. It reports false (and logs) if that takes
// longer than the request timeout; the buffer is then not reused.
func (s *Sink) released(b *requestBody) bool {
	select {
	case <-b.closed:
		return true
	default:
	}
	t := time.NewTimer(s.timeout)
	defer t.Stop()
	select {
	case <-b.closed:
		return true
	case <-t.C:
		s.log.Warn("influx request body not released by the transport", "after", s.timeout)
		return false
	}
}

// Ping checks that the server answers: GET <url>/ping (InfluxDB 1.8 and 2.x and
// single-node VictoriaMetrics serve it), and when that gets a 4xx status (the path is
// not served there), GET /health at the root of the same host and port. A 5xx is
// a failure as it is (a proxy whose backend is down may well be healthy itself). A VictoriaMetrics cluster's
// vminsert takes writes at http://host:8480/insert/<account>/influx but answers 400
// to /insert/<account>/influx/ping; like every VictoriaMetrics component it serves
// /health at the root (so do InfluxDB 1.8 and 2.x). It does not check the token.
func (s *Sink) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("ping sink %q: %w", s.name, errClosed)
	}
	err := s.get(ctx, s.pingURL)
	var se *StatusError
	if errors.As(err, &se) && se.StatusCode >= 400 && se.StatusCode < 500 && s.healthURL != "" {
		if herr := s.get(ctx, s.healthURL); herr == nil {
			return nil
		}
	}
	if se != nil {
		return fmt.Errorf("ping sink %q: %w", s.name, se)
	}
	if err != nil {
		return wrapClean("ping", s.name, err, s.secrets)
	}
	return nil
}

// get requests u and returns nil for a 2xx answer, a *StatusError for another status,
// or the transport error.
func (s *Sink) get(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := s.svc.DoHTTPRequestWithResponse(req, nil)
	if err != nil {
		return err
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return statusError(resp, s.secrets)
}

// Close releases idle connections. Write and Ping fail after Close; a Write in
// progress completes.
func (s *Sink) Close() {
	if s.closed.Swap(true) {
		return
	}
	s.client.Close()
	s.tr.CloseIdleConnections()
}

// requestBody is a request body that reports when the transport has released it.
type requestBody struct {
	bytes.Reader
	once   sync.Once
	closed chan struct{}
}

// Close marks the body released.
func (b *requestBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// gzipLevel trades ratio for CPU: line protocol compresses well even at speed levels.
const gzipLevel = gzip.BestSpeed

// maxPooledBuffer keeps one huge block from pinning its buffer in the pool.
const maxPooledBuffer = 4 << 20

type compressor struct {
	buf bytes.Buffer
	zw  *gzip.Writer
}

// compressors keeps a sink's idle gzip writers (a fresh one allocates ~1 MB of state)
// for the next write. A sync.Pool is emptied by every garbage collection, which at
// thousands of points a second meant a new megabyte every few flushes; a sink writes
// one request at a time, so keeping two is enough.
type compressors struct {
	mu   sync.Mutex
	idle []*compressor
}

const keepCompressors = 2

func (p *compressors) get() *compressor {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		c.buf.Reset()
		c.zw.Reset(&c.buf)
		return c
	}
	p.mu.Unlock()
	c := &compressor{}
	c.zw, _ = gzip.NewWriterLevel(&c.buf, gzipLevel) // the level is valid
	return c
}

func (p *compressors) put(c *compressor) {
	if c == nil || c.buf.Cap() > maxPooledBuffer {
		return
	}
	p.mu.Lock()
	if len(p.idle) < keepCompressors {
		p.idle = append(p.idle, c)
	}
	p.mu.Unlock()
}

// compress returns the gzip stream of p; writes to a bytes.Buffer cannot fail.
func (c *compressor) compress(p []byte) []byte {
	c.buf.Grow(len(p)/4 + 64)
	_, _ = c.zw.Write(p)
	_ = c.zw.Close()
	return c.buf.Bytes()
}
