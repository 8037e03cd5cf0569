// Package adaptertest is the conformance suite every southbound source passes against
// its real server, and the test helpers the adapters' tests share.
//
// The contract (docs/architecture.md, "Contracts") that Run checks, one subtest each:
//
//   - emit_once_per_batch: the source calls emit once per batch and waits for it (the
//     pipeline's emit retries a refusing queue itself and returns nil once the batch is
//     settled): no second call while one waits, no point emitted twice.
//   - unconfirmed_redelivered/{blocked,failing}: data whose emit never returned nil
//     reaches the next run of the source (an MQTT broker redelivers the unacknowledged
//     QoS 1 message; polled and subscribed protocols read the value again).
//   - acknowledged_not_redelivered (sources whose server redelivers, Harness.Acknowledges):
//     data whose emit returned nil is acknowledged and not delivered again.
//   - reconnect: the server stopped and started again; the observer sees down (with an
//     error) then up, and data flows again without a new source.
//   - bad_input/<name>: each kind of input the source cannot use is reported through
//     point.Observer.SignalError with its reason (or, a bad status, flagged point.Bad
//     without a value), the source keeps running and good data still flows; where the
//     server redelivers, the bad message was acknowledged and does not come again.
//   - stop/{flowing,emit_blocked,server_down}: Run returns nil promptly after its context
//     is cancelled, and no goroutine of the source or its client library outlives it.
//
// An adapter's conformance_test.go builds a Harness (a constructor of its source against
// its server, and hooks that make the server offer a good or a bad value, stop and start)
// and calls Run.
//
// Besides the suite, the adapters' tests share Recorder (a point.Observer and emit
// function that keeps every report and batch) and Stacks (the goroutines showing given
// stack frames). Only tests import this package.
package adaptertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/testutil"
)

// Source is what the suite runs: an adapter's source.
type Source interface {
	Run(ctx context.Context, emit point.EmitFunc) error
}

// Match recognises the point that carries a value the server was made to offer.
type Match func(point.Point) bool

// FieldIs matches a point of device with a good field key equal to v.
func FieldIs(device, key string, v float64) Match {
	return func(p point.Point) bool {
		if p.Device != device {
			return false
		}
		for _, f := range p.Fields {
			if f.Key == key && f.Quality == point.Good && f.Value == v {
				return true
			}
		}
		return false
	}
}

// Report is what a bad input must cause: a point.Observer.SignalError call for Device
// and Signal with Reason, or, when Reason is empty, a point of Device whose field Signal
// is flagged point.Bad without a value (a bad status is data about the value, not an
// error of the source).
type Report struct {
	Device, Signal, Reason string
}

// BadInput is one kind of input a source cannot use.
type BadInput struct {
	Name string
	// Inject makes the server offer the input (a malformed payload, a value of the
	// wrong type, a bad status, a Modbus exception) and returns what it must cause.
	// The next Harness.Good makes the server offer good data again.
	Inject func(t *testing.T) Report
}

// Harness connects the suite to one adapter and its running server.
type Harness struct {
	// New builds a source against the server, reporting to obs. Successive calls build
	// the same logical source (for MQTT: the same client id with a persistent session),
	// so a new run continues where the previous one stopped.
	New func(t *testing.T, obs point.Observer) Source
	// Good makes the server offer a good value (a new one where the server can change
	// its values) and returns what recognises the point carrying it.
	Good func(t *testing.T) Match
	// Bad are the kinds of bad input the server can be made to offer.
	Bad []BadInput
	// Stop stops the server; Start starts it again on the same address.
	Stop, Start func(t *testing.T)
	// Acknowledges says that the server redelivers what the source did not acknowledge
	// (MQTT QoS 1 with a persistent session); the suite then checks that data whose emit
	// returned nil is not delivered again.
	Acknowledges bool
	// Frames are substrings of stack frames that belong to the source and its client
	// library, not to an in-process server, e.g. "ganlink/adapters/mqtt.". A goroutine
	// started after the source was built that still shows one after Run returned is a
	// leak.
	Frames []string
	// StopWithin bounds how long Run may take to return after its context is cancelled;
	// 0 means 5 s.
	StopWithin time.Duration
	// Wait bounds each wait for a state or for data; 0 means 30 s.
	Wait time.Duration
}

