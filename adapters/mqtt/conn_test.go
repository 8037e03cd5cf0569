package mqtt

import (
	"bytes"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts writes to the underlying connection.
type countingConn struct {
	net.Conn
	writes atomic.Int32
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func puback(id uint16) []byte { return []byte{0x40, 2, byte(id >> 8), byte(id)} }

func TestBufConnCollectsPubacks(t *testing.T) {
	client, server := tcpPair(t)
	cc := &countingConn{Conn: client}
	c := newBufConn(cc)

	// 100 PUBACKs written back to back (from two goroutines, as paho's sender and
	// keep-alive may write concurrently) go out in a few writes; a PINGREQ flushes the
	// PUBACKs before it and is written at once.
	var want bytes.Buffer
	for i := range 100 {
		p := puback(uint16(i + 1))
		want.Write(p)
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.Write([]byte{0xc0, 0}) // PINGREQ
	}()
	wg.Wait()
	want.Write([]byte{0xc0, 0})
	got := make([]byte, want.Len())
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("stream differs:\n got % x\nwant % x", got, want.Bytes())
	}
	// Two writes (PUBACKs, PINGREQ), or three if the flush timer fired while the
	// PUBACKs were being written.
	if n := cc.writes.Load(); n < 2 || n > 3 {
		t.Fatalf("%d writes to the connection, want 2 or 3", n)
	}

	// A lone PUBACK is written after the flush delay.
	begin := time.Now()
	c.Write(puback(7))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(server, buf); err != nil || !bytes.Equal(buf, puback(7)) {
		t.Fatalf("lone PUBACK: % x, %v", buf, err)
	}
	if d := time.Since(begin); d < ackFlushDelay {
		t.Fatalf("lone PUBACK written after %s, before the flush delay", d)
	}

	// A full buffer is written without waiting for the timer.
	before := cc.writes.Load()
	c.mu.Lock()
	c.timer.Reset(time.Hour) // as if the first PUBACK had just been collected
	c.acks = append(c.acks, puback(1)...)
	c.mu.Unlock()
	for i := range ackFlushBytes/4 - 1 {
		c.Write(puback(uint16(i)))
	}
	if n := cc.writes.Load() - before; n != 1 || len(c.acks) != 0 {
		t.Fatalf("%d writes for a full buffer (%d bytes left), want 1", n, len(c.acks))
	}
	if _, err := io.ReadFull(server, make([]byte, ackFlushBytes)); err != nil {
		t.Fatal(err)
	}

	// Reads go through the buffer.
	server.Write([]byte{0x90, 3, 0, 1, 1})
	r := make([]byte, 1)
	for i, w := range []byte{0x90, 3, 0, 1, 1} {
		if _, err := io.ReadFull(c, r); err != nil || r[0] != w {
			t.Fatalf("read %d: %x, %v", i, r[0], err)
		}
	}

	// Close with PUBACKs pending does not block and stops the timer.
	c.Write(puback(9))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * ackFlushDelay)
}
