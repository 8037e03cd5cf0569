package dlt645

import (
	"context"
	"fmt"
	"time"

	"github.com/ganlink/ganlink/adapters/internal/firsterr"
	"github.com/ganlink/ganlink/gateway/point"
)

// ReadResult is one signal read once by ReadOnce.
type ReadResult struct {
	Device, Field string
	// Value is the decoded, scaled and mapped value as the running source would emit
	// it; meaningful only when OK.
	Value float64
	OK    bool
	Time  time.Time
	// Err and Reason say why the signal has no value (a timeout, an exception, a value
	// that does not decode).
	Err    error
	Reason string
}

// ReadOnce opens the line of cfg, polls every meter once with the requests and the
// decoding the running source uses, and returns one result per signal in
// configuration order. A signal that is not answered or does not decode gets its own
// error; the error returned is the line's (or ctx's).
func ReadOnce(ctx context.Context, cfg Config) ([]ReadResult, error) {
	rec := &firsterr.Recorder{}
	s, err := New(cfg, rec, nil)
	if err != nil {
		return nil, err
	}
	if err := s.bus.Open(ctx); err != nil {
		return nil, err
	}
	defer s.bus.Close()
	var out []ReadResult
	for i := range s.devices {
		d := &s.devices[i]
		p, ok, err := s.poll(ctx, d)
		if err != nil {
			return nil, err
		}
		got := map[string]point.Field{}
		if ok {
			for _, f := range p.Fields {
				got[f.Key] = f
			}
		}
		for _, sg := range d.cfg.Signals {
			r := ReadResult{Device: d.cfg.Device, Field: sg.Field, Time: time.Unix(0, p.Time).UTC()}
			if e, bad := rec.Get(d.cfg.Device, sg.Field); bad {
				r.Err, r.Reason = e.Err, e.Reason
			} else if f, has := got[sg.Field]; has && f.Quality != point.Bad {
				r.Value, r.OK = f.Value, true
			} else {
				r.Err, r.Reason = fmt.Errorf("read signal %q of device %q: no value", sg.Field, d.cfg.Device), "no_value"
			}
			out = append(out, r)
		}
	}
	return out, nil
}
