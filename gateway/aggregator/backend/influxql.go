package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ganlink/ganlink/gateway/schema"
)

// InfluxQLConfig configures an InfluxQL backend.
type InfluxQLConfig struct {
	// URL is the server's base URL ("http://host:8086"); queries go to URL/query.
	URL string
	// Database is the database (InfluxDB 2.x/3.x: the bucket mapped to it).
	Database string
	// RetentionPolicy is optional.
	RetentionPolicy string
	// Token, when set, is sent as "Authorization: Token ..." (1.8: "user:password").
	Token string
	// Timeout bounds one HTTP request; default 30s.
	Timeout time.Duration
	// MaxResponseBytes bounds a response body; default 256 MiB.
	MaxResponseBytes int64
	// Transport is the HTTP transport; default http.DefaultTransport.
	Transport http.RoundTripper
}

// InfluxQL runs Query as one InfluxQL SELECT with every field's aggregate, grouped by
// the tag (and sub-group tag) and, for several buckets, by time.
type InfluxQL struct {
	cfg    InfluxQLConfig
	client *http.Client
	url    string
}

// NewInfluxQL builds an InfluxQL backend; it does not contact the server.
func NewInfluxQL(cfg InfluxQLConfig) (*InfluxQL, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("new influxql backend: invalid url %q", cfg.URL)
	}
	if cfg.Database == "" {
		return nil, fmt.Errorf("new influxql backend: empty database")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = 256 << 20
	}
	rt := cfg.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &InfluxQL{cfg: cfg, client: &http.Client{Transport: rt, Timeout: cfg.Timeout},
		url: strings.TrimSuffix(cfg.URL, "/") + "/query"}, nil
}

// Name implements Backend.
func (b *InfluxQL) Name() string { return "influxql" }

func quoteIdent(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func quoteString(s string) string {
	return `'` + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + `'`
}

// Statement returns the InfluxQL statement for q.
func (q *Query) Statement() string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, f := range q.Fields {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s(%s) AS %s", f.Func, quoteIdent(f.Name), quoteIdent("f"+strconv.Itoa(i)))
	}
	fmt.Fprintf(&b, " FROM %s WHERE %s = %s", quoteIdent(q.Measurement), quoteIdent(schema.TagWindow), quoteString(q.Window))
	for _, k := range q.filterKeys() {
		fmt.Fprintf(&b, " AND %s = %s", quoteIdent(k), quoteString(q.Filter[k]))
	}
	fmt.Fprintf(&b, " AND time >= %s AND time < %s GROUP BY %s",
		quoteString(q.Start.UTC().Format(time.RFC3339)), quoteString(q.End.UTC().Format(time.RFC3339)),
		quoteIdent(q.GroupBy))
	if q.SubGroup != "" {
		fmt.Fprintf(&b, ", %s", quoteIdent(q.SubGroup))
	}
	if q.Buckets() > 1 {
		step := int64(q.Step / time.Second)
		off := q.Start.Unix() % step
		if off < 0 {
			off += step
		}
		fmt.Fprintf(&b, ", time(%ds, %ds)", step, off)
	}
	b.WriteString(" fill(none)")
	return b.String()
}

type influxResponse struct {
	Results []struct {
		Series []struct {
			Tags    map[string]string `json:"tags"`
			Columns []string          `json:"columns"`
			Values  [][]*float64      `json:"values"`
		} `json:"series"`
		Error string `json:"error"`
	} `json:"results"`
	Error string `json:"error"`
}

