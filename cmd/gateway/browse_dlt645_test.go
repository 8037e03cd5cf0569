package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/internal/devsim"
	"github.com/ganlink/ganlink/internal/testsrv"
)

func dlt645Bus(t *testing.T, addrs ...string) *devsim.DLT645Bus {
	t.Helper()
	var ms []*devsim.DLT645Meter
	for i, a := range addrs {
		m, err := devsim.NewDLT645Meter(devsim.DLT645MeterConfig{Address: a, BaseKW: 3.3 * float64(i+1), EnergyKWh: 1234.56})
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	b, err := devsim.NewDLT645Bus(nil, ms...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func serveDLT645(t *testing.T, f func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestBrowseDLT645Broadcast reads the address of the only meter on a pty bus and prints
// its configuration, which validates.
func TestBrowseDLT645Broadcast(t *testing.T) {
	pp := testsrv.StartPtyPair(t)
	bus := dlt645Bus(t, "123456789012")
	serveDLT645(t, func(ctx context.Context) { _ = bus.ServeSerial(ctx, pp.B) })
	var out, errOut bytes.Buffer
	if code := browseCmd([]string{"-protocol", "dlt645", "serial://" + pp.A, "-timeout", "1s"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	want := `# 1 DL/T 645-2007 meter(s) found on serial://` + pp.A + `
sources:
  dlt645:
    - name: "meters-645"
      endpoint: "serial://` + pp.A + `"
      baud_rate: 2400
      response_timeout: 1s
devices:
  - id: em-645-1
    kind: energy_meter
    class: meter
    source: "meters-645"
    address: "123456789012"
    signals:
      energy_kwh_total:
        di: "00010000"  # total forward active energy, read 1234.56
        role: energy_kwh_total
        counter: true
        unit: kWh
      voltage_l1_v:
        di: "02010100"  # phase A voltage, read 220
        unit: V
      voltage_l2_v:
        di: "02010200"  # phase B voltage, read 220
        unit: V
      voltage_l3_v:
        di: "02010300"  # phase C voltage, read 220
        unit: V
      current_l1_a:
        di: "02020100"  # phase A current, read 5.263
        unit: A
      current_l2_a:
        di: "02020200"  # phase B current, read 5.263
        unit: A
      current_l3_a:
        di: "02020300"  # phase C current, read 5.263
        unit: A
      power_kw:
        di: "02030000"  # total active power, read 3.3
        role: power_kw
        unit: kW
      power_factor:
        di: "02060000"  # total power factor, read 0.95
      frequency_hz:
        di: "02800002"  # grid frequency, read 50
        unit: Hz
`
	if out.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	doc := `workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}` + "\n" + out.String()
	if _, err := config.Load([]byte(doc), func(string) (string, bool) { return "", false }, app.Kinds()); err != nil {
		t.Fatalf("emitted configuration does not validate: %v", err)
	}
}

// TestBrowseDLT645Addresses probes given addresses on a serial server with two meters:
// the absent third is left out.
func TestBrowseDLT645Addresses(t *testing.T) {
	bus := dlt645Bus(t, "000000000001", "000000000002")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveDLT645(t, func(ctx context.Context) { _ = bus.ServeTCP(ctx, l) })
	var out, errOut bytes.Buffer
	code := browseCmd([]string{"tcp://" + l.Addr().String(), "-protocol=dlt645", "-address", "000000000001,000000000003,000000000002",
		"-timeout", "500ms", "-source", "bus2", "-id-prefix", "m"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	got := out.String()
	for _, s := range []string{`address: "000000000001"`, `address: "000000000002"`, "- id: m1\n", "- id: m2\n",
		`source: "bus2"`, "# 2 DL/T 645-2007 meter(s) found on tcp://", `read 6.6`} {
		if !strings.Contains(got, s) {
			t.Fatalf("no %q in\n%s", s, got)
		}
	}
	if strings.Contains(got, "000000000003") {
		t.Fatalf("the absent meter is listed:\n%s", got)
	}
}

func TestBrowseDLT645Errors(t *testing.T) {
	pp := testsrv.StartPtyPair(t) // nobody answers on B
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-protocol", "dlt645", "serial://" + pp.A, "-timeout", "50ms"}, 1,
			"gateway browse: no meter answered on serial://" + pp.A + " (check wiring A/B, baud rate, parity; with several meters on the bus give -address)\n"},
		{[]string{"-protocol", "dlt645", "serial://" + pp.A, "-address", "12"}, 2,
			`gateway browse: -address: invalid meter address "12": want 12 decimal digits` + "\n"},
		{[]string{"-protocol", "dlt645", "com1"}, 1,
			`gateway browse: endpoint: invalid endpoint "com1": want serial:///dev/ttyUSB0 or tcp://host:port` + "\n"},
		{[]string{"-protocol", "dlt645", "serial://" + pp.A, "-baud-rate", "2401"}, 1,
			"gateway browse: baud_rate: invalid baud rate 2401: want one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400\n"},
		{[]string{"-protocol", "dlt645", "serial:///nonexistent/tty"}, 1,
			"gateway browse: line serial:///nonexistent/tty: open: open serial port: open /nonexistent/tty: no such file or directory\n"},
	} {
		var out, errOut bytes.Buffer
		if code := browseCmd(tc.args, &out, &errOut); code != tc.code || errOut.String() != tc.want {
			t.Errorf("%q: exit %d, stderr %q; want %d, %q", tc.args, code, errOut.String(), tc.code, tc.want)
		}
	}
}
