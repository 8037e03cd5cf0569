package modbus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/ganlink/ganlink/adapters/internal/serialline"
)

// Scanning a bus for commissioning (gateway browse): every unit id of a range is asked
// for holding register 0 with a short timeout. A unit that answers, with data or with
// an exception, is on the bus; a garbled answer (CRC mismatch) means something is
// there but the line settings (baud rate, parity) or the wiring are probably wrong.
// Units that answer are then probed for the voltage register of the meter templates in
// configs/ to suggest one.

// DefaultScanTimeout is the response timeout of a scan: a meter on a healthy bus
// answers within tens of milliseconds.
const DefaultScanTimeout = 100 * time.Millisecond

// ScanOptions selects the bus and the unit ids to scan.
type ScanOptions struct {
	// Endpoint, Framing and Line are as in Config; Line.ResponseTimeout (RTU) or
	// Timeout (Modbus TCP) default to DefaultScanTimeout.
	Endpoint string
	Framing  string
	Line     serialline.Line
	Timeout  time.Duration
	// First and Last bound the unit ids scanned (1..247 on RTU).
	First, Last int
	// Progress, when set, is called after each unit id.
	Progress func(unit int, r *ScanResult)
}

// ScanResult is what one unit id answered.
type ScanResult struct {
	Unit int
	// Answer describes the answer to holding register 0: "0x1234", or the exception.
	Answer string
	// Garbled is set when only CRC mismatches or malformed answers came back.
	Garbled bool
	// Template names the meter template whose voltage register read a plausible
	// voltage (configs/modbus-<Template>.example.yaml), with Voltage the value read.
	Template string
	Voltage  float64
}

// templateProbes are the voltage registers of the meter templates in configs/: a
// float32 read there scaled to volts between 50 and 500 suggests the template.
var templateProbes = []struct {
	template string
	area     mb.RegType
	addr     uint16
	scale    float64
}{
	{"dtsu666", mb.HOLDING_REGISTER, 0x2006, 0.1},
	{"sdm630", mb.INPUT_REGISTER, 0x0000, 1},
}

// Scan asks every unit id from First to Last and returns those that answered, in
// order. The error is that of the line (it could not be opened or failed) or ctx's.
func Scan(ctx context.Context, o ScanOptions) ([]ScanResult, error) {
	cfg := Config{Name: "scan", Endpoint: o.Endpoint, Framing: o.Framing, Line: o.Line, Timeout: o.Timeout,
		Devices: []Device{{Device: "scan", Measurement: "scan", Signals: []Signal{{Field: "r0", Area: "holding"}}}}}
	if cfg.RTU() {
		if cfg.Line.ResponseTimeout == 0 {
			cfg.Line.ResponseTimeout = DefaultScanTimeout
		}
	} else if cfg.Timeout == 0 {
		cfg.Timeout = DefaultScanTimeout
	}
	if o.First < 0 || o.Last > 255 || o.First > o.Last {
		return nil, fmt.Errorf("scan %s: invalid unit range %d..%d: want 0..255, first <= last", o.Endpoint, o.First, o.Last)
	}
	s, err := New(cfg, nil, nil)
	if err != nil {
		return nil, err
	}
	c, closeConn, err := s.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", o.Endpoint, err)
	}
	defer closeConn()
	var found []ScanResult
	for u := o.First; u <= o.Last; u++ {
		if ctx.Err() != nil {
			return found, ctx.Err()
		}
		r, err := s.scanUnit(c, u)
		if err != nil {
			return found, fmt.Errorf("scan %s: unit %d: %w", o.Endpoint, u, err)
		}
		if o.Progress != nil {
			o.Progress(u, r)
		}
		if r != nil {
			found = append(found, *r)
		}
	}
	return found, nil
}

// scanUnit asks unit u; nil when it did not answer. The error is the line's.
func (s *Source) scanUnit(c reader, u int) (*ScanResult, error) {
	if err := c.SetUnitId(uint8(u)); err != nil {
		return nil, err
	}
	r := &ScanResult{Unit: u}
	data, err := c.ReadRawBytes(0, 2, mb.HOLDING_REGISTER)
	kind, cause := failNone, error(nil)
	if err != nil {
		kind, cause = s.classify(err)
	}
	switch {
	case err == nil:
		r.Answer = fmt.Sprintf("0x%02X%02X", data[0], data[1])
	case kind == failException:
		var ee *ExceptionError
		if errors.As(cause, &ee) && (ee.Code == 10 || ee.Code == 11) {
			return nil, nil // a Modbus TCP gateway reporting the unit silent
		}
		r.Answer = cause.Error()
	case kind == failTimeout:
		return nil, nil
	case kind == failCRC || kind == failProtocol:
		r.Garbled, r.Answer = true, cause.Error()
		return r, nil
	default:
		return nil, err
	}
	for _, p := range templateProbes {
		data, err := c.ReadRawBytes(p.addr, 4, p.area)
		if err != nil {
			if kind, _ := s.classify(err); kind == failConn {
				return nil, err
			}
			continue
		}
		v := float64(math.Float32frombits(uint32(data[0])<<24|uint32(data[1])<<16|uint32(data[2])<<8|uint32(data[3]))) * p.scale
		if v >= 50 && v <= 500 {
			r.Template, r.Voltage = p.template, math.Round(v*10)/10
			break
		}
	}
	return r, nil
}
