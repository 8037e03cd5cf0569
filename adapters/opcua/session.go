package opcua

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/adapters/opcua/pki"
	"github.com/ganlink/ganlink/gateway/point"
)

// Item states within one session.
const (
	itemIdle        uint8 = iota // not tried on this session yet
	itemMonitored                // monitored item created
	itemRejected                 // rejected by the server or its node became unknown; retried
	itemNoNamespace              // its namespace URI is not in the server's NamespaceArray; retried
	itemUnresolved               // its browse path did not resolve; retried
)

// session is one connection attempt: one client, its subscriptions and publishers. All
// fields except acks are owned by the goroutine running Source.session.
type session struct {
	s    *Source
	c    *opcua.Client
	emit point.EmitFunc
	ns   []string // the server's NamespaceArray

	state []uint8  // per item
	subOf []uint32 // per item: subscription id of its monitored item
	miID  []uint32 // per item: monitored item id

	subs           []*subscription
	callLimit      int
	translateLimit int
	rebind         []rebind // items whose node became unknown in the last response

	pubCtx  context.Context
	pubStop context.CancelFunc
	pubWG   sync.WaitGroup
	npub    int
	resps   chan *ua.PublishResponse
	errc    chan error

	acksMu sync.Mutex
	acks   []*ua.SubscriptionAcknowledgement
}

type subscription struct {
	id        uint32
	count     int           // monitored items
	keepAlive time.Duration // revised keep-alive period
	lastSeen  time.Time     // last publish response (data or keep-alive)
}

type rebind struct {
	item   int
	status ua.StatusCode
}

// noAcks is sent when there is nothing to acknowledge; the encoder only reads it.
var noAcks = []*ua.SubscriptionAcknowledgement{}

// session runs one connection attempt until it fails or ctx is done. up reports whether
// the session got as far as StateUp.
func (s *Source) session(ctx context.Context, emit point.EmitFunc) (up bool, err error) {
	// A panic in the client library while handling what a server sent (gopcua asserts
	// types of server data in places) ends this attempt, not the gateway: the deferred
	// closes below still run, and the reconnect loop tries again.
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("opcua session failed with a panic", "endpoint", s.cfg.Endpoint, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("opcua session with %q failed: panic: %v", s.cfg.Endpoint, r)
		}
	}()
	c, err := s.connect(ctx)
	if err != nil {
		return false, err
	}
	n := len(s.items)
	ss := &session{
		s:         s,
		c:         c,
		emit:      emit,
		ns:        c.Namespaces(),
		state:     make([]uint8, n),
		subOf:     make([]uint32, n),
		miID:      make([]uint32, n),
		callLimit: s.cfg.MaxItemsPerCall,
		// Browse paths are translated in chunks of the same size, or the server's limit.
		translateLimit: s.cfg.MaxItemsPerCall,
		resps:          make(chan *ua.PublishResponse),
		errc:           make(chan error, 1),
	}
	ss.pubCtx, ss.pubStop = context.WithCancel(ctx)
	defer ss.close()

	if err := ss.setup(ctx); err != nil {
		return false, err
	}
	s.obs.State(s.cfg.Name, point.StateUp, nil)
	return true, ss.loop(ctx)
}

