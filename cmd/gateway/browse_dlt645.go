package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ganlink/ganlink/adapters/dlt645"
	"github.com/ganlink/ganlink/gateway/config"
)

const browseDLT645Usage = `usage: gateway browse -protocol dlt645 ENDPOINT [flags]

Finds DL/T 645-2007 meters on an RS-485 bus (ENDPOINT serial:///dev/ttyUSB0) or behind a
serial device server in transparent mode (tcp://host:port) and prints their
configuration: the sources.dlt645 section and one device per meter with the common data
items it answers, named and given roles as in configs/dlt645-meter.example.yaml.
Without -address it reads the address with the broadcast request, which needs a bus
with a single meter; with -address it probes the meters given.`

// wantsDLT645 reports whether browse arguments select the DL/T 645 protocol
// (-protocol dlt645, -protocol=dlt645, with one or two dashes).
func wantsDLT645(args []string) bool {
	for i, a := range args {
		switch strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-") {
		case "protocol=dlt645":
			return true
		case "protocol":
			if i+1 < len(args) && args[i+1] == "dlt645" {
				return true
			}
		}
	}
	return false
}

// browseDLT645 implements `gateway browse -protocol dlt645 ENDPOINT [flags]`.
func browseDLT645(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway browse -protocol dlt645", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("protocol", "dlt645", "dlt645")
	addrs := fs.String("address", "", "comma-separated 12-digit meter addresses to probe (default: broadcast read of the address, one meter on the bus)")
	baud := fs.Int("baud-rate", dlt645.DefaultBaudRate, "baud rate (serial port; on a serial server only the timing)")
	parity := fs.String("parity", "", "none, even or odd (default even; serial port only)")
	timeout := fs.Duration("timeout", 500*time.Millisecond, "response timeout per request")
	source := fs.String("source", "meters-645", "name of the dlt645 source in the emitted YAML")
	prefix := fs.String("id-prefix", "em-645-", "device ids in the emitted YAML: prefix followed by 1, 2, …")
	fs.Usage = func() {
		fmt.Fprintln(stderr, browseDLT645Usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var spec dlt645.SourceSpec
	if fs.NArg() > 0 {
		spec.Endpoint = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return 2
		}
	}
	switch {
	case spec.Endpoint == "":
		fs.Usage()
		return 2
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "gateway browse: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	spec.BaudRate, spec.Parity, spec.ResponseTimeout = *baud, *parity, config.Dur(*timeout)
	var list []dlt645.Address
	if *addrs != "" {
		for _, s := range strings.Split(*addrs, ",") {
			a, err := dlt645.ParseAddress(strings.TrimSpace(s))
			if err != nil {
				fmt.Fprintf(stderr, "gateway browse: -address: %v\n", err)
				return 2
			}
			list = append(list, a)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	found, err := dlt645.Discover(ctx, spec, list)
	if err != nil {
		fmt.Fprintln(stderr, "gateway browse:", err)
		return 1
	}
	if len(found) == 0 {
		fmt.Fprintf(stderr, "gateway browse: no meter answered on %s (check wiring A/B, baud rate, parity; with several meters on the bus give -address)\n", spec.Endpoint)
		return 1
	}
	if err := dlt645.EmitConfig(stdout, *source, spec, found, *prefix); err != nil {
		fmt.Fprintln(stderr, "gateway browse:", err)
		return 1
	}
	return 0
}
