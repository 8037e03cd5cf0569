package app

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/backend"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/instance"
	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
)

// InstancePath is the instance id file of a configuration: in the data directory, the
// parent of queue.dir, next to kpi-state.json and the PKI.
func InstancePath(cfg *config.Config) string {
	return instance.Path(filepath.Dir(filepath.Clean(cfg.Queue.Dir)))
}

// Instance returns the gateway's instance id (gateway/instance), known from Build on.
func (a *App) Instance() string { return a.instance }

// tagInstance adds the instance tag to the workshop's and every device's KPI tags.
func tagInstance(kc *kpi.Config, devs []kpi.Device, id string) {
	add := func(tags []point.Tag) []point.Tag {
		tags = append(slices.Clip(tags), point.Tag{Key: schema.TagInstance, Value: id})
		slices.SortFunc(tags, func(a, b point.Tag) int { return strings.Compare(a.Key, b.Key) })
		return tags
	}
	kc.WorkshopTags = add(kc.WorkshopTags)
	for i := range devs {
		devs[i].Tags = add(devs[i].Tags)
	}
}

// instanceCheckMaxResponse bounds an InfluxQL answer of the start-time check: one row
// per instance is a few hundred bytes.
const instanceCheckMaxResponse = 1 << 20

// instanceLookback is how far back the start-time check looks for another instance's
// workshop_kpi points.
const instanceLookback = time.Hour

// otherInstances asks the store behind sink i (VictoriaMetrics through PromQL, else
// InfluxDB through InfluxQL) which instances other than this one wrote workshop_kpi
// points of this workshop in the last instanceLookback, with their window counts.
func (a *App) otherInstances(ctx context.Context, i int) (map[string]float64, error) {
	sc := &a.cfg.Sinks.Influx[i]
	end := a.clock().Truncate(time.Second)
	q := backend.Query{Measurement: schema.WorkshopKPI, Window: schema.WindowName(a.shortestWindow()),
		GroupBy: schema.TagInstance, Filter: map[string]string{schema.TagWorkshop: a.cfg.Workshop.ID},
		Fields: []backend.Field{{Name: schema.FieldEquipmentTotal, Func: backend.Count}},
		Start:  end.Add(-instanceLookback), End: end}
	token := sc.Token.Reveal()
	pq, err := backend.NewPromQL(backend.PromQLConfig{URL: sc.URL, BearerToken: token, Timeout: 3 * time.Second, NoCache: true})
	if err != nil {
		return nil, err
	}
	rows, perr := pq.Aggregate(ctx, q)
	if perr != nil {
		db, rp, _ := strings.Cut(sc.Bucket, "/")
		iq, err := backend.NewInfluxQL(backend.InfluxQLConfig{URL: sc.URL, Database: db, RetentionPolicy: rp,
			Token: token, Timeout: 3 * time.Second, MaxResponseBytes: instanceCheckMaxResponse})
		if err != nil {
			return nil, fmt.Errorf("promql: %v; influxql: %w", perr, err)
		}
		var ierr error
		if rows, ierr = iq.Aggregate(ctx, q); ierr != nil {
			return nil, fmt.Errorf("promql: %v; influxql: %w", perr, ierr)
		}
	}
	out := map[string]float64{}
	for _, r := range rows {
		if r.Group != a.instance {
			out[r.Group] = r.Values[0]
		}
	}
	return out, nil
}

func (a *App) shortestWindow() time.Duration {
	return slices.Min(a.kpiWindows)
}

// checkInstance logs an error when another instance wrote this workshop's KPI points
// through sink i recently: the aggregator would flag the workshop as a conflict. It
// never stops the start (the other writer may be the stale one).
func (a *App) checkInstance(ctx context.Context, i int) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	others, err := a.otherInstances(cctx, i)
	if err != nil {
		a.log.Warn("instance check: cannot query the sink's store for other writers of this workshop",
			"sink", a.cfg.Sinks.Influx[i].Name, "err", err)
		return
	}
	ids := make([]string, 0, len(others))
	for id := range others {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		a.log.Error("another gateway instance is writing this workshop identity: the aggregator flags the workshop as a conflict and counts one instance only; "+
			"stop the gateway that should not write this workshop or give it its own workshop identity (region, park, enterprise, workshop)",
			"workshop", a.cfg.Workshop.ID, "instance", a.instance, "other_instance", id,
			"windows", others[id], "within", instanceLookback.String(), "sink", a.cfg.Sinks.Influx[i].Name)
	}
}
