package dlt645

import (
	"os"
	"strings"
	"testing"

	"github.com/ganlink/ganlink/gateway/config"
)

// load decodes a configuration with this package's Kind and builds the Config of its
// first dlt645 source, as the gateway does.
func load(t *testing.T, doc string) (Config, error) {
	t.Helper()
	doc = `workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}` + "\n" + doc
	cfg, err := config.Load([]byte(doc), func(string) (string, bool) { return "", false }, config.Kinds{Kind})
	if err != nil {
		return Config{}, err
	}
	src := cfg.Sources.Of(Kind.Name())[0]
	c, errs := BuildConfig(src, cfg.DevicesOf(src.Name()), &cfg.Workshop)
	if errs != nil {
		return c, errs
	}
	return c, nil
}

func TestSpecDefaults(t *testing.T) {
	c, err := load(t, `
sources:
  dlt645:
    - {name: bus, endpoint: "serial:///dev/ttyUSB0"}
devices:
  - id: em1
    kind: energy_meter
    source: bus
    address: "123456789012"
    signals:
      energy_kwh_total: {di: "00010000", counter: true}
      f: {di: "02800001", format: "XX.XX", scale: 2}
`)
	if err != nil {
		t.Fatal(err)
	}
	l := c.Line
	if l.BaudRate != 2400 || l.Parity != "even" || l.DataBits != 8 || l.StopBits != 1 || l.Network != "serial" || l.Address != "/dev/ttyUSB0" {
		t.Fatalf("line %+v", l)
	}
	d := c.Devices[0]
	if d.Address.String() != "123456789012" || d.PollInterval != DefaultPollInterval || len(d.Signals) != 2 {
		t.Fatalf("device %+v", d)
	}
	if s := d.Signals[0]; s.Field != "energy_kwh_total" || s.DI != 0x00010000 || s.Format.Digits != 0 {
		t.Fatalf("signal %+v", s)
	}
	if s := d.Signals[1]; s.DI != 0x02800001 || s.Format.String() != "XX.XX" || s.Conv.Scale != 2 {
		t.Fatalf("signal %+v", s)
	}
}

// TestSpecErrors: each mistake is reported at its YAML path with the value.
func TestSpecErrors(t *testing.T) {
	for _, tc := range []struct{ src, dev, want string }{
		{`{name: bus, endpoint: "com1"}`, `address: "123456789012"
    signals: {e: {di: "00010000"}}`,
			`sources.dlt645[0].endpoint: invalid endpoint "com1": want serial:///dev/ttyUSB0 or tcp://host:port`},
		{`{name: bus, endpoint: "serial:///dev/ttyS1", baud_rate: 2401}`, `address: "123456789012"
    signals: {e: {di: "00010000"}}`,
			`sources.dlt645[0].baud_rate: invalid baud rate 2401: want one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400`},
		{`{name: bus, endpoint: "serial:///dev/ttyS1"}`, `signals: {e: {di: "00010000"}}`,
			`devices[0].address: required`},
		{`{name: bus, endpoint: "serial:///dev/ttyS1"}`, `address: "12345678901"
    signals: {e: {di: "00010000"}}`,
			`devices[0].address: invalid meter address "12345678901": want 12 decimal digits`},
		{`{name: bus, endpoint: "serial:///dev/ttyS1"}`, `address: "123456789012"
    signals: {e: {di: "0001000X"}}`,
			`devices[0].signals.e.di: invalid data identifier "0001000X": want 8 hex digits, e.g. "00010000"`},
		{`{name: bus, endpoint: "serial:///dev/ttyS1"}`, `address: "123456789012"
    signals: {e: {di: "04000401"}}`,
			`devices[0].signals.e.di: data identifier 04000401 has no known format: give the signal a format, e.g. "XXXXXX.XX"`},
		{`{name: bus, endpoint: "serial:///dev/ttyS1"}`, `address: "123456789012"
    signals: {e: {di: "04000401", format: "XXX"}}`,
			`devices[0].signals.e.format: invalid format "XXX": want X digits with an optional '.' and a leading '-' for signed values, e.g. "XXXXXX.XX" or "-XXX.XXX", an even count of 2 to 16 digits`},
		{`{name: bus, endpoint: "serial:///dev/ttyS1"}`, `address: "123456789012"
    signals: {e: {node: "x"}}`,
			`devices[0].signals.e.node: unknown key`},
		{`{name: bus, endpoint: "serial:///dev/ttyS1"}`, `address: "123456789012"
    signals: {e: {unit: kWh}}`,
			`devices[0].signals.e.di: required: the data identifier, e.g. "00010000" (total forward active energy)`},
		{`{name: bus, endpoint: "serial:///dev/ttyS1"}`, `address: "123456789012"
    poll_interval: 5ms
    signals: {e: {di: "00010000"}}`,
			`devices[0].poll_interval: invalid interval 5ms: want at least 10ms`},
		{`{name: bus, endpoint: "serial:///dev/ttyS1"}`, `address: "123456789012"
    signals: {e: {di: "00010000", map: {"1": 2}}}`,
			`devices[0].signals.e.map: not applicable to dlt645 signals`},
	} {
		_, err := load(t, "sources:\n  dlt645:\n    - "+tc.src+"\ndevices:\n  - id: em1\n    kind: energy_meter\n    source: bus\n    "+tc.dev+"\n")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s / %s:\n got %v\nwant %s", tc.src, tc.dev, err, tc.want)
		}
	}
	// Two meters with one address on one bus.
	_, err := load(t, `
sources:
  dlt645:
    - {name: bus, endpoint: "tcp://10.0.0.5:8234"}
devices:
  - {id: em1, kind: energy_meter, source: bus, address: "000000000001", signals: {e: {di: "00010000"}}}
  - {id: em2, kind: energy_meter, source: bus, address: "000000000001", signals: {e: {di: "00010000"}}}
`)
	if want := `devices[1].address: duplicate meter address 000000000001 (also devices[0]): two meters on one bus need distinct addresses`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %s", err, want)
	}
}

// TestTemplate loads configs/dlt645-meter.example.yaml: every key it sets shows in the
// built Config (the polling test runs it against simulated meters).
func TestTemplate(t *testing.T) {
	raw, err := os.ReadFile("../../configs/dlt645-meter.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := load(t, string(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Line.String(); got != "serial:///dev/ttyUSB0 2400 8E1" {
		t.Fatalf("line %s", got)
	}
	if c.Line.ResponseTimeout.String() != "500ms" {
		t.Fatalf("timeout %s", c.Line.ResponseTimeout)
	}
	d := c.Devices[0]
	if d.Address.String() != "000012345678" || d.PollInterval.String() != "10s" {
		t.Fatalf("device %+v", d)
	}
	var got []string
	for _, s := range d.Signals {
		got = append(got, s.Field+"="+s.DI.String())
	}
	want := "current_l1_a=02020100 current_l2_a=02020200 current_l3_a=02020300 energy_kwh_total=00010000 frequency_hz=02800002 " +
		"power_factor=02060000 power_kw=02030000 voltage_l1_v=02010100 voltage_l2_v=02010200 voltage_l3_v=02010300"
	if strings.Join(got, " ") != want {
		t.Fatalf("signals\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}
