// Package firsterr keeps the first signal error a source reports for each device and
// signal while it polls or decodes once for a commissioning read, so that every signal
// can be given its own error line. The zero Recorder is ready to use.
package firsterr

import "github.com/ganlink/ganlink/gateway/point"

// Error is a signal's first error and its reason label.
type Error struct {
	Err    error
	Reason string
}

type key struct{ device, signal string }

// Recorder is a point.Observer that keeps only the signal errors.
type Recorder struct {
	point.NopObserver
	errs map[key]Error
}

// SignalError implements point.Observer: the first error of each device and signal is
// kept (signal "" for an error of the device's whole message).
func (r *Recorder) SignalError(_, device, signal, reason string, err error) {
	if r.errs == nil {
		r.errs = map[key]Error{}
	}
	k := key{device, signal}
	if _, ok := r.errs[k]; !ok {
		r.errs[k] = Error{Err: err, Reason: reason}
	}
}

// Get returns the first error of device and signal.
func (r *Recorder) Get(device, signal string) (Error, bool) {
	e, ok := r.errs[key{device, signal}]
	return e, ok
}

// Reset forgets every error.
func (r *Recorder) Reset() { clear(r.errs) }
