package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/queue"
	gtestutil "github.com/ganlink/ganlink/internal/testutil"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// refusing is a real queue whose next appends fail as a disk in trouble makes them
// fail: refuse > 0 refuses that many, refuse < 0 every one.
type refusing struct {
	*queue.Queue
	mu      sync.Mutex
	refuse  int
	refused int
}

func (r *refusing) Append(data []byte, points int) error {
	r.mu.Lock()
	if r.refuse != 0 {
		r.refuse--
		r.refused++
		r.mu.Unlock()
		return errors.New("append block: write segment: input/output error")
	}
	r.mu.Unlock()
	return r.Queue.Append(data, points)
}

// counting is a processor that counts the points it sees.
type counting struct {
	mu     sync.Mutex
	points int
}

func (c *counting) Process(b point.Batch) {
	c.mu.Lock()
	c.points += len(b)
	c.mu.Unlock()
}

func (c *counting) seen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.points
}

func openQueue(t *testing.T, maxBytes int64) *queue.Queue {
	t.Helper()
	q, err := queue.Open(queue.Config{Dir: t.TempDir(), Fsync: "always", MaxBytes: maxBytes},
		slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// emitRig is a pipeline over the given queues with a counting processor, fast retries
// and its log captured.
type emitRig struct {
	p    *Pipeline
	proc *counting
	log  *gtestutil.LogBuffer
}

func newEmitRig(queues ...Queue) *emitRig {
	r := &emitRig{proc: &counting{}, log: &gtestutil.LogBuffer{}}
	r.p = New(queues, []Processor{r.proc}, slog.New(slog.NewTextHandler(r.log, nil)), prometheus.NewRegistry())
	r.p.retryMin, r.p.retryMax = time.Millisecond, 4*time.Millisecond
	return r
}

func (r *emitRig) dropped(source, reason string) float64 {
	return testutil.ToFloat64(r.p.m.droppedPoints.WithLabelValues(source, reason))
}

// testBatch returns n points of about 100 bytes of line protocol each.
func testBatch(n int) point.Batch {
	b := make(point.Batch, n)
	for i := range b {
		b[i] = point.Point{Measurement: "energy_meter", Device: "em1",
			Tags:   []point.Tag{{Key: "device", Value: "em1"}, {Key: "workshop", Value: "ws1"}},
			Fields: []point.Field{{Key: "energy_kwh_total", Value: float64(i)}, {Key: "power_kw", Value: 1.5}},
			Time:   int64(1700000000+i) * 1e9}
	}
	return b
}

// readAll returns every block the queue holds, without acknowledging them.
func readAll(t *testing.T, q *queue.Queue) []queue.Block {
	t.Helper()
	var out []queue.Block
	for {
		b, ok, err := q.TryRead()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, b)
	}
}

// A batch larger than the queues can ever hold is dropped at once, counted once (in the
// pipeline's and in each queue's counter) and logged with its source and size; emit
// returns nil so the source carries on (and an MQTT source acknowledges it: a
// redelivery could only be dropped again).
func TestEmitTooLargeDroppedOnce(t *testing.T) {
	q1, q2 := openQueue(t, 4<<10), openQueue(t, 4<<10)
	r := newEmitRig(q1, q2)
	b := testBatch(100) // ~9 KB encoded
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.p.Emitter("meters")(ctx, b); err != nil {
		t.Fatalf("emit: %v", err)
	}
	if got := r.dropped("meters", ReasonTooLarge); got != 100 {
		t.Errorf("dropped{meters,too_large} = %v, want 100", got)
	}
	for _, reason := range []string{ReasonClosed, ReasonShutdown} {
		if got := r.dropped("meters", reason); got != 0 {
			t.Errorf("dropped{meters,%s} = %v, want 0", reason, got)
		}
	}
	if got := testutil.ToFloat64(r.p.m.appendErrors); got != 2 {
		t.Errorf("append errors %v, want 2 (one refusal per queue, no retry)", got)
	}
	for i, q := range []*queue.Queue{q1, q2} {
		if st := q.Stats(); st.DroppedPointsTooLarge != 100 || st.AppendedPoints != 0 {
			t.Errorf("queue %d: %d points dropped as too large, %d appended; want 100 and 0", i, st.DroppedPointsTooLarge, st.AppendedPoints)
		}
	}
	if got := r.proc.seen(); got != 100 {
		t.Errorf("processor saw %d points, want 100", got)
	}
	if got := testutil.ToFloat64(r.p.m.queuedPoints.WithLabelValues("meters")); got != 0 {
		t.Errorf("queued points %v, want 0", got)
	}
	logs := r.log.String()
	if n := strings.Count(logs, "batch refused for good; dropped"); n != 1 {
		t.Fatalf("%d drop log lines, want 1:\n%s", n, logs)
	}
	for _, want := range []string{"source=meters", "reason=too_large", "points=100", "fields=200",
		"exceed queue.max_bytes 4096: block too large"} {
		if !strings.Contains(logs, want) {
			t.Errorf("drop log lacks %q:\n%s", want, logs)
		}
	}
}

// A queue refusing for a while gets the batch once it accepts again; a queue that took
// the batch at once is not asked again (no duplicate block), and the processors saw the
// batch once.
func TestEmitTransientRetried(t *testing.T) {
	q1 := openQueue(t, 0)
	q2 := &refusing{Queue: openQueue(t, 0), refuse: 3}
	r := newEmitRig(q1, q2)
	b := testBatch(5)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.p.Emitter("cnc")(ctx, b); err != nil {
		t.Fatalf("emit: %v", err)
	}
	want, _ := point.AppendBatch(nil, b)
	for i, q := range []*queue.Queue{q1, q2.Queue} {
		blocks := readAll(t, q)
		if len(blocks) != 1 || blocks[0].Points != 5 || !bytes.Equal(blocks[0].Data, want) {
			t.Errorf("queue %d holds %d blocks, want the batch once", i, len(blocks))
		}
	}
	if q2.refused != 3 {
		t.Errorf("refused %d appends, want 3", q2.refused)
	}
	if got := testutil.ToFloat64(r.p.m.appendErrors); got != 3 {
		t.Errorf("append errors %v, want 3", got)
	}
	if got := r.proc.seen(); got != 5 {
		t.Errorf("processor saw %d points, want 5 (once)", got)
	}
	if got := testutil.ToFloat64(r.p.m.queuedPoints.WithLabelValues("cnc")); got != 5 {
		t.Errorf("queued points %v, want 5", got)
	}
	for _, reason := range dropReasons {
		if got := r.dropped("cnc", reason); got != 0 {
			t.Errorf("dropped{cnc,%s} = %v, want 0", reason, got)
		}
	}
	logs := r.log.String()
	if strings.Count(logs, "queue refused a batch; retrying") != 1 || strings.Count(logs, "queue accepts batches again") != 1 ||
		!strings.Contains(logs, "attempts=4") {
		t.Errorf("want one throttled warning and one recovery after 4 attempts:\n%s", logs)
	}
}

// When ctx ends while a queue refuses, emit returns at once (the wait is a timer on ctx,
// here an hour long), with ctx's error, and the batch is counted as dropped at
// shutdown, once.
func TestEmitCancelReturnsPromptly(t *testing.T) {
	q := &refusing{Queue: openQueue(t, 0), refuse: -1}
	r := newEmitRig(q)
	r.p.retryMin, r.p.retryMax = time.Hour, time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.p.Emitter("cnc")(ctx, testBatch(7)) }()
	for {
		q.mu.Lock()
		n := q.refused
		q.mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	begin := time.Now()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("emit did not return after cancel")
	}
	if d := time.Since(begin); d > 500*time.Millisecond {
		t.Errorf("emit returned %s after cancel", d)
	}
	if want := `emit 7 points of source "cnc": not queued before shutdown: context canceled`; err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v does not wrap context.Canceled", err)
	}
	if got := r.dropped("cnc", ReasonShutdown); got != 7 {
		t.Errorf("dropped{cnc,shutdown} = %v, want 7", got)
	}
	if q.refused != 1 {
		t.Errorf("%d attempts, want 1", q.refused)
	}
	if st := q.Stats(); st.AppendedPoints != 0 {
		t.Errorf("queue took %d points", st.AppendedPoints)
	}
}

