package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/ganlink/ganlink/adapters/modbus"
)

const browseModbusUsage = `usage: gateway browse serial:///dev/ttyUSB0 [flags]
       gateway browse tcp://HOST:PORT [-framing rtu] [flags]

Scans a Modbus bus for commissioning: every unit id of -units is asked for holding
register 0 with a short timeout; units that answer (with data or an exception) are
listed, and probed for the voltage register of the meter templates in configs/. On a
serial:// endpoint and on a tcp:// endpoint with -framing rtu (a serial server in
transparent mode) the frames are Modbus RTU; otherwise Modbus TCP (units behind a
Modbus TCP gateway). With -emit-config it prints the source and device YAML instead.`

// isModbusBrowse reports whether the browse arguments name a Modbus endpoint
// (serial:// or tcp://) rather than an OPC UA one.
func isModbusBrowse(args []string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, "serial://") || strings.HasPrefix(a, "tcp://") {
			return true
		}
	}
	return false
}

// browseModbusCmd implements `gateway browse` on a Modbus endpoint.
func browseModbusCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway browse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o modbus.ScanOptions
	fs.StringVar(&o.Framing, "framing", "", "tcp or rtu (default rtu on serial://, tcp on tcp://)")
	fs.IntVar(&o.Line.BaudRate, "baud-rate", modbus.DefaultScanBaudRate, "baud rate of the serial line")
	fs.StringVar(&o.Line.Parity, "parity", modbus.DefaultScanParity, "parity: none, even or odd")
	fs.IntVar(&o.Line.DataBits, "data-bits", modbus.DefaultScanDataBits, "data bits: 7 or 8")
	fs.IntVar(&o.Line.StopBits, "stop-bits", modbus.DefaultScanStopBits, "stop bits: 1 or 2")
	timeout := fs.Duration("timeout", modbus.DefaultScanTimeout, "response timeout of each unit")
	units := fs.String("units", "1-247", "unit ids to scan: FIRST-LAST or one id")
	emit := fs.Bool("emit-config", false, "print source and device YAML for the units found")
	source := fs.String("source", "bus1", "name of the Modbus source in the emitted YAML")
	fs.Usage = func() {
		fmt.Fprintln(stderr, browseModbusUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		o.Endpoint = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return 2
		}
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gateway browse: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	first, last, err := modbus.ParseUnits(*units)
	if err != nil {
		fmt.Fprintf(stderr, "gateway browse: invalid -units %q: %v\n", *units, err)
		return 2
	}
	o.First, o.Last = first, last
	rtu := o.Framing == "rtu" || strings.HasPrefix(o.Endpoint, "serial://")
	if rtu {
		o.Line.ResponseTimeout = *timeout
		if strings.HasPrefix(o.Endpoint, "tcp://") { // set in the serial server
			o.Line.DataBits, o.Line.Parity, o.Line.StopBits = 0, "", 0
		}
	} else {
		o.Timeout = *timeout
		o.Line.BaudRate, o.Line.DataBits, o.Line.Parity, o.Line.StopBits = 0, 0, "", 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	found, err := modbus.Scan(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "gateway browse:", err)
		return 1
	}
	if *emit {
		writeModbusConfig(stdout, o, rtu, *source, *timeout, found)
		return 0
	}
	fmt.Fprintf(stdout, "%-5s %-40s %s\n", "UNIT", "HOLDING 0", "TEMPLATE")
	for _, r := range found {
		tmpl := ""
		switch {
		case r.Garbled:
			tmpl = "garbled answer: check baud rate, parity and wiring"
		case r.Template != "":
			tmpl = fmt.Sprintf("configs/modbus-%s.example.yaml (voltage %.1f V)", r.Template, r.Voltage)
		}
		fmt.Fprintf(stdout, "%-5d %-40s %s\n", r.Unit, r.Answer, tmpl)
	}
	fmt.Fprintf(stdout, "%d of %d unit ids answered\n", len(found), last-first+1)
	return 0
}

// writeModbusConfig prints the source section and one device per unit found: a unit
// that looks like a template's meter gets its voltage signal and a pointer to the
// template; one that answered holding 0 with data gets that register; the others are
// listed as comments, since their register map is unknown.
func writeModbusConfig(w io.Writer, o modbus.ScanOptions, rtu bool, source string, timeout fmt.Stringer, found []modbus.ScanResult) {
	q := strconv.Quote
	fmt.Fprintf(w, "# gateway browse %s: unit ids %d..%d, %d answered\n", o.Endpoint, o.First, o.Last, len(found))
	fmt.Fprintf(w, "sources:\n  modbus:\n    - name: %s\n      endpoint: %s\n", q(source), q(o.Endpoint))
	if rtu {
		if strings.HasPrefix(o.Endpoint, "tcp://") {
			fmt.Fprintf(w, "      framing: rtu\n      baud_rate: %d\n", o.Line.BaudRate)
		} else {
			fmt.Fprintf(w, "      baud_rate: %d\n      data_bits: %d\n      parity: %s\n      stop_bits: %d\n",
				o.Line.BaudRate, o.Line.DataBits, o.Line.Parity, o.Line.StopBits)
		}
		fmt.Fprintf(w, "      response_timeout: 500ms    # the scan used %s\n", timeout)
	}
	fmt.Fprintf(w, "\ndevices:\n")
	for _, r := range found {
		id := fmt.Sprintf("%s-u%d", source, r.Unit)
		switch {
		case r.Garbled:
			fmt.Fprintf(w, "  # unit %d: garbled answer (%s): check baud rate, parity and wiring\n", r.Unit, r.Answer)
		case r.Template != "":
			fmt.Fprintf(w, "  # unit %d looks like configs/modbus-%s.example.yaml (voltage %.1f V): copy its other signals\n",
				r.Unit, r.Template, r.Voltage)
			fmt.Fprintf(w, "  - id: %s\n    kind: energy_meter\n    class: meter\n    source: %s\n    unit_id: %d\n    signals:\n",
				q(id), q(source), r.Unit)
			if r.Template == "dtsu666" {
				fmt.Fprintf(w, "      voltage_l1_v: {register: {area: holding, address: 0x2006, type: float32}, scale: 0.1, unit: V}\n")
			} else {
				fmt.Fprintf(w, "      voltage_l1_v: {register: {area: input, address: 0x0000, type: float32}, unit: V}\n")
			}
		case strings.HasPrefix(r.Answer, "0x"):
			fmt.Fprintf(w, "  # unit %d: holding register 0 = %s; register map unknown: see configs/modbus-meters.md\n", r.Unit, r.Answer)
			fmt.Fprintf(w, "  - id: %s\n    kind: modbus_device\n    source: %s\n    unit_id: %d\n    signals:\n"+
				"      holding_0: {register: {area: holding, address: 0}}\n", q(id), q(source), r.Unit)
		default:
			fmt.Fprintf(w, "  # unit %d answered holding register 0 with %s; register map unknown: see configs/modbus-meters.md\n",
				r.Unit, r.Answer)
		}
	}
}
