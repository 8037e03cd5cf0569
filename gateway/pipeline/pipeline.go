// Package pipeline moves telemetry from sources through the KPI engine into one durable
// queue per sink, and from each queue to its sink with batching and retries.
//
// Ingest (Emitter: the EmitFunc each source is given) hands a batch to the processors
// (the KPI engine) once, encodes it as line protocol once and appends it to every sink's
// queue under the one emit policy (emit.go): transient refusals retried with capped
// backoff until ctx ends, permanent ones dropped once and counted. It returns only when
// every queue holds the batch under its durability policy (or it was dropped and
// counted), so a source acknowledges upstream only after that. A Forwarder per sink reads
// the queue oldest first, groups blocks into requests of at most BatchBytes (waiting at
// most FlushInterval for a partial batch), writes, and acknowledges the blocks only after
// the sink accepted them.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/queue"
	"github.com/prometheus/client_golang/prometheus"
)

// Queue is the part of *queue.Queue the pipeline uses.
type Queue interface {
	Append(data []byte, points int) error
	Read(ctx context.Context) (queue.Block, error)
	TryRead() (queue.Block, bool, error)
	Ack(b queue.Block) error
	Stats() queue.Stats
}

// Processor sees every batch before it is queued (the KPI engine). It must not keep
// references to the batch after returning.
type Processor interface {
	Process(b point.Batch)
}

// Pipeline is the ingest side: sources emit through Emitter, the KPI ticker through
// Appender.
type Pipeline struct {
	queues     []Queue
	processors []Processor
	log        *slog.Logger
	m          *ingestMetrics
	bufPool    sync.Pool
	// retryMin and retryMax bound the emit policy's backoff (EmitRetryMin, EmitRetryMax).
	retryMin, retryMax time.Duration
}

type ingestMetrics struct {
	queuedPoints  *prometheus.CounterVec
	queuedFields  *prometheus.CounterVec
	appendErrors  prometheus.Counter
	droppedPoints *prometheus.CounterVec
}

// New builds the ingest side over the sinks' queues.
func New(queues []Queue, processors []Processor, log *slog.Logger, reg prometheus.Registerer) *Pipeline {
	m := &ingestMetrics{
		queuedPoints: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ganlink_pipeline_points_queued_total",
			Help: "Points encoded and appended to the sink queues, by source (a configured source, or the gateway's own: kpi, health, corrections)."},
			[]string{"source"}),
		queuedFields: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ganlink_pipeline_fields_queued_total",
			Help: "Field values encoded and appended to the sink queues, by source."}, []string{"source"}),
		appendErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "ganlink_pipeline_append_errors_total",
			Help: "Append attempts a queue refused (every retry counts); transient refusals are retried, the source waits."}),
		droppedPoints: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricPipelinePointsDropped,
			Help: "Points of a source (or of the KPI ticker, source \"kpi\") not queued, by reason: too_large (larger than queue.max_bytes), closed (queue closed), shutdown (still refused when the gateway stopped)."},
			[]string{"source", "reason"}),
	}
	reg.MustRegister(m.queuedPoints, m.queuedFields, m.appendErrors, m.droppedPoints)
	return &Pipeline{queues: queues, processors: processors, log: log, m: m,
		retryMin: EmitRetryMin, retryMax: EmitRetryMax,
		bufPool: sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}}
}

// Sink is a northbound writer of line protocol.
type Sink interface {
	Write(ctx context.Context, lines []byte) error
}

// RetryAfterer is implemented by retryable errors carrying a server-requested delay.
type RetryAfterer interface{ RetryAfter() time.Duration }

// Defaults of ForwarderConfig, applied by NewForwarder to zero fields: the defaults of
// a sink's batch_bytes, flush_interval, retry_min and retry_max in the configuration.
const (
	DefaultBatchBytes    = 1 << 20
	DefaultFlushInterval = 500 * time.Millisecond
	DefaultRetryMin      = 500 * time.Millisecond
	DefaultRetryMax      = 10 * time.Second
)

