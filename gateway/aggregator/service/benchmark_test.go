package service

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/gateway/aggregator/rules"
)

// BenchmarkBenchmarkPoints reports the cost of one round's leader write-back for a
// large province: 10 000 workshops of 1 000 enterprises in 10 industry classes, every
// workshop reporting a full day. Run: go test -run '^$' -bench BenchmarkPoints -benchmem.
func BenchmarkBenchmarkPoints(b *testing.B) {
	classes := []string{"C3421", "C3422", "C1311", "C3071", "C2611", "C3311", "C3841", "C2929", "C1713", "C3130"}
	var y strings.Builder
	y.WriteString("regions:\n  - {code: \"360000\", name: 江西省}\n  - {code: \"360100\", name: 南昌市}\nenterprises:\n")
	var w strings.Builder
	w.WriteString("workshops:\n")
	snap := &Snapshot{Expected: []int{24}, Shops: []map[string]*rules.WorkshopStats{{}}, Conflicts: map[string]*Conflict{}}
	for e := range 1000 {
		first := fmt.Sprintf("91360100MA%07d", e)
		c, err := registry.USCCCheck(first)
		if err != nil {
			b.Fatal(err)
		}
		id := first + string(c)
		fmt.Fprintf(&y, "  - {id: %s, name: E%d, region: \"360100\", industry: %s}\n", id, e, classes[e%len(classes)])
		for k := range 10 {
			ws := fmt.Sprintf("w%05d", e*10+k)
			fmt.Fprintf(&w, "  - {id: %s, name: %s, enterprise: %s}\n", ws, ws, id)
			snap.Shops[0][ws] = &rules.WorkshopStats{Windows: 24, OutputValueYuan: 120000, EnergyKgce: float64(100 + (e*10+k)%97),
				WaterM3: float64(5 + (e*10+k)%13)}
		}
	}
	reg, err := registry.Parse("r.yaml", []byte(y.String()+w.String()), func(n string) (string, []byte, error) { return n, nil, os.ErrNotExist })
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(nil, nil, rules.Default(), Options{Window: "1h", WindowSize: time.Hour, Location: cst, MaxBuckets: 48}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(s.BenchmarkPoints(reg, snap, 0))
	}
	if n != 10000+10*2 {
		b.Fatalf("%d points, want 10 020", n)
	}
}