// connect selects the endpoint, checks the server's certificate against the trust list,
// creates the client and opens the session.
func (s *Source) connect(ctx context.Context) (*opcua.Client, error) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	eps, err := opcua.GetEndpoints(cctx, s.cfg.Endpoint, append(s.limits(), opcua.DialTimeout(s.cfg.ConnectTimeout))...)
	if err != nil {
		return nil, fmt.Errorf("get endpoints of %q: %w", s.cfg.Endpoint, err)
	}
	appURI := defaultApplicationURI
	if s.cfg.Own != nil && len(s.cfg.Own.Cert.URIs) > 0 {
		appURI = s.cfg.Own.Cert.URIs[0].String()
	}
	opts := append(s.limits(),
		// Reconnecting is this package's job: gopcua must not recreate anything itself.
		opcua.AutoReconnect(false),
		opcua.DialTimeout(s.cfg.ConnectTimeout),
		opcua.RequestTimeout(s.requestTimeout()),
		opcua.SessionTimeout(sessionTimeout),
		opcua.ApplicationName("Ganlink gateway"),
		opcua.ProductURI("urn:ganlink"),
		opcua.SessionName("ganlink "+s.cfg.Name),
	)
	token := ua.UserTokenTypeAnonymous
	switch {
	case s.cfg.Username != "":
		token = ua.UserTokenTypeUserName
	case s.cfg.UserCertificate != nil:
		token = ua.UserTokenTypeCertificate
	}
	security := "None/None"
	switch {
	case len(eps) == 0 && s.cfg.SecurityPolicy == "None" && token == ua.UserTokenTypeAnonymous:
		// Some servers list only the endpoints whose URL matches the requested one
		// exactly, which a gateway behind NAT or a port forward never does. Security None
		// with anonymous login needs nothing from the list: the session picks the
		// anonymous token policy from the CreateSession response.
		s.log.Debug("server listed no endpoints for the URL; using security None", "endpoint", s.cfg.Endpoint)
		opts = append(opts, opcua.ApplicationURI(appURI))
	default:
		ep, err := selectEndpoint(eps, s.cfg.SecurityPolicy, s.cfg.SecurityMode, token)
		if err != nil {
			return nil, fmt.Errorf("select endpoint of %q: %w", s.cfg.Endpoint, err)
		}
		security = PolicyName(ep.SecurityPolicyURI) + "/" + ModeName(ep.SecurityMode)
		secure := ep.SecurityPolicyURI != ua.SecurityPolicyURINone
		// Credentials are encrypted with the server's certificate (the token policy's, or
		// the channel's): it must be a trusted one, or they go to whoever answered.
		credentials := token != ua.UserTokenTypeAnonymous && tokenPolicyURI(ep, token) != ua.SecurityPolicyURINone
		if secure || credentials {
			if s.cfg.PKI == nil || s.cfg.Own == nil {
				return nil, fmt.Errorf("endpoint %q %s: no PKI directory configured for the certificates", s.cfg.Endpoint, security)
			}
			if err := s.cfg.PKI.Verify(s.cfg.Endpoint, ep.ServerCertificate); err != nil {
				return nil, err
			}
			s.checkServerIdentity(ep)
			// Clipped: gopcua appends the session nonce to the certificate it is given
			// (uasc VerifySessionSignature), which would write into the spare capacity
			// of the DER shared by every OPC UA source (a data race the race detector
			// caught with two secured sources connecting at once).
			opts = append(opts, opcua.Certificate(slices.Clip(s.cfg.Own.DER)), opcua.PrivateKey(s.cfg.Own.Key))
		}
		// After Certificate, which sets the URI from the certificate: both must agree.
		opts = append(opts, opcua.ApplicationURI(appURI))
		switch token {
		case ua.UserTokenTypeUserName:
			opts = append(opts, opcua.AuthUsername(s.cfg.Username, s.cfg.Password))
			if tokenPolicyURI(ep, token) == ua.SecurityPolicyURINone && !secure {
				s.warnClearPassword.Do(func() {
					s.log.Warn("opcua password travels in clear text: the endpoint has security None and its user token policy does not encrypt it",
						"endpoint", s.cfg.Endpoint, "username", s.cfg.Username)
				})
			}
		case ua.UserTokenTypeCertificate:
			opts = append(opts, opcua.AuthCertificate(s.cfg.UserCertificate), opcua.AuthPrivateKey(s.cfg.UserKey))
		default:
			opts = append(opts, opcua.AuthAnonymous())
		}
		opts = append(opts, opcua.SecurityFromEndpoint(ep, token))
	}
	s.security.Store(&security)
	// Dial the configured URL: servers often advertise a host name the gateway cannot
	// resolve.
	s.releaseOrphans(cctx, opts)
	c, err := opcua.NewClient(s.cfg.Endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("create client for %q: %w", s.cfg.Endpoint, err)
	}
	if err := c.Connect(cctx); err != nil {
		// The session Connect created (if it got that far) may be left on the server:
		// the connection dropped before it was activated, or before it could be
		// closed. The next attempt closes it.
		s.addOrphan(c.CreatedSession())
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.closeTimeout)
		_ = c.Close(closeCtx)
		cancel()
		hint := ""
		if security != "None/None" && (errors.Is(err, ua.StatusBadSecurityChecksFailed) || errors.Is(err, ua.StatusBadCertificateUntrusted)) {
			hint = fmt.Sprintf(" (does the server trust the gateway's certificate %s, thumbprint %s? OPC UA servers keep an unknown client certificate in their rejected list until an administrator trusts it)",
				s.cfg.Own.Path, pki.Thumbprint(s.cfg.Own.DER))
		}
		return nil, fmt.Errorf("connect to %q with security %s and %s login: %w%s", s.cfg.Endpoint, security, tokenName(token), err, hint)
	}
	return c, nil
}

