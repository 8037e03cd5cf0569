package opcua

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/internal/testsrv"
)

func TestSnake(t *testing.T) {
	tests := []struct{ in, field, id string }{
		{"PartsProducedInLifetime", "parts_produced_in_lifetime", "parts_produced_in_lifetime"},
		{"MachineryItemState", "machinery_item_state", "machinery_item_state"},
		{"EURange", "eu_range", "eu_range"},
		{"CPU2Load", "cpu2_load", "cpu2_load"},
		{"M1", "m1", "m1"},
		{"Spindle 1.Speed", "spindle_1_speed", "spindle_1_speed"},
		{"2ndAxis", "v_2nd_axis", "2nd_axis"},
		{"主轴", "signal", "device"},
		{"SignalQuality", "signal_quality_value", "signal_quality"},
		{"__A__", "a", "a"},
	}
	for _, tt := range tests {
		if got := snakeField(tt.in); got != tt.field {
			t.Errorf("snakeField(%q) = %q, want %q", tt.in, got, tt.field)
		}
		if got := snakeID(tt.in); got != tt.id {
			t.Errorf("snakeID(%q) = %q, want %q", tt.in, got, tt.id)
		}
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		v      any
		status ua.StatusCode
		want   string
	}{
		{1.5, ua.StatusOK, "1.5"},
		{float32(0.1), ua.StatusOK, "0.1"},
		{uint64(1) << 40, ua.StatusOK, "1099511627776"},
		{int32(-3), ua.StatusOK, "-3"},
		{true, ua.StatusOK, "true"},
		{"O1013", ua.StatusOK, `"O1013"`},
		{strings.Repeat("x", 45), ua.StatusOK, `"` + strings.Repeat("x", 40) + `"…`},
		{ua.NewLocalizedText("Executing"), ua.StatusOK, `"Executing"`},
		{&ua.QualifiedName{NamespaceIndex: 2, Name: "A"}, ua.StatusOK, "2:A"},
		{time.Date(2026, 3, 2, 9, 0, 0, 5e8, time.UTC), ua.StatusOK, "2026-03-02T09:00:00.5Z"},
		{[]float64{1, 2}, ua.StatusOK, "[2 values]"},
		{[]byte{1, 2, 3}, ua.StatusOK, "(3 bytes)"},
		{ua.NewExtensionObject(nil), ua.StatusOK, "(structure)"},
		{nil, ua.StatusOK, "null"},
		{nil, ua.StatusBadUserAccessDenied, "BadUserAccessDenied"},
		{nil, ua.StatusBadNotReadable | 0x0400, "BadNotReadable"},
	}
	for _, tt := range tests {
		if got := formatValue(tt.v, tt.status); got != tt.want {
			t.Errorf("formatValue(%#v, %v) = %q, want %q", tt.v, tt.status, got, tt.want)
		}
	}
	for a, want := range map[byte]string{0: "-", 1: "r", 3: "rw", 5: "rh", 7: "rwh", 2: "w"} {
		if got := accessString(a); got != want {
			t.Errorf("accessString(%d) = %q, want %q", a, got, want)
		}
	}
}

