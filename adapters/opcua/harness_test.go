package opcua

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/gateway/point"
)

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
func runSource(t *testing.T, cfg Config, rec *adaptertest.Recorder, tune func(*Source)) (src *Source, stop func()) {
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
	go func() { done <- src.Run(ctx, rec.Emit) }()
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
func clientGoroutines() []string { return adaptertest.Stacks(opcuaFrames...) }

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
