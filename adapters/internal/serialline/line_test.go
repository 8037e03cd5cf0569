package serialline

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ganlink/ganlink/gateway/config"
)

func TestCheckMessages(t *testing.T) {
	for _, tc := range []struct {
		line Line
		want string
	}{
		{Line{Endpoint: "serial:///dev/ttyUSB0"}, ""},
		{Line{Endpoint: "tcp://10.0.0.7:4001", BaudRate: 115200}, ""},
		{Line{Endpoint: "/dev/ttyUSB0"}, `endpoint: invalid endpoint "/dev/ttyUSB0": want serial:///dev/ttyUSB0 or tcp://host:port`},
		{Line{Endpoint: "serial://dev/ttyUSB0"}, `endpoint: invalid endpoint "serial://dev/ttyUSB0": a serial endpoint names an absolute device path: want serial:///dev/ttyUSB0 or tcp://host:port`},
		{Line{Endpoint: "tcp://10.0.0.7"}, `endpoint: invalid endpoint "tcp://10.0.0.7": a serial server needs its port: want serial:///dev/ttyUSB0 or tcp://host:port`},
		{Line{Endpoint: "tcp://10.0.0.7:0"}, `endpoint: invalid endpoint "tcp://10.0.0.7:0": port "0" is not 1..65535: want serial:///dev/ttyUSB0 or tcp://host:port`},
		{Line{Endpoint: "serial:///dev/ttyS1", BaudRate: 9601}, `baud_rate: invalid baud rate 9601: want one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400`},
		{Line{Endpoint: "serial:///dev/ttyS1", DataBits: 9}, `data_bits: invalid data bits 9: want 7 or 8`},
		{Line{Endpoint: "serial:///dev/ttyS1", Parity: "mark"}, `parity: invalid parity "mark": want none, even or odd`},
		{Line{Endpoint: "serial:///dev/ttyS1", StopBits: 3}, `stop_bits: invalid stop bits 3: want 1 or 2`},
		{Line{Endpoint: "serial:///dev/ttyS1", ResponseTimeout: time.Millisecond}, `response_timeout: invalid response timeout 1ms: want 10ms..10s`},
		{Line{Endpoint: "serial:///dev/ttyS1", TurnaroundDelay: time.Minute}, `turnaround_delay: invalid turnaround delay 1m0s: want 0s..10s`},
		{Line{Endpoint: "rs485:///dev/" + strings.Repeat("x", 100)}, `endpoint: invalid endpoint "rs485:///dev/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…": want serial:///dev/ttyUSB0 or tcp://host:port`},
	} {
		var got []string
		tc.line.Check(func(field, format string, a ...any) {
			got = append(got, field+": "+sprintf(format, a...))
		})
		if strings.Join(got, "\n") != tc.want {
			t.Errorf("%+v:\n got %q\nwant %q", tc.line, strings.Join(got, "\n"), tc.want)
		}
	}
}

func TestSpecLine(t *testing.T) {
	var s Spec
	if err := yaml.Unmarshal([]byte("endpoint: tcp://gw:4001\nparity: even\nstop_bits: 2\nresponse_timeout: soon\n"), &s); err != nil {
		t.Fatal(err)
	}
	ck := &config.Checker{}
	l := s.Line(ck, "sources.modbus[0]", "none")
	want := []string{
		`sources.modbus[0].response_timeout: invalid duration "soon": want e.g. "500ms", "1s", "5m"`,
		`sources.modbus[0].parity: not applicable to a tcp:// endpoint (a serial server): set it in the server`,
		`sources.modbus[0].stop_bits: not applicable to a tcp:// endpoint (a serial server): set it in the server`,
	}
	var got []string
	for _, p := range ck.Problems() {
		got = append(got, p.Path+": "+p.Msg)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("problems:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	s = Spec{Endpoint: "serial:///dev/ttyUSB0"}
	l = s.Line(&config.Checker{}, "p", "even")
	if l.BaudRate != 9600 || l.DataBits != 8 || l.Parity != "even" || l.StopBits != 1 ||
		l.ResponseTimeout != DefaultResponseTimeout || l.TurnaroundDelay != DefaultTurnaroundDelay {
		t.Fatalf("defaults: %+v", l)
	}
	l.Check(func(f, format string, a ...any) { t.Errorf("%s: %s", f, sprintf(format, a...)) })
	if l.Network != "serial" || l.Address != "/dev/ttyUSB0" || l.String() != "serial:///dev/ttyUSB0 9600 8E1" {
		t.Fatalf("parsed: %q %q %q", l.Network, l.Address, l.String())
	}
}

func TestTiming(t *testing.T) {
	for _, tc := range []struct {
		baud   int
		parity string
		stop   int
		char   time.Duration
		gap    time.Duration
		wire8  time.Duration
	}{
		// 8E1: 11 bits a character; 9600 baud: 1145.833 µs, 3.5 characters 4010.416 µs.
		{9600, "even", 1, 1145833 * time.Nanosecond, 4010416 * time.Nanosecond, 9166666 * time.Nanosecond},
		// 8N1: 10 bits.
		{9600, "none", 1, 1041666 * time.Nanosecond, 3645833 * time.Nanosecond, 8333333 * time.Nanosecond},
		{19200, "none", 2, 572916 * time.Nanosecond, 2005208 * time.Nanosecond, 4583333 * time.Nanosecond},
		// Above 19 200 baud the gap is the fixed 1.75 ms.
		{38400, "even", 1, 286458 * time.Nanosecond, 1750 * time.Microsecond, 2291666 * time.Nanosecond},
		{115200, "none", 1, 86805 * time.Nanosecond, 1750 * time.Microsecond, 694444 * time.Nanosecond},
	} {
		l := Line{BaudRate: tc.baud, DataBits: 8, Parity: tc.parity, StopBits: tc.stop}
		if l.CharTime() != tc.char || l.FrameGap() != tc.gap || l.WireTime(8) != tc.wire8 {
			t.Errorf("%d %s %d: char %v gap %v wire(8) %v, want %v %v %v", tc.baud, tc.parity, tc.stop,
				l.CharTime(), l.FrameGap(), l.WireTime(8), tc.char, tc.gap, tc.wire8)
		}
	}
}
