package httpauth

import (
	"net/http/httptest"
	"testing"
)

func TestBearer(t *testing.T) {
	for _, tc := range []struct {
		header, token string
		ok            bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer  abc ", "abc", true},
		{"Bearer ", "", false},
		{"Bearer", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"", "", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if tok, ok := Bearer(r); tok != tc.token || ok != tc.ok {
			t.Errorf("%q: %q %v, want %q %v", tc.header, tok, ok, tc.token, tc.ok)
		}
	}
}

func TestDigest(t *testing.T) {
	d := Hash("glk_secret")
	back, ok := ParseHex(d.Hex())
	if !ok || !Equal(back, d) || Equal(d, Hash("glk_secreT")) {
		t.Fatal("digest round trip or comparison wrong")
	}
	if _, ok := ParseHex("abc"); ok {
		t.Error("short hex accepted")
	}
	if got := Challenge("ganlink", true); got != `Bearer realm="ganlink", error="invalid_token"` {
		t.Errorf("challenge %s", got)
	}
}
