package modbus

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

// area is a Modbus data area.
type area uint8

const (
	areaHolding area = iota
	areaInput
	areaCoil
	areaDiscrete
)

var areaNames = [...]string{"holding", "input", "coil", "discrete"}

// unitName names one address of the area in messages.
var unitNames = [...]string{"holding register", "input register", "coil", "discrete input"}

// readNames names a read of the area in messages.
var readNames = [...]string{"holding registers", "input registers", "coils", "discrete inputs"}

func parseArea(s string) area {
	for i, n := range areaNames {
		if n == s {
			return area(i)
		}
	}
	return areaHolding // unreachable after Validate
}

func (a area) bits() bool { return a == areaCoil || a == areaDiscrete }

// valueType is the decoded type of a signal.
type valueType uint8

const (
	tBool valueType = iota
	tInt16
	tUint16
	tInt32
	tUint32
	tInt64
	tUint64
	tFloat32
	tFloat64
)

var typeByName = map[string]valueType{
	"bool": tBool, "int16": tInt16, "uint16": tUint16, "int32": tInt32, "uint32": tUint32,
	"int64": tInt64, "uint64": tUint64, "float32": tFloat32, "float64": tFloat64,
}

// words is the number of registers a value of type t occupies (1 for bits).
func (t valueType) words() int {
	switch t {
	case tInt32, tUint32, tFloat32:
		return 2
	case tInt64, tUint64, tFloat64:
		return 4
	}
	return 1
}

// signal is the runtime form of one configured Signal.
type signal struct {
	cfg      *Signal
	idx      int // index in the device's signals: the field's position in the point
	area     area
	addr     uint16
	n        uint16 // registers (or 1 bit)
	typ      valueType
	lowFirst bool // word order low_first
	swap     bool // byte order little
}

func newSignal(s *Signal, idx int) signal {
	typ := typeByName[s.Type]
	return signal{
		cfg:      s,
		idx:      idx,
		area:     parseArea(s.Area),
		addr:     uint16(s.Address),
		n:        uint16(typ.words()),
		typ:      typ,
		lowFirst: s.WordOrder == "low_first",
		swap:     s.ByteOrder == "little",
	}
}

// end is the address after the signal's last register (or bit).
func (s *signal) end() int { return int(s.addr) + int(s.n) }

// rawValue decodes the registers of one value from b, the bytes of the value's registers
// as they came off the wire (2 per register, len(b) == 2 × t.words()). The result may be
// NaN or ±Inf for float types.
func rawValue(b []byte, t valueType, lowFirst, swap bool) float64 {
	n := len(b) / 2
	var u uint64
	for i := 0; i < n; i++ {
		j := i
		if lowFirst {
			j = n - 1 - i
		}
		hi, lo := b[2*j], b[2*j+1]
		if swap {
			hi, lo = lo, hi
		}
		u = u<<16 | uint64(hi)<<8 | uint64(lo)
	}
	switch t {
	case tInt16:
		return float64(int16(u))
	case tUint16:
		return float64(uint16(u))
	case tInt32:
		return float64(int32(u))
	case tUint32:
		return float64(uint32(u))
	case tInt64:
		return float64(int64(u))
	case tUint64:
		return float64(u)
	case tFloat32:
		return float64(math.Float32frombits(uint32(u)))
	case tFloat64:
		return math.Float64frombits(u)
	}
	return float64(u)
}

// decodeRegisters turns the bytes of one register read starting at start into field
// values: fields[s.idx] for every signal of sigs. A value that is not finite after
// conversion is reported with reason "nan" and marked in omit. It allocates nothing
// unless a value fails.
func (s *Source) decodeRegisters(d *device, sigs []int, start uint16, data []byte, fields []point.Field, omit []bool) {
	for _, si := range sigs {
		sg := &d.sigs[si]
		off := 2 * int(sg.addr-start)
		raw := rawValue(data[off:off+2*int(sg.n)], sg.typ, sg.lowFirst, sg.swap)
		v, err := sg.cfg.Conv.Scaled(raw)
		if err != nil {
			s.fieldError(d, sg, "nan", fmt.Errorf("decode signal %q of device %q at %s %d (%s): %w",
				sg.cfg.Field, d.cfg.Device, unitNames[sg.area], sg.addr, sg.cfg.Type, err))
			omit[sg.idx] = true
			continue
		}
		fields[sg.idx] = point.Field{Key: sg.cfg.Field, Value: v}
	}
}

// decodeBits turns the values of one coil or discrete-input read into field values.
func (s *Source) decodeBits(d *device, sigs []int, start uint16, bits []bool, fields []point.Field, omit []bool) {
	for _, si := range sigs {
		sg := &d.sigs[si]
		raw := 0.0
		if bits[sg.addr-start] {
			raw = 1
		}
		v, err := sg.cfg.Conv.Scaled(raw)
		if err != nil { // unreachable: a finite scale and offset keep 0 and 1 finite
			s.fieldError(d, sg, "nan", fmt.Errorf("decode signal %q of device %q at %s %d: %w",
				sg.cfg.Field, d.cfg.Device, unitNames[sg.area], sg.addr, err))
			omit[sg.idx] = true
			continue
		}
		fields[sg.idx] = point.Field{Key: sg.cfg.Field, Value: v}
	}
}

