package backend

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/ganlink/ganlink/gateway/schema"
)

// PromQLConfig configures a PromQL backend.
type PromQLConfig struct {
	// URL is the base URL of the Prometheus HTTP API (VictoriaMetrics:
	// "http://host:8428"; the client appends /api/v1/query).
	URL string
	// BearerToken, when set, is sent as "Authorization: Bearer ...".
	BearerToken string
	// Timeout bounds one HTTP request; default 30s.
	Timeout time.Duration
	// Concurrency bounds the queries of one Aggregate call run at once; default 4.
	Concurrency int
	// NoCache adds nocache=1 to every request so VictoriaMetrics neither serves from
	// nor aligns to its rollup result cache (it would otherwise round the start of
	// long range queries to a multiple of the step, which breaks buckets that start at
	// local midnight). Other Prometheus-compatible stores ignore the parameter.
	NoCache bool
	// Transport is the HTTP transport; default http.DefaultTransport.
	Transport http.RoundTripper
}

// PromQL runs Query as PromQL instant queries (one bucket) or range queries (several),
// one query per field.
type PromQL struct {
	api         v1.API
	concurrency int
}

// NewPromQL builds a PromQL backend; it does not contact the server.
func NewPromQL(cfg PromQLConfig) (*PromQL, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	rt := cfg.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	rt = &promTransport{next: rt, token: cfg.BearerToken, noCache: cfg.NoCache}
	c, err := api.NewClient(api.Config{Address: cfg.URL, Client: &http.Client{Transport: rt, Timeout: cfg.Timeout}})
	if err != nil {
		return nil, fmt.Errorf("new promql backend: %w", err)
	}
	return &PromQL{api: v1.NewAPI(c), concurrency: cfg.Concurrency}, nil
}

// Name implements Backend.
func (p *PromQL) Name() string { return "promql" }

type promTransport struct {
	next    http.RoundTripper
	token   string
	noCache bool
}