// The tree of a MachineTool-shaped server from its Machines folder, narrowed to M2 by
// -match; the emitted YAML for M2 names its signals by browse paths relative to the
// start node, each with its role: the state machines' CurrentState texts (M2 has no
// Number) with a map to the StateNumbers, OPC 40501 MachineOperationMode left without a
// role.
func TestBrowseMachineTool(t *testing.T) {
	t.Parallel()
	srv := testsrv.StartMachineTool(t, testsrv.MachineToolOptions{Parts: 7})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const machines = "nsu=http://opcfoundation.org/UA/Machinery/;i=1001"
	res, err := Browse(ctx, BrowseOptions{Endpoint: srv.URL, Start: machines, Depth: 5, Match: "M2", Machines: true})
	if err != nil {
		t.Fatal(err)
	}
	var tree strings.Builder
	if err := res.WriteTree(&tree); err != nil {
		t.Fatal(err)
	}
	wantTree := `BROWSE NAME                             CLASS     DATA TYPE             ACCESS  VALUE           NODE ID
Machines                                Object                                                  nsu=http://opcfoundation.org/UA/Machinery/;i=1001
└─ M2                                   Object                                                  nsu=urn:ganlink:testsrv:machines;s=M2
   ├─ Identification                    Object                                                  nsu=http://opcfoundation.org/UA/DI/;s=M2.Identification
   │  └─ Manufacturer                   Variable  LocalizedText         rw      "Ganlink"       nsu=http://opcfoundation.org/UA/DI/;s=M2.Manufacturer
   ├─ MachineryBuildingBlocks           Object                                                  nsu=http://opcfoundation.org/UA/Machinery/;s=M2.MachineryBuildingBlocks
   │  ├─ MachineryItemState             Object                                                  nsu=http://opcfoundation.org/UA/Machinery/;s=M2.MachineryItemState
   │  │  └─ CurrentState                Variable  LocalizedText         rw      "NotExecuting"  nsu=urn:ganlink:testsrv:machinetool;s=M2.CurrentState
   │  └─ MachineryOperationMode         Object                                                  nsu=http://opcfoundation.org/UA/Machinery/;s=M2.MachineryOperationMode
   │     └─ CurrentState                Variable  LocalizedText         rw      "Setup"         nsu=urn:ganlink:testsrv:machinetool;s=M2.MachineryOperationMode.CurrentState
   └─ Monitoring                        Object                                                  nsu=http://opcfoundation.org/UA/MachineTool/;s=M2.Monitoring
      ├─ MachineTool                    Object                                                  nsu=http://opcfoundation.org/UA/MachineTool/;s=M2.MachineTool
      │  ├─ OperationMode               Variable  MachineOperationMode  rw      2               nsu=http://opcfoundation.org/UA/MachineTool/;s=M2.OperationMode
      │  └─ OperationCounters           Object                                                  nsu=http://opcfoundation.org/UA/DI/;s=M2.OperationCounters
      │     └─ PartsProducedInLifetime  Variable  UInt64                rw      1007            nsu=http://opcfoundation.org/UA/MachineTool/;s=M2.PartsProducedInLifetime
      ├─ Channel1                       Object                                                  nsu=http://opcfoundation.org/UA/MachineTool/;s=M2.Channel1
      │  └─ ChannelState                Variable  ChannelState          rw      1               nsu=http://opcfoundation.org/UA/MachineTool/;s=M2.Channel1.ChannelState
      └─ Spindle                        Object                                                  nsu=http://opcfoundation.org/UA/MachineTool/;s=M2.Spindle
         ├─ IsRotating                  Variable  Boolean               rw      false           nsu=http://opcfoundation.org/UA/MachineTool/;s=M2.Spindle.IsRotating
         ├─ Override                    Variable  Double                rw      100             nsu=http://opcfoundation.org/UA/MachineTool/;s=M2.Spindle.Override
         └─ ActSpeed                    Variable  Double                rw      0               nsu=urn:ganlink:testsrv:machines;s=M2.Spindle.ActSpeed
`
	if got := tree.String(); got != wantTree {
		t.Errorf("tree:\n%s\nwant:\n%s", got, wantTree)
	}

	var yml strings.Builder
	if err := res.WriteConfig(&yml, "mt"); err != nil {
		t.Fatal(err)
	}
	const (
		mach = "http://opcfoundation.org/UA/Machinery/"
		mt   = "http://opcfoundation.org/UA/MachineTool/"
		di   = "http://opcfoundation.org/UA/DI/"
	)
	wantYAML := `# Devices from ` + srv.URL + `, generated by gateway browse. The OPC UA source must be
# configured under sources.opcua:
#   - name: mt
#     endpoint: "` + srv.URL + `"
#     security_policy: None
#     security_mode: None
devices:
  - id: m2
    name: "M2"
    kind: cnc
    source: mt
    # OPC 40501 MachineTool "M2" (nsu=urn:ganlink:testsrv:machines;s=M2)
    signals:
      machinery_item_state: # CurrentState text to OPC 40001-1 StateNumber; a server that localises state names needs these keys changed
        browse_path: "nsu=urn:ganlink:testsrv:machines;M2/nsu=` + mach + `;MachineryBuildingBlocks/MachineryItemState/0:CurrentState"
        browse_start: "` + machines + `"
        role: machinery_item_state
        map: {NotAvailable: 0, OutOfService: 1, NotExecuting: 2, Executing: 3}
      operation_mode: # CurrentState text to OPC 40001-1 StateNumber; a server that localises state names needs these keys changed
        browse_path: "nsu=urn:ganlink:testsrv:machines;M2/nsu=` + mach + `;MachineryBuildingBlocks/MachineryOperationMode/0:CurrentState"
        browse_start: "` + machines + `"
        role: operation_mode
        map: {None: 0, Maintenance: 1, Setup: 2, Processing: 3}
      channel_state:
        browse_path: "nsu=urn:ganlink:testsrv:machines;M2/nsu=` + mt + `;Monitoring/Channel1/ChannelState"
        browse_start: "` + machines + `"
        role: channel_state
      spindle_speed_rpm:
        browse_path: "nsu=urn:ganlink:testsrv:machines;M2/nsu=` + mt + `;Monitoring/Spindle/nsu=urn:ganlink:testsrv:machines;ActSpeed"
        browse_start: "` + machines + `"
        role: spindle_speed_rpm
      parts_total:
        browse_path: "nsu=urn:ganlink:testsrv:machines;M2/nsu=` + mt + `;Monitoring/MachineTool/nsu=` + di + `;OperationCounters/nsu=` + mt + `;PartsProducedInLifetime"
        browse_start: "` + machines + `"
        role: parts_total
        counter: true
      # Monitoring/MachineTool/OperationMode is OPC 40501 MachineOperationMode (Manual 0, Automatic 1, Setup 2, ...), not MachineryOperationMode: no role
      # alarm: OPC 40501 reports alarms as events (Notification/Messages), which the gateway does not read; map an alarm flag of the controller by hand
`
	if got := yml.String(); got != wantYAML {
		t.Errorf("yaml:\n%s\nwant:\n%s", got, wantYAML)
	}

	// Errors name what failed.
	if _, err := Browse(ctx, BrowseOptions{Endpoint: srv.URL, Start: "nsu=urn:ganlink:nowhere;i=1"}); err == nil ||
		err.Error() != `browse "`+srv.URL+`": start node "nsu=urn:ganlink:nowhere;i=1": namespace "urn:ganlink:nowhere" is not in the server's namespace array` {
		t.Errorf("unknown start namespace: %v", err)
	}
	if _, err := Browse(ctx, BrowseOptions{Endpoint: srv.URL, Match: "["}); err == nil ||
		err.Error() != `browse "`+srv.URL+`": match pattern "[": syntax error in pattern` {
		t.Errorf("bad pattern: %v", err)
	}
}

