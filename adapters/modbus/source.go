package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/ganlink/ganlink/adapters/internal/reconnect"
	"github.com/ganlink/ganlink/adapters/internal/serialline"
	"github.com/ganlink/ganlink/gateway/point"
)

// Source polls the devices of one Modbus TCP endpoint and hands one point per device
// and poll to the pipeline. It is built by New and started by Run; Run must not be
// called concurrently with itself.
type Source struct {
	cfg     Config
	obs     point.Observer
	log     *slog.Logger
	addr    string // host:port (Modbus TCP)
	rtu     bool
	devices []device

	// Counters for diagnostics and tests.
	reads atomic.Int64 // requests sent

	warn reconnect.Warner
	blk  answerProblems // of the answer being decoded
}

// device is the runtime form of one configured Device.
type device struct {
	cfg     *Device
	sigs    []signal
	reqs    []request
	maxRegs int
	unit    uint8
	next    time.Time // next poll

	// On an RTU bus: requests in a row without an answer, and whether the device was
	// reported down for it.
	failures int
	down     bool
}

// reader is the part of the client library's client a poll uses.
type reader interface {
	SetUnitId(id uint8) error
	ReadRawBytes(addr, quantity uint16, regType mb.RegType) ([]byte, error)
	ReadCoils(addr, quantity uint16) ([]bool, error)
	ReadDiscreteInputs(addr, quantity uint16) ([]bool, error)
}

// New validates cfg and builds a Source, planning the reads of every device. It starts
// nothing. obs and log may be nil.
func New(cfg Config, obs point.Observer, log *slog.Logger) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validate config of modbus source %q: %w", cfg.Name, err)
	}
	cfg.Devices = slices.Clone(cfg.Devices)
	for i := range cfg.Devices {
		cfg.Devices[i].Signals = slices.Clone(cfg.Devices[i].Signals)
	}
	cfg.applyDefaults()
	if obs == nil {
		obs = point.NopObserver{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	addr := ""
	if !cfg.RTU() {
		addr, _ = hostPort(cfg.Endpoint) // valid after Validate
	}
	s := &Source{cfg: cfg, obs: obs, log: log, addr: addr, rtu: cfg.RTU(), devices: make([]device, len(cfg.Devices)),
		warn: reconnect.Warner{Log: log, Protocol: "modbus", Endpoint: cfg.Endpoint}}
	for i := range s.cfg.Devices {
		dc := &s.cfg.Devices[i]
		d := &s.devices[i]
		d.cfg = dc
		d.unit = uint8(dc.UnitID)
		d.maxRegs = dc.MaxRegisters
		gap := cfg.MaxGap
		if dc.MaxGap != nil {
			gap = *dc.MaxGap
		}
		d.sigs = make([]signal, len(dc.Signals))
		idx := make([]int, len(dc.Signals))
		for j := range dc.Signals {
			d.sigs[j] = newSignal(&dc.Signals[j], j)
			idx[j] = j
		}
		d.reqs = plan(d.sigs, idx, d.maxRegs, gap)
	}
	return s, nil
}

// Reads returns the number of read requests sent so far.
func (s *Source) Reads() int64 { return s.reads.Load() }

// Run connects, polls the devices and emits their points until ctx is done; it then
// closes the connection and returns nil. Connection losses never end Run: it reports
// point.StateDown and reconnects with capped exponential backoff. Run returns within
// Config.Timeout of ctx being done (within the client library's 5s dial timeout while
// a connection attempt is under way).
func (s *Source) Run(ctx context.Context, emit point.EmitFunc) error {
	bo := reconnect.Backoff{Min: s.cfg.ReconnectMin, Max: s.cfg.ReconnectMax}
	reconnect.Loop(ctx, &bo, &s.warn,
		func(st point.State, err error) { s.obs.State(s.cfg.Name, st, err) },
		func(ctx context.Context) (bool, error) { return s.session(ctx, emit) })
	s.log.Info("modbus source stopped", "endpoint", s.cfg.Endpoint)
	return nil
}

// open opens the source's connection: a Modbus TCP client, or the RTU line.
func (s *Source) open(ctx context.Context) (reader, func(), error) {
	if s.rtu {
		bus := serialline.NewBus(s.cfg.Line)
		if err := bus.Open(ctx); err != nil {
			return nil, nil, err
		}
		s.log.Info("modbus RTU line open", "line", s.cfg.Line.String())
		return &rtuClient{bus: bus, ctx: ctx}, func() { bus.Close() }, nil
	}
	c, err := mb.NewClient(&mb.ClientConfiguration{
		URL:     "tcp://" + s.addr,
		Timeout: s.cfg.Timeout,
		Logger:  slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("create client for %q: %w", s.cfg.Endpoint, err)
	}
	if err := c.Open(); err != nil {
		return nil, nil, fmt.Errorf("connect to %q: %w", s.cfg.Endpoint, err)
	}
	s.log.Info("modbus connection up", "endpoint", s.cfg.Endpoint)
	return c, func() { c.Close() }, nil
}

// session opens one connection and polls through it until ctx is done (nil error) or
// the connection fails. answered reports whether any request got an answer.
func (s *Source) session(ctx context.Context, emit point.EmitFunc) (answered bool, err error) {
	c, closeConn, err := s.open(ctx)
	if err != nil {
		return false, err
	}
	defer closeConn()
	s.obs.State(s.cfg.Name, point.StateUp, nil)

	st := pollState{}
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
				return st.answered, nil
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return st.answered, nil
		}
		var batch point.Batch
		var connErr error
		now := time.Now()
		for i := range s.devices {
			d := &s.devices[i]
			if d.next.After(now) {
				continue
			}
			p, ok, err := s.poll(ctx, c, d, &st)
			d.advance(time.Now())
			if err != nil {
				connErr = err
				break
			}
			if ok {
				batch = append(batch, p)
			}
		}
		if len(batch) > 0 && ctx.Err() == nil {
			s.obs.Received(s.cfg.Name, batch.Fields())
			// emit settles the batch (queued, or dropped and counted); an error means
			// ctx ended. (An emit failing with ctx alive breaks its contract: the
			// session ends like a lost connection and the next one reads the values
			// again.)
			if err := emit(ctx, batch); err != nil {
				if ctx.Err() != nil {
					return st.answered, nil
				}
				return st.answered, fmt.Errorf("emit: %w", err)
			}
		}
		if ctx.Err() != nil {
			return st.answered, nil
		}
		if connErr != nil {
			return st.answered, connErr
		}
	}
}

