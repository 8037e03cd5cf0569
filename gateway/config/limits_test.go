package config_test

import (
	"fmt"
	"github.com/ganlink/ganlink/gateway/config"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/fsread"
)

// keyLines returns n lines "k0000000: 0" with the given indent.
func keyLines(n int, indent string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%sk%07d: %d\n", indent, i, i)
	}
	return b.String()
}

// withMap is base with its one signal given a map: the lines follow at 10 spaces.
var withMap = strings.Replace(base, `      state: {node: "ns=2;s=M1.State"}`+"\n",
	"      state:\n        node: \"ns=2;s=M1.State\"\n        map:\n", 1)

// cpuTime is the process's user + system CPU time.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestLoadBounds feeds Load the documents that used to take memory quadratic in their
// nesting depth (the path index stored a full path per node) or time quadratic in the
// size of a mapping (yaml.v3's duplicate-key check): each now ends with its exact error,
// or succeeds, within a bound on the memory allocated and the CPU time used.
func TestLoadBounds(t *testing.T) {
	deep := strings.Repeat("[", 9000) + strings.Repeat("]", 9000)
	atLimit := strings.Repeat("[", config.MaxDepth-1) + strings.Repeat("]", config.MaxDepth-1)
	tests := []struct {
		name     string
		yaml     string
		want     string // the whole error; "" for success
		wantHead string // or its first line, with the number of lines
		lines    int
		check    func(*config.Config) bool
		maxAlloc uint64 // bytes allocated in total
		maxCPU   time.Duration
	}{
		{name: "9000 nested sequences", yaml: "workshop: " + deep + "\n",
			want: "line 1: nested more than 32 levels deep", maxAlloc: 8 << 20, maxCPU: time.Second},
		{name: "9000 nested sequences and 30 aliases", yaml: "x: &a " + deep + "\nworkshop: [" + strings.Repeat("*a, ", 30) + "]\n",
			want: "line 1: nested more than 32 levels deep", maxAlloc: 8 << 20, maxCPU: time.Second},
		{name: "nested through an alias", yaml: "x: &a " + atLimit + "\nworkshop: [*a]\n",
			want: "line 1: nested more than 32 levels deep", maxAlloc: 1 << 20, maxCPU: time.Second},
		{name: "nesting at the limit", yaml: "workshop: " + atLimit + "\n",
			want: "line 1: cannot unmarshal !!seq into config.Workshop", maxAlloc: 1 << 20, maxCPU: time.Second},
		{name: "60 000 unknown keys in one mapping", yaml: base + keyLines(60000, ""),
			wantHead: "line 16: k0000000: unknown key", lines: 60000, maxAlloc: 120 << 20, maxCPU: 6 * time.Second},
		{name: "60 000 keys in a signal's map", yaml: withMap + keyLines(60000, "          "),
			check:    func(c *config.Config) bool { return len(c.Devices[0].Signals["state"].Map) == 60000 },
			maxAlloc: 120 << 20, maxCPU: 6 * time.Second},
		{name: "2 MB of keys", yaml: keyLines(2<<20/17, ""),
			wantHead: "line 1: k0000000: unknown key", lines: 2 << 20 / 17, maxAlloc: 240 << 20, maxCPU: 12 * time.Second},
		{name: "2 MB of keys in a signal's map", yaml: withMap + keyLines(2<<20/27, "          "),
			check:    func(c *config.Config) bool { return len(c.Devices[0].Signals["state"].Map) == 2<<20/27 },
			maxAlloc: 200 << 20, maxCPU: 12 * time.Second},
		{name: "larger than the limit", yaml: strings.Repeat("#", fsread.MaxConfig+1),
			want: "configuration larger than 16 MiB", maxAlloc: 1 << 20, maxCPU: time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.yaml)
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			cpu0, wall0 := cpuTime(t), time.Now()
			cfg, err := load(data, noEnv)
			cpu, wall := cpuTime(t)-cpu0, time.Since(wall0)
			runtime.ReadMemStats(&m1)
			alloc := m1.TotalAlloc - m0.TotalAlloc
			t.Logf("%d bytes: %s CPU, %s wall, %.1f MB allocated", len(data), cpu.Round(time.Millisecond), wall.Round(time.Millisecond), float64(alloc)/(1<<20))
			switch {
			case tc.want != "":
				if err == nil || err.Error() != tc.want {
					t.Fatalf("got %.300v, want %s", err, tc.want)
				}
			case tc.wantHead != "":
				if err == nil {
					t.Fatal("no error")
				}
				lines := strings.Split(err.Error(), "\n")
				if n := strings.Count(err.Error()+"\n", ": unknown key\n"); lines[0] != tc.wantHead || n != tc.lines {
					t.Fatalf("got %d unknown keys, first line %q, want %d and %q", n, lines[0], tc.lines, tc.wantHead)
				}
			default:
				if err != nil {
					t.Fatalf("%.300v", err)
				}
				if !tc.check(cfg) {
					t.Fatal("unexpected decode")
				}
			}
			if alloc > tc.maxAlloc {
				t.Errorf("allocated %d bytes, want at most %d", alloc, tc.maxAlloc)
			}
			if cpu > tc.maxCPU {
				t.Errorf("used %s CPU, want at most %s", cpu, tc.maxCPU)
			}
		})
	}
}