func TestShownText(t *testing.T) {
	for in, want := range map[string]string{
		"M1":                          "M1",
		"主轴 1":                        "主轴 1",
		"a\nb":                        `a\nb`,
		"\x00\x1b[31mred\x1b[0m":      `\x00\x1b[31mred\x1b[0m`,
		"tab\there":                   `tab\there`,
		"bidi\u202eevil":              `bidi\u202eevil`,
		"bad\xffutf8":                 `bad\xffutf8`,
		strings.Repeat("x", 201):      strings.Repeat("x", 200) + "…",
		strings.Repeat("\n", 300)[:3]: `\n\n\n`,
	} {
		if got := shownText(in); got != want {
			t.Errorf("shownText(%q) = %q, want %q", in, got, want)
		}
	}
}

// Namespace URIs with ";" and "%" survive the trip through a node id and a browse path:
// formatted escaped, parsed back to the same URI, never to another namespace.
func TestNamespaceURIEscaping(t *testing.T) {
	for _, uri := range []string{"urn:a", "urn:a;s=M1", "urn:x%3By", "urn:100%;;", "%25%3B"} {
		id := "nsu=" + escapeNSU(uri) + ";s=Name;x"
		n, err := parseNodeID(id)
		if err != nil || n.nsu != uri || n.str != "Name;x" {
			t.Errorf("parseNodeID(%q) = nsu %q str %q, %v; want nsu %q str %q", id, n.nsu, n.str, err, uri, "Name;x")
		}
		p := formatPath("", []string{"A", "B"}, []string{uri, uri})
		elems, err := parseBrowsePath(p)
		if err != nil || len(elems) != 2 || elems[0].nsu != uri || elems[1].name != "B" {
			t.Errorf("parseBrowsePath(%q) = %+v, %v; want A and B in %q", p, elems, err, uri)
		}
	}
	if got := escapeNSU("urn:a;s=M1"); got != "urn:a%3Bs=M1" {
		t.Errorf("escapeNSU = %q", got)
	}
}