// addOrphan remembers a session that may be left on the server.
func (s *Source) addOrphan(sess *opcua.Session) {
	if sess == nil {
		return
	}
	if len(s.orphans) == maxOrphans {
		s.orphans = slices.Delete(s.orphans, 0, 1)
	}
	timeout := sess.RevisedTimeout()
	if timeout <= 0 {
		timeout = sessionTimeout
	}
	s.orphans = append(s.orphans, orphan{s: sess, expires: time.Now().Add(timeout)})
}

// releaseOrphans closes the sessions dropped connections left on the server, over a
// secure channel of their own (no session of its own), before a new session is
// created: a server at its session limit would refuse the new one with
// BadTooManySessions until the old ones time out. A session the server answers for
// (closed, or unknown to it) is forgotten; one whose release fails on the way is tried
// again next time, until its timeout.
func (s *Source) releaseOrphans(ctx context.Context, opts []opcua.Option) {
	now := time.Now()
	s.orphans = slices.DeleteFunc(s.orphans, func(o orphan) bool { return now.After(o.expires) })
	if len(s.orphans) == 0 {
		return
	}
	c, err := opcua.NewClient(s.cfg.Endpoint, opts...)
	if err != nil {
		return
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.closeTimeout)
		_ = c.Close(closeCtx)
		cancel()
	}()
	if err := c.Dial(ctx); err != nil {
		return
	}
	released := 0
	for len(s.orphans) > 0 {
		err := c.ReleaseSession(ctx, s.orphans[0].s)
		var status ua.StatusCode
		if err != nil && (!errors.As(err, &status) || status == ua.StatusBadTimeout || status == ua.StatusBadServerNotConnected) {
			break // not answered: the channel is gone too; try again next time
		}
		if err == nil {
			released++
		}
		s.orphans = s.orphans[1:]
	}
	if released > 0 {
		s.releasedSessions.Add(int64(released))
		s.log.Info("opcua closed sessions left by dropped connections", "endpoint", s.cfg.Endpoint, "sessions", released)
	}
}

// limits are the client options that bound what the gateway accepts from the server:
// the message size and the chunks it may come in. The patched gopcua keeps them
// whatever the server's Acknowledge says (third_party/gopcua/PATCHES.md).
func (s *Source) limits() []opcua.Option {
	chunks := (s.cfg.MaxMessageSize + receiveChunkSize - 1) / receiveChunkSize
	return []opcua.Option{
		opcua.ReceiveBufferSize(receiveChunkSize),
		opcua.MaxMessageSize(uint32(s.cfg.MaxMessageSize)),
		// Chunks carry headers and padding: a message of the maximum size may need a
		// few more than its size divided by the chunk size.
		opcua.MaxChunkCount(uint32(chunks + chunks/8 + 2)),
	}
}

// checkServerIdentity warns once when the trusted server certificate does not carry the
// application URI the server reports, or the host name the gateway dials: both are what
// OPC 10000-4 §6.1.3 asks a client to check, and both are often wrong on shop-floor
// servers reached through NAT, so they are warnings, not errors. The trust decision is
// the certificate itself.
func (s *Source) checkServerIdentity(ep *ua.EndpointDescription) {
	cert, err := x509.ParseCertificate(ep.ServerCertificate)
	if err != nil {
		return
	}
	var problems []string
	if ep.Server != nil && ep.Server.ApplicationURI != "" {
		found := false
		for _, u := range cert.URIs {
			found = found || u.String() == ep.Server.ApplicationURI
		}
		if !found {
			problems = append(problems, fmt.Sprintf("the certificate does not carry the server's application URI %q", ep.Server.ApplicationURI))
		}
	}
	if u, err := url.Parse(s.cfg.Endpoint); err == nil && u.Hostname() != "" {
		if err := cert.VerifyHostname(u.Hostname()); err != nil {
			problems = append(problems, fmt.Sprintf("the certificate does not name host %q", u.Hostname()))
		}
	}
	if len(problems) > 0 {
		s.warnIdentity.Do(func() {
			s.log.Warn("opcua server certificate is trusted but "+strings.Join(problems, " and "),
				"endpoint", s.cfg.Endpoint, "thumbprint", pki.Thumbprint(ep.ServerCertificate))
		})
	}
}