// TestDuplicateKeys checks that duplicate keys are reported with their path and both
// lines, in mappings of every kind.
func TestDuplicateKeys(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"device key", strings.Replace(base, "    kind: cnc\n", "    kind: cnc\n    kind: machine\n", 1),
			`line 13: devices[0].kind: key "kind" already defined at line 12`},
		{"signal name", base + `      state: {node: "ns=2;s=M1.Other"}` + "\n",
			`line 16: devices[0].signals.state: key "state" already defined at line 15`},
		{"map text", withMap + "          A: 1\n          B: 2\n          A: 3\n",
			`line 20: devices[0].signals.state.map.A: key "A" already defined at line 18`},
		{"top level", base + "workshop: {}\n",
			`line 16: workshop: key "workshop" already defined at line 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load([]byte(tc.yaml), noEnv)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestNonFiniteNumbers: NaN and ±Inf in a signal's scale, offset or map (they would
// reach the TSDB as NaN, which VictoriaMetrics drops, or ±Inf, for which InfluxDB refuses
// a whole block) and in the other numbers of the file are refused with the path and value.
func TestNonFiniteNumbers(t *testing.T) {
	signal := func(extra string) string {
		return strings.Replace(base, `      state: {node: "ns=2;s=M1.State"}`+"\n",
			"      state:\n        node: \"ns=2;s=M1.State\"\n"+extra, 1)
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"scale NaN", signal("        scale: .nan\n"),
			`line 17: devices[0].signals.state.scale: invalid scale NaN: want a finite number`},
		{"offset +Inf", signal("        offset: .inf\n"),
			`line 17: devices[0].signals.state.offset: invalid offset +Inf: want a finite number`},
		{"scale -Inf and offset NaN", signal("        scale: -.Inf\n        offset: .NaN\n"),
			"line 17: devices[0].signals.state.scale: invalid scale -Inf: want a finite number\n" +
				"line 18: devices[0].signals.state.offset: invalid offset NaN: want a finite number"},
		{"map values", signal("        map: {A: .nan, B: .inf, C: 1}\n"),
			"line 17: devices[0].signals.state.map.A: invalid value NaN: want a finite number\n" +
				"line 17: devices[0].signals.state.map.B: invalid value +Inf: want a finite number"},
		{"map values on their own lines", signal("        map:\n          idle: 0\n          run: -.inf\n"),
			`line 19: devices[0].signals.state.map.run: invalid value -Inf: want a finite number`},
		{"deadband NaN", signal("        deadband: {type: absolute, value: .nan}\n"),
			`line 17: devices[0].signals.state.deadband.value: invalid deadband NaN: want a finite value >= 0`},
		{"unit value +Inf", strings.Replace(base, "    kind: cnc\n", "    kind: cnc\n    unit_value_yuan: .inf\n", 1),
			`line 13: devices[0].unit_value_yuan: invalid value +Inf: want a finite number, not negative`},
		{"kpi numbers", base + "kpi: {kgce_per_kwh: .nan, power_idle_kw: .inf}\n",
			"line 16: kpi.kgce_per_kwh: invalid value NaN: want a finite number, positive\n" +
				"line 16: kpi.power_idle_kw: invalid value +Inf: want a finite number, not negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load([]byte(tc.yaml), noEnv)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}