// Run runs the conformance subtests against h.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.StopWithin == 0 {
		h.StopWithin = 5 * time.Second
	}
	if h.Wait == 0 {
		h.Wait = 30 * time.Second
	}
	if h.New == nil || h.Good == nil || len(h.Bad) == 0 || h.Stop == nil || h.Start == nil || len(h.Frames) == 0 {
		t.Fatal("adaptertest: Harness needs New, Good, Bad, Stop, Start and Frames")
	}
	t.Run("emit_once_per_batch", func(t *testing.T) { emitOncePerBatch(t, &h) })
	t.Run("unconfirmed_redelivered", func(t *testing.T) {
		t.Run("blocked", func(t *testing.T) { unconfirmedRedelivered(t, &h, false) })
		t.Run("failing", func(t *testing.T) { unconfirmedRedelivered(t, &h, true) })
	})
	if h.Acknowledges {
		t.Run("acknowledged_not_redelivered", func(t *testing.T) { acknowledgedNotRedelivered(t, &h) })
	}
	t.Run("reconnect", func(t *testing.T) { reconnect(t, &h) })
	t.Run("bad_input", func(t *testing.T) {
		for _, bad := range h.Bad {
			t.Run(bad.Name, func(t *testing.T) { badInput(t, &h, bad) })
		}
	})
	t.Run("stop", func(t *testing.T) {
		t.Run("flowing", func(t *testing.T) { stop(t, &h, "flowing") })
		t.Run("emit_blocked", func(t *testing.T) { stop(t, &h, "emit_blocked") })
		t.Run("server_down", func(t *testing.T) { stop(t, &h, "server_down") })
	})
}

// running is a source whose Run runs in a goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	took   time.Duration
	err    error
}

// start builds a source and runs it with emit until stopped (at the latest when the
// test ends).
func start(t *testing.T, h *Harness, obs point.Observer, emit point.EmitFunc) *running {
	t.Helper()
	src := h.New(t, obs)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx, emit) }()
	t.Cleanup(func() { r.stop(t, h) })
	return r
}

// stop cancels Run and waits for it: Run must return nil within h.StopWithin.
func (r *running) stop(t *testing.T, h *Harness) time.Duration {
	t.Helper()
	r.once.Do(func() {
		begin := time.Now()
		r.cancel()
		select {
		case r.err = <-r.done:
			r.took = time.Since(begin)
			if r.err != nil {
				t.Errorf("Run returned %v after cancel, want nil", r.err)
			}
		case <-time.After(h.StopWithin):
			t.Errorf("Run did not return within %s of cancel", h.StopWithin)
			r.took = h.StopWithin
		}
	})
	return r.took
}

// alive fails the test if Run has returned.
func (r *running) alive(t *testing.T) {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		t.Fatalf("Run returned %v while the context was live", err)
	default:
	}
}

// waitFor waits for cond at most h.Wait.
func waitFor(t *testing.T, h *Harness, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, h.Wait, what, cond)
}

// waitState waits until the observer reported s at least n times.
func waitState(t *testing.T, h *Harness, rec *Recorder, s point.State, n int) {
	t.Helper()
	waitFor(t, h, fmt.Sprintf("state %s reported %d×", s, n), func() bool {
		c := 0
		for _, e := range rec.States() {
			if e.State == s {
				c++
			}
		}
		return c >= n
	})
}

// contains reports whether a batch holds a point m matches.
func contains(b point.Batch, m Match) bool {
	return slices.ContainsFunc(b, func(p point.Point) bool { return m(p) })
}

// pointKey renders everything a point carries, for comparing attempts of one batch.
func pointKey(p point.Point) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%v|%d", p.Measurement, p.Device, p.Tags, p.Time)
	for _, f := range p.Fields {
		fmt.Fprintf(&b, "|%s=%v(%s)", f.Key, f.Value, f.Quality)
	}
	return b.String()
}

func emitOncePerBatch(t *testing.T, h *Harness) {
	// The first call waits, as the pipeline's emit does while a queue refuses the batch:
	// for a polled or subscribed source it carries the first values, for a pushed one the
	// good value.
	const hold = time.Second
	rec := &Recorder{HoldEmit: func(call int) time.Duration {
		if call == 1 {
			return hold
		}
		return 0
	}}
	var mu sync.Mutex
	inflight, most := 0, 0
	emit := func(ctx context.Context, b point.Batch) error {
		mu.Lock()
		inflight++
		most = max(most, inflight)
		mu.Unlock()
		defer func() {
			mu.Lock()
			inflight--
			mu.Unlock()
		}()
		return rec.Emit(ctx, b)
	}
	r := start(t, h, rec, emit)
	waitState(t, h, rec, point.StateUp, 1)
	m := h.Good(t)
	waitFor(t, h, "the good value emitted", func() bool { return emitted(rec, 0, m) })
	r.alive(t)
	mu.Lock()
	defer mu.Unlock()
	if most != 1 {
		t.Errorf("%d emit calls at once, want 1: the source must wait for emit", most)
	}
	seen := map[string]int{}
	for _, b := range rec.Batches() {
		for _, p := range b {
			seen[pointKey(p)]++
		}
	}
	for k, n := range seen {
		if n > 1 {
			t.Errorf("point %s emitted %d times, want once", k, n)
		}
	}
}

