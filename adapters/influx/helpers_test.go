package influx

import (
	"errors"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/ganlink/ganlink/internal/testutil"
)

// t0 is the first point's time: sub-millisecond digits check nanosecond precision.
const t0 = int64(1_700_000_000_123_456_789)

// testBatch is an energy meter point with good, uncertain and bad fields and a CNC
// point, both with tag values that need escaping, in the given workshop.
func testBatch(workshop string) point.Batch {
	meterTags := []point.Tag{
		{Key: "device", Value: "em 1,A"},
		{Key: "enterprise", Value: "Acme, Inc."},
		{Key: "kind", Value: "energy_meter"},
		{Key: "park", Value: "p=1"},
		{Key: "region", Value: "360100"},
		{Key: "workshop", Value: workshop},
	}
	cncTags := []point.Tag{
		{Key: "device", Value: "cnc-07"},
		{Key: "enterprise", Value: "Acme, Inc."},
		{Key: "kind", Value: "cnc"},
		{Key: "park", Value: "p=1"},
		{Key: "region", Value: "360100"},
		{Key: "workshop", Value: workshop},
	}
	return point.Batch{
		{Measurement: "energy_meter", Device: "em 1,A", Tags: meterTags, Time: t0, Fields: []point.Field{
			{Key: "energy_kwh_total", Value: 12345.5},
			{Key: "power_kw", Value: 7.25, Quality: point.Uncertain},
			{Key: "voltage_v", Value: 999, Quality: point.Bad},
		}},
		{Measurement: "cnc", Device: "cnc-07", Tags: cncTags, Time: t0 + int64(time.Second), Fields: []point.Field{
			{Key: "spindle_speed_rpm", Value: 1200},
			{Key: "state", Value: 1},
		}},
	}
}

func testLines(workshop string) []byte {
	b, _ := point.AppendBatch(nil, testBatch(workshop))
	return b
}

// wantVictoria is what VictoriaMetrics exports for testLines(workshop).
func wantVictoria(workshop string) []string {
	m := "{device=em 1,A,enterprise=Acme, Inc.,kind=energy_meter,park=p=1,region=360100,workshop=" + workshop + "} 1700000000123="
	c := "{device=cnc-07,enterprise=Acme, Inc.,kind=cnc,park=p=1,region=360100,workshop=" + workshop + "} 1700000001123="
	want := []string{
		"cnc_spindle_speed_rpm" + c + "1200",
		"cnc_state" + c + "1",
		"energy_meter_energy_kwh_total" + m + "12345.5",
		"energy_meter_power_kw" + m + "7.25",
		"energy_meter_power_kw_quality" + m + "1",
		"energy_meter_voltage_v_quality" + m + "2",
	}
	sort.Strings(want)
	return want
}

func exportKeys(v *testsrv.Victoria, selector string) []string {
	var keys []string
	for _, s := range v.Export(selector) {
		keys = append(keys, s.Key())
	}
	sort.Strings(keys)
	return keys
}

func newSink(t *testing.T, cfg Config, log *slog.Logger) *Sink {
	t.Helper()
	s, err := New(cfg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func config(name, url, bucket string) Config {
	c := DefaultConfig()
	c.Name, c.URL, c.Bucket = name, url, bucket
	c.Timeout = 10 * time.Second
	return c
}

func debugLogger(w *testutil.LogBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// classOf describes an error's classification for table comparisons.
type class struct {
	Permanent  bool
	Status     int
	RetryAfter time.Duration
}

func classOf(err error) class {
	var c class
	c.Permanent = errors.Is(err, ErrPermanent)
	var se *StatusError
	if errors.As(err, &se) {
		c.Status = se.StatusCode
	}
	var ra RetryAfterError
	if errors.As(err, &ra) {
		c.RetryAfter = ra.RetryAfter()
	}
	return c
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
