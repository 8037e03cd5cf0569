package app_test

import (
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/internal/brokenconfig"
)

// unchecked is a kind whose Check finds nothing: a configuration loaded with it reaches
// Build without the adapters' checks having run.
type unchecked struct{ config.Kind }

func (unchecked) Check(*config.Source, []config.BoundDevice, *config.Workshop) config.Errors {
	return nil
}

// problems returns the problems of a Load or Build error as "line N: path: message".
func problems(t *testing.T, err error) []string {
	t.Helper()
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %v is not a list of configuration problems", err)
	}
	out := make([]string, len(errs))
	for i, p := range errs {
		out[i] = p.Error()
	}
	return out
}

// TestBuildRefusesWhatValidateRefuses loads each broken configuration as gateway
// validate does and gets its exact problems; then loads it again with the adapters'
// checks switched off and gives it to Build, which must refuse it with the same
// problems, lines included: validate and the start run the same checks. A
// configuration the decoder already refuses (an unknown key, a key of another
// adapter, an unknown source) cannot reach Build; for those the test checks that the
// refusal does not depend on the adapters' checks.
func TestBuildRefusesWhatValidateRefuses(t *testing.T) {
	var off config.Kinds
	for _, k := range app.Kinds() {
		off = append(off, unchecked{k})
	}
	built := 0
	for _, c := range brokenconfig.Cases {
		t.Run(c.Name, func(t *testing.T) {
			env := func(k string) (string, bool) { v, ok := c.Env[k]; return v, ok }
			_, err := config.Load([]byte(c.YAML), env, app.Kinds())
			if got := problems(t, err); !slices.Equal(got, c.Want) {
				t.Fatalf("validate:\n got  %q\n want %q", got, c.Want)
			}
			cfg, err := config.Load([]byte(c.YAML), env, off)
			if err != nil {
				if got := problems(t, err); !slices.Equal(got, c.Want) {
					t.Fatalf("decode:\n got  %q\n want %q", got, c.Want)
				}
				return
			}
			dir := t.TempDir()
			cfg.Queue.Dir = filepath.Join(dir, "queue")
			cfg.PKI.Dir = filepath.Join(dir, "pki")
			cfg.KPI.StateFile = filepath.Join(dir, "kpi-state.json")
			cfg.DeadLetters.Dir = filepath.Join(dir, "dead-letters")
			cfg.Admin.Listen = "127.0.0.1:0"
			_, err = app.Build(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{Registry: prometheus.NewRegistry()})
			if err == nil {
				t.Fatal("Build accepted the configuration")
			}
			if got := problems(t, err); !slices.Equal(got, c.Want) {
				t.Fatalf("Build:\n got  %q\n want %q", got, c.Want)
			}
			built++
		})
	}
	// Most cases are adapter rules that only the adapters' checks find.
	t.Logf("%d of %d cases reached Build", built, len(brokenconfig.Cases))
	if built < 40 {
		t.Fatalf("only %d of %d cases reached Build", built, len(brokenconfig.Cases))
	}
}
