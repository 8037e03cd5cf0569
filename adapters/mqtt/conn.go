package mqtt

import (
	"bufio"
	"net"
	"sync"
	"time"
)

const (
	// readBufferSize buffers reads from the broker: paho reads every packet with
	// several small reads (type, each length byte, body).
	readBufferSize = 32 << 10
	// ackFlushDelay is how long a PUBACK may wait for the next ones before they are
	// written together; ackFlushBytes flushes a full buffer at once.
	ackFlushDelay = 200 * time.Microsecond
	ackFlushBytes = 1024
)

// bufConn is the broker connection as paho sees it. Reads are buffered. PUBACK
// packets, which paho writes one by one as a batch is acknowledged, are collected and
// written together after ackFlushDelay; any other packet first flushes them, so the
// byte stream keeps paho's order. A write error of collected PUBACKs is dropped: the
// connection is then broken, paho notices on its next read or write, and the broker
// redelivers unacknowledged messages.
type bufConn struct {
	net.Conn
	r *bufio.Reader

	mu    sync.Mutex
	acks  []byte
	timer *time.Timer
	due   time.Time // when the collected PUBACKs are to be flushed
}

func newBufConn(conn net.Conn) *bufConn {
	c := &bufConn{Conn: conn, r: bufio.NewReaderSize(conn, readBufferSize)}
	c.timer = time.AfterFunc(time.Hour, c.flush)
	c.timer.Stop()
	return c
}

// Read reads through the buffer; paho reads from one goroutine.
func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Write is safe for concurrent use (paho writes from its sender and keep-alive
// goroutines).
func (c *bufConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if isPuback(p) {
		c.acks = append(c.acks, p...)
		if len(c.acks) >= ackFlushBytes {
			c.flushLocked()
		} else if len(c.acks) == len(p) {
			c.due = time.Now().Add(ackFlushDelay)
			c.timer.Reset(ackFlushDelay)
		}
		return len(p), nil
	}
	c.flushLocked()
	return c.Conn.Write(p)
}

// flush runs when the timer fires. A firing that Stop came too late for (its function
// already started) may run after the PUBACKs it was for were flushed and new ones were
// collected: it leaves those to their own timer.
func (c *bufConn) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Now().Before(c.due) {
		return
	}
	c.flushLocked()
}

func (c *bufConn) flushLocked() {
	if len(c.acks) == 0 {
		return
	}
	c.timer.Stop()
	_, _ = c.Conn.Write(c.acks)
	c.acks = c.acks[:0]
}

// Close closes the connection without waiting for a blocked write (closing is what
// unblocks it); collected PUBACKs are dropped.
func (c *bufConn) Close() error {
	c.timer.Stop()
	return c.Conn.Close()
}

// isPuback reports whether p is exactly one MQTT PUBACK packet.
func isPuback(p []byte) bool { return len(p) == 4 && p[0] == 0x40 && p[1] == 2 }

// connMode selects the connection wrapper; only benchmarks change it.
type connMode uint8

const (
	connBuffered     connMode = iota // buffered reads, collected PUBACKs
	connReadBuffered                 // buffered reads only
	connRaw                          // paho's reads and writes on the bare connection
)

// readBufConn buffers reads only.
type readBufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *readBufConn) Read(p []byte) (int, error) { return c.r.Read(p) }
