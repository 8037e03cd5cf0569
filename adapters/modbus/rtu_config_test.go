package modbus

import (
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/config"
)

// TestRTUConfigKeys loads sources.modbus sections with the serial keys through the
// configuration loader (as gateway validate and the gateway do) and checks the Config
// built or the exact problems.
func TestRTUConfigKeys(t *testing.T) {
	const devs = `
devices:
  - id: em1
    kind: energy_meter
    class: meter
    source: bus1
    unit_id: 7
    signals:
      energy_kwh_total: {register: {area: holding, address: 0, type: float32}, counter: true, unit: kWh}
`
	load := func(src string) (Config, string) {
		doc := `workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}` + "\nsources:\n  modbus:\n    - name: bus1\n" + src + devs
		cfg, err := config.Load([]byte(doc), func(string) (string, bool) { return "", false }, config.Kinds{Kind})
		if err != nil {
			return Config{}, err.Error()
		}
		s := cfg.Sources.Of(Kind.Name())[0]
		c, errs := BuildConfig(s, cfg.DevicesOf(s.Name()), &cfg.Workshop)
		if errs != nil {
			return c, errs.Error()
		}
		return c, ""
	}
	c, errs := load("      endpoint: serial:///dev/ttyUSB0\n      baud_rate: 19200\n      parity: even\n      response_timeout: 300ms\n")
	if errs != "" {
		t.Fatal(errs)
	}
	if !c.RTU() || c.Line.BaudRate != 19200 || c.Line.Parity != "even" || c.Line.DataBits != 8 || c.Line.StopBits != 1 ||
		c.Line.ResponseTimeout != 300*time.Millisecond || c.Line.TurnaroundDelay != 100*time.Millisecond || c.Devices[0].UnitID != 7 {
		t.Fatalf("config %+v", c)
	}
	c, errs = load("      endpoint: tcp://10.0.0.9:4001\n      framing: rtu\n")
	if errs != "" || !c.RTU() || c.Line.Parity != "none" || c.Line.BaudRate != 9600 {
		t.Fatalf("rtu over tcp: %q %+v", errs, c)
	}
	for _, tc := range []struct{ src, want string }{
		{"      endpoint: serial:///dev/ttyUSB0\n      baud_rate: 9601\n      parity: space\n      stop_bits: 3\n      data_bits: 5\n",
			strings.Join([]string{
				"line 6: sources.modbus[0].baud_rate: invalid baud rate 9601: want one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400",
				`line 7: sources.modbus[0].parity: invalid parity "space": want none, even or odd`,
				"line 8: sources.modbus[0].stop_bits: invalid stop bits 3: want 1 or 2",
				"line 9: sources.modbus[0].data_bits: invalid data bits 5: want 7 or 8"}, "\n")},
		{"      endpoint: serial:///dev/ttyUSB0\n      timeout: 2s\n",
			"line 6: sources.modbus[0].timeout: not applicable to RTU framing: use response_timeout"},
		{"      endpoint: serial:///dev/ttyUSB0\n      framing: tcp\n",
			`line 6: sources.modbus[0].framing: Modbus TCP needs a tcp:// endpoint, not "serial:///dev/ttyUSB0"`},
		{"      endpoint: tcp://10.0.0.9:502\n      framing: ascii\n",
			`line 6: sources.modbus[0].framing: invalid framing "ascii": want tcp or rtu`},
		{"      endpoint: tcp://10.0.0.9:502\n      baud_rate: 9600\n      response_timeout: 1s\n",
			"line 6: sources.modbus[0].baud_rate: not applicable to Modbus TCP: set framing: rtu for a serial server\n" +
				"line 7: sources.modbus[0].response_timeout: not applicable to Modbus TCP: set framing: rtu for a serial server"},
		{"      endpoint: tcp://10.0.0.9:4001\n      framing: rtu\n      parity: even\n",
			"line 7: sources.modbus[0].parity: not applicable to a tcp:// endpoint (a serial server): set it in the server"},
		{"      endpoint: tcp://10.0.0.9\n      framing: rtu\n",
			`line 5: sources.modbus[0].endpoint: invalid endpoint "tcp://10.0.0.9": a serial server needs its port: want serial:///dev/ttyUSB0 or tcp://host:port`},
		{"      endpoint: serial:///dev/ttyUSB0\n      response_timeout: 20s\n      turnaround_delay: soon\n",
			"line 6: sources.modbus[0].response_timeout: invalid response timeout 20s: want 10ms..10s\n" +
				"line 7: sources.modbus[0].turnaround_delay: invalid duration \"soon\": want e.g. \"500ms\", \"1s\", \"5m\""},
	} {
		if _, got := load(tc.src); got != tc.want {
			t.Errorf("%s\n got %s\nwant %s", tc.src, got, tc.want)
		}
	}
}
