package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"github.com/ganlink/ganlink/gateway/app"
	"io"
	"strconv"
	"time"

	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/deadletter"
)

const deadLettersUsage = `usage: gateway dead-letters [-config FILE | -dir DIR] [-source NAME] [-json]

Lists the dead letters: per source, the last inputs that produced a signal error (an
MQTT payload, a Modbus register block), as the device sent them, with the time, the
device, the topic or register range and the first error. The gateway keeps them in
dead_letters.dir (default ganlink-data/dead-letters); this command reads that directory
whether the gateway runs or not. docs/operations.md says what to do about them.`

// deadLettersCmd implements `gateway dead-letters`.
func deadLettersCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway dead-letters", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "gateway configuration file: its dead_letters.dir")
	dir := fs.String("dir", "", "dead-letter directory (default the configuration's, or ganlink-data/dead-letters)")
	source := fs.String("source", "", "only this source")
	asJSON := fs.Bool("json", false, "print JSON (one array, oldest first) instead of text")
	fs.Usage = func() {
		fmt.Fprintln(stderr, deadLettersUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gateway dead-letters: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *cfgPath != "" && *dir != "" {
		fmt.Fprintln(stderr, "gateway dead-letters: set -config or -dir, not both")
		return 2
	}
	var cfg config.Config
	cfg.ApplyDefaults()
	if *cfgPath != "" {
		c, err := app.LoadConfig(*cfgPath)
		if err != nil {
			fmt.Fprintf(stderr, "gateway dead-letters: %v\n", err)
			return 1
		}
		cfg = *c
	}
	if *dir != "" {
		cfg.DeadLetters.Dir = *dir
	}
	all, err := deadletter.Read(cfg.DeadLetters.Dir)
	if err != nil {
		fmt.Fprintf(stderr, "gateway dead-letters: %v\n", err)
	}
	var list []deadletter.Entry
	for _, src := range deadletter.Sources(all) {
		if *source == "" || src == *source {
			list = append(list, all[src]...)
		}
	}
	switch {
	case *asJSON:
		if list == nil {
			list = []deadletter.Entry{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(list); err != nil {
			return 1
		}
	case len(list) == 0:
		fmt.Fprintf(stdout, "no dead letters in %s\n", cfg.DeadLetters.Dir)
	default:
		for _, e := range list {
			printDeadLetter(stdout, e)
		}
	}
	if err != nil {
		return 1
	}
	return 0
}

// printDeadLetter writes one entry as text: a header line, the error and the payload.
func printDeadLetter(w io.Writer, e deadletter.Entry) {
	who := e.Source
	if e.Device != "" {
		who += "/" + e.Device
	}
	fmt.Fprintf(w, "%s  %s  %s  %s", e.Time.Local().Format(time.DateTime), who, strconv.Quote(e.Origin), e.Reason)
	if e.Problems > 1 {
		fmt.Fprintf(w, " (+%d more problems)", e.Problems-1)
	}
	fmt.Fprintf(w, "\n  error:   %s\n", e.Error)
	if e.PayloadBase64 != "" {
		fmt.Fprintf(w, "  payload: base64 %s", e.PayloadBase64)
	} else {
		fmt.Fprintf(w, "  payload: %s", strconv.Quote(e.Payload))
	}
	if e.Truncated {
		fmt.Fprintf(w, " (first bytes of %d)", e.PayloadBytes)
	}
	fmt.Fprintln(w)
}
