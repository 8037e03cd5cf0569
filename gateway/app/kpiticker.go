package app

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

// kpiSource names the KPI ticker in ganlink_pipeline_points_dropped_total.
const kpiSource = "kpi"

// kpiFinalEmit bounds how long the windows closed at shutdown may wait for the queues.
const kpiFinalEmit = 5 * time.Second

// runKPI closes windows every second and queues their points; on stop it closes what
// is due, queues it (for at most kpiFinalEmit) and saves the open windows. A tick
// whose points a queue refuses waits for them under the emit policy; the windows due
// meanwhile close on the next tick.
func (a *App) runKPI(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(a.cfg.KPI.StateFile), 0o755); err != nil {
		a.log.Warn("create kpi state directory", "err", err)
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	lastSave := a.clock()
	for {
		select {
		case <-ctx.Done():
			now := a.clock()
			// The last windows get a few seconds of their own to reach the queues.
			sctx, cancel := context.WithTimeout(context.Background(), kpiFinalEmit)
			a.emitKPI(sctx, a.kpi.Tick(now))
			cancel()
			if err := a.kpi.SaveFile(a.cfg.KPI.StateFile, now); err != nil {
				a.log.Error("save kpi state", "file", a.cfg.KPI.StateFile, "err", err)
			}
			return nil
		case <-t.C:
		}
		now := a.clock()
		a.emitKPI(ctx, a.kpi.Tick(now))
		if now.Sub(lastSave) >= time.Minute {
			lastSave = now
			if err := a.kpi.SaveFile(a.cfg.KPI.StateFile, now); err != nil {
				a.log.Warn("save kpi state", "file", a.cfg.KPI.StateFile, "err", err)
			}
		}
	}
}

// emitKPI queues KPI points like any other data, under the pipeline's emit policy:
// retried while a queue refuses them until ctx ends (then counted as dropped with
// reason "shutdown"), never dropped for a number of attempts.
func (a *App) emitKPI(ctx context.Context, b point.Batch) {
	if len(b) == 0 {
		return
	}
	a.windows.Record(b)
	_ = a.kpiEmit(ctx, b) // a drop is counted and logged by the pipeline
}
