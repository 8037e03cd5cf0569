package dlt645

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// The frame layer of DL/T 645-2007 (§4, "帧格式"):
//
//	[FE FE FE FE]  68  A0 A1 A2 A3 A4 A5  68  C  L  DATA(L bytes, each +33H)  CS  16
//
// The optional FE bytes wake the receiver up (a master sends 4; meters answer with 0 to
// 4); A0..A5 is the 12-digit meter address in BCD, low byte first; C the control code;
// L the number of data bytes; every data byte is sent with 33H added (mod 256); CS is
// the sum mod 256 of every byte from the first 68H to the last data byte; 16H ends
// the frame.

// Frame bytes and control codes.
const (
	Start    = 0x68
	End      = 0x16
	Preamble = 0xFE
	// DataOffset is added to every data byte on the wire.
	DataOffset = 0x33

	// CtrlReadData requests a data item by its identifier (主站请求读数据, 11H).
	CtrlReadData = 0x11
	// CtrlReadAddress requests the meter's address (读通信地址, 13H); only valid with
	// the broadcast address on a bus with one meter.
	CtrlReadAddress = 0x13

	ctrlReply     = 0x80 // D7: sent by the meter
	ctrlException = 0x40 // D6: abnormal reply
	ctrlFollowing = 0x20 // D5: following frames
	ctrlFunc      = 0x1F // D4..D0: the function

	// headerLen is 68, the address, 68, C, L; overhead the header, CS and 16.
	headerLen = 10
	overhead  = headerLen + 2
	// MaxData is the largest data length the length byte can state.
	MaxData = 255
	// MaxFrame is the longest frame without preamble.
	MaxFrame = overhead + MaxData
	// maxPreamble bounds the FE bytes (and other noise) skipped before a frame.
	maxPreamble = 64
)

// Address is a meter address: 12 BCD digits, held in wire order (A0, the two lowest
// digits, first). The broadcast address AA…AA is not BCD.
type Address [6]byte

// Broadcast is the broadcast address (广播地址), answered by every meter: only the
// read-address request uses it here, on a bus with a single meter.
var Broadcast = Address{0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA}

// ParseAddress parses a 12-digit meter address as printed on the nameplate, e.g.
// "123456789012" (most significant digit first).
func ParseAddress(s string) (Address, error) {
	var a Address
	if len(s) != 12 {
		return a, fmt.Errorf("invalid meter address %q: want 12 decimal digits", truncate(s, 32))
	}
	for i := 0; i < 12; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return a, fmt.Errorf("invalid meter address %q: want 12 decimal digits", s)
		}
		// digit i (from the left) goes to byte 5-i/2, high nibble for even i.
		b := &a[5-i/2]
		if i%2 == 0 {
			*b |= (c - '0') << 4
		} else {
			*b |= c - '0'
		}
	}
	return a, nil
}

// String renders the address as 12 digits, most significant first; bytes that are not
// BCD (the broadcast address) render as their hex digits, e.g. "AAAAAAAAAAAA".
func (a Address) String() string {
	const hexd = "0123456789ABCDEF"
	var b [12]byte
	for i := 0; i < 6; i++ {
		v := a[5-i]
		b[2*i], b[2*i+1] = hexd[v>>4], hexd[v&0xF]
	}
	return string(b[:])
}

// Frame is one decoded frame. Data holds the data bytes with the 33H offset removed.
type Frame struct {
	// Preamble is the number of FE wake-up bytes before the frame.
	Preamble int
	Addr     Address
	Control  byte
	Data     []byte
}

// IsReply reports whether the frame was sent by a meter (D7 set).
func (f *Frame) IsReply() bool { return f.Control&ctrlReply != 0 }

// Function returns the function bits D4..D0 of the control code.
func (f *Frame) Function() byte { return f.Control & ctrlFunc }

// Append appends the wire form of f to b: the preamble, the frame with 33H added to
// every data byte, the checksum and the end byte. f.Data must hold at most MaxData
// bytes (Append panics otherwise: a programming error).
func (f *Frame) Append(b []byte) []byte {
	if len(f.Data) > MaxData {
		panic(fmt.Sprintf("dlt645: %d data bytes, above %d", len(f.Data), MaxData))
	}
	for i := 0; i < f.Preamble; i++ {
		b = append(b, Preamble)
	}
	start := len(b)
	b = append(b, Start)
	b = append(b, f.Addr[:]...)
	b = append(b, Start, f.Control, byte(len(f.Data)))
	for _, d := range f.Data {
		b = append(b, d+DataOffset)
	}
	return append(b, checksum(b[start:]), End)
}

// Encode returns the wire form of f (see Append).
func (f *Frame) Encode() []byte { return f.Append(make([]byte, 0, f.Preamble+overhead+len(f.Data))) }