// blockingEmit returns an emit that never returns nil: it blocks until its context is
// done or, if failing, fails at once. offered is closed at its first call.
func blockingEmit(failing bool) (emit point.EmitFunc, offered <-chan struct{}, got func() []point.Batch) {
	ch := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var batches []point.Batch
	emit = func(ctx context.Context, b point.Batch) error {
		mu.Lock()
		batches = append(batches, b)
		mu.Unlock()
		once.Do(func() { close(ch) })
		if failing {
			return errors.New("queue full")
		}
		<-ctx.Done()
		return ctx.Err()
	}
	got = func() []point.Batch {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(batches)
	}
	return emit, ch, got
}

// emitted reports whether a batch kept by rec from the n-th on holds a point m matches.
func emitted(rec *Recorder, n int, m Match) bool {
	bs := rec.Batches()
	if n > len(bs) {
		return false
	}
	return slices.ContainsFunc(bs[n:], func(b point.Batch) bool { return contains(b, m) })
}

func unconfirmedRedelivered(t *testing.T, h *Harness, failing bool) {
	recA := &Recorder{}
	emitA, offered, gotA := blockingEmit(failing)
	a := start(t, h, recA, emitA)
	waitState(t, h, recA, point.StateUp, 1)
	good := h.Good(t)
	select {
	case <-offered:
	case <-time.After(h.Wait):
		t.Fatalf("emit was not called within %s", h.Wait)
	}
	if h.Acknowledges {
		waitFor(t, h, "the good value offered to emit", func() bool {
			return slices.ContainsFunc(gotA(), func(b point.Batch) bool { return contains(b, good) })
		})
	}
	a.stop(t, h)

	recB := &Recorder{}
	start(t, h, recB, recB.Emit)
	waitFor(t, h, "the unconfirmed value in the next run", func() bool { return emitted(recB, 0, good) })
}

// goodRun starts a new source whose emit keeps every batch, waits until it is up, makes
// the server offer a good value and waits until the source emitted it.
func goodRun(t *testing.T, h *Harness, what string) (*running, *Recorder, Match) {
	t.Helper()
	rec := &Recorder{}
	r := start(t, h, rec, rec.Emit)
	waitState(t, h, rec, point.StateUp, 1)
	m := h.Good(t)
	waitFor(t, h, what, func() bool { return emitted(rec, 0, m) })
	return r, rec, m
}

func acknowledgedNotRedelivered(t *testing.T, h *Harness) {
	a, _, first := goodRun(t, h, "the first value")
	a.stop(t, h)
	_, recB, _ := goodRun(t, h, "the second value")
	// A redelivery would have come before the second value.
	for _, b := range recB.Batches() {
		for _, p := range b {
			if first(p) {
				t.Fatalf("the next run got the acknowledged value again: %s", pointKey(p))
			}
		}
	}
}

func reconnect(t *testing.T, h *Harness) {
	r, rec, _ := goodRun(t, h, "a value before the restart")

	stopped := time.Now()
	h.Stop(t)
	t.Logf("server stopped in %s", time.Since(stopped).Round(time.Millisecond))
	waitState(t, h, rec, point.StateDown, 1)
	t.Logf("down reported %s after the stop began", time.Since(stopped).Round(time.Millisecond))
	n := rec.BatchCount()
	restarted := time.Now()
	h.Start(t)
	t.Logf("server started in %s", time.Since(restarted).Round(time.Millisecond))
	waitState(t, h, rec, point.StateUp, 2)
	after := h.Good(t)
	waitFor(t, h, "a value after the restart", func() bool { return emitted(rec, n, after) })
	t.Logf("data flowed again %s after the server restarted", time.Since(restarted).Round(time.Millisecond))
	r.alive(t)

	// connecting, up, then down (with its error) and connecting until up again.
	states := rec.States()
	if len(states) < 4 || states[0].State != point.StateConnecting || states[1].State != point.StateUp ||
		states[2].State != point.StateDown || states[len(states)-1].State != point.StateUp {
		t.Fatalf("state reports %q, want connecting, up, down, …, up", rec.StateStrings())
	}
	for i, e := range states[2 : len(states)-1] {
		switch {
		case e.State == point.StateDown && e.Err == nil:
			t.Errorf("state report %d: down without an error", i+2)
		case e.State == point.StateUp:
			t.Errorf("state report %d: up before the end in %q", i+2, rec.StateStrings())
		case e.State == point.StateConnecting && e.Err != nil:
			t.Errorf("state report %d: connecting with error %v", i+2, e.Err)
		}
	}
}

