package dlt645

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ganlink/ganlink/adapters/internal/reconnect"
	"github.com/ganlink/ganlink/adapters/internal/serialline"
	"github.com/ganlink/ganlink/gateway/point"
)

// Reasons of Observer.SignalError (the reason label of
// ganlink_source_signal_errors_total): a bounded set.
const (
	ReasonTimeout   = "timeout"          // no complete reply within the response timeout
	ReasonChecksum  = "checksum"         // a reply with a bad checksum
	ReasonFrame     = "frame"            // a malformed reply, or a reply that is not the answer
	ReasonAddress   = "address"          // a reply from another meter address
	ReasonException = "exception"        // the meter answered with an exception reply
	ReasonFollowing = "following_frames" // a reply split over several frames
	ReasonBCD       = "bcd"              // a value that is not BCD or not of its format's length
	ReasonNaN       = "nan"              // a value that overflows when scaled
)

// Source polls the meters of one DL/T 645 bus and hands one point per meter and poll to
// the pipeline. It is built by New and started by Run; Run must not be called
// concurrently with itself.
type Source struct {
	cfg     Config
	obs     point.Observer
	log     *slog.Logger
	bus     *serialline.Bus
	devices []device
	warn    reconnect.Warner
	buf     []byte

	requests atomic.Int64
}

type device struct {
	cfg  *Device
	reqs [][]byte // the read request of each signal
	next time.Time
	// silent counts the polls in a row the meter did not answer; down is set once
	// that was logged.
	silent int
	down   bool
}

// silentPolls is how many polls in a row without an answer make a meter logged as
// not answering (its signals are reported at every poll regardless).
const silentPolls = 3

// New validates cfg and builds a Source. It opens nothing. obs and log may be nil.
func New(cfg Config, obs point.Observer, log *slog.Logger) (*Source, error) {
	cfg.Devices = slices.Clone(cfg.Devices)
	for i := range cfg.Devices {
		cfg.Devices[i].Signals = slices.Clone(cfg.Devices[i].Signals)
	}
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validate config of dlt645 source %q: %w", cfg.Name, err)
	}
	if obs == nil {
		obs = point.NopObserver{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Source{cfg: cfg, obs: obs, log: log, bus: serialline.NewBus(cfg.Line),
		devices: make([]device, len(cfg.Devices)), buf: make([]byte, 0, MaxFrame+maxPreamble),
		warn: reconnect.Warner{Log: log, Protocol: "dlt645", Endpoint: cfg.Line.Endpoint}}
	for i := range s.cfg.Devices {
		d := &s.devices[i]
		d.cfg = &s.cfg.Devices[i]
		for _, sg := range d.cfg.Signals {
			f := ReadDataRequest(d.cfg.Address, sg.DI)
			d.reqs = append(d.reqs, f.Encode())
		}
	}
	return s, nil
}

// Requests returns the number of requests sent so far.
func (s *Source) Requests() int64 { return s.requests.Load() }

// Run opens the line, polls the meters and emits their points until ctx is done; it
// then closes the line and returns nil. A line failure (the serial port vanished, the
// serial server closed the connection) never ends Run: it reports point.StateDown and
// reopens the line with capped exponential backoff. A meter that does not answer is
// not a line failure: its signals are reported and flagged, the others keep flowing.
func (s *Source) Run(ctx context.Context, emit point.EmitFunc) error {
	bo := reconnect.Backoff{Min: s.cfg.ReconnectMin, Max: s.cfg.ReconnectMax}
	reconnect.Loop(ctx, &bo, &s.warn,
		func(st point.State, err error) { s.obs.State(s.cfg.Name, st, err) },
		func(ctx context.Context) (bool, error) { return s.session(ctx, emit) })
	s.bus.Close()
	s.log.Info("dlt645 source stopped", "endpoint", s.cfg.Line.Endpoint)
	return nil
}

// session opens the line and polls through it until ctx is done (nil error) or the
// line fails.
func (s *Source) session(ctx context.Context, emit point.EmitFunc) (up bool, err error) {
	if err := s.bus.Open(ctx); err != nil {
		return false, err
	}
	defer s.bus.Close()
	s.obs.State(s.cfg.Name, point.StateUp, nil)
	s.log.Info("dlt645 line open", "line", s.cfg.Line.String())
	now := time.Now()
	for i := range s.devices {
		s.devices[i].next = now
	}
	for {
		next := s.devices[0].next
		for i := range s.devices[1:] {
			if t := s.devices[i+1].next; t.Before(next) {
				next = t
			}
		}
		if wait := time.Until(next); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return true, nil
			case <-t.C:
			}
		}
		var batch point.Batch
		var lineErr error
		now := time.Now()
		for i := range s.devices {
			d := &s.devices[i]
			if d.next.After(now) {
				continue
			}
			p, ok, err := s.poll(ctx, d)
			d.advance(time.Now())
			if err != nil {
				lineErr = err
				break
			}
			if ok {
				batch = append(batch, p)
			}
		}
		if ctx.Err() != nil {
			return true, nil
		}
		if len(batch) > 0 {
			s.obs.Received(s.cfg.Name, batch.Fields())
			if err := emit(ctx, batch); err != nil {
				if ctx.Err() != nil {
					return true, nil
				}
				return true, fmt.Errorf("emit: %w", err)
			}
		}
		if lineErr != nil {
			return true, lineErr
		}
	}
}

