package devsim

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// serveOPCUA runs sim.ServeOPCUA on a free port until the returned stop is called
// (or the test ends) and waits until it serves.
func serveOPCUA(t *testing.T, sim *Sim, addr string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- sim.ServeOPCUA(ctx, addr) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer wcancel()
	if err := sim.WaitOPCUA(wctx, addr); err != nil {
		cancel()
		t.Fatalf("wait for opc ua: %v (serve: %v)", err, <-errc)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("ServeOPCUA returned %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("ServeOPCUA did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

func connectOPCUA(t *testing.T, ctx context.Context, addr string) *opcua.Client {
	t.Helper()
	c, err := opcua.NewClient("opc.tcp://"+addr, opcua.SecurityMode(ua.MessageSecurityModeNone), opcua.AutoReconnect(false))
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func readValues(t *testing.T, ctx context.Context, c *opcua.Client, ids []string) []*ua.DataValue {
	t.Helper()
	req := &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnBoth}
	for _, s := range ids {
		req.NodesToRead = append(req.NodesToRead, &ua.ReadValueID{NodeID: ua.MustParseNodeID(s), AttributeID: ua.AttributeIDValue})
	}
	resp, err := c.Read(ctx, req)
	if err != nil {
		t.Fatalf("read %v: %v", ids, err)
	}
	return resp.Results
}

func browseChildren(t *testing.T, ctx context.Context, c *opcua.Client, nid *ua.NodeID, ref uint32) []string {
	t.Helper()
	refs, err := c.Node(nid).References(ctx, ref, ua.BrowseDirectionForward, ua.NodeClassAll, true)
	if err != nil {
		t.Fatalf("browse %s: %v", nid, err)
	}
	var names []string
	for _, r := range refs {
		names = append(names, r.BrowseName.Name)
	}
	return names
}

func TestServeOPCUAReadBrowseSubscribeRestart(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, DefaultLocation())
	sim, err := New(Config{Machines: 2, Seed: 7, Start: start, TimeScale: 0.01,
		Shifts: []Shift{{0, 24 * time.Hour}}, RecordLimit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testsrv.FreePort(t))
	stop := serveOPCUA(t, sim, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := connectOPCUA(t, ctx, addr)

	nsArr, err := c.NamespaceArray(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nsArr) < 2 || nsArr[NamespaceIndex] != Namespace {
		t.Fatalf("namespace array %q: want %q at index %d", nsArr, Namespace, NamespaceIndex)
	}

	// Every node reads as the simulator's value with the start as timestamps.
	var ids []string
	for m := 1; m <= 2; m++ {
		for _, sig := range MachineSignals {
			ids = append(ids, NodeID(m, sig))
		}
	}
	res := readValues(t, ctx, c, ids)
	for i, dv := range res {
		m, sig := i/len(MachineSignals)+1, MachineSignals[i%len(MachineSignals)]
		want, _, _ := sim.Value(m, sig)
		if dv.Status != ua.StatusOK || dv.Value == nil || dv.Value.Value() != want {
			t.Errorf("read %s = %v (status %v), want %T %v", ids[i], dv.Value, dv.Status, want, want)
		}
		if !dv.SourceTimestamp.Equal(start) || !dv.ServerTimestamp.Equal(start) {
			t.Errorf("read %s timestamps source %v server %v, want %v", ids[i], dv.SourceTimestamp, dv.ServerTimestamp, start)
		}
	}

	// Objects/Machines/M1/<signals>.
	if got := browseChildren(t, ctx, c, ua.NewNumericNodeID(0, id.ObjectsFolder), id.Organizes); !slices.Contains(got, "Machines") {
		t.Errorf("Objects organizes %q, want Machines among them", got)
	}
	machinesID := ua.NewStringNodeID(NamespaceIndex, "Machines")
	if got := browseChildren(t, ctx, c, machinesID, id.Organizes); !slices.Equal(got, []string{"M1", "M2"}) {
		t.Errorf("Machines organizes %q, want [M1 M2]", got)
	}
	wantVars := []string{"MachineryItemState", "MachineryOperationMode", "ChannelState", "PartsProducedInLifetime",
		"SpindleSpeed", "FeedOverride", "ActiveProgram", "Alarm"}
	if got := browseChildren(t, ctx, c, ua.NewStringNodeID(NamespaceIndex, "M1"), id.HasComponent); !slices.Equal(got, wantVars) {
		t.Errorf("M1 components %q, want %q", got, wantVars)
	}

	// Subscribe to every node of M1 and M2 and step: each step's changes arrive with
	// the step time as source timestamp, and the latest value of each node matches.
	notes := make(chan *opcua.PublishNotificationData, 1000)
	sub, err := c.Subscribe(ctx, &opcua.SubscriptionParameters{Interval: 20 * time.Millisecond}, notes)
	if err != nil {
		t.Fatal(err)
	}
	var reqs []*ua.MonitoredItemCreateRequest
	for i, s := range ids {
		reqs = append(reqs, opcua.NewMonitoredItemCreateRequestWithDefaults(ua.MustParseNodeID(s), ua.AttributeIDValue, uint32(i)))
	}
	mres, err := sub.Monitor(ctx, ua.TimestampsToReturnBoth, reqs...)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range mres.Results {
		if r.StatusCode != ua.StatusOK {
			t.Fatalf("monitor %s: %v", ids[i], r.StatusCode)
		}
	}
	latest := make([]*ua.DataValue, len(ids))
	seen := map[string]map[any]bool{}
	receive := func(until func() bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for !until() {
			select {
			case n := <-notes:
				if n.Error != nil {
					t.Fatalf("notification: %v", n.Error)
				}
				dcn, ok := n.Value.(*ua.DataChangeNotification)
				if !ok {
					continue
				}
				for _, item := range dcn.MonitoredItems {
					h := int(item.ClientHandle)
					latest[h] = item.Value
					if seen[ids[h]] == nil {
						seen[ids[h]] = map[any]bool{}
					}
					seen[ids[h]][item.Value.Value.Value()] = true
				}
			case <-deadline:
				t.Fatalf("notifications did not catch up; latest %v", latest)
			}
		}
	}
	upToDate := func() bool {
		for i, s := range ids {
			m, sig := i/len(MachineSignals)+1, MachineSignals[i%len(MachineSignals)]
			v, ts, _ := sim.Value(m, sig)
			if latest[i] == nil || latest[i].Value.Value() != v || !latest[i].SourceTimestamp.Equal(ts) {
				_ = s
				return false
			}
		}
		return true
	}
	receive(upToDate) // initial values
	for step := 1; step <= 30; step++ {
		sim.Step(start.Add(time.Duration(step) * time.Second))
		receive(upToDate)
	}
	for _, node := range []string{NodeID(1, SigSpindleSpeed), NodeID(1, SigPartsTotal), NodeID(2, SigPartsTotal)} {
		if len(seen[node]) < 3 {
			t.Errorf("%s took only the values %v in 30 steps", node, seen[node])
		}
	}
	sub.Cancel(ctx)

	// Stop and serve again on the same port: a new session sees the current values.
	began := time.Now()
	stop()
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("stopping the server with a session open took %v", d)
	}
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = c.Read(rctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{NodeID: ua.MustParseNodeID(NodeID(1, SigAlarm)), AttributeID: ua.AttributeIDValue}}})
	rcancel()
	if err == nil {
		t.Errorf("read through a session of the stopped server succeeded")
	}
	sim.Step(start.Add(31 * time.Second))
	serveOPCUA(t, sim, addr)
	c2 := connectOPCUA(t, ctx, addr)
	res = readValues(t, ctx, c2, []string{NodeID(2, SigPartsTotal)})
	want, ts, _ := sim.Value(2, SigPartsTotal)
	if res[0].Value == nil || res[0].Value.Value() != want || !res[0].SourceTimestamp.Equal(ts) {
		t.Errorf("after restart read %v at %v, want %v at %v", res[0].Value, res[0].SourceTimestamp, want, ts)
	}
}

// TestNotifyStalledSubscription: a subscription whose queue stays full does not block
// the notifier: after the stall timeout its notifications are dropped and counted,
// and it gets them again once it accepts one.
func TestNotifyStalledSubscription(t *testing.T) {
	sim, err := New(Config{Machines: 1, Start: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	// A bare server and namespace: only the notifier's lookups are needed.
	srv := &server.Server{}
	ns := server.NewNameSpace(Namespace)
	u := sim.newUAServer(srv, ns)
	for k, sig := range MachineSignals {
		v := sim.variableNode(NamespaceIndex, 1, sig, &sim.cells[k])
		ns.AddNode(v)
		u.nodeIDs = append(u.nodeIDs, v.ID())
		u.keys = append(u.keys, v.ID().String())
	}
	u.stallAfter = 50 * time.Millisecond
	sub := server.NewSubscription()
	node := u.keys[3]
	srv.MonitoredItemService = &server.MonitoredItemService{Nodes: map[string][]*server.MonitoredItem{
		node: {{ID: 1, Sub: sub, Req: opcua.NewMonitoredItemCreateRequestWithDefaults(u.nodeIDs[3], ua.AttributeIDValue, 9)}},
	}}
	for range cap(sub.NotifyChannel) {
		sub.NotifyChannel <- &ua.MonitoredItemNotification{}
	}
	ctx := context.Background()
	began := time.Now()
	for range 3 {
		if !u.notify(ctx, 3) {
			t.Fatal("notify returned false")
		}
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("three notifications to a stalled subscription took %v", d)
	}
	if got := sim.Stats().NotifyDropped; got != 3 {
		t.Errorf("dropped %d notifications, want 3", got)
	}
	<-sub.NotifyChannel
	u.notify(ctx, 3)
	if u.stalled[sub] {
		t.Errorf("subscription still stalled after accepting a notification")
	}
	var last *ua.MonitoredItemNotification
	for len(sub.NotifyChannel) > 0 {
		last = <-sub.NotifyChannel
	}
	if last.ClientHandle != 9 || last.Value.Value.Value() != uint32(0) {
		t.Errorf("last notification handle %d value %v, want 9 and parts 0", last.ClientHandle, last.Value.Value.Value())
	}
}
