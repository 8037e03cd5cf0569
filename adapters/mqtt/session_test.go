package mqtt

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/internal/testutil"
)

// scriptedBroker accepts connections on a loopback port, answers CONNECT and the
// SUBSCRIBE as a broker does, and then runs the test's script on the connection.
// It stands in for a broker only for what no real broker sends (malformed packets,
// a broker that stops answering); everything else is tested against mosquitto.
type scriptedBroker struct {
	ln      net.Listener
	stop    chan struct{} // closed when the test ends: scripts wait on it
	url     string
	mu      sync.Mutex
	written bytes.Buffer // what the client sent after its SUBSCRIBE
}

func startScriptedBroker(t *testing.T, script func(c net.Conn, r *bufio.Reader, stop <-chan struct{})) *scriptedBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &scriptedBroker{ln: ln, url: "tcp://" + ln.Addr().String(), stop: make(chan struct{})}
	var wg sync.WaitGroup
	t.Cleanup(func() { close(b.stop); _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				if first, n, err := readFixedHeader(r); err != nil || first>>4 != typeConnect {
					return
				} else if _, err := r.Discard(n); err != nil {
					return
				}
				if _, err := c.Write([]byte{typeConnack << 4, 2, 0, 0}); err != nil {
					return
				}
				first, n, err := readFixedHeader(r)
				if err != nil || first>>4 != typeSubscribe {
					return
				}
				body := make([]byte, n)
				if _, err := io.ReadFull(r, body); err != nil {
					return
				}
				// Grant every filter at QoS 1.
				filters := 0
				for p := 2; p+2 <= len(body); {
					p += 2 + (int(body[p])<<8 | int(body[p+1])) + 1
					filters++
				}
				ack := append([]byte{typeSuback << 4, byte(2 + filters), body[0], body[1]}, bytes.Repeat([]byte{1}, filters)...)
				if _, err := c.Write(ack); err != nil {
					return
				}
				go func() { // record what the client writes from now on
					buf := make([]byte, 4096)
					for {
						n, err := r.Read(buf)
						b.mu.Lock()
						b.written.Write(buf[:n])
						b.mu.Unlock()
						if err != nil {
							return
						}
					}
				}()
				script(c, r, b.stop)
			}()
		}
	}()
	return b
}

func (b *scriptedBroker) clientWrote() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.written.Bytes())
}

// publishPacket encodes a PUBLISH (3.1.1) with the given QoS and packet id.
func publishPacket(topic string, qos byte, pid uint16, payload []byte) []byte {
	body := []byte{byte(len(topic) >> 8), byte(len(topic))}
	body = append(body, topic...)
	if qos > 0 {
		body = append(body, byte(pid>>8), byte(pid))
	}
	body = append(body, payload...)
	return append(append([]byte{typePublish<<4 | qos<<1}, remainingLength(len(body))...), body...)
}

func remainingLength(n int) []byte {
	var out []byte
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			c |= 0x80
		}
		out = append(out, c)
		if n == 0 {
			return out
		}
	}
}

// TestSessionRefusesMalformedPackets: a broker that sends a broken packet ends the
// session with an error saying what was wrong; the source reconnects and what came
// before the broken packet was delivered.
func TestSessionRefusesMalformedPackets(t *testing.T) {
	good := publishPacket("meters/e1", 1, 1, []byte(`{"data":{"kwh":1},"kw":2000}`))
	tests := []struct {
		name string
		send []byte
		want string
	}{
		{"remaining length of five bytes", []byte{typePublish << 4, 0xff, 0xff, 0xff, 0xff, 0x01},
			"malformed packet: remaining length longer than 4 bytes"},
		{"QoS 3", append([]byte{typePublish<<4 | 3<<1, 4}, 0, 1, 't', 0),
			"malformed PUBLISH: QoS 3"},
		{"topic longer than the packet", []byte{typePublish << 4, 4, 0, 200, 't', 't'},
			"malformed PUBLISH: topic of 200 bytes in a packet of 4"},
		{"QoS 1 without a packet id", []byte{typePublish<<4 | 1<<1, 3, 0, 1, 't'},
			"malformed PUBLISH of 3 bytes"},
		{"a CONNECT from the broker", []byte{typeConnect << 4, 0},
			"protocol error: the broker sent a packet of type 1"},
		{"a SUBACK without packet id", []byte{typeSuback << 4, 1, 0},
			"malformed SUBACK"},
		{"a PUBREL of 3 bytes", []byte{typePubrel<<4 | 2, 3, 0, 1, 0},
			"malformed PUBREL of 3 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startScriptedBroker(t, func(c net.Conn, _ *bufio.Reader, stop <-chan struct{}) {
				_, _ = c.Write(append(bytes.Clone(good), tt.send...))
				<-stop
			})
			rec := &adaptertest.Recorder{}
			cfg := baseConfig(b.url)
			cfg.ReconnectMax = time.Minute
			start(t, cfg, rec, rec.Emit)
			want := fmt.Sprintf("lose connection to broker %q: %s", b.url, tt.want)
			if got := firstDown(t, rec); got != want {
				t.Fatalf("error:\n got %q\nwant %q", got, want)
			}
			if r := FailureReason(rec.DownErrors()[0]); r != "malformed_message" {
				t.Fatalf("FailureReason %q, want malformed_message", r)
			}
			// What came before the broken packet is emitted (and, its session being
			// gone, left unacknowledged for the broker to deliver again).
			testutil.WaitFor(t, 5*time.Second, "the message before the broken packet", func() bool { return rec.FieldCount() == 2 })
		})
	}
}

