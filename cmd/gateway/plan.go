package main

import (
	"fmt"
	"io"

	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
)

// printPlan ends `gateway validate` for a configuration that loaded: "FILE: ok" and
// its KPI plan, one line per device saying what it will produce and why not, on
// stdout, and the plan's warnings ("FILE: warning: ...") on stderr
// (docs/configuration.md, "The KPI plan"); quiet prints errors only. It returns 1 when
// the plan cannot be made (the gateway would refuse to start), else 0.
func printPlan(stdout, stderr io.Writer, path string, cfg *config.Config, quiet bool) int {
	plans, warn, err := app.KPIPlan(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n1 error(s)\n", path, err)
		return 1
	}
	if quiet {
		return 0
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stderr, fileProblem(path, "warning: ", w))
	}
	for _, w := range warn {
		fmt.Fprintf(stderr, "%s: warning: %s\n", path, w)
	}
	fmt.Fprintln(stdout, "KPI plan:")
	for _, p := range plans {
		fmt.Fprintf(stdout, "  %s\n", p)
	}
	return 0
}
