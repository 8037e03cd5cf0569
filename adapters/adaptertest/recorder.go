package adaptertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

// StateEvent is one point.Observer.State call.
type StateEvent struct {
	State point.State
	Err   error
}

// String renders the event as "up", "connecting" or "down: <error>".
func (e StateEvent) String() string {
	if e.Err != nil {
		return e.State.String() + ": " + e.Err.Error()
	}
	return e.State.String()
}

// SignalEvent is one point.Observer.SignalError call.
type SignalEvent struct {
	Source, Device, Signal, Reason string
	Err                            error
}

// String renders the event as "source|device|signal|reason|error".
func (e SignalEvent) String() string {
	return fmt.Sprintf("%s|%s|%s|%s|%v", e.Source, e.Device, e.Signal, e.Reason, e.Err)
}

// ErrEmitRefused is what Recorder.Emit returns while FailEmit says so.
var ErrEmitRefused = errors.New("queue full")

// Recorder is a point.Observer and an emit function for tests: it keeps every report and
// every batch it is given. The zero value is ready to use; it is safe for concurrent use.
type Recorder struct {
	// FailEmit, when set, makes Emit return ErrEmitRefused (and keep nothing) for the
	// calls for which it returns true; call is the 1-based number of the Emit call. It
	// is called with the Recorder's lock held.
	FailEmit func(call int) bool
	// HoldEmit, when set, makes Emit wait as long as it returns for the 1-based call
	// number (as the pipeline does while a queue refuses the batch), or until ctx ends:
	// then Emit returns ctx's error and keeps nothing. It is called with the lock held.
	HoldEmit func(call int) time.Duration

	mu       sync.Mutex
	states   []StateEvent
	signals  []SignalEvent
	dead     []string
	received int
	batches  []point.Batch
	calls    int
}

var _ point.Observer = (*Recorder)(nil)

// State implements point.Observer.
func (r *Recorder) State(_ string, s point.State, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, StateEvent{s, err})
}

// SignalError implements point.Observer.
func (r *Recorder) SignalError(source, device, signal, reason string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.signals = append(r.signals, SignalEvent{source, device, signal, reason, err})
}

// Received implements point.Observer.
func (r *Recorder) Received(_ string, fields int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.received += fields
}

// DeadLetter implements point.Observer; the letter is kept as
// "source|device|origin|reason|problems|<payload quoted>".
func (r *Recorder) DeadLetter(source string, dl point.DeadLetter, payload []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dead = append(r.dead, fmt.Sprintf("%s|%s|%s|%s|%d|%q", source, dl.Device, dl.Origin, dl.Reason, dl.Problems, payload))
}

// Emit is a point.EmitFunc that keeps b unless FailEmit refuses the call, after
// waiting as HoldEmit says.
func (r *Recorder) Emit(ctx context.Context, b point.Batch) error {
	r.mu.Lock()
	r.calls++
	if r.FailEmit != nil && r.FailEmit(r.calls) {
		r.mu.Unlock()
		return ErrEmitRefused
	}
	var hold time.Duration
	if r.HoldEmit != nil {
		hold = r.HoldEmit(r.calls)
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

// States returns the state reports in order.
func (r *Recorder) States() []StateEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]StateEvent(nil), r.states...)
}

// StateStrings returns the state reports rendered by StateEvent.String.
func (r *Recorder) StateStrings() []string {
	var out []string
	for _, e := range r.States() {
		out = append(out, e.String())
	}
	return out
}

// StateNames returns the reported states without their errors.
func (r *Recorder) StateNames() []string {
	var out []string
	for _, s := range r.StateList() {
		out = append(out, s.String())
	}
	return out
}

// StateList returns the reported states in order.
func (r *Recorder) StateList() []point.State {
	var out []point.State
	for _, e := range r.States() {
		out = append(out, e.State)
	}
	return out
}

// DownErrors returns the errors of the down reports in order.
func (r *Recorder) DownErrors() []error {
	var out []error
	for _, e := range r.States() {
		if e.State == point.StateDown && e.Err != nil {
			out = append(out, e.Err)
		}
	}
	return out
}

// Signals returns the signal errors in order.
func (r *Recorder) Signals() []SignalEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]SignalEvent(nil), r.signals...)
}

// Errors returns the signal errors rendered by SignalEvent.String.
func (r *Recorder) Errors() []string {
	var out []string
	for _, e := range r.Signals() {
		out = append(out, e.String())
	}
	return out
}

// DeadLetters returns the dead letters in order (see DeadLetter for the format).
func (r *Recorder) DeadLetters() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.dead...)
}

// ReceivedFields returns the sum of the Received reports.
func (r *Recorder) ReceivedFields() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.received
}

// Calls returns how often Emit was called, refused calls included.
func (r *Recorder) Calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// Batches returns the kept batches in order.
func (r *Recorder) Batches() []point.Batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]point.Batch(nil), r.batches...)
}

// BatchCount returns how many batches were kept.
func (r *Recorder) BatchCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.batches)
}

// FieldCount returns how many fields the kept batches hold.
func (r *Recorder) FieldCount() int {
	n := 0
	for _, b := range r.Batches() {
		n += b.Fields()
	}
	return n
}

// Points returns the kept points of device in order.
func (r *Recorder) Points(device string) []point.Point {
	return r.match(func(p point.Point) bool { return p.Device == device })
}

// Last returns the last kept point of device.
func (r *Recorder) Last(device string) (point.Point, bool) {
	return last(r.Points(device))
}

// FieldPoints returns the kept points of device that carry exactly one field, key, in
// order (the shape of OPC UA points).
func (r *Recorder) FieldPoints(device, key string) []point.Point {
	return r.match(func(p point.Point) bool {
		return p.Device == device && len(p.Fields) == 1 && p.Fields[0].Key == key
	})
}

// LastField returns the last point FieldPoints(device, key) would return.
func (r *Recorder) LastField(device, key string) (point.Point, bool) {
	return last(r.FieldPoints(device, key))
}

func (r *Recorder) match(keep func(point.Point) bool) []point.Point {
	var out []point.Point
	for _, b := range r.Batches() {
		for _, p := range b {
			if keep(p) {
				out = append(out, p)
			}
		}
	}
	return out
}

func last(ps []point.Point) (point.Point, bool) {
	if len(ps) == 0 {
		return point.Point{}, false
	}
	return ps[len(ps)-1], true
}
