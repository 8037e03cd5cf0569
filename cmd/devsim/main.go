// Command devsim simulates a workshop for the gateway: CNC machines over OPC UA and
// energy and water meters over MQTT, with the ground truth of what they did.
//
//	devsim [run] [flags]     serve the simulation on the wall clock
//	devsim config [flags]    print a gateway YAML for exactly the simulated devices
//	devsim truth [flags]     replay -duration from -start and print the truth windows
//
// The same model flags give the same devices in all three; -faults scripts meter
// counter faults (a step back, a replacement, an implausible jump). See package
// github.com/ganlink/ganlink/internal/devsim for the model and the truth rules.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // shift calendars in any zone without a system database

	"github.com/ganlink/ganlink/internal/devsim"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	workshop       string
	machines       int
	energyMeters   int
	waterMeters    int
	seed           int64
	start          string
	rate           time.Duration
	meterInterval  time.Duration
	shifts         string
	timezone       string
	partsStart     uint
	replaceProb    float64
	meterReading   float64
	faults         string
	timeScale      float64
	truthWindow    time.Duration
	truthRetention time.Duration
	records        int
	mqttClientID   string
	logLevel       string

	// run
	opcuaAddr                  string
	mqttBroker                 string
	httpAddr                   string
	truthFile                  string
	dlt645Serial, dlt645Listen string
	rtuSerial, rtuListen       string

	// config
	gw            devsim.GatewayOptions
	opcuaEndpoint string
	pubInterval   time.Duration

	// truth
	duration time.Duration
	window   time.Duration
}

