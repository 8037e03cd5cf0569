package opcua

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/internal/testsrv"
)

func TestMain(m *testing.M) {
	// The gopcua server logs through the standard logger ("Duplicate reference type" on
	// every start); keep test output readable.
	log.SetOutput(io.Discard)
	os.Exit(m.Run())
}

// Namespace URIs of the test server: the plant namespace gets index 2, so resolving a
// namespace URI is distinguishable from using the index of the first custom namespace.
const (
	otherNS = "urn:ganlink:test:other"
	plantNS = "urn:ganlink:test:plant"
)

// testServer is an in-process gopcua OPC UA server on 127.0.0.1 with security None and
// anonymous login, holding one variable node per name in the plant namespace (index 2):
// node id "ns=2;s=<name>". Values are kept in a map guarded by a mutex and served through
// the nodes' value functions, so tests can change them concurrently with the server
// reading them; set notifies the monitored items.
type testServer struct {
	t     testing.TB
	port  int
	url   string
	srv   *server.Server
	plant *server.NodeNameSpace
	stop  context.CancelFunc

	mu   sync.Mutex
	vals map[string]*ua.DataValue
	once sync.Once
}

// startTestServer starts a server on port (0: a free port) with the given variable
// nodes, each holding Double 0 until set. It is stopped in t.Cleanup.
func startTestServer(t testing.TB, port int, names ...string) *testServer {
	t.Helper()
	if port == 0 {
		port = testsrv.FreePort(t)
	}
	ts := &testServer{t: t, port: port, url: fmt.Sprintf("opc.tcp://127.0.0.1:%d", port), vals: map[string]*ua.DataValue{}}
	ts.srv = server.New(
		server.EndPoint("127.0.0.1", port),
		server.EnableSecurity("None", ua.MessageSecurityModeNone),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
	)
	server.NewNodeNameSpace(ts.srv, otherNS)
	ts.plant = server.NewNodeNameSpace(ts.srv, plantNS)
	if got := ts.plant.ID(); got != 2 {
		t.Fatalf("plant namespace index = %d, want 2", got)
	}
	for _, name := range names {
		ts.add(name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts.stop = cancel
	if err := ts.srv.Start(ctx); err != nil {
		cancel()
		t.Fatalf("start opc ua server on %s: %v", ts.url, err)
	}
	t.Cleanup(ts.Close)
	return ts
}

// add adds a variable node. Nodes without an AccessLevel attribute are readable and
// writable for everyone in gopcua, so no access attributes are needed.
func (ts *testServer) add(name string) {
	ts.mu.Lock()
	if _, ok := ts.vals[name]; !ok {
		ts.vals[name] = &ua.DataValue{EncodingMask: ua.DataValueValue, Value: ua.MustVariant(0.0)}
	}
	ts.mu.Unlock()
	n := server.NewVariableNode(ua.NewStringNodeID(ts.plant.ID(), name), name, func() *ua.DataValue {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		return ts.vals[name]
	})
	ts.plant.AddNode(n)
}

// node returns the node id of a variable.
func (ts *testServer) node(name string) string { return "ns=2;s=" + name }

// set replaces a node's data value (never mutated afterwards) and notifies subscribers.
func (ts *testServer) set(name string, dv *ua.DataValue) {
	ts.mu.Lock()
	ts.vals[name] = dv
	ts.mu.Unlock()
	ts.srv.ChangeNotification(ua.NewStringNodeID(ts.plant.ID(), name))
}

// Close stops the server: its listener, its connections and its background loops.
func (ts *testServer) Close() {
	ts.once.Do(func() {
		ts.srv.Close()
		ts.stop()
	})
}

// kill stops the server the way a crashed process looks to a client that does not
// write: the server stops answering and its port refuses new connections. gopcua v0.8.0
// cannot encode its CloseSecureChannel message on Close ("maxBodySize == 0") and keeps the
// TCP connections of existing clients open, so a client only notices through missing
// publish responses. Request handling stops first; Close (which waits up to 10 s for
// those connections) runs in the background.
func (ts *testServer) kill() {
	ts.t.Helper()
	ts.once.Do(func() {
		ts.stop()
		go ts.srv.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", ts.port), 100*time.Millisecond)
			if err != nil {
				return
			}
			c.Close()
			if time.Now().After(deadline) {
				ts.t.Fatalf("port %d still accepts connections 5s after kill", ts.port)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// dv builds a data value; zero status and zero times are left out of the encoding.
func dv(v any, status ua.StatusCode, source, srvTime time.Time) *ua.DataValue {
	d := &ua.DataValue{EncodingMask: ua.DataValueValue, Value: ua.MustVariant(v)}
	if status != ua.StatusOK {
		d.EncodingMask |= ua.DataValueStatusCode
		d.Status = status
	}
	if !source.IsZero() {
		d.EncodingMask |= ua.DataValueSourceTimestamp
		d.SourceTimestamp = source
	}
	if !srvTime.IsZero() {
		d.EncodingMask |= ua.DataValueServerTimestamp
		d.ServerTimestamp = srvTime
	}
	return d
}
