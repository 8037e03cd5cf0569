package app

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/ganlink/ganlink/adapters/opcua/pki"
	"github.com/ganlink/ganlink/gateway/deadletter"
	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/point"
)

// Status is the JSON snapshot served at /api/status; the status page at / shows exactly
// this. Ages are computed by the gateway (seconds before Now), so a browser with a wrong
// clock still shows them right.
type Status struct {
	Now      time.Time      `json:"now"`
	Started  time.Time      `json:"started"`
	Workshop WorkshopStatus `json:"workshop"`
	// Summary counts the whole inventory; Devices is one page of it, in configuration
	// order, starting at DeviceOffset (StatusQuery).
	Summary      DeviceSummary  `json:"summary"`
	DeviceOffset int            `json:"device_offset"`
	Devices      []DeviceStatus `json:"devices"`
	// WorkshopKPI has one entry per KPI window length, shortest first.
	WorkshopKPI []WindowStatus         `json:"workshop_kpi"`
	Sources     []SourceStatus         `json:"sources"`
	Sinks       []SinkStatus           `json:"sinks"`
	Queues      map[string]QueueStatus `json:"queues"`
	// PKI is present when an OPC UA source uses security or credentials.
	PKI *PKIStatus `json:"pki,omitempty"`
	// DeadLetters are the inputs kept because they could not be fully used (the last
	// dead_letters.keep per source), newest first.
	DeadLetters []deadletter.Entry `json:"dead_letters"`
}

// DeviceSummary counts the devices of the whole inventory, whatever page Devices holds.
type DeviceSummary struct {
	Devices    int `json:"devices"`
	WithSource int `json:"with_source"`
	// Online counts devices with a source whose machine state is known and not offline.
	Online  int `json:"online"`
	Running int `json:"running"`
	Offline int `json:"offline"`
	// OfflineIDs names the first MaxOfflineIDs offline devices.
	OfflineIDs []string `json:"offline_ids"`
}

// Limits of /api/status: a page holds DefaultDeviceLimit devices unless device_limit
// asks for another number up to MaxDeviceLimit; the summary names at most MaxOfflineIDs
// offline devices.
const (
	DefaultDeviceLimit = 1000
	MaxDeviceLimit     = 10000
	MaxOfflineIDs      = 50
)

// StatusQuery selects the page of devices in a Status.
type StatusQuery struct {
	DeviceOffset, DeviceLimit int
}

// ParseStatusQuery reads device_offset (default 0) and device_limit (default
// DefaultDeviceLimit, 0 for the summary only, at most MaxDeviceLimit) from an
// /api/status query; any other parameter, a repeated one or a bad number is an error.
func ParseStatusQuery(q url.Values) (StatusQuery, error) {
	sq := StatusQuery{DeviceLimit: DefaultDeviceLimit}
	for key, vs := range q {
		var dst *int
		switch key {
		case "device_offset":
			dst = &sq.DeviceOffset
		case "device_limit":
			dst = &sq.DeviceLimit
		default:
			return sq, fmt.Errorf("unknown parameter %q: want device_offset or device_limit", key)
		}
		if len(vs) != 1 {
			return sq, fmt.Errorf("parameter %q given %d times", key, len(vs))
		}
		n, err := strconv.Atoi(vs[0])
		if err != nil || n < 0 {
			return sq, fmt.Errorf("parameter %s=%q: want a whole number from 0", key, point.Truncate(vs[0], 32))
		}
		*dst = n
	}
	if sq.DeviceLimit > MaxDeviceLimit {
		return sq, fmt.Errorf("parameter device_limit=%d: at most %d", sq.DeviceLimit, MaxDeviceLimit)
	}
	return sq, nil
}

// statusQuery serves /api/status.
func (a *App) statusQuery(q url.Values) (any, error) {
	sq, err := ParseStatusQuery(q)
	if err != nil {
		return nil, err
	}
	return a.StatusPage(sq), nil
}

// PKIStatus shows the gateway's OPC UA application instance certificate (what the
// machines must trust) and the server certificates waiting in rejected/ for an engineer
// to check and trust (docs/security.md).
type PKIStatus struct {
	Dir      string     `json:"dir"`
	Own      pki.Info   `json:"own"`
	Rejected []pki.Info `json:"rejected"`
}

// WorkshopStatus is the workshop's identity.
type WorkshopStatus struct {
	Region     string `json:"region"`
	Park       string `json:"park"`
	Enterprise string `json:"enterprise"`
	ID         string `json:"workshop"`
	Name       string `json:"name,omitempty"`
	Timezone   string `json:"timezone"`
}

