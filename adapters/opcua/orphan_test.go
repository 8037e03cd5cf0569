package opcua

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/ganlink/ganlink/internal/testutil"
)

// dropOn returns a rewrite that drops the connection when the server sends a response
// of the given type, n times; other messages pass unchanged.
func dropOn(typeID uint16, n int64, dropped *atomic.Int64) func([]byte) []byte {
	return func(msg []byte) []byte {
		if len(msg) < msgBodyOffset+4 || string(msg[:4]) != "MSGF" {
			return msg
		}
		body := msg[msgBodyOffset:]
		if body[0] != 0x01 || body[1] != 0 || binary.LittleEndian.Uint16(body[2:]) != typeID {
			return msg
		}
		if dropped.Add(1) > n {
			return msg
		}
		return nil
	}
}

// sessionCount reads the server's CurrentSessionCount with a client of its own (one
// more session).
func sessionCount(t *testing.T, url string) uint32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := opcua.NewClient(url, opcua.SecurityMode(ua.MessageSecurityModeNone), opcua.AutoReconnect(false))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("connect to read the session count: %v", err)
	}
	defer c.Close(ctx)
	res, err := c.Read(ctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{
		NodeID: ua.NewNumericNodeID(0, id.Server_ServerDiagnostics_ServerDiagnosticsSummary_CurrentSessionCount), AttributeID: ua.AttributeIDValue,
	}}})
	if err != nil || len(res.Results) != 1 || res.Results[0].Status != ua.StatusOK {
		t.Fatalf("read CurrentSessionCount: %v %+v", err, res)
	}
	n, ok := res.Results[0].Value.Value().(uint32)
	if !ok {
		t.Fatalf("CurrentSessionCount is %T", res.Results[0].Value.Value())
	}
	return n
}

// Connections dropped during setup (after the session is activated, when the server
// answers CreateSubscription) leave sessions on the server. node-opcua allows 3 here;
// the connection drops 8 times. Each next attempt closes the session the previous one
// left (activating it on a secure channel of its own), so once the network heals the
// first attempt succeeds: no BadTooManySessions, values flow, and the server holds only
// the gateway's session.
func TestOrphanedSessionsReleased(t *testing.T) {
	srv := testsrv.StartMachineTool(t, testsrv.MachineToolOptions{MaxSessions: 3})
	p := startProxy(t, fmt.Sprintf("127.0.0.1:%d", srv.Port))
	const drops = 8
	var dropped atomic.Int64
	p.setRewrite(dropOn(id.CreateSubscriptionResponse_Encoding_DefaultBinary, drops, &dropped))

	cfg := Config{
		Name: "cnc", Endpoint: p.url, PublishingInterval: 100 * time.Millisecond, ConnectTimeout: 5 * time.Second,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		Items: []Item{{Device: "m1", Measurement: "cnc", Tags: testTags, Field: "speed", NodeID: "nsu=urn:ganlink:testsrv:machines;s=M1.Spindle.ActSpeed"}},
	}
	rec := &adaptertest.Recorder{}
	start := time.Now()
	src, _ := runSource(t, cfg, rec, nil)
	testutil.WaitFor(t, 60*time.Second, "a value after the drops", func() bool {
		p, ok := rec.LastField("m1", "speed")
		return ok && p.Fields[0].Value == 1200.5
	})
	t.Logf("%d drops, value after %s, %d sessions closed", dropped.Load(), time.Since(start).Round(time.Millisecond), src.releasedSessions.Load())
	if dropped.Load() < drops+1 {
		t.Fatalf("saw %d CreateSubscription responses, want %d dropped and one passed", dropped.Load(), drops)
	}
	errs := rec.DownErrors()
	if len(errs) != drops {
		t.Errorf("%d failed attempts, want %d: %v", len(errs), drops, errs)
	}
	for _, err := range errs {
		if strings.Contains(err.Error(), "BadTooManySessions") {
			t.Errorf("attempt refused with %v", err)
		}
	}
	if n := src.releasedSessions.Load(); n != drops {
		t.Errorf("closed %d orphaned sessions, want %d", n, drops)
	}
	// The gateway's session and the one reading the count.
	if n := sessionCount(t, srv.URL); n != 2 {
		t.Errorf("server holds %d sessions, want 2", n)
	}
}
