package opcua_test

import (
	"testing"

	"github.com/ganlink/ganlink/adapters/opcua"
)

// TestSuggestRole: the role a numeric variable is given from its field name and the
// browse names above it, the rule -emit-config and the commissioning page share.
func TestSuggestRole(t *testing.T) {
	for _, c := range []struct {
		field string
		names []string
		want  string
	}{
		{"parts_total", []string{"Count"}, "parts_total"},
		{"parts_produced_in_lifetime", []string{"PartsProducedInLifetime", "MachineTool"}, "parts_total"},
		{"machinery_item_state", []string{"MachineryItemState"}, "machinery_item_state"},
		{"number", []string{"Number", "CurrentState", "MachineryItemState", "Monitoring"}, "machinery_item_state"},
		{"number", []string{"Number", "CurrentState", "MachineryOperationMode"}, "operation_mode"},
		{"number", []string{"Number", "CurrentState", "ChannelState", "Channel1"}, "channel_state"},
		{"number", []string{"Number", "CurrentState", "State", "ActiveProgram"}, "program_state"},
		{"number", []string{"Number", "CurrentState", "State", "Other"}, ""},
		{"number", []string{"Number", "CurrentState"}, ""},
		{"number", []string{"Number", "Something", "MachineryItemState"}, ""},
		{"act_speed", []string{"ActSpeed", "Spindle1"}, "spindle_speed_rpm"},
		{"act_speed", []string{"ActSpeed", "Axis1"}, ""},
		{"temperature", []string{"Temperature"}, ""},
		{"x", nil, ""},
	} {
		if got := opcua.SuggestRole(c.field, c.names...); got != c.want {
			t.Errorf("SuggestRole(%q, %q) = %q, want %q", c.field, c.names, got, c.want)
		}
	}
}
