package mqtt

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ganlink/ganlink/adapters/internal/firsterr"
	"github.com/ganlink/ganlink/gateway/point"
)

// ReadResult is one signal read once by ReadOnce.
type ReadResult struct {
	Device, Field string
	// Topic is the topic of the message the value came from.
	Topic string
	// Value is the decoded, scaled and mapped value as the running source would emit
	// it; meaningful only when OK. Time is the point time (the payload's timestamp, or
	// the receive time).
	Value float64
	OK    bool
	Time  time.Time
	// Err and Reason say why the signal has no value: no message within the wait, a
	// path not found, a value that does not decode.
	Err    error
	Reason string
}

// ReadOnce subscribes to the topics of cfg's bindings (as connectOnce: a clean session
// of its own, QoS 0, so retained messages arrive at once) and decodes, for each binding,
// the first message on its topic with the decoder the running source uses. It waits at
// most wait for the bindings that have had no message; their signals then get an
// error saying so. One result per field, in binding and field order. The error
// returned is the connection's (or ctx's).
func ReadOnce(ctx context.Context, cfg Config, wait time.Duration) ([]ReadResult, error) {
	cfg = cfg.withDefaults() // the bindings were checked by BuildConfig
	in := make(chan inbound, 256)
	stop := make(chan struct{})
	ss, err := connectOnce(ctx, cfg, func(m inbound) {
		select {
		case in <- m:
		case <-stop:
		}
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		close(stop) // releases a reader waiting to hand a message over
		ss.close(true)
	}()
	rec := &firsterr.Recorder{}
	d := newDecoder(&cfg, rec)
	results := make([][]ReadResult, len(d.bindings))
	pending := len(d.bindings)
	t := time.NewTimer(wait)
	defer t.Stop()
	for pending > 0 {
		var it inbound
		select {
		case it = <-in:
		case <-t.C:
			pending = 0
			continue
		case err := <-ss.lost:
			return nil, fmt.Errorf("lose connection to broker %q: %w", cfg.Broker, err)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		topic, payload := strings.Clone(it.topic), it.payload
		for bi := range d.bindings {
			b := &d.bindings[bi]
			if results[bi] != nil || !matchTopic(b.Topic, topic) {
				continue
			}
			pending--
			rec.Reset()
			fields, ts := d.decode(nil, b, topic, payload, it.size, it.recv)
			got := map[string]point.Field{}
			for _, f := range fields {
				got[f.Key] = f
			}
			for _, f := range b.Fields {
				r := ReadResult{Device: b.Device, Field: f.Field, Topic: topic, Time: time.Unix(0, ts).UTC()}
				if v, ok := got[f.Field]; ok {
					r.Value, r.OK = v.Value, true
				} else if e, ok := rec.Get(b.Device, f.Field); ok {
					r.Err, r.Reason = e.Err, e.Reason
				} else if e, ok := rec.Get(b.Device, ""); ok { // the whole message failed
					r.Err, r.Reason = e.Err, e.Reason
				} else {
					r.Err, r.Reason = fmt.Errorf("decode topic %q device %q field %q: no value", topic, b.Device, f.Field), "missing"
				}
				results[bi] = append(results[bi], r)
			}
			if results[bi] == nil {
				results[bi] = []ReadResult{}
			}
		}
	}
	var out []ReadResult
	for bi := range d.bindings {
		b := &d.bindings[bi]
		if results[bi] == nil {
			for _, f := range b.Fields {
				out = append(out, ReadResult{Device: b.Device, Field: f.Field, Reason: "no_message",
					Err: fmt.Errorf("no message on topic %q within %s", b.Topic, wait.Round(100*time.Millisecond))})
			}
			continue
		}
		out = append(out, results[bi]...)
	}
	return out, nil
}
