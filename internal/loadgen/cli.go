package loadgen

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Workload is one configured run: exactly one of MQTT and OPCUA is set.
type Workload struct {
	MQTT  *MQTTConfig
	OPCUA *OPCUAConfig
}

// Name is a short file-name-safe name, e.g. "mqtt-5000" or "opcua-10000x1s".
func (w Workload) Name() string {
	if w.MQTT != nil {
		return fmt.Sprintf("mqtt-%g", w.MQTT.Rate)
	}
	c := w.OPCUA.withDefaults()
	return fmt.Sprintf("opcua-%dx%s", c.Items, c.Interval)
}

// Run runs the workload.
func (w Workload) Run(ctx context.Context, env *Env, opts Options) (Result, error) {
	var res Result
	err := Catch(func() error {
		var err error
		if w.MQTT != nil {
			res, err = RunMQTT(ctx, env, *w.MQTT, opts)
		} else {
			res, err = RunOPCUA(ctx, env, *w.OPCUA, opts)
		}
		return err
	})
	return res, err
}

// Reference returns the reference workloads of issue 9, each running for d: MQTT
// meters at 3 000, 5 000 and 10 000 messages/s; OPC UA 10 000 items changing every
// second and 1 000 items every 100 ms.
func Reference(d time.Duration) []Workload {
	return []Workload{
		{MQTT: &MQTTConfig{Rate: 3000, Duration: d}},
		{MQTT: &MQTTConfig{Rate: 5000, Duration: d}},
		{MQTT: &MQTTConfig{Rate: 10000, Duration: d}},
		{OPCUA: &OPCUAConfig{Items: 10000, Interval: time.Second, Duration: d}},
		{OPCUA: &OPCUAConfig{Items: 1000, Interval: 100 * time.Millisecond, Duration: d}},
	}
}

const usage = `usage:
  loadgen mqtt  [-rate 5000] [-duration 30s] [-meters 1000] [-publishers 4] [common flags]
  loadgen opcua [-items 10000] [-interval 1s] [-publishing 0] [-duration 30s] [common flags]
  loadgen all   [-duration 30s] [common flags]       the five reference workloads of issue 9
  loadgen peers [-duration 30s] [common flags]       the four workloads of issue 16, every peer
  loadgen soak  [-duration 1h] [-rate 5000] [-items 10000] [-interval 1s] [-outage-at D] [-outage 5m] [-every 10s]
                                                     one gateway with both workloads and a TSDB outage
  loadgen floor mqtt|opcua -url SINK ...             the floor program (started by the harness)
common flags:
  -gateway PATH        gateway binary (default: "gateway" next to loadgen, else on PATH)
  -peers LIST          programs to run each workload through: ganlink,telegraf,floor
                       (default ganlink; "peers" mode: all three); with more than one,
                       a side-by-side table with ratios follows
  -telegraf PATH       Telegraf binary (scripts/loadtest.sh builds and caches 1.39.3)
  -runs N              run each workload N times (default 1)
  -profile-dir DIR     have the gateway write a CPU profile per run to DIR/<workload>-<run>.pprof
  -flush-interval D    the sink's flush_interval (default: the gateway's default)
  -gateway-log-dir DIR keep the gateway's log of each run in DIR/<workload>-<run>.log
  -assert-zero-loss    exit 1 when any run lost a field
  -v                   log progress to stderr
`

