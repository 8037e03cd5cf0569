package service

import (
	"strings"
	"testing"
	"time"
)

func TestParseDurationBounds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"30d", 30 * 24 * time.Hour, false}, {"1d12h", 36 * time.Hour, false}, {"6h", 6 * time.Hour, false},
		{"-5h", -5 * time.Hour, false}, {"106751d", 106751 * 24 * time.Hour, false},
		{"106752d", 0, true}, {"999999999999d", 0, true}, {"1d-5h", 0, true}, {"1d+5h", 0, true}, {"+1d", 0, true},
		{"-1d", 0, true}, {"106751d23h47m16.854775807s", time.Duration(1<<63 - 1), false},
		{"106751d23h47m16.854775808s", 0, true}, {"d", 0, true}, {"1.5d", 0, true}, {"", 0, true},
	} {
		got, err := ParseDuration(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	if _, err := ParseDuration(strings.Repeat("9", 100) + "d"); err == nil ||
		err.Error() != `invalid duration "`+strings.Repeat("9", 64)+`…"` {
		t.Errorf("long input: %v", err)
	}
}

// FuzzParseDuration: no input wraps around; an accepted duration without a leading
// minus is not negative, and FormatDuration's text parses back to the same value.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30d", "1d12h", "6h", "-5h", "0s", "106751d", "106752d", "1d-5h", "+1d", "9223372036854775807ns",
		"99999999999999999999d", "1d1d", "d", "1.5h", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if len(err.Error()) > 4*ClipBytes+40 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		if d < 0 && !strings.HasPrefix(s, "-") {
			t.Fatalf("ParseDuration(%q) = %v", s, d)
		}
		back, err := ParseDuration(FormatDuration(d))
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v; FormatDuration %q parses to %v, %v", s, d, FormatDuration(d), back, err)
		}
	})
}
