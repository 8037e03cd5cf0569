package mqtt

import (
	"math"
	"testing"

	"github.com/ganlink/ganlink/gateway/point"
)

// TestValidateNonFiniteConv: the adapter refuses NaN and ±Inf conversion parameters with
// the rule of point.Conv, as gateway/config does for the YAML.
func TestValidateNonFiniteConv(t *testing.T) {
	c := validConfig()
	c.Bindings[0].Fields[0].Conv = point.Conv{Scale: math.NaN(), Offset: math.Inf(1), Map: map[string]float64{"A": math.Inf(-1), "B": 1}}
	want := "bindings[0].fields[0].scale: invalid scale NaN: want a finite number\n" +
		"bindings[0].fields[0].offset: invalid offset +Inf: want a finite number\n" +
		"bindings[0].fields[0].map.A: invalid value -Inf: want a finite number"
	if err := c.Validate(); err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}
