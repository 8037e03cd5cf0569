package devsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/server/attrs"
	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uacp"
)

// notifyStall is how long a subscription may refuse a change notification before it
// is considered stuck; notifications to a stuck subscription are dropped and counted
// until it accepts one again.
const notifyStall = 10 * time.Second

var uaTypes = map[Signal]uint32{
	SigItemState:     id.UInt32,
	SigOperationMode: id.UInt32,
	SigChannelState:  id.Int32,
	SigPartsTotal:    id.UInt32,
	SigSpindleSpeed:  id.Double,
	SigFeedOverride:  id.Double,
	SigActiveProgram: id.String,
	SigAlarm:         id.Boolean,
}

// uaServer is one running OPC UA server and its change notifier.
type uaServer struct {
	sim     *Sim
	addr    string
	srv     *server.Server
	ns      *server.NodeNameSpace
	nodeIDs []*ua.NodeID
	keys    []string

	mu      sync.Mutex
	pending []int
	dirty   []bool
	wake    chan struct{}

	stallAfter time.Duration
	stalled    map[*server.Subscription]bool // notifier goroutine only
}

// ServeOPCUA serves the machines over OPC UA on addr (host:port, e.g.
// "127.0.0.1:4840"; the endpoint URL is opc.tcp://host:port) with security None and
// anonymous access, until ctx is done. It then closes the server, dropping every
// session and subscription, and returns nil once the listener is closed, so a later
// ServeOPCUA can take the same port (a restarted server, as clients see it). Errors
// come only from start-up.
//
// The server is gopcua's: a response can carry about 64 KB, so a client should
// monitor at most about 1 000 items per request and per subscription.
func (s *Sim) ServeOPCUA(ctx context.Context, addr string) error {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("parse opc ua address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return fmt.Errorf("parse opc ua address %q: port %q is not 1..65535", addr, portStr)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	srv := server.New(
		server.EnableSecurity("None", ua.MessageSecurityModeNone),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		server.EndPoint(host, port),
		server.ServerName("ganlink devsim"),
		server.ManufacturerName("ganlink"),
		server.ProductName("devsim"),
		server.SetLogger(uaLogger{s.log.With("component", "opcua")}),
	)
	u, err := s.buildAddressSpace(srv)
	if err != nil {
		return err
	}
	u.addr = addr
	sctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := srv.Start(sctx); err != nil {
		return fmt.Errorf("start opc ua server on %q: %w", addr, err)
	}
	endpoint := fmt.Sprintf("opc.tcp://%s", net.JoinHostPort(host, portStr))
	s.log.Info("serving opc ua", "endpoint", endpoint, "namespace", Namespace,
		"namespace_index", NamespaceIndex, "machines", len(s.machines), "nodes", len(u.nodeIDs))

	s.srvMu.Lock()
	s.servers[u] = struct{}{}
	s.srvMu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		u.run(ctx)
	}()
	<-ctx.Done()
	s.srvMu.Lock()
	delete(s.servers, u)
	s.srvMu.Unlock()
	<-done
	// Close closes the listener and then waits for every secure channel to end, but
	// never closes their connections: drop them until it returns. The server's
	// goroutines run on sctx until then, so the channels' last messages are read.
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var cerr error
	warned := false
drop:
	for {
		if _, derr := dropConnections(srv); derr != nil && !warned {
			warned = true
			s.log.Warn("cannot drop opc ua connections on close", "err", derr)
		}
		select {
		case cerr = <-closed:
			break drop
		case <-tick.C:
		}
	}
	cancel()
	s.log.Info("stopped opc ua", "endpoint", endpoint)
	if cerr != nil {
		return fmt.Errorf("close opc ua server on %q: %w", addr, cerr)
	}
	return nil
}

// dropConnections closes the TCP connection of every secure channel of srv and
// returns how many it closed. gopcua's Server.Close (v0.8.0) only sends each client a
// CloseSecureChannel request and leaves its connection open, so clients would not
// notice that the server stopped. The connections are reached through the server's
// unexported channel broker; a change of that structure is reported as an error.
func dropConnections(srv *server.Server) (int, error) {
	cb := unexportedField(reflect.ValueOf(srv).Elem(), "cb")
	if !cb.IsValid() || cb.Kind() != reflect.Pointer || cb.IsNil() {
		return 0, errors.New("server has no channel broker field cb")
	}
	b := cb.Elem()
	muField, chans := unexportedField(b, "mu"), unexportedField(b, "s")
	if !muField.IsValid() || !chans.IsValid() || chans.Kind() != reflect.Map {
		return 0, errors.New("channel broker has no fields mu and s")
	}
	mu, ok := muField.Addr().Interface().(*sync.RWMutex)
	if !ok {
		return 0, errors.New("channel broker field mu is not a sync.RWMutex")
	}
	var conns []*uacp.Conn
	mu.RLock()
	for it := chans.MapRange(); it.Next(); {
		sc := it.Value()
		if sc.Kind() != reflect.Pointer || sc.IsNil() {
			continue
		}
		c := unexportedField(sc.Elem(), "c")
		if !c.IsValid() {
			mu.RUnlock()
			return 0, errors.New("secure channel has no connection field c")
		}
		if conn, ok := c.Interface().(*uacp.Conn); ok && conn != nil {
			conns = append(conns, conn)
		}
	}
	mu.RUnlock()
	for _, c := range conns {
		c.Close()
	}
	return len(conns), nil
}

