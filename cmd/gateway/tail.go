package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ganlink/ganlink/adapters/mqtt"
	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/point"
)

// tailCmd implements `gateway tail -config FILE [device...]`: it connects to the
// configured sources like the gateway but writes nothing anywhere, and prints every
// incoming value, its source time in the workshop's time zone, to check a new
// configuration against real equipment. A device named that the configuration does not
// have, or that has no source, is refused at once.
func tailCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML)")
	level := fs.String("log-level", "warn", "log level of the gateway's own messages")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gateway tail -config FILE [device ...]\n\nPrints every value the sources deliver (device, signal, quality, source time, value); writes nothing.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cfgPath == "" {
		fs.Usage()
		return 2
	}
	cfg, err := app.LoadConfig(*cfgPath)
	if err != nil {
		printConfigErrors(stderr, *cfgPath, err)
		return 1
	}
	log, err := newLogger(stderr, *level, "text")
	if err != nil {
		fmt.Fprintln(stderr, "gateway tail:", err)
		return 2
	}
	if msg := checkTailDevices(cfg, fs.Args()); msg != "" {
		fmt.Fprintln(stderr, "gateway tail:", msg)
		return 2
	}
	loc, err := time.LoadLocation(cfg.Workshop.Timezone) // validated by LoadConfig
	if err != nil {
		fmt.Fprintln(stderr, "gateway tail:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "ganlink-tail-")
	if err != nil {
		fmt.Fprintln(stderr, "gateway tail:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	prepareTail(cfg, tmp)
	pr := &tailPrinter{w: stdout, only: map[string]bool{}, loc: loc}
	for _, d := range fs.Args() {
		pr.only[d] = true
	}
	a, err := app.Build(cfg, log, app.Options{Processors: []app.Processor{pr}})
	if err != nil {
		fmt.Fprintln(stderr, "gateway tail:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := a.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "gateway tail:", err)
		return 1
	}
	return 0
}

// maxListedDevices bounds the device ids an unknown-device message lists.
const maxListedDevices = 10

// checkTailDevices returns why the devices named on the command line cannot be tailed
// (an id not in the configuration, a device without a source), or "".
func checkTailDevices(cfg *config.Config, ids []string) string {
	byID := map[string]*config.Device{}
	for i := range cfg.Devices {
		byID[cfg.Devices[i].ID] = &cfg.Devices[i]
	}
	for _, id := range ids {
		d, ok := byID[id]
		if !ok {
			known := make([]string, 0, maxListedDevices)
			for i := range cfg.Devices {
				if cfg.Devices[i].Source == "" {
					continue
				}
				if len(known) == maxListedDevices {
					known = append(known, "…")
					break
				}
				known = append(known, cfg.Devices[i].ID)
			}
			return fmt.Sprintf("unknown device %q: the configuration's devices with a source are %s", id, strings.Join(known, ", "))
		}
		if d.Source == "" {
			return fmt.Sprintf("device %q has no source: it delivers no values to show", id)
		}
	}
	return ""
}

// prepareTail turns a gateway configuration into a read-only one: no sinks, state
// and admin port of its own, and MQTT sessions that neither take over nor leave
// behind the running gateway's persistent session.
func prepareTail(cfg *config.Config, tmp string) {
	cfg.Sinks = config.Sinks{}
	cfg.Queue.Dir = filepath.Join(tmp, "queue")
	cfg.KPI.StateFile = filepath.Join(tmp, "kpi-state.json")
	cfg.Admin = config.Admin{Listen: "127.0.0.1:0"}
	for _, src := range cfg.Sources.List {
		if s, ok := src.Spec.(*mqtt.SourceSpec); ok {
			s.ClientID = s.ClientID + "-tail-" + strconv.Itoa(os.Getpid())
			s.CleanSession = true
		}
	}
}

// tailPrinter prints one line per field value.
type tailPrinter struct {
	mu   sync.Mutex
	w    io.Writer
	only map[string]bool
	loc  *time.Location // the workshop's time zone
	buf  []byte
}

// Process implements the pipeline's Processor.
func (p *tailPrinter) Process(b point.Batch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range b {
		pt := &b[i]
		if len(p.only) > 0 && !p.only[pt.Device] {
			continue
		}
		ts := time.Unix(0, pt.Time).In(p.loc).Format("2006-01-02T15:04:05.000Z07:00")
		for _, f := range pt.Fields {
			p.buf = p.buf[:0]
			p.buf = fmt.Appendf(p.buf, "%s  %-16s %-24s %-9s ", ts, pt.Device, f.Key, f.Quality)
			if f.Quality == point.Bad {
				p.buf = append(p.buf, '-')
			} else {
				p.buf = strconv.AppendFloat(p.buf, f.Value, 'g', -1, 64)
			}
			p.buf = append(p.buf, '\n')
			p.w.Write(p.buf)
		}
	}
}
