package devsim

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// A Modbus RTU slave (Modbus over serial line V1.02), written from the specification
// independently of the gateway's client (adapters/modbus): it serves the read function
// codes 01 to 04 for the units of one RS-485 bus, answers nothing for a unit it does
// not serve (a dead or absent meter) nor for the broadcast address 0, and can be made
// to corrupt the CRC of its replies.

// RTUUnit is one device on a simulated bus.
type RTUUnit interface {
	// ReadRegisters returns qty registers from addr of the holding (function 03) or
	// input (04) registers, or a Modbus exception code (2: illegal data address).
	ReadRegisters(fc byte, addr, qty uint16) ([]uint16, byte)
	// ReadBits returns qty coils (01) or discrete inputs (02) from addr, or an
	// exception code.
	ReadBits(fc byte, addr, qty uint16) ([]bool, byte)
}

// RTUSlave answers the requests on one bus for the units it serves.
type RTUSlave struct {
	mu      sync.Mutex
	units   map[byte]RTUUnit
	corrupt int           // replies still to send with a bad CRC
	delay   time.Duration // before each reply
	baud    int           // wire emulation (SetWireSpeed)

	// Requests counts well-formed requests seen, for any unit; Replies the replies
	// sent; BadFrames the bytes skipped while looking for a frame.
	Requests, Replies, BadFrames atomic.Int64
}

// NewRTUSlave returns a slave serving units.
func NewRTUSlave(units map[byte]RTUUnit) *RTUSlave {
	m := make(map[byte]RTUUnit, len(units))
	for k, v := range units {
		m[k] = v
	}
	return &RTUSlave{units: m}
}

// SetUnit adds, replaces or (u nil) removes a unit: removing one makes it silent.
func (sl *RTUSlave) SetUnit(id byte, u RTUUnit) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if u == nil {
		delete(sl.units, id)
	} else {
		sl.units[id] = u
	}
}

// CorruptReplies makes the next n replies carry a wrong CRC.
func (sl *RTUSlave) CorruptReplies(n int) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	sl.corrupt = n
}

// SetDelay delays every reply by d (a slow meter, a long line).
func (sl *RTUSlave) SetDelay(d time.Duration) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	sl.delay = d
}

// SetWireSpeed makes the slave answer as late as on a real RS-485 line at baud (8N1,
// 10 bits a character): a pty carries bytes at once, so each reply is written after the
// wire time of the request, the 3.5-character gap that ends it, and the wire time of
// the reply. 0 answers at once.
func (sl *RTUSlave) SetWireSpeed(baud int) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	sl.baud = baud
}

// wireDelay is the wait before a reply of n bytes to an 8-byte request.
func wireDelay(baud, n int) time.Duration {
	if baud <= 0 {
		return 0
	}
	gap := 35 * time.Second / time.Duration(baud) // 3.5 characters of 10 bits
	if baud > 19200 {
		gap = 1750 * time.Microsecond
	}
	return time.Duration((8+n)*10)*time.Second/time.Duration(baud) + gap
}

// crc16 is CRC-16/MODBUS, table-driven (the client computes it bit by bit).
func crc16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, x := range b {
		crc = crc>>8 ^ crcTable[byte(crc)^x]
	}
	return crc
}

var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 == 1 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

// rtuRequest is one decoded read request.
type rtuRequest struct {
	unit, fc  byte
	addr, qty uint16
}

// parseRTURequest looks for a read request at the start of b: it returns the request
// and true when b starts with a complete 8-byte frame with a valid CRC and a read
// function code, and how many leading bytes to drop otherwise (0: wait for more).
func parseRTURequest(b []byte) (req rtuRequest, ok bool, drop int) {
	if len(b) < 8 {
		return req, false, 0
	}
	if fc := b[1]; fc < 1 || fc > 4 || crc16(b[:6]) != uint16(b[6])|uint16(b[7])<<8 {
		return req, false, 1
	}
	return rtuRequest{unit: b[0], fc: b[1], addr: uint16(b[2])<<8 | uint16(b[3]), qty: uint16(b[4])<<8 | uint16(b[5])}, true, 8
}

