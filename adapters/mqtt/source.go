package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/ganlink/ganlink/gateway/point"
)

// Tuning constants.
const (
	// initialWindow is the first guess of how many QoS 1 messages the broker sends
	// before waiting for acknowledgements: mosquitto's default max_inflight_messages.
	initialWindow = 20
	// Reconnect backoff starts here and doubles up to Config.ReconnectMax; it restarts
	// after a session that stayed up for stableSession.
	reconnectMin  = 250 * time.Millisecond
	stableSession = 10 * time.Second
)

// Source subscribes to an MQTT broker and emits the decoded messages as points. Build it
// with New and start it with Run; a Source runs at most once at a time.
type Source struct {
	cfg Config
	tls *tls.Config // nil for a plain broker
	obs point.Observer
	log *slog.Logger
}

// New validates cfg and returns a Source. It starts nothing. log receives connection
// events and emit failures (decode problems go to obs); nil obs or log discard.
func New(cfg Config, obs point.Observer, log *slog.Logger) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configure mqtt source %q: %w", cfg.Name, err)
	}
	if obs == nil {
		obs = point.NopObserver{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tc, err := buildTLS(&cfg)
	if err != nil {
		return nil, fmt.Errorf("configure mqtt source %q: %w", cfg.Name, err)
	}
	return &Source{cfg: cfg.withDefaults(), tls: tc, obs: obs, log: log}, nil
}

// Run connects to the broker, subscribes and emits batches of points until ctx is
// done. It reconnects (and resubscribes) after any connection loss and returns nil when
// ctx is done, after its goroutines have exited and the broker connection is closed.
//
// A QoS 1 message is acknowledged only after emit returned nil for the batch holding
// it, or after the message was found unusable and reported to the observer. emit is
// called once per batch, from one goroutine at a time; it applies the gateway's emit
// policy (retries belong to the pipeline), so an error from it means ctx ended and the
// batch's messages stay unacknowledged.
func (s *Source) Run(ctx context.Context, emit point.EmitFunc) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if u, err := url.Parse(s.cfg.Broker); err == nil && s.tls == nil && s.cfg.Password != "" && !isLoopback(u.Hostname()) {
		s.log.Warn("mqtt password is sent unencrypted: use an ssl:// broker URL with TLS", "broker", s.cfg.Broker)
	}
	in := newMailbox(s.cfg.BatchMax)
	batchDone := make(chan struct{})
	go func() {
		defer close(batchDone)
		s.batchLoop(ctx, in, emit)
	}()
	s.connectLoop(ctx, in, batchDone)
	cancel()
	<-batchDone
	return nil
}

// connectLoop runs broker sessions one after another until ctx is done.
func (s *Source) connectLoop(ctx context.Context, in *mailbox, batchDone <-chan struct{}) {
	delay := reconnectMin
	for {
		upFor, err := s.session(ctx, in, batchDone)
		if ctx.Err() != nil {
			// A stop is not a lost connection: no StateDown (the OPC UA source does the same).
			s.log.Info("mqtt source stopped", "broker", s.cfg.Broker)
			return
		}
		if upFor >= stableSession {
			delay = reconnectMin
		}
		wait := delay/2 + rand.N(delay)
		s.obs.State(s.cfg.Name, point.StateDown, err)
		s.log.Warn("mqtt session ended", "broker", s.cfg.Broker, "err", err, "retry_in", wait.Round(time.Millisecond))
		delay = min(delay*2, s.cfg.ReconnectMax)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			s.log.Info("mqtt source stopped", "broker", s.cfg.Broker)
			return
		case <-t.C:
		}
	}
}

// session connects once, subscribes and waits for the connection to end. It returns
// how long the session was up and why it ended (nil when ctx is done).
func (s *Source) session(ctx context.Context, in *mailbox, batchDone <-chan struct{}) (time.Duration, error) {
	guard := &dialGuard{}
	if s.tls != nil && s.tls.InsecureSkipVerify {
		s.log.Warn("INSECURE: the broker's TLS certificate is NOT verified (tls.insecure_skip_verify); "+
			"anyone on the network path can impersonate the broker and read the password. Set tls.ca_file instead.",
			"broker", s.cfg.Broker)
	}
	s.obs.State(s.cfg.Name, point.StateConnecting, nil)
	// A message not handed over when ctx ends is not acknowledged: the broker
	// delivers it again.
	ss, present, err := s.connect(ctx, guard, func(it inbound) bool { return in.put(ctx, it) })
	dialErr := guard.established()
	if err != nil {
		return 0, s.connectError(err, dialErr, guard.certRequested())
	}
	stop := func() {
		<-batchDone // let the last acknowledgements out before DISCONNECT
		ss.close(true)
	}
	if ctx.Err() != nil {
		stop()
		return 0, nil
	}
	if err := ss.subscribe(ctx, s.cfg); err != nil {
		if ctx.Err() != nil {
			stop()
			return 0, nil
		}
		ss.close(true)
		return 0, err
	}
	s.obs.State(s.cfg.Name, point.StateUp, nil)
	s.log.Info("mqtt session up", "broker", s.cfg.Broker, "client_id", s.cfg.ClientID, "session_present", present)
	up := time.Now()
	select {
	case err := <-ss.lost:
		ss.close(false)
		return time.Since(up), fmt.Errorf("lose connection to broker %q: %w", s.cfg.Broker, err)
	case <-ctx.Done():
		stop()
		return time.Since(up), nil
	}
}