// DeviceStatus is one device of the inventory.
type DeviceStatus struct {
	ID               string `json:"id"`
	Name             string `json:"name,omitempty"`
	Kind             string `json:"kind"`
	KeyProcess       bool   `json:"key_process"`
	NumericalControl bool   `json:"numerical_control"`
	Digital          bool   `json:"digital"`
	// Source names the device's source; empty for equipment that sends nothing.
	Source string `json:"source,omitempty"`
	// Connection is the source's session state: "up", "connecting" or "down"; "none"
	// for equipment without a source.
	Connection string `json:"connection"`
	// State is the machine state from the KPI engine: unknown, offline, alarm, setup,
	// running or idle.
	State      string    `json:"state"`
	StateSince time.Time `json:"state_since,omitzero"`
	// LastSample is the newest sample timestamp the KPI engine accepted.
	LastSample     time.Time      `json:"last_sample,omitzero"`
	LastSampleAgeS *float64       `json:"last_sample_age_s"`
	Signals        []SignalStatus `json:"signals"`
}

// SignalStatus is one configured signal's newest sample.
type SignalStatus struct {
	Name string `json:"name"`
	Unit string `json:"unit,omitempty"`
	// Value is the value of the newest sample that had one (a bad sample has none);
	// null before the first.
	Value *float64 `json:"value"`
	// Quality is the newest sample's: good, uncertain or bad; "none" before the first.
	Quality string `json:"quality"`
	// Time is the newest sample's source timestamp; AgeS its age in seconds.
	Time time.Time `json:"time,omitzero"`
	AgeS *float64  `json:"age_s"`
}

// WindowStatus holds the workshop KPIs of one window length: the window open now (so
// far) and the newest closed one (null until a window closed while the gateway ran).
type WindowStatus struct {
	Window  string     `json:"window"`
	Current *KPIWindow `json:"current"`
	Last    *KPIWindow `json:"last"`
}

// KPIWindow is one window's workshop KPI fields (docs/metrics.md).
type KPIWindow struct {
	Start  time.Time          `json:"start"`
	End    time.Time          `json:"end"`
	Fields map[string]float64 `json:"fields"`
}

// SourceStatus is one source's connection state.
type SourceStatus struct {
	Name  string `json:"name"`
	State string `json:"state"`
	// Security is the OPC UA security policy and mode of the current or last
	// connection attempt, e.g. "Aes256_Sha256_RsaPss/SignAndEncrypt".
	Security  string    `json:"security,omitempty"`
	Since     time.Time `json:"since"`
	Error     string    `json:"error,omitempty"`
	Errors    uint64    `json:"signal_errors"`
	LastError string    `json:"last_signal_error,omitempty"`
}

// SinkStatus is one sink's delivery state.
type SinkStatus struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Target string `json:"target,omitempty"`
	// Up is true after the last write succeeded; false before the first write and
	// while writes fail.
	Up        bool      `json:"up"`
	LastError string    `json:"last_error,omitempty"`
	LastWrite time.Time `json:"last_write,omitzero"`
}

// QueueStatus is one sink queue's backlog.
type QueueStatus struct {
	PendingPoints int64     `json:"pending_points"`
	PendingBytes  int64     `json:"pending_bytes"`
	OldestPending time.Time `json:"oldest_pending,omitzero"`
	// OldestPendingAgeS is the age of the oldest unacknowledged block; null when empty.
	OldestPendingAgeS *float64 `json:"oldest_pending_age_s"`
}

// Status returns the snapshot served at /api/status with its first page of devices.
func (a *App) Status() Status { return a.StatusPage(StatusQuery{DeviceLimit: DefaultDeviceLimit}) }

