package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/ganlink/ganlink/adapters/opcua"
	"github.com/ganlink/ganlink/gateway/app"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/internal/devsim"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// serveDevsim serves a simulated workshop of two machines with fixed values over OPC
// UA until the test ends and returns its endpoint.
func serveDevsim(t *testing.T) string {
	t.Helper()
	sim, err := devsim.New(devsim.Config{Machines: 2, Seed: 3, Start: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testsrv.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- sim.ServeOPCUA(ctx, addr) }()
	t.Cleanup(func() { cancel(); <-served })
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	if err := sim.WaitOPCUA(wctx, addr); err != nil {
		t.Fatal(err)
	}
	return "opc.tcp://" + addr
}

// TestBrowseTree: `gateway browse` prints devsim's address space as an aligned tree, to
// a depth, from a start node, narrowed by a name pattern.
func TestBrowseTree(t *testing.T) {
	ep := serveDevsim(t)
	const machines = "nsu=urn:ganlink:devsim;s=Machines"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"from Machines", []string{"browse", ep, "-security-policy", "None", "-start", machines, "-depth", "2"},
			`BROWSE NAME                    CLASS     DATA TYPE  ACCESS  VALUE    NODE ID
Machines                       Object                                nsu=urn:ganlink:devsim;s=Machines
├─ M1                          Object                                nsu=urn:ganlink:devsim;s=M1
│  ├─ MachineryItemState       Variable  UInt32     r       2        nsu=urn:ganlink:devsim;s=M1.MachineryItemState
│  ├─ MachineryOperationMode   Variable  UInt32     r       3        nsu=urn:ganlink:devsim;s=M1.MachineryOperationMode
│  ├─ ChannelState             Variable  Int32      r       1        nsu=urn:ganlink:devsim;s=M1.ChannelState
│  ├─ PartsProducedInLifetime  Variable  UInt32     r       0        nsu=urn:ganlink:devsim;s=M1.PartsProducedInLifetime
│  ├─ SpindleSpeed             Variable  Double     r       0        nsu=urn:ganlink:devsim;s=M1.SpindleSpeed
│  ├─ FeedOverride             Variable  Double     r       100      nsu=urn:ganlink:devsim;s=M1.FeedOverride
│  ├─ ActiveProgram            Variable  String     r       "O1013"  nsu=urn:ganlink:devsim;s=M1.ActiveProgram
│  └─ Alarm                    Variable  Boolean    r       true     nsu=urn:ganlink:devsim;s=M1.Alarm
└─ M2                          Object                                nsu=urn:ganlink:devsim;s=M2
   ├─ MachineryItemState       Variable  UInt32     r       3        nsu=urn:ganlink:devsim;s=M2.MachineryItemState
   ├─ MachineryOperationMode   Variable  UInt32     r       3        nsu=urn:ganlink:devsim;s=M2.MachineryOperationMode
   ├─ ChannelState             Variable  Int32      r       0        nsu=urn:ganlink:devsim;s=M2.ChannelState
   ├─ PartsProducedInLifetime  Variable  UInt32     r       0        nsu=urn:ganlink:devsim;s=M2.PartsProducedInLifetime
   ├─ SpindleSpeed             Variable  Double     r       1561.8   nsu=urn:ganlink:devsim;s=M2.SpindleSpeed
   ├─ FeedOverride             Variable  Double     r       80       nsu=urn:ganlink:devsim;s=M2.FeedOverride
   ├─ ActiveProgram            Variable  String     r       "O1021"  nsu=urn:ganlink:devsim;s=M2.ActiveProgram
   └─ Alarm                    Variable  Boolean    r       false    nsu=urn:ganlink:devsim;s=M2.Alarm
`},
		{"objects, one level", []string{"browse", "-depth", "1", "-security-policy", "None", ep},
			`BROWSE NAME   CLASS   DATA TYPE  ACCESS  VALUE  NODE ID
Objects       Object                            i=85
├─ Locations  Object                            i=31915
├─ Aliases    Object                            i=23470
└─ Machines   Object                            nsu=urn:ganlink:devsim;s=Machines
`},
		{"match", []string{"browse", ep, "-security-policy", "None", "-match", "Spindle*"},
			`BROWSE NAME            CLASS     DATA TYPE  ACCESS  VALUE   NODE ID
Objects                Object                               i=85
└─ Machines            Object                               nsu=urn:ganlink:devsim;s=Machines
   ├─ M1               Object                               nsu=urn:ganlink:devsim;s=M1
   │  └─ SpindleSpeed  Variable  Double     r       0       nsu=urn:ganlink:devsim;s=M1.SpindleSpeed
   └─ M2               Object                               nsu=urn:ganlink:devsim;s=M2
      └─ SpindleSpeed  Variable  Double     r       1561.8  nsu=urn:ganlink:devsim;s=M2.SpindleSpeed
`},
		{"match nothing", []string{"browse", ep, "-security-policy", "None", "-start", machines, "-match", "Nothing*"},
			"BROWSE NAME  CLASS  DATA TYPE  ACCESS  VALUE  NODE ID\n(no node matches \"Nothing*\")\n"},
		{"truncated", []string{"browse", ep, "-security-policy", "None", "-start", machines, "-max-nodes", "3"},
			`BROWSE NAME  CLASS   DATA TYPE  ACCESS  VALUE  NODE ID
Machines     Object                            nsu=urn:ganlink:devsim;s=Machines
├─ M1        Object                            nsu=urn:ganlink:devsim;s=M1
└─ M2        Object                            nsu=urn:ganlink:devsim;s=M2
(stopped after 3 nodes: narrow the browse with -start, -depth or -match)
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tc.args, &out, &errb); code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
			}
			if got := out.String(); got != tc.want {
				t.Errorf("output:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// TestBrowseEmitConfig: -emit-config prints devsim's variables as device YAML that
// validates once it is added to a configuration; the variables whose OPC browse names
// have a KPI role (MachineryItemState, MachineryOperationMode, ChannelState,
// PartsProducedInLifetime, SpindleSpeed) or whose names are one (Alarm) are named after
// their role and carry it.
func TestBrowseEmitConfig(t *testing.T) {
	ep := serveDevsim(t)
	var out, errb bytes.Buffer
	if code := run([]string{"browse", ep, "-security-policy", "None", "-start", "nsu=urn:ganlink:devsim;s=Machines", "-depth", "2", "-emit-config", "-source", "cnc"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
	}
	device := func(m string) string {
		sig := func(field, name string) string {
			return "      " + field + ":\n        node: \"nsu=urn:ganlink:devsim;s=" + m + "." + name + "\"\n"
		}
		role := func(field, name string) string {
			s := sig(field, name) + "        role: " + field + "\n"
			if field == "parts_total" {
				s += "        counter: true\n"
			}
			return s
		}
		return `  - id: ` + strings.ToLower(m) + `
    name: "` + m + `"
    kind: machine
    source: cnc
    signals:
` + role("machinery_item_state", "MachineryItemState") + role("operation_mode", "MachineryOperationMode") +
			role("channel_state", "ChannelState") + role("parts_total", "PartsProducedInLifetime") +
			role("spindle_speed_rpm", "SpindleSpeed") + sig("feed_override", "FeedOverride") +
			"      # active_program: String value: add a map of texts to codes to use it\n" +
			"      #   node: \"nsu=urn:ganlink:devsim;s=" + m + ".ActiveProgram\"\n" +
			role("alarm", "Alarm")
	}
	want := `# Devices from ` + ep + `, generated by gateway browse. The OPC UA source must be
# configured under sources.opcua:
#   - name: cnc
#     endpoint: "` + ep + `"
#     security_policy: None
#     security_mode: None
devices:
` + device("M1") + device("M2")
	if got := out.String(); got != want {
		t.Fatalf("emitted:\n%s\nwant:\n%s", got, want)
	}

	yml := `workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
sources:
  opcua:
    - {name: cnc, endpoint: "` + ep + `", security_policy: None}
` + out.String()
	cfg, err := config.Load([]byte(yml), func(string) (string, bool) { return "", false }, app.Kinds())
	if err != nil {
		t.Fatalf("emitted configuration does not load: %v\n%s", err, yml)
	}
	counter := cfg.Devices[1].Signals["parts_total"].Counter
	if len(cfg.Devices) != 2 || len(cfg.Devices[1].Signals) != 7 ||
		cfg.Devices[1].Signals["spindle_speed_rpm"].Binding.(*opcua.SignalSpec).Node != "nsu=urn:ganlink:devsim;s=M2.SpindleSpeed" ||
		cfg.Devices[1].Signals["spindle_speed_rpm"].Role != "spindle_speed_rpm" || counter == nil || !*counter {
		t.Fatalf("loaded devices %+v", cfg.Devices)
	}
	path := filepath.Join(t.TempDir(), "ws.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"validate", path}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), path+": ok\nKPI plan:\n") {
		t.Fatalf("validate: exit %d, %q, stderr %s", code, out.String(), errb.String())
	}
}

// TestBrowseErrors: usage problems exit 2, connection and server problems exit 1, with
// the cause on stderr.
func TestBrowseErrors(t *testing.T) {
	ep := serveDevsim(t)
	closed := fmt.Sprintf("opc.tcp://127.0.0.1:%d", testsrv.FreePort(t))
	pw := filepath.Join(t.TempDir(), "pw")
	pkiDir := filepath.Join(t.TempDir(), "pki")
	tests := []struct {
		name string
		args []string
		code int
		err  string // first line of stderr
	}{
		{"no endpoint", []string{"browse", "-depth", "1"}, 2, "usage: gateway browse ENDPOINT [flags]"},
		{"extra argument", []string{"browse", ep, "-security-policy", "None", "-depth", "1", "x"}, 2, `gateway browse: unexpected argument "x"`},
		{"negative depth", []string{"browse", ep, "-security-policy", "None", "-depth", "-1"}, 2, "gateway browse: invalid -depth -1: want 0 or more"},
		{"password without user", []string{"browse", ep, "-security-policy", "None", "-password-file", pw}, 2, "gateway browse: -password-file needs -username"},
		{"missing password file", []string{"browse", ep, "-security-policy", "None", "-username", "u", "-password-file", pw},
			2, "gateway browse: read password file: open " + pw + ": no such file or directory"},
		{"unknown start", []string{"browse", ep, "-security-policy", "None", "-start", "nsu=urn:ganlink:devsim;s=Nope"}, 1,
			`gateway browse: read start node "nsu=urn:ganlink:devsim;s=Nope" on "` + ep + `": The node id refers to a node that does not exist in the server address space. StatusBadNodeIDUnknown (0x80340000)`},
		{"bad start", []string{"browse", ep, "-security-policy", "None", "-start", "ns=1;x=2"}, 1, `gateway browse: browse "` + ep + `": start: invalid node id "ns=1;x=2"`},
		{"policy", []string{"browse", ep, "-security-policy", "Basic512", "-pki", pkiDir}, 1,
			`gateway browse: validate config of opcua source "browse": security_policy: unsupported security policy "Basic512": want auto, None, Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss`},
		{"no secure endpoint", []string{"browse", ep, "-pki", pkiDir}, 1,
			`gateway browse: select endpoint of "` + ep + `": no endpoint fits security_policy "auto", security_mode "auto" and anonymous login; the server offers None/None (anonymous); the server offers no security for this login: enable it on the server, or set security_policy: None to connect without (docs/security.md)`},
		{"no server", []string{"browse", closed, "-security-policy", "None", "-timeout", "1s"}, 1, `gateway browse: get endpoints of "` + closed + `": `},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tc.args, &out, &errb)
			first, _, _ := strings.Cut(withoutNotices(errb.String()), "\n")
			if code != tc.code || !strings.HasPrefix(first, tc.err) || (tc.name != "no server" && first != tc.err) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", code, errb.String(), tc.code, tc.err)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q, want nothing", out.String())
			}
		})
	}
}
