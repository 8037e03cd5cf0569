package mqtt

import (
	"bufio"
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

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/ganlink/ganlink/gateway/point"
)

// Tuning constants.
const (
	// initialWindow is the first guess of how many QoS 1 messages the broker sends
	// before waiting for acknowledgements: mosquitto's default max_inflight_messages.
	initialWindow = 20
	// disconnectQuiesce bounds the wait for paho to send DISCONNECT and stop.
	disconnectQuiesce = 5000 // ms
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

	connMode connMode // benchmark comparisons only
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
	in := make(chan inbound, s.cfg.BatchMax)
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
func (s *Source) connectLoop(ctx context.Context, in chan<- inbound, batchDone <-chan struct{}) {
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
func (s *Source) session(ctx context.Context, in chan<- inbound, batchDone <-chan struct{}) (time.Duration, error) {
	lost := make(chan error, 1)
	guard := &dialGuard{}
	c := paho.NewClient(s.clientOptions(ctx, in, lost, guard))
	if s.tls != nil && s.tls.InsecureSkipVerify {
		s.log.Warn("INSECURE: the broker's TLS certificate is NOT verified (tls.insecure_skip_verify); "+
			"anyone on the network path can impersonate the broker and read the password. Set tls.ca_file instead.",
			"broker", s.cfg.Broker)
	}
	s.obs.State(s.cfg.Name, point.StateConnecting, nil)
	tok := c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		<-tok.Done() // the dial and handshake are interrupted by ctx
	}
	dialErr := guard.established()
	if err := tok.Error(); err != nil {
		return 0, s.connectError(err, dialErr, guard.certRequested())
	}
	stop := func() {
		<-batchDone // let the last acknowledgements out before DISCONNECT
		c.Disconnect(disconnectQuiesce)
	}
	if ctx.Err() != nil {
		stop()
		return 0, nil
	}
	if err := s.subscribe(ctx, c, lost); err != nil {
		if ctx.Err() != nil {
			stop()
			return 0, nil
		}
		c.Disconnect(disconnectQuiesce)
		return 0, err
	}
	s.obs.State(s.cfg.Name, point.StateUp, nil)
	s.log.Info("mqtt session up", "broker", s.cfg.Broker, "client_id", s.cfg.ClientID,
		"session_present", tok.(*paho.ConnectToken).SessionPresent())
	up := time.Now()
	select {
	case err := <-lost:
		return time.Since(up), fmt.Errorf("lose connection to broker %q: %w", s.cfg.Broker, err)
	case <-ctx.Done():
		stop()
		return time.Since(up), nil
	}
}

// connectError describes a failed connect: the dial or TLS error itself rather than
// paho's generic network error, a refused login with the user name (never the
// password), and a connection closed after the broker asked for a client certificate
// that is not configured (with TLS 1.3 the broker refuses it only after the handshake,
// by an alert or just by closing the connection).
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
	case errors.Is(err, packets.ErrorNetworkError):
		// paho joins "network Error" with the cause: report the cause.
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			if errs := j.Unwrap(); len(errs) == 2 && errs[1] != nil {
				err = errs[1]
			}
		}
		if certRequested && s.cfg.TLS.CertFile == "" {
			err = fmt.Errorf("the broker asked for a client certificate and none is configured (tls.cert_file, tls.key_file): %w", err)
		}
	}
	return fmt.Errorf("connect broker %q: %w", s.cfg.Broker, err)
}

