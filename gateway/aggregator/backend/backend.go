// Package backend reads aggregates of the gateways' KPI series from a time-series
// database: PromQL (VictoriaMetrics or any Prometheus-compatible store) or InfluxQL
// (InfluxDB /query, served by 1.8, 2.x and 3.x). Both answer the same Query with the
// same Rows, so everything above them is independent of the store.
package backend

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"time"
)

// Func is an aggregation over time of one field within a bucket.
type Func uint8

const (
	// Sum adds the values.
	Sum Func = iota + 1
	// Max is the largest value.
	Max
	// Last is the newest value (with several series in a group: the largest newest
	// value).
	Last
	// Count is the number of values.
	Count
)

// String returns "sum", "max", "last" or "count".
func (f Func) String() string {
	switch f {
	case Sum:
		return "sum"
	case Max:
		return "max"
	case Last:
		return "last"
	case Count:
		return "count"
	}
	return fmt.Sprintf("func(%d)", uint8(f))
}

// Field is one field of the measurement and how to aggregate it.
type Field struct {
	Name string
	Func Func
}

// Query asks for aggregates of a measurement's fields over [Start, End), in buckets of
// Step, grouped by one tag (and optionally a second one within it). Points are selected
// by the tag window = Window (the KPI window series, e.g. "1h") and every tag equality in
// Filter; points without the group tags are ignored. A point belongs to the bucket
// containing its timestamp (a KPI point is stamped with its window's start).
type Query struct {
	Measurement string
	Window      string
	GroupBy     string
	// SubGroup, when set, is a second tag: rows are per GroupBy and SubGroup value
	// (e.g. per workshop and device).
	SubGroup string
	// Filter selects points whose tags equal the given non-empty values.
	Filter     map[string]string
	Fields     []Field
	Start, End time.Time
	// Step is the bucket length; 0 means one bucket [Start, End).
	Step time.Duration
}

// Buckets returns the number of buckets.
func (q *Query) Buckets() int {
	if q.Step == 0 {
		return 1
	}
	return int(q.End.Sub(q.Start) / q.Step)
}

// BucketStart returns the start of bucket i.
func (q *Query) BucketStart(i int) time.Time {
	if q.Step == 0 {
		return q.Start
	}
	return q.Start.Add(time.Duration(i) * q.Step)
}

var nameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Validate checks names, times and step: names are Prometheus-style identifiers,
// Start and End whole seconds, Step a whole number of seconds dividing End − Start.
func (q *Query) Validate() error {
	for _, n := range []string{q.Measurement, q.GroupBy} {
		if !nameRE.MatchString(n) {
			return fmt.Errorf("invalid name %q", n)
		}
	}
	if q.SubGroup != "" && (!nameRE.MatchString(q.SubGroup) || q.SubGroup == q.GroupBy) {
		return fmt.Errorf("invalid sub-group %q", q.SubGroup)
	}
	for _, k := range q.filterKeys() {
		if !nameRE.MatchString(k) {
			return fmt.Errorf("invalid filter tag %q", k)
		}
		if q.Filter[k] == "" {
			return fmt.Errorf("filter tag %q: empty value", k)
		}
	}
	if len(q.Fields) == 0 {
		return errors.New("no fields")
	}
	for _, f := range q.Fields {
		if !nameRE.MatchString(f.Name) {
			return fmt.Errorf("invalid field name %q", f.Name)
		}
		if f.Func < Sum || f.Func > Count {
			return fmt.Errorf("field %q: invalid function %d", f.Name, f.Func)
		}
	}
	if q.Window == "" {
		return errors.New("empty window")
	}
	if !q.Start.Before(q.End) {
		return fmt.Errorf("start %s not before end %s", q.Start.Format(time.RFC3339), q.End.Format(time.RFC3339))
	}
	if q.Start.Nanosecond() != 0 || q.End.Nanosecond() != 0 {
		return errors.New("start and end must be whole seconds")
	}
	if q.Step != 0 {
		if q.Step < time.Second || q.Step%time.Second != 0 {
			return fmt.Errorf("step %s is not a whole number of seconds", q.Step)
		}
		if q.End.Sub(q.Start)%q.Step != 0 {
			return fmt.Errorf("step %s does not divide the range %s", q.Step, q.End.Sub(q.Start))
		}
	}
	return nil
}