// keepAliveCount is the requested keep-alive count for the configured publishing interval.
func (s *Source) keepAliveCount() uint32 {
	n := (s.keepAliveTarget + s.cfg.PublishingInterval - 1) / s.cfg.PublishingInterval
	return uint32(max(n, 1))
}

// requestTimeout bounds a request on the wire; publish requests are held by the server
// for up to a keep-alive period, so it is well above that. Other calls are bounded by
// ConnectTimeout through their context.
func (s *Source) requestTimeout() time.Duration {
	ka := time.Duration(s.keepAliveCount()) * s.cfg.PublishingInterval
	return max(s.cfg.ConnectTimeout, 10*ka, time.Minute)
}

// setup creates the subscriptions and monitored items and starts the publishers.
func (ss *session) setup(ctx context.Context) error {
	s := ss.s
	monitorLimit, translateLimit := ss.serverLimits(ctx)
	if monitorLimit > 0 && monitorLimit < ss.callLimit {
		ss.callLimit = monitorLimit
	}
	if translateLimit > 0 && translateLimit < ss.translateLimit {
		ss.translateLimit = translateLimit
	}
	// One subscription even without items: its keep-alives prove the session alive.
	if _, err := ss.createSubscription(ctx); err != nil {
		return err
	}
	all := make([]int, len(s.items))
	for i := range all {
		all[i] = i
	}
	if err := ss.monitorItems(ctx, all, slog.LevelWarn); err != nil {
		return err
	}
	var monitored, rejected, noNS, unresolved int
	for _, st := range ss.state {
		switch st {
		case itemMonitored:
			monitored++
		case itemRejected:
			rejected++
		case itemNoNamespace:
			noNS++
		case itemUnresolved:
			unresolved++
		}
	}
	s.log.Info("opcua connected", "endpoint", s.cfg.Endpoint, "security", s.Security(), "items", len(s.items), "monitored", monitored,
		"rejected", rejected, "namespace_unknown", noNS, "browse_path_unresolved", unresolved,
		"subscriptions", len(ss.subs), "items_per_call", ss.callLimit)
	return nil
}

// call sends req bounded by ConnectTimeout and returns the typed response.
func call[T ua.Response](ctx context.Context, ss *session, req ua.Request) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, ss.s.cfg.ConnectTimeout)
	defer cancel()
	var out T
	err := ss.c.Send(cctx, req, func(v ua.Response) error {
		r, ok := v.(T)
		if !ok {
			return fmt.Errorf("unexpected response %T", v)
		}
		out = r
		return nil
	})
	return out, err
}

// serverLimits reads the server's MaxMonitoredItemsPerCall and
// MaxNodesPerTranslateBrowsePathsToNodeIds operation limits; 0 for a limit the server
// does not publish.
func (ss *session) serverLimits(ctx context.Context) (monitor, translate int) {
	cctx, cancel := context.WithTimeout(ctx, ss.s.cfg.ConnectTimeout)
	defer cancel()
	res, err := ss.c.Read(cctx, &ua.ReadRequest{
		NodesToRead: []*ua.ReadValueID{{
			NodeID:      ua.NewNumericNodeID(0, id.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall),
			AttributeID: ua.AttributeIDValue,
		}, {
			NodeID:      ua.NewNumericNodeID(0, id.Server_ServerCapabilities_OperationLimits_MaxNodesPerTranslateBrowsePathsToNodeIDs),
			AttributeID: ua.AttributeIDValue,
		}},
		TimestampsToReturn: ua.TimestampsToReturnNeither,
	})
	if err != nil || len(res.Results) != 2 {
		return 0, 0
	}
	return limitValue(res.Results[0]), limitValue(res.Results[1])
}

// limitValue is an operation limit's value; 0 when unreadable or unset.
func limitValue(dv *ua.DataValue) int {
	if dv == nil || dv.Status != ua.StatusOK || dv.Value == nil {
		return 0
	}
	switch v := dv.Value.Value().(type) {
	case uint32:
		return int(v)
	case int32:
		return int(max(v, 0))
	}
	return 0
}