// Aggregate implements Backend.
func (b *InfluxQL) Aggregate(ctx context.Context, q Query) ([]Row, error) {
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("influxql query %s: %w", q.Measurement, err)
	}
	stmt := q.Statement()
	res, err := b.do(ctx, stmt)
	if err != nil {
		return nil, fmt.Errorf("influxql query %q: %w", stmt, err)
	}
	rs := newRowSet(len(q.Fields))
	multi := q.Buckets() > 1
	start, stepMS := q.Start.UnixMilli(), q.Step.Milliseconds()
	for _, r := range res.Results {
		if r.Error != "" {
			return nil, fmt.Errorf("influxql query %q: %s", stmt, r.Error)
		}
		for _, s := range r.Series {
			g, sub := s.Tags[q.GroupBy], ""
			if q.SubGroup != "" {
				sub = s.Tags[q.SubGroup]
			}
			if g == "" || (q.SubGroup != "" && sub == "") {
				continue
			}
			if len(s.Columns) != len(q.Fields)+1 {
				return nil, fmt.Errorf("influxql query %q: %d columns, want %d", stmt, len(s.Columns), len(q.Fields)+1)
			}
			for _, row := range s.Values {
				if len(row) != len(s.Columns) || row[0] == nil {
					return nil, fmt.Errorf("influxql query %q: malformed row", stmt)
				}
				bucket := 0
				if multi {
					off := int64(*row[0]) - start
					if off < 0 || off%stepMS != 0 || off/stepMS >= int64(q.Buckets()) {
						return nil, fmt.Errorf("influxql query %q: unexpected time %d", stmt, int64(*row[0]))
					}
					bucket = int(off / stepMS)
				}
				for i, v := range row[1:] {
					if v != nil {
						rs.set(g, sub, bucket, i, q.Fields[i].Func, *v)
					}
				}
			}
		}
	}
	return rs.sorted(), nil
}

func (b *InfluxQL) do(ctx context.Context, stmt string) (*influxResponse, error) {
	form := url.Values{"q": {stmt}, "db": {b.cfg.Database}, "epoch": {"ms"}}
	if b.cfg.RetentionPolicy != "" {
		form.Set("rp", b.cfg.RetentionPolicy)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.url, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if b.cfg.Token != "" {
		req.Header.Set("Authorization", "Token "+b.cfg.Token)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, b.cfg.MaxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if int64(len(body)) > b.cfg.MaxResponseBytes {
		return nil, fmt.Errorf("response larger than %d bytes", b.cfg.MaxResponseBytes)
	}
	var r influxResponse
	jerr := json.Unmarshal(body, &r)
	if resp.StatusCode/100 != 2 {
		msg := r.Error
		if jerr != nil || msg == "" {
			msg = strings.TrimSpace(string(body[:min(len(body), 512)]))
		}
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, msg)
	}
	if jerr != nil {
		return nil, fmt.Errorf("decode response: %w", jerr)
	}
	if r.Error != "" {
		return nil, fmt.Errorf("%s", r.Error)
	}
	return &r, nil
}

// Points implements Backend: one SELECT of the fields grouped by every tag.
func (b *InfluxQL) Points(ctx context.Context, q PointsQuery) ([]Point, error) {
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("influxql points %s: %w", q.Measurement, err)
	}
	var sb strings.Builder
	sb.WriteString("SELECT ")
	for i, f := range q.Fields {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(quoteIdent(f))
	}
	fmt.Fprintf(&sb, " FROM %s WHERE time >= %s AND time < %s GROUP BY *", quoteIdent(q.Measurement),
		quoteString(q.Start.UTC().Format(time.RFC3339)), quoteString(q.End.UTC().Format(time.RFC3339)))
	stmt := sb.String()
	res, err := b.do(ctx, stmt)
	if err != nil {
		return nil, fmt.Errorf("influxql query %q: %w", stmt, err)
	}
	ps := newPointSet(&q)
	for _, r := range res.Results {
		if r.Error != "" {
			return nil, fmt.Errorf("influxql query %q: %s", stmt, r.Error)
		}
		for _, s := range r.Series {
			if len(s.Columns) != len(q.Fields)+1 {
				return nil, fmt.Errorf("influxql query %q: %d columns, want %d", stmt, len(s.Columns), len(q.Fields)+1)
			}
			for _, row := range s.Values {
				if len(row) != len(s.Columns) || row[0] == nil {
					return nil, fmt.Errorf("influxql query %q: malformed row", stmt)
				}
				tags := make(map[string]string, len(s.Tags))
				for k, v := range s.Tags {
					if v != "" {
						tags[k] = v
					}
				}
				t := time.UnixMilli(int64(*row[0]))
				for i, v := range row[1:] {
					if v != nil {
						if err := ps.set(tags, t, i, *v); err != nil {
							return nil, err
						}
					}
				}
			}
		}
	}
	return ps.sorted(), nil
}