func badInput(t *testing.T, h *Harness, bad BadInput) {
	r, rec, _ := goodRun(t, h, "a good value")

	want := bad.Inject(t)
	if want.Reason == "" {
		flagged := func(p point.Point) bool {
			return p.Device == want.Device && slices.ContainsFunc(p.Fields, func(f point.Field) bool {
				return f.Key == want.Signal && f.Quality == point.Bad && f.Value == 0
			})
		}
		waitFor(t, h, fmt.Sprintf("device %q signal %q flagged bad without a value", want.Device, want.Signal),
			func() bool { return emitted(rec, 0, flagged) })
	} else {
		got, ok := waitReport(t, h, rec, want)
		if !ok {
			return
		}
		if got.Err == nil {
			t.Errorf("report %s carries no error", got)
		} else if !strings.Contains(got.Err.Error(), want.Device) || !strings.Contains(got.Err.Error(), want.Signal) {
			t.Errorf("report error %q names neither device %q nor signal %q", got.Err, want.Device, want.Signal)
		}
		t.Logf("bad input reported: %s", got)
	}
	for _, e := range rec.Signals() {
		if e.Reason == "" || e.Reason == "internal" {
			t.Errorf("report with reason %q: %s", e.Reason, e)
		}
	}

	next := h.Good(t)
	waitFor(t, h, "a good value after the bad one", func() bool { return emitted(rec, 0, next) })
	r.alive(t)
	if !h.Acknowledges || want.Reason == "" {
		return
	}
	// The bad message was acknowledged like any other: the next run does not get it again.
	r.stop(t, h)
	_, recB, _ := goodRun(t, h, "a good value in the next run")
	if errs := recB.Errors(); len(errs) != 0 {
		t.Errorf("the next run got the bad input again: %q", errs)
	}
}

// waitReport waits for the signal error want describes.
func waitReport(t *testing.T, h *Harness, rec *Recorder, want Report) (SignalEvent, bool) {
	t.Helper()
	var got SignalEvent
	waitFor(t, h, fmt.Sprintf("a %q report for device %q signal %q", want.Reason, want.Device, want.Signal), func() bool {
		for _, e := range rec.Signals() {
			if e.Device == want.Device && e.Signal == want.Signal && e.Reason == want.Reason {
				got = e
				return true
			}
		}
		return false
	})
	return got, !t.Failed()
}

func stop(t *testing.T, h *Harness, how string) {
	baseline := goroutineIDs()
	rec := &Recorder{}
	emit := rec.Emit
	var offered <-chan struct{}
	if how == "emit_blocked" {
		emit, offered, _ = blockingEmit(false)
	}
	r := start(t, h, rec, emit)
	waitState(t, h, rec, point.StateUp, 1)
	switch how {
	case "flowing":
		good := h.Good(t)
		waitFor(t, h, "a good value", func() bool { return emitted(rec, 0, good) })
	case "emit_blocked":
		h.Good(t)
		select {
		case <-offered:
		case <-time.After(h.Wait):
			t.Fatalf("emit was not called within %s", h.Wait)
		}
	case "server_down":
		stopped := time.Now()
		h.Stop(t)
		waitState(t, h, rec, point.StateDown, 1)
		t.Logf("down reported %s after the stop began", time.Since(stopped).Round(time.Millisecond))
		defer func() {
			began := time.Now()
			h.Start(t)
			t.Logf("server started again in %s", time.Since(began).Round(time.Millisecond))
		}()
	}
	took := r.stop(t, h)
	t.Logf("Run returned %s after cancel", took.Round(time.Millisecond))
	if t.Failed() {
		return
	}
	if s := rec.States(); how != "server_down" && s[len(s)-1].State != point.StateUp {
		t.Errorf("last state %s, want up: a stop is not a lost connection", s[len(s)-1])
	}
	if leaks := waitLeaks(baseline, h.Frames, 5*time.Second); len(leaks) > 0 {
		t.Fatalf("%d goroutines of the source outlive Run:\n%s", len(leaks), strings.Join(leaks, "\n\n"))
	}
}