// connectError describes a failed connect: the dial or TLS error, a refused login with
// the user name (never the password), and a connection closed after the broker asked
// for a client certificate that is not configured (with TLS 1.3 the broker refuses it
// only after the handshake, by an alert or just by closing the connection).
func (s *Source) connectError(err, dialErr error, certRequested bool) error {
	switch {
	case dialErr != nil:
		err = dialErr
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword), errors.Is(err, packets.ErrorRefusedNotAuthorised):
		user := "(anonymous)"
		if s.cfg.Username != "" {
			user = strconv.Quote(s.cfg.Username)
		}
		return fmt.Errorf("connect broker %q: login refused for user %s (check username and password): %w", s.cfg.Broker, user, err)
	case certRequested && s.cfg.TLS.CertFile == "":
		err = fmt.Errorf("the broker asked for a client certificate and none is configured (tls.cert_file, tls.key_file): %w", err)
	}
	return fmt.Errorf("connect broker %q: %w", s.cfg.Broker, err)
}

// dial opens the TCP connection and, for a TLS broker, completes the TLS handshake;
// ctx aborts the dial and, until the session is established, the handshakes.
func (s *Source) dial(ctx context.Context, u *url.URL, guard *dialGuard) (net.Conn, error) {
	host := u.Host
	if u.Port() == "" {
		port := "1883"
		if s.tls != nil {
			port = "8883"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	d := net.Dialer{Timeout: s.cfg.ConnectTimeout}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, guard.fail(err)
	}
	guard.watch(ctx, conn)
	if s.tls != nil {
		hctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
		tc := tls.Client(conn, guard.tlsConfig(s.tls))
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = conn.Close()
			return nil, guard.fail(fmt.Errorf("tls handshake with %q: %w", host, err))
		}
		conn = tc
	}
	return conn, nil
}

// dialGuard interrupts a pending handshake when ctx is done, and keeps the dial error.
type dialGuard struct {
	mu    sync.Mutex
	stop  func() bool
	done  bool
	err   error
	asked bool // the broker asked for a client certificate
}

// tlsConfig returns a copy of c that presents c's client certificate (if any)
// whenever the broker asks for one, and records that it asked.
func (g *dialGuard) tlsConfig(c *tls.Config) *tls.Config {
	c = c.Clone()
	certs := c.Certificates
	c.Certificates = nil
	c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		g.mu.Lock()
		g.asked = true
		g.mu.Unlock()
		if len(certs) > 0 {
			return &certs[0], nil
		}
		return &tls.Certificate{}, nil
	}
	return c
}

// certRequested reports whether the broker asked for a client certificate.
func (g *dialGuard) certRequested() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.asked
}

// fail records and returns a dial or TLS handshake error.
func (g *dialGuard) fail(err error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.err = err
	return err
}

func (g *dialGuard) watch(ctx context.Context, conn net.Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		return
	}
	g.stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
}

// established ends the watch and returns the dial error, if the dial failed.
func (g *dialGuard) established() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.done = true
	if g.stop != nil {
		g.stop()
	}
	return g.err
}

// batchLoop collects messages into batches, decodes, emits and acknowledges them.
func (s *Source) batchLoop(ctx context.Context, in *mailbox, emit point.EmitFunc) {
	d := newDecoder(&s.cfg, s.obs)
	b := newBatcher(s.cfg.BatchMax, s.cfg.BatchWait)
	defer b.timer.Stop()
	var acks []byte
	for {
		items, ok := b.collect(ctx, in)
		if !ok {
			return
		}
		batch := d.decodeBatch(items)
		if len(batch) > 0 {
			s.obs.Received(s.cfg.Name, batch.Fields())
			// emit settles the batch (queued, or dropped and counted by the
			// pipeline); an error means ctx ended: the messages stay unacknowledged
			// and the broker delivers them again to the next session. (An emit that
			// fails with ctx alive breaks its contract: the messages are left
			// unacknowledged all the same, never acknowledged unstored.)
			if err := emit(ctx, batch); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.log.Error("emit failed; messages left unacknowledged", "points", len(batch), "err", err)
				b.reset()
				continue
			}
		}
		acks = ackAll(items, acks)
		b.reset()
	}
}

// batcher gathers messages into batches.
//
// A batch is emitted when it holds max messages or its first message has waited wait,
// and, while it holds unacknowledged QoS 1 messages, as soon as the broker has
// probably stopped sending for want of acknowledgements: the broker sends at most its
// in-flight limit of QoS 1 messages (mosquitto: max_inflight_messages, 20 by default)
// and then waits, so waiting longer would only stall the flow. That is the case when
// the batch holds window such messages and nothing more is queued, or when no message
// arrived for gap (wait/8). The window starts at mosquitto's default limit and grows to
// any larger number of unacknowledged messages the broker was seen to send; a broker
// with a lower limit costs one gap per batch.
type batcher struct {
	max    int
	wait   time.Duration
	gap    time.Duration
	window int
	items  []inbound
	timer  *time.Timer
}