// unexportedField returns the named field of the addressable struct v, usable as if
// it were exported, or the zero Value.
func unexportedField(v reflect.Value, name string) reflect.Value {
	f := v.FieldByName(name)
	if !f.IsValid() {
		return f
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
}

func browseName(ns uint16, name string) *ua.QualifiedName {
	return &ua.QualifiedName{NamespaceIndex: ns, Name: name}
}

func typeDefinition(typeID uint32, name string) *ua.ReferenceDescription {
	return &ua.ReferenceDescription{
		ReferenceTypeID: ua.NewNumericNodeID(0, id.HasTypeDefinition),
		IsForward:       true,
		NodeID:          ua.NewNumericExpandedNodeID(0, typeID),
		BrowseName:      browseName(0, name),
		DisplayName:     attrs.DisplayName(name, ""),
		NodeClass:       ua.NodeClassObjectType,
		TypeDefinition:  ua.NewNumericExpandedNodeID(0, typeID),
	}
}

func objectNode(ns uint16, sid, name string, typeID uint32, typeName string) *server.Node {
	return server.NewNode(
		ua.NewStringNodeID(ns, sid),
		server.Attributes{
			ua.AttributeIDNodeClass:     server.DataValueFromValue(uint32(ua.NodeClassObject)),
			ua.AttributeIDBrowseName:    server.DataValueFromValue(browseName(ns, name)),
			ua.AttributeIDDisplayName:   server.DataValueFromValue(attrs.DisplayName(name, "")),
			ua.AttributeIDEventNotifier: server.DataValueFromValue(int16(0)),
		},
		server.References{typeDefinition(typeID, typeName)},
		nil,
	)
}

// buildAddressSpace adds Objects/Machines/M<i>/<signal> to a new server. The variables
// read the simulator's current values.
func (s *Sim) buildAddressSpace(srv *server.Server) (*uaServer, error) {
	ns := server.NewNodeNameSpace(srv, Namespace)
	if ns.ID() != NamespaceIndex {
		return nil, fmt.Errorf("register opc ua namespace %q: got index %d, want %d", Namespace, ns.ID(), NamespaceIndex)
	}
	idx := ns.ID()
	root, err := srv.Namespace(0)
	if err != nil {
		return nil, fmt.Errorf("find opc ua namespace 0: %w", err)
	}
	folder := ns.AddNode(objectNode(idx, "Machines", "Machines", id.FolderType, "FolderType"))
	root.Objects().AddRef(folder, id.Organizes, true)

	u := s.newUAServer(srv, ns)
	for i := range s.machines {
		num := i + 1
		mnode := ns.AddNode(objectNode(idx, "M"+strconv.Itoa(num), "M"+strconv.Itoa(num), id.BaseObjectType, "BaseObjectType"))
		folder.AddRef(mnode, id.Organizes, true)
		for k, sig := range MachineSignals {
			v := s.variableNode(idx, num, sig, &s.cells[i*len(MachineSignals)+k])
			ns.AddNode(v)
			mnode.AddRef(v, id.HasComponent, true)
			u.nodeIDs = append(u.nodeIDs, v.ID())
			u.keys = append(u.keys, v.ID().String())
		}
	}
	return u, nil
}

func (s *Sim) newUAServer(srv *server.Server, ns *server.NodeNameSpace) *uaServer {
	return &uaServer{
		sim:        s,
		srv:        srv,
		ns:         ns,
		dirty:      make([]bool, len(s.cells)),
		wake:       make(chan struct{}, 1),
		stallAfter: notifyStall,
		stalled:    map[*server.Subscription]bool{},
	}
}

// variableNode is the read-only variable of a machine signal; it reads cell.
func (s *Sim) variableNode(idx uint16, num int, sig Signal, cell *atomic.Pointer[nodeValue]) *server.Node {
	access := server.DataValueFromValue(byte(ua.AccessLevelTypeCurrentRead))
	return server.NewNode(
		ua.NewStringNodeID(idx, NodeName(num, sig)),
		server.Attributes{
			ua.AttributeIDNodeClass:       server.DataValueFromValue(uint32(ua.NodeClassVariable)),
			ua.AttributeIDBrowseName:      server.DataValueFromValue(browseName(idx, sig.BrowseName())),
			ua.AttributeIDDisplayName:     server.DataValueFromValue(attrs.DisplayName(sig.BrowseName(), "")),
			ua.AttributeIDDataType:        server.DataValueFromValue(ua.NewNumericExpandedNodeID(0, uaTypes[sig])),
			ua.AttributeIDValueRank:       server.DataValueFromValue(int32(-1)),
			ua.AttributeIDAccessLevel:     access,
			ua.AttributeIDUserAccessLevel: access,
		},
		server.References{typeDefinition(id.BaseDataVariableType, "BaseDataVariableType")},
		func() *ua.DataValue {
			nv := cell.Load()
			return &ua.DataValue{
				EncodingMask:    ua.DataValueValue | ua.DataValueSourceTimestamp | ua.DataValueServerTimestamp,
				Value:           ua.MustVariant(nv.v),
				SourceTimestamp: nv.t,
				ServerTimestamp: nv.t,
			}
		},
	)
}

// mark queues node indices for change notification.
func (u *uaServer) mark(idx []int) {
	u.mu.Lock()
	for _, i := range idx {
		if !u.dirty[i] {
			u.dirty[i] = true
			u.pending = append(u.pending, i)
		}
	}
	u.mu.Unlock()
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// run delivers change notifications to the server's subscriptions until ctx is done.
// It stands in for the server's own ChangeNotification, which blocks with the
// monitored-item lock held while a subscription's queue is full.
func (u *uaServer) run(ctx context.Context) {
	var batch []int
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.wake:
		}
		u.mu.Lock()
		batch, u.pending = u.pending, batch[:0]
		for _, i := range batch {
			u.dirty[i] = false
		}
		u.mu.Unlock()
		for _, i := range batch {
			if !u.notify(ctx, i) {
				return
			}
		}
	}
}

