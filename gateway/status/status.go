// Package status is the gateway's status model: the snapshot served at /api/status and
// shown by the status page at /, and how it is computed from the configuration, the
// KPI engine, the last-value store and the states the composition root reports.
package status

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/deadletter"
	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/lastvalue"
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

// Query selects the page of devices in a Status.
type Query struct {
	DeviceOffset, DeviceLimit int
}

// ParseQuery reads device_offset (default 0) and device_limit (default
// DefaultDeviceLimit, 0 for the summary only, at most MaxDeviceLimit) from an
// /api/status query; any other parameter, a repeated one or a bad number is an error.
func ParseQuery(q url.Values) (Query, error) {
	sq := Query{DeviceLimit: DefaultDeviceLimit}
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

// PKIStatus shows the gateway's OPC UA application instance certificate (what the
// machines must trust) and the server certificates waiting in rejected/ for an engineer
// to check and trust (docs/security.md).
type PKIStatus struct {
	Dir      string     `json:"dir"`
	Own      CertInfo   `json:"own"`
	Rejected []CertInfo `json:"rejected"`
}

// CertInfo describes a certificate. It has exactly the fields of the OPC UA adapter's
// pki.Info, which the composition root converts (CertInfo(info)); gateway packages
// import no adapter, and the conversion stops compiling if the two ever differ.
type CertInfo struct {
	Path           string    `json:"path,omitempty"`
	Subject        string    `json:"subject"`
	ApplicationURI string    `json:"application_uri,omitempty"`
	Thumbprint     string    `json:"thumbprint"` // SHA-1 of the DER, hex, as OPC UA tools show it
	NotBefore      time.Time `json:"not_before"`
	NotAfter       time.Time `json:"not_after"`
	IsCA           bool      `json:"is_ca,omitempty"`
	KeyBits        int       `json:"key_bits,omitempty"`
}

// WorkshopStatus is the workshop's identity.
type WorkshopStatus struct {
	Region     string `json:"region"`
	Park       string `json:"park"`
	Enterprise string `json:"enterprise"`
	ID         string `json:"workshop"`
	Name       string `json:"name,omitempty"`
	Timezone   string `json:"timezone"`
	// Instance is the gateway's instance id (gateway/instance), written with its KPI
	// points as tag gateway_instance.
	Instance string `json:"instance"`
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
	// Problem is the newest signal error the device's source reported for it (a meter
	// silent on its RS-485 bus, a CRC mismatch, an exception) while one of the device's
	// signals is bad or the error is newer than its samples; null otherwise.
	Problem *DeviceError `json:"problem"`
}

// DeviceError is a problem a source reported for one device.
type DeviceError struct {
	// Reason is the bounded label of ganlink_source_signal_errors_total, e.g. timeout.
	Reason string    `json:"reason"`
	Error  string    `json:"error"`
	Time   time.Time `json:"time"`
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

// Model computes Status snapshots. The composition root fills it once; the
// functions report what only the root knows (sources, sinks, certificates) and are
// called once per snapshot. Safe for concurrent use if they are.
type Model struct {
	Config  *config.Config
	Clock   func() time.Time // the KPI engine's clock
	KPI     *kpi.Engine
	Values  *lastvalue.Store
	Windows *lastvalue.Windows
	// DeadLetters keeps the inputs sources could not use; nil when none are kept.
	DeadLetters *deadletter.Store
	// Started returns when the gateway started (zero before Run).
	Started func() time.Time
	// Sources returns every source's connection state, in configuration order.
	Sources func() []SourceStatus
	// Sinks returns every sink's delivery state and each sink queue's backlog by sink
	// name.
	Sinks func() ([]SinkStatus, map[string]QueueStatus)
	// DeviceError returns the newest signal error reported for a device; nil when
	// not tracked.
	DeviceError func(id string) (DeviceError, bool)
	// PKI returns the OPC UA certificate state; nil without OPC UA security.
	PKI func() *PKIStatus
	// Instance is the gateway's instance id.
	Instance string
}

// problemCurrent reports whether a device's error still describes it: one of its
// signals is bad, or the error is newer than every sample.
func problemCurrent(de DeviceError, sigs []SignalStatus) bool {
	for _, ss := range sigs {
		if ss.Quality == "bad" || (ss.Quality != "none" && !ss.Time.After(de.Time)) {
			return true
		}
	}
	return len(sigs) == 0
}

// Page returns the snapshot with the devices of page q.
func (m *Model) Page(q Query) Status {
	now := m.Clock()
	w := &m.Config.Workshop
	st := Status{Now: now, Started: m.Started(), Queues: map[string]QueueStatus{}, Devices: []DeviceStatus{},
		Workshop: WorkshopStatus{Region: w.Region, Park: w.Park, Enterprise: w.Enterprise, ID: w.ID,
			Name: w.Name, Timezone: w.Timezone, Instance: m.Instance}}
	st.Sources = m.Sources()
	conn := make(map[string]string, len(st.Sources))
	for _, s := range st.Sources {
		conn[s.Name] = s.State
	}
	st.PKI = m.PKI()

	st.DeadLetters = []deadletter.Entry{}
	if m.DeadLetters != nil {
		for _, es := range m.DeadLetters.List() {
			slices.Reverse(es)
			st.DeadLetters = append(st.DeadLetters, es...)
		}
	}
	slices.SortStableFunc(st.DeadLetters, func(x, y deadletter.Entry) int { return y.Time.Compare(x.Time) })

	live := m.KPI.Live(now)
	byID := make(map[string]*kpi.DeviceLive, len(live.Devices))
	for i := range live.Devices {
		byID[live.Devices[i].ID] = &live.Devices[i]
	}
	st.DeviceOffset = q.DeviceOffset
	sum := &st.Summary
	sum.OfflineIDs = []string{}
	for i := range m.Config.Devices {
		d := &m.Config.Devices[i]
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
			if c, ok := conn[d.Source]; ok {
				ds.Connection = c
			}
		}
		if dl := byID[d.ID]; dl != nil {
			ds.State, ds.StateSince = dl.State.String(), dl.Since
			if !dl.LastSample.IsZero() {
				ds.LastSample, ds.LastSampleAgeS = dl.LastSample, Age(now, dl.LastSample)
			}
		}
		for _, sv := range m.Values.Device(d.ID) {
			ss := SignalStatus{Name: sv.Name, Unit: sv.Unit, Quality: "none"}
			if sv.Seen {
				t := time.Unix(0, sv.Time)
				ss.Quality, ss.Time, ss.AgeS = sv.Quality.String(), t, Age(now, t)
			}
			if sv.HasValue {
				v := sv.Value
				ss.Value = &v
			}
			ds.Signals = append(ds.Signals, ss)
		}
		if m.DeviceError != nil {
			if de, ok := m.DeviceError(d.ID); ok && problemCurrent(de, ds.Signals) {
				ds.Problem = &de
			}
		}
		st.Devices = append(st.Devices, ds)
	}

	for _, lw := range live.Workshop {
		ws := WindowStatus{Window: lw.Window, Current: &KPIWindow{Start: lw.Start, End: lw.End, Fields: fieldMap(lw.Fields)}}
		if cw, ok := m.Windows.Get(lw.Window); ok {
			start := cw.Start.In(lw.Start.Location())
			ws.Last = &KPIWindow{Start: start, End: start.Add(lw.End.Sub(lw.Start)), Fields: fieldMap(cw.Fields)}
		}
		st.WorkshopKPI = append(st.WorkshopKPI, ws)
	}

	st.Sinks, st.Queues = m.Sinks()
	return st
}

// Age returns the seconds from t to now, rounded to milliseconds and never negative.
func Age(now, t time.Time) *float64 {
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

// RedactedURL hides a password in a URL for display.
func RedactedURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return ""
}
