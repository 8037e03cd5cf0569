package app

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/corrections"
	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/point"
)

// correctionSource names the corrections' way into the queues (pipeline.Appender).
const correctionSource = "corrections"

// CorrectionsPath is the correction store of a configuration: in the data directory,
// the parent of queue.dir, next to the instance id.
func CorrectionsPath(cfg *config.Config) string {
	return filepath.Join(filepath.Dir(filepath.Clean(cfg.Queue.Dir)), corrections.FileName)
}

// newCorrections builds the correction service over the engine; Run opens its store.
func (a *App) newCorrections(shop []point.Tag) {
	a.corr = corrections.NewService(corrections.ServiceConfig{Path: CorrectionsPath(a.cfg), Engine: a.kpi,
		Emit: a.pipe.Appender(correctionSource), WorkshopTags: shop, Instance: a.instance, Clock: a.clock,
		Log: a.log.With("component", "corrections"), Registerer: a.reg})
	a.admin.SetCorrections(a.corr)
}

// openCorrections opens the store at start: replacements go to the engine (after its
// state is loaded) and points not written yet to the queues. A store that cannot be
// opened does not stop the gateway: the API answers 503 and the error is logged.
func (a *App) openCorrections(ctx context.Context) {
	if err := a.corr.Open(ctx); err != nil {
		a.log.Error("correction store unusable: corrections cannot be recorded or applied until it is fixed",
			"file", CorrectionsPath(a.cfg), "err", err)
	}
}

// OpenCorrections opens the correction store of cfg for `gateway correct` while the
// gateway does not run, checked against the configuration's devices and counters as the
// running gateway checks them. problems lists the lines skipped.
func OpenCorrections(cfg *config.Config) (*corrections.Store, []string, error) {
	kc, kdev, err := kpiConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	eng, err := kpi.New(kc, kdev)
	if err != nil {
		return nil, nil, fmt.Errorf("build kpi engine: %w", err)
	}
	return corrections.Open(CorrectionsPath(cfg), eng, nil)
}
