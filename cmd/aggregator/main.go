// Command aggregator is the Ganlink cloud aggregator: 万千百十 programme progress and
// regional roll-ups for the provincial platform, from the gateways' KPI series.
//
//	aggregator -config FILE                 run (SIGHUP reloads the registry and tokens)
//	aggregator validate FILE                check a configuration, its registry and tokens
//	aggregator validate-registry FILE       check a registry and the CSV files it imports
//	aggregator token -name N -region CODE   make a bearer token and its tokens-file entry
//	aggregator correct add|revoke|list ...  record, revoke and list central corrections
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
	_ "time/tzdata" // Asia/Shanghai even on boxes without tzdata

	"github.com/ganlink/ganlink/gateway/aggregator"
	"github.com/ganlink/ganlink/gateway/aggregator/api"
	"github.com/ganlink/ganlink/gateway/aggregator/corrections"
	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/internal/cli"
)

// version is set at release build time: -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "validate":
			return validate(args[1:], stdout, stderr)
		case "validate-registry":
			return validateRegistry(args[1:], stdout, stderr)
		case "token":
			return token(args[1:], stdout, stderr)
		case "tsdb-access":
			return tsdbAccess(args[1:], stdout, stderr)
		case "init-secrets":
			return initSecrets(args[1:], stdout, stderr)
		case "correct":
			return correct(args[1:], time.Now(), stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("aggregator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	format := fs.String("log-format", "text", "log format: text or json")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: aggregator -config FILE [-log-level info] [-log-format text]\n"+
			"       aggregator validate FILE\n       aggregator validate-registry FILE\n"+
			"       aggregator token -name NAME -region CODE\n"+
			"       aggregator tsdb-access -registry FILE -backend URL -dir DIR\n"+
			"       aggregator init-secrets -registry FILE -backend URL -dir DIR\n"+
			"       aggregator correct add|revoke|list -config FILE ...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, cli.Version("aggregator", version))
		return 0
	}
	if *cfgPath == "" {
		fs.Usage()
		return 2
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		fmt.Fprintln(stderr, "aggregator:", err)
		return 2
	}
	cfg, err := aggregator.LoadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	a, err := aggregator.Build(cfg, log, aggregator.Options{})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	for {
		select {
		case <-hup:
			if err := a.Reload(); err != nil {
				log.Error("reload failed; previous registry and tokens kept", "err", err)
			} else {
				log.Info("registry and tokens reloaded")
			}
		case err := <-done:
			if err != nil {
				log.Error("aggregator failed", "err", err)
				return 1
			}
			return 0
		}
	}
}

func validate(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: aggregator validate FILE")
		return 2
	}
	cfg, err := aggregator.LoadConfig(args[0])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	bad := false
	if _, err := cfg.LoadRegistry(); err != nil {
		printRegistryErrors(stderr, err)
		bad = true
	}
	if _, err := api.LoadTokens(cfg.Path(cfg.TokensFile)); err != nil {
		fmt.Fprintln(stderr, err)
		bad = true
	}
	// The aggregator refuses to start with a corrections store it cannot read.
	if st, _, err := corrections.NewStore(cfg.CorrectionsPath()).Current(); err != nil {
		fmt.Fprintln(stderr, err)
		bad = true
	} else if st.Warning != "" {
		fmt.Fprintln(stderr, "warning:", st.Warning)
	}
	if bad {
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", args[0])
	return 0
}

func validateRegistry(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: aggregator validate-registry FILE")
		return 2
	}
	r, err := registry.Load(args[0])
	if err != nil {
		printRegistryErrors(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok: %d regions, %d parks, %d enterprises, %d workshops\n", args[0],
		len(r.Regions()), len(r.Parks()), len(r.Enterprises()), len(r.Workshops()))
	return 0
}

func printRegistryErrors(w io.Writer, err error) {
	var errs registry.Errors
	if !errors.As(err, &errs) {
		fmt.Fprintln(w, err)
		return
	}
	for _, p := range errs {
		fmt.Fprintln(w, p.Error())
	}
	fmt.Fprintf(w, "%d error(s)\n", len(errs))
}

func token(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("aggregator token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "token name (for logs)")
	region := fs.String("region", "", "GB/T 2260 code of the region the token may see")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *name == "" {
		fmt.Fprintln(stderr, "aggregator token: -name is required")
		return 2
	}
	if _, err := registry.CheckRegionCode(*region); err != nil {
		fmt.Fprintln(stderr, "aggregator token: -region:", err)
		return 2
	}
	tok, hash, err := api.NewToken()
	if err != nil {
		fmt.Fprintln(stderr, "aggregator:", err)
		return 1
	}
	fmt.Fprintf(stdout, "# Give this token to the client (it is not stored anywhere):\n#   %s\n", tok)
	fmt.Fprintf(stdout, "# Append this entry to the tokens file and send the aggregator SIGHUP:\n")
	fmt.Fprintf(stdout, "  - name: %q\n    sha256: %s\n    region: %q\n", *name, hash, *region)
	return 0
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	return cli.NewLogger(w, level, format)
}