// createSubscription creates a subscription and makes sure enough publishers run.
func (ss *session) createSubscription(ctx context.Context) (*subscription, error) {
	s := ss.s
	ka := s.keepAliveCount()
	res, err := call[*ua.CreateSubscriptionResponse](ctx, ss, &ua.CreateSubscriptionRequest{
		RequestedPublishingInterval: ms(s.cfg.PublishingInterval),
		RequestedLifetimeCount:      lifetimeFactor * ka,
		RequestedMaxKeepAliveCount:  ka,
		// Bounded publish responses: some servers cannot send more than ~64 KB in one.
		MaxNotificationsPerPublish: uint32(s.cfg.MaxItemsPerSubscription),
		PublishingEnabled:          true,
	})
	if err != nil {
		return nil, fmt.Errorf("create subscription on %q: %w", s.cfg.Endpoint, err)
	}
	s.subscriptions.Add(1)
	keepAlive := time.Duration(res.RevisedPublishingInterval*float64(time.Millisecond)) * time.Duration(res.RevisedMaxKeepAliveCount)
	if keepAlive <= 0 {
		keepAlive = time.Duration(ka) * s.cfg.PublishingInterval
	}
	sub := &subscription{id: res.SubscriptionID, keepAlive: keepAlive, lastSeen: time.Now()}
	ss.subs = append(ss.subs, sub)
	for want := min(len(ss.subs)+1, s.maxPublishers); ss.npub < want; ss.npub++ {
		ss.pubWG.Add(1)
		go ss.publisher(ss.npub == 0)
	}
	return sub, nil
}

// monitorItems creates monitored items for the given item indexes, in chunks of at most
// callLimit items, filling subscriptions up to MaxItemsPerSubscription and creating new
// ones as needed. Items the server rejects are reported and left for retry; only
// service-level failures are returned.
func (ss *session) monitorItems(ctx context.Context, idx []int, logLevel slog.Level) error {
	s := ss.s
	ts := ua.TimestampsToReturnBoth
	switch s.ts {
	case tsServer:
		ts = ua.TimestampsToReturnServer
	case tsGateway:
		ts = ua.TimestampsToReturnNeither
	}
	// Every problem goes to the observer; the log gets the first five and a count.
	logged := 0
	reject := func(i int, state uint8, reason string, err error) {
		ss.state[i] = state
		level := logLevel
		if logged++; logged > 5 {
			level = slog.LevelDebug
		}
		ss.report(i, reason, err, level)
	}
	defer func() {
		if logged > 5 {
			s.log.Log(ctx, logLevel, "more opcua items not monitored", "endpoint", s.cfg.Endpoint, "count", logged-5)
		}
	}()
	// Resolve node ids first: items whose namespace URI is unknown or whose browse path
	// does not resolve wait for a retry. Browse paths are translated every time: after a
	// rejection the path may lead elsewhere.
	todo := idx[:0:0]
	nodes := make(map[int]*ua.NodeID, len(idx))
	var paths []int
	for _, i := range idx {
		if s.items[i].bp != nil {
			paths = append(paths, i)
			continue
		}
		node, err := ss.resolve(i)
		if err != nil {
			reject(i, itemNoNamespace, "namespace", err)
			continue
		}
		nodes[i] = node
		todo = append(todo, i)
	}
	if len(paths) > 0 {
		resolved, err := ss.translate(ctx, paths, reject)
		if err != nil {
			return err
		}
		for _, i := range paths {
			if node, ok := resolved[i]; ok {
				nodes[i] = node
				todo = append(todo, i)
			}
		}
		slices.Sort(todo)
	}
	for len(todo) > 0 {
		var sub *subscription
		for _, c := range ss.subs {
			if c.count < s.cfg.MaxItemsPerSubscription {
				sub = c
				break
			}
		}
		if sub == nil {
			var err error
			sub, err = ss.createSubscription(ctx)
			if errors.Is(err, ua.StatusBadTooManySubscriptions) {
				// The server's limit, not a broken session: the rest waits for a retry.
				for _, i := range todo {
					reject(i, itemRejected, "limit", err)
				}
				return nil
			}
			if err != nil {
				return err
			}
		}
		n := min(len(todo), ss.callLimit, s.cfg.MaxItemsPerSubscription-sub.count)
		chunk := todo[:n]
		reqs := make([]*ua.MonitoredItemCreateRequest, n)
		for j, i := range chunk {
			it := &s.items[i]
			reqs[j] = &ua.MonitoredItemCreateRequest{
				ItemToMonitor: &ua.ReadValueID{
					NodeID:       nodes[i],
					AttributeID:  ua.AttributeIDValue,
					DataEncoding: &ua.QualifiedName{},
				},
				MonitoringMode: ua.MonitoringModeReporting,
				RequestedParameters: &ua.MonitoringParameters{
					ClientHandle:     uint32(i), // the item index: notifications map back without a lookup
					SamplingInterval: it.sampling,
					Filter:           it.filter,
					QueueSize:        it.queue,
					DiscardOldest:    true,
				},
			}
		}
		s.monitorCalls.Add(1)
		res, err := call[*ua.CreateMonitoredItemsResponse](ctx, ss, &ua.CreateMonitoredItemsRequest{
			SubscriptionID:     sub.id,
			TimestampsToReturn: ts,
			ItemsToCreate:      reqs,
		})
		if errors.Is(err, ua.StatusBadTooManyOperations) && n > 1 {
			ss.callLimit = n / 2
			s.log.Warn("server refused the chunk size, halving it", "endpoint", s.cfg.Endpoint, "items_per_call", ss.callLimit)
			continue
		}
		if err == nil && len(res.Results) != n {
			err = fmt.Errorf("got %d results for %d items", len(res.Results), n)
		}
		if err != nil {
			return fmt.Errorf("create monitored items on %q: %w", s.cfg.Endpoint, err)
		}
		todo = todo[n:]
		for j, r := range res.Results {
			i := chunk[j]
			if r == nil {
				r = &ua.MonitoredItemCreateResult{StatusCode: ua.StatusBadUnexpectedError}
			}
			if quality(r.StatusCode) != point.Bad {
				ss.state[i], ss.subOf[i], ss.miID[i] = itemMonitored, sub.id, r.MonitoredItemID
				sub.count++
				continue
			}
			reject(i, itemRejected, reason(r.StatusCode), ss.monitorError(i, r.StatusCode))
		}
	}
	return nil
}

