package app

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/ganlink/ganlink/gateway/health"
	"github.com/ganlink/ganlink/gateway/pipeline"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
	"github.com/ganlink/ganlink/gateway/status"
)

// healthSource is the source name of the health points in the pipeline's counters.
const healthSource = "health"

// Names of the gateway's own counters the health series sum.
const (
	metricSignalErrors      = "ganlink_source_signal_errors_total"
	metricKPIWindowsDropped = "ganlink_kpi_windows_dropped_total"
)

// Metrics summed into the health series' cumulative counts: the constants the counters
// are registered with, so a renamed counter cannot silently drop out of the sums.
var (
	droppedMetrics     = []string{pipeline.MetricPipelinePointsDropped, pipeline.MetricSinkPointsDropped, metricKPIWindowsDropped}
	signalErrorMetrics = []string{metricSignalErrors}
)

// runHealth queues the health points each time the gateway's clock passes an interval
// boundary (the configuration's health.interval), checking every second like the KPI ticker, so
// the points follow the clock the KPI windows follow. They take the same
// store-and-forward path as the data.
func (a *App) runHealth(ctx context.Context) error {
	if a.healthEvery <= 0 {
		return nil
	}
	t := time.NewTicker(min(time.Second, a.healthEvery))
	defer t.Stop()
	next := a.clock().Truncate(a.healthEvery).Add(a.healthEvery)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := a.clock()
		if now.Before(next) {
			continue
		}
		next = now.Truncate(a.healthEvery).Add(a.healthEvery)
		if err := a.healthEmit(ctx, a.healthPoints()); err != nil {
			return nil // ctx ended: counted as a shutdown drop by the pipeline
		}
	}
}

// healthPoints builds the health points from the status model and the metrics.
func (a *App) healthPoints() point.Batch {
	st := a.StatusPage(status.Query{})
	s := health.Snapshot{Now: a.clock(), Started: a.started, Devices: st.Summary.Devices,
		DevicesOffline: st.Summary.Offline, LastData: a.values.LastArrival()}
	for _, src := range st.Sources {
		s.Sources = append(s.Sources, health.Source{Name: src.Name, Up: src.State == point.StateUp.String(), Errors: float64(src.Errors)})
	}
	for _, q := range st.Queues {
		s.QueuePoints += q.PendingPoints
		if !q.OldestPending.IsZero() && (s.QueueOldest.IsZero() || q.OldestPending.Before(s.QueueOldest)) {
			s.QueueOldest = q.OldestPending
		}
	}
	sums := a.sumMetrics(droppedMetrics, signalErrorMetrics)
	s.PointsDropped, s.SignalErrors = sums[0], sums[1]
	return health.Points(s, a.healthTags())
}

// healthTags returns the sorted tags of the health points: the workshop identity, the
// instance id and the version.
func (a *App) healthTags() []point.Tag {
	w := &a.cfg.Workshop
	tags := []point.Tag{{Key: schema.TagEnterprise, Value: w.Enterprise}, {Key: schema.TagInstance, Value: a.instance},
		{Key: schema.TagPark, Value: w.Park}, {Key: schema.TagRegion, Value: w.Region},
		{Key: schema.TagVersion, Value: a.version}, {Key: schema.TagWorkshop, Value: w.ID}}
	slices.SortFunc(tags, func(x, y point.Tag) int { return strings.Compare(x.Key, y.Key) })
	return tags
}

// sumMetrics sums, for each list of counter names, every series of those counters in
// the gateway's registry, from one gathering (with a thousand devices a gathering of
// the registry costs tens of milliseconds).
func (a *App) sumMetrics(lists ...[]string) []float64 {
	sums := make([]float64, len(lists))
	mfs, err := a.reg.Gather()
	if err != nil && len(mfs) == 0 {
		return sums
	}
	for _, mf := range mfs {
		for i, names := range lists {
			if !slices.Contains(names, mf.GetName()) {
				continue
			}
			for _, m := range mf.GetMetric() {
				if c := m.GetCounter(); c != nil {
					sums[i] += c.GetValue()
				}
			}
		}
	}
	return sums
}