// TestSessionAnswersPubrelAndAcksBatch: the PUBACKs of a batch leave in one write, in
// arrival order, only after emit; a PUBREL gets its PUBCOMP.
func TestSessionAnswersPubrelAndAcksBatch(t *testing.T) {
	var stream []byte
	for i := uint16(1); i <= 3; i++ {
		stream = append(stream, publishPacket("meters/e1", 1, 100+i, []byte(`{"data":{"kwh":1},"kw":1}`))...)
	}
	stream = append(stream, typePubrel<<4|2, 2, 0x12, 0x34)
	b := startScriptedBroker(t, func(c net.Conn, _ *bufio.Reader, stop <-chan struct{}) {
		_, _ = c.Write(stream)
		<-stop
	})
	rec := &adaptertest.Recorder{}
	start(t, baseConfig(b.url), rec, rec.Emit)
	want := []byte{typePubcomp << 4, 2, 0x12, 0x34}
	acks := []byte{typePuback << 4, 2, 0, 101, typePuback << 4, 2, 0, 102, typePuback << 4, 2, 0, 103}
	testutil.WaitFor(t, 10*time.Second, "PUBCOMP and the three PUBACKs", func() bool {
		w := b.clientWrote()
		return bytes.Contains(w, want) && bytes.Contains(w, acks)
	})
	if got := rec.FieldCount(); got != 6 {
		t.Fatalf("fields: %d, want 6", got)
	}
}

// TestSessionPingTimeout: a broker that stops answering PINGREQ is left after the
// ping timeout, with paho's wording.
func TestSessionPingTimeout(t *testing.T) {
	b := startScriptedBroker(t, func(_ net.Conn, _ *bufio.Reader, stop <-chan struct{}) { <-stop })
	rec := &adaptertest.Recorder{}
	cfg := baseConfig(b.url)
	cfg.KeepAlive = time.Second
	cfg.ReconnectMax = time.Minute
	begin := time.Now()
	start(t, cfg, rec, rec.Emit)
	want := fmt.Sprintf("lose connection to broker %q: pingresp not received, disconnecting", b.url)
	if got := firstDown(t, rec); got != want {
		t.Fatalf("error:\n got %q\nwant %q", got, want)
	}
	if took := time.Since(begin); took < 1500*time.Millisecond {
		t.Fatalf("left after %s: before a PINGREQ (after 3/4 s) plus the 1 s timeout", took)
	}
	if w := b.clientWrote(); !bytes.HasPrefix(w, []byte{typePingreq << 4, 0}) {
		t.Fatalf("client wrote %x, want a PINGREQ first", w)
	}
}

