// Command gateway is the Ganlink edge gateway.
//
//	gateway -config FILE        run the gateway
//	gateway -demo               run a simulated workshop, a broker and the gateway in one process
//	gateway validate [-q] FILE  check a configuration; prints every error with its line,
//	                            then the warnings and the KPI plan (-q: errors only)
//	gateway tail -config FILE [device ...]
//	                            print every incoming value; writes nothing
//	gateway browse ENDPOINT     print an OPC UA server's address space, or device YAML
//	gateway pki COMMAND         list, trust and untrust OPC UA certificates
//	gateway dead-letters        list the inputs kept because they could not be fully used
//	gateway correct add|revoke|list
//	                            record, revoke and list corrections (docs/corrections.md)
//
// SIGHUP reloads the configuration file: a bad file is rejected and logged, the running
// gateway carries on; a good one takes effect without losing queued data. A write
// through the admin API (an engineer on the commissioning page) reloads the same way.
//
// -cpuprofile FILE writes a pprof CPU profile of the whole run, from start-up until
// shutdown, for `go tool pprof`.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	_ "time/tzdata" // KPI windows need Asia/Shanghai even on boxes without tzdata

	"github.com/ganlink/ganlink/gateway/admin"
	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/internal/cli"
	"github.com/ganlink/ganlink/internal/fsread"
)

// version is set at release build time: -ldflags "-X main.version=v1.2.3".
var version = ""

