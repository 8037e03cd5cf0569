package serialline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// responder answers 4-byte requests on one end of a line: "ping" with "pong", "mute"
// not at all, "slow" with "late" after 3 response timeouts, "junk" with "pong" and
// trailing garbage, and "e<id>" with "r<id>". It reopens its end when the line fails.
type responder struct {
	open func() (io.ReadWriteCloser, error)
	slow time.Duration
}

func (r *responder) run(ctx context.Context) {
	for ctx.Err() == nil {
		p, err := r.open()
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		stop := context.AfterFunc(ctx, func() { p.Close() })
		r.serve(p)
		stop()
		p.Close()
	}
}

func (r *responder) serve(p io.ReadWriter) {
	req := make([]byte, 4)
	for {
		if _, err := io.ReadFull(p, req); err != nil {
			return
		}
		switch s := string(req); {
		case s == "ping":
			p.Write([]byte("pong"))
		case s == "mute":
		case s == "slow":
			go func() { time.Sleep(r.slow); p.Write([]byte("late")) }()
		case s == "flod":
			p.Write(bytes.Repeat([]byte("U"), 64<<10))
		case s == "junk":
			p.Write([]byte("pong\x00\xff\x13garbage"))
		case s[0] == 'e':
			p.Write([]byte("r" + s[1:]))
		}
	}
}

func read4(want string) func(r io.Reader) error {
	return func(r io.Reader) error {
		b := make([]byte, 4)
		if _, err := io.ReadFull(r, b); err != nil {
			return err
		}
		if string(b) != want {
			return fmt.Errorf("reply %q, want %q", b, want)
		}
		return nil
	}
}

