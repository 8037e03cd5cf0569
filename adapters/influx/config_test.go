package influx

import (
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	valid := func(mod func(*Config)) Config {
		c := DefaultConfig()
		c.URL, c.Bucket = "http://127.0.0.1:8086", "ganlink/autogen"
		mod(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"valid", valid(func(*Config) {}), ""},
		{"https with path prefix", valid(func(c *Config) { c.URL = "https://tsdb.example/influx/" }), ""},
		{"token user:pass", valid(func(c *Config) { c.Token = "writer:pass" }), ""},
		{"zero timeout means default", valid(func(c *Config) { c.Timeout = 0 }), ""},
		{"empty url", valid(func(c *Config) { c.URL = "" }), `url: invalid url ""`},
		{"no scheme", valid(func(c *Config) { c.URL = "x" }), `url: invalid url "x"`},
		{"host without scheme", valid(func(c *Config) { c.URL = "127.0.0.1:8086" }), `url: invalid url "127.0.0.1:8086"`},
		{"wrong scheme", valid(func(c *Config) { c.URL = "tcp://127.0.0.1:8086" }), `url: invalid url "tcp://127.0.0.1:8086"`},
		{"no host", valid(func(c *Config) { c.URL = "http://" }), `url: invalid url "http://"`},
		{"query", valid(func(c *Config) { c.URL = "http://h:8086/?db=x" }), `url: invalid url "http://h:8086/?db=x"`},
		{"bad escape", valid(func(c *Config) { c.URL = "http://h:8086/%zz" }), `url: invalid url "http://h:8086/%zz"`},
		{"credentials", valid(func(c *Config) { c.URL = "http://u:secret@h:8086" }), `url: invalid url "http://u:xxxxx@h:8086": credentials belong in token`},
		{"credentials in unparsable url", valid(func(c *Config) { c.URL = "http://u:secret@h:8086/%zz" }), `url: invalid url "http://u:xxxxx@h:8086/%zz"`},
		{"bucket", valid(func(c *Config) { c.Bucket = "" }), `bucket: required`},
		{"token control", valid(func(c *Config) { c.Token = "abc\r\nX-Evil: 1" }), `token: contains control characters`},
		{"negative timeout", valid(func(c *Config) { c.Timeout = -time.Second }), `timeout: must not be negative, got -1s`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("Validate() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	want := Config{Name: "influx", Gzip: true, Timeout: 30 * time.Second}
	if got := DefaultConfig(); got != want {
		t.Fatalf("DefaultConfig() = %+v, want %+v", got, want)
	}
}

func TestNew(t *testing.T) {
	if _, err := New(Config{Name: "tsdb", URL: "http://127.0.0.1:1"}, nil); errString(err) != `create sink "tsdb": bucket: required` {
		t.Fatalf("New = %v", err)
	}
	if _, err := New(Config{URL: "x", Bucket: "b"}, nil); errString(err) != `create sink "influx": url: invalid url "x"` {
		t.Fatalf("New = %v", err)
	}
	s, err := New(Config{URL: "http://127.0.0.1:1/base", Bucket: "db/rp", Org: "a b"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.name != "influx" || s.timeout != DefaultTimeout || s.gzip {
		t.Fatalf("defaults: name %q timeout %v gzip %v", s.name, s.timeout, s.gzip)
	}
	if want := "http://127.0.0.1:1/base/api/v2/write?bucket=db%2Frp&org=a+b&precision=ns"; s.writeURL != want {
		t.Fatalf("write url %s, want %s", s.writeURL, want)
	}
}
