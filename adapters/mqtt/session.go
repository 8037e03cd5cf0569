package mqtt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/ganlink/ganlink/gateway/point"
)

// Session constants.
const (
	// readBufferSize buffers reads from the broker: at 10 000 messages/s one read
	// carries dozens of packets.
	readBufferSize = 32 << 10
	// oversizeKeep is how much of a payload larger than MaxPayloadBytes is kept for the
	// dead letter and the sniff sample; the rest is read past without being stored.
	oversizeKeep = 4 << 10
	// maxPingTimeout bounds the wait for a PINGRESP.
	maxPingTimeout = 10 * time.Second
)

// MQTT 3.1.1 control packet types (the high nibble of the first byte).
const (
	typeConnect     = 1
	typeConnack     = 2
	typePublish     = 3
	typePuback      = 4
	typePubrec      = 5
	typePubrel      = 6
	typePubcomp     = 7
	typeSubscribe   = 8
	typeSuback      = 9
	typeUnsubscribe = 10
	typeUnsuback    = 11
	typePingreq     = 12
	typePingresp    = 13
	typeDisconnect  = 14
)

var (
	errPingTimeout   = errors.New("pingresp not received, disconnecting")
	errSessionClosed = errors.New("session closed")
)

// protocolError is a packet from the broker that breaks MQTT 3.1.1: a faulty or hostile
// broker, or damage on the path.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return e.msg }

func malformed(format string, a ...any) error {
	return &protocolError{msg: fmt.Sprintf(format, a...)}
}

// FailureReason classifies a session error for the gateway's connection-failure
// counter: "login_refused", "malformed_message", or "" for anything else.
func FailureReason(err error) string {
	var pe *protocolError
	switch {
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword), errors.Is(err, packets.ErrorRefusedNotAuthorised):
		return point.FailureLoginRefused
	case errors.As(err, &pe):
		return point.FailureMalformedMessage
	}
	return ""
}

// session is one connection to the broker, subscriber side of MQTT 3.1.1. One
// goroutine reads: it parses each PUBLISH into an inbound message (one allocation: the
// packet's body, which holds topic and payload) and hands it to deliver, answers PUBREL
// and PINGRESP bookkeeping, and routes the SUBACK. Writes (acknowledgements of a whole
// batch at once, PINGREQ, SUBSCRIBE, DISCONNECT) go through write, from any goroutine.
// There is no per-message goroutine hand-off other than deliver itself.
type session struct {
	conn       net.Conn
	r          *bufio.Reader
	maxPayload int
	deliver    func(inbound) bool // false: stop reading (Run is ending)
	keepAlive  time.Duration
	wTimeout   time.Duration

	wmu    sync.Mutex
	closed bool

	lastWrite  atomic.Int64 // Unix ns
	pingSent   atomic.Int64 // Unix ns of an unanswered PINGREQ, 0 when none
	delivering atomic.Bool  // the reader waits in deliver (not reading: no PINGRESP can arrive)

	suback  chan []byte // the return codes of the SUBACK
	lost    chan error  // the first error that ended the session
	quit    chan struct{}
	readers sync.WaitGroup
}

// connect dials the broker, sends CONNECT and reads CONNACK. It returns the session
// (its reader and keep-alive running) and whether the broker had a session for the
// client id. ctx aborts the dial and the handshakes.
func (s *Source) connect(ctx context.Context, guard *dialGuard, deliver func(inbound) bool) (*session, bool, error) {
	u, err := url.Parse(s.cfg.Broker)
	if err != nil {
		return nil, false, err // checked by Validate
	}
	conn, err := s.dial(ctx, u, guard)
	if err != nil {
		return nil, false, err
	}
	ss := &session{
		conn: conn, r: bufio.NewReaderSize(conn, readBufferSize), maxPayload: s.cfg.MaxPayloadBytes,
		deliver: deliver, keepAlive: s.cfg.KeepAlive, wTimeout: max(s.cfg.ConnectTimeout, time.Second),
		suback: make(chan []byte, 1), lost: make(chan error, 1), quit: make(chan struct{}),
	}
	_ = conn.SetDeadline(time.Now().Add(s.cfg.ConnectTimeout))
	cp := packets.NewControlPacket(packets.Connect).(*packets.ConnectPacket)
	cp.ProtocolName, cp.ProtocolVersion = "MQTT", 4
	cp.CleanSession = s.cfg.CleanSession
	cp.ClientIdentifier = s.cfg.ClientID
	cp.Keepalive = uint16(min(s.cfg.KeepAlive/time.Second, 65535))
	if s.cfg.Username != "" {
		// MQTT 3.1.1 allows a password only with a user name.
		cp.UsernameFlag, cp.Username = true, s.cfg.Username
		if s.cfg.Password != "" {
			cp.PasswordFlag, cp.Password = true, []byte(s.cfg.Password)
		}
	}
	var b bytes.Buffer
	if err := cp.Write(&b); err != nil {
		_ = conn.Close()
		return nil, false, err
	}
	if _, err := conn.Write(b.Bytes()); err != nil {
		_ = conn.Close()
		return nil, false, err
	}
	first, n, err := readFixedHeader(ss.r)
	if err == nil && (first != typeConnack<<4 || n != 2) {
		err = malformed("broker answered CONNECT with packet type %d of %d bytes, not CONNACK", first>>4, n)
	}
	var ack [2]byte
	if err == nil {
		_, err = io.ReadFull(ss.r, ack[:])
	}
	if err != nil {
		_ = conn.Close()
		return nil, false, err
	}
	if rc := ack[1]; rc != packets.Accepted {
		_ = conn.Close()
		if e, ok := packets.ConnErrors[rc]; ok {
			return nil, false, e
		}
		return nil, false, fmt.Errorf("connection refused with return code %d", rc)
	}
	_ = conn.SetDeadline(time.Time{})
	ss.lastWrite.Store(time.Now().UnixNano())
	ss.readers.Add(2)
	go ss.readLoop()
	go ss.keepAliveLoop()
	return ss, ack[0]&1 == 1, nil
}

