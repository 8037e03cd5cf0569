package devsim

import "testing"

// FuzzRTURequest feeds arbitrary bytes to the slave's frame parser as they would come
// off the line: every accepted request has a valid CRC and a read function code, the
// parser always makes progress or waits for more, and building the reply of an
// accepted request for a unit serving zeros never panics and carries a valid CRC.
func FuzzRTURequest(f *testing.F) {
	f.Add([]byte{1, 3, 0, 0, 0, 1, 0x84, 0x0A})
	f.Add([]byte{0xFF, 1, 3, 0, 0, 0, 1, 0x84, 0x0A, 2})
	f.Add([]byte{1, 1, 0, 0, 0x07, 0xD0, 0x3C, 0x66})
	sl := NewRTUSlave(map[byte]RTUUnit{1: zeroUnit{}})
	f.Fuzz(func(t *testing.T, in []byte) {
		buf := in
		for len(buf) > 0 {
			req, ok, drop := parseRTURequest(buf)
			if !ok && drop == 0 {
				if len(buf) >= 8 {
					t.Fatalf("no progress on % x", buf)
				}
				break
			}
			if ok {
				if req.fc < 1 || req.fc > 4 || crc16(buf[:6]) != uint16(buf[6])|uint16(buf[7])<<8 {
					t.Fatalf("accepted % x", buf[:8])
				}
				if out := sl.reply(req); out != nil {
					n := len(out) - 2
					if out[0] != 1 || crc16(out[:n]) != uint16(out[n])|uint16(out[n+1])<<8 {
						t.Fatalf("reply % x", out)
					}
				}
			}
			buf = buf[drop:]
		}
	})
}

type zeroUnit struct{}

func (zeroUnit) ReadRegisters(_ byte, _, qty uint16) ([]uint16, byte) { return make([]uint16, qty), 0 }
func (zeroUnit) ReadBits(_ byte, _, qty uint16) ([]bool, byte)        { return make([]bool, qty), 0 }