// versionString reports the release version, or the module version and VCS revision.
func versionString() string { return cli.Version("gateway", version) }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "validate" {
		return validate(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "tail" {
		return tailCmd(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "browse" {
		return browseCmd(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "pki" {
		return pkiCmd(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "correct" {
		return correctCmd(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "dead-letters" {
		return deadLettersCmd(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	format := fs.String("log-format", "text", "log format: text or json")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (pprof) of the run to this file")
	showVersion := fs.Bool("version", false, "print the version and exit")
	demo := fs.Bool("demo", false, "run the demo: simulated workshop, embedded MQTT broker and gateway in one process")
	dc := demoFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gateway -config FILE [-log-level info] [-log-format text] [-cpuprofile FILE]\n       gateway -demo [-listen ADDR] [-data-dir DIR] [-influx-url URL ...]\n       gateway validate [-q] FILE\n       gateway tail -config FILE [device ...]\n       gateway browse ENDPOINT [flags]\n       gateway pki [-config FILE] list|trust FILE|untrust THUMBPRINT|init\n       gateway dead-letters [-config FILE | -dir DIR] [-source NAME] [-json]\n       gateway correct add|revoke|list -config FILE [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, versionString())
		return 0
	}
	if msg := demoFlagProblem(fs, *demo, *cfgPath != ""); msg != "" {
		fmt.Fprintln(stderr, "gateway:", msg)
		return 2
	}
	if *cfgPath == "" && !*demo {
		fs.Usage()
		return 2
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		fmt.Fprintln(stderr, "gateway:", err)
		return 2
	}
	if *demo {
		return runDemo(dc, log, stdout)
	}
	app.BeginStartup() // until App.Run has started: see there
	cfg, err := app.LoadConfig(*cfgPath)
	if err != nil {
		printConfigErrors(stderr, *cfgPath, err)
		return 1
	}
	logConfigWarnings(log, *cfgPath, cfg)
	if *cpuProfile != "" {
		stopProfile, err := startCPUProfile(*cpuProfile)
		if err != nil {
			log.Error("start cpu profile", "err", err)
			return 1
		}
		defer func() {
			if err := stopProfile(); err != nil {
				log.Error("write cpu profile", "err", err)
			}
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := serve(ctx, *cfgPath, cfg, hup, log); err != nil {
		var probs config.Errors
		if errors.As(err, &probs) {
			printConfigErrors(stderr, *cfgPath, probs) // refused at start as gateway validate refuses it
		}
		log.Error("gateway failed", "err", err)
		return 1
	}
	return 0
}

// serve runs the gateway until ctx is done. On SIGHUP, or when the admin API asks
// (after it wrote the file), it reloads the configuration, both the same way: a file
// with errors is rejected (every problem logged) and the running gateway carries on; a
// valid one replaces it by a graceful restart inside the process — sources stop, queues
// and KPI windows are saved, and the new gateway reopens them, so queued data and open
// windows carry over while devices and sources follow the new file. A new configuration
// that cannot start (its admin port taken, say) is reported and the previous one is
// started again. The admin state (sessions, the reloads' outcome) is kept here, so it
// outlives the restart; GET /api/reload reports each reload's outcome.
func serve(ctx context.Context, path string, cfg *config.Config, hup <-chan os.Signal, log *slog.Logger) error {
	state := admin.NewState()
	state.Reloads = admin.NewReloads()
	reloads := state.Reloads
	prev := cfg
	reloadID, reloadSum := 0, "" // the reload whose configuration is being started
	for {
		a, err := app.Build(cfg, log, app.Options{Version: cli.ShortVersion(version), AdminState: state, ConfigPath: path})
		if err != nil {
			if cfg == prev {
				if reloadID != 0 {
					reloads.Done(reloadID, reloadSum, fmt.Errorf("the previous configuration failed to start again: %w", err))
				}
				return fmt.Errorf("start gateway: %w", err)
			}
			log.Error("new configuration cannot start; keeping the previous one", "file", path, "err", err)
			reloads.Done(reloadID, reloadSum, fmt.Errorf("the new configuration cannot start; the previous one runs: %w", err))
			reloadID = 0
			cfg = prev
			continue
		}
		if cfg != prev {
			reloads.Done(reloadID, reloadSum, nil)
			reloadID = 0
		}
		prev = cfg
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- a.Run(runCtx) }()
		var next *config.Config
		for next == nil {
			trigger := admin.TriggerSIGHUP
			select {
			case err := <-done:
				cancel()
				return err
			case <-hup:
			case <-reloads.C():
				trigger = admin.TriggerAPI
			}
			id := reloads.Begin(trigger)
			newCfg, sum, err := loadForReload(path)
			if err != nil {
				var b strings.Builder
				printConfigErrors(&b, path, err)
				msg := strings.TrimSpace(b.String())
				log.Error("configuration reload rejected; the running configuration stays", "file", path,
					"errors", msg, "trigger", trigger)
				reloads.Done(id, sum, errors.New("configuration rejected; the running configuration stays: "+msg))
				continue
			}
			log.Info("configuration reloaded; restarting the gateway's components", "file", path,
				"devices", len(newCfg.Devices), "trigger", trigger)
			logConfigWarnings(log, path, newCfg)
			next, reloadID, reloadSum = newCfg, id, sum
		}
		cancel()
		if err := <-done; err != nil {
			return err
		}
		cfg = next
	}
}

// loadForReload reads and checks the file as the gateway runs it, and returns its
// SHA-256 (hex) for the reload's report.
func loadForReload(path string) (*config.Config, string, error) {
	data, err := fsread.ReadRegular(path, fsread.MaxConfig)
	if err != nil {
		return nil, "", fmt.Errorf("read config %q: %w", path, fsread.Reason(err))
	}
	sum := sha256.Sum256(data)
	cfg, err := app.LoadConfigData(data)
	return cfg, hex.EncodeToString(sum[:]), err
}

// startCPUProfile starts profiling into path; the returned function stops it and
// closes the file.
func startCPUProfile(path string) (func() error, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create %q: %w", path, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("profile into %q: %w", path, err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("close %q: %w", path, err)
		}
		return nil
	}, nil
}

func validate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quiet := fs.Bool("q", false, "print errors only: no KPI plan, no warnings")
	if fs.Parse(args) != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: gateway validate [-q] FILE")
		return 2
	}
	v := app.ValidateFile(fs.Arg(0))
	return v.Print(stdout, stderr, fs.Arg(0), *quiet)
}

// printConfigErrors prints "FILE:LINE: path: message" for every problem, as gateway
// validate does.
func printConfigErrors(w io.Writer, path string, err error) {
	v := app.ValidationOf(err)
	v.PrintErrors(w, path)
}

// logConfigWarnings logs the warnings of a configuration just loaded.
func logConfigWarnings(log *slog.Logger, path string, cfg *config.Config) {
	for _, w := range cfg.Warnings {
		log.Warn(w.Msg, "file", path, "line", w.Line, "key", w.Path)
	}
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	return cli.NewLogger(w, level, format)
}