// subscribe subscribes to every filter and checks that the broker granted them all.
func (s *Source) subscribe(ctx context.Context, c paho.Client, lost <-chan error) error {
	filters := make(map[string]byte, len(s.cfg.Subscribe))
	for _, f := range s.cfg.Subscribe {
		filters[f] = s.cfg.QoS
	}
	tok := c.SubscribeMultiple(filters, nil) // nil: every message goes to the default handler
	t := time.NewTimer(s.cfg.ConnectTimeout)
	defer t.Stop()
	select {
	case <-tok.Done():
	case err := <-lost:
		return fmt.Errorf("lose connection to broker %q while subscribing: %w", s.cfg.Broker, err)
	case <-t.C:
		return fmt.Errorf("subscribe %q: no SUBACK within %s", s.cfg.Subscribe, s.cfg.ConnectTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("subscribe %q: %w", s.cfg.Subscribe, err)
	}
	for _, f := range s.cfg.Subscribe {
		if q, ok := tok.(*paho.SubscribeToken).Result()[f]; !ok || q > 2 {
			return fmt.Errorf("subscribe %q: broker refused filter %q", s.cfg.Subscribe, f)
		}
	}
	return nil
}

func (s *Source) clientOptions(ctx context.Context, in chan<- inbound, lost chan<- error, guard *dialGuard) *paho.ClientOptions {
	o := paho.NewClientOptions()
	o.AddBroker(s.cfg.Broker)
	o.SetClientID(s.cfg.ClientID)
	o.SetUsername(s.cfg.Username)
	o.SetPassword(s.cfg.Password)
	o.SetProtocolVersion(4)
	o.SetCleanSession(s.cfg.CleanSession)
	o.SetKeepAlive(s.cfg.KeepAlive)
	o.SetPingTimeout(min(s.cfg.KeepAlive, 10*time.Second))
	o.SetConnectTimeout(s.cfg.ConnectTimeout)
	// One client per session; this loop reconnects and resubscribes itself, so no
	// paho goroutine outlives Run.
	o.SetAutoReconnect(false)
	o.SetConnectRetry(false)
	o.SetResumeSubs(false)
	// Acknowledge after the batch is durable, in arrival order.
	o.SetAutoAckDisabled(true)
	o.SetOrderMatters(true)
	o.SetStore(nopStore{})
	o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
		select {
		case in <- inbound{msg: m, recv: time.Now().UnixNano()}:
		case <-ctx.Done(): // not acknowledged: the broker redelivers it
		}
	})
	o.SetConnectionLostHandler(func(_ paho.Client, err error) {
		select {
		case lost <- err:
		default:
		}
	})
	o.SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
		return s.dial(ctx, u, guard)
	})
	return o
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
	switch s.connMode {
	case connRaw:
		return conn, nil
	case connReadBuffered:
		return &readBufConn{Conn: conn, r: bufio.NewReaderSize(conn, readBufferSize)}, nil
	}
	return newBufConn(conn), nil
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
func (s *Source) batchLoop(ctx context.Context, in <-chan inbound, emit point.EmitFunc) {
	d := newDecoder(&s.cfg, s.obs)
	b := newBatcher(s.cfg.BatchMax, s.cfg.BatchWait)
	defer b.timer.Stop()
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
		for i := range items {
			items[i].msg.Ack()
		}
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

// collect returns the next batch, or false when ctx is done.
func (b *batcher) collect(ctx context.Context, in <-chan inbound) ([]inbound, bool) {
	pending := 0 // unacknowledged QoS 1 messages
	add := func(it inbound) {
		b.items = append(b.items, it)
		if it.msg.Qos() > 0 {
			pending++
		}
	}
	select {
	case it := <-in:
		add(it)
	case <-ctx.Done():
		return nil, false
	}
	last := time.Now() // of the latest arrival
	deadline := last.Add(b.wait)
	for len(b.items) < b.max {
		select {
		case it := <-in:
			add(it)
			continue
		default:
		}
		if pending > 0 && pending >= b.window {
			break
		}
		now := time.Now()
		wake := deadline
		if g := last.Add(b.gap); pending > 0 && g.Before(wake) {
			wake = g
		}
		if !now.Before(wake) {
			break
		}
		b.timer.Reset(wake.Sub(now))
		select {
		case it := <-in:
			b.timer.Stop()
			add(it)
			last = time.Now()
		case <-b.timer.C:
		case <-ctx.Done():
			b.timer.Stop()
			return nil, false
		}
	}
	b.window = min(max(b.window, pending), b.max)
	return b.items, true
}

// nopStore replaces paho's in-memory store: a client lives for one session only, and
// unacknowledged messages are redelivered by the broker, not resent from a store.
type nopStore struct{}

func (nopStore) Open()                             {}
func (nopStore) Put(string, packets.ControlPacket) {}
func (nopStore) Get(string) packets.ControlPacket  { return nil }
func (nopStore) All() []string                     { return nil }
func (nopStore) Del(string)                        {}
func (nopStore) Close()                            {}
func (nopStore) Reset()                            {}
