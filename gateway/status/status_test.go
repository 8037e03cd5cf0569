package status

import (
	"net/url"
	"strings"
	"testing"
)

func TestParseQuery(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want Query
		err  string
	}{
		{"", Query{0, DefaultDeviceLimit}, ""},
		{"device_offset=20&device_limit=10", Query{20, 10}, ""},
		{"device_limit=0", Query{0, 0}, ""},
		{"device_limit=10001", Query{}, "parameter device_limit=10001: at most 10000"},
		{"device_offset=-1", Query{}, `parameter device_offset="-1": want a whole number from 0`},
		{"device_offset=1&device_offset=2", Query{}, `parameter "device_offset" given 2 times`},
		{"devices=all", Query{}, `unknown parameter "devices": want device_offset or device_limit`},
		{"device_limit=" + strings.Repeat("9", 40), Query{}, `parameter device_limit="99999999999999999999999999999999…": want a whole number from 0`},
	} {
		v, _ := url.ParseQuery(tc.q)
		got, err := ParseQuery(v)
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("%q: error %v, want %q", tc.q, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%q: %+v, %v; want %+v", tc.q, got, err, tc.want)
		}
	}
}