// advance schedules the next poll on the device's grid (first poll + k × interval),
// skipping the slots that already passed.
func (d *device) advance(now time.Time) {
	iv := d.cfg.PollInterval
	d.next = d.next.Add(iv)
	if !d.next.After(now) {
		d.next = d.next.Add((now.Sub(d.next)/iv + 1) * iv)
	}
}

// pollState carries the connection's health across polls.
type pollState struct {
	answered bool // any request got an answer
	failures int  // requests in a row without an answer (timeouts, malformed answers)
}

// failure is how a read went wrong.
type failure uint8

const (
	failNone failure = iota
	failException
	failTimeout
	failProtocol
	failConn
	failCRC
)

var failReasons = [...]string{"", "modbus_exception", "timeout", "protocol", "", "crc"}

// classify sorts an error of the client library and rewrites it in the package's terms.
func (s *Source) classify(err error) (failure, error) {
	var ee *ExceptionError
	var le *serialline.LineError
	switch {
	case errors.As(err, &ee):
		return failException, ee
	case errors.Is(err, ErrCRC):
		return failCRC, err
	case errors.Is(err, ErrProtocol):
		return failProtocol, err
	case errors.Is(err, serialline.ErrTimeout):
		return failTimeout, fmt.Errorf("%w: %w", ErrTimeout, err)
	case errors.As(err, &le):
		return failConn, err
	}
	var me mb.Error
	if errors.As(err, &me) {
		switch me {
		case mb.ErrIllegalFunction:
			return failException, &ExceptionError{Code: 1}
		case mb.ErrIllegalDataAddress:
			return failException, &ExceptionError{Code: 2}
		case mb.ErrIllegalDataValue:
			return failException, &ExceptionError{Code: 3}
		case mb.ErrServerDeviceFailure:
			return failException, &ExceptionError{Code: 4}
		case mb.ErrAcknowledge:
			return failException, &ExceptionError{Code: 5}
		case mb.ErrServerDeviceBusy:
			return failException, &ExceptionError{Code: 6}
		case mb.ErrMemoryParityError:
			return failException, &ExceptionError{Code: 8}
		case mb.ErrGWPathUnavailable:
			return failException, &ExceptionError{Code: 10}
		case mb.ErrGWTargetFailedToRespond:
			return failException, &ExceptionError{Code: 11}
		case mb.ErrRequestTimedOut:
			return failTimeout, timeoutError(s.cfg.Timeout)
		case mb.ErrBadUnitId:
			return failProtocol, fmt.Errorf("%w: unit id differs from the request's", ErrProtocol)
		case mb.ErrProtocolError, mb.ErrBadTransactionId, mb.ErrUnknownProtocolId, mb.ErrShortFrame,
			mb.ErrBadCRC, mb.ErrUnexpectedParameters:
			return failProtocol, fmt.Errorf("%w: %v", ErrProtocol, me)
		}
	}
	// The library reports exception codes it does not know as text only.
	if rest, ok := strings.CutPrefix(err.Error(), "unknown exception code ("); ok {
		if n, perr := strconv.ParseUint(strings.TrimSuffix(rest, ")"), 10, 8); perr == nil {
			return failException, &ExceptionError{Code: uint8(n)}
		}
	}
	return failConn, err
}