// Main is the loadgen command: it parses args, runs the workloads with real servers
// (stopped again before it returns, also when ctx is cancelled) and prints a Markdown
// table of the results to stdout. It returns the exit code: 0, 1 for a failed run or
// (with -assert-zero-loss) a loss, 2 for bad usage.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	mode := args[0]
	if mode == "floor" {
		return Floor(args[1:], stderr)
	}
	fs := flag.NewFlagSet("loadgen "+mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	duration := fs.Duration("duration", 30*time.Second, "load duration of each run")
	gateway := fs.String("gateway", "", "gateway binary")
	runs := fs.Int("runs", 1, "runs of each workload")
	profileDir := fs.String("profile-dir", "", "directory for the gateway's CPU profiles")
	logDir := fs.String("gateway-log-dir", "", "directory for the gateway's logs")
	flush := fs.Duration("flush-interval", 0, "sink flush_interval")
	memLimit := fs.String("gateway-memlimit", "", "the gateway's GOMEMLIMIT, e.g. 40MiB (default: none)")
	outageAt := fs.Duration("outage-at", 0, "MQTT: start a TSDB outage this long into the load")
	outage := fs.Duration("outage", 0, "MQTT: length of the TSDB outage (the write proxy answers 503); 0: none")
	assertZero := fs.Bool("assert-zero-loss", false, "exit 1 on any loss")
	peerList := fs.String("peers", "", "ganlink,telegraf,floor")
	telegraf := fs.String("telegraf", "", "Telegraf binary")
	verbose := fs.Bool("v", false, "log progress")
	var mq MQTTConfig
	var oc OPCUAConfig
	var sc SoakConfig
	switch mode {
	case "soak":
		fs.Float64Var(&sc.Rate, "rate", 5000, "MQTT messages per second")
		fs.IntVar(&sc.Items, "items", 10000, "OPC UA items")
		fs.DurationVar(&sc.Interval, "interval", time.Second, "OPC UA change interval")
		fs.DurationVar(&sc.Every, "every", 10*time.Second, "sampling interval of RSS and goroutines")
	case "mqtt":
		fs.Float64Var(&mq.Rate, "rate", 5000, "messages per second, all meters together")
		fs.IntVar(&mq.Meters, "meters", 1000, "meters (topics plant/ws1/meter/1..N)")
		fs.IntVar(&mq.Publishers, "publishers", 4, "publishing MQTT connections")
	case "opcua":
		fs.IntVar(&oc.Items, "items", 10000, "Double variables")
		fs.DurationVar(&oc.Interval, "interval", time.Second, "change (and sampling) interval")
		fs.DurationVar(&oc.Publishing, "publishing", 0, "publishing interval (default: half the change interval)")
	case "all", "peers":
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "loadgen: unknown mode %q\n%s", mode, usage)
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *runs < 1 {
		fs.Usage()
		return 2
	}
	if mode == "soak" {
		sc.Duration, sc.OutageAt, sc.Outage = time.Hour, *outageAt, *outage
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "duration" {
				sc.Duration = *duration
			}
		})
		return soakMain(ctx, sc, *gateway, *memLimit, *logDir, *verbose, stdout, stderr)
	}
	var workloads []Workload
	switch mode {
	case "mqtt":
		mq.Duration = *duration
		workloads = []Workload{{MQTT: &mq}}
	case "opcua":
		oc.Duration = *duration
		workloads = []Workload{{OPCUA: &oc}}
	case "peers":
		workloads = PeerWorkloads(*duration)
	default:
		workloads = Reference(*duration)
	}
	if *peerList == "" {
		*peerList = string(PeerGanlink)
		if mode == "peers" {
			*peerList = "ganlink,telegraf,floor"
		}
	}
	peers, err := ParsePeers(*peerList)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	for _, w := range workloads {
		var err error
		if w.MQTT != nil {
			err = w.MQTT.Validate()
		} else {
			err = w.OPCUA.Validate()
		}
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 2
		}
	}
	var bin string
	for _, p := range peers {
		switch p {
		case PeerGanlink:
			if bin, err = findGateway(*gateway); err != nil {
				fmt.Fprintln(stderr, "loadgen:", err)
				return 2
			}
		case PeerTelegraf:
			if _, err := os.Stat(*telegraf); *telegraf == "" || err != nil {
				fmt.Fprintln(stderr, "loadgen: peer telegraf needs -telegraf PATH to a Telegraf binary (scripts/loadtest.sh builds 1.39.3)")
				return 2
			}
		}
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	for _, d := range []string{*profileDir, *logDir} {
		if d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				fmt.Fprintln(stderr, "loadgen:", err)
				return 1
			}
		}
	}

	var results []Result
	code := 0
	for _, w := range workloads {
		for run := 1; run <= *runs; run++ {
			for _, peer := range peers {
				if ctx.Err() != nil {
					break
				}
				opts := Options{Peer: peer, Gateway: bin, Telegraf: *telegraf, FlushInterval: *flush, MemoryLimit: *memLimit,
					OutageAt: *outageAt, Outage: *outage, Log: log.With("workload", w.Name(), "run", run, "peer", peer)}
				name := fmt.Sprintf("%s-%d", w.Name(), run)
				if peer != PeerGanlink {
					name = fmt.Sprintf("%s-%s-%d", w.Name(), peer, run)
				}
				if *profileDir != "" && peer == PeerGanlink {
					opts.CPUProfile = filepath.Join(*profileDir, name+".pprof")
				}
				if *logDir != "" {
					opts.GatewayLog = filepath.Join(*logDir, name+".log")
				}
				res, err := runOnce(ctx, w, opts)
				if err != nil {
					fmt.Fprintf(stderr, "loadgen: %s run %d: %v\n", w.Name(), run, err)
					code = 1
					continue
				}
				opts.Log.Info("run done", "loss", res.Loss, "cpu_per_1m", res.CPUPerMillion(), "p99", res.P99)
				results = append(results, res)
				if *assertZero && res.Loss != 0 {
					fmt.Fprintf(stderr, "loadgen: %s run %d lost %d of %d fields\n", w.Name(), run, res.Loss, res.Produced)
					code = 1
				}
			}
		}
	}
	if len(results) > 0 {
		_ = WriteTable(stdout, results)
		fmt.Fprintln(stdout)
		_ = WriteDetails(stdout, results)
		if len(peers) > 1 {
			fmt.Fprintln(stdout)
			_ = WriteSideBySide(stdout, results)
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "loadgen: interrupted")
		return 1
	}
	return code
}

