package opcua

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

type stateEvent struct {
	state point.State
	err   error
}

type signalEvent struct {
	device, field, reason string
	err                   error
}

// recorder is the Observer and emit function of the tests: it keeps everything it gets.
type recorder struct {
	mu       sync.Mutex
	states   []stateEvent
	signals  []signalEvent
	received int
	batches  []point.Batch
	// holdEmit makes emit wait as long as it returns for the 1-based call number (as the
	// pipeline does while a queue refuses the batch), or until ctx ends: then emit
	// returns ctx's error and keeps nothing.
	holdEmit func(call int) time.Duration
	calls    int
}

func (r *recorder) State(source string, s point.State, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, stateEvent{s, err})
}

func (r *recorder) SignalError(source, device, signal, reason string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.signals = append(r.signals, signalEvent{device, signal, reason, err})
}

func (r *recorder) DeadLetter(string, point.DeadLetter, []byte) {}

func (r *recorder) Received(source string, fields int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.received += fields
}

func (r *recorder) emit(ctx context.Context, b point.Batch) error {
	r.mu.Lock()
	r.calls++
	var hold time.Duration
	if r.holdEmit != nil {
		hold = r.holdEmit(r.calls)
	}
	r.mu.Unlock()
	if hold > 0 {
		t := time.NewTimer(hold)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, b)
	return nil
}

// points returns every emitted point of device/field in order.
func (r *recorder) points(device, field string) []point.Point {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []point.Point
	for _, b := range r.batches {
		for _, p := range b {
			if p.Device == device && len(p.Fields) == 1 && p.Fields[0].Key == field {
				out = append(out, p)
			}
		}
	}
	return out
}

// last returns the last point of device/field.
func (r *recorder) last(device, field string) (point.Point, bool) {
	ps := r.points(device, field)
	if len(ps) == 0 {
		return point.Point{}, false
	}
	return ps[len(ps)-1], true
}

func (r *recorder) stateList() []point.State {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]point.State, len(r.states))
	for i, e := range r.states {
		out[i] = e.state
	}
	return out
}

func (r *recorder) signalList() []signalEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]signalEvent(nil), r.signals...)
}

func (r *recorder) fieldCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, b := range r.batches {
		n += b.Fields()
	}
	return n
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testConfig returns a fast-reacting config for url with one Double item per name
// (device "m1", measurement "cnc", field = name).
func testConfig(url string, ts *testServer, names ...string) Config {
	cfg := Config{
		Name:               "cnc",
		Endpoint:           url,
		PublishingInterval: 50 * time.Millisecond,
		ConnectTimeout:     2 * time.Second,
		ReconnectMin:       50 * time.Millisecond,
		ReconnectMax:       500 * time.Millisecond,
	}
	for _, n := range names {
		cfg.Items = append(cfg.Items, Item{Device: "m1", Measurement: "cnc", Tags: testTags, Field: n, NodeID: ts.node(n)})
	}
	return cfg
}

var testTags = []point.Tag{{Key: "device", Value: "m1"}, {Key: "kind", Value: "cnc"}, {Key: "workshop", Value: "ws1"}}

// runSource builds a Source and runs it until the test ends; the returned stop cancels
// Run and waits for it, failing the test if Run returned an error or took over 3s.
func runSource(t *testing.T, cfg Config, rec *recorder, tune func(*Source)) (src *Source, stop func()) {
	t.Helper()
	src, err := New(cfg, rec, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if tune != nil {
		tune(src)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, rec.emit) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v, want nil", err)
				}
			case <-time.After(3 * time.Second):
				t.Errorf("Run did not return within 3s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return src, stop
}

// clientGoroutines lists the stacks of goroutines that belong to a Source or to a gopcua
// client (not to the test server).
func clientGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "adapters/opcua.(*Source)") || strings.Contains(g, "adapters/opcua.(*session)") ||
			strings.Contains(g, "gopcua/opcua.(*Client)") || strings.Contains(g, "uasc.(*SecureChannel).dispatcher") {
			out = append(out, g)
		}
	}
	return out
}

func fmtStates(s []point.State) string {
	parts := make([]string, len(s))
	for i, x := range s {
		parts[i] = x.String()
	}
	return fmt.Sprint(parts)
}

// proxy forwards TCP connections to a target. drop closes every connection (a network
// reset or a crashed server process); freeze stops forwarding without closing anything
// (a hung server or a half-open connection); rewrite changes what the server sends.
type proxy struct {
	t      testing.TB
	l      net.Listener
	target string
	url    string

	mu      sync.Mutex
	conns   []net.Conn
	frozen  bool
	closed  bool
	rewrite func(msg []byte) []byte // server to client, one OPC UA TCP message at a time; nil drops the connection
	lastMsg time.Time               // when the last server message reached the client
	wg      sync.WaitGroup
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	p := &proxy{t: t, l: l, target: target, url: "opc.tcp://" + l.Addr().String()}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			u.Close()
			return
		}
		p.conns = append(p.conns, c, u)
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(u, c)
		go p.fromServer(c, u)
	}
}

// fromServer forwards the server's messages to the client, each through the rewrite
// function while one is set. It reads whole OPC UA TCP messages (8-byte header with
// the size), so a rewrite sees exactly one message.
func (p *proxy) fromServer(dst, src net.Conn) {
	defer p.wg.Done()
	for {
		hdr := make([]byte, 8)
		if _, err := io.ReadFull(src, hdr); err != nil {
			dst.Close()
			return
		}
		size := binary.LittleEndian.Uint32(hdr[4:])
		if size < 8 || size > 16<<20 {
			dst.Close()
			src.Close()
			return
		}
		msg := append(hdr, make([]byte, size-8)...)
		if _, err := io.ReadFull(src, msg[8:]); err != nil {
			dst.Close()
			return
		}
		for {
			p.mu.Lock()
			frozen, closed, rw := p.frozen, p.closed, p.rewrite
			p.mu.Unlock()
			if closed {
				return
			}
			if !frozen {
				if rw != nil {
					msg = rw(msg)
				}
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if msg == nil { // the rewrite drops the connection
			dst.Close()
			src.Close()
			return
		}
		if _, err := dst.Write(msg); err != nil {
			src.Close()
			return
		}
		p.mu.Lock()
		p.lastMsg = time.Now()
		p.mu.Unlock()
	}
}

// lastServerMessage returns when the last server message was passed to the client.
func (p *proxy) lastServerMessage() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastMsg
}

// setRewrite sets (nil: clears) the rewrite of the server's messages.
func (p *proxy) setRewrite(f func(msg []byte) []byte) {
	p.mu.Lock()
	p.rewrite = f
	p.mu.Unlock()
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for n > 0 {
			p.mu.Lock()
			frozen, closed := p.frozen, p.closed
			p.mu.Unlock()
			if closed {
				return
			}
			if !frozen {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.Close()
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

// drop closes every proxied connection; new connections are still accepted.
func (p *proxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) freeze(f bool) {
	p.mu.Lock()
	p.frozen = f
	p.mu.Unlock()
}

func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.l.Close()
	p.drop()
	p.wg.Wait()
}