// resolve returns the item's node id on this server.
func (ss *session) resolve(i int) (*ua.NodeID, error) {
	it := &ss.s.items[i]
	if it.node != nil {
		return it.node, nil
	}
	for j, u := range ss.ns {
		if u == it.id.nsu && j <= 0xffff {
			return it.id.build(uint16(j)), nil
		}
	}
	return nil, fmt.Errorf("resolve node %q on %q: namespace %q is not in the server's namespace array",
		it.nodeID, ss.s.cfg.Endpoint, it.id.nsu)
}

// monitorError describes a rejected item or one whose node became unknown.
func (ss *session) monitorError(i int, status ua.StatusCode) error {
	it := &ss.s.items[i]
	if it.bp != nil {
		return fmt.Errorf("monitor browse path %q on %q: %w", it.bp.path, ss.s.cfg.Endpoint, status)
	}
	return fmt.Errorf("monitor node %q on %q: %w", it.nodeID, ss.s.cfg.Endpoint, status)
}

// report hands a per-item problem to the observer and the log.
func (ss *session) report(i int, reason string, err error, level slog.Level) {
	it := &ss.s.items[i]
	ss.s.obs.SignalError(ss.s.cfg.Name, it.dev.id, it.key, reason, err)
	ss.s.log.Log(context.Background(), level, "opcua item not monitored", "device", it.dev.id, "field", it.key,
		"reason", reason, "err", err)
}

// reason maps a monitored item status to a short bounded label.
func reason(st ua.StatusCode) string {
	switch st &^ 0xffff { // drop the info bits
	case ua.StatusBadNodeIDUnknown, ua.StatusBadNodeIDInvalid:
		return "node_unknown"
	case ua.StatusBadAttributeIDInvalid, ua.StatusBadNotReadable:
		return "not_readable"
	case ua.StatusBadUserAccessDenied, ua.StatusBadSecurityModeInsufficient:
		return "access"
	case ua.StatusBadFilterNotAllowed, ua.StatusBadDeadbandFilterInvalid,
		ua.StatusBadMonitoredItemFilterInvalid, ua.StatusBadMonitoredItemFilterUnsupported:
		return "filter"
	case ua.StatusBadTooManyMonitoredItems:
		return "limit"
	default:
		return "rejected"
	}
}

