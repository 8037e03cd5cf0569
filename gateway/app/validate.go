package app

import (
	"errors"
	"os"
	"strings"

	"github.com/ganlink/ganlink/gateway/admin"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/kpi"
)

// LoadConfigData checks a configuration held in memory exactly as LoadConfig checks a
// file (the admin API validates the file it is about to write with it).
func LoadConfigData(data []byte) (*config.Config, error) {
	return config.Load(data, os.LookupEnv, Kinds())
}

// kindNames are the names of Kinds: the lists of sources.<kind>.
func kindNames() []string {
	var names []string
	for _, k := range Kinds() {
		names = append(names, k.Name())
	}
	return names
}

// ValidateFile is `gateway validate FILE`: the errors with their lines, or the
// warnings and the KPI plan (admin.Validation.Print prints it).
func ValidateFile(path string) admin.Validation {
	cfg, err := LoadConfig(path)
	return validation(cfg, err)
}

// Validate validates a configuration's text as ValidateFile validates a file: the body
// of POST /api/config/validate and of a refused configuration write.
func Validate(data []byte) admin.Validation {
	cfg, err := LoadConfigData(data)
	return validation(cfg, err)
}

// ValidationOf is the validation of a configuration that failed to load with err.
func ValidationOf(err error) admin.Validation { return validation(nil, err) }

func validation(cfg *config.Config, err error) admin.Validation {
	v := admin.Validation{Errors: []admin.Finding{}, Warnings: []admin.Finding{}, Plan: []admin.PlanEntry{}}
	if err != nil {
		var probs config.Errors
		if !errors.As(err, &probs) {
			v.Unreadable = true
			v.Errors = append(v.Errors, admin.Finding{Message: err.Error()})
			return v
		}
		for _, p := range probs {
			v.Errors = append(v.Errors, finding(p))
		}
		return v
	}
	plans, warn, err := KPIPlan(cfg)
	if err != nil {
		v.Errors = append(v.Errors, admin.Finding{Message: err.Error()})
		return v
	}
	v.OK = true
	for _, w := range cfg.Warnings {
		v.Warnings = append(v.Warnings, finding(w))
	}
	for _, w := range warn {
		v.Warnings = append(v.Warnings, admin.Finding{Message: w})
	}
	for _, p := range plans {
		v.Plan = append(v.Plan, planEntry(p))
	}
	return v
}

func finding(p config.Problem) admin.Finding {
	return admin.Finding{Line: p.Line, Path: p.Path, Message: p.Msg}
}

func planEntry(p kpi.Plan) admin.PlanEntry {
	e := admin.PlanEntry{Device: p.Device, Class: p.Class, KPIs: []string{}, Missing: []string{}, Line: p.String()}
	for _, it := range p.Items {
		if it.OK {
			e.KPIs = append(e.KPIs, it.KPI)
		} else {
			e.Missing = append(e.Missing, it.KPI+": "+strings.TrimSpace(it.Why))
		}
	}
	return e
}