// TestSessionOversizePayload: a payload beyond max_payload_bytes is read past, not
// stored: its first oversizeKeep bytes are kept for the dead letter, the message is
// refused with its real size and acknowledged, and the next message decodes.
func TestSessionOversizePayload(t *testing.T) {
	big := append([]byte(`{"data":{"kwh":1},"pad":"`), bytes.Repeat([]byte("x"), 4<<20)...)
	big = append(big, `"}`...)
	stream := append(publishPacket("meters/e1", 1, 7, big), publishPacket("meters/e1", 1, 8, []byte(`{"data":{"kwh":2},"kw":1}`))...)
	b := startScriptedBroker(t, func(c net.Conn, _ *bufio.Reader, stop <-chan struct{}) {
		_, _ = c.Write(stream)
		<-stop
	})
	rec := &adaptertest.Recorder{}
	start(t, baseConfig(b.url), rec, rec.Emit)
	testutil.WaitFor(t, 10*time.Second, "both PUBACKs", func() bool {
		return bytes.Contains(b.clientWrote(), []byte{typePuback << 4, 2, 0, 7, typePuback << 4, 2, 0, 8})
	})
	want := fmt.Sprintf(`meters|e1||too_large|decode topic "meters/e1" device "e1": payload of %d bytes exceeds max_payload_bytes 65536`, len(big))
	if got := strings.Join(rec.Errors(), "\n"); got != want {
		t.Fatalf("errors:\n got %q\nwant %q", got, want)
	}
	if got := rec.FieldCount(); got != 2 {
		t.Fatalf("fields: %d, want 2 (the second message)", got)
	}
}

// TestReadPublishBoundsMemory: reading a 16 MiB PUBLISH allocates the kept part only.
func TestReadPublishBoundsMemory(t *testing.T) {
	payload := bytes.Repeat([]byte("y"), 16<<20)
	pkt := publishPacket("meters/e1", 1, 9, payload)
	ss := &session{r: bufio.NewReaderSize(bytes.NewReader(pkt), readBufferSize), maxPayload: DefaultMaxPayloadBytes}
	first, n, err := readFixedHeader(ss.r)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	it, err := ss.readPublish(first, n)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if it.topic != "meters/e1" || it.pid != 9 || it.size != len(payload) || len(it.payload) != oversizeKeep {
		t.Fatalf("got topic %q pid %d size %d kept %d", it.topic, it.pid, it.size, len(it.payload))
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10 {
		t.Fatalf("allocated %d bytes for a 16 MiB payload", alloc)
	}
}

// TestAckAllPerSession: acknowledgements go to the session a message came through;
// the messages of a closed session are left for the broker to deliver again.
func TestAckAllPerSession(t *testing.T) {
	client, peer := net.Pipe()
	defer peer.Close()
	live := &session{conn: client, wTimeout: time.Second, lost: make(chan error, 1)}
	dead := &session{conn: nopConn{}, closed: true, lost: make(chan error, 1)}
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 64)
		n, _ := io.ReadFull(peer, buf[:8])
		got <- buf[:n]
	}()
	items := []inbound{{qos: 1, pid: 1, sess: dead}, {qos: 1, pid: 2, sess: live}, {qos: 0, sess: live}, {qos: 1, pid: 3, sess: live}}
	ackAll(items, nil)
	want := []byte{typePuback << 4, 2, 0, 2, typePuback << 4, 2, 0, 3}
	select {
	case w := <-got:
		if !bytes.Equal(w, want) {
			t.Fatalf("wrote %x, want %x", w, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no acknowledgements written")
	}
}

// nopConn is a connection that is never used.
type nopConn struct{ net.Conn }

// FuzzSessionRead feeds arbitrary bytes to the session's reader as if a broker sent
// them: it must end with an error or deliver messages, never panic, and never hold
// more of a payload than the limit allows.
func FuzzSessionRead(f *testing.F) {
	f.Add(publishPacket("meters/e1", 1, 1, []byte(`{"kwh":1}`)))
	f.Add(append(publishPacket("a/b", 0, 0, []byte("1.5")), typePingresp<<4, 0, typePubrel<<4|2, 2, 0, 1))
	f.Add([]byte{typeSuback << 4, 3, 0, 1, 0x80})
	f.Add([]byte{typePublish << 4, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, data []byte) {
		client, peer := net.Pipe()
		go func() { _, _ = io.Copy(io.Discard, peer) }()
		defer peer.Close()
		ss := &session{conn: client, r: bufio.NewReader(io.MultiReader(bytes.NewReader(data))), maxPayload: 64,
			wTimeout: time.Second, suback: make(chan []byte, 1), lost: make(chan error, 1), quit: make(chan struct{})}
		ss.deliver = func(it inbound) bool {
			if len(it.payload) > max(ss.maxPayload, oversizeKeep) || it.size < len(it.payload) {
				t.Errorf("delivered %d bytes of a %d-byte payload", len(it.payload), it.size)
			}
			return true
		}
		ss.readers.Add(1)
		ss.readLoop()
		select {
		case err := <-ss.lost:
			if err == nil {
				t.Error("session ended without an error")
			}
		default:
			t.Error("reader returned without ending the session")
		}
	})
}
