package opcua

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/ganlink/ganlink/internal/testutil"
)

func TestParseBrowsePath(t *testing.T) {
	e := func(name, nsu string, ns uint16, inherit bool) pathElement {
		return pathElement{name: name, nsu: nsu, ns: ns, inherit: inherit}
	}
	tests := []struct {
		path string
		want []pathElement
		err  string
	}{
		{path: "Objects", want: []pathElement{e("Objects", "", 0, true)}},
		{path: "Objects/Server/ServerStatus", want: []pathElement{
			e("Objects", "", 0, true), e("Server", "", 0, true), e("ServerStatus", "", 0, true)}},
		{path: "nsu=http://opcfoundation.org/UA/MachineTool/;Monitoring/MachineTool", want: []pathElement{
			e("Monitoring", "http://opcfoundation.org/UA/MachineTool/", 0, false), e("MachineTool", "", 0, true)}},
		{path: "2:OperationMode/0:CurrentState", want: []pathElement{
			e("OperationMode", "", 2, false), e("CurrentState", "", 0, false)}},
		{path: "a&/b/c&&d/2&:x/x:y/&nsu=z", want: []pathElement{
			e("a/b", "", 0, true), e("c&d", "", 0, true), e("2:x", "", 0, true), e("x:y", "", 0, true), e("nsu=z", "", 0, true)}},
		{path: "nsu=urn:a:b;Name", want: []pathElement{e("Name", "urn:a:b", 0, false)}},
		{path: "工件/计数", want: []pathElement{e("工件", "", 0, true), e("计数", "", 0, true)}},
		{path: "", err: `invalid browse path "": empty`},
		{path: "/a", err: `invalid browse path "/a": element 1: empty name`},
		{path: "a/", err: `invalid browse path "a/": element 2: empty name`},
		{path: "a//b", err: `invalid browse path "a//b": element 2: empty name`},
		{path: "a/nsu=urn:x", err: `invalid browse path "a/nsu=urn:x": element 2: missing ";" after the namespace uri`},
		{path: "nsu=;a", err: `invalid browse path "nsu=;a": element 1: empty namespace uri`},
		{path: "nsu=urn:x;", err: `invalid browse path "nsu=urn:x;": element 1: empty name`},
		{path: "a/70000:b", err: `invalid browse path "a/70000:b": element 2: namespace index "70000" is not 0..65535`},
		{path: "2:", err: `invalid browse path "2:": element 1: empty name`},
		{path: "a&", err: `invalid browse path "a&": element 1: "&" at the end escapes nothing`},
	}
	for _, tt := range tests {
		got, err := parseBrowsePath(tt.path)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("parse %q: error %v, want %q", tt.path, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parse %q = %+v, %v\nwant %+v", tt.path, got, err, tt.want)
		}
	}
}