// checksum is the sum mod 256 of b.
func checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// ErrFrame is wrapped by every error about a malformed frame.
var ErrFrame = errors.New("malformed dl/t 645 frame")

// ChecksumError is a frame whose checksum byte differs from the sum of its bytes.
type ChecksumError struct {
	Got, Want byte // the frame's CS byte; the sum computed over the frame
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("bad checksum: frame carries 0x%02X, bytes sum to 0x%02X", e.Got, e.Want)
}

// Is makes a ChecksumError match ErrFrame.
func (e *ChecksumError) Is(target error) bool { return target == ErrFrame }

func frameErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrFrame, fmt.Sprintf(format, a...))
}

// Decode decodes b, which must hold exactly one frame, optionally after FE wake-up
// bytes. Every error wraps ErrFrame and says what was wrong: no start byte, the second
// start byte missing, a length byte that disagrees with the frame's size, a bad
// checksum (*ChecksumError, with both values), a bad end byte.
func Decode(b []byte) (Frame, error) {
	var f Frame
	for f.Preamble < len(b) && b[f.Preamble] == Preamble {
		f.Preamble++
	}
	b = b[f.Preamble:]
	if len(b) == 0 {
		return f, frameErr("no start byte 0x68: frame is empty after %d wake-up bytes", f.Preamble)
	}
	if b[0] != Start {
		return f, frameErr("no start byte: got 0x%02X, want 0x68", b[0])
	}
	if len(b) < overhead {
		return f, frameErr("short frame: %d bytes, a frame has at least %d", len(b), overhead)
	}
	if b[7] != Start {
		return f, frameErr("second start byte (offset 7) is 0x%02X, want 0x68", b[7])
	}
	n := int(b[9])
	if len(b) != overhead+n {
		return f, frameErr("length mismatch: length byte says %d data bytes, frame has %d", n, len(b)-overhead)
	}
	if cs, want := b[headerLen+n], checksum(b[:headerLen+n]); cs != want {
		return f, &ChecksumError{Got: cs, Want: want}
	}
	if e := b[headerLen+n+1]; e != End {
		return f, frameErr("bad end byte 0x%02X, want 0x16", e)
	}
	copy(f.Addr[:], b[1:7])
	f.Control = b[8]
	if n > 0 {
		f.Data = make([]byte, n)
		for i, d := range b[headerLen : headerLen+n] {
			f.Data[i] = d - DataOffset
		}
	}
	return f, nil
}

// ReadFrame reads one frame from r: it skips up to 64 bytes before the start byte (FE
// wake-up bytes, and line noise such as the break a transceiver makes when it turns
// around), then reads the header, the data the length byte announces, the checksum and
// the end byte, and decodes them. It reads no byte past the frame. buf, if big enough
// (MaxFrame+64), is used for the frame's bytes. The returned raw slice holds the bytes
// read, for logging. r's own errors (a timeout, io.EOF) are returned as they are.
func ReadFrame(r io.Reader, buf []byte) (f Frame, raw []byte, err error) {
	if cap(buf) < MaxFrame+maxPreamble {
		buf = make([]byte, 0, MaxFrame+maxPreamble)
	}
	raw = buf[:0]
	var one [1]byte
	skipped := 0
	for {
		if _, err := io.ReadFull(r, one[:]); err != nil {
			return f, raw, err
		}
		if one[0] == Start {
			break
		}
		raw = append(raw, one[0])
		if skipped++; skipped > maxPreamble {
			return f, raw, frameErr("no start byte 0x68 in the first %d bytes", maxPreamble)
		}
	}
	lead := len(raw)
	raw = append(raw, Start)
	raw = raw[:lead+headerLen]
	if _, err := io.ReadFull(r, raw[lead+1:]); err != nil {
		return f, raw[:lead+1], err
	}
	hdr := raw[lead:]
	if hdr[7] != Start {
		return f, raw, frameErr("second start byte (offset 7) is 0x%02X, want 0x68", hdr[7])
	}
	n := int(hdr[9])
	raw = raw[:lead+overhead+n]
	if _, err := io.ReadFull(r, raw[lead+headerLen:]); err != nil {
		return f, raw[:lead+headerLen], err
	}
	// Leading bytes other than FE are noise: decode from the start byte, keep the
	// count of FE right before it as the preamble.
	pre := 0
	for pre < lead && raw[lead-1-pre] == Preamble {
		pre++
	}
	f, err = Decode(raw[lead-pre:])
	return f, raw, err
}

// hexBytes renders b as "68 12 90 …", at most max bytes, then "…".
func hexBytes(b []byte, max int) string {
	var s strings.Builder
	for i, c := range b {
		if i == max {
			s.WriteString(" …")
			break
		}
		if i > 0 {
			s.WriteByte(' ')
		}
		fmt.Fprintf(&s, "%02X", c)
	}
	return s.String()
}

// truncate cuts s to at most n bytes, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
