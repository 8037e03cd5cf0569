package backend

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/testsrv"
)

var (
	shanghai = time.FixedZone("CST", 8*3600)
	start    = time.Date(2024, 5, 1, 0, 0, 0, 0, shanghai)
)

func at(d time.Duration) int64 { return start.Add(d).UnixNano() }

// testData has boundary cases: points at Start (in), at End and before Start (out), a
// second series of w1 with other tags, another window, a point without the group tag;
// smart-tagged device points: one device id in two workshops, one before Start, one
// without the device tag.
func testData() string {
	h := time.Hour
	lines := []string{
		fmt.Sprintf("workshop_kpi,region=360100,window=1h,workshop=w1 parts=10,equipment_total=5 %d", at(0)),
		fmt.Sprintf("workshop_kpi,region=360100,window=1h,workshop=w1 parts=20 %d", at(h)),
		fmt.Sprintf("workshop_kpi,region=360100,window=1h,workshop=w1 parts=30,equipment_total=6 %d", at(2*h)),
		fmt.Sprintf("workshop_kpi,region=360100,window=1h,workshop=w1 parts=1000,equipment_total=100 %d", at(3*h)),
		fmt.Sprintf("workshop_kpi,region=360100,window=1h,workshop=w1 parts=500,equipment_total=100 %d", at(-h)),
		fmt.Sprintf("workshop_kpi,region=360200,window=1h,workshop=w1 parts=5 %d", at(30*time.Minute)),
		fmt.Sprintf("workshop_kpi,region=360100,window=1h,workshop=w2 parts=7,equipment_total=3 %d", at(h)),
		fmt.Sprintf("workshop_kpi,region=360100,window=1d,workshop=w1 parts=99,equipment_total=99 %d", at(0)),
		fmt.Sprintf("workshop_kpi,region=360100,window=1h parts=1,equipment_total=1 %d", at(0)),
		fmt.Sprintf("device_kpi,device=d1,smart=1,vendor=haitian,window=1h,workshop=w1 running_s=600 %d", at(0)),
		fmt.Sprintf("device_kpi,device=d2,vendor=haitian,window=1h,workshop=w2 running_s=30.5 %d", at(2*h)),
		fmt.Sprintf("device_kpi,device=d3,smart=1,window=1h,workshop=w2 running_s=3600 %d", at(0)),
		fmt.Sprintf("device_kpi,device=d1,smart=1,window=1h,workshop=w2 idle_s=60 %d", at(h)),
		fmt.Sprintf("device_kpi,device=d5,smart=1,window=1h,workshop=w1 idle_s=5 %d", at(-h)),
		fmt.Sprintf("device_kpi,smart=1,window=1h,workshop=w1 idle_s=7 %d", at(0)),
	}
	return strings.Join(lines, "\n") + "\n"
}

func write(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", bytes.NewBufferString(testData()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %s", resp.Status)
	}
}

var nan = math.NaN()

func rowsEqual(a, b []Row) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Group != b[i].Group || a[i].Sub != b[i].Sub || a[i].Bucket != b[i].Bucket || len(a[i].Values) != len(b[i].Values) {
			return false
		}
		for j, v := range a[i].Values {
			w := b[i].Values[j]
			if v != w && !(math.IsNaN(v) && math.IsNaN(w)) {
				return false
			}
		}
	}
	return true
}