func newBatcher(maxItems int, wait time.Duration) *batcher {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &batcher{max: maxItems, wait: wait, gap: wait / 8, window: min(initialWindow, maxItems),
		items: make([]inbound, 0, maxItems), timer: t}
}

func (b *batcher) reset() {
	clear(b.items)
	b.items = b.items[:0]
}

// collect returns the next batch, or false when ctx is done. It sleeps until the
// mailbox holds as many messages as the batch still needs (the rest of the window, or
// of max), the gap after the latest arrival or the batch's deadline: one wake-up per
// batch, not one per message.
func (b *batcher) collect(ctx context.Context, in *mailbox) ([]inbound, bool) {
	pending := 0 // unacknowledged QoS 1 messages
	take := func() {
		n := len(b.items)
		b.items = in.take(b.items, b.max)
		for _, it := range b.items[n:] {
			if it.qos > 0 {
				pending++
			}
		}
	}
	for len(b.items) == 0 {
		take()
		if len(b.items) > 0 {
			break
		}
		if !in.arm(1) {
			continue
		}
		select {
		case <-in.wake:
		case <-ctx.Done():
			in.disarm()
			return nil, false
		}
	}
	deadline := time.Now().Add(b.wait)
	for len(b.items) < b.max {
		take()
		if len(b.items) >= b.max || (pending > 0 && pending >= b.window) {
			break
		}
		now := time.Now()
		wake := deadline
		if g := time.Unix(0, in.lastArrival()).Add(b.gap); pending > 0 && g.Before(wake) {
			wake = g
		}
		if !now.Before(wake) {
			break
		}
		need := b.max - len(b.items)
		if pending > 0 {
			need = min(need, b.window-pending)
		}
		if !in.arm(need) {
			continue // arrived meanwhile
		}
		b.timer.Reset(wake.Sub(now))
		select {
		case <-in.wake:
			b.timer.Stop()
		case <-b.timer.C:
			in.disarm()
		case <-ctx.Done():
			b.timer.Stop()
			in.disarm()
			return nil, false
		}
	}
	b.window = min(max(b.window, pending), b.max)
	return b.items, true
}

// mailbox hands messages from the session's reading goroutine to the batch loop. The
// loop says how many messages it waits for (arm); the reader wakes it only when that
// many are waiting, so a batch costs one wake-up however many messages it holds. It
// holds at most max messages; beyond that the reader waits (and with it the
// connection: TCP pushes back to the broker).
type mailbox struct {
	mu    sync.Mutex
	items []inbound
	max   int
	want  int   // wake the loop when len(items) reaches want; 0: it is not waiting
	last  int64 // receive time of the latest message (Unix ns)
	wake  chan struct{}
	space chan struct{} // signalled when the loop took messages from a full mailbox
}

func newMailbox(maxItems int) *mailbox {
	return &mailbox{items: make([]inbound, 0, maxItems), max: maxItems,
		wake: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

// put adds it, waiting while the mailbox is full; false when ctx ended first.
func (m *mailbox) put(ctx context.Context, it inbound) bool {
	m.mu.Lock()
	for len(m.items) >= m.max {
		m.mu.Unlock()
		select {
		case <-m.space:
		case <-ctx.Done():
			return false
		}
		m.mu.Lock()
	}
	m.items = append(m.items, it)
	m.last = it.recv
	signal := m.want > 0 && len(m.items) >= m.want
	if signal {
		m.want = 0
	}
	m.mu.Unlock()
	if signal {
		notify(m.wake)
	}
	return true
}

// notify signals ch (capacity 1) without waiting: a signal already pending says the same.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// take moves waiting messages to dst, up to limit messages in dst.
func (m *mailbox) take(dst []inbound, limit int) []inbound {
	m.mu.Lock()
	n := min(len(m.items), limit-len(dst))
	if n <= 0 {
		m.mu.Unlock()
		return dst
	}
	full := len(m.items) >= m.max
	dst = append(dst, m.items[:n]...)
	rest := copy(m.items, m.items[n:])
	clear(m.items[rest:])
	m.items = m.items[:rest]
	m.mu.Unlock()
	if full {
		notify(m.space)
	}
	return dst
}

// arm asks for a wake-up when n messages are waiting. It returns false, without
// arming, when they already are. A wake-up left over from an earlier arm is dropped.
func (m *mailbox) arm(n int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.wake:
	default:
	}
	if len(m.items) >= n {
		return false
	}
	m.want = n
	return true
}

// disarm cancels a wake-up request.
func (m *mailbox) disarm() {
	m.mu.Lock()
	m.want = 0
	m.mu.Unlock()
}

// lastArrival returns the receive time of the latest message (Unix ns).
func (m *mailbox) lastArrival() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}
