package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"

	mb "github.com/simonvetter/modbus"

	"github.com/ganlink/ganlink/adapters/internal/serialline"
)

// Modbus RTU (Modbus over serial line V1.02): a frame is the unit id, the PDU and a
// CRC-16/MODBUS, low byte first; frames are separated by 3.5 character times of
// silence, which serialline.Bus keeps. The client below reads with function codes 01 to
// 04 only, which is all the source needs.

// Function codes of the reads.
const (
	fcReadCoils          = 0x01
	fcReadDiscreteInputs = 0x02
	fcReadHolding        = 0x03
	fcReadInput          = 0x04
)

// ErrCRC is wrapped by the errors of replies whose CRC does not match: noise on the
// line, a wrong baud rate or parity, or two devices answering at once.
var ErrCRC = errors.New("CRC mismatch")

// CRC16 returns the CRC-16/MODBUS of b (polynomial 0xA001 reflected, initial 0xFFFF);
// a frame carries it low byte first.
func CRC16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, x := range b {
		crc ^= uint16(x)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// rtuRequest returns the frame of a read request.
func rtuRequest(unit, fc byte, addr, qty uint16) []byte {
	f := []byte{unit, fc, byte(addr >> 8), byte(addr), byte(qty >> 8), byte(qty), 0, 0}
	crc := CRC16(f[:6])
	f[6], f[7] = byte(crc), byte(crc>>8)
	return f
}

// maxRTUReply is the longest reply to a read: unit, function, byte count, 250 data
// bytes (125 registers), CRC.
const maxRTUReply = 3 + 2*MaxRegistersPerRead + 2

// readRTUReply reads one reply frame from r: its length follows from the function code
// and byte count. It does not check it (parseRTUReply does).
func readRTUReply(r io.Reader, buf []byte) ([]byte, error) {
	f := buf[:3]
	if _, err := io.ReadFull(r, f); err != nil {
		return nil, err
	}
	n := 0
	switch {
	case f[1]&0x80 != 0:
		n = 5 // unit, function|0x80, exception code, CRC
	case f[1] >= fcReadCoils && f[1] <= fcReadInput:
		n = 3 + int(f[2]) + 2
	default:
		return f, fmt.Errorf("%w: unexpected function code 0x%02x", ErrProtocol, f[1])
	}
	if n > len(buf) {
		return f, fmt.Errorf("%w: byte count %d above the longest reply", ErrProtocol, f[2])
	}
	f = buf[:n]
	if _, err := io.ReadFull(r, f[3:]); err != nil {
		return nil, err
	}
	return f, nil
}

// parseRTUReply checks the reply frame f to a read of function fc from unit with
// dataLen data bytes and returns the data. A reply with a bad CRC wraps ErrCRC; an
// exception reply is an *ExceptionError; every other mismatch wraps ErrProtocol.
func parseRTUReply(f []byte, unit, fc byte, dataLen int) ([]byte, error) {
	if len(f) < 5 {
		return nil, fmt.Errorf("%w: %d-byte frame", ErrProtocol, len(f))
	}
	n := len(f) - 2
	if got, want := uint16(f[n])|uint16(f[n+1])<<8, CRC16(f[:n]); got != want {
		return nil, fmt.Errorf("%w: frame % x carries 0x%04x, computed 0x%04x", ErrCRC, clip(f), got, want)
	}
	if f[0] != unit {
		return nil, fmt.Errorf("%w: reply from unit %d to a request to unit %d", ErrProtocol, f[0], unit)
	}
	if f[1] == fc|0x80 && len(f) == 5 {
		return nil, &ExceptionError{Code: f[2]}
	}
	if f[1] != fc {
		return nil, fmt.Errorf("%w: function code 0x%02x in the reply to 0x%02x", ErrProtocol, f[1], fc)
	}
	if int(f[2]) != dataLen || len(f) != 3+dataLen+2 {
		return nil, fmt.Errorf("%w: byte count %d, want %d", ErrProtocol, f[2], dataLen)
	}
	return f[3 : 3+dataLen], nil
}

// clip shortens a frame for an error message.
func clip(f []byte) []byte {
	if len(f) > 16 {
		return f[:16]
	}
	return f
}

// rtuClient reads registers and bits over a serial line; it implements reader. Its
// errors are *ExceptionError, or wrap ErrCRC, ErrProtocol, serialline.ErrTimeout, or
// are a *serialline.LineError.
type rtuClient struct {
	bus  *serialline.Bus
	ctx  context.Context
	unit uint8
	buf  [maxRTUReply]byte
}

func (c *rtuClient) SetUnitId(id uint8) error { c.unit = id; return nil }

// read sends one read request and returns the data bytes of its reply.
func (c *rtuClient) read(fc byte, addr, qty uint16, dataLen int) ([]byte, error) {
	var data []byte
	err := c.bus.Transact(c.ctx, rtuRequest(c.unit, fc, addr, qty), func(r io.Reader) error {
		f, err := readRTUReply(r, c.buf[:])
		if err != nil {
			return err
		}
		data, err = parseRTUReply(f, c.unit, fc, dataLen)
		return err
	})
	return data, err
}

func (c *rtuClient) ReadRawBytes(addr, quantity uint16, regType mb.RegType) ([]byte, error) {
	fc := byte(fcReadHolding)
	if regType == mb.INPUT_REGISTER {
		fc = fcReadInput
	}
	regs := (quantity + 1) / 2
	return c.read(fc, addr, regs, 2*int(regs))
}

func (c *rtuClient) ReadCoils(addr, quantity uint16) ([]bool, error) {
	return c.readBits(fcReadCoils, addr, quantity)
}

func (c *rtuClient) ReadDiscreteInputs(addr, quantity uint16) ([]bool, error) {
	return c.readBits(fcReadDiscreteInputs, addr, quantity)
}

func (c *rtuClient) readBits(fc byte, addr, quantity uint16) ([]bool, error) {
	data, err := c.read(fc, addr, quantity, (int(quantity)+7)/8)
	if err != nil {
		return nil, err
	}
	bits := make([]bool, quantity)
	for i := range bits {
		bits[i] = data[i/8]>>(i%8)&1 != 0
	}
	return bits, nil
}