func (t *promTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.token == "" && !t.noCache {
		return t.next.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	if t.token != "" {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	if t.noCache {
		q := req.URL.Query()
		q.Set("nocache", "1")
		req.URL.RawQuery = q.Encode()
	}
	return t.next.RoundTrip(req)
}

// Expr returns the PromQL expression for field i of q: the per-series aggregate over
// one bucket, combined per group (and sub-group).
func (q *Query) Expr(i int) string {
	f := q.Fields[i]
	over, by := "sum_over_time", "sum"
	switch f.Func {
	case Max:
		over, by = "max_over_time", "max"
	case Last:
		over, by = "last_over_time", "max"
	case Count:
		over = "count_over_time"
	}
	step := q.Step
	if step == 0 {
		step = q.End.Sub(q.Start)
	}
	groups := q.GroupBy
	matchers := fmt.Sprintf(`%s=%s,%s!=""`, schema.TagWindow, strconv.Quote(q.Window), q.GroupBy)
	if q.SubGroup != "" {
		groups += ", " + q.SubGroup
		matchers += fmt.Sprintf(`,%s!=""`, q.SubGroup)
	}
	for _, k := range q.filterKeys() {
		matchers += fmt.Sprintf(`,%s=%s`, k, strconv.Quote(q.Filter[k]))
	}
	return fmt.Sprintf(`%s by (%s) (%s(%s{%s}[%ds]))`, by, groups, over,
		schema.VMName(q.Measurement, f.Name), matchers, int64(step/time.Second))
}

// Aggregate implements Backend. A range selector [d] evaluated at t covers (t−d, t], so
// bucket [s, s+step) is evaluated at s+step−1ms (timestamps have millisecond precision).
func (p *PromQL) Aggregate(ctx context.Context, q Query) ([]Row, error) {
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("promql query %s: %w", q.Measurement, err)
	}
	rs := newRowSet(len(q.Fields))
	var mu sync.Mutex
	errs := make([]error, len(q.Fields))
	sem := make(chan struct{}, p.concurrency)
	var wg sync.WaitGroup
	for i := range q.Fields {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			expr := q.Expr(i)
			v, err := p.run(ctx, &q, expr)
			if err != nil {
				errs[i] = fmt.Errorf("promql query %q: %w", expr, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			errs[i] = p.collect(rs, &q, i, v)
		}()
	}
	wg.Wait()
	var first error
	failed := 0
	for _, err := range errs {
		if err != nil {
			if first == nil {
				first = err
			}
			failed++
		}
	}
	switch {
	case failed == 1:
		return nil, first
	case failed > 1:
		return nil, fmt.Errorf("%w (and %d more queries failed)", first, failed-1)
	}
	return rs.sorted(), nil
}

func (p *PromQL) run(ctx context.Context, q *Query, expr string) (model.Value, error) {
	const ms = time.Millisecond
	if q.Buckets() == 1 {
		v, _, _, err := p.api.Query(ctx, expr, q.End.Add(-ms))
		return v, err
	}
	v, _, _, err := p.api.QueryRange(ctx, expr, v1.Range{Start: q.Start.Add(q.Step - ms), End: q.End.Add(-ms), Step: q.Step})
	return v, err
}

func (p *PromQL) collect(rs *rowSet, q *Query, i int, v model.Value) error {
	f := q.Fields[i].Func
	label, subLabel := model.LabelName(q.GroupBy), model.LabelName(q.SubGroup)
	// groups returns the series' group and sub-group, ok false when it lacks one.
	groups := func(m model.Metric) (g, sub string, ok bool) {
		g = string(m[label])
		if q.SubGroup != "" {
			sub = string(m[subLabel])
			if sub == "" {
				return "", "", false
			}
		}
		return g, sub, g != ""
	}
	switch v := v.(type) {
	case model.Vector:
		for _, s := range v {
			if g, sub, ok := groups(s.Metric); ok {
				rs.set(g, sub, 0, i, f, float64(s.Value))
			}
		}
	case model.Matrix:
		first := q.Start.Add(q.Step - time.Millisecond).UnixMilli()
		step := q.Step.Milliseconds()
		n := q.Buckets()
		for _, s := range v {
			g, sub, ok := groups(s.Metric)
			if !ok {
				continue
			}
			for _, pt := range s.Values {
				off := int64(pt.Timestamp) - first
				if off < 0 || off%step != 0 || int(off/step) >= n {
					return fmt.Errorf("unexpected timestamp %d in result (buckets start at %d, step %dms)", int64(pt.Timestamp), first, step)
				}
				rs.set(g, sub, int(off/step), i, f, float64(pt.Value))
			}
		}
	default:
		return fmt.Errorf("unexpected result type %s", strings.ToLower(v.Type().String()))
	}
	return nil
}

// Points implements Backend: per field, an instant query of the range selector
// name[range] at End − 1 ms, which returns the raw samples in [Start, End).
func (p *PromQL) Points(ctx context.Context, q PointsQuery) ([]Point, error) {
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("promql points %s: %w", q.Measurement, err)
	}
	ps := newPointSet(&q)
	for i, f := range q.Fields {
		expr := fmt.Sprintf("%s[%ds]", schema.VMName(q.Measurement, f), int64(q.End.Sub(q.Start)/time.Second))
		v, _, _, err := p.api.Query(ctx, expr, q.End.Add(-time.Millisecond))
		if err != nil {
			return nil, fmt.Errorf("promql query %q: %w", expr, err)
		}
		m, ok := v.(model.Matrix)
		if !ok {
			return nil, fmt.Errorf("promql query %q: unexpected result type %s", expr, strings.ToLower(v.Type().String()))
		}
		for _, s := range m {
			tags := make(map[string]string, len(s.Metric))
			for k, v := range s.Metric {
				if k != model.MetricNameLabel {
					tags[string(k)] = string(v)
				}
			}
			for _, pt := range s.Values {
				t := pt.Timestamp.Time()
				if t.Before(q.Start) || !t.Before(q.End) {
					continue
				}
				if err := ps.set(tags, t, i, float64(pt.Value)); err != nil {
					return nil, err
				}
			}
		}
	}
	return ps.sorted(), nil
}