func (o *options) register(fs *flag.FlagSet, cmd string) {
	d := devsim.DefaultConfig()
	fs.StringVar(&o.workshop, "workshop", d.Workshop, "workshop id (MQTT topics plant/<workshop>/meter/<id>)")
	fs.IntVar(&o.machines, "machines", d.Machines, "number of CNC machines (OPC UA)")
	fs.IntVar(&o.energyMeters, "energy-meters", d.EnergyMeters, "number of energy meters (MQTT)")
	fs.IntVar(&o.waterMeters, "water-meters", d.WaterMeters, "number of water meters (MQTT)")
	fs.Int64Var(&o.seed, "seed", d.Seed, "random seed: the same seed and steps give the same values")
	fs.StringVar(&o.start, "start", "", "simulation start, RFC 3339 (default: now)")
	fs.DurationVar(&o.rate, "rate", d.Rate, "step interval: how often values are updated")
	fs.DurationVar(&o.meterInterval, "meter-interval", d.MeterInterval, "meter report interval")
	fs.StringVar(&o.shifts, "shifts", devsim.FormatShifts(d.Shifts), "shift calendar, HH:MM-HH:MM,...; 00:00-24:00 works around the clock")
	fs.StringVar(&o.timezone, "timezone", "Asia/Shanghai", "IANA time zone of the shift calendar and day windows")
	fs.UintVar(&o.partsStart, "parts-start", 0, "initial PartsProducedInLifetime (UInt32; near 4294967295 to wrap early)")
	fs.Float64Var(&o.replaceProb, "replace-prob", d.MeterReplaceProb, "probability per meter report that the meter is replaced (counter restarts from 0)")
	fs.Float64Var(&o.meterReading, "meter-reading", 0, "initial reading of every meter, kWh or m³ (0: drawn per meter)")
	fs.StringVar(&o.faults, "faults", "", "scripted meter counter faults, METER@AFTER:KIND=VALUE,...; AFTER is the time after -start, KIND\n"+
		"stepback (VALUE: fraction of the reading, 0.005 = 0.5 %), replace (VALUE: the new meter's reading)\n"+
		"or jump (VALUE: added to the reading, kWh or m³); e.g. em1@3m:stepback=0.005,em2@3m:replace=0.3,em2@6m:jump=25")
	fs.Float64Var(&o.timeScale, "time-scale", d.TimeScale, "multiplies spell durations and cycle times (0.01: minutes become seconds)")
	fs.DurationVar(&o.truthWindow, "truth-window", d.TruthWindow, "ground-truth window (divides an hour)")
	fs.DurationVar(&o.truthRetention, "truth-retention", d.TruthRetention, "how long ground-truth windows are kept in memory (devices × retention ÷ window entries)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	switch cmd {
	case "run":
		fs.IntVar(&o.records, "records", 0, "keep this many produced values for /produced")
		fs.StringVar(&o.mqttClientID, "mqtt-client-id", "", `MQTT client id (default "devsim-<workshop>")`)
		fs.StringVar(&o.opcuaAddr, "opcua-addr", "127.0.0.1:4840", `OPC UA listen address ("" disables)`)
		fs.StringVar(&o.mqttBroker, "mqtt-broker", "tcp://127.0.0.1:1883", `MQTT broker URL ("" disables)`)
		fs.StringVar(&o.httpAddr, "http", "", `serve /truth, /produced, /stats and /faults as JSON on this address ("" disables)`)
		fs.StringVar(&o.truthFile, "truth", "", "append every final truth window to this file as JSON lines")
		fs.StringVar(&o.dlt645Serial, "dlt645-serial", "", `serve the energy meters as DL/T 645-2007 meters (addresses 000000000001, …) on this serial device, e.g. a socat pty ("" disables)`)
		fs.StringVar(&o.dlt645Listen, "dlt645-listen", "", `serve them as a serial server in transparent mode on this TCP address ("" disables)`)
		fs.StringVar(&o.rtuSerial, "rtu-serial", "", `serve the energy meters as Modbus RTU units 1, 2, … (DTSU666 registers) on this serial device, e.g. a socat pty ("" disables)`)
		fs.StringVar(&o.rtuListen, "rtu-listen", "", `serve them as RTU units behind a serial server in transparent mode on this TCP address ("" disables)`)
	case "config":
		g := devsim.DefaultGatewayOptions()
		o.gw = g
		fs.StringVar(&o.opcuaAddr, "opcua-addr", "127.0.0.1:4840", "the simulator's OPC UA address")
		fs.StringVar(&o.opcuaEndpoint, "opcua-endpoint", "", "OPC UA endpoint URL for the gateway (default opc.tcp://<opcua-addr>)")
		fs.DurationVar(&o.pubInterval, "publishing-interval", 0, "OPC UA publishing interval (default: -rate)")
		fs.StringVar(&o.gw.MQTTBroker, "mqtt-broker", g.MQTTBroker, "MQTT broker URL for the gateway")
		fs.StringVar(&o.gw.MQTTClientID, "gateway-client-id", "", `the gateway's MQTT client id (default "ganlink-<workshop>")`)
		fs.IntVar(&o.gw.Legacy, "legacy", 0, "number of legacy machines that send nothing")
		fs.StringVar(&o.gw.InfluxURL, "influx-url", g.InfluxURL, "TSDB write API URL")
		fs.StringVar(&o.gw.Bucket, "bucket", g.Bucket, "TSDB bucket")
		fs.StringVar(&o.gw.Org, "org", g.Org, "TSDB organisation")
		fs.StringVar(&o.gw.Token, "token", g.Token, "TSDB token")
		fs.StringVar(&o.gw.QueueDir, "queue-dir", g.QueueDir, "gateway queue directory")
		fs.StringVar(&o.gw.AdminListen, "admin", g.AdminListen, "gateway admin listen address")
		fs.StringVar(&o.gw.Region, "region", g.Region, "GB/T 2260 region code")
		fs.StringVar(&o.gw.Park, "park", g.Park, "industrial park id")
		fs.StringVar(&o.gw.Enterprise, "enterprise", g.Enterprise, "enterprise id")
		fs.StringVar(&o.gw.Name, "workshop-name", g.Name, "workshop display name")
		fs.Float64Var(&o.gw.UnitValueYuan, "unit-value", g.UnitValueYuan, "output value of one part, yuan")
		fs.Float64Var(&o.gw.EnergyMaxRate, "energy-max-rate", 0, "max_rate of the energy meters' kWh counters, kW (0: none)")
		fs.Float64Var(&o.gw.WaterMaxRate, "water-max-rate", 0, "max_rate of the water meters' m³ counters, m³/h (0: none)")
	case "truth":
		fs.DurationVar(&o.duration, "duration", time.Hour, "simulated time to replay")
		fs.DurationVar(&o.window, "window", time.Minute, "truth window to print (a multiple of -truth-window)")
	}
}

func (o *options) config(log *slog.Logger) (devsim.Config, error) {
	c := devsim.DefaultConfig()
	c.Workshop, c.Machines, c.EnergyMeters, c.WaterMeters = o.workshop, o.machines, o.energyMeters, o.waterMeters
	c.Seed, c.Rate, c.MeterInterval = o.seed, o.rate, o.meterInterval
	if err := devsim.CheckTimeScale(o.timeScale); err != nil {
		return c, err // 0 would silently mean the default in the Config
	}
	c.MeterReplaceProb, c.TimeScale, c.MeterReading = o.replaceProb, o.timeScale, o.meterReading
	faults, err := devsim.ParseFaults(o.faults)
	if err != nil {
		return c, err
	}
	c.Faults = faults
	c.TruthWindow, c.TruthRetention, c.RecordLimit = o.truthWindow, o.truthRetention, o.records
	c.MQTTClientID, c.Logger = o.mqttClientID, log
	if o.partsStart > 1<<32-1 {
		return c, fmt.Errorf("parse -parts-start: %d exceeds 4294967295", o.partsStart)
	}
	c.PartsStart = uint32(o.partsStart)
	shifts, err := devsim.ParseShifts(o.shifts)
	if err != nil {
		return c, err
	}
	c.Shifts = shifts
	loc, err := time.LoadLocation(o.timezone)
	if err != nil {
		return c, fmt.Errorf("load time zone %q: %w", o.timezone, err)
	}
	c.Location = loc
	if o.start != "" {
		t, err := time.Parse(time.RFC3339Nano, o.start)
		if err != nil {
			return c, fmt.Errorf("parse -start %q: %w", o.start, err)
		}
		c.Start = t
	}
	return c, c.Validate()
}

