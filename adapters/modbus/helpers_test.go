package modbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

var errEmitRefused = errors.New("queue refused")

// recorder is the Observer and emit function of the tests: it keeps everything it gets.
type recorder struct {
	mu      sync.Mutex
	states  []string // "up", "down: <err>", ...
	errs    []string // "device|signal|reason|err"
	dead    []string // "device|origin|reason|problems|payload"
	recv    int
	batches []point.Batch
	// holdEmit makes emit wait as long as it returns for the 1-based call number (as the
	// pipeline does while a queue refuses the batch), or until ctx ends: then emit
	// returns ctx's error and keeps nothing.
	holdEmit func(call int) time.Duration
	// refuseEmit makes emit fail at once (keeping nothing) while it returns true, as an
	// emit breaking its contract would.
	refuseEmit func(call int) bool
	calls      int
}

func (r *recorder) State(source string, s point.State, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := s.String()
	if err != nil {
		e += ": " + err.Error()
	}
	r.states = append(r.states, e)
}

func (r *recorder) SignalError(source, device, signal, reason string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf("%s|%s|%s|%v", device, signal, reason, err))
}

func (r *recorder) DeadLetter(source string, dl point.DeadLetter, payload []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dead = append(r.dead, fmt.Sprintf("%s|%s|%s|%d|%s", dl.Device, dl.Origin, dl.Reason, dl.Problems, payload))
}

func (r *recorder) Received(source string, fields int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recv += fields
}

func (r *recorder) emit(ctx context.Context, b point.Batch) error {
	r.mu.Lock()
	r.calls++
	if r.refuseEmit != nil && r.refuseEmit(r.calls) {
		r.mu.Unlock()
		return errEmitRefused
	}
	var hold time.Duration
	if r.holdEmit != nil {
		hold = r.holdEmit(r.calls)
	}
	r.mu.Unlock()
	if hold > 0 {
		t := time.NewTimer(hold)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, b)
	return nil
}

// points returns the emitted points of device in order.
func (r *recorder) points(device string) []point.Point {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []point.Point
	for _, b := range r.batches {
		for _, p := range b {
			if p.Device == device {
				out = append(out, p)
			}
		}
	}
	return out
}

func (r *recorder) last(device string) (point.Point, bool) {
	ps := r.points(device)
	if len(ps) == 0 {
		return point.Point{}, false
	}
	return ps[len(ps)-1], true
}

func (r *recorder) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

func (r *recorder) stateList() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.states...)
}

// stateNames returns the states without their errors.
func (r *recorder) stateNames() []string {
	var out []string
	for _, s := range r.stateList() {
		name, _, _ := strings.Cut(s, ":")
		out = append(out, name)
	}
	return out
}

func (r *recorder) batchCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.batches)
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fieldString renders fields compactly for exact comparisons: "a=1 b=bad".
func fieldString(fs []point.Field) string {
	var b strings.Builder
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch f.Quality {
		case point.Good:
			fmt.Fprintf(&b, "%s=%v", f.Key, f.Value)
		default:
			fmt.Fprintf(&b, "%s=%s", f.Key, f.Quality)
		}
	}
	return b.String()
}

// run starts s.Run with rec as emit and returns a stop function that cancels it and
// waits for Run to return, failing the test if that takes longer than limit.
func run(t *testing.T, s *Source, rec *recorder, limit time.Duration) (stop func() time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, rec.emit) }()
	var once sync.Once
	var took time.Duration
	stop = func() time.Duration {
		once.Do(func() {
			start := time.Now()
			cancel()
			select {
			case err := <-done:
				took = time.Since(start)
				if err != nil {
					t.Errorf("Run returned %v", err)
				}
			case <-time.After(limit):
				t.Fatalf("Run did not return within %s of cancel", limit)
			}
		})
		return took
	}
	t.Cleanup(func() { stop() })
	return stop
}

// fastConfig returns a quickly reacting config for url with the given devices.
func fastConfig(url string, devs ...Device) Config {
	return Config{
		Name:         "meters",
		Endpoint:     url,
		Timeout:      500 * time.Millisecond,
		ReconnectMin: 20 * time.Millisecond,
		ReconnectMax: 200 * time.Millisecond,
		MaxGap:       DefaultMaxGap,
		Devices:      devs,
	}
}

var meterTags = []point.Tag{{Key: "device", Value: "em1"}, {Key: "kind", Value: "energy_meter"}}

func newSource(t *testing.T, cfg Config, rec *recorder) *Source {
	t.Helper()
	s, err := New(cfg, rec, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}
