package app

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
	"github.com/prometheus/client_golang/prometheus"
)

// kpiConfig maps the YAML kpi section and the inventory onto the engine's types.
func kpiConfig(cfg *config.Config) (kpi.Config, []kpi.Device, error) {
	kc := kpi.DefaultConfig()
	loc, err := time.LoadLocation(cfg.Workshop.Timezone)
	if err != nil {
		return kc, nil, fmt.Errorf("load time zone %q: %w", cfg.Workshop.Timezone, err)
	}
	kc.Location = loc
	if len(cfg.KPI.Windows) > 0 {
		kc.Windows = nil
		for _, w := range cfg.KPI.Windows {
			kc.Windows = append(kc.Windows, w.D)
		}
	}
	if cfg.KPI.AllowedLateness.Raw != "" {
		kc.AllowedLateness = cfg.KPI.AllowedLateness.D
	}
	kc.Debounce = cfg.KPI.Debounce.D
	if cfg.KPI.KgcePerKWh != nil {
		kc.KgcePerKWh = *cfg.KPI.KgcePerKWh
	}
	if cfg.KPI.PowerIdleKW != nil {
		kc.PowerIdleKW = *cfg.KPI.PowerIdleKW
	}
	if cfg.KPI.MaxIntegrationGap.Raw != "" {
		kc.MaxIntegrationGap = cfg.KPI.MaxIntegrationGap.D
	}
	for _, s := range cfg.KPI.Shifts {
		ks := kpi.Shift{Start: s.Start, End: s.End}
		for _, d := range s.Days {
			ks.Days = append(ks.Days, config.Weekdays[d])
		}
		kc.Shifts = append(kc.Shifts, ks)
	}
	w := &cfg.Workshop
	kc.WorkshopTags = []point.Tag{{Key: schema.TagEnterprise, Value: w.Enterprise}, {Key: schema.TagPark, Value: w.Park},
		{Key: schema.TagRegion, Value: w.Region}, {Key: schema.TagWorkshop, Value: w.ID}}
	devices := make([]kpi.Device, 0, len(cfg.Devices))
	for i := range cfg.Devices {
		d := &cfg.Devices[i]
		tags := IdentityTags(w, d)
		if d.Smart {
			// device_kpi marks smart equipment, so the aggregator can count the units in service.
			tags = append(tags, point.Tag{Key: schema.TagSmart, Value: schema.SmartTrue})
		}
		if d.Vendor != "" {
			// device_kpi carries the maker, so the aggregator can count makers in service.
			tags = append(tags, point.Tag{Key: schema.TagVendor, Value: d.Vendor})
		}
		devices = append(devices, kpi.Device{
			ID: d.ID, Kind: d.Kind, Class: d.Class, Vendor: d.Vendor, Source: d.Source, Tags: tags,
			KeyProcess: d.KeyProcess, NumericalControl: d.NumericalControl, Digital: d.IsDigital(), Smart: d.Smart,
			UnitValueYuan: d.UnitValueYuan, Interval: d.Interval.D, Signals: d.SignalNames(),
			Roles: d.Roles(), Counters: d.Counters(), MaxRate: d.MaxRates(),
		})
	}
	return kc, devices, nil
}

// KPIPlan returns what the configuration's devices will produce (kpi.PlanOf) and the
// plan's warnings, device by device and then for the workshop, exactly as Build's
// engine sees the devices.
func KPIPlan(cfg *config.Config) ([]kpi.Plan, []string, error) {
	_, devs, err := kpiConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	return kpiPlan(devs)
}

func kpiPlan(devs []kpi.Device) ([]kpi.Plan, []string, error) {
	plans, shop, err := kpi.Plans(devs)
	if err != nil {
		return nil, nil, err
	}
	var warn []string
	for _, p := range plans {
		for _, w := range p.Warnings {
			warn = append(warn, "device "+strconv.Quote(p.Device)+": "+w)
		}
	}
	return plans, append(warn, shop...), nil
}

// logKPIPlan logs the KPI plan's warnings at start, the lines `gateway validate` prints.
func logKPIPlan(log *slog.Logger, devs []kpi.Device) {
	_, warn, err := kpiPlan(devs)
	if err != nil {
		return // kpi.New refuses the devices with this error
	}
	for _, w := range warn {
		log.Warn("kpi plan: " + w)
	}
}

