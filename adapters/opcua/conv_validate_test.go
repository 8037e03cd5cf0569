package opcua

import (
	"math"
	"testing"

	"github.com/ganlink/ganlink/gateway/point"
)

// TestValidateNonFiniteConv: the adapter refuses NaN and ±Inf conversion parameters with
// the rule of point.Conv, as gateway/config does for the YAML.
func TestValidateNonFiniteConv(t *testing.T) {
	c := validConfig()
	c.Items[1].Conv = point.Conv{Scale: math.Inf(1), Map: map[string]float64{"Run": math.NaN()}}
	want := "items[1].scale: invalid scale +Inf: want a finite number\n" +
		"items[1].map.Run: invalid value NaN: want a finite number"
	if err := c.Validate(); err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}
