package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons of ganlink_aggregator_requests_rejected_total.
const (
	rejectQueueFull     = "queue_full"      // every slot busy and the queue full: 503 at once
	rejectQueueTimeout  = "queue_timeout"   // no slot within the queue timeout: 503
	rejectTooManyRows   = "too_many_rows"   // groups × buckets above max_rows: 400
	rejectTooManyPoints = "too_many_points" // registered workshops × buckets above max_points: 400
)

// limiter bounds the work of the API: at most inFlight requests are worked on, at most
// queued more wait for a slot, each for at most timeout. Everything beyond is refused
// at once, so a flood costs a small, fixed amount of memory: the requests being worked
// on (each bounded by max_rows and max_points) and the goroutines of those waiting.
type limiter struct {
	admit   chan struct{} // capacity inFlight + queued: working or waiting
	slots   chan struct{} // capacity inFlight: working
	timeout time.Duration

	inFlight prometheus.Gauge
	waiting  prometheus.Gauge
	rejected *prometheus.CounterVec
}

func newLimiter(inFlight, queued int, timeout time.Duration, reg prometheus.Registerer) *limiter {
	l := &limiter{admit: make(chan struct{}, inFlight+queued), slots: make(chan struct{}, inFlight), timeout: timeout,
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ganlink_aggregator_requests_in_flight",
			Help: "Authenticated API requests being worked on (at most server.max_in_flight)."}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ganlink_aggregator_requests_queued",
			Help: "Authenticated API requests waiting for a free slot (at most server.max_queued)."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ganlink_aggregator_requests_rejected_total",
			Help: "API requests refused by a limit, by reason: queue_full and queue_timeout (503), " +
				"too_many_rows and too_many_points (400)."}, []string{"reason"}),
	}
	for _, r := range []string{rejectQueueFull, rejectQueueTimeout, rejectTooManyRows, rejectTooManyPoints} {
		l.rejected.WithLabelValues(r)
	}
	reg.MustRegister(l.inFlight, l.waiting, l.rejected)
	return l
}

// retryAfter is the Retry-After of a 503 in whole seconds: the queue timeout, at
// least 1.
func (l *limiter) retryAfter() int {
	return max(1, int(math.Ceil(l.timeout.Seconds())))
}

// acquire waits for a slot. It returns release when the caller may work, or the reason
// and message of a refusal (the caller answers 503, or nothing when ctx ended because
// the client left).
func (l *limiter) acquire(ctx context.Context) (release func(), reason, msg string) {
	select {
	case l.admit <- struct{}{}:
	default:
		l.rejected.WithLabelValues(rejectQueueFull).Inc()
		return nil, rejectQueueFull, fmt.Sprintf("the aggregator is busy (%d requests in progress, %d waiting): retry after %d s",
			cap(l.slots), cap(l.admit)-cap(l.slots), l.retryAfter())
	}
	select {
	case l.slots <- struct{}{}:
	default:
		l.waiting.Inc()
		t := time.NewTimer(l.timeout)
		select {
		case l.slots <- struct{}{}:
			t.Stop()
			l.waiting.Dec()
		case <-t.C:
			l.waiting.Dec()
			<-l.admit
			l.rejected.WithLabelValues(rejectQueueTimeout).Inc()
			return nil, rejectQueueTimeout, fmt.Sprintf("the aggregator is busy (no request slot free within %s): retry after %d s",
				l.timeout, l.retryAfter())
		case <-ctx.Done():
			t.Stop()
			l.waiting.Dec()
			<-l.admit
			return nil, "", ""
		}
	}
	l.inFlight.Inc()
	return func() {
		l.inFlight.Dec()
		<-l.slots
		<-l.admit
	}, "", ""
}

// refuse answers 503 with Retry-After.
func (l *limiter) refuse(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(l.retryAfter()))
	writeError(w, http.StatusServiceUnavailable, msg)
}
