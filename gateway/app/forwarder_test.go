package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/influx"
	"github.com/ganlink/ganlink/gateway/pipeline"
	"github.com/ganlink/ganlink/gateway/queue"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// forwarderRig is a queue and a forwarder to a real InfluxDB 1.8.10 database.
type forwarderRig struct {
	q   *queue.Queue
	reg *prometheus.Registry
	in  *testsrv.Influx
	f   *pipeline.Forwarder
}

func newForwarderRig(t *testing.T, db string, createDB bool) *forwarderRig {
	t.Helper()
	dbs := []string{}
	if createDB {
		dbs = append(dbs, db)
	}
	in := testsrv.StartInflux(t, dbs...)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	q, err := queue.Open(queue.Config{Dir: t.TempDir(), Fsync: "always"}, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	sink, err := influx.New(influx.Config{Name: "tsdb", URL: in.URL, Bucket: db, Gzip: true, Timeout: 5 * time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	f := pipeline.NewForwarder(pipeline.ForwarderConfig{Name: "tsdb", FlushInterval: 50 * time.Millisecond,
		RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond, IsPermanent: isPermanent},
		q, sink, pipeline.NewSinkMetrics(reg), log)
	return &forwarderRig{q: q, reg: reg, in: in, f: f}
}

func (r *forwarderRig) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.f.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (r *forwarderRig) rows(t *testing.T, db string) []string {
	var out []string
	for _, s := range r.in.Query(db, `SELECT "v" FROM "m"`) {
		for _, v := range s.Values {
			out = append(out, fmt.Sprintf("%gs=%g", v[0].(float64)/1000, v[1].(float64)))
		}
	}
	return out
}

// A block the TSDB rejects as malformed is dropped and counted; the valid blocks sent in
// the same request still land.
func TestForwarderIsolatesRejectedBlock(t *testing.T) {
	r := newForwarderRig(t, "ganlink", true)
	for _, b := range []struct {
		lines  string
		points int
	}{
		{"m v=1 1000000000\nm v=2 2000000000\n", 2},
		{"m v=oops= 3000000000\n", 1},
		{"m v=4 4000000000\n", 1},
	} {
		if err := r.q.Append([]byte(b.lines), b.points); err != nil {
			t.Fatal(err)
		}
	}
	r.run(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := strings.Join(r.rows(t, "ganlink"), " ")
		dropped := testutil.ToFloat64(mustCounter(t, r.reg, "ganlink_sink_points_dropped_total"))
		if got == "1s=1 2s=2 4s=4" && dropped == 1 && r.q.Stats().PendingPoints == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rows %q, dropped %v, pending %d; want rows 1s=1 2s=2 4s=4, dropped 1, pending 0",
				got, dropped, r.q.Stats().PendingPoints)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A missing database (404) is a configuration fault: data stays queued and is written
// once the database exists.
func TestForwarderKeepsDataWhileDatabaseMissing(t *testing.T) {
	r := newForwarderRig(t, "late", false)
	if err := r.q.Append([]byte("m v=7 7000000000\n"), 1); err != nil {
		t.Fatal(err)
	}
	r.run(t)
	time.Sleep(time.Second)
	if st := r.f.State(); st.Up || !strings.Contains(st.LastError, "status 404") {
		t.Fatalf("sink state %+v, want down with a 404", st)
	}
	if p := r.q.Stats().PendingPoints; p != 1 {
		t.Fatalf("pending %d, want 1 (kept while the database is missing)", p)
	}
	r.in.Exec(`CREATE DATABASE "late"`)
	deadline := time.Now().Add(10 * time.Second)
	for r.q.Stats().PendingPoints != 0 {
		if time.Now().After(deadline) {
			t.Fatal("not written after the database was created")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := strings.Join(r.rows(t, "late"), " "); got != "7s=7" {
		t.Fatalf("rows %q", got)
	}
}

func mustCounter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	return gathererCollector{reg, name}
}

// gathererCollector re-exposes one metric family of a registry for testutil.ToFloat64.
type gathererCollector struct {
	reg  *prometheus.Registry
	name string
}

func (g gathererCollector) Describe(chan<- *prometheus.Desc) {}
func (g gathererCollector) Collect(ch chan<- prometheus.Metric) {
	mfs, _ := g.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != g.name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(g.name, "x", nil, nil), prometheus.CounterValue, m.GetCounter().GetValue())
		}
	}
}