// ForwarderConfig tunes one sink's forwarding. Zero values mean the defaults above; a
// RetryMax below RetryMin is RetryMin.
type ForwarderConfig struct {
	Name          string
	BatchBytes    int
	FlushInterval time.Duration
	RetryMin      time.Duration
	RetryMax      time.Duration
	// IsPermanent reports errors whose data must be dropped (and counted) rather than
	// retried, e.g. HTTP 400 for a malformed line.
	IsPermanent func(error) bool
}

// Forwarder moves one queue's blocks to one sink.
type Forwarder struct {
	cfg  ForwarderConfig
	q    Queue
	sink Sink
	log  *slog.Logger
	m    *sinkMetrics

	mu        sync.Mutex
	up        bool
	lastErr   string
	lastWrite time.Time
}

// SinkState is a snapshot for the status page.
type SinkState struct {
	Name      string    `json:"name"`
	Up        bool      `json:"up"`
	LastError string    `json:"last_error,omitempty"`
	LastWrite time.Time `json:"last_write"`
}

// NewForwarder builds a forwarder; m comes from NewSinkMetrics (shared by all sinks).
func NewForwarder(cfg ForwarderConfig, q Queue, sink Sink, m *SinkMetrics, log *slog.Logger) *Forwarder {
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = DefaultBatchBytes
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = DefaultRetryMin
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = DefaultRetryMax
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = cfg.RetryMin
	}
	if cfg.IsPermanent == nil {
		cfg.IsPermanent = func(error) bool { return false }
	}
	return &Forwarder{cfg: cfg, q: q, sink: sink, log: log.With("sink", cfg.Name), m: m.forSink(cfg.Name)}
}

// State returns the sink's current state.
func (f *Forwarder) State() SinkState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return SinkState{Name: f.cfg.Name, Up: f.up, LastError: f.lastErr, LastWrite: f.lastWrite}
}

// Run forwards until ctx is done. Blocks read but not yet acknowledged are delivered
// again after a restart (at-least-once; identical timestamps make a re-sent point
// overwrite itself in the TSDB).
//
// While a request is being retried the queue may drop its oldest blocks to stay within
// its disk budget (and count them as dropped); they are then left out of the next
// attempt, so the points the queue reports as dropped are exactly those never written.
func (f *Forwarder) Run(ctx context.Context) error {
	var r request
	for {
		r.reset()
		first, err := f.q.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read queue of sink %q: %w", f.cfg.Name, err)
		}
		r.add(first)
		deadline := time.Now().Add(f.cfg.FlushInterval)
		for len(r.body) < f.cfg.BatchBytes {
			b, ok, err := f.q.TryRead()
			if err != nil {
				return fmt.Errorf("read queue of sink %q: %w", f.cfg.Name, err)
			}
			if !ok {
				wait := time.Until(deadline)
				if wait <= 0 {
					break
				}
				wctx, cancel := context.WithTimeout(ctx, wait)
				b, err = f.q.Read(wctx)
				cancel()
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					break // flush interval elapsed
				}
			}
			r.add(b)
		}
		if err := f.deliver(ctx, &r); err != nil {
			return nil // ctx done; unacknowledged blocks stay queued
		}
	}
}

// request is one write request: consecutive queue blocks and their payloads,
// concatenated in order.
type request struct {
	blocks []queue.Block
	body   []byte
	points int
}

func (r *request) reset() {
	clear(r.blocks) // release the payloads
	r.blocks, r.body, r.points = r.blocks[:0], r.body[:0], 0
}

func (r *request) add(b queue.Block) {
	r.blocks = append(r.blocks, b)
	r.body = append(r.body, b.Data...)
	r.points += b.Points
}

// errDropped is returned by write when the queue dropped every block of the request
// while it was being retried.
var errDropped = errors.New("blocks dropped by the queue")