// fieldError reports a signal problem to the observer and notes it for the dead letter
// of the answer being decoded.
func (s *Source) fieldError(d *device, sg *signal, reason string, err error) {
	s.obs.SignalError(s.cfg.Name, d.cfg.Device, sg.cfg.Field, reason, err)
	if s.blk.count == 0 {
		s.blk.reason, s.blk.err = reason, err
	}
	s.blk.count++
}

// answerProblems gathers what went wrong with the answer being decoded.
type answerProblems struct {
	reason string // of the first problem
	err    error
	count  int
}

// testHookDecode, when set, is called before each answer is decoded (tests inject a
// panic through it).
var testHookDecode func(device string)

// decodeAnswer turns the answer to read r into field values. An answer with a value
// that cannot be used is handed to the observer as a dead letter: its registers in hex
// (or its bits as 0 and 1). A panic while decoding (a decoder bug that some answer
// reaches) is contained: the read's signals are reported with reason "internal" and
// marked Bad, the source keeps polling.
func (s *Source) decodeAnswer(d *device, r *request, data []byte, bits []bool, fields []point.Field, omit []bool) {
	s.blk = answerProblems{}
	defer func() {
		if p := recover(); p != nil {
			s.failRequest(d, r, point.ReasonInternal, fmt.Errorf("internal error decoding the answer (values dropped): %v", p), fields)
		}
		if s.blk.count > 0 {
			s.obs.DeadLetter(s.cfg.Name, point.DeadLetter{Device: d.cfg.Device,
				Origin: fmt.Sprintf("unit %d %s %s", d.unit, readNames[r.area], span(r)),
				Reason: s.blk.reason, Err: s.blk.err, Problems: s.blk.count}, answerText(data, bits))
		}
	}()
	if testHookDecode != nil {
		testHookDecode(d.cfg.Device)
	}
	// The client library checks the byte count against the request; this check keeps the
	// decoder from trusting it.
	if got, want := len(data)+len(bits), answerSize(r); got < want {
		s.failRequest(d, r, "protocol", fmt.Errorf("%w: answer holds %d of %d %s", ErrProtocol, got, want, answerUnit(r)), fields)
		return
	}
	if r.area.bits() {
		s.decodeBits(d, r.sigs, r.start, bits, fields, omit)
	} else {
		s.decodeRegisters(d, r.sigs, r.start, data, fields, omit)
	}
}

// answerSize is the length of a complete answer to r: bytes for registers, values for bits.
func answerSize(r *request) int {
	if r.area.bits() {
		return int(r.count)
	}
	return 2 * int(r.count)
}

func answerUnit(r *request) string {
	if r.area.bits() {
		return "bits"
	}
	return "bytes"
}

// answerText renders an answer for a dead letter: registers as 4-digit hex words
// ("0000 41C8 ..."; an odd last byte as 2 digits), bits as 0 and 1.
func answerText(data []byte, bits []bool) []byte {
	if bits != nil {
		out := make([]byte, len(bits))
		for i, b := range bits {
			out[i] = '0'
			if b {
				out[i] = '1'
			}
		}
		return out
	}
	const digits = "0123456789ABCDEF"
	out := make([]byte, 0, len(data)/2*5)
	for i := 0; i+1 < len(data); i += 2 {
		if i > 0 {
			out = append(out, ' ')
		}
		out = append(out, digits[data[i]>>4], digits[data[i]&15], digits[data[i+1]>>4], digits[data[i+1]&15])
	}
	if len(data)%2 == 1 { // a malformed answer's odd last byte
		if len(data) > 1 {
			out = append(out, ' ')
		}
		b := data[len(data)-1]
		out = append(out, digits[b>>4], digits[b&15])
	}
	return out
}

// ExceptionError is a Modbus exception response: the device answered, but refused the
// request. Code is the exception code (2 = illegal data address, ...).
type ExceptionError struct {
	Code uint8
}

// Error returns e.g. "modbus exception 2 (illegal data address)".
func (e *ExceptionError) Error() string {
	return fmt.Sprintf("modbus exception %d (%s)", e.Code, exceptionText(e.Code))
}

func exceptionText(code uint8) string {
	switch code {
	case 1:
		return "illegal function"
	case 2:
		return "illegal data address"
	case 3:
		return "illegal data value"
	case 4:
		return "server device failure"
	case 5:
		return "acknowledge"
	case 6:
		return "server device busy"
	case 8:
		return "memory parity error"
	case 10:
		return "gateway path unavailable"
	case 11:
		return "gateway target device failed to respond"
	}
	return "unknown exception"
}

// ErrTimeout is wrapped by the errors of requests that got no answer within
// Config.Timeout.
var ErrTimeout = errors.New("request timed out")

// ErrProtocol is wrapped by the errors of requests whose answer was malformed (wrong
// length, wrong unit id, unknown function code).
var ErrProtocol = errors.New("malformed response")

// timeoutError returns the error of a request that timed out after d.
func timeoutError(d time.Duration) error { return fmt.Errorf("%w after %s", ErrTimeout, d) }