// WriteConfig outside a recognised machine: a variable whose field name is a role, or
// whose browse name has one in the companion specifications, is named after its role and
// carries it, counter roles with counter: true; a second variable of a role keeps its
// own name, without the role, and says why.
func TestWriteConfigRoles(t *testing.T) {
	root := &BrowseNode{BrowseName: "Objects", NodeID: "i=85", id: ua.NewNumericNodeID(0, 85), class: ua.NodeClassObject}
	press := &BrowseNode{BrowseName: "Press", NodeID: "nsu=urn:p;s=Press", id: ua.NewStringNodeID(2, "Press"), class: ua.NodeClassObject, parent: root}
	root.Children = []*BrowseNode{press}
	for _, v := range []struct {
		name  string
		value any
	}{
		{"PartsProducedInLifetime", uint64(7)}, {"Alarm", false}, {"SpindleSpeed", 12.5}, {"parts_total", uint32(3)},
		{"MachineryItemState", uint32(3)}, {"Temperature", 20.5},
	} {
		press.Children = append(press.Children, &BrowseNode{BrowseName: v.name, NodeID: "nsu=urn:p;s=Press." + v.name,
			id: ua.NewStringNodeID(2, "Press."+v.name), class: ua.NodeClassVariable, value: v.value, parent: press})
	}
	selectNodes(root, "", false)
	r := &BrowseResult{Endpoint: "opc.tcp://press:4840", Root: root, Start: "i=85", defaultStart: true}
	var out strings.Builder
	if err := r.WriteConfig(&out, "plc"); err != nil {
		t.Fatal(err)
	}
	want := `# Devices from opc.tcp://press:4840, generated by gateway browse. The OPC UA source must be
# configured under sources.opcua:
#   - name: plc
#     endpoint: "opc.tcp://press:4840"
devices:
  - id: press
    name: "Press"
    kind: machine
    source: plc
    signals:
      parts_total:
        node: "nsu=urn:p;s=Press.PartsProducedInLifetime"
        role: parts_total
        counter: true
      alarm:
        node: "nsu=urn:p;s=Press.Alarm"
        role: alarm
      spindle_speed_rpm:
        node: "nsu=urn:p;s=Press.SpindleSpeed"
        role: spindle_speed_rpm
      parts_total_2: # no role: parts_total is parts_total already
        node: "nsu=urn:p;s=Press.parts_total"
      machinery_item_state:
        node: "nsu=urn:p;s=Press.MachineryItemState"
        role: machinery_item_state
      temperature:
        node: "nsu=urn:p;s=Press.Temperature"
`
	if got := out.String(); got != want {
		t.Errorf("yaml:\n%s\nwant:\n%s", got, want)
	}
}
