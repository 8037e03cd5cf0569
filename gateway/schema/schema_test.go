package schema_test

import (
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/schema"
)

func TestWindowName(t *testing.T) {
	for _, tt := range []struct {
		w    time.Duration
		want string
	}{
		{time.Minute, schema.Window1m},
		{time.Hour, schema.Window1h},
		{24 * time.Hour, schema.Window1d},
		{15 * time.Minute, "15m"},
		{30 * time.Second, "30s"},
		{90 * time.Second, "90s"},
		{2 * time.Hour, "2h"},
	} {
		if got := schema.WindowName(tt.w); got != tt.want {
			t.Errorf("WindowName(%s) = %q, want %q", tt.w, got, tt.want)
		}
	}
}

func TestVMName(t *testing.T) {
	if got, want := schema.VMName(schema.WorkshopKPI, schema.FieldCNCRate), "workshop_kpi_cnc_rate"; got != want {
		t.Errorf("VMName = %q, want %q", got, want)
	}
}

// TestFieldLists checks that no measurement lists a field twice and that every field
// name is a lowercase snake_case identifier (what both InfluxDB and VictoriaMetrics
// accept unquoted).
func TestFieldLists(t *testing.T) {
	for m, fields := range schema.Measurements() {
		if len(fields) == 0 {
			t.Errorf("%s: no fields", m)
		}
		seen := map[string]bool{}
		for _, f := range fields {
			if seen[f] {
				t.Errorf("%s: field %q listed twice", m, f)
			}
			seen[f] = true
			for i, c := range f {
				if !(c >= 'a' && c <= 'z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
					t.Errorf("%s: field %q is not snake_case", m, f)
					break
				}
			}
		}
	}
	if got := len(schema.DeviceKPIFields()); got != 10 {
		t.Errorf("device_kpi has %d fields, want 10", got)
	}
	if got := len(schema.WorkshopKPIFields()); got != 18 {
		t.Errorf("workshop_kpi has %d fields, want 18", got)
	}
	if got, want := schema.FieldSmartBasesTarget, "smart_bases_target"; got != want {
		t.Errorf("FieldSmartBasesTarget = %q, want %q", got, want)
	}
}