const usage = `usage: devsim [run|config|truth] [flags]

  run     serve the machines over OPC UA and publish the meters over MQTT (default)
  config  print a gateway YAML configuration for the simulated devices
  truth   replay -duration from -start offline and print truth windows as JSON lines

Scripted meter counter faults (all commands; the truth and /faults record them):
  -meter-reading 999.5 -faults em1@3m:stepback=0.005,em2@3m:replace=0.3,em2@6m:jump=25
steps em1 back 0.5 % at 3 minutes after -start, replaces em2 by a meter reading 0.3 and
adds 25 kWh to em2's reading at 6 minutes; "devsim config -energy-max-rate 30" gives the
gateway max_rate 30 (kW) on the kWh counters, so the jump is implausible to it.

Run "devsim <command> -h" for the flags of a command.
`

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run", "config", "truth":
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "devsim: unknown command %q\n%s", cmd, usage)
		return 2
	}
	fs := flag.NewFlagSet("devsim "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\nFlags of devsim %s:\n", usage, cmd)
		fs.PrintDefaults()
	}
	var o options
	o.register(fs, cmd)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "devsim %s: unexpected arguments %q\n", cmd, fs.Args())
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		fmt.Fprintf(stderr, "devsim: parse -log-level %q: %v\n", o.logLevel, err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg, err := o.config(log)
	if err != nil {
		fmt.Fprintf(stderr, "devsim %s: %v\n", cmd, err)
		return 2
	}
	switch cmd {
	case "config":
		err = writeConfig(stdout, cfg, &o)
	case "truth":
		err = replay(stdout, cfg, &o)
	default:
		err = serve(cfg, &o, log)
	}
	if err != nil {
		fmt.Fprintf(stderr, "devsim %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

func writeConfig(w io.Writer, cfg devsim.Config, o *options) error {
	g := o.gw
	g.Timezone = o.timezone
	g.OPCUAEndpoint = o.opcuaEndpoint
	if g.OPCUAEndpoint == "" {
		g.OPCUAEndpoint = "opc.tcp://" + o.opcuaAddr
	}
	g.PublishingInterval = o.pubInterval
	if g.PublishingInterval == 0 {
		g.PublishingInterval = cfg.Rate
	}
	return devsim.WriteGatewayConfig(w, cfg, g)
}

func replay(w io.Writer, cfg devsim.Config, o *options) error {
	sim, err := devsim.New(cfg)
	if err != nil {
		return err
	}
	start := sim.Config().Start
	sim.StepUntil(start.Add(o.duration))
	wins, err := sim.Truth(o.window)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	for _, wt := range wins {
		if err := enc.Encode(wt); err != nil {
			return fmt.Errorf("write truth: %w", err)
		}
	}
	return nil
}

func serve(cfg devsim.Config, o *options, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sim, err := devsim.New(cfg)
	if err != nil {
		return err
	}
	c := sim.Config()
	log.Info("devsim starting", "workshop", c.Workshop, "machines", c.Machines,
		"energy_meters", c.EnergyMeters, "water_meters", c.WaterMeters, "seed", c.Seed,
		"start", c.Start.In(c.Location), "rate", c.Rate, "shifts", devsim.FormatShifts(c.Shifts),
		"timezone", c.Location.String())
	err = sim.Serve(ctx, devsim.ServeOptions{
		OPCUAAddr:  o.opcuaAddr,
		MQTTBroker: o.mqttBroker,
		HTTPAddr:   o.httpAddr,
		TruthFile:  o.truthFile,

		DLT645Serial: o.dlt645Serial,
		DLT645Listen: o.dlt645Listen,
		RTUPort:      o.rtuSerial,
		RTUAddr:      o.rtuListen,
	})
	st := sim.Stats()
	log.Info("devsim stopped", "steps", st.Steps, "node_changes", st.NodeChanges,
		"mqtt_published", st.MQTTPublished, "mqtt_dropped", st.MQTTDropped)
	return err
}