// readFixedHeader reads a packet's first byte and its remaining length.
func readFixedHeader(r *bufio.Reader) (byte, int, error) {
	first, err := r.ReadByte()
	if err != nil {
		return 0, 0, err
	}
	n, shift := 0, 0
	for i := 0; ; i++ {
		c, err := r.ReadByte()
		if err != nil {
			return 0, 0, err
		}
		n |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			break
		}
		if i == 3 {
			return 0, 0, malformed("malformed packet: remaining length longer than 4 bytes")
		}
		shift += 7
	}
	return first, n, nil
}

// fail ends the session with err (the first error wins) and closes the connection.
func (ss *session) fail(err error) {
	select {
	case ss.lost <- err:
	default:
	}
	ss.wmu.Lock()
	ss.closed = true
	ss.wmu.Unlock()
	_ = ss.conn.Close()
}

// close ends the session: DISCONNECT first when disconnect is set, then the connection
// is closed and close waits for the reader and the keep-alive to exit.
func (ss *session) close(disconnect bool) {
	if disconnect {
		_ = ss.write([]byte{typeDisconnect << 4, 0})
	}
	ss.wmu.Lock()
	ss.closed = true
	ss.wmu.Unlock()
	select {
	case <-ss.quit:
	default:
		close(ss.quit)
	}
	_ = ss.conn.Close()
	ss.readers.Wait()
}

// write writes p whole; a failed write ends the session. After the session ended it
// writes nothing and returns errSessionClosed.
func (ss *session) write(p []byte) error {
	ss.wmu.Lock()
	if ss.closed {
		ss.wmu.Unlock()
		return errSessionClosed
	}
	_ = ss.conn.SetWriteDeadline(time.Now().Add(ss.wTimeout))
	_, err := ss.conn.Write(p)
	if err == nil {
		ss.lastWrite.Store(time.Now().UnixNano())
	}
	ss.wmu.Unlock()
	if err != nil {
		ss.fail(err)
	}
	return err
}

// ackAll acknowledges the QoS 1 messages of items, one write per session (buf is
// reused and returned). A message is acknowledged only on the session it came
// through: the packet ids of a session that is gone mean nothing on the next one, and
// the broker delivers its unacknowledged messages again.
func ackAll(items []inbound, buf []byte) []byte {
	var cur *session
	buf = buf[:0]
	for i := range items {
		it := &items[i]
		if it.qos == 0 || it.sess == nil {
			continue
		}
		if it.sess != cur {
			if len(buf) > 0 {
				_ = cur.write(buf)
			}
			cur, buf = it.sess, buf[:0]
		}
		buf = append(buf, typePuback<<4, 2, byte(it.pid>>8), byte(it.pid))
	}
	if len(buf) > 0 {
		_ = cur.write(buf)
	}
	return buf
}