// filterKeys returns the keys of q.Filter, sorted.
func (q *Query) filterKeys() []string {
	keys := make([]string, 0, len(q.Filter))
	for k := range q.Filter {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Row is the aggregates of one group (and sub-group) in one bucket; Values follow
// Query.Fields and are NaN where the group has no value of that field in the bucket.
type Row struct {
	Group string
	// Sub is the SubGroup tag value; empty without a SubGroup.
	Sub    string
	Bucket int
	Values []float64
}

// Backend runs queries against one store. Implementations are safe for concurrent use.
type Backend interface {
	// Name is a short label for metrics and logs: "promql" or "influxql".
	Name() string
	// Aggregate runs q and returns its rows sorted by group, sub-group, then bucket;
	// groups without any value are absent.
	Aggregate(ctx context.Context, q Query) ([]Row, error)
	// Points returns the raw points of q sorted by time.
	Points(ctx context.Context, q PointsQuery) ([]Point, error)
}

// rowSet collects values into rows.
type rowSet struct {
	n    int
	rows map[rowKey]*Row
}

type rowKey struct {
	group, sub string
	bucket     int
}

func newRowSet(fields int) *rowSet { return &rowSet{n: fields, rows: map[rowKey]*Row{}} }

// set stores v for field i, combining with an existing value by f.
func (s *rowSet) set(group, sub string, bucket, i int, f Func, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	k := rowKey{group, sub, bucket}
	r := s.rows[k]
	if r == nil {
		r = &Row{Group: group, Sub: sub, Bucket: bucket, Values: make([]float64, s.n)}
		for j := range r.Values {
			r.Values[j] = math.NaN()
		}
		s.rows[k] = r
	}
	old := r.Values[i]
	switch {
	case math.IsNaN(old):
		r.Values[i] = v
	case f == Sum || f == Count:
		r.Values[i] = old + v
	default:
		r.Values[i] = math.Max(old, v)
	}
}

func (s *rowSet) sorted() []Row {
	out := make([]Row, 0, len(s.rows))
	for _, r := range s.rows {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		if out[i].Sub != out[j].Sub {
			return out[i].Sub < out[j].Sub
		}
		return out[i].Bucket < out[j].Bucket
	})
	return out
}

// PointsQuery asks for the raw points of a measurement's fields with all their tags in
// [Start, End) (whole seconds). It serves small series (kpi_correction): a result of
// more than Max points is an error, never cut silently.
type PointsQuery struct {
	Measurement string
	Fields      []string
	Start, End  time.Time
	Max         int
}

// Validate checks the names and the times.
func (q *PointsQuery) Validate() error {
	if !nameRE.MatchString(q.Measurement) {
		return fmt.Errorf("invalid name %q", q.Measurement)
	}
	if len(q.Fields) == 0 {
		return errors.New("no fields")
	}
	for _, f := range q.Fields {
		if !nameRE.MatchString(f) {
			return fmt.Errorf("invalid field name %q", f)
		}
	}
	if !q.Start.Before(q.End) || q.Start.Nanosecond() != 0 || q.End.Nanosecond() != 0 {
		return fmt.Errorf("start %s and end %s: not whole seconds in order", q.Start.Format(time.RFC3339), q.End.Format(time.RFC3339))
	}
	if q.Max < 1 {
		return errors.New("max below 1")
	}
	return nil
}

// Point is one raw point: its tags (without the measurement), its time and the values
// of PointsQuery.Fields (NaN where the point has none).
type Point struct {
	Tags   map[string]string
	Time   time.Time
	Values []float64
}

// TooManyPointsError is a PointsQuery whose result exceeds Max.
type TooManyPointsError struct {
	Measurement string
	Max         int
}

func (e *TooManyPointsError) Error() string {
	return fmt.Sprintf("more than %d %s points in the range", e.Max, e.Measurement)
}

// pointSet joins the values of one point's fields (PromQL returns one series per
// field) by tags and time.
type pointSet struct {
	n      int
	max    int
	meas   string
	points map[string]*Point
	order  []string
}

func newPointSet(q *PointsQuery) *pointSet {
	return &pointSet{n: len(q.Fields), max: q.Max, meas: q.Measurement, points: map[string]*Point{}}
}

func (s *pointSet) set(tags map[string]string, t time.Time, i int, v float64) error {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b []byte
	for _, k := range keys {
		b = append(append(append(append(b, k...), 0), tags[k]...), 0)
	}
	b = append(b, t.UTC().Format(time.RFC3339Nano)...)
	key := string(b)
	p := s.points[key]
	if p == nil {
		if len(s.points) >= s.max {
			return &TooManyPointsError{Measurement: s.meas, Max: s.max}
		}
		p = &Point{Tags: tags, Time: t, Values: make([]float64, s.n)}
		for j := range p.Values {
			p.Values[j] = math.NaN()
		}
		s.points[key] = p
		s.order = append(s.order, key)
	}
	p.Values[i] = v
	return nil
}

func (s *pointSet) sorted() []Point {
	out := make([]Point, 0, len(s.points))
	for _, k := range s.order {
		out = append(out, *s.points[k])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}
