package modbus

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzRTUReply decodes arbitrary bytes as the reply to a read: reading the frame off
// the line must stop at the length the frame announces (never past maxRTUReply), and a
// frame accepted by parseRTUReply must carry a valid CRC, the request's unit and
// function and exactly the requested data; an exception reply must carry the request's
// function with bit 7 set. Nothing may panic.
func FuzzRTUReply(f *testing.F) {
	f.Add([]byte{1, 3, 4, 0, 1, 0, 2, 0x2A, 0x32}, byte(1), byte(3), 4)
	f.Add([]byte{1, 0x83, 2, 0xC0, 0xF1}, byte(1), byte(3), 2)
	f.Add([]byte{1, 1, 1, 5, 0x91, 0x8B}, byte(1), byte(1), 1)
	f.Add([]byte{7, 4, 0xFF}, byte(7), byte(4), 250)
	f.Fuzz(func(t *testing.T, in []byte, unit, fc byte, dataLen int) {
		var buf [maxRTUReply]byte
		frame, err := readRTUReply(bytes.NewReader(in), buf[:])
		if len(frame) > maxRTUReply || len(frame) > len(in) {
			t.Fatalf("read %d bytes from %d", len(frame), len(in))
		}
		if err != nil {
			return
		}
		if !bytes.Equal(frame, in[:len(frame)]) {
			t.Fatalf("frame % x is not the input's start", frame)
		}
		data, err := parseRTUReply(frame, unit, fc, dataLen)
		var ee *ExceptionError
		switch {
		case err == nil:
			n := len(frame) - 2
			if CRC16(frame[:n]) != uint16(frame[n])|uint16(frame[n+1])<<8 || frame[0] != unit || frame[1] != fc ||
				len(data) != dataLen || !bytes.Equal(data, frame[3:3+dataLen]) {
				t.Fatalf("accepted % x for unit %d fc %d len %d", frame, unit, fc, dataLen)
			}
		case errors.As(err, &ee):
			if frame[1] != fc|0x80 || ee.Code != frame[2] {
				t.Fatalf("exception %v from % x", err, frame)
			}
		case !errors.Is(err, ErrCRC) && !errors.Is(err, ErrProtocol):
			t.Fatalf("error %v is neither a CRC nor a protocol error", err)
		}
		// The same data in a well-formed reply is accepted.
		if dataLen >= 0 && dataLen <= 250 && fc >= 1 && fc <= 4 {
			d := make([]byte, dataLen)
			copy(d, in)
			good := append([]byte{unit, fc, byte(dataLen)}, d...)
			crc := CRC16(good)
			good = append(good, byte(crc), byte(crc>>8))
			fr, err := readRTUReply(bytes.NewReader(good), buf[:])
			if err != nil {
				t.Fatalf("read well-formed % x: %v", good, err)
			}
			got, err := parseRTUReply(fr, unit, fc, dataLen)
			if err != nil || !bytes.Equal(got, d) {
				t.Fatalf("well-formed % x: %v", good, err)
			}
		}
	})
}