// reply builds the reply frame to req, or nil when the unit stays silent.
func (sl *RTUSlave) reply(req rtuRequest) []byte {
	sl.mu.Lock()
	u := sl.units[req.unit]
	corrupt := sl.corrupt > 0 && u != nil && req.unit != 0
	if corrupt {
		sl.corrupt--
	}
	delay, baud := sl.delay, sl.baud
	start := time.Now()
	sl.mu.Unlock()
	if u == nil || req.unit == 0 {
		return nil
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	out := []byte{req.unit, req.fc}
	exc := byte(0)
	switch req.fc {
	case 3, 4:
		if req.qty < 1 || req.qty > 125 {
			exc = 3
			break
		}
		var regs []uint16
		if regs, exc = u.ReadRegisters(req.fc, req.addr, req.qty); exc == 0 {
			out = append(out, byte(2*len(regs)))
			for _, r := range regs {
				out = append(out, byte(r>>8), byte(r))
			}
		}
	case 1, 2:
		if req.qty < 1 || req.qty > 2000 {
			exc = 3
			break
		}
		var bits []bool
		if bits, exc = u.ReadBits(req.fc, req.addr, req.qty); exc == 0 {
			data := make([]byte, (len(bits)+7)/8)
			for i, v := range bits {
				if v {
					data[i/8] |= 1 << (i % 8)
				}
			}
			out = append(out, byte(len(data)))
			out = append(out, data...)
		}
	}
	if exc != 0 {
		out = []byte{req.unit, req.fc | 0x80, exc}
	}
	crc := crc16(out)
	if corrupt {
		crc ^= 0x5A5A
	}
	out = append(out, byte(crc), byte(crc>>8))
	if w := time.Until(start.Add(wireDelay(baud, len(out)))); w > 0 {
		time.Sleep(w)
	}
	return out
}

// deadliner is a line whose reads can time out: a pty or a TCP connection.
type deadliner interface {
	io.ReadWriter
	SetReadDeadline(time.Time) error
}

// Serve answers the requests arriving on rw until ctx is done or rw fails. A pause of
// 20 ms without bytes ends a partial frame (a frame gap at any usual baud rate, with
// margin for the scheduler).
func (sl *RTUSlave) Serve(ctx context.Context, rw deadliner) error {
	stop := context.AfterFunc(ctx, func() { rw.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 0, 512)
	chunk := make([]byte, 256)
	for {
		rw.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		n, err := rw.Read(chunk)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || isNetTimeout(err) {
				if len(buf) > 0 {
					sl.BadFrames.Add(int64(len(buf)))
					buf = buf[:0]
				}
				continue
			}
			return err
		}
		buf = append(buf, chunk[:n]...)
		for {
			req, ok, drop := parseRTURequest(buf)
			if !ok && drop == 0 {
				break
			}
			if !ok {
				sl.BadFrames.Add(int64(drop))
				buf = buf[:copy(buf, buf[drop:])]
				continue
			}
			buf = buf[:copy(buf, buf[drop:])]
			sl.Requests.Add(1)
			if out := sl.reply(req); out != nil {
				if _, err := rw.Write(out); err != nil {
					return err
				}
				sl.Replies.Add(1)
			}
		}
		if len(buf) > 256 {
			sl.BadFrames.Add(int64(len(buf)))
			buf = buf[:0]
		}
	}
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ServePort answers on the serial port (or pty end) at path, opened read-write; the
// port must already be in raw mode (socat's pty,raw does it). A failure of the port
// (socat stopped) makes it try to open the path again every 50 ms until ctx is done.
func (sl *RTUSlave) ServePort(ctx context.Context, path string) error {
	for ctx.Err() == nil {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err == nil {
			sl.Serve(ctx, f)
			f.Close()
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// ServeTCP is a serial device server in transparent mode: it accepts TCP connections
// on l and carries the RTU frames of each to the slave, one connection at a time as
// on one bus. It returns when ctx is done.
func (sl *RTUSlave) ServeTCP(ctx context.Context, l net.Listener) error {
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	var line sync.Mutex // one bus
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			line.Lock()
			defer line.Unlock()
			sl.Serve(ctx, c.(*net.TCPConn))
		}()
	}
}