// loadKPIState restores open windows from the state file; a missing or damaged file
// never stops the gateway (the damaged one is set aside and logged).
func (a *App) loadKPIState(now time.Time) {
	path := a.cfg.KPI.StateFile
	err := a.kpi.LoadFile(path, now)
	switch {
	case err == nil:
		a.log.Info("kpi state restored", "file", path)
		for _, d := range a.kpi.Restored().Dropped {
			a.log.Warn("kpi state: windows dropped, not replayed", "file", path, "window", d.Window,
				"reason", d.Reason.String(), "windows", d.Count, "from", d.From, "to", d.To, "detail", d.Detail)
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		bad := path + ".bad-" + now.UTC().Format("20060102T150405")
		_ = os.Rename(path, bad)
		a.log.Warn("kpi state unusable; starting fresh windows", "file", path, "moved_to", bad, "err", err)
	}
}

// kpiCollector exports the engine's live view at scrape time.
type kpiCollector struct {
	a           *App
	deviceState *prometheus.Desc
	workshop    *prometheus.Desc
	device      *prometheus.Desc
	samples     *prometheus.Desc
	dropped     *prometheus.Desc
	steps       *prometheus.Desc
}

func newKPICollector(a *App) *kpiCollector {
	return &kpiCollector{a: a,
		deviceState: prometheus.NewDesc("ganlink_device_state",
			"1 for the device's current machine state (unknown, offline, alarm, setup, running, idle), 0 for the others.",
			[]string{"device", "state"}, nil),
		workshop: prometheus.NewDesc("ganlink_workshop_kpi",
			"Workshop KPIs of the open window so far, by window and field (docs/metrics.md).",
			[]string{"window", "field"}, nil),
		device: prometheus.NewDesc("ganlink_device_kpi",
			"Device KPIs of the open window so far, by window and field (docs/metrics.md).",
			[]string{"device", "window", "field"}, nil),
		samples: prometheus.NewDesc("ganlink_kpi_samples_total",
			"Samples the KPI engine handled, by outcome.", []string{"outcome"}, nil),
		dropped: prometheus.NewDesc(metricKPIWindowsDropped,
			"KPI windows dropped instead of written, by reason (expired, future, inconsistent, config_changed: restored state that failed its checks; overrun: a tick with more windows due than it may write).",
			[]string{"reason"}, nil),
		steps: prometheus.NewDesc("ganlink_kpi_cumulative_steps_total",
			"Steps of cumulative signals (counters) that were not a plain increase, by device, signal and class (wrap, replacement: booked; glitch, implausible: not booked, the window is marked suspect). docs/metrics.md \"Counter steps\".",
			[]string{"device", "signal", "class"}, nil),
	}
}

func (c *kpiCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.deviceState
	ch <- c.workshop
	ch <- c.device
	ch <- c.samples
	ch <- c.dropped
	ch <- c.steps
}

func (c *kpiCollector) Collect(ch chan<- prometheus.Metric) {
	live := c.a.kpi.Live(c.a.clock())
	for _, d := range live.Devices {
		for s := kpi.State(0); s <= kpi.StateIdle; s++ {
			v := 0.0
			if d.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.deviceState, prometheus.GaugeValue, v, d.ID, s.String())
		}
		for _, ctr := range d.Counters {
			for cl, n := range ctr.Steps {
				ch <- prometheus.MustNewConstMetric(c.steps, prometheus.CounterValue, float64(n), d.ID, ctr.Signal,
					kpi.StepClass(cl).String())
			}
		}
		if len(d.Windows) > 0 {
			w := d.Windows[0]
			for _, f := range w.Fields {
				ch <- prometheus.MustNewConstMetric(c.device, prometheus.GaugeValue, f.Value, d.ID, w.Window, f.Key)
			}
		}
	}
	for _, w := range live.Workshop {
		for _, f := range w.Fields {
			ch <- prometheus.MustNewConstMetric(c.workshop, prometheus.GaugeValue, f.Value, w.Window, f.Key)
		}
	}
	st := live.Stats
	for _, o := range []struct {
		k string
		v uint64
	}{{"accepted", st.Samples}, {"unknown_device", st.UnknownDevice}, {"duplicate", st.Duplicates},
		{"out_of_order", st.OutOfOrder}, {"late", st.Late}, {"stale", st.Stale}, {"future", st.Future},
		{"overflow", st.Overflow}, {"invalid", st.Invalid}} {
		ch <- prometheus.MustNewConstMetric(c.samples, prometheus.CounterValue, float64(o.v), o.k)
	}
	for r, n := range st.WindowsDropped {
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(n), kpi.DropReason(r).String())
	}
}

// stepLogEvery throttles the warning about a counter step: one per device, signal and
// class per interval; the ones left out are counted in the next line.
const stepLogEvery = time.Minute

// stepLog logs the KPI engine's counter steps (kpi.Config.OnCounterStep), throttled.
type stepLog struct {
	log   *slog.Logger
	clock func() time.Time
	mu    sync.Mutex
	last  map[stepKey]stepSeen
}

type stepKey struct {
	device, signal string
	class          kpi.StepClass
}

type stepSeen struct {
	at         time.Time
	suppressed int
}

func newStepLog(log *slog.Logger, clock func() time.Time) *stepLog {
	return &stepLog{log: log, clock: clock, last: map[stepKey]stepSeen{}}
}

// step is called with the engine's lock held; it only logs.
func (l *stepLog) step(s kpi.CounterStep) {
	now := l.clock()
	k := stepKey{s.Device, s.Signal, s.Class}
	l.mu.Lock()
	seen, ok := l.last[k]
	if ok && now.Sub(seen.at) < stepLogEvery {
		seen.suppressed++
		l.last[k] = seen
		l.mu.Unlock()
		return
	}
	if len(l.last) > 10000 {
		clear(l.last)
	}
	l.last[k] = stepSeen{at: now}
	l.mu.Unlock()
	msg := "kpi counter step booked"
	if s.Class == kpi.StepGlitch || s.Class == kpi.StepImplausible {
		msg = "kpi counter step not booked; window marked suspect"
	}
	l.log.Warn(msg, "device", s.Device, "signal", s.Signal, "class", s.Class.String(), "from", s.From, "to", s.To,
		"booked", s.Booked, "at", s.Time.UTC().Format(time.RFC3339Nano), "suppressed_warnings", seen.suppressed)
}
