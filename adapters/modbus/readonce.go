package modbus

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
	// Value is the decoded, scaled and mapped field as the running source would emit
	// it; meaningful only when OK.
	Value point.Field
	OK    bool
	Time  time.Time
	// Err and Reason say why the signal has no value (an exception, a timeout, a value
	// that does not decode).
	Err    error
	Reason string
}

// ReadOnce opens the line of cfg, polls every device once with the reads and the
// decoding the running source uses, and returns one result per signal in
// configuration order. A signal whose read fails or whose value does not decode gets
// its own error; the error returned is the line's (it could not be opened, or the
// connection was lost) or ctx's.
func ReadOnce(ctx context.Context, cfg Config) ([]ReadResult, error) {
	rec := &firsterr.Recorder{}
	s, err := New(cfg, rec, nil)
	if err != nil {
		return nil, err
	}
	c, closeConn, err := s.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("read once on %s: %w", cfg.Endpoint, err)
	}
	defer closeConn()
	var out []ReadResult
	for i := range s.devices {
		d := &s.devices[i]
		p, ok, err := s.poll(ctx, c, d, &pollState{})
		if err != nil {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		got := map[string]point.Field{}
		if ok {
			for _, f := range p.Fields {
				got[f.Key] = f
			}
		}
		for _, sg := range d.sigs {
			r := ReadResult{Device: d.cfg.Device, Field: sg.cfg.Field, Time: time.Unix(0, p.Time).UTC()}
			if e, bad := rec.Get(d.cfg.Device, sg.cfg.Field); bad {
				r.Err, r.Reason = e.Err, e.Reason
			}
			if f, has := got[sg.cfg.Field]; has {
				r.Value = f
				r.OK = f.Quality != point.Bad && r.Err == nil
			}
			if !r.OK && r.Err == nil {
				r.Err, r.Reason = fmt.Errorf("read signal %q of device %q: no value", sg.cfg.Field, d.cfg.Device), "no_value"
			}
			out = append(out, r)
		}
	}
	return out, nil
}