func ptyBus(t *testing.T, pp *testsrv.PtyPair, timeout time.Duration) *Bus {
	t.Helper()
	l := Line{Endpoint: "serial://" + pp.A, BaudRate: 115200, ResponseTimeout: timeout}
	l.ApplyDefaults("none")
	var problems []string
	l.Check(func(f, format string, a ...any) { problems = append(problems, f+": "+fmt.Sprintf(format, a...)) })
	if problems != nil {
		t.Fatal(problems)
	}
	b := NewBus(l)
	t.Cleanup(func() { b.Close() })
	peer := Line{Network: "serial", Address: pp.B, BaudRate: 115200, DataBits: 8, Parity: "none", StopBits: 1}
	ctx, cancel := context.WithCancel(context.Background())
	r := &responder{slow: 3 * timeout, open: func() (io.ReadWriteCloser, error) { return Open(ctx, peer) }}
	done := make(chan struct{})
	go func() { r.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return b
}

func TestBusOverPty(t *testing.T) {
	pp := testsrv.StartPtyPair(t)
	// Generous: under a loaded CI machine a pty round trip can take well over 50 ms.
	const timeout = 500 * time.Millisecond
	b := ptyBus(t, pp, timeout)
	ctx := context.Background()
	if err := b.Transact(ctx, []byte("ping"), read4("pong")); err != nil {
		t.Fatal(err)
	}
	// A silent device costs its timeout and yields ErrTimeout.
	start := time.Now()
	err := b.Transact(ctx, []byte("mute"), read4("none"))
	if !errors.Is(err, ErrTimeout) || err.Error() != "no response within 500ms" {
		t.Fatalf("mute: %v", err)
	}
	if el := time.Since(start); el < timeout {
		t.Fatalf("timeout after %v", el)
	}
	// A reply arriving after its timeout is not taken for the next request's.
	if err := b.Transact(ctx, []byte("slow"), read4("late")); !errors.Is(err, ErrTimeout) {
		t.Fatalf("slow: %v", err)
	}
	time.Sleep(3*timeout - timeout + 300*time.Millisecond) // the late reply (3 × timeout after the request) arrives now
	if err := b.Transact(ctx, []byte("ping"), read4("pong")); err != nil {
		t.Fatalf("after a late reply: %v", err)
	}
	// A bad frame: the trailing bytes are drained before the next request.
	err = b.Transact(ctx, []byte("junk"), func(r io.Reader) error {
		if err := read4("pong")(r); err != nil {
			return err
		}
		return errors.New("bad checksum")
	})
	if err == nil || err.Error() != "bad checksum" {
		t.Fatalf("junk: %v", err)
	}
	if err := b.Transact(ctx, []byte("ping"), read4("pong")); err != nil {
		t.Fatalf("after junk: %v", err)
	}
	// A device babbling 64 KiB: the request fails at once, the drain is bounded, and
	// the line recovers once the babble is read away.
	start = time.Now()
	if err := b.Transact(ctx, []byte("flod"), read4("pong")); err == nil || err.Error() != `reply "UUUU", want "pong"` {
		t.Fatalf("flood: %v", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("flood took %v", el)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.Transact(ctx, []byte("ping"), read4("pong")) != nil {
		if time.Now().After(deadline) {
			t.Fatal("no pong 10 s after a flood")
		}
	}
	// One request in flight: concurrent callers each get their own reply.
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				id := fmt.Sprintf("%d%02d", g, i)
				errs <- b.Transact(ctx, []byte("e"+id), read4("r"+id))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestBusLineLostAndBack unplugs the line (socat stopped): the request fails with a
// *LineError, the port is closed, and once the line is back the next request opens it
// again and gets its reply.
func TestBusLineLostAndBack(t *testing.T) {
	pp := testsrv.StartPtyPair(t)
	b := ptyBus(t, pp, 100*time.Millisecond)
	ctx := context.Background()
	if err := b.Transact(ctx, []byte("ping"), read4("pong")); err != nil {
		t.Fatal(err)
	}
	pp.Stop()
	var le *LineError
	err := b.Transact(ctx, []byte("ping"), read4("pong"))
	if !errors.As(err, &le) {
		t.Fatalf("after stop: %v (%T)", err, err)
	}
	err = b.Transact(ctx, []byte("ping"), read4("pong"))
	if !errors.As(err, &le) || le.Op != "open" || !strings.Contains(err.Error(), "no such file or directory") {
		t.Fatalf("while stopped: %v", err)
	}
	pp.Start()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err = b.Transact(ctx, []byte("ping"), read4("pong"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("line back, still: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBusSerialServer runs the bus over TCP, as to a serial device server in
// transparent mode, including the server closing the connection.
func TestBusSerialServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
			go (&responder{slow: time.Second}).serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
	l := Line{Endpoint: "tcp://" + ln.Addr().String(), ResponseTimeout: 100 * time.Millisecond,
		TurnaroundDelay: DefaultTurnaroundDelay}
	l.ApplyDefaults("none")
	l.Check(func(f, format string, a ...any) { t.Fatalf("%s: %s", f, fmt.Sprintf(format, a...)) })
	b := NewBus(l)
	defer b.Close()
	ctx := context.Background()
	if err := b.Transact(ctx, []byte("ping"), read4("pong")); err != nil {
		t.Fatal(err)
	}
	if err := b.Transact(ctx, []byte("mute"), read4("x")); !errors.Is(err, ErrTimeout) {
		t.Fatalf("mute: %v", err)
	}
	(<-conns).Close() // the server drops the connection
	var le *LineError
	if err := b.Transact(ctx, []byte("ping"), read4("pong")); !errors.As(err, &le) {
		t.Fatalf("after close: %v", err)
	}
	if err := b.Transact(ctx, []byte("ping"), read4("pong")); err != nil {
		t.Fatalf("reconnected: %v", err)
	}
	// Broadcast: no reply read, the line kept silent for the turnaround delay.
	start := time.Now()
	if err := b.Broadcast(ctx, []byte("mute")); err != nil {
		t.Fatal(err)
	}
	if err := b.Transact(ctx, []byte("ping"), read4("pong")); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < DefaultTurnaroundDelay {
		t.Fatalf("request after a broadcast went out after %v, before the turnaround delay", el)
	}
}

// TestBusContext: a request whose context ends returns at once with ctx.Err().
func TestBusContext(t *testing.T) {
	pp := testsrv.StartPtyPair(t)
	b := ptyBus(t, pp, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := b.Transact(ctx, []byte("mute"), read4("x")); err != context.DeadlineExceeded {
		t.Fatalf("got %v", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("returned after %v", el)
	}
}
