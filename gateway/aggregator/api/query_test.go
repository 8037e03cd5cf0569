package api

import (
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/ganlink/ganlink/gateway/aggregator/service"
)

var testAllowed = map[string]bool{"region": true, "from": true, "to": true, "format": true}

func TestParseQuery(t *testing.T) {
	long := strings.Repeat("x", 100)
	for _, tc := range []struct {
		raw  string
		want map[string]string
		err  string
	}{
		{"", map[string]string{}, ""},
		{"region=360100&from=2024-05-01", map[string]string{"region": "360100", "from": "2024-05-01"}, ""},
		{"region=36%30100&&to=&format", map[string]string{"region": "360100", "to": "", "format": ""}, ""},
		{"from=2024-05-01T00:00:00%2B08:00", map[string]string{"from": "2024-05-01T00:00:00+08:00"}, ""},
		{"region=1&region=2", nil, `duplicate parameter "region": give it once`},
		{"region=1&from=a&region=1", nil, `duplicate parameter "region": give it once`},
		{"region=&region=2", nil, `duplicate parameter "region": give it once`},
		{"reg%69on=1&region=2", nil, `duplicate parameter "region": give it once`},
		{"regoin=1", nil, `unknown parameter "regoin"`},
		{long + "=1", nil, `unknown parameter "` + strings.Repeat("x", 64) + `…"`},
		{"region=1;from=2", nil, `invalid query: "region=1;from=2" contains a semicolon (separate parameters with &)`},
		{"region=%zz", nil, `invalid query: bad escape in the value of "region"`},
		{"%zz=1", nil, `invalid query: bad escape in parameter name "%zz"`},
	} {
		got, err := parseQuery(tc.raw, testAllowed)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if msg != tc.err || (err == nil && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("parseQuery(%q) = %v, %q; want %v, %q", tc.raw, got, msg, tc.want, tc.err)
		}
	}
}

// FuzzParseQuery checks parseQuery against net/url: what it accepts, url.ParseQuery
// reads the same way, with every key allowed and given once; errors are bounded.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "region=360100", "region=1&region=2", "a=1;b=2", "%zz", "from=%2B08&to", "&&=&",
		"format=csv&format=json", "region=" + strings.Repeat("9", 200), "%E4%B8%AD=1", "to=\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := parseQuery(raw, testAllowed)
		if err != nil {
			// A clipped value quoted with %q: at most 4 bytes per byte, plus the text.
			if len(err.Error()) > 4*service.ClipBytes+100 {
				t.Fatalf("error of %d bytes: %.100q", len(err.Error()), err)
			}
			return
		}
		ref, rerr := url.ParseQuery(raw)
		if rerr != nil {
			t.Fatalf("parseQuery accepted %q, url.ParseQuery: %v", raw, rerr)
		}
		for k, vs := range ref {
			if k == "" && len(vs) > 0 && !testAllowed[k] {
				continue
			}
			if len(vs) != 1 || got[k] != vs[0] || !testAllowed[k] {
				t.Fatalf("%q: parseQuery %v, url.ParseQuery %v", raw, got, ref)
			}
		}
		if len(got) != len(ref) {
			t.Fatalf("%q: parseQuery %v, url.ParseQuery %v", raw, got, ref)
		}
	})
}