func TestBackends(t *testing.T) {
	vm := testsrv.StartVictoria(t)
	write(t, vm.URL+"/api/v2/write?bucket=ganlink")
	vm.Flush()
	in := testsrv.StartInflux(t, "ganlink")
	write(t, in.URL+"/api/v2/write?bucket=ganlink&org=x")

	prom, err := NewPromQL(PromQLConfig{URL: vm.URL, NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	iq, err := NewInfluxQL(InfluxQLConfig{URL: in.URL, Database: "ganlink"})
	if err != nil {
		t.Fatal(err)
	}
	shopFields := []Field{{"parts", Sum}, {"parts", Count}, {"parts", Max}, {"equipment_total", Last}}
	tests := []struct {
		name string
		q    Query
		want []Row
	}{
		{"one bucket", Query{Measurement: "workshop_kpi", Window: "1h", GroupBy: "workshop", Fields: shopFields,
			Start: start, End: start.Add(3 * time.Hour)}, []Row{
			{"w1", "", 0, []float64{65, 4, 30, 6}},
			{"w2", "", 0, []float64{7, 1, 7, 3}},
		}},
		{"three buckets", Query{Measurement: "workshop_kpi", Window: "1h", GroupBy: "workshop", Fields: shopFields,
			Start: start, End: start.Add(3 * time.Hour), Step: time.Hour}, []Row{
			{"w1", "", 0, []float64{15, 2, 10, 5}},
			{"w1", "", 1, []float64{20, 1, 20, nan}},
			{"w1", "", 2, []float64{30, 1, 30, 6}},
			{"w2", "", 1, []float64{7, 1, 7, 3}},
		}},
		{"day window", Query{Measurement: "workshop_kpi", Window: "1d", GroupBy: "workshop", Fields: shopFields,
			Start: start, End: start.Add(24 * time.Hour)}, []Row{
			{"w1", "", 0, []float64{99, 1, 99, 99}},
		}},
		{"by vendor", Query{Measurement: "device_kpi", Window: "1h", GroupBy: "vendor", Fields: []Field{{"running_s", Sum}},
			Start: start, End: start.Add(3 * time.Hour)}, []Row{
			{"haitian", "", 0, []float64{630.5}},
		}},
		{"two-hour buckets", Query{Measurement: "device_kpi", Window: "1h", GroupBy: "workshop", Fields: []Field{{"running_s", Sum}},
			Start: start, End: start.Add(4 * time.Hour), Step: 2 * time.Hour}, []Row{
			{"w1", "", 0, []float64{600}},
			{"w2", "", 0, []float64{3600}},
			{"w2", "", 1, []float64{30.5}},
		}},
		{"smart by workshop", Query{Measurement: "device_kpi", Window: "1h", GroupBy: "workshop", Filter: map[string]string{"smart": "1"},
			Fields: []Field{{"running_s", Sum}}, Start: start, End: start.Add(3 * time.Hour)}, []Row{
			{"w1", "", 0, []float64{600}},
			{"w2", "", 0, []float64{3600}},
		}},
		{"smart by workshop and device", Query{Measurement: "device_kpi", Window: "1h", GroupBy: "workshop", SubGroup: "device",
			Filter: map[string]string{"smart": "1"}, Fields: []Field{{"running_s", Sum}, {"idle_s", Sum}},
			Start: start, End: start.Add(4 * time.Hour), Step: 2 * time.Hour}, []Row{
			{"w1", "d1", 0, []float64{600, nan}},
			{"w2", "d1", 0, []float64{nan, 60}},
			{"w2", "d3", 0, []float64{3600, nan}},
		}},
		{"nothing", Query{Measurement: "workshop_kpi", Window: "1h", GroupBy: "workshop", Fields: shopFields,
			Start: start.Add(-48 * time.Hour), End: start.Add(-24 * time.Hour)}, []Row{}},
	}
	for _, b := range []Backend{prom, iq} {
		for _, tt := range tests {
			t.Run(b.Name()+"/"+tt.name, func(t *testing.T) {
				got, err := b.Aggregate(context.Background(), tt.q)
				if err != nil {
					t.Fatal(err)
				}
				if !rowsEqual(got, tt.want) {
					t.Errorf("got  %v\nwant %v", got, tt.want)
				}
			})
		}
	}

	t.Run("influxql/unknown database", func(t *testing.T) {
		b, _ := NewInfluxQL(InfluxQLConfig{URL: in.URL, Database: "nope"})
		q := tests[0].q
		_, err := b.Aggregate(context.Background(), q)
		want := fmt.Sprintf("influxql query %q: database not found: nope", q.Statement())
		if err == nil || err.Error() != want {
			t.Errorf("err = %v\nwant %s", err, want)
		}
	})
	t.Run("promql/server down", func(t *testing.T) {
		b, _ := NewPromQL(PromQLConfig{URL: fmt.Sprintf("http://127.0.0.1:%d", testsrv.FreePort(t)), Timeout: time.Second})
		_, err := b.Aggregate(context.Background(), tests[0].q)
		if err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("promql/bad query", func(t *testing.T) {
		_, err := prom.Aggregate(context.Background(), Query{Measurement: "workshop_kpi", Window: "1h", GroupBy: "workshop",
			Fields: []Field{{"parts", Sum}}, Start: start, End: start.Add(time.Hour), Step: 7 * time.Minute})
		want := "promql query workshop_kpi: step 7m0s does not divide the range 1h0m0s"
		if err == nil || err.Error() != want {
			t.Errorf("err = %v, want %s", err, want)
		}
	})
}

func TestQueryText(t *testing.T) {
	q := Query{Measurement: "workshop_kpi", Window: "1h", GroupBy: "workshop",
		Fields: []Field{{"parts", Sum}, {"equipment_total", Last}, {"equipment_total", Count}, {"smart_equipment_in_service", Max}},
		Start:  start, End: start.Add(24 * time.Hour)}
	wantExpr := []string{
		`sum by (workshop) (sum_over_time(workshop_kpi_parts{window="1h",workshop!=""}[86400s]))`,
		`max by (workshop) (last_over_time(workshop_kpi_equipment_total{window="1h",workshop!=""}[86400s]))`,
		`sum by (workshop) (count_over_time(workshop_kpi_equipment_total{window="1h",workshop!=""}[86400s]))`,
		`max by (workshop) (max_over_time(workshop_kpi_smart_equipment_in_service{window="1h",workshop!=""}[86400s]))`,
	}
	for i, w := range wantExpr {
		if got := q.Expr(i); got != w {
			t.Errorf("Expr(%d) = %s\nwant %s", i, got, w)
		}
	}
	want := `SELECT sum("parts") AS "f0", last("equipment_total") AS "f1", count("equipment_total") AS "f2", max("smart_equipment_in_service") AS "f3" FROM "workshop_kpi" WHERE "window" = '1h' AND time >= '2024-04-30T16:00:00Z' AND time < '2024-05-01T16:00:00Z' GROUP BY "workshop" fill(none)`
	if got := q.Statement(); got != want {
		t.Errorf("Statement =\n%s\nwant\n%s", got, want)
	}
	q.Step = 6 * time.Hour
	q.Window = `it's`
	want = `SELECT sum("parts") AS "f0", last("equipment_total") AS "f1", count("equipment_total") AS "f2", max("smart_equipment_in_service") AS "f3" FROM "workshop_kpi" WHERE "window" = 'it\'s' AND time >= '2024-04-30T16:00:00Z' AND time < '2024-05-01T16:00:00Z' GROUP BY "workshop", time(21600s, 14400s) fill(none)`
	if got := q.Statement(); got != want {
		t.Errorf("Statement =\n%s\nwant\n%s", got, want)
	}
	if got := q.Expr(0); got != `sum by (workshop) (sum_over_time(workshop_kpi_parts{window="it's",workshop!=""}[21600s]))` {
		t.Errorf("Expr = %s", got)
	}

	q = Query{Measurement: "device_kpi", Window: "1h", GroupBy: "workshop", SubGroup: "device",
		Filter: map[string]string{"smart": "1", "kind": `c"n'c`}, Fields: []Field{{"running_s", Sum}, {"alarm_s", Max}},
		Start: start, End: start.Add(24 * time.Hour)}
	wantExpr = []string{
		`sum by (workshop, device) (sum_over_time(device_kpi_running_s{window="1h",workshop!="",device!="",kind="c\"n'c",smart="1"}[86400s]))`,
		`max by (workshop, device) (max_over_time(device_kpi_alarm_s{window="1h",workshop!="",device!="",kind="c\"n'c",smart="1"}[86400s]))`,
	}
	for i, w := range wantExpr {
		if got := q.Expr(i); got != w {
			t.Errorf("Expr(%d) = %s\nwant %s", i, got, w)
		}
	}
	want = `SELECT sum("running_s") AS "f0", max("alarm_s") AS "f1" FROM "device_kpi" WHERE "window" = '1h' AND "kind" = 'c"n\'c' AND "smart" = '1' AND time >= '2024-04-30T16:00:00Z' AND time < '2024-05-01T16:00:00Z' GROUP BY "workshop", "device" fill(none)`
	if got := q.Statement(); got != want {
		t.Errorf("Statement =\n%s\nwant\n%s", got, want)
	}
	q.SubGroup = ""
	q.Filter = map[string]string{"smart": "1"}
	q.Step = 12 * time.Hour
	if got, want := q.Expr(0), `sum by (workshop) (sum_over_time(device_kpi_running_s{window="1h",workshop!="",smart="1"}[43200s]))`; got != want {
		t.Errorf("Expr = %s\nwant %s", got, want)
	}
	want = `SELECT sum("running_s") AS "f0", max("alarm_s") AS "f1" FROM "device_kpi" WHERE "window" = '1h' AND "smart" = '1' AND time >= '2024-04-30T16:00:00Z' AND time < '2024-05-01T16:00:00Z' GROUP BY "workshop", time(43200s, 14400s) fill(none)`
	if got := q.Statement(); got != want {
		t.Errorf("Statement =\n%s\nwant\n%s", got, want)
	}
}

func TestQueryValidate(t *testing.T) {
	base := Query{Measurement: "m", Window: "1h", GroupBy: "g", Fields: []Field{{"f", Sum}}, Start: start, End: start.Add(time.Hour)}
	tests := []struct {
		mod  func(*Query)
		want string
	}{
		{func(q *Query) {}, ""},
		{func(q *Query) { q.Measurement = "a b" }, `invalid name "a b"`},
		{func(q *Query) { q.GroupBy = "" }, `invalid name ""`},
		{func(q *Query) { q.Fields = nil }, "no fields"},
		{func(q *Query) { q.Fields = []Field{{"f-1", Sum}} }, `invalid field name "f-1"`},
		{func(q *Query) { q.Fields = []Field{{"f", 9}} }, `field "f": invalid function 9`},
		{func(q *Query) { q.Window = "" }, "empty window"},
		{func(q *Query) { q.SubGroup = "d" }, ""},
		{func(q *Query) { q.SubGroup = "g" }, `invalid sub-group "g"`},
		{func(q *Query) { q.SubGroup = "a.b" }, `invalid sub-group "a.b"`},
		{func(q *Query) { q.Filter = map[string]string{"smart": "1"} }, ""},
		{func(q *Query) { q.Filter = map[string]string{"smart": "1", "x y": "1"} }, `invalid filter tag "x y"`},
		{func(q *Query) { q.Filter = map[string]string{"smart": ""} }, `filter tag "smart": empty value`},
		{func(q *Query) { q.End = q.Start }, "start 2024-05-01T00:00:00+08:00 not before end 2024-05-01T00:00:00+08:00"},
		{func(q *Query) { q.Start = q.Start.Add(time.Millisecond) }, "start and end must be whole seconds"},
		{func(q *Query) { q.Step = 1500 * time.Millisecond }, "step 1.5s is not a whole number of seconds"},
		{func(q *Query) { q.Step = 25 * time.Minute }, "step 25m0s does not divide the range 1h0m0s"},
	}
	for i, tt := range tests {
		q := base
		tt.mod(&q)
		err := q.Validate()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%d: Validate = %q, want %q", i, got, tt.want)
		}
	}
	if !reflect.DeepEqual([]string{Sum.String(), Max.String(), Last.String(), Count.String(), Func(7).String()},
		[]string{"sum", "max", "last", "count", "func(7)"}) {
		t.Error("Func.String")
	}
}
