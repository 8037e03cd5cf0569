package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	good := `workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
sources:
  opcua:
    - {name: cnc, endpoint: "opc.tcp://127.0.0.1:4840"}
devices:
  - id: m1
    kind: cnc
    source: cnc
    signals:
      machinery_item_state: {node: "ns=2;s=M1.State"}
`
	bad := `workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
sources:
  opcua:
    - {name: cnc, endpoint: "opc.tcp://127.0.0.1:4840", publishing_interval: 5x}
devices:
  - id: m1
    kind: cnc
    source: cnc
    colour: red
    signals:
      state: {node: "ns=2;x=1"}
  - id: m1
    kind: cnc
    signals:
      state: {node: "ns=2;s=M1.State"}
`
	for _, tc := range []struct {
		name, content string
		code          int
		stdout        string
		stderr        string
	}{
		{"good.yaml", good, 0, "GOOD: ok\nKPI plan:\n  m1 equipment: state ✓ (machinery_item_state) parts – (no parts_total role) " +
			"energy – (no energy_kwh_total or power_kw role) water – (no water_m3_total role)\n", ""},
		{"bad.yaml", bad, 1, "", `BAD:4: sources.opcua[0].publishing_interval: invalid duration "5x": want e.g. "500ms", "1s", "5m"
BAD:9: devices[0].colour: unknown key
BAD:11: devices[0].signals.state.node: invalid node id "ns=2;x=1"
BAD:12: devices[1].id: duplicate device id "m1" (also devices[0])
BAD:12: devices[1].source: required: the device has signals
5 error(s)
`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			code := run([]string{"validate", path}, &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, errb.String())
			}
			rep := func(s string) string {
				s = string(bytes.ReplaceAll([]byte(s), []byte("GOOD"), []byte(path)))
				return string(bytes.ReplaceAll([]byte(s), []byte("BAD"), []byte(path)))
			}
			if out.String() != rep(tc.stdout) {
				t.Errorf("stdout %q, want %q", out.String(), rep(tc.stdout))
			}
			if tc.code == 0 && errb.Len() != 0 {
				t.Errorf("stderr %q", errb.String())
			}
			if tc.code != 0 && errb.String() != rep(tc.stderr) {
				t.Errorf("stderr:\n%s\nwant:\n%s", errb.String(), rep(tc.stderr))
			}
		})
	}
}

func TestValidateExampleConfig(t *testing.T) {
	var out, errb bytes.Buffer
	path := filepath.Join("..", "..", "configs", "gateway.example.yaml")
	if code := run([]string{"validate", path}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}

func TestVersionFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-version"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	version = "v9.8.7"
	defer func() { version = "" }()
	out.Reset()
	run([]string{"-version"}, &out, &errb)
	if got := out.String(); !strings.HasPrefix(got, "ganlink gateway v9.8.7 ") || !strings.Contains(got, "go1.") {
		t.Fatalf("version output %q", got)
	}
}