// Plain names take the namespace of the element before them, the first one that of the
// start node; a leading Objects is dropped only with the default start.
func TestBindPath(t *testing.T) {
	tests := []struct {
		path, start string
		defStart    bool
		want        string // name@ns or name@uri per element
	}{
		{"Objects/Server", "i=85", true, "Server@0"},
		{"0:Objects/Server", "i=85", true, "Server@0"},
		{"nsu=http://opcfoundation.org/UA/;Objects/Server", "i=85", true, "Server@http://opcfoundation.org/UA/"},
		{"Objects", "i=85", true, ""},
		{"Objects/Server", "i=85", false, "Objects@0 Server@0"},
		{"2:Objects/Server", "i=85", true, "Objects@2 Server@2"},
		{"nsu=urn:m;Machines/M1/nsu=urn:t;Monitoring/MachineTool/0:CurrentState/Number", "i=85", true,
			"Machines@urn:m M1@urn:m Monitoring@urn:t MachineTool@urn:t CurrentState@0 Number@0"},
		{"Monitoring/3:Spindle/Speed", "nsu=urn:v;s=M1", false, "Monitoring@urn:v Spindle@3 Speed@3"},
		{"Monitoring", "ns=4;i=5", false, "Monitoring@4"},
	}
	for _, tt := range tests {
		elems, err := parseBrowsePath(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		start, err := parseNodeID(tt.start)
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, e := range bindPath(elems, start, tt.defStart) {
			if e.inherit {
				t.Errorf("%q: element %q still inherits", tt.path, e.name)
			}
			if e.nsu != "" {
				parts = append(parts, e.name+"@"+e.nsu)
			} else {
				parts = append(parts, fmt.Sprintf("%s@%d", e.name, e.ns))
			}
		}
		if got := strings.Join(parts, " "); got != tt.want {
			t.Errorf("bind %q from %s: %q, want %q", tt.path, tt.start, got, tt.want)
		}
	}
}

// formatPath names a namespace only where it changes and escapes names so that they
// parse back to themselves.
func TestFormatPath(t *testing.T) {
	const mach, mt, di = "http://opcfoundation.org/UA/Machinery/", "http://opcfoundation.org/UA/MachineTool/", "http://opcfoundation.org/UA/DI/"
	names := []string{"Objects", "Machines", "M1", "Monitoring", "MachineTool", "OperationCounters", "PartsProducedInLifetime", "CurrentState", "a/b&2:c", "2:x", "nsu=y"}
	uris := []string{"", mach, "urn:v", mt, mt, di, mt, nsOPCUA, "urn:v", "urn:v", "urn:v"}
	got := formatPath("", names, uris)
	want := "Objects/nsu=" + mach + ";Machines/nsu=urn:v;M1/nsu=" + mt + ";Monitoring/MachineTool/nsu=" + di +
		";OperationCounters/nsu=" + mt + ";PartsProducedInLifetime/0:CurrentState/nsu=urn:v;a&/b&&2:c/2&:x/&nsu=y"
	if got != want {
		t.Fatalf("formatPath:\n got %s\nwant %s", got, want)
	}
	elems, err := parseBrowsePath(got)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range bindPath(elems, nodeID{}, false) {
		u := uris[i]
		if u == nsOPCUA {
			u = ""
		}
		if e.name != names[i] || e.nsu != u || e.ns != 0 {
			t.Errorf("element %d parsed back as %+v, want %q in %q", i, e, names[i], u)
		}
	}
}

// Namespace URIs of the node-opcua MachineTool server.
const (
	nsuMachinery   = "http://opcfoundation.org/UA/Machinery/"
	nsuMachineTool = "http://opcfoundation.org/UA/MachineTool/"
	nsuDI          = "http://opcfoundation.org/UA/DI/"
	nsuVendor      = "urn:ganlink:testsrv:machines"
)

// Signals named by browse path on a server that implements TranslateBrowsePathsToNodeIds
// deliver values; a path that leads nowhere is reported per signal (and retried) while
// the others flow; after a restart in which every namespace index moved, the paths are
// translated again and values flow from the new nodes.
func TestBrowsePathSignals(t *testing.T) {
	t.Parallel()
	srv := testsrv.StartMachineTool(t, testsrv.MachineToolOptions{Parts: 100})
	m1 := "Objects/nsu=" + nsuMachinery + ";Machines/nsu=" + nsuVendor + ";M1"
	parts := m1 + "/nsu=" + nsuMachineTool + ";Monitoring/MachineTool/nsu=" + nsuDI + ";OperationCounters/nsu=" + nsuMachineTool + ";PartsProducedInLifetime"
	missing := "Objects/nsu=" + nsuMachinery + ";Machines/nsu=" + nsuVendor + ";M9/nsu=" + nsuMachineTool + ";Monitoring"
	cfg := Config{
		Name: "mt", Endpoint: srv.URL, PublishingInterval: 50 * time.Millisecond, ConnectTimeout: 2 * time.Second,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 300 * time.Millisecond, Timestamp: "gateway",
		Items: []Item{
			{Device: "m1", Measurement: "cnc", Tags: testTags, Field: "parts_total", BrowsePath: parts},
			{Device: "m1", Measurement: "cnc", Tags: testTags, Field: "machinery_item_state",
				BrowsePath: m1 + "/nsu=" + nsuMachinery + ";MachineryBuildingBlocks/MachineryItemState/0:CurrentState/Number"},
			{Device: "m1", Measurement: "cnc", Tags: testTags, Field: "spindle_speed_rpm",
				BrowseStart: "nsu=" + nsuVendor + ";s=M2", BrowsePath: "nsu=" + nsuMachineTool + ";Monitoring/Spindle/nsu=" + nsuVendor + ";ActSpeed"},
			{Device: "m1", Measurement: "cnc", Tags: testTags, Field: "missing", BrowsePath: missing},
			{Device: "m1", Measurement: "cnc", Tags: testTags, Field: "override", NodeID: "nsu=" + nsuMachineTool + ";s=M1.Spindle.Override"},
		},
	}
	// Five paths with at most two per call: three TranslateBrowsePathsToNodeIds calls.
	chunked := cfg
	chunked.MaxItemsPerCall = 2
	chunked.Items = append([]Item(nil), cfg.Items[:3]...)
	for _, m := range []string{"M1", "M2"} {
		chunked.Items = append(chunked.Items, Item{Device: "m1", Measurement: "cnc", Tags: testTags, Field: "override_" + m,
			BrowseStart: "nsu=" + nsuVendor + ";s=" + m, BrowsePath: "nsu=" + nsuMachineTool + ";Monitoring/Spindle/Override"})
	}
	crec := &adaptertest.Recorder{}
	csrc, cstop := runSource(t, chunked, crec, nil)
	testutil.WaitFor(t, 15*time.Second, "five values by browse path", func() bool {
		for _, it := range chunked.Items {
			if _, ok := crec.LastField("m1", it.Field); !ok {
				return false
			}
		}
		return true
	})
	cstop()
	if n, m := csrc.translateCalls.Load(), csrc.monitorCalls.Load(); n != 3 || m != 3 {
		t.Errorf("%d translate and %d monitor calls for 5 items at 2 per call, want 3 and 3", n, m)
	}
	if sig := crec.Signals(); len(sig) != 0 {
		t.Errorf("signal errors %+v", sig)
	}

	rec := &adaptertest.Recorder{}
	runSource(t, cfg, rec, func(s *Source) { s.retryEvery = 200 * time.Millisecond })

	value := func(field string) (float64, bool) {
		p, ok := rec.LastField("m1", field)
		if !ok || p.Fields[0].Quality != point.Good {
			return 0, false
		}
		return p.Fields[0].Value, true
	}
	wantValues := func(what string, want map[string]float64) {
		t.Helper()
		testutil.WaitFor(t, 15*time.Second, what, func() bool {
			for f, v := range want {
				if got, ok := value(f); !ok || got != v {
					return false
				}
			}
			return true
		})
	}
	wantValues("values by browse path", map[string]float64{"parts_total": 100, "machinery_item_state": 3, "spindle_speed_rpm": 0, "override": 100})
	wantMsg := fmt.Sprintf("resolve browse path %q from \"i=85\" on %q: %s", missing, srv.URL, ua.StatusBadNoMatch.Error())
	missingReports := func() int {
		n := 0
		for _, s := range rec.Signals() {
			if s.Signal != "missing" {
				t.Fatalf("signal error for %s/%s %s: %v", s.Device, s.Signal, s.Reason, s.Err)
			}
			if s.Device != "m1" || s.Reason != "browse_path" || s.Err.Error() != wantMsg {
				t.Fatalf("signal error %s/%s %q %q\nwant m1/missing browse_path %q", s.Device, s.Signal, s.Reason, s.Err, wantMsg)
			}
			n++
		}
		return n
	}
	testutil.WaitFor(t, 5*time.Second, "the unresolved path reported and retried", func() bool { return missingReports() >= 2 })
	if ps := rec.FieldPoints("m1", "missing"); len(ps) != 0 {
		t.Errorf("points for the unresolved path: %+v", ps)
	}

	// Restart with three more namespaces in front: every companion and vendor index
	// moves by three, so node ids built from the old indexes would name other nodes.
	srv.Stop()
	srv.StartWith(testsrv.MachineToolOptions{ExtraNamespaces: 3, Parts: 200})
	wantValues("values after the restart", map[string]float64{"parts_total": 200, "machinery_item_state": 3, "spindle_speed_rpm": 0, "override": 100})
	missingReports()
	states := fmtStates(rec.StateList())
	if !strings.Contains(states, "down connecting up") {
		t.Errorf("states %s: want a reconnect", states)
	}
}

// gopcua's server (v0.8.0) answers TranslateBrowsePathsToNodeIds with
// BadServiceUnsupported: every browse path signal is reported with that status, node id
// signals keep flowing and the session stays up.
func TestBrowsePathUnsupportedByServer(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, 0, "a")
	ts.set("a", dv(4.0, ua.StatusOK, t0, time.Time{}))
	cfg := testConfig(ts.url, ts, "a")
	path := "nsu=" + plantNS + ";a"
	cfg.Items = append(cfg.Items, Item{Device: "m1", Measurement: "cnc", Tags: testTags, Field: "by_path", BrowsePath: path})
	rec := &adaptertest.Recorder{}
	runSource(t, cfg, rec, nil)
	testutil.WaitFor(t, 5*time.Second, "the node id signal and the browse path reported", func() bool {
		return hasLast(rec, want{"a", 4, point.Good, t0}) && len(rec.Signals()) > 0
	})
	sig := rec.Signals()[0]
	wantMsg := fmt.Sprintf(`resolve browse path %q from "i=85" on %q: %s`, path, ts.url, ua.StatusBadServiceUnsupported.Error())
	if sig.Device != "m1" || sig.Signal != "by_path" || sig.Reason != "browse_path" || sig.Err.Error() != wantMsg {
		t.Fatalf("signal %s/%s %q %q\nwant m1/by_path browse_path %q", sig.Device, sig.Signal, sig.Reason, sig.Err, wantMsg)
	}
	if got := fmtStates(rec.StateList()); got != "[connecting up]" {
		t.Errorf("states %s, want [connecting up]", got)
	}
}

// A browse path whose namespace URI the server does not know is reported without asking
// the server.
func TestBrowsePathUnknownNamespace(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, 0, "a")
	cfg := testConfig(ts.url, ts, "a")
	path := "Objects/nsu=urn:ganlink:test:gone;M1/Speed"
	cfg.Items = append(cfg.Items, Item{Device: "m1", Measurement: "cnc", Tags: testTags, Field: "gone", BrowsePath: path})
	rec := &adaptertest.Recorder{}
	runSource(t, cfg, rec, nil)
	testutil.WaitFor(t, 5*time.Second, "the browse path reported", func() bool { return len(rec.Signals()) > 0 })
	sig := rec.Signals()[0]
	wantMsg := fmt.Sprintf(`resolve browse path %q from "i=85" on %q: namespace "urn:ganlink:test:gone" is not in the server's namespace array`, path, ts.url)
	if sig.Signal != "gone" || sig.Reason != "browse_path" || sig.Err.Error() != wantMsg {
		t.Fatalf("signal %s/%s %q %q\nwant m1/gone browse_path %q", sig.Device, sig.Signal, sig.Reason, sig.Err, wantMsg)
	}
}
