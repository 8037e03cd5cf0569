package config_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/ganlink/ganlink/gateway/config"
)

const editBase = `# Workshop 7 — hand-written, keep the comments
workshop:
  region: "360100"   # Nanchang
  park: p1
  enterprise: e1
  workshop: w7
sources:
  opcua:
    - name: cnc   # the line's OPC UA server
      endpoint: "opc.tcp://127.0.0.1:4840"
devices:
  # machine 1: keep this comment
  - id: m1
    class: equipment
    source: cnc
    signals:
      state: {node: "ns=2;s=m1.State"}   # inline comment
  # machine 2, below
  - id: m2
    class: equipment
    source: cnc
    signals:
      parts_total: {node: "ns=2;s=m2.Parts", counter: true}

  # machine 3 is the last one
  - id: m3
    class: equipment
    inventory_only: true
# trailing comment about the sinks
sinks:
  influx:
    - name: vm
      url: "http://127.0.0.1:8428"
`

// An upsert replaces exactly the entry's lines: every other byte stays, comments
// included; a new entry goes after the last one.
func TestUpsertKeepsEverythingElse(t *testing.T) {
	m2 := []byte(`{"id":"m2","class":"equipment","source":"cnc","signals":{"parts_total":{"node":"ns=2;s=m2.Count","counter":true},"state":{"node":"ns=2;s=m2.State","role":"machine_state"}}}`)
	got, err := config.Upsert([]byte(editBase), []string{"devices"}, "id", "m2", m2)
	if err != nil {
		t.Fatal(err)
	}
	before, _, _ := strings.Cut(editBase, "  - id: m2\n")
	_, after, _ := strings.Cut(editBase, "counter: true}\n")
	want := before + `  - id: m2
    class: equipment
    source: cnc
    signals:
      parts_total:
        node: ns=2;s=m2.Count
        counter: true
      state:
        node: ns=2;s=m2.State
        role: machine_state
` + after
	if string(got) != want {
		t.Fatalf("replace m2:\n%s\nwant\n%s", got, want)
	}
	if !bytes.HasPrefix(got, []byte(before)) || !bytes.HasSuffix(got, []byte(after)) {
		t.Fatal("bytes outside the entry changed")
	}

	// A new device, without its id in the body: after m3, before the sinks' comment.
	got, err = config.Upsert([]byte(editBase), []string{"devices"}, "id", "m4", []byte(`{"class":"meter","source":"cnc","signals":{"energy_kwh_total":{"node":"ns=2;s=E","unit":"kWh","scale":0.01}}}`))
	if err != nil {
		t.Fatal(err)
	}
	before, after, _ = strings.Cut(editBase, "# trailing comment about the sinks\n")
	want = before + `  - id: m4
    class: meter
    source: cnc
    signals:
      energy_kwh_total:
        node: ns=2;s=E
        unit: kWh
        scale: 0.01
` + "# trailing comment about the sinks\n" + after
	if string(got) != want {
		t.Fatalf("insert m4:\n%s\nwant\n%s", got, want)
	}

	// The last device replaced; a string that reads as a number stays a string.
	got, err = config.Upsert([]byte(editBase), []string{"devices"}, "id", "m3", []byte(`{"id":"m3","class":"equipment","inventory_only":true,"name":"0123"}`))
	if err != nil {
		t.Fatal(err)
	}
	before, _, _ = strings.Cut(editBase, "  - id: m3\n")
	_, after, _ = strings.Cut(editBase, "inventory_only: true\n")
	if want = before + "  - id: m3\n    class: equipment\n    inventory_only: true\n    name: \"0123\"\n" + after; string(got) != want {
		t.Fatalf("replace m3:\n%s\nwant\n%s", got, want)
	}

	// A source of a kind the file has, and of one it has not yet.
	got, err = config.Upsert([]byte(editBase), []string{"sources", "opcua"}, "name", "cnc", []byte(`{"endpoint":"opc.tcp://10.0.0.5:4840"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want = strings.Replace(editBase, "    - name: cnc   # the line's OPC UA server\n      endpoint: \"opc.tcp://127.0.0.1:4840\"\n",
		"    - name: cnc\n      endpoint: opc.tcp://10.0.0.5:4840\n", 1); string(got) != want {
		t.Fatalf("replace source:\n%s\nwant\n%s", got, want)
	}
	got, err = config.Upsert([]byte(editBase), []string{"sources", "mqtt"}, "name", "meters", []byte(`{"broker":"tcp://127.0.0.1:1883"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want = strings.Replace(editBase, "devices:\n", "  mqtt:\n    - name: meters\n      broker: tcp://127.0.0.1:1883\ndevices:\n", 1); string(got) != want {
		t.Fatalf("new source kind:\n%s\nwant\n%s", got, want)
	}

	// Without a devices key the section is added at the end.
	small := "workshop: {region: \"360100\", park: p, enterprise: e, workshop: w}\n"
	got, err = config.Upsert([]byte(small), []string{"devices"}, "id", "m1", []byte(`{"inventory_only":true}`))
	if err != nil || string(got) != small+"devices:\n  - id: m1\n    inventory_only: true\n" {
		t.Fatalf("new section: %v\n%s", err, got)
	}
	got, err = config.Upsert([]byte(small+"devices: []\n"), []string{"devices"}, "id", "m1", []byte(`{"inventory_only":true}`))
	if err != nil || string(got) != small+"devices:\n  - id: m1\n    inventory_only: true\n" {
		t.Fatalf("empty list: %v\n%s", err, got)
	}
}

func TestUpsertRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		item       string
		want       string
	}{
		{"id differs", editBase, `{"id":"m9"}`, `id: "m9", but the path names "m2"`},
		{"not an object", editBase, `[1]`, `the entry must be a JSON object`},
		{"flow sequence", "devices: [{id: m1}, {id: m2}]\n", `{}`, `devices: not a block sequence: edit the whole file`},
		{"scalar entry", "devices:\n  - m1\n", `{}`, `devices: an entry that is not a mapping (line 2): edit the whole file`},
		{"not yaml", "devices: [\n", `{}`, `the configuration file does not parse: yaml: line 1: did not find expected node content`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Upsert([]byte(tc.file), []string{"devices"}, "id", "m2", []byte(tc.item))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
}

// FuzzUpsert edits arbitrary files with arbitrary entries: it never panics, never
// answers an empty error, and an edit it makes parses (Upsert itself checks that the
// entry is there exactly once, else refuses).
func FuzzUpsert(f *testing.F) {
	f.Add([]byte(editBase), "m2", []byte(`{"class":"equipment"}`))
	f.Add([]byte(editBase), "m9", []byte(`{"signals":{"a":{"node":"ns=2;s=x"}}}`))
	f.Add([]byte("devices:\n- id: a\n  x: 1\n# c\n"), "a", []byte(`{"y":"2"}`))
	f.Add([]byte("devices: []\n"), "a", []byte(`{}`))
	f.Add([]byte("x: 1\n"), "a", []byte(`{"k":[1,2,{"z":null}]}`))
	f.Fuzz(func(t *testing.T, file []byte, id string, item []byte) {
		if len(file) > 4096 || len(item) > 1024 {
			return
		}
		out, err := config.Upsert(file, []string{"devices"}, "id", id, item)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(out, &doc); err != nil {
			t.Fatalf("edited file does not parse: %v\n%s", err, out)
		}
		if !bytes.Contains(out, []byte("id: ")) {
			t.Fatalf("entry %q not in\n%s", id, out)
		}
	})
}

// BenchmarkUpsert replaces a device in the middle of a file of 2000 devices.
func BenchmarkUpsert(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("workshop: {region: \"360100\", park: p, enterprise: e, workshop: w}\ndevices:\n")
	for i := range 2000 {
		fmt.Fprintf(&sb, "  # machine %d\n  - id: m%d\n    kind: machine\n    source: cnc\n    signals:\n      state: {node: \"ns=2;s=M%d.State\"}\n", i, i, i)
	}
	data := []byte(sb.String())
	item := []byte(`{"kind":"machine","source":"cnc","signals":{"state":{"node":"ns=2;s=X"}}}`)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := config.Upsert(data, []string{"devices"}, "id", "m1000", item); err != nil {
			b.Fatal(err)
		}
	}
}

// TestUpsertFlowEntries: hand-written files often list devices one per line in flow
// style; a device is added after them and a flow entry is replaced whole (its lines,
// including one continued on the next line), every other byte kept.
func TestUpsertFlowEntries(t *testing.T) {
	file := "devices:\n  - {id: m1, kind: machine}   # old lathe\n  - {id: m2,\n     kind: machine}\n  - {id: m3, kind: machine}\n# end\n"
	got, err := config.Upsert([]byte(file), []string{"devices"}, "id", "m4", []byte(`{"kind":"cnc"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(file, "# end\n", "  - id: m4\n    kind: cnc\n# end\n", 1); string(got) != want {
		t.Fatalf("add m4:\n%s\nwant\n%s", got, want)
	}
	got, err = config.Upsert([]byte(file), []string{"devices"}, "id", "m2", []byte(`{"kind":"cnc"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(file, "  - {id: m2,\n     kind: machine}\n", "  - id: m2\n    kind: cnc\n", 1); string(got) != want {
		t.Fatalf("replace m2:\n%s\nwant\n%s", got, want)
	}
	got, err = config.Upsert([]byte(file), []string{"devices"}, "id", "m3", []byte(`{"kind":"cnc"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(file, "  - {id: m3, kind: machine}\n", "  - id: m3\n    kind: cnc\n", 1); string(got) != want {
		t.Fatalf("replace m3:\n%s\nwant\n%s", got, want)
	}
}