// subscribe sends one SUBSCRIBE for cfg's filters at its QoS and waits (at most
// ConnectTimeout) for the SUBACK granting them all.
func (ss *session) subscribe(ctx context.Context, cfg Config) error {
	filters := cfg.Subscribe
	sp := packets.NewControlPacket(packets.Subscribe).(*packets.SubscribePacket)
	sp.MessageID = 1
	sp.Topics = filters
	sp.Qoss = bytes.Repeat([]byte{cfg.QoS}, len(filters))
	var b bytes.Buffer
	if err := sp.Write(&b); err != nil {
		return fmt.Errorf("subscribe %q: %w", filters, err)
	}
	lost := func(err error) error {
		return fmt.Errorf("lose connection to broker %q while subscribing: %w", cfg.Broker, err)
	}
	if err := ss.write(b.Bytes()); err != nil {
		if errors.Is(err, errSessionClosed) {
			err = <-ss.lost
		}
		return lost(err)
	}
	t := time.NewTimer(cfg.ConnectTimeout)
	defer t.Stop()
	var codes []byte
	select {
	case codes = <-ss.suback:
	case err := <-ss.lost:
		select {
		case codes = <-ss.suback:
			// Subscribed before the connection broke: the session loop reports the loss.
			select {
			case ss.lost <- err:
			default:
			}
		default:
			return lost(err)
		}
	case <-t.C:
		return fmt.Errorf("subscribe %q: no SUBACK within %s", filters, cfg.ConnectTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
	for i, f := range filters {
		if i >= len(codes) || codes[i] > 2 {
			return fmt.Errorf("subscribe %q: broker refused filter %q", filters, f)
		}
	}
	return nil
}

// readLoop reads packets until the connection fails or deliver refuses.
func (ss *session) readLoop() {
	defer ss.readers.Done()
	for {
		first, n, err := readFixedHeader(ss.r)
		if err != nil {
			ss.fail(err)
			return
		}
		switch first >> 4 {
		case typePublish:
			it, err := ss.readPublish(first, n)
			if err != nil {
				ss.fail(err)
				return
			}
			ss.delivering.Store(true)
			ok := ss.deliver(it)
			ss.delivering.Store(false)
			if !ok {
				return
			}
		case typePingresp:
			ss.pingSent.Store(0)
			if _, err := ss.r.Discard(n); err != nil {
				ss.fail(err)
				return
			}
		case typeSuback:
			body := make([]byte, n)
			if _, err := io.ReadFull(ss.r, body); err != nil {
				ss.fail(err)
				return
			}
			if n < 2 {
				ss.fail(malformed("malformed SUBACK"))
				return
			}
			select {
			case ss.suback <- body[2:]:
			default:
			}
		case typePubrel:
			// The second step of a QoS 2 delivery the broker started (the source
			// subscribes with QoS 0 or 1, so only a broker that upgrades sends it).
			var id [2]byte
			if n != 2 {
				ss.fail(malformed("malformed PUBREL of %d bytes", n))
				return
			}
			if _, err := io.ReadFull(ss.r, id[:]); err != nil {
				ss.fail(err)
				return
			}
			_ = ss.write([]byte{typePubcomp << 4, 2, id[0], id[1]})
		case typePuback, typePubrec, typePubcomp, typeUnsuback:
			// Answers to nothing this client sent: skipped.
			if _, err := ss.r.Discard(n); err != nil {
				ss.fail(err)
				return
			}
		default:
			ss.fail(malformed("protocol error: the broker sent a packet of type %d", first>>4))
			return
		}
	}
}

// readPublish reads the body of a PUBLISH whose fixed header said first and n.
func (ss *session) readPublish(first byte, n int) (inbound, error) {
	qos := first >> 1 & 3
	if qos == 3 {
		return inbound{}, malformed("malformed PUBLISH: QoS 3")
	}
	head := 2
	if qos > 0 {
		head += 2
	}
	if n < head {
		return inbound{}, malformed("malformed PUBLISH of %d bytes", n)
	}
	hi, err := ss.r.ReadByte()
	if err != nil {
		return inbound{}, err
	}
	lo, err := ss.r.ReadByte()
	if err != nil {
		return inbound{}, err
	}
	topicLen := int(hi)<<8 | int(lo)
	size := n - head - topicLen // of the payload
	if size < 0 {
		return inbound{}, malformed("malformed PUBLISH: topic of %d bytes in a packet of %d", topicLen, n)
	}
	keep := size
	if size > ss.maxPayload {
		keep = min(size, oversizeKeep)
	}
	// One allocation: topic, packet id and the payload (or its kept part).
	body := make([]byte, n-2-(size-keep))
	if _, err := io.ReadFull(ss.r, body); err != nil {
		return inbound{}, err
	}
	if keep < size {
		if _, err := ss.r.Discard(size - keep); err != nil {
			return inbound{}, err
		}
	}
	it := inbound{qos: qos, sess: ss, size: size, recv: time.Now().UnixNano()}
	if topicLen > 0 {
		it.topic = unsafe.String(&body[0], topicLen) // body is never written again
	}
	if qos > 0 {
		it.pid = uint16(body[topicLen])<<8 | uint16(body[topicLen+1])
	}
	it.payload = body[head-2+topicLen:]
	return it, nil
}

// keepAliveLoop sends PINGREQ when nothing was written for three quarters of the keep
// alive, and ends the session when a PINGRESP does not come within the ping timeout
// (the keep alive, at most 10 s). While the reader waits for the batch loop it cannot
// read a PINGRESP, so the timeout does not run then.
func (ss *session) keepAliveLoop() {
	defer ss.readers.Done()
	if ss.keepAlive <= 0 {
		return
	}
	timeout := min(ss.keepAlive, maxPingTimeout)
	step := min(max(ss.keepAlive/4, 50*time.Millisecond), time.Second)
	t := time.NewTicker(step)
	defer t.Stop()
	for {
		select {
		case <-ss.quit:
			return
		case <-t.C:
		}
		now := time.Now().UnixNano()
		if sent := ss.pingSent.Load(); sent != 0 {
			if ss.delivering.Load() {
				ss.pingSent.Store(now)
			} else if time.Duration(now-sent) > timeout {
				ss.fail(errPingTimeout)
				return
			}
			continue
		}
		if time.Duration(now-ss.lastWrite.Load()) >= ss.keepAlive*3/4 {
			ss.pingSent.Store(now)
			if ss.write([]byte{typePingreq << 4, 0}) != nil {
				return
			}
		}
	}
}
