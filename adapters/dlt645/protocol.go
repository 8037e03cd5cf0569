package dlt645

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// DI is a 4-byte data identifier (数据标识) DI3 DI2 DI1 DI0, written most significant
// first as in the standard's tables: total forward active energy is 0x00010000
// ("00 01 00 00"). On the wire DI0 goes first.
type DI uint32

// ParseDI parses a data identifier written as 8 hex digits, e.g. "00010000" or
// "0201FF00"; spaces between the bytes are allowed ("00 01 00 00").
func ParseDI(s string) (DI, error) {
	h := strings.ReplaceAll(s, " ", "")
	if len(h) != 8 {
		return 0, fmt.Errorf("invalid data identifier %q: want 8 hex digits, e.g. \"00010000\"", truncate(s, 32))
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("invalid data identifier %q: want 8 hex digits, e.g. \"00010000\"", truncate(s, 32))
	}
	return DI(v), nil
}

// String renders the identifier as 8 hex digits, DI3 first.
func (d DI) String() string { return fmt.Sprintf("%08X", uint32(d)) }

// wire returns DI0, DI1, DI2, DI3: the order of the identifier on the wire.
func (d DI) wire() [4]byte { return [4]byte{byte(d), byte(d >> 8), byte(d >> 16), byte(d >> 24)} }

// ReadDataRequest returns the frame requesting data item di from the meter at addr
// (control 11H, L = 4, the identifier DI0 first).
func ReadDataRequest(addr Address, di DI) Frame {
	w := di.wire()
	return Frame{Preamble: 4, Addr: addr, Control: CtrlReadData, Data: w[:]}
}

// ReadAddressRequest returns the broadcast request for the meter's address (control
// 13H, address AA…AA, no data). Every meter on the bus answers it: use it only on a bus
// with one meter.
func ReadAddressRequest() Frame {
	return Frame{Preamble: 4, Addr: Broadcast, Control: CtrlReadAddress}
}

// ErrFollowingFrames is returned for a normal reply that announces following frames
// (control B1H): the data items this package reads fit in one frame, and a meter that
// splits one is not understood.
var ErrFollowingFrames = errors.New("reply announces following frames (control 0xB1): not supported for single data items")

// ErrorBits are the error bits of an exception reply (应答异常, the error word ERR,
// DL/T 645-2007 §7.1 table "异常应答帧").
type ErrorBits byte

// The error bits; bit 7 is reserved.
const (
	BitOther            ErrorBits = 1 << iota // 其他错误
	BitNoData                                 // 无请求数据
	BitUnauthorised                           // 密码错/未授权
	BitRateUnchangeable                       // 通信速率不能更改
	BitYearZones                              // 年时区数超
	BitDayPeriods                             // 日时段数超
	BitTariffs                                // 费率数超
)

var errorBitNames = [8]string{
	"other error", "no data requested", "password error/unauthorised", "communication rate cannot be changed",
	"year time zone count exceeded", "day period count exceeded", "tariff count exceeded", "reserved bit 7",
}

// String names the set bits, e.g. "no data requested, tariff count exceeded"; "no error
// bit set" for 0.
func (e ErrorBits) String() string {
	var names []string
	for i := 0; i < 8; i++ {
		if e&(1<<i) != 0 {
			names = append(names, errorBitNames[i])
		}
	}
	if len(names) == 0 {
		return "no error bit set"
	}
	return strings.Join(names, ", ")
}

// ExceptionError is an exception reply (control D1H for a read): the meter refused the
// request and says why in its error byte.
type ExceptionError struct {
	Control byte
	Bits    ErrorBits
}

func (e *ExceptionError) Error() string {
	return fmt.Sprintf("meter exception (control 0x%02X, error byte 0x%02X): %s", e.Control, byte(e.Bits), e.Bits)
}

// AddressError is a reply from another address than the request's.
type AddressError struct {
	Got, Want Address
}

func (e *AddressError) Error() string {
	return fmt.Sprintf("address mismatch: reply from %s, request to %s", e.Got, e.Want)
}

// Is makes an AddressError match ErrFrame: a reply for someone else is not the answer.
func (e *AddressError) Is(target error) bool { return target == ErrFrame }

// checkReply checks what every reply to a request with control ctrl sent to addr must
// satisfy, and returns an *ExceptionError for an exception reply.
func checkReply(f *Frame, addr Address, ctrl byte) error {
	if !f.IsReply() {
		return frameErr("control 0x%02X is not a reply (D7 clear): an echo of the request?", f.Control)
	}
	if f.Function() != ctrl {
		return frameErr("reply control 0x%02X answers function 0x%02X, the request was 0x%02X", f.Control, f.Function(), ctrl)
	}
	if addr != Broadcast && f.Addr != addr {
		return &AddressError{Got: f.Addr, Want: addr}
	}
	if f.Control&ctrlException != 0 {
		if len(f.Data) != 1 {
			return frameErr("exception reply (control 0x%02X) with %d data bytes, want 1", f.Control, len(f.Data))
		}
		return &ExceptionError{Control: f.Control, Bits: ErrorBits(f.Data[0])}
	}
	if f.Control&ctrlFollowing != 0 {
		return ErrFollowingFrames
	}
	return nil
}