// publisher keeps one publish request outstanding and hands each response to the session
// loop. Connection failures are reported on errc; the first publisher (primary) never
// gives up on BadTooManyPublishRequests, the others end.
func (ss *session) publisher(primary bool) {
	defer ss.pubWG.Done()
	defer func() {
		if r := recover(); r != nil { // see Source.session
			ss.s.log.Error("opcua publish failed with a panic", "endpoint", ss.s.cfg.Endpoint, "panic", r, "stack", string(debug.Stack()))
			select {
			case ss.errc <- fmt.Errorf("opcua publish to %q failed: panic: %v", ss.s.cfg.Endpoint, r):
			default:
			}
		}
	}()
	ctx := ss.pubCtx
	for {
		acks := ss.takeAcks()
		var res *ua.PublishResponse
		err := ss.c.Send(ctx, &ua.PublishRequest{SubscriptionAcknowledgements: acks}, func(v ua.Response) error {
			r, ok := v.(*ua.PublishResponse)
			if !ok {
				return fmt.Errorf("unexpected response %T", v)
			}
			res = r
			return nil
		})
		if err != nil {
			ss.putAcks(acks)
			if ctx.Err() != nil {
				return
			}
			switch {
			case errors.Is(err, ua.StatusBadTimeout):
				continue
			case errors.Is(err, ua.StatusBadTooManyPublishRequests):
				if !primary {
					return
				}
				t := time.NewTimer(ss.s.cfg.PublishingInterval)
				select {
				case <-t.C:
					continue
				case <-ctx.Done():
					t.Stop()
					return
				}
			}
			select {
			case ss.errc <- fmt.Errorf("publish on %q: %w", ss.s.cfg.Endpoint, err):
			default:
			}
			return
		}
		select {
		case ss.resps <- res:
		case <-ctx.Done():
			return
		}
	}
}

func (ss *session) takeAcks() []*ua.SubscriptionAcknowledgement {
	ss.acksMu.Lock()
	a := ss.acks
	ss.acks = nil
	ss.acksMu.Unlock()
	if a == nil {
		return noAcks
	}
	return a
}

func (ss *session) putAcks(a []*ua.SubscriptionAcknowledgement) {
	if len(a) == 0 {
		return
	}
	ss.acksMu.Lock()
	ss.acks = append(ss.acks, a...)
	ss.acksMu.Unlock()
}

// loop consumes publish responses until the session fails or ctx is done.
func (ss *session) loop(ctx context.Context) error {
	tick := ss.subs[0].keepAlive / 4
	tick = min(max(tick, 10*time.Millisecond), time.Second)
	watchdog := time.NewTicker(tick)
	defer watchdog.Stop()
	retry := time.NewTicker(ss.s.retryEvery)
	defer retry.Stop()
	// The watchdog counts only time in which publish responses could be taken: not the
	// setup, not the time spent emitting or re-creating items (the publishers wait
	// meanwhile).
	now := time.Now()
	for _, sub := range ss.subs {
		sub.lastSeen = now
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-ss.errc:
			return err
		case res := <-ss.resps:
			start := time.Now()
			if err := ss.handle(ctx, res); err != nil {
				return err
			}
			ss.pauseWatchdog(time.Since(start))
		case now := <-watchdog.C:
			if err := ss.checkAlive(now); err != nil {
				return err
			}
		case <-retry.C:
			start := time.Now()
			if err := ss.retry(ctx); err != nil {
				return err
			}
			ss.pauseWatchdog(time.Since(start))
		}
	}
}

// pauseWatchdog moves every subscription's last response time forward by d, the time
// the loop could not take responses.
func (ss *session) pauseWatchdog(d time.Duration) {
	for _, sub := range ss.subs {
		sub.lastSeen = sub.lastSeen.Add(d)
	}
}

