package modbus

import (
	"fmt"
	"strings"
	"testing"
)

// sigs builds runtime signals from "area:address:type" specs.
func sigs(specs ...string) []signal {
	out := make([]signal, len(specs))
	for i, sp := range specs {
		parts := strings.Split(sp, ":")
		var addr int
		fmt.Sscan(parts[1], &addr)
		s := &Signal{Field: fmt.Sprintf("s%d", i), Area: parts[0], Address: addr, Type: parts[2]}
		out[i] = newSignal(s, i)
	}
	return out
}

func all(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// renderPlan shows reads as "area start+count[signals]".
func renderPlan(rs []request) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%s %d+%d%v", areaNames[r.area], r.start, r.count, r.sigs))
	}
	return strings.Join(parts, " ")
}

func TestPlan(t *testing.T) {
	floats := func(area string, start, n int) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, fmt.Sprintf("%s:%d:float32", area, start+2*i))
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		specs   []string
		maxRegs int
		maxGap  int
		want    string
	}{
		{"adjacent", []string{"holding:0:float32", "holding:2:uint16", "holding:3:int64"}, 125, 0,
			"holding 0+7[0 1 2]"},
		{"gap within tolerance", []string{"holding:0:float32", "holding:12:uint16"}, 125, 10,
			"holding 0+13[0 1]"},
		{"gap beyond tolerance", []string{"holding:0:float32", "holding:13:uint16"}, 125, 10,
			"holding 0+2[0] holding 13+1[1]"},
		{"zero gap keeps adjacent only", []string{"holding:0:uint16", "holding:2:uint16", "holding:1:uint16"}, 125, 0,
			"holding 0+3[0 2 1]"},
		{"unsorted, areas apart", []string{"input:100:float32", "holding:10:uint16", "coil:5:bool", "holding:0:float32", "discrete:0:bool", "coil:0:bool"}, 125, 10,
			"holding 0+11[3 1] input 100+2[0] coil 0+6[5 2] discrete 0+1[4]"},
		{"overlap", []string{"holding:0:uint32", "holding:1:uint16", "holding:0:uint16"}, 125, 0,
			"holding 0+2[2 0 1]"},
		{"protocol limit 125", floats("input", 0, 70), 125, 0,
			"input 0+124" + fmt.Sprint(all(62)) + " input 124+16" + fmt.Sprint(all(70)[62:])},
		{"device limit 80", floats("input", 0, 70), 80, 0,
			"input 0+80" + fmt.Sprint(all(40)) + " input 80+60" + fmt.Sprint(all(70)[40:])},
		{"coils up to 2000", []string{"coil:0:bool", "coil:1999:bool", "coil:2000:bool"}, 125, 2000,
			"coil 0+2000[0 1] coil 2000+1[2]"},
		{"same address twice", []string{"holding:7:uint16", "holding:7:int16"}, 125, 0,
			"holding 7+1[0 1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss := sigs(tc.specs...)
			got := renderPlan(plan(ss, all(len(ss)), tc.maxRegs, tc.maxGap))
			if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	ss := sigs("holding:0:float32", "holding:2:uint16", "holding:8:uint16", "holding:9:uint16")
	r := plan(ss, all(4), 125, 10)[0]
	if got := renderPlan([]request{r}); got != "holding 0+10[0 1 2 3]" {
		t.Fatalf("plan: %s", got)
	}
	runs := split(ss, &r, 125)
	if got := renderPlan(runs); got != "holding 0+3[0 1] holding 8+2[2 3]" {
		t.Fatalf("split at the gap: %s", got)
	}
	single := split(ss, &runs[1], 125)
	if got := renderPlan(single); got != "holding 8+1[2] holding 9+1[3]" {
		t.Fatalf("split a contiguous read: %s", got)
	}
	if got := split(ss, &single[0], 125); got != nil {
		t.Fatalf("split of one signal: %s", renderPlan(got))
	}
}