// ParseReadData checks f as the reply to ReadDataRequest(addr, di) and returns the
// value bytes after the echoed identifier (low byte first, 33H removed). Errors: an
// *ExceptionError for an exception reply, ErrFollowingFrames, and errors wrapping
// ErrFrame for anything else that is not the answer (another function, another
// address, another identifier, no value).
func ParseReadData(f *Frame, addr Address, di DI) ([]byte, error) {
	if err := checkReply(f, addr, CtrlReadData); err != nil {
		return nil, err
	}
	if len(f.Data) < 4 {
		return nil, frameErr("reply of %d data bytes has no data identifier", len(f.Data))
	}
	if got := DI(uint32(f.Data[0]) | uint32(f.Data[1])<<8 | uint32(f.Data[2])<<16 | uint32(f.Data[3])<<24); got != di {
		return nil, frameErr("data identifier mismatch: reply carries %s, request was %s", got, di)
	}
	if len(f.Data) == 4 {
		return nil, frameErr("reply to %s carries no value", di)
	}
	return f.Data[4:], nil
}

// ParseReadAddress checks f as the reply to ReadAddressRequest and returns the meter's
// address, which must be BCD.
func ParseReadAddress(f *Frame) (Address, error) {
	if err := checkReply(f, Broadcast, CtrlReadAddress); err != nil {
		return Address{}, err
	}
	if len(f.Data) != 6 {
		return Address{}, frameErr("read-address reply of %d data bytes, want 6", len(f.Data))
	}
	var a Address
	copy(a[:], f.Data)
	for _, b := range a {
		if !isBCD(b) {
			return a, &BCDError{Byte: b, Value: a[:], What: "meter address"}
		}
	}
	if f.Addr != a && f.Addr != Broadcast {
		return a, frameErr("read-address reply sent from %s carries address %s", f.Addr, a)
	}
	return a, nil
}

func isBCD(b byte) bool { return b>>4 <= 9 && b&0xF <= 9 }

// Format is a value format of the standard's data tables, e.g. XXXXXX.XX: Digits BCD
// digits (two per byte, low byte first on the wire), the last Decimals of them after
// the decimal point; Signed formats carry the sign in the top bit of the most
// significant byte (最高位为符号位), leaving its high digit 0..7.
type Format struct {
	Digits, Decimals int
	Signed           bool
}

// ParseFormat parses a format as the standard writes it: X for each digit and a '.'
// for the decimal point, with a leading '-' for a signed value, e.g. "XXXXXX.XX",
// "-XXX.XXX". The digit count must be even (whole bytes), 2 to 16.
func ParseFormat(s string) (Format, error) {
	var f Format
	t := s
	if rest, ok := strings.CutPrefix(t, "-"); ok {
		f.Signed, t = true, rest
	}
	intPart, frac, hasPoint := strings.Cut(t, ".")
	bad := func() (Format, error) {
		return Format{}, fmt.Errorf("invalid format %q: want X digits with an optional '.' and a leading '-' for signed values, e.g. \"XXXXXX.XX\" or \"-XXX.XXX\", an even count of 2 to 16 digits", truncate(s, 32))
	}
	if strings.Trim(intPart, "X") != "" || strings.Trim(frac, "X") != "" || (hasPoint && frac == "") {
		return bad()
	}
	f.Digits, f.Decimals = len(intPart)+len(frac), len(frac)
	if f.Digits < 2 || f.Digits > 16 || f.Digits%2 != 0 {
		return bad()
	}
	return f, nil
}

// String renders f as ParseFormat reads it.
func (f Format) String() string {
	s := strings.Repeat("X", f.Digits-f.Decimals)
	if f.Decimals > 0 {
		s += "." + strings.Repeat("X", f.Decimals)
	}
	if f.Signed {
		s = "-" + s
	}
	return s
}

// Bytes returns the value's length on the wire.
func (f Format) Bytes() int { return f.Digits / 2 }

// BCDError is a value byte that is not two BCD digits.
type BCDError struct {
	Byte  byte
	Value []byte // the value's bytes, low byte first, 33H removed
	What  string // e.g. "value of 00010000"
}

func (e *BCDError) Error() string {
	return fmt.Sprintf("not BCD: byte 0x%02X in %s (bytes low first, 33H removed: %s)", e.Byte, e.What, hexBytes(e.Value, 16))
}

