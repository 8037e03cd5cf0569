package aggregator

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/api"
	"github.com/ganlink/ganlink/gateway/aggregator/corrections"
	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// A large province for load figures: 10 cities × 5 counties, 50 parks (10 designated
// bases), 500 enterprises (100 smart-equipment makers), 1 000 workshops with 10 devices
// each (10 000 devices), one day of hourly workshop_kpi and device_kpi windows.
const (
	benchCities      = 10
	benchCounties    = 5
	benchEnterprises = 500
	benchShopsPerEnt = 2
	benchDevsPerShop = 10
)

func benchUSCC(i int) string {
	first := fmt.Sprintf("9136%04d0000B%04d", i/100, i)
	c, err := registry.USCCCheck(first)
	if err != nil {
		panic(err)
	}
	return first + string(c)
}

func benchCounty(i int) string {
	return fmt.Sprintf("36%02d%02d", 1+i/benchCounties%benchCities, 1+i%benchCounties)
}

func writeBenchProvince(b *testing.B, dir string) {
	var reg, ents, shops strings.Builder
	reg.WriteString("regions:\n  - {code: \"360000\", name: 江西省, baseline: {year: 2020, energy_kgce_per_10k_yuan: 400, water_m3_per_10k_yuan: 10}}\n")
	for c := 1; c <= benchCities; c++ {
		fmt.Fprintf(&reg, "  - {code: \"36%02d00\", name: 市%d}\n", c, c)
		for k := 1; k <= benchCounties; k++ {
			fmt.Fprintf(&reg, "  - {code: \"36%02d%02d\", name: 县%d-%d}\n", c, k, c, k)
		}
	}
	reg.WriteString("parks:\n")
	for p := 0; p < benchCities*benchCounties; p++ {
		fmt.Fprintf(&reg, "  - {id: park%02d, name: 园区%d, region: \"%s\", designated_base: %t}\n", p, p, benchCounty(p), p%5 == 0)
	}
	reg.WriteString("enterprises_csv: enterprises.csv\nworkshops_csv: workshops.csv\n")
	ents.WriteString("id,name,region,park,smart_equipment_maker,vendors\n")
	shops.WriteString("id,name,enterprise\n")
	for e := 0; e < benchEnterprises; e++ {
		p := e % (benchCities * benchCounties)
		maker, vendors := e%5 == 0, ""
		if maker {
			vendors = fmt.Sprintf("vendor%03d", e/5)
		}
		fmt.Fprintf(&ents, "%s,企业%d,%s,park%02d,%t,%s\n", benchUSCC(e), e, benchCounty(p), p, maker, vendors)
		for s := 0; s < benchShopsPerEnt; s++ {
			fmt.Fprintf(&shops, "ws%04d,车间%d,%s\n", e*benchShopsPerEnt+s, e*benchShopsPerEnt+s, benchUSCC(e))
		}
	}
	files := map[string]string{"registry.yaml": reg.String(), "enterprises.csv": ents.String(), "workshops.csv": shops.String(),
		"tokens.yaml": fmt.Sprintf("tokens:\n  - {name: province, sha256: %s, region: \"360000\"}\n", api.HashToken("tok-province"))}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// benchLines returns the TSDB content in chunks of line protocol.
func benchLines() []string {
	var chunks []string
	var sb strings.Builder
	n := 0
	flush := func() {
		chunks = append(chunks, sb.String())
		sb.Reset()
		n = 0
	}
	for e := 0; e < benchEnterprises; e++ {
		p := e % (benchCities * benchCounties)
		for s := 0; s < benchShopsPerEnt; s++ {
			id := e*benchShopsPerEnt + s
			for h := 0; h < 24; h++ {
				ts := day.Add(time.Duration(h) * time.Hour).UnixNano()
				fmt.Fprintf(&sb, "workshop_kpi,enterprise=%s,park=park%02d,region=%s,window=1h,workshop=ws%04d "+
					"equipment_total=12,equipment_key=8,equipment_cnc_key=%d,cnc_rate=0.75,equipment_digital=10,equipment_networked=%d,"+
					"networked_rate=0.9,smart_equipment_in_service=3,parts=100,output_value_yuan=20000,energy_kwh=10000,energy_kgce=1229,water_m3=5 %d\n",
					benchUSCC(e), p, benchCounty(p), id, 4+id%4, 8+id%3, ts)
				for d := 0; d < benchDevsPerShop; d++ {
					smart := "" // 3 smart units a workshop, as smart_equipment_in_service says
					if d < 3 {
						smart = ",smart=1"
					}
					fmt.Fprintf(&sb, "device_kpi,device=ws%04d-d%d,kind=cnc,region=%s%s,vendor=vendor%03d,window=1h,workshop=ws%04d "+
						"running_s=1800,idle_s=1200,setup_s=300,alarm_s=0,offline_s=300,unknown_s=0 %d\n",
						id, d, benchCounty(p), smart, (id*benchDevsPerShop+d)%150, id, ts)
				}
				n += 1 + benchDevsPerShop
				if n >= 5000 {
					flush()
				}
			}
		}
	}
	flush()
	return chunks
}

func benchPost(b *testing.B, url string, chunks []string) {
	for _, c := range chunks {
		resp, err := http.Post(url, "text/plain", strings.NewReader(c))
		if err != nil {
			b.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			b.Fatalf("write: %s %s", resp.Status, msg)
		}
	}
}

// BenchmarkAPI reports the API latency (p50, p99) per endpoint and backend for the
// large province, with the cache off (every request queries the TSDB) and on. Run it
// with a fixed count: go test -run '^$' -bench BenchmarkAPI -benchtime 40x.
func BenchmarkAPI(b *testing.B) {
	dir := b.TempDir()
	writeBenchProvince(b, dir)
	chunks := benchLines()
	start := time.Now()
	vm := testsrv.StartVictoria(b)
	benchPost(b, vm.URL+"/api/v2/write?bucket=ganlink", chunks)
	vm.Flush()
	b.Logf("victoria-metrics: %d chunks written in %s", len(chunks), time.Since(start).Round(time.Millisecond))
	start = time.Now()
	in := testsrv.StartInflux(b, "ganlink")
	benchPost(b, in.URL+"/api/v2/write?bucket=ganlink&org=x", chunks)
	b.Logf("influxdb: written in %s", time.Since(start).Round(time.Millisecond))
	endpoints := []struct{ name, path string }{
		{"programme", "/api/v1/programme?" + period},
		{"regions_city", "/api/v1/kpi/regions?level=city&" + period},
		{"regions_24h_steps", "/api/v1/kpi/regions?step=1h&" + period},
		{"enterprises", "/api/v1/kpi/enterprises?" + period},
		{"workshops", "/api/v1/workshops?" + period},
	}
	for _, be := range []struct{ name, yaml string }{
		{"promql", fmt.Sprintf("backend: {type: promql, url: %q}\n", vm.URL)},
		{"influxql", fmt.Sprintf("backend: {type: influxql, url: %q, database: ganlink}\n", in.URL)},
	} {
		for _, cache := range []string{"0s", "1m", "0s+corrections=10", "0s+corrections=50"} {
			cfg := be.yaml + "cache_ttl: " + cache + "\n"
			if ttl, n, ok := strings.Cut(cache, "+corrections="); ok {
				// n central corrections, each of one workshop from 10:30 to 12:00: two
				// windows left out, every bucket cut in two kept parts.
				cfg = be.yaml + "cache_ttl: " + ttl + "\ndata_dir: bench-" + be.name + "-" + n + "\n"
				st := corrections.NewStore(filepath.Join(dir, "bench-"+be.name+"-"+n, corrections.FileName))
				k, _ := strconv.Atoi(n)
				for i := range k {
					if _, err := st.Add(corrections.Correction{Workshop: fmt.Sprintf("ws%04d", i), From: day.Add(10*time.Hour + 30*time.Minute),
						Until: day.Add(12 * time.Hour), By: "bench", Reason: "bench"}, day); err != nil {
						b.Fatal(err)
					}
				}
			}
			_, c, _ := startApp(b, dir, cfg)
			for _, ep := range endpoints {
				b.Run(fmt.Sprintf("%s/cache=%s/%s", be.name, cache, ep.name), func(b *testing.B) {
					lat := make([]time.Duration, 0, b.N)
					var size int
					for i := 0; i < b.N; i++ {
						t0 := time.Now()
						code, _, body := c.get("tok-province", ep.path)
						lat = append(lat, time.Since(t0))
						if code != 200 {
							b.Fatalf("%s: %d %s", ep.path, code, body)
						}
						size = len(body)
					}
					sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
					q := func(p float64) float64 {
						return float64(lat[int(p*float64(len(lat)-1)+0.5)].Microseconds()) / 1000
					}
					b.ReportMetric(q(0.5), "p50-ms")
					b.ReportMetric(q(0.99), "p99-ms")
					b.ReportMetric(float64(size), "resp-bytes")
				})
			}
		}
	}
}
