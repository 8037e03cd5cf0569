package service

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/testutil"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
)

// TestConsistencyWriteBack: a write-back round lists the telemetry workshops not in the
// registry and the placement tags that disagree with it (metrics and log), and writes
// the registry's placement and names as workshop_info.
func TestConsistencyWriteBack(t *testing.T) {
	f := newFixture(t, 0)
	// The fixture's w1 carries region=360100 only (the registry: park p1, enterprise
	// 91360100MA35HT001T). ghost is not registered.
	lines := fmt.Sprintf("workshop_kpi,enterprise=E9,region=360400,window=1h,workshop=ghost equipment_total=1 %d\n", day.UnixNano()) +
		fmt.Sprintf("workshop_kpi,enterprise=E9,region=360401,window=1h,workshop=ghost equipment_total=1 %d\n", day.Add(time.Hour).UnixNano())
	resp, err := http.Post(f.vm.URL+"/api/v2/write", "text/plain", strings.NewReader(lines))
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("write: %v %v", err, resp)
	}
	resp.Body.Close()
	f.vm.Flush()

	c, err := f.svc.Consistency(context.Background(), Period{From: day, To: day.Add(24 * time.Hour)}, f.svc.Registry())
	if err != nil {
		t.Fatal(err)
	}
	wantUnreg := []TelemetryWorkshop{{ID: "ghost", Region: []string{"360400", "360401"}, Park: []string{}, Enterprise: []string{"E9"}}}
	wantMis := []Mismatch{
		{Workshop: "w1", Tag: "park", Registry: "p1", Telemetry: []string{}},
		{Workshop: "w1", Tag: "enterprise", Registry: "91360100MA35HT001T", Telemetry: []string{}},
	}
	if !reflect.DeepEqual(c.Unregistered, wantUnreg) || !reflect.DeepEqual(c.Mismatches, wantMis) {
		t.Errorf("consistency:\n%+v\n%+v\nwant\n%+v\n%+v", c.Unregistered, c.Mismatches, wantUnreg, wantMis)
	}

	var logs testutil.LogBuffer
	f.svc.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	w, err := NewWriter(WriterConfig{URL: f.vm.URL, Bucket: "ganlink"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.WriteBackOnce(context.Background(), w, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := promtest.ToFloat64(f.svc.m.unregistered); n != 1 {
		t.Errorf("unregistered = %v, want 1", n)
	}
	for tag, want := range map[string]float64{"region": 0, "park": 1, "enterprise": 1} {
		if n := promtest.ToFloat64(f.svc.m.consistency.mismatches.WithLabelValues(tag)); n != want {
			t.Errorf("mismatches{tag=%s} = %v, want %v", tag, n, want)
		}
	}
	wantLog := `level=WARN msg="telemetry workshops not in the registry: their data is in no figure" count=1 workshops=ghost from=2024-05-01T00:00:00.000+08:00 to=2024-05-02T00:00:00.000+08:00
level=WARN msg="workshops placed differently by their telemetry tags and the registry (registry→telemetry)" count=2 mismatches="w1 park \"p1\"→\"\"; w1 enterprise \"91360100MA35HT001T\"→\"\"" from=2024-05-01T00:00:00.000+08:00 to=2024-05-02T00:00:00.000+08:00
`
	if got := logs.String(); got != wantLog {
		t.Errorf("log:\n%s\nwant\n%s", got, wantLog)
	}
	var keys []string
	for _, s := range f.vm.Export(`{__name__=~"workshop_info_.*"}`) {
		keys = append(keys, s.Key())
	}
	want := []string{fmt.Sprintf("workshop_info_registered{enterprise=91360100MA35HT001T,enterprise_name=甲,name=一,park=p1,park_name=园区,"+
		"region=360100,region_name=南昌市,workshop=w1} %d=1", day.Add(24*time.Hour).UnixMilli())}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("workshop_info:\n%v\nwant\n%v", keys, want)
	}
	// The join of docs/aggregator.md places the workshop's parts by the registry.
	at := day.Add(24*time.Hour).Unix() - 1
	q := fmt.Sprintf(`sum by (region, region_name) (sum by (workshop) (sum_over_time(workshop_kpi_parts{window="1h"}[1d] @ %d))`+
		` * on (workshop) group_left (region, region_name) last_over_time(workshop_info_registered[2h] @ %d))`, at, at+1)
	if got, want := string(f.vm.Query(q)), `"metric":{"region":"360100","region_name":"南昌市"},"value":[`; !strings.Contains(got, want) ||
		!strings.Contains(got, `"240"`) {
		t.Errorf("join: %s", got)
	}
}
