package kpi_test

import (
	"slices"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
)

// TestFieldsFollowSchema checks that a window in which every figure can be computed
// yields exactly the fields gateway/schema lists for device_kpi and workshop_kpi, in its
// order, under its measurement, window and identity tag names.
func TestFieldsFollowSchema(t *testing.T) {
	e := newEngine(t, kpi.Config{Windows: []time.Duration{time.Minute}}, kpi.Device{ID: "cnc1", Kind: "cnc",
		Source: "opc", Tags: cncTags, KeyProcess: true, NumericalControl: true, Digital: true, Smart: true, UnitValueYuan: 20,
		Signals: []string{"machinery_item_state", "parts_total", "energy_kwh_total", "water_m3_total"}})
	e.Tick(at("10:00:00"))
	e.Process(sample("cnc1", at("10:00:00"), good("machinery_item_state", 3), good("parts_total", 100),
		good("energy_kwh_total", 1000), good("water_m3_total", 50)))
	e.Process(sample("cnc1", at("10:00:30"), good("parts_total", 105), good("energy_kwh_total", 1002),
		good("water_m3_total", 51)))
	out := e.Tick(at("10:01:30"))
	want := map[string][]string{schema.DeviceKPI: schema.DeviceKPIFields(), schema.WorkshopKPI: schema.WorkshopKPIFields()}
	seen := map[string]bool{}
	for _, p := range out {
		if p.Time != at("10:00:00").UnixNano() {
			continue
		}
		var keys []string
		for _, f := range p.Fields {
			keys = append(keys, f.Key)
		}
		w, ok := want[p.Measurement]
		if !ok {
			t.Errorf("measurement %q is not in the schema", p.Measurement)
			continue
		}
		seen[p.Measurement] = true
		if !slices.Equal(keys, w) {
			t.Errorf("%s fields\n got %q\nwant %q", p.Measurement, keys, w)
		}
		if got := tagValue(&p, schema.TagWindow); got != schema.Window1m {
			t.Errorf("%s: tag %s = %q, want %q", p.Measurement, schema.TagWindow, got, schema.Window1m)
		}
		tags := []string{schema.TagEnterprise, schema.TagPark, schema.TagRegion, schema.TagWindow, schema.TagWorkshop}
		if p.Measurement == schema.DeviceKPI {
			tags = []string{schema.TagDevice, schema.TagEnterprise, schema.TagKind, schema.TagPark, schema.TagRegion,
				schema.TagWindow, schema.TagWorkshop}
		}
		if got := tagKeys(p); !slices.Equal(got, tags) {
			t.Errorf("%s tags %q, want %q", p.Measurement, got, tags)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("window 10:00 yielded measurements %v, want device_kpi and workshop_kpi", seen)
	}
}

func tagKeys(p point.Point) []string {
	var out []string
	for _, t := range p.Tags {
		out = append(out, t.Key)
	}
	return out
}