// advance schedules the next poll on the device's grid, skipping the slots that
// already passed.
func (d *device) advance(now time.Time) {
	iv := d.cfg.PollInterval
	d.next = d.next.Add(iv)
	if !d.next.After(now) {
		d.next = d.next.Add((now.Sub(d.next)/iv + 1) * iv)
	}
}

// poll reads every signal of d, one request each, and builds the meter's point. A
// non-nil error is a line failure (or ctx ended). After a timeout the meter's
// remaining requests of this poll are not sent: a dead meter costs one response
// timeout per poll.
func (s *Source) poll(ctx context.Context, d *device) (point.Point, bool, error) {
	t := time.Now().UnixMilli() * int64(time.Millisecond)
	fields := make([]point.Field, 0, len(d.cfg.Signals))
	var skip error
	for i := range d.cfg.Signals {
		sg := &d.cfg.Signals[i]
		if skip != nil {
			s.fail(d, sg, ReasonTimeout, fmt.Errorf("not sent: %w", skip), nil)
			fields = append(fields, point.Field{Key: sg.Field, Quality: point.Bad})
			continue
		}
		v, raw, err := s.read(ctx, d, sg, d.reqs[i])
		if ctx.Err() != nil {
			return point.Point{}, false, ctx.Err()
		}
		var le *serialline.LineError
		if errors.As(err, &le) {
			return point.Point{}, false, err
		}
		if err != nil {
			reason := reasonOf(err)
			if reason == ReasonTimeout {
				skip = err
			}
			s.fail(d, sg, reason, err, raw)
			if reason != ReasonNaN {
				fields = append(fields, point.Field{Key: sg.Field, Quality: point.Bad})
			}
			continue
		}
		fields = append(fields, point.Field{Key: sg.Field, Value: v})
	}
	s.track(d, skip)
	if len(fields) == 0 {
		return point.Point{}, false, nil
	}
	return point.Point{Measurement: d.cfg.Measurement, Device: d.cfg.Device, Tags: d.cfg.Tags,
		Fields: fields, Time: t}, true, nil
}

// track logs a meter that stopped answering (timeout is the poll's timeout, nil when
// the meter answered) and one that answers again.
func (s *Source) track(d *device, timeout error) {
	if timeout == nil {
		if d.down {
			s.log.Info("dlt645 meter answers again", "device", d.cfg.Device, "meter", d.cfg.Address.String())
		}
		d.silent, d.down = 0, false
		return
	}
	if d.silent++; d.silent >= silentPolls && !d.down {
		d.down = true
		s.log.Warn("dlt645 meter not answering; polling it on", "device", d.cfg.Device,
			"meter", d.cfg.Address.String(), "polls", d.silent, "err", timeout)
	}
}

