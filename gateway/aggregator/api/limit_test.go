package api

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestLimiter(t *testing.T) {
	reg := prometheus.NewRegistry()
	l := newLimiter(2, 1, 300*time.Millisecond, reg)
	ctx := context.Background()
	r1, _, _ := l.acquire(ctx)
	r2, _, _ := l.acquire(ctx)
	if r1 == nil || r2 == nil || testutil.ToFloat64(l.inFlight) != 2 {
		t.Fatalf("two slots: %v %v, in flight %v", r1 != nil, r2 != nil, testutil.ToFloat64(l.inFlight))
	}
	// The third waits; while it waits, a fourth finds the queue full.
	got := make(chan func(), 1)
	go func() {
		r, _, _ := l.acquire(ctx)
		got <- r
	}()
	for testutil.ToFloat64(l.waiting) != 1 {
		time.Sleep(time.Millisecond)
	}
	if r, reason, msg := l.acquire(ctx); r != nil || reason != rejectQueueFull ||
		msg != "the aggregator is busy (2 requests in progress, 1 waiting): retry after 1 s" {
		t.Errorf("queue full: %v %q %q", r != nil, reason, msg)
	}
	r1()
	r3 := <-got
	if r3 == nil || testutil.ToFloat64(l.waiting) != 0 || testutil.ToFloat64(l.inFlight) != 2 {
		t.Fatalf("the waiting request did not get the freed slot")
	}
	// Nobody frees a slot: a waiting request gives up after the timeout.
	start := time.Now()
	r, reason, msg := l.acquire(ctx)
	if d := time.Since(start); r != nil || reason != rejectQueueTimeout || d < 300*time.Millisecond || d > 3*time.Second ||
		msg != "the aggregator is busy (no request slot free within 300ms): retry after 1 s" {
		t.Errorf("queue timeout after %s: %v %q %q", d, r != nil, reason, msg)
	}
	// A client that leaves while waiting is no refusal.
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if r, reason, _ := l.acquire(cctx); r != nil || reason != "" {
		t.Errorf("cancelled: %v %q", r != nil, reason)
	}
	r2()
	r3()
	if testutil.ToFloat64(l.inFlight) != 0 || testutil.ToFloat64(l.waiting) != 0 || len(l.admit) != 0 || len(l.slots) != 0 {
		t.Errorf("not all released: in flight %v, waiting %v, %d admitted", testutil.ToFloat64(l.inFlight),
			testutil.ToFloat64(l.waiting), len(l.admit))
	}
	for reason, want := range map[string]float64{rejectQueueFull: 1, rejectQueueTimeout: 1, rejectTooManyRows: 0, rejectTooManyPoints: 0} {
		if got := testutil.ToFloat64(l.rejected.WithLabelValues(reason)); got != want {
			t.Errorf("rejected{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	w := httptest.NewRecorder()
	l.refuse(w, "busy")
	if w.Code != 503 || w.Header().Get("Retry-After") != "1" || w.Body.String() != "{\"error\":\"busy\"}\n" {
		t.Errorf("refuse: %d %q %q", w.Code, w.Header().Get("Retry-After"), w.Body.String())
	}
	if got := newLimiter(1, 0, 2500*time.Millisecond, prometheus.NewRegistry()).retryAfter(); got != 3 {
		t.Errorf("Retry-After for 2.5s = %d, want 3", got)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}
