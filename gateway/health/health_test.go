package health

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

func TestPoints(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 900_000_000, time.UTC)
	tags := []point.Tag{{Key: "enterprise", Value: "e1"}, {Key: "gateway_instance", Value: "00aa"}, {Key: "park", Value: "p1"},
		{Key: "region", Value: "360100"}, {Key: "version", Value: "v1"}, {Key: "workshop", Value: "w1"}}
	s := Snapshot{Now: now, Started: now.Add(-90500 * time.Millisecond), Devices: 5, DevicesOffline: 2,
		LastData:    now.Add(2 * time.Second), // a clock stepped back reads as 0
		QueuePoints: 120, QueueOldest: now.Add(-7 * time.Minute), PointsDropped: 3, SignalErrors: 4,
		Sources: []Source{{Name: "opc", Up: true}, {Name: "meters", Errors: 4}}}
	var got []string
	for _, p := range Points(s, tags) {
		var b strings.Builder
		b.WriteString(p.Measurement)
		for _, tg := range p.Tags {
			b.WriteString("," + tg.Key + "=" + tg.Value)
		}
		for i, f := range p.Fields {
			sep := ","
			if i == 0 {
				sep = " "
			}
			b.WriteString(sep + f.Key + "=" + strconv.FormatFloat(f.Value, 'f', -1, 64))
		}
		if p.Time != now.Truncate(time.Second).UnixNano() {
			t.Errorf("%s stamped %d", p.Measurement, p.Time)
		}
		got = append(got, b.String())
	}
	want := []string{
		"gateway_health,enterprise=e1,gateway_instance=00aa,park=p1,region=360100,version=v1,workshop=w1 uptime_s=90,sources=2,sources_up=1,devices=5,devices_offline=2,last_data_age_s=0,queue_points=120,queue_oldest_age_s=420,points_dropped=3,signal_errors=4",
		"gateway_source,enterprise=e1,gateway_instance=00aa,park=p1,region=360100,source=opc,version=v1,workshop=w1 up=1,errors=0",
		"gateway_source,enterprise=e1,gateway_instance=00aa,park=p1,region=360100,source=meters,version=v1,workshop=w1 up=0,errors=4",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("points\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Before the first data and with empty queues.
	p := Points(Snapshot{Now: now, Started: now}, tags)[0]
	for _, f := range p.Fields {
		if f.Key == "last_data_age_s" {
			t.Errorf("last_data_age_s written before any data")
		}
		if f.Key == "queue_oldest_age_s" && f.Value != 0 {
			t.Errorf("queue_oldest_age_s = %v with empty queues", f.Value)
		}
	}
}
