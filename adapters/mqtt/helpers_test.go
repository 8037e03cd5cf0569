package mqtt

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ganlink/ganlink/gateway/point"
)

// recorder is an Observer that keeps everything it is told.
type recorder struct {
	mu       sync.Mutex
	states   []string
	errs     []string
	dead     []string
	received int
}

func (r *recorder) State(source string, s point.State, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := ""
	if err != nil {
		e = ": " + err.Error()
	}
	r.states = append(r.states, s.String()+e)
}

func (r *recorder) SignalError(source, device, signal, reason string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf("%s|%s|%s|%s|%v", source, device, signal, reason, err))
}

func (r *recorder) Received(source string, fields int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.received += fields
}

func (r *recorder) DeadLetter(source string, dl point.DeadLetter, payload []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dead = append(r.dead, fmt.Sprintf("%s|%s|%s|%s|%d|%q", source, dl.Device, dl.Origin, dl.Reason, dl.Problems, payload))
}

func (r *recorder) deadLetters() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.dead...)
}

func (r *recorder) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

func (r *recorder) stateNames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.states {
		name, _, _ := strings.Cut(s, ":")
		out = append(out, name)
	}
	return out
}

func (r *recorder) allStates() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.states...)
}

func (r *recorder) receivedFields() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.received
}

// testMsg is a received message for decoder and batcher tests.
type testMsg struct {
	topic   string
	payload []byte
	qos     byte
	acked   atomic.Bool
}

func (m *testMsg) Topic() string   { return m.topic }
func (m *testMsg) Payload() []byte { return m.payload }
func (m *testMsg) Qos() byte       { return m.qos }
func (m *testMsg) Ack()            { m.acked.Store(true) }

// formatPoint renders a point compactly for exact comparisons.
func formatPoint(p point.Point) string {
	var b strings.Builder
	b.WriteString(p.Measurement)
	for _, t := range p.Tags {
		fmt.Fprintf(&b, ",%s=%s", t.Key, t.Value)
	}
	fmt.Fprintf(&b, " device=%s", p.Device)
	for _, f := range p.Fields {
		fmt.Fprintf(&b, " %s=%v", f.Key, f.Value)
		if f.Quality != point.Good {
			fmt.Fprintf(&b, "(%s)", f.Quality)
		}
	}
	fmt.Fprintf(&b, " %d", p.Time)
	return b.String()
}
