package point

import (
	"math"
	"testing"
)

func TestConv(t *testing.T) {
	two := Conv{Scale: 2, Offset: 1}
	mapped := Conv{Map: map[string]float64{"AUTOMATIC": 3}}
	for _, tc := range []struct {
		name string
		c    Conv
		in   any
		want float64
		err  string
	}{
		{"float", Conv{}, 1.5, 1.5, ""},
		{"uint32 max", Conv{}, uint32(math.MaxUint32), 4294967295, ""},
		{"int16", two, int16(-3), -5, ""},
		{"bool", Conv{}, true, 1, ""},
		{"float32", Conv{}, float32(0.5), 0.5, ""},
		{"mapped", mapped, "AUTOMATIC", 3, ""},
		{"unmapped", mapped, "MANUAL", 0, `value "MANUAL" not in map: unsupported value type`},
		{"string without map", Conv{}, "abc", 0, `string value "abc" without map: unsupported value type`},
		{"nil", Conv{}, nil, 0, "null value: unsupported value type"},
		{"slice", Conv{}, []float64{1}, 0, "value of type []float64: unsupported value type"},
		{"nan", Conv{}, math.NaN(), 0, "value NaN: value is not finite"},
		{"inf", Conv{}, math.Inf(-1), 0, "value -Inf: value is not finite"},
		{"overflow after scale", Conv{Scale: 1e300}, 1e300, 0, "scaled value +Inf: value is not finite"},
	} {
		got, err := tc.c.Apply(tc.in)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tc.want || gotErr != tc.err {
			t.Errorf("%s: Apply(%v) = %v, %q; want %v, %q", tc.name, tc.in, got, gotErr, tc.want, tc.err)
		}
	}
}

func TestTruncate(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{{"abc", 3, "abc"}, {"abcd", 3, "abc…"}, {"a€", 3, "a…"}, {"€", 0, "…"}, {"ééé", 3, "é…"}} {
		if got := Truncate(c.in, c.n); got != c.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