// poll reads every request of d and builds the device's point. A non-nil error means
// the connection is lost (or considered dead); ok is false when no point results.
func (s *Source) poll(ctx context.Context, c reader, d *device, st *pollState) (p point.Point, ok bool, err error) {
	if err := c.SetUnitId(d.unit); err != nil {
		return p, false, fmt.Errorf("set unit id %d: %w", d.unit, err)
	}
	t := time.Now().UnixMilli() * int64(time.Millisecond)
	fields := make([]point.Field, len(d.sigs))
	omit := make([]bool, len(d.sigs))
	var skip error // set once the device stopped answering in this poll
	for ri := 0; ri < len(d.reqs); ri++ {
		if ctx.Err() != nil {
			return p, false, nil
		}
		r := &d.reqs[ri]
		if skip != nil {
			s.failRequest(d, r, skipReason(skip), fmt.Errorf("not sent: %w", skip), fields)
			continue
		}
		s.reads.Add(1)
		var data []byte
		var bits []bool
		var rerr error
		switch r.area {
		case areaHolding:
			data, rerr = c.ReadRawBytes(r.start, 2*r.count, mb.HOLDING_REGISTER)
		case areaInput:
			data, rerr = c.ReadRawBytes(r.start, 2*r.count, mb.INPUT_REGISTER)
		case areaCoil:
			bits, rerr = c.ReadCoils(r.start, r.count)
		case areaDiscrete:
			bits, rerr = c.ReadDiscreteInputs(r.start, r.count)
		}
		if rerr == nil {
			s.answered(d, st)
			s.decodeAnswer(d, r, data, bits, fields, omit)
			continue
		}
		kind, cause := s.classify(rerr)
		switch kind {
		case failConn:
			return p, false, fmt.Errorf("read %s %s of device %q (unit %d): %w",
				readNames[r.area], span(r), d.cfg.Device, d.unit, rerr)
		case failException:
			s.answered(d, st)
			code := cause.(*ExceptionError).Code
			if (code == 2 || code == 3) && len(r.sigs) > 1 {
				if parts := split(d.sigs, r, d.maxRegs); parts != nil {
					s.log.Info("modbus read refused; splitting it", "device", d.cfg.Device, "unit", d.unit,
						"read", readNames[r.area]+" "+span(r), "err", cause, "reads", len(parts))
					d.reqs = slices.Replace(d.reqs, ri, ri+1, parts...)
					ri-- // read the parts now
					continue
				}
			}
			if code == 10 || code == 11 {
				skip = cause // the gateway cannot reach the device: spare the other reads
			}
		case failTimeout, failProtocol, failCRC:
			if kind == failTimeout {
				skip = cause
			}
			if s.rtu {
				d.failures++
				s.failRequest(d, r, failReasons[kind], cause, fields)
				if d.failures >= s.cfg.MaxFailures && !d.down {
					d.down = true
					s.log.Warn("modbus device not answering; polling it on", "device", d.cfg.Device, "unit", d.unit,
						"failures", d.failures, "err", cause)
				}
				continue
			}
			st.failures++
		}
		s.failRequest(d, r, failReasons[kind], cause, fields)
		if st.failures >= s.cfg.MaxFailures {
			return p, false, fmt.Errorf("read %s %s of device %q (unit %d): %d requests in a row failed, last: %w",
				readNames[r.area], span(r), d.cfg.Device, d.unit, st.failures, cause)
		}
	}
	n := 0
	for i := range fields {
		if !omit[i] {
			fields[n] = fields[i]
			n++
		}
	}
	if n == 0 {
		return p, false, nil
	}
	return point.Point{Measurement: d.cfg.Measurement, Device: d.cfg.Device, Tags: d.cfg.Tags,
		Fields: fields[:n:n], Time: t}, true, nil
}

// answered notes an answer of d (data or an exception).
func (s *Source) answered(d *device, st *pollState) {
	st.answered, st.failures = true, 0
	d.failures = 0
	if d.down {
		d.down = false
		s.log.Info("modbus device answers again", "device", d.cfg.Device, "unit", d.unit)
	}
}

// skipReason returns the observer reason of a read skipped because of cause.
func skipReason(cause error) string {
	if errors.Is(cause, ErrTimeout) {
		return "timeout"
	}
	return "modbus_exception"
}

// failRequest reports every signal of a failed read and marks its field Bad.
func (s *Source) failRequest(d *device, r *request, reason string, cause error, fields []point.Field) {
	for _, si := range r.sigs {
		sg := &d.sigs[si]
		s.fieldError(d, sg, reason, fmt.Errorf("read signal %q of device %q at %s %d (unit %d, read %s): %w",
			sg.cfg.Field, d.cfg.Device, unitNames[sg.area], sg.addr, d.unit, span(r), cause))
		fields[sg.idx] = point.Field{Key: sg.cfg.Field, Quality: point.Bad}
	}
}

// span renders the address range of a read, e.g. "0..75".
func span(r *request) string {
	return strconv.Itoa(int(r.start)) + ".." + strconv.Itoa(r.end()-1)
}
