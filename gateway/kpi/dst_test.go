package kpi_test

import (
	"fmt"
	"testing"
	"time"
	_ "time/tzdata" // the test zone does not depend on the machine's zoneinfo

	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/point"
)

// In a zone with daylight saving time the day window is the local calendar day (23 h
// on the spring-forward day) and hour windows follow the wall clock.
func TestDaylightSavingDay(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, kpi.Config{Location: berlin, Windows: []time.Duration{time.Hour, 24 * time.Hour},
		Shifts: []kpi.Shift{{Start: "01:30", End: "03:30"}}},
		kpi.Device{ID: "d", Kind: "cnc", Source: "s", Signals: []string{"machinery_item_state"}})
	local := func(d, h, m int) time.Time { return time.Date(2024, 3, d, h, m, 0, 0, berlin) }
	var out point.Batch
	out = append(out, e.Tick(local(31, 0, 0))...)
	e.Process(sample("d", local(31, 0, 0), good("machinery_item_state", 3)))
	for now := local(31, 0, 30); now.Before(local(1, 0, 31).AddDate(0, 1, 0)); now = now.Add(30 * time.Minute) {
		e.Process(sample("d", now, good("machinery_item_state", 3)))
		out = append(out, e.Tick(now)...)
	}
	var hours []string
	days := 0
	for _, p := range out {
		if p.Measurement != "device_kpi" {
			continue
		}
		if tagValue(&p, "window") == "1h" {
			hours = append(hours, time.Unix(0, p.Time).In(berlin).Format("15:04"))
		}
		if tagValue(&p, "window") == "1d" {
			days++
			fm := fieldMap(&p)
			// 2024-03-31 has 23 hours; the 01:30-03:30 shift is 1 h long that day
			// (02:00-03:00 does not exist): availability 3600/3600.
			if fm["running_s"] != 23*3600 || fm["availability"] != 1 || !time.Unix(0, p.Time).Equal(local(31, 0, 0)) {
				t.Errorf("day %v: %v", time.Unix(0, p.Time).In(berlin), fm)
			}
		}
	}
	if got, want := fmt.Sprint(hours), "[00:00 01:00 03:00 04:00 05:00 06:00 07:00 08:00 09:00 10:00 11:00 "+
		"12:00 13:00 14:00 15:00 16:00 17:00 18:00 19:00 20:00 21:00 22:00 23:00]"; got != want {
		t.Errorf("hour windows %s, want %s", got, want)
	}
	if days != 1 {
		t.Errorf("%d day windows, want 1", days)
	}
}
