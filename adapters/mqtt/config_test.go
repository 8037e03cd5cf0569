package mqtt

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

func validConfig() Config {
	return Config{
		Name: "meters", Broker: "tcp://127.0.0.1:1883", ClientID: "gw-ws1-meters", QoS: 1,
		Bindings: []Binding{
			{Device: "e1", Measurement: "energy_meter", Tags: meterTags, Topic: "meters/e1", TimestampPath: "ts",
				Fields: []FieldBinding{{Path: "data.kwh", Field: "energy_kwh_total"}}},
			{Device: "w1", Measurement: "water_meter", Topic: "site/+/w1", Format: "number",
				Fields: []FieldBinding{{Field: "water_m3_total"}}},
		},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *Config)
		want   string
	}{
		{"valid", func(c *Config) {}, ""},
		{"mqtt scheme, no port", func(c *Config) { c.Broker = "mqtt://broker.local" }, ""},
		{"no name", func(c *Config) { c.Name = "" }, "name: required"},
		{"no broker", func(c *Config) { c.Broker = "" }, "broker: required"},
		{"ssl broker", func(c *Config) { c.Broker = "ssl://h:8883" }, ""},
		{"tls broker with tls settings", func(c *Config) {
			c.Broker = "mqtts://h"
			c.TLS = TLSConfig{CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem", ServerName: "broker.local"}
		}, ""},
		{"websocket broker", func(c *Config) { c.Broker = "ws://h:8080" }, `broker: invalid broker "ws://h:8080": want tcp://host:port, or ssl://host:port for TLS`},
		{"broker without scheme", func(c *Config) { c.Broker = "127.0.0.1:1883" },
			`broker: invalid broker "127.0.0.1:1883": want tcp://host:port, or ssl://host:port for TLS`},
		{"credentials in the broker URL", func(c *Config) { c.Broker = "ssl://gw:S3cr3t-in-url@h:8883" },
			`broker: invalid broker "ssl://gw:xxxxx@h:8883": credentials in the URL; use username and password`},
		{"credentials in a broken broker URL", func(c *Config) { c.Broker = "ssl://gw:S3cr3t-in-url@h:88x83" },
			`broker: invalid broker "ssl://xxxxx@h:88x83": want tcp://host:port, or ssl://host:port for TLS`},
		{"tls for a plain broker", func(c *Config) { c.TLS.CAFile = "ca.pem" },
			`tls: set for the plain broker "tcp://127.0.0.1:1883": use ssl://, tls:// or mqtts://`},
		{"insecure for a plain broker", func(c *Config) { c.TLS.InsecureSkipVerify = true },
			`tls: set for the plain broker "tcp://127.0.0.1:1883": use ssl://, tls:// or mqtts://`},
		{"certificate without key", func(c *Config) { c.Broker = "ssl://h"; c.TLS.CertFile = "c.pem" }, "tls.key_file: required with tls.cert_file"},
		{"key without certificate", func(c *Config) { c.Broker = "ssl://h"; c.TLS.KeyFile = "k.pem" }, "tls.cert_file: required with tls.key_file"},
		{"password without user", func(c *Config) { c.Password = "pw" }, "username: required when a password is set"},
		{"user and password", func(c *Config) { c.Username, c.Password = "gw", "pw" }, ""},
		{"no client id", func(c *Config) { c.ClientID = "" }, "client_id: required: a stable id keeps the broker session"},
		{"qos 2", func(c *Config) { c.QoS = 2 }, "qos: invalid qos 2: want 0 or 1"},
		{"keep alive below 1s", func(c *Config) { c.KeepAlive = 500 * time.Millisecond }, "keep_alive: invalid value 500ms: want ≥ 1s"},
		{"negative batch wait", func(c *Config) { c.BatchWait = -time.Second }, "batch_wait: invalid value -1s: want ≥ 0"},
		{"negative max payload", func(c *Config) { c.MaxPayloadBytes = -1 }, "max_payload_bytes: invalid value -1: want ≥ 0"},
		{"negative batch max", func(c *Config) { c.BatchMax = -1 }, "batch_max: invalid value -1: want ≥ 0"},
		{"bad subscribe filter", func(c *Config) { c.Subscribe = []string{"meters/#", "site/#", "a/b#"} },
			`subscribe[2]: invalid topic "a/b#": '+' and '#' must fill a whole level, '#' only last`},
		{"binding not covered", func(c *Config) { c.Subscribe = []string{"meters/#"} },
			`bindings[1].topic: topic "site/+/w1" is not covered by any subscribe filter`},
		{"covered by wildcards", func(c *Config) { c.Subscribe = []string{"meters/+", "site/#"} }, ""},
		{"no bindings", func(c *Config) { c.Bindings = nil }, "bindings: required"},
		{"no device", func(c *Config) { c.Bindings[0].Device = "" }, "bindings[0].device: required"},
		{"no measurement", func(c *Config) { c.Bindings[1].Measurement = "" }, "bindings[1].measurement: required"},
		{"unsorted tags", func(c *Config) {
			c.Bindings[0].Tags = []point.Tag{{Key: "kind", Value: "x"}, {Key: "device", Value: "e1"}}
		},
			`bindings[0].tags: not sorted by key: "kind" before "device"`},
		{"no topic", func(c *Config) { c.Bindings[0].Topic = "" }, "bindings[0].topic: required"},
		{"bad topic", func(c *Config) { c.Bindings[0].Topic = "meters/#/e1" },
			`bindings[0].topic: invalid topic "meters/#/e1": '+' and '#' must fill a whole level, '#' only last`},
		{"bad format", func(c *Config) { c.Bindings[0].Format = "xml" }, `bindings[0].format: invalid format "xml": want json or number`},
		{"bad timestamp format", func(c *Config) { c.Bindings[0].TimestampFormat = "unix" },
			`bindings[0].timestamp_format: invalid timestamp format "unix": want auto, epoch_ms, epoch_s or rfc3339`},
		{"bad timestamp path", func(c *Config) { c.Bindings[0].TimestampPath = "a." }, `bindings[0].timestamp_path: invalid path "a.": empty segment`},
		{"timestamp with number format", func(c *Config) { c.Bindings[1].TimestampPath = "ts" },
			`bindings[1].timestamp_path: not supported with format "number"`},
		{"no fields", func(c *Config) { c.Bindings[0].Fields = nil }, "bindings[0].fields: required"},
		{"two fields for a number", func(c *Config) { c.Bindings[1].Fields = append(c.Bindings[1].Fields, FieldBinding{Field: "x"}) },
			`bindings[1].fields: format "number" carries one value, got 2 fields`},
		{"empty field name", func(c *Config) { c.Bindings[0].Fields[0].Field = "" }, "bindings[0].fields[0].field: required"},
		{"duplicate field", func(c *Config) {
			c.Bindings[0].Fields = append(c.Bindings[0].Fields, FieldBinding{Path: "kwh", Field: "energy_kwh_total"})
		}, `bindings[0].fields[1].field: duplicate field "energy_kwh_total"`},
		{"empty path", func(c *Config) { c.Bindings[0].Fields[0].Path = "" }, "bindings[0].fields[0].path: empty path"},
		{"number format ignores path", func(c *Config) { c.Bindings[1].Fields[0].Path = "" }, ""},
		{"several problems", func(c *Config) { c.Name = ""; c.QoS = 3 }, "name: required\nqos: invalid qos 3: want 0 or 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.modify(&c)
			err := c.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("Validate() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidatePath(t *testing.T) {
	tests := []struct{ path, want string }{
		{"kwh", ""},
		{"data.kwh", ""},
		{"values.0.v", ""},
		{"温度.值", ""},
		{"", "empty path"},
		{".kwh", `invalid path ".kwh": empty segment`},
		{"kwh.", `invalid path "kwh.": empty segment`},
		{"a..b", `invalid path "a..b": empty segment`},
		{"a\xffb", `invalid path "a\xffb": not UTF-8`},
		{"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g", `invalid path "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.…": 33 segments, at most 32`},
	}
	for _, tt := range tests {
		err := ValidatePath(tt.path)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("ValidatePath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestNewAppliesDefaults(t *testing.T) {
	in := validConfig()
	src, err := New(in, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if in.Bindings[0].Format != "" || in.Subscribe != nil {
		t.Fatalf("New modified the caller's config: %+v", in)
	}
	c := src.cfg
	if c.KeepAlive != 30*time.Second || c.ConnectTimeout != 10*time.Second || c.ReconnectMax != 30*time.Second ||
		c.MaxPayloadBytes != 64<<10 || c.BatchMax != 1000 || c.BatchWait != 20*time.Millisecond || c.QoS != 1 {
		t.Fatalf("defaults: %+v", c)
	}
	if !slices.Equal(c.Subscribe, []string{"meters/e1", "site/+/w1"}) {
		t.Fatalf("default subscriptions: %q", c.Subscribe)
	}
	if c.Bindings[0].Format != "json" || c.Bindings[0].TimestampFormat != "auto" {
		t.Fatalf("binding defaults: %+v", c.Bindings[0])
	}

	bad := validConfig()
	bad.Bindings[0].Fields[0].Path = "a..b"
	if _, err := New(bad, nil, nil); err == nil || err.Error() != `configure mqtt source "meters": bindings[0].fields[0].path: invalid path "a..b": empty segment` {
		t.Fatalf("New with bad config: %v", err)
	}
}

func TestMatchTopic(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"a/+", "a/b", true},
		{"a/+", "a/", true},
		{"a/+", "a", false},
		{"a/+", "a/b/c", false},
		{"+/+", "/x", true},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/#", "ab", false},
		{"#", "a/b", true},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"site/+/water/#", "site/h/water", true},
		{"site/+/water/#", "site/h/gas/w", false},
	}
	for _, tt := range tests {
		if got := matchTopic(tt.filter, tt.topic); got != tt.want {
			t.Errorf("matchTopic(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
		}
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		sub, f string
		want   bool
	}{
		{"a/b", "a/b", true},
		{"a/+", "a/b", true},
		{"a/+", "a/+", true},
		{"a/b", "a/+", false},
		{"a/+", "a/#", false},
		{"a/#", "a/+/c/#", true},
		{"a/#", "a", true},
		{"#", "x/#", true},
		{"+/#", "$SYS/x", false},
		{"a/+/c", "a/b/c/d", false},
	}
	for _, tt := range tests {
		if got := covers(tt.sub, tt.f); got != tt.want {
			t.Errorf("covers(%q, %q) = %v, want %v", tt.sub, tt.f, got, tt.want)
		}
	}
}

// TestValidateFilter: the one topic filter grammar, used for device and signal topics
// and subscribe filters alike; values are quoted cut to 64 bytes.
func TestValidateFilter(t *testing.T) {
	long := "plant/" + strings.Repeat("x", 65530)
	tests := []struct{ filter, want string }{
		{"plant/ws1/+/energy", ""},
		{"plant/#", ""},
		{"#", ""},
		{"", "empty topic"},
		{"plant/#/x", `invalid topic "plant/#/x": '+' and '#' must fill a whole level, '#' only last`},
		{"plant/a+", `invalid topic "plant/a+": '+' and '#' must fill a whole level, '#' only last`},
		{"plant/\x00/x", `invalid topic "plant/\x00/x": contains a NUL character`},
		{"plant/\xff", `invalid topic "plant/\xff": not UTF-8`},
		{long[:65535], ""},
		{long, `invalid topic "plant/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…": 65536 bytes, at most 65535`},
	}
	for _, tt := range tests {
		got := ""
		if err := validateFilter(tt.filter); err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("validateFilter(%.70q) = %q, want %q", tt.filter, got, tt.want)
		}
	}
}
