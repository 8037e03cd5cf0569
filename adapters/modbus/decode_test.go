package modbus

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

// wire renders registers as the bytes a read returns (each register high byte first).
func wire(regs ...uint16) []byte {
	b := make([]byte, 0, 2*len(regs))
	for _, r := range regs {
		b = append(b, byte(r>>8), byte(r))
	}
	return b
}

// The register contents are computed by hand from the IEEE 754 and two's-complement
// encodings; A is the most significant byte of the value.
//
//	230.5   = 1.80078125 × 2^7: float32 0x4366_8000, float64 0x406C_D000_0000_0000
//	-12.25  = -1.53125 × 2^3:   float32 0xC144_0000, float64 0xC028_8000_0000_0000
//	-100000 = int32 0xFFFE_7960; 3000000000 = uint32 0xB2D0_5E00
//	-123456789012 = int64 0xFFFF_FFE3_4166_E5EC; 2^63+5 = uint64 0x8000_0000_0000_0005
func TestRawValue(t *testing.T) {
	for _, tc := range []struct {
		name     string
		typ      string
		order    string // word_order/byte_order: ABCD, CDAB, BADC, DCBA
		regs     []uint16
		want     float64
		wantNaN  bool
		wantSign int // for ±Inf
	}{
		{"int16 negative", "int16", "ABCD", []uint16{0xFF38}, -200, false, 0},
		{"int16 little", "int16", "BADC", []uint16{0x38FF}, -200, false, 0},
		{"uint16", "uint16", "ABCD", []uint16{0xFF38}, 65336, false, 0},
		{"uint16 little", "uint16", "BADC", []uint16{0x0100}, 1, false, 0},
		{"int32 ABCD", "int32", "ABCD", []uint16{0xFFFE, 0x7960}, -100000, false, 0},
		{"int32 CDAB", "int32", "CDAB", []uint16{0x7960, 0xFFFE}, -100000, false, 0},
		{"int32 BADC", "int32", "BADC", []uint16{0xFEFF, 0x6079}, -100000, false, 0},
		{"int32 DCBA", "int32", "DCBA", []uint16{0x6079, 0xFEFF}, -100000, false, 0},
		{"uint32 ABCD", "uint32", "ABCD", []uint16{0xB2D0, 0x5E00}, 3000000000, false, 0},
		{"uint32 CDAB", "uint32", "CDAB", []uint16{0x5E00, 0xB2D0}, 3000000000, false, 0},
		{"uint32 BADC", "uint32", "BADC", []uint16{0xD0B2, 0x005E}, 3000000000, false, 0},
		{"uint32 DCBA", "uint32", "DCBA", []uint16{0x005E, 0xD0B2}, 3000000000, false, 0},
		{"float32 ABCD", "float32", "ABCD", []uint16{0x4366, 0x8000}, 230.5, false, 0},
		{"float32 CDAB", "float32", "CDAB", []uint16{0x8000, 0x4366}, 230.5, false, 0},
		{"float32 BADC", "float32", "BADC", []uint16{0x6643, 0x0080}, 230.5, false, 0},
		{"float32 DCBA", "float32", "DCBA", []uint16{0x0080, 0x6643}, 230.5, false, 0},
		{"float32 negative", "float32", "ABCD", []uint16{0xC144, 0x0000}, -12.25, false, 0},
		{"float32 NaN", "float32", "ABCD", []uint16{0x7FC0, 0x0000}, 0, true, 0},
		{"float32 +Inf", "float32", "ABCD", []uint16{0x7F80, 0x0000}, 0, false, 1},
		{"float64 ABCD", "float64", "ABCD", []uint16{0x406C, 0xD000, 0x0000, 0x0000}, 230.5, false, 0},
		{"float64 CDAB", "float64", "CDAB", []uint16{0x0000, 0x0000, 0xD000, 0x406C}, 230.5, false, 0},
		{"float64 BADC", "float64", "BADC", []uint16{0x6C40, 0x00D0, 0x0000, 0x0000}, 230.5, false, 0},
		{"float64 DCBA", "float64", "DCBA", []uint16{0x0000, 0x0000, 0x00D0, 0x6C40}, 230.5, false, 0},
		{"float64 negative", "float64", "ABCD", []uint16{0xC028, 0x8000, 0x0000, 0x0000}, -12.25, false, 0},
		{"float64 -Inf", "float64", "ABCD", []uint16{0xFFF0, 0, 0, 0}, 0, false, -1},
		{"int64 ABCD", "int64", "ABCD", []uint16{0xFFFF, 0xFFE3, 0x4166, 0xE5EC}, -123456789012, false, 0},
		{"int64 CDAB", "int64", "CDAB", []uint16{0xE5EC, 0x4166, 0xFFE3, 0xFFFF}, -123456789012, false, 0},
		{"uint64 ABCD", "uint64", "ABCD", []uint16{0x8000, 0, 0, 0x0005}, 9223372036854775813, false, 0},
		{"uint64 DCBA", "uint64", "DCBA", []uint16{0x0500, 0, 0, 0x0080}, 9223372036854775813, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Signal{Area: "holding", Type: tc.typ, WordOrder: "high_first", ByteOrder: "big"}
			if tc.order == "CDAB" || tc.order == "DCBA" {
				s.WordOrder = "low_first"
			}
			if tc.order == "BADC" || tc.order == "DCBA" {
				s.ByteOrder = "little"
			}
			sg := newSignal(&s, 0)
			if int(sg.n) != len(tc.regs) {
				t.Fatalf("type %s has %d registers, test gives %d", tc.typ, sg.n, len(tc.regs))
			}
			got := rawValue(wire(tc.regs...), sg.typ, sg.lowFirst, sg.swap)
			switch {
			case tc.wantNaN:
				if !math.IsNaN(got) {
					t.Fatalf("got %v, want NaN", got)
				}
			case tc.wantSign != 0:
				if !math.IsInf(got, tc.wantSign) {
					t.Fatalf("got %v, want Inf(%d)", got, tc.wantSign)
				}
			case got != tc.want:
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestExceptionError(t *testing.T) {
	for _, tc := range []struct {
		code uint8
		want string
	}{
		{2, "modbus exception 2 (illegal data address)"},
		{11, "modbus exception 11 (gateway target device failed to respond)"},
		{0x42, "modbus exception 66 (unknown exception)"},
	} {
		if got := (&ExceptionError{Code: tc.code}).Error(); got != tc.want {
			t.Errorf("code %d: got %q, want %q", tc.code, got, tc.want)
		}
	}
}

// FuzzDecode feeds arbitrary register words to the decoder of every type and order: it
// never panics, and a value that passes conversion is finite.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x43, 0x66, 0x80, 0x00, 0, 0, 0, 0}, uint8(7), uint8(0), 1.0, 0.0)
	f.Add([]byte{0x7F, 0xC0, 0x00, 0x00, 0x7F, 0xF0, 0, 0}, uint8(8), uint8(3), 1e300, -1e300)
	f.Add([]byte{0xFF, 0xFF}, uint8(1), uint8(2), 0.001, 5.0)
	f.Add([]byte{}, uint8(0), uint8(0), 0.0, 0.0)
	f.Fuzz(func(t *testing.T, b []byte, typ, order uint8, scale, offset float64) {
		vt := valueType(typ%uint8(tFloat64) + 1) // every register type
		n := 2 * vt.words()
		if len(b) < n {
			b = append(b, make([]byte, n-len(b))...)
		}
		raw := rawValue(b[:n], vt, order&1 != 0, order&2 != 0)
		if !finite(scale) || !finite(offset) {
			return // Validate rejects them
		}
		c := point.Conv{Scale: scale, Offset: offset}
		v, err := c.Scaled(raw)
		if err != nil {
			if !errors.Is(err, point.ErrNotFinite) {
				t.Fatalf("error %v does not wrap ErrNotFinite", err)
			}
			return
		}
		if !finite(v) {
			t.Fatalf("value %v passed conversion", v)
		}
		if vt != tFloat32 && vt != tFloat64 && !finite(raw) {
			t.Fatalf("integer type %d decoded to %v", vt, raw)
		}
	})
}

// FuzzDecodeAnswer decodes arbitrary answers, of any length, to the reads of a device
// with a signal of every type and word/byte order: nothing panics (a contained panic,
// reason "internal", fails the target), every field is finite or marked Bad, a short
// answer is a protocol error.
func FuzzDecodeAnswer(f *testing.F) {
	f.Add([]byte{0x43, 0x66, 0x80, 0x00, 0x7F, 0xC0, 0, 0, 0xFF, 0xFF}, uint8(3))
	f.Add([]byte{}, uint8(0))
	f.Add([]byte{0x7F, 0xF0, 0, 0, 0, 0, 0, 0, 1}, uint8(1))
	var sigs []Signal
	addr := 0
	for _, typ := range []string{"int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"} {
		for _, wo := range []string{"high_first", "low_first"} {
			for _, bo := range []string{"big", "little"} {
				sigs = append(sigs, Signal{Field: fmt.Sprintf("f%d", addr), Area: "holding", Address: addr, Type: typ,
					WordOrder: wo, ByteOrder: bo, Conv: point.Conv{Scale: 1e300}})
				addr += map[string]int{"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}[typ] + 4*map[string]int{"int64": 1, "uint64": 1, "float64": 1}[typ]
			}
		}
	}
	sigs = append(sigs, Signal{Field: "c0", Area: "coil", Address: 0}, Signal{Field: "c9", Area: "coil", Address: 9, Conv: point.Conv{Scale: -1, Offset: 1}})
	cfg := Config{Name: "fuzz", Endpoint: "tcp://127.0.0.1:1", MaxGap: 200,
		Devices: []Device{{Device: "d", Measurement: "m", UnitID: 1, PollInterval: time.Second, Signals: sigs}}}
	f.Fuzz(func(t *testing.T, b []byte, short uint8) {
		s, err := New(cfg, errsObserver(func(reason string, err error) {
			if reason == point.ReasonInternal {
				t.Fatalf("contained panic: %v", err)
			}
		}), nil)
		if err != nil {
			t.Fatal(err)
		}
		d := &s.devices[0]
		fields := make([]point.Field, len(d.sigs))
		omit := make([]bool, len(d.sigs))
		for i := range d.reqs {
			r := &d.reqs[i]
			if r.area.bits() {
				bits := make([]bool, max(0, int(r.count)-int(short%4)))
				for j := range bits {
					bits[j] = j < len(b) && b[j]&1 == 1
				}
				s.decodeAnswer(d, r, nil, bits, fields, omit)
				continue
			}
			data := b
			if n := 2 * int(r.count); len(data) < n && short%2 == 0 {
				data = append(data, make([]byte, n-len(data))...) // complete, zero-filled
			}
			s.decodeAnswer(d, r, data, nil, fields, omit)
		}
		for i, fl := range fields {
			if !omit[i] && fl.Quality != point.Bad && !finite(fl.Value) {
				t.Fatalf("field %s = %v", fl.Key, fl.Value)
			}
		}
	})
}

type errsObserver func(reason string, err error)

func (errsObserver) State(string, point.State, error)                {}
func (f errsObserver) SignalError(_, _, _, reason string, err error) { f(reason, err) }
func (errsObserver) Received(string, int)                            {}
func (errsObserver) DeadLetter(string, point.DeadLetter, []byte)     {}
