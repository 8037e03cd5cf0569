package modbus

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

func validConfig() Config {
	return Config{
		Name:     "meters",
		Endpoint: "tcp://192.168.1.50:502",
		MaxGap:   DefaultMaxGap,
		Devices: []Device{{
			Device: "em1", Measurement: "energy_meter", Tags: meterTags, UnitID: 1,
			Signals: []Signal{
				{Field: "voltage_l1_v", Area: "input", Address: 0, Type: "float32"},
				{Field: "breaker_closed", Area: "coil", Address: 3},
			},
		}},
	}
}

func TestValidate(t *testing.T) {
	neg := -1
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want string // joined errors; "" = valid
	}{
		{"valid", func(c *Config) {}, ""},
		{"host without port", func(c *Config) { c.Endpoint = "tcp://meter.local" }, ""},
		{"ipv6", func(c *Config) { c.Endpoint = "tcp://[::1]:1502" }, ""},
		{"empty", func(c *Config) { *c = Config{} },
			"name: must not be empty\nendpoint: invalid endpoint \"\": want tcp://host[:port]\ndevices: must not be empty"},
		{"endpoint scheme", func(c *Config) { c.Endpoint = "modbus://10.0.0.1:502" },
			`endpoint: invalid endpoint "modbus://10.0.0.1:502": want tcp://host[:port]`},
		{"endpoint path", func(c *Config) { c.Endpoint = "tcp://10.0.0.1:502/x" },
			`endpoint: invalid endpoint "tcp://10.0.0.1:502/x": want tcp://host[:port]`},
		{"endpoint port", func(c *Config) { c.Endpoint = "tcp://10.0.0.1:70000" },
			`endpoint: invalid endpoint "tcp://10.0.0.1:70000": port "70000" is not 1..65535`},
		{"durations", func(c *Config) {
			c.Timeout, c.ReconnectMin, c.ReconnectMax = -time.Second, time.Minute, 10*time.Second
		}, "timeout: negative duration -1s\nreconnect_min: 1m0s is above reconnect_max 10s"},
		{"counts", func(c *Config) { c.MaxFailures, c.MaxGap = -1, -2 },
			"max_failures: negative value -1\nmax_gap: invalid gap -2: want 0..2000"},
		{"device fields", func(c *Config) {
			d := &c.Devices[0]
			d.Device, d.Measurement, d.UnitID, d.PollInterval, d.MaxRegisters, d.MaxGap = "", "", 256, time.Millisecond, 126, &neg
			d.Tags = []point.Tag{{Key: "kind", Value: "x"}, {Key: "device", Value: "y"}}
		}, strings.Join([]string{
			"devices[0].device: must not be empty",
			"devices[0].measurement: must not be empty",
			`devices[0].tags: not sorted by key: "kind" before "device"`,
			"devices[0].unit_id: invalid unit id 256: want 0..255",
			"devices[0].poll_interval: invalid interval 1ms: want at least 10ms",
			"devices[0].max_registers: invalid value 126: want 1..125",
			"devices[0].max_gap: invalid gap -1: want 0..2000",
		}, "\n")},
		{"duplicate device, no signals", func(c *Config) {
			c.Devices = append(c.Devices, Device{Device: "em1", Measurement: "energy_meter"})
		}, "devices[1].device: duplicate device \"em1\" (also devices[0])\ndevices[1].signals: must not be empty"},
		{"signal fields", func(c *Config) {
			c.Devices[0].Signals = []Signal{
				{Field: "a", Area: "input", Address: 0, Type: "float", WordOrder: "abcd", ByteOrder: "middle"},
				{Field: "a", Area: "register", Address: -1},
				{Field: "", Area: "", Address: 70000},
				{Field: "c", Area: "coil", Type: "uint16", WordOrder: "low_first", ByteOrder: "big"},
				{Field: "d", Area: "holding", Address: 65534, Type: "float64"},
				{Field: "e", Area: "holding", Conv: point.Conv{Scale: math.NaN(), Offset: math.Inf(1), Map: map[string]float64{"x": 1}}},
			}
		}, strings.Join([]string{
			`devices[0].signals[0].type: invalid type "float" for area "input": want int16, uint16, int32, uint32, int64, uint64, float32 or float64`,
			`devices[0].signals[0].word_order: invalid word order "abcd": want high_first or low_first`,
			`devices[0].signals[0].byte_order: invalid byte order "middle": want big or little`,
			`devices[0].signals[1].field: duplicate field "a" (also signals[0])`,
			`devices[0].signals[1].area: invalid area "register": want holding, input, coil or discrete`,
			`devices[0].signals[1].address: invalid address -1: want 0..65535`,
			`devices[0].signals[2].field: must not be empty`,
			`devices[0].signals[2].area: must not be empty: want holding, input, coil or discrete`,
			`devices[0].signals[2].address: invalid address 70000: want 0..65535`,
			`devices[0].signals[3].type: invalid type "uint16" for area "coil": want bool`,
			`devices[0].signals[3].word_order: not applicable to area "coil"`,
			`devices[0].signals[3].byte_order: not applicable to area "coil"`,
			`devices[0].signals[4].address: float64 at address 65534 ends past 65535`,
			`devices[0].signals[5].scale: invalid scale NaN: want a finite number`,
			`devices[0].signals[5].offset: invalid offset +Inf: want a finite number`,
			`devices[0].signals[5].map: not applicable to modbus signals`,
		}, "\n")},
		{"type wider than max_registers", func(c *Config) {
			c.Devices[0].MaxRegisters = 2
			c.Devices[0].Signals[0].Type = "float64"
		}, `devices[0].signals[0].type: type "float64" needs 4 registers, above max_registers 2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.edit(&c)
			got := ""
			if err := c.Validate(); err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestNewAppliesDefaults(t *testing.T) {
	cfg := validConfig()
	cfg.Endpoint = "tcp://meter.local"
	s, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.addr != "meter.local:502" || s.cfg.Timeout != DefaultTimeout || s.cfg.ReconnectMin != DefaultReconnectMin ||
		s.cfg.ReconnectMax != DefaultReconnectMax || s.cfg.MaxFailures != DefaultMaxFailures {
		t.Fatalf("source defaults: addr %q, %+v", s.addr, s.cfg)
	}
	d := s.cfg.Devices[0]
	if d.PollInterval != DefaultPollInterval || d.MaxRegisters != MaxRegistersPerRead {
		t.Fatalf("device defaults: %+v", d)
	}
	if sg := d.Signals[1]; sg.Type != "bool" || sg.WordOrder != "" || sg.ByteOrder != "" {
		t.Fatalf("coil defaults: %+v", sg)
	}
	if cfg.Devices[0].Signals[1].Type != "" {
		t.Fatal("New modified the caller's signals")
	}
	def := DefaultConfig()
	if def.MaxGap != DefaultMaxGap || def.Timeout != DefaultTimeout {
		t.Fatalf("DefaultConfig: %+v", def)
	}

	cfg.Devices[0].Signals[0].Area = "holdings"
	_, err = New(cfg, nil, nil)
	want := `validate config of modbus source "meters": devices[0].signals[0].area: invalid area "holdings": want holding, input, coil or discrete`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}