// notify sends the current value of node i to every monitored item on it; false
// when ctx is done.
func (u *uaServer) notify(ctx context.Context, i int) bool {
	mis := u.srv.MonitoredItemService
	// The server holds this lock while it blocks on a full subscription queue; poll
	// it so that a stuck server cannot keep the notifier from stopping.
	for wait := 50 * time.Microsecond; !mis.Mu.TryLock(); wait = min(2*wait, 5*time.Millisecond) {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
	}
	items := slices.Clone(mis.Nodes[u.keys[i]])
	mis.Mu.Unlock()
	for _, item := range items {
		if item == nil || item.Sub == nil || item.Req == nil || item.Req.ItemToMonitor == nil {
			continue
		}
		n := &ua.MonitoredItemNotification{
			ClientHandle: item.Req.RequestedParameters.ClientHandle,
			Value:        u.ns.Attribute(u.nodeIDs[i], item.Req.ItemToMonitor.AttributeID),
		}
		ch := item.Sub.NotifyChannel
		if u.stalled[item.Sub] {
			select {
			case ch <- n:
				delete(u.stalled, item.Sub)
			default:
				u.sim.notifyDropped.Add(1)
			}
			continue
		}
		select {
		case ch <- n:
			continue
		default:
		}
		t := time.NewTimer(u.stallAfter)
		select {
		case ch <- n:
		case <-t.C:
			u.stalled[item.Sub] = true
			u.sim.notifyDropped.Add(1)
			u.sim.log.Warn("opc ua subscription accepts no notifications, dropping them", "subscription", item.Sub.ID)
		case <-ctx.Done():
			t.Stop()
			return false
		}
		t.Stop()
	}
	return true
}

// uaLogger adapts the OPC UA server's printf-style logs to slog. Its routine
// messages (connections, subscriptions, the duplicate reference types of the standard
// node set, the socket closing on shutdown) go to debug; warnings and errors to warn.
type uaLogger struct{ l *slog.Logger }

func (u uaLogger) log(level slog.Level, msg string, args []any) {
	if !u.l.Enabled(context.Background(), level) {
		return
	}
	u.l.Log(context.Background(), level, strings.TrimSpace(fmt.Sprintf(msg, args...)))
}

func (u uaLogger) Debug(msg string, args ...any) { u.log(slog.LevelDebug, msg, args) }
func (u uaLogger) Info(msg string, args ...any)  { u.log(slog.LevelDebug, msg, args) }
func (u uaLogger) Warn(msg string, args ...any)  { u.log(slog.LevelWarn, msg, args) }
func (u uaLogger) Error(msg string, args ...any) {
	level := slog.LevelWarn
	for _, p := range []string{"Duplicate reference type", "socket closed", "monitorConnections", "error accepting connection"} {
		if strings.HasPrefix(msg, p) {
			level = slog.LevelDebug
		}
	}
	u.log(level, msg, args)
}