// KPI points go through Appender: not shown to the processors, and retried for as
// long as the queue refuses them, with no attempt limit (the old KPI loop dropped them
// after 5 tries).
func TestAppenderNotDroppedAfterManyFailures(t *testing.T) {
	q := &refusing{Queue: openQueue(t, 0), refuse: 25}
	r := newEmitRig(q)
	b := testBatch(3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.p.Appender("kpi")(ctx, b); err != nil {
		t.Fatalf("append: %v", err)
	}
	if q.refused != 25 {
		t.Errorf("refused %d appends, want 25", q.refused)
	}
	blocks := readAll(t, q.Queue)
	if len(blocks) != 1 || blocks[0].Points != 3 {
		t.Fatalf("queue holds %d blocks, want the batch once", len(blocks))
	}
	if got := r.proc.seen(); got != 0 {
		t.Errorf("processor saw %d points of the KPI batch, want 0", got)
	}
	for _, reason := range dropReasons {
		if got := r.dropped("kpi", reason); got != 0 {
			t.Errorf("dropped{kpi,%s} = %v, want 0", reason, got)
		}
	}
}

// The drop counters of a source are exported at 0 as soon as it has an emit function.
func TestEmitterExportsDropCounters(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := New(nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	p.Emitter("meters")
	p.Appender("kpi")
	var sb strings.Builder
	sb.WriteString("# HELP ganlink_pipeline_points_dropped_total Points of a source (or of the KPI ticker, source \"kpi\") not queued, by reason: too_large (larger than queue.max_bytes), closed (queue closed), shutdown (still refused when the gateway stopped).\n")
	sb.WriteString("# TYPE ganlink_pipeline_points_dropped_total counter\n")
	for _, s := range []string{"kpi", "meters"} {
		for _, r := range []string{"closed", "shutdown", "too_large"} {
			fmt.Fprintf(&sb, "ganlink_pipeline_points_dropped_total{reason=%q,source=%q} 0\n", r, s)
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(sb.String()), "ganlink_pipeline_points_dropped_total"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, "ganlink_pipeline_points_dropped_total"); err != nil || n != 6 {
		t.Fatalf("%d series (%v), want 6", n, err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) != 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}

// BenchmarkEmit measures the emit path (processors, encoding, one append to a real
// queue fsyncing every second) for a batch of 100 two-field points.
func BenchmarkEmit(b *testing.B) {
	q, err := queue.Open(queue.Config{Dir: b.TempDir(), Fsync: "1s"}, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = q.Run(ctx) }()
	go func() { // a reader acknowledging everything, so the queue stays small
		for {
			blk, err := q.Read(ctx)
			if err != nil {
				return
			}
			_ = q.Ack(blk)
		}
	}()
	p := New([]Queue{q}, []Processor{&counting{}}, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	emit := p.Emitter("bench")
	batch := testBatch(100)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := emit(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}
