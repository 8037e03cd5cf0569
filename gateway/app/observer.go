package app

import (
	"log/slog"
	"sync"
	"time"

	"github.com/ganlink/ganlink/adapters/mqtt"
	"github.com/ganlink/ganlink/adapters/opcua"
	"github.com/ganlink/ganlink/gateway/deadletter"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/status"
	"github.com/prometheus/client_golang/prometheus"
)

// observer implements point.Observer for every source: metrics plus throttled logs.
type observer struct {
	log *slog.Logger

	up       *prometheus.GaugeVec
	changes  *prometheus.CounterVec
	received *prometheus.CounterVec
	errors   *prometheus.CounterVec
	failures *prometheus.CounterVec

	dead *deadletter.Store // nil: dead letters are not kept

	mu       sync.Mutex
	states   map[string]sourceState
	devErrs  map[string]status.DeviceError // newest signal error by device id
	lastWarn map[string]time.Time
	onState  func(source string, s point.State)
}

type sourceState struct {
	State     point.State
	Err       string
	Since     time.Time
	EverUp    bool
	Errors    uint64
	LastError string
}

func newObserver(reg prometheus.Registerer, log *slog.Logger) *observer {
	o := &observer{
		log: log,
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ganlink_source_up",
			Help: "1 while the source's session is established, 0 otherwise."}, []string{"source"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ganlink_source_state_changes_total",
			Help: "Connection state changes of the source, by new state."}, []string{"source", "state"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ganlink_source_fields_received_total",
			Help: "Field values the source handed to the pipeline."}, []string{"source"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricSignalErrors,
			Help: "Values or messages a source could not turn into fields, by device and reason (decode, type, nan, missing, too_large, unbound, node_unknown, ...)."},
			[]string{"source", "device", "reason"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ganlink_source_connect_failures_total",
			Help: "Failed connection attempts of the source, by reason (untrusted_certificate, security_rejected, login_refused, no_endpoint, malformed_message, other)."},
			[]string{"source", "reason"}),
		states:   map[string]sourceState{},
		devErrs:  map[string]status.DeviceError{},
		lastWarn: map[string]time.Time{},
	}
	reg.MustRegister(o.up, o.changes, o.received, o.errors, o.failures)
	return o
}

func (o *observer) register(source string) {
	o.mu.Lock()
	o.states[source] = sourceState{State: point.StateConnecting, Since: time.Now()}
	o.mu.Unlock()
	o.up.WithLabelValues(source).Set(0)
	o.received.WithLabelValues(source)
}

// State implements point.Observer.
func (o *observer) State(source string, s point.State, err error) {
	o.mu.Lock()
	st := o.states[source]
	prev := st.State
	st.State, st.Since, st.Err = s, time.Now(), ""
	if err != nil {
		st.Err = err.Error()
	}
	if s == point.StateUp {
		st.EverUp = true
	}
	o.states[source] = st
	cb := o.onState
	o.mu.Unlock()
	o.changes.WithLabelValues(source, s.String()).Inc()
	if s == point.StateUp {
		o.up.WithLabelValues(source).Set(1)
	} else {
		o.up.WithLabelValues(source).Set(0)
	}
	if s == point.StateDown && err != nil {
		o.failures.WithLabelValues(source, failureReason(err)).Inc()
	}
	switch {
	case s == point.StateDown:
		o.log.Warn("source down", "source", source, "err", err)
	case s == point.StateUp:
		o.log.Info("source up", "source", source)
	case prev == point.StateDown:
		o.log.Debug("source reconnecting", "source", source)
	}
	if cb != nil {
		cb(source, s)
	}
}

// maxDeviceErrors bounds the devices whose newest signal error is kept for the status
// page (the configured devices are far fewer).
const maxDeviceErrors = 10000

// deviceError returns the newest signal error reported for device id.
func (o *observer) deviceError(id string) (status.DeviceError, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	de, ok := o.devErrs[id]
	return de, ok
}

// maxErrorText bounds an error's text in logs and on the status page: a source may
// quote what a device sent, and a device may send a megabyte.
const maxErrorText = 512

// SignalError implements point.Observer; logs are throttled to one per minute per
// (source, device, signal, reason), the counter counts every occurrence. The error text
// is cut to maxErrorText bytes.
func (o *observer) SignalError(source, device, signal, reason string, err error) {
	o.errors.WithLabelValues(source, device, reason).Inc()
	key := source + "\x00" + device + "\x00" + signal + "\x00" + reason
	now := time.Now()
	text := ""
	if err != nil {
		text = point.Truncate(err.Error(), maxErrorText)
	}
	o.mu.Lock()
	st := o.states[source]
	st.Errors++
	if err != nil {
		st.LastError = text
	}
	o.states[source] = st
	if _, known := o.devErrs[device]; device != "" && (known || len(o.devErrs) < maxDeviceErrors) {
		o.devErrs[device] = status.DeviceError{Reason: reason, Error: text, Time: now}
	}
	last, seen := o.lastWarn[key]
	log := !seen || now.Sub(last) >= time.Minute
	if log {
		if len(o.lastWarn) > 10000 {
			clear(o.lastWarn)
		}
		o.lastWarn[key] = now
	}
	o.mu.Unlock()
	if log {
		o.log.Warn("signal error", "source", source, "device", device, "signal", signal, "reason", reason, "err", text)
	}
}

// DeadLetter implements point.Observer.
func (o *observer) DeadLetter(source string, dl point.DeadLetter, payload []byte) {
	if o.dead == nil {
		return
	}
	e := deadletter.Entry{Source: source, Device: dl.Device, Origin: dl.Origin, Reason: dl.Reason, Problems: dl.Problems}
	if dl.Err != nil {
		e.Error = dl.Err.Error()
	}
	o.dead.Add(e, payload)
}

// Received implements point.Observer.
func (o *observer) Received(source string, fields int) {
	o.received.WithLabelValues(source).Add(float64(fields))
}

func (o *observer) snapshot() map[string]sourceState {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]sourceState, len(o.states))
	for k, v := range o.states {
		out[k] = v
	}
	return out
}

// failureReason classifies a source's connection failure for
// ganlink_source_connect_failures_total.
func failureReason(err error) string {
	if r := opcua.FailureReason(err); r != "" {
		return r
	}
	if r := mqtt.FailureReason(err); r != "" {
		return r
	}
	return "other"
}
