package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/queue"
)

// The emit policy: how a batch handed over by a source (or by the KPI ticker) reaches
// the sink queues. It is defined here, once, because only the pipeline sees the steps a
// retry must not repeat: the processors (the KPI engine) see a batch once, the batch is
// encoded once, and a queue that already holds it is not asked again when another one
// refused it.
//
//   - A transient refusal (an I/O error, a queue unusable until its fault clears) is
//     retried for that queue with capped exponential backoff and jitter, from
//     EmitRetryMin to EmitRetryMax, until the queue takes the batch or ctx ends.
//     Nothing is dropped for having been retried long: there is no attempt limit.
//   - A permanent refusal (queue.ErrTooLarge: a batch larger than the queue can ever
//     hold; queue.ErrClosed) is not retried: the batch is dropped once, counted once in
//     ganlink_pipeline_points_dropped_total{source,reason} and logged with the source
//     and its size.
//   - When ctx ends before every queue holds the batch, the batch is counted as dropped
//     with reason "shutdown" and emit returns an error wrapping ctx's.
const (
	EmitRetryMin = 100 * time.Millisecond
	EmitRetryMax = 5 * time.Second
	// emitWarnEvery throttles the warning about a queue refusing a batch.
	emitWarnEvery = 30 * time.Second
)

// Reasons of ganlink_pipeline_points_dropped_total.
const (
	// ReasonTooLarge: the encoded batch is larger than the queue can ever hold
	// (queue.max_bytes).
	ReasonTooLarge = "too_large"
	// ReasonClosed: the queue was closed; nothing can be appended to it any more.
	ReasonClosed = "closed"
	// ReasonShutdown: ctx ended while a queue still refused the batch.
	ReasonShutdown = "shutdown"
)

var dropReasons = []string{ReasonTooLarge, ReasonClosed, ReasonShutdown}

// permanentReason returns the drop reason of an append error no retry can cure, and
// false for the errors worth retrying.
func permanentReason(err error) (string, bool) {
	switch {
	case errors.Is(err, queue.ErrTooLarge):
		return ReasonTooLarge, true
	case errors.Is(err, queue.ErrClosed):
		return ReasonClosed, true
	}
	return "", false
}

// Emitter returns the point.EmitFunc of the source named source, the one every source
// is given: the processors see the batch once, then it is appended to every sink queue
// under the emit policy. It returns nil once the batch is settled (held by every queue,
// or dropped for good and counted) and an error only when ctx ended first, so a source
// calls it once per batch and never retries it.
func (p *Pipeline) Emitter(source string) point.EmitFunc {
	p.initDropped(source)
	return func(ctx context.Context, b point.Batch) error {
		if len(b) == 0 {
			return nil
		}
		for _, pr := range p.processors {
			pr.Process(b)
		}
		return p.emit(ctx, source, b)
	}
}

// Appender is Emitter without the processors, for the points the processors produce
// themselves (the KPI windows): they are queued like any other data under the same
// policy, never dropped for having been retried.
func (p *Pipeline) Appender(source string) point.EmitFunc {
	p.initDropped(source)
	return func(ctx context.Context, b point.Batch) error {
		if len(b) == 0 {
			return nil
		}
		return p.emit(ctx, source, b)
	}
}

// initDropped exports the queued and drop counters of source at 0 from the start.
func (p *Pipeline) initDropped(source string) {
	p.m.queuedPoints.WithLabelValues(source)
	p.m.queuedFields.WithLabelValues(source)
	for _, r := range dropReasons {
		p.m.droppedPoints.WithLabelValues(source, r)
	}
}

// emit encodes b once and appends it to every queue under the emit policy.
func (p *Pipeline) emit(ctx context.Context, source string, b point.Batch) error {
	bp := p.bufPool.Get().(*[]byte)
	buf, fields := point.AppendBatch((*bp)[:0], b)
	defer func() {
		if cap(buf) <= 4<<20 {
			*bp = buf[:0]
			p.bufPool.Put(bp)
		}
	}()
	if fields == 0 {
		return nil
	}
	var dropErr error
	for i, q := range p.queues {
		err := p.appendTo(ctx, q, source, buf, len(b))
		if err == nil {
			continue
		}
		if _, ok := permanentReason(err); ok {
			if dropErr == nil {
				dropErr = err // counted once per batch, even if several queues refuse it
			}
			continue
		}
		// ctx ended
		p.m.droppedPoints.WithLabelValues(source, ReasonShutdown).Add(float64(len(b)))
		p.log.Warn("batch not queued before shutdown; dropped", "source", source, "points", len(b),
			"fields", fields, "bytes", len(buf), "queues_holding_it", i, "err", err)
		return fmt.Errorf("emit %d points of source %q: not queued before shutdown: %w", len(b), source, ctx.Err())
	}
	if dropErr != nil {
		reason, _ := permanentReason(dropErr)
		p.m.droppedPoints.WithLabelValues(source, reason).Add(float64(len(b)))
		p.log.Error("batch refused for good; dropped", "source", source, "reason", reason, "points", len(b),
			"fields", fields, "bytes", len(buf), "err", dropErr)
		return nil
	}
	p.m.queuedPoints.WithLabelValues(source).Add(float64(len(b)))
	p.m.queuedFields.WithLabelValues(source).Add(float64(fields))
	return nil
}

// appendTo appends one encoded batch to q, retrying transient refusals until q takes it
// or ctx ends. It returns nil, a permanent refusal, or the last refusal once ctx ended.
func (p *Pipeline) appendTo(ctx context.Context, q Queue, source string, buf []byte, points int) error {
	bo := backoff{min: p.retryMin, max: p.retryMax}
	var failing, lastWarn time.Time
	for attempt := 1; ; attempt++ {
		err := q.Append(buf, points)
		if err == nil {
			if attempt > 1 {
				p.log.Info("queue accepts batches again", "source", source, "attempts", attempt,
					"failing_for", time.Since(failing).Round(time.Millisecond))
			}
			return nil
		}
		p.m.appendErrors.Inc()
		if _, ok := permanentReason(err); ok || ctx.Err() != nil {
			return err
		}
		if attempt == 1 {
			failing = time.Now()
		}
		if time.Since(lastWarn) >= emitWarnEvery {
			lastWarn = time.Now()
			p.log.Warn("queue refused a batch; retrying, the source waits", "source", source, "points", points,
				"attempt", attempt, "err", err)
		}
		if sleep(ctx, bo.next()) != nil {
			return err
		}
	}
}

// backoff is capped exponential backoff: next returns min, 2·min, … up to max, each
// scaled by a jitter factor in [0.8, 1.2).
type backoff struct {
	min, max time.Duration
	cur      time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	}
	d := b.cur
	b.cur = min(2*b.cur, b.max)
	return jitter(d)
}

// sleep waits d or until ctx is done, whichever comes first, and returns ctx's error in
// the second case.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