// soakMain runs the soak and prints its figures.
func soakMain(ctx context.Context, sc SoakConfig, gateway, memLimit, logDir string, verbose bool, stdout, stderr io.Writer) int {
	if err := sc.Validate(); err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	bin, err := findGateway(gateway)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	opts := Options{Gateway: bin, MemoryLimit: memLimit, Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))}
	if logDir != "" {
		if err := os.MkdirAll(logDir, 0o755); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
		opts.GatewayLog = filepath.Join(logDir, "soak.log")
	}
	env, err := NewEnv("")
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
	var res SoakResult
	err = Catch(func() error {
		var err error
		res, err = RunSoak(ctx, env, sc, opts)
		return err
	})
	err = errors.Join(err, env.Close())
	if err != nil {
		fmt.Fprintln(stderr, "loadgen: soak:", err)
		return 1
	}
	_ = WriteSoak(stdout, res)
	if res.MQTT.Loss != 0 || res.OPCUA.Loss != 0 {
		return 1
	}
	return 0
}

// PeerWorkloads returns the workloads of issue 16 that every peer runs, each for d:
// MQTT 1 000 meters at 5 000 and 10 000 messages/s, OPC UA 10 000 items changing every
// second and 1 000 items every 100 ms.
func PeerWorkloads(d time.Duration) []Workload {
	return Reference(d)[1:]
}

// runOnce runs w in a fresh Env, so every run starts its own servers and leaves
// nothing behind.
func runOnce(ctx context.Context, w Workload, opts Options) (Result, error) {
	env, err := NewEnv("")
	if err != nil {
		return Result{}, err
	}
	res, err := w.Run(ctx, env, opts)
	return res, errors.Join(err, env.Close())
}

// findGateway resolves the gateway binary: the flag, else "gateway" next to this
// executable, else on PATH.
func findGateway(flagValue string) (string, error) {
	if flagValue != "" {
		if _, err := os.Stat(flagValue); err != nil {
			return "", fmt.Errorf("gateway binary: %w", err)
		}
		return filepath.Abs(flagValue)
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "gateway")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("gateway"); err == nil {
		return p, nil
	}
	return "", errors.New(`gateway binary not found: build it (go build -o DIR/gateway ./cmd/gateway) and pass -gateway DIR/gateway`)
}