// handle converts and emits one publish response, then acknowledges it.
func (ss *session) handle(ctx context.Context, res *ua.PublishResponse) error {
	var sub *subscription
	for _, c := range ss.subs {
		if c.id == res.SubscriptionID {
			sub = c
			break
		}
	}
	msg := res.NotificationMessage
	if sub == nil || msg == nil {
		return nil // not one of this session's subscriptions
	}
	now := time.Now()
	sub.lastSeen = now
	if len(msg.NotificationData) == 0 {
		return nil // keep-alive
	}
	b, statusErr := ss.convert(res, now)
	if len(b) > 0 {
		ss.s.obs.Received(ss.s.cfg.Name, len(b))
		// emit settles the batch (queued, or dropped and counted); an error means ctx
		// ended: the notification stays unacknowledged.
		if err := ss.emit(ctx, b); err != nil {
			return err
		}
	}
	ss.acksMu.Lock()
	ss.acks = append(ss.acks, &ua.SubscriptionAcknowledgement{SubscriptionID: res.SubscriptionID, SequenceNumber: msg.SequenceNumber})
	ss.acksMu.Unlock()
	if len(ss.rebind) > 0 {
		if err := ss.unbind(ctx); err != nil {
			return err
		}
	}
	return statusErr
}

// checkAlive fails the session when a subscription has been silent for more than
// watchdogFactor keep-alive periods.
func (ss *session) checkAlive(now time.Time) error {
	for _, sub := range ss.subs {
		if silent := now.Sub(sub.lastSeen); silent > watchdogFactor*sub.keepAlive {
			return fmt.Errorf("subscription %d on %q: no publish response for %s (keep-alive period %s)",
				sub.id, ss.s.cfg.Endpoint, silent.Round(time.Millisecond), sub.keepAlive)
		}
	}
	return nil
}

// unbind deletes the monitored items whose node became unknown and leaves them for retry.
func (ss *session) unbind(ctx context.Context) error {
	bySub := map[uint32][]uint32{}
	for _, r := range ss.rebind {
		bySub[ss.subOf[r.item]] = append(bySub[ss.subOf[r.item]], ss.miID[r.item])
		for _, sub := range ss.subs {
			if sub.id == ss.subOf[r.item] {
				sub.count--
			}
		}
		ss.report(r.item, reason(r.status), ss.monitorError(r.item, r.status), slog.LevelWarn)
	}
	ss.rebind = ss.rebind[:0]
	for subID, ids := range bySub {
		if _, err := call[*ua.DeleteMonitoredItemsResponse](ctx, ss, &ua.DeleteMonitoredItemsRequest{
			SubscriptionID: subID, MonitoredItemIDs: ids,
		}); err != nil {
			return fmt.Errorf("delete monitored items on %q: %w", ss.s.cfg.Endpoint, err)
		}
	}
	return nil
}

// retry re-creates rejected items, items whose namespace was unknown and items whose
// browse path did not resolve.
func (ss *session) retry(ctx context.Context) error {
	var idx []int
	needNS := false
	for i, st := range ss.state {
		switch st {
		case itemRejected:
			idx = append(idx, i)
		case itemNoNamespace, itemUnresolved:
			idx = append(idx, i)
			needNS = true
		}
	}
	if len(idx) == 0 {
		return nil
	}
	if needNS {
		cctx, cancel := context.WithTimeout(ctx, ss.s.cfg.ConnectTimeout)
		ns, err := ss.c.NamespaceArray(cctx)
		cancel()
		if err != nil {
			return fmt.Errorf("read namespace array of %q: %w", ss.s.cfg.Endpoint, err)
		}
		ss.ns = ns
	}
	ss.s.log.Debug("retrying items", "endpoint", ss.s.cfg.Endpoint, "count", len(idx))
	return ss.monitorItems(ctx, idx, slog.LevelDebug)
}

// close stops the publishers, deletes the subscriptions if the server still listens,
// closes the client and waits for the publishers to exit.
func (ss *session) close() {
	ss.pubStop()
	ctx, cancel := context.WithTimeout(context.Background(), ss.s.closeTimeout)
	defer cancel()
	if len(ss.subs) > 0 {
		ids := make([]uint32, len(ss.subs))
		for i, sub := range ss.subs {
			ids[i] = sub.id
		}
		_ = ss.c.Send(ctx, &ua.DeleteSubscriptionsRequest{SubscriptionIDs: ids}, func(ua.Response) error { return nil })
	}
	if err := ss.c.CloseSession(ctx); err != nil {
		// The connection is gone: the session stays on the server until the next
		// connection attempt closes it.
		ss.s.addOrphan(ss.c.Session())
		_, _ = ss.c.DetachSession(ctx)
	}
	_ = ss.c.Close(ctx)
	ss.pubWG.Wait()
}