// formatLengthError is a value whose length differs from its format's.
type formatLengthError struct{ msg string }

func (e *formatLengthError) Error() string { return e.msg }

// Decode decodes the value bytes b (low byte first, 33H removed) as f. Errors name
// the length when it differs from f's and the first byte that is not BCD.
func (f Format) Decode(b []byte) (float64, error) {
	if len(b) != f.Bytes() {
		return 0, &formatLengthError{fmt.Sprintf("value of %d bytes (%s), format %s has %d", len(b), hexBytes(b, 16), f, f.Bytes())}
	}
	var n uint64
	neg := false
	for i := len(b) - 1; i >= 0; i-- {
		v := b[i]
		if i == len(b)-1 && f.Signed {
			neg, v = v&0x80 != 0, v&0x7F
		}
		if !isBCD(v) {
			return 0, &BCDError{Byte: b[i], Value: b, What: "format " + f.String()}
		}
		n = n*100 + uint64(v>>4)*10 + uint64(v&0xF)
	}
	x := float64(n) / math.Pow10(f.Decimals)
	if neg {
		x = -x
	}
	return x, nil
}

// Encode returns the value bytes of v in f (low byte first, without the 33H offset),
// rounded to f's decimals; values out of range are clamped to the largest magnitude.
// Meant for simulators and tests.
func (f Format) Encode(v float64) []byte {
	neg := v < 0
	if !f.Signed {
		neg, v = false, max(v, 0)
	}
	n := uint64(math.Round(math.Abs(v) * math.Pow10(f.Decimals)))
	if lim := uint64(math.Pow10(f.Digits)) - 1; n > lim {
		n = lim
	}
	if f.Signed && n >= 8*uint64(math.Pow10(f.Digits-1)) {
		n = 8*uint64(math.Pow10(f.Digits-1)) - 1
	}
	b := make([]byte, f.Bytes())
	for i := range b {
		d := n % 100
		n /= 100
		b[i] = byte(d/10)<<4 | byte(d%10)
	}
	if neg && (f.Signed) {
		b[len(b)-1] |= 0x80
	}
	return b
}

// Item describes a data identifier of the standard's table A.1 (electric energy) or
// A.3 (variables) that this package knows.
type Item struct {
	DI     DI
	Name   string // English, e.g. "phase A voltage"
	Format Format
	Unit   string
}

// Items are the data identifiers with a known format (DL/T 645-2007 appendix A); a
// signal reading another one must give its format.
var Items = func() map[DI]Item {
	m := map[DI]Item{}
	add := func(di DI, name, format, unit string) {
		f, err := ParseFormat(format)
		if err != nil {
			panic(err)
		}
		m[di] = Item{DI: di, Name: name, Format: f, Unit: unit}
	}
	// Table A.1: energies, current settlement period; DI2 the kind, DI1 the tariff
	// (00 = total, 01..04 = tariffs 1..4: 尖峰平谷 on most meters).
	energies := []struct {
		di2    DI
		name   string
		format string
		unit   string
	}{
		{0x00, "combined active energy", "-XXXXXX.XX", "kWh"},
		{0x01, "forward active energy", "XXXXXX.XX", "kWh"},
		{0x02, "reverse active energy", "XXXXXX.XX", "kWh"},
		{0x03, "combined reactive energy 1", "-XXXXXX.XX", "kvarh"},
		{0x04, "combined reactive energy 2", "-XXXXXX.XX", "kvarh"},
	}
	for _, e := range energies {
		add(e.di2<<16, "total "+e.name, e.format, e.unit)
		for t := DI(1); t <= 4; t++ {
			add(e.di2<<16|t<<8, fmt.Sprintf("tariff %d %s", t, e.name), e.format, e.unit)
		}
	}
	// Table A.3: instantaneous variables; DI1 the phase (00 = total where it exists).
	phases := []string{"total", "phase A", "phase B", "phase C"}
	for p := DI(1); p <= 3; p++ {
		add(0x02010000|p<<8, phases[p]+" voltage", "XXX.X", "V")
		add(0x02020000|p<<8, phases[p]+" current", "-XXX.XXX", "A")
	}
	for p := DI(0); p <= 3; p++ {
		add(0x02030000|p<<8, phases[p]+" active power", "-XX.XXXX", "kW")
		add(0x02040000|p<<8, phases[p]+" reactive power", "-XX.XXXX", "kvar")
		add(0x02050000|p<<8, phases[p]+" apparent power", "-XX.XXXX", "kVA")
		add(0x02060000|p<<8, phases[p]+" power factor", "-X.XXX", "")
	}
	add(0x02800002, "grid frequency", "XX.XX", "Hz")
	return m
}()