// StatusPage returns the snapshot with the devices of page q.
func (a *App) StatusPage(q StatusQuery) Status {
	now := a.clock()
	w := &a.cfg.Workshop
	st := Status{Now: now, Started: a.started, Queues: map[string]QueueStatus{}, Devices: []DeviceStatus{},
		Workshop: WorkshopStatus{Region: w.Region, Park: w.Park, Enterprise: w.Enterprise, ID: w.ID,
			Name: w.Name, Timezone: w.Timezone}}
	snap := a.obs.snapshot()
	for _, s := range a.sources {
		ss := snap[s.name]
		sec := ""
		if ws, ok := s.src.(interface{ Security() string }); ok {
			sec = ws.Security()
		}
		st.Sources = append(st.Sources, SourceStatus{Name: s.name, State: ss.State.String(), Security: sec, Since: ss.Since,
			Error: ss.Err, Errors: ss.Errors, LastError: ss.LastError})
	}

	if a.pki != nil {
		ps := &PKIStatus{Dir: a.pki.Dir, Own: pki.Describe(a.own.Cert), Rejected: []pki.Info{}}
		ps.Own.Path = a.own.Path
		if infos, _, err := a.pki.List(pki.RejectedDir); err == nil && infos != nil {
			ps.Rejected = infos
		}
		st.PKI = ps
	}

	st.DeadLetters = []deadletter.Entry{}
	for _, es := range a.obs.dead.List() {
		slices.Reverse(es)
		st.DeadLetters = append(st.DeadLetters, es...)
	}
	slices.SortStableFunc(st.DeadLetters, func(x, y deadletter.Entry) int { return y.Time.Compare(x.Time) })

	live := a.kpi.Live(now)
	byID := make(map[string]*kpi.DeviceLive, len(live.Devices))
	for i := range live.Devices {
		byID[live.Devices[i].ID] = &live.Devices[i]
	}
	st.DeviceOffset = q.DeviceOffset
	sum := &st.Summary
	sum.OfflineIDs = []string{}
	for i := range a.cfg.Devices {
		d := &a.cfg.Devices[i]
		sum.Devices++
		state := kpi.StateUnknown
		if dl := byID[d.ID]; dl != nil {
			state = dl.State
		}
		if d.Source != "" {
			sum.WithSource++
			if state != kpi.StateUnknown && state != kpi.StateOffline {
				sum.Online++
			}
		}
		switch state {
		case kpi.StateRunning:
			sum.Running++
		case kpi.StateOffline:
			sum.Offline++
			if len(sum.OfflineIDs) < MaxOfflineIDs {
				sum.OfflineIDs = append(sum.OfflineIDs, d.ID)
			}
		}
		if i < q.DeviceOffset || i >= q.DeviceOffset+q.DeviceLimit {
			continue
		}
		ds := DeviceStatus{ID: d.ID, Name: d.Name, Kind: d.Kind, KeyProcess: d.KeyProcess,
			NumericalControl: d.NumericalControl, Digital: d.IsDigital(), Source: d.Source,
			Connection: "none", State: kpi.StateUnknown.String(), Signals: []SignalStatus{}}
		if d.Source != "" {
			ds.Connection = point.StateConnecting.String()
			if ss, ok := snap[d.Source]; ok {
				ds.Connection = ss.State.String()
			}
		}
		if dl := byID[d.ID]; dl != nil {
			ds.State, ds.StateSince = dl.State.String(), dl.Since
			if !dl.LastSample.IsZero() {
				ds.LastSample, ds.LastSampleAgeS = dl.LastSample, age(now, dl.LastSample)
			}
		}
		for _, sv := range a.values.device(d.ID) {
			ss := SignalStatus{Name: sv.Name, Unit: sv.Unit, Quality: "none"}
			if sv.Seen {
				t := time.Unix(0, sv.Time)
				ss.Quality, ss.Time, ss.AgeS = sv.Quality.String(), t, age(now, t)
			}
			if sv.HasValue {
				v := sv.Value
				ss.Value = &v
			}
			ds.Signals = append(ds.Signals, ss)
		}
		st.Devices = append(st.Devices, ds)
	}

	for _, lw := range live.Workshop {
		ws := WindowStatus{Window: lw.Window, Current: &KPIWindow{Start: lw.Start, End: lw.End, Fields: fieldMap(lw.Fields)}}
		if cw, ok := a.windows.get(lw.Window); ok {
			start := cw.Start.In(lw.Start.Location())
			ws.Last = &KPIWindow{Start: start, End: start.Add(lw.End.Sub(lw.Start)), Fields: fieldMap(cw.Fields)}
		}
		st.WorkshopKPI = append(st.WorkshopKPI, ws)
	}

	for i, f := range a.forwarders {
		fs := f.State()
		name, kind, target := a.sinkInfo(i)
		st.Sinks = append(st.Sinks, SinkStatus{Name: name, Kind: kind, Target: target, Up: fs.Up,
			LastError: fs.LastError, LastWrite: fs.LastWrite})
	}
	for i, q := range a.queues {
		qs := q.Stats()
		name, _, _ := a.sinkInfo(i)
		s := QueueStatus{PendingPoints: int64(qs.PendingPoints), PendingBytes: int64(qs.PendingBytes)}
		if !qs.OldestPending.IsZero() {
			s.OldestPending, s.OldestPendingAgeS = qs.OldestPending, age(time.Now(), qs.OldestPending)
		}
		st.Queues[name] = s
	}
	return st
}

// age returns the seconds from t to now, rounded to milliseconds and never negative.
func age(now, t time.Time) *float64 {
	s := math.Round(max(now.Sub(t), 0).Seconds()*1000) / 1000
	return &s
}

// fieldMap turns KPI fields into a map, leaving out values JSON cannot carry.
func fieldMap(fs []point.Field) map[string]float64 {
	m := make(map[string]float64, len(fs))
	for _, f := range fs {
		if !math.IsNaN(f.Value) && !math.IsInf(f.Value, 0) {
			m[f.Key] = f.Value
		}
	}
	return m
}

// redactedURL hides a password in a URL for display.
func redactedURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return ""
}
