package serialline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrTimeout is wrapped by the error of a request that got no complete reply within
// the line's response timeout.
var ErrTimeout = errors.New("no response")

// LineError is the error of the line itself: it could not be opened, or a write or
// read failed (the serial port vanished, the serial server closed the connection). The
// Bus closes the port; the next request opens it again.
type LineError struct {
	Endpoint string
	Op       string // "open", "write" or "read"
	Err      error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %s: %s: %v", e.Endpoint, e.Op, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// maxDrain bounds the bytes discarded while the line resynchronises after a bad frame.
const maxDrain = 4096

// Bus is one serial line shared by the devices on it. Requests are serialised: one in
// flight, each sent only after the line was silent for the inter-frame gap (and the
// turnaround delay after a broadcast); input nobody asked for (a late reply of a slow
// device, noise) is discarded before each request. Safe for concurrent use.
type Bus struct {
	line Line
	open func(context.Context, Line) (Port, error)

	mu         sync.Mutex
	port       Port
	quietUntil time.Time // the next request goes out no earlier
	discard    []byte
}

// NewBus returns the bus of the line l (checked by Check, defaults applied). It opens
// nothing: Open or the first request does.
func NewBus(l Line) *Bus { return &Bus{line: l, open: Open, discard: make([]byte, 256)} }

// Line returns the bus's line.
func (b *Bus) Line() Line { return b.line }

// Open opens the line unless it is open. The error is a *LineError.
func (b *Bus) Open(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.openLocked(ctx)
}

func (b *Bus) openLocked(ctx context.Context) error {
	if b.port != nil {
		return nil
	}
	p, err := b.open(ctx, b.line)
	if err != nil {
		return &LineError{Endpoint: b.line.Endpoint, Op: "open", Err: err}
	}
	b.port = p
	b.quietUntil = time.Now().Add(b.line.FrameGap())
	return nil
}

// Close closes the line; a later request opens it again.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closeLocked()
}

func (b *Bus) closeLocked() error {
	if b.port == nil {
		return nil
	}
	err := b.port.Close()
	b.port = nil
	return err
}

// Transact sends the frame req and hands the reply to read, which reads the reply's
// bytes from r until the frame is complete (io.ReadFull) and checks it. r returns an
// error wrapping ErrTimeout once the response timeout, counted from the end of the
// request's transmission, elapsed, and a *LineError when the line fails. After an
// error of read, the bus waits for the line to fall silent and discards what arrived,
// so that the next request starts on a frame boundary. Transact returns ctx.Err() when
// ctx ended during the request; a *LineError closes the line.
func (b *Bus) Transact(ctx context.Context, req []byte, read func(r io.Reader) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.sendLocked(ctx, req); err != nil {
		return err
	}
	deadline := time.Now().Add(b.line.WireTime(len(req)) + b.line.ResponseTimeout)
	if err := b.port.SetReadDeadline(deadline); err != nil {
		return b.fail("read", err)
	}
	port := b.port // the func may still run after stop, when a failed line is closed
	stop := context.AfterFunc(ctx, func() { port.SetReadDeadline(time.Now()) })
	rr := &replyReader{b: b}
	err := read(rr)
	stop()
	if ctx.Err() != nil {
		b.quietUntil = time.Now().Add(b.line.FrameGap())
		return ctx.Err()
	}
	var le *LineError
	if errors.As(err, &le) {
		b.closeLocked()
		return err
	}
	if err != nil && !errors.Is(err, ErrTimeout) {
		b.drainLocked()
	}
	b.quietUntil = time.Now().Add(b.line.FrameGap())
	return err
}

// Broadcast sends the frame req, which no device answers, and keeps the line silent
// for the turnaround delay so that every device processes it.
func (b *Bus) Broadcast(ctx context.Context, req []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.sendLocked(ctx, req); err != nil {
		return err
	}
	b.quietUntil = time.Now().Add(b.line.WireTime(len(req)) + max(b.line.TurnaroundDelay, b.line.FrameGap()))
	return nil
}

// sendLocked opens the line if needed, waits for the quiet time, discards unsolicited
// input and writes req.
func (b *Bus) sendLocked(ctx context.Context, req []byte) error {
	if err := b.openLocked(ctx); err != nil {
		return err
	}
	if wait := time.Until(b.quietUntil); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if err := b.discardPending(); err != nil {
		return err
	}
	if _, err := b.port.Write(req); err != nil {
		return b.fail("write", err)
	}
	return nil
}

// discardPending reads away what is already buffered, without waiting.
func (b *Bus) discardPending() error {
	sc, ok := b.port.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err == nil {
		err = b.port.SetReadDeadline(time.Time{}) // a past deadline would fail the raw read
	}
	if err != nil {
		return b.fail("read", err)
	}
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		for n := 0; n < maxDrain; {
			k, err := unix.Read(int(fd), b.discard)
			switch {
			case k > 0:
				n += k
				continue
			case err == unix.EAGAIN || err == unix.EINTR:
			case err == nil:
				rerr = io.EOF
			default:
				rerr = err
			}
			break
		}
		return true // never wait
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return b.fail("read", err)
	}
	return nil
}

// maxDrainTime bounds the wait for silence after a bad frame.
const maxDrainTime = time.Second

// drainLocked waits until the line was silent for a frame gap and discards what
// arrived: at most maxDrain bytes, for at most maxDrainTime (a babbling device cannot
// hold the bus longer).
func (b *Bus) drainLocked() {
	gap := max(b.line.FrameGap(), 2*time.Millisecond)
	end := time.Now().Add(min(b.line.WireTime(maxDrain), maxDrainTime))
	for n := 0; n < maxDrain && time.Now().Before(end); {
		if b.port.SetReadDeadline(time.Now().Add(gap)) != nil {
			return
		}
		k, err := b.port.Read(b.discard)
		n += k
		if err != nil || k == 0 {
			if err != nil && !isTimeout(err) {
				b.closeLocked()
			}
			return
		}
	}
}

func (b *Bus) fail(op string, err error) error {
	b.closeLocked()
	return &LineError{Endpoint: b.line.Endpoint, Op: op, Err: err}
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// replyReader reads a reply from the bus's port, turning the deadline into ErrTimeout
// and other failures into a *LineError.
type replyReader struct {
	b *Bus
	n int // bytes read
}

func (r *replyReader) Read(p []byte) (int, error) {
	if r.b.port == nil {
		return 0, &LineError{Endpoint: r.b.line.Endpoint, Op: "read", Err: errors.New("line closed")}
	}
	k, err := r.b.port.Read(p)
	r.n += k
	if err == nil && k == 0 && len(p) > 0 {
		err = io.EOF
	}
	if err != nil {
		if isTimeout(err) {
			if r.n == 0 {
				return k, fmt.Errorf("%w within %s", ErrTimeout, r.b.line.ResponseTimeout)
			}
			return k, fmt.Errorf("%w: incomplete reply, %d bytes within %s", ErrTimeout, r.n, r.b.line.ResponseTimeout)
		}
		return k, &LineError{Endpoint: r.b.line.Endpoint, Op: "read", Err: err}
	}
	return k, nil
}
