package admin

import (
	"fmt"
	"io"
)

// Validation is the outcome of validating a configuration: what `gateway validate`
// prints (Print) and what POST /api/config/validate answers, made by one function
// (app.Validate), so the page and the command line never disagree.
type Validation struct {
	OK       bool        `json:"ok"`
	Errors   []Finding   `json:"errors"`
	Warnings []Finding   `json:"warnings"`
	Plan     []PlanEntry `json:"plan"`
	// Unreadable: the file could not be read at all (Errors holds why); printed
	// without an error count, as the gateway refuses to start.
	Unreadable bool `json:"-"`
}

// Finding is one error or warning, with its line (0: none) and YAML path ("" for the
// KPI plan's warnings and errors of the whole file).
type Finding struct {
	Line    int    `json:"line,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// PlanEntry is one device's KPI plan.
type PlanEntry struct {
	Device string `json:"device"`
	Class  string `json:"class"`
	// KPIs are the KPI groups the device produces (state, parts, energy, water).
	KPIs []string `json:"kpis"`
	// Missing are the groups it does not produce, each with why: "energy: no
	// energy_kwh_total or power_kw role".
	Missing []string `json:"missing"`
	// Line is the plan's line as `gateway validate` prints it.
	Line string `json:"line"`
}

// Format returns the finding as `gateway validate` prints it: "FILE:LINE: path:
// message", with kind ("warning: ") before the path.
func (f Finding) Format(file, kind string) string {
	switch {
	case f.Line > 0 && f.Path != "":
		return fmt.Sprintf("%s:%d: %s%s: %s", file, f.Line, kind, f.Path, f.Message)
	case f.Line > 0:
		return fmt.Sprintf("%s:%d: %s%s", file, f.Line, kind, f.Message)
	case f.Path != "":
		return fmt.Sprintf("%s: %s%s: %s", file, kind, f.Path, f.Message)
	default:
		return fmt.Sprintf("%s: %s%s", file, kind, f.Message)
	}
}

// PrintErrors prints every error, then their count (not for an unreadable file).
func (v *Validation) PrintErrors(w io.Writer, file string) {
	for _, e := range v.Errors {
		fmt.Fprintln(w, e.Format(file, ""))
	}
	if !v.Unreadable {
		fmt.Fprintf(w, "%d error(s)\n", len(v.Errors))
	}
}

// Print prints v as `gateway validate` does and returns its exit code: the errors on
// stderr (1); or "FILE: ok", the KPI plan on stdout and the warnings on stderr (0);
// quiet prints errors only.
func (v *Validation) Print(stdout, stderr io.Writer, file string, quiet bool) int {
	if !v.OK {
		v.PrintErrors(stderr, file)
		return 1
	}
	if quiet {
		return 0
	}
	fmt.Fprintf(stdout, "%s: ok\n", file)
	for _, w := range v.Warnings {
		fmt.Fprintln(stderr, w.Format(file, "warning: "))
	}
	fmt.Fprintln(stdout, "KPI plan:")
	for _, p := range v.Plan {
		fmt.Fprintf(stdout, "  %s\n", p.Line)
	}
	return 0
}