// trimDropped leaves out the leading blocks that the queue has dropped since they were
// read: those whose end is at or before the queue's committed offset, which only this
// forwarder's acknowledgements and the queue's disk-budget drops advance. It reports
// whether any block is left.
func (f *Forwarder) trimDropped(r *request) bool {
	acked := f.q.Stats().AckedOffset
	k, n, points := 0, 0, 0
	for k < len(r.blocks) && r.blocks[k].Next <= acked {
		n += len(r.blocks[k].Data)
		points += r.blocks[k].Points
		k++
	}
	if k > 0 {
		f.log.Debug("queue dropped blocks of the request being retried; leaving them out",
			"blocks", k, "points", points, "to_offset", r.blocks[k-1].Next)
		clear(r.blocks[:k])
		r.blocks, r.body, r.points = r.blocks[k:], r.body[n:], r.points-points
	}
	return len(r.blocks) > 0
}

// deliver writes the request until it is accepted, permanently rejected or dropped by
// the queue, then acknowledges its blocks; it returns an error only when ctx is done.
func (f *Forwarder) deliver(ctx context.Context, r *request) error {
	last := r.blocks[len(r.blocks)-1]
	err := f.write(ctx, r)
	switch {
	case err == nil, errors.Is(err, errDropped):
		return f.ack(last)
	case ctx.Err() != nil:
		return ctx.Err()
	}
	// Permanently rejected: isolate the offending blocks so good data still lands.
	if len(r.blocks) > 1 {
		for _, b := range r.blocks {
			one := request{blocks: []queue.Block{b}, body: b.Data, points: b.Points}
			if err := f.write(ctx, &one); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if !errors.Is(err, errDropped) {
					f.drop(b, err)
				}
			}
		}
	} else {
		f.drop(r.blocks[0], err)
	}
	return f.ack(last)
}

// write retries one request until success, a permanent error (counted as dropped and
// returned), the queue dropping all of it (errDropped) or ctx done. Before every retry
// the blocks the queue dropped meanwhile are left out.
func (f *Forwarder) write(ctx context.Context, r *request) error {
	bo := backoff{min: f.cfg.RetryMin, max: f.cfg.RetryMax}
	for attempt := 0; ; attempt++ {
		if attempt > 0 && !f.trimDropped(r) {
			return errDropped
		}
		start := time.Now()
		err := f.sink.Write(ctx, r.body)
		f.m.writeSeconds.Observe(time.Since(start).Seconds())
		if err == nil {
			f.m.writtenPoints.Add(float64(r.points))
			f.m.writtenBytes.Add(float64(len(r.body)))
			f.setState(true, "")
			if attempt > 0 {
				f.log.Info("sink recovered", "attempts", attempt+1)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if f.cfg.IsPermanent(err) {
			f.setState(true, err.Error())
			return err
		}
		f.setState(false, err.Error())
		f.m.retries.Inc()
		wait := bo.next()
		var ra RetryAfterer
		if errors.As(err, &ra) && ra.RetryAfter() > 0 {
			wait = ra.RetryAfter()
		}
		if attempt == 0 || attempt%10 == 0 {
			f.log.Warn("write failed; retrying", "attempt", attempt+1, "retry_in", wait.Round(time.Millisecond), "err", err)
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func (f *Forwarder) drop(b queue.Block, err error) {
	f.m.droppedPoints.Add(float64(b.Points))
	f.log.Error("sink rejected data permanently; dropped", "points", b.Points, "offset", b.Offset, "err", err)
}

func (f *Forwarder) ack(b queue.Block) error {
	if err := f.q.Ack(b); err != nil {
		f.log.Error("acknowledge queue block", "offset", b.Offset, "err", err)
	}
	return nil
}

func (f *Forwarder) setState(up bool, errText string) {
	f.mu.Lock()
	f.up = up
	f.lastErr = errText
	if up {
		f.lastWrite = time.Now()
	}
	f.mu.Unlock()
	if up {
		f.m.up.Set(1)
	} else {
		f.m.up.Set(0)
	}
}

var jitterMu sync.Mutex
var jitterState uint64 = 0x9e3779b97f4a7c15

// jitter returns d scaled by a factor in [0.8, 1.2).
func jitter(d time.Duration) time.Duration {
	jitterMu.Lock()
	jitterState ^= jitterState << 13
	jitterState ^= jitterState >> 7
	jitterState ^= jitterState << 17
	r := jitterState
	jitterMu.Unlock()
	return time.Duration(float64(d) * (0.8 + 0.4*float64(r%1000)/1000))
}