// testHookDecode, when set, is called before each reply is decoded (tests inject a
// panic through it).
var testHookDecode func(device string)

// errInternal marks a panic raised while a reply was decoded.
var errInternal = errors.New("internal error while decoding the reply")

// read sends one read request and decodes the reply to the signal's value. raw holds
// the reply's bytes when there was a reply. A panic while decoding (a decoder bug some
// reply reaches) is contained: the read fails with reason "internal" and the source
// polls on.
func (s *Source) read(ctx context.Context, d *device, sg *Signal, req []byte) (v float64, raw []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = 0, fmt.Errorf("%w: %v", errInternal, r)
		}
	}()
	s.requests.Add(1)
	var value []byte
	err = s.bus.Transact(ctx, req, func(r io.Reader) error {
		for {
			f, b, err := ReadFrame(r, s.buf)
			raw = slices.Clone(b)
			if err != nil {
				return err
			}
			if testHookDecode != nil {
				testHookDecode(d.cfg.Device)
			}
			// A two-wire adapter that hears its own request: skip the echo.
			if !f.IsReply() && f.Addr == d.cfg.Address && f.Control == CtrlReadData {
				continue
			}
			value, err = ParseReadData(&f, d.cfg.Address, sg.DI)
			if err != nil {
				return err
			}
			value = slices.Clone(value)
			return nil
		}
	})
	if err != nil {
		return 0, raw, err
	}
	x, err := sg.Format.Decode(value)
	if err != nil {
		return 0, raw, err
	}
	y, err := sg.Conv.Scaled(x)
	if err != nil {
		return 0, raw, fmt.Errorf("%w: %w", errNaN, err)
	}
	return y, raw, nil
}

var errNaN = errors.New("value not usable")

// reasonOf sorts a read's error into its bounded reason.
func reasonOf(err error) string {
	var ce *ChecksumError
	var ae *AddressError
	var ee *ExceptionError
	var be *BCDError
	var le *formatLengthError
	switch {
	case errors.Is(err, errInternal):
		return point.ReasonInternal
	case errors.Is(err, serialline.ErrTimeout), errors.Is(err, io.ErrUnexpectedEOF):
		return ReasonTimeout
	case errors.As(err, &ce):
		return ReasonChecksum
	case errors.As(err, &ae):
		return ReasonAddress
	case errors.As(err, &ee):
		return ReasonException
	case errors.Is(err, ErrFollowingFrames):
		return ReasonFollowing
	case errors.Is(err, errNaN):
		return ReasonNaN
	case errors.As(err, &be), errors.As(err, &le):
		return ReasonBCD
	}
	return ReasonFrame
}

// fail reports a signal whose read failed, naming the device, the meter address, the
// data identifier and the cause; a reply that arrived is kept as a dead letter.
func (s *Source) fail(d *device, sg *Signal, reason string, cause error, raw []byte) {
	err := fmt.Errorf("read signal %q of device %q (meter %s, DI %s %s): %w", sg.Field, d.cfg.Device, d.cfg.Address, sg.DI, itemName(sg.DI), cause)
	if len(raw) > 0 {
		err = fmt.Errorf("%w; reply %s", err, hexBytes(raw, 48))
	}
	s.obs.SignalError(s.cfg.Name, d.cfg.Device, sg.Field, reason, err)
	if len(raw) > 0 {
		s.obs.DeadLetter(s.cfg.Name, point.DeadLetter{Device: d.cfg.Device,
			Origin: fmt.Sprintf("meter %s di %s", d.cfg.Address, sg.DI), Reason: reason, Err: err, Problems: 1}, raw)
	}
}

// itemName names a data identifier for messages.
func itemName(di DI) string {
	if it, ok := Items[di]; ok {
		return it.Name
	}
	return "configured format"
}
