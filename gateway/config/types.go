// Package config is the gateway's YAML configuration: the workshop's identity, its
// sources, its full equipment inventory with each device's signal bindings, the queue,
// the sinks and the admin endpoint.
//
// The sections and keys of a source kind (sources.opcua[], an MQTT device's topic, a
// signal's node or register, ...) belong to the adapter of that kind: Load decodes
// them through the Kinds it is given (the composition root's app.Kinds) and calls each
// kind's Check, the adapter's own build of its runtime configuration. This package
// imports no adapter.
//
// Loading is strict (unknown keys are errors), expands ${VAR} in values, reads secrets
// from *_file keys, fills defaults, and validates everything, reporting every problem
// with its YAML path and line: `ws.yaml:42: devices[3].signals.state.node: invalid node
// id "ns=2;x=1"`.
package config

import (
	"time"
)

// Config is the whole gateway configuration.
type Config struct {
	index *index // the lines of the file it was loaded from; nil when built in code
	kinds Kinds

	Workshop Workshop `yaml:"workshop"`
	Admin    Admin    `yaml:"admin"`
	PKI      PKI      `yaml:"pki"`
	Queue    Queue    `yaml:"queue"`
	Sources  Sources  `yaml:"sources"`
	Sinks    Sinks    `yaml:"sinks"`
	KPI      KPI      `yaml:"kpi"`
	// DeadLetters keeps the last inputs each source could not fully use.
	DeadLetters DeadLetters `yaml:"dead_letters"`
	// Health sets the gateway's own health series (docs/metrics.md §1.6).
	Health  Health   `yaml:"health"`
	Devices []Device `yaml:"devices"`

	// Warnings are what Load found worth fixing but not worth refusing the file for (a
	// secret file others can read), in file order: `gateway validate` prints them and
	// the gateway logs them, once per load.
	Warnings Errors `yaml:"-"`
}

// Health sets how often the gateway writes its own health series (gateway_health,
// gateway_source) through its sink queues: default DefaultHealthInterval; 0s turns
// them off.
type Health struct {
	Interval Duration `yaml:"interval"`
}

// DeadLetters keeps, per source, the last inputs that produced a signal error (an MQTT
// payload, a Modbus register block) with their origin, time and error, for the status
// page and `gateway dead-letters` (docs/operations.md).
type DeadLetters struct {
	// Dir defaults to dead-letters next to the queue directory (./ganlink-data/dead-letters).
	Dir string `yaml:"dir"`
	// Keep is how many inputs are kept per source: 1 to 1000, default 20.
	Keep int `yaml:"keep"`
	// MaxPayloadBytes is how much of each input is kept: at most 1MiB, default 4KiB.
	MaxPayloadBytes ByteSize `yaml:"max_payload_bytes"`
}

// KPI configures the KPI engine (docs/metrics.md defines every figure).
type KPI struct {
	// Windows are the tumbling window lengths; each must divide a day. Default 1m, 1h, 24h.
	Windows []Duration `yaml:"windows"`
	// AllowedLateness is how long after its end a window still accepts samples; default 30s.
	AllowedLateness Duration `yaml:"allowed_lateness"`
	// Debounce: a state must hold this long to count as a change; default 0.
	Debounce Duration `yaml:"debounce"`
	// KgcePerKWh converts electricity to standard coal; default 0.1229 (GB/T 2589-2020).
	KgcePerKWh *float64 `yaml:"kgce_per_kwh"`
	// PowerIdleKW: machines known only by power count as running above it; default 0.5.
	PowerIdleKW *float64 `yaml:"power_idle_kw"`
	// MaxIntegrationGap bounds trapezoidal power integration; default 5m.
	MaxIntegrationGap Duration `yaml:"max_integration_gap"`
	// Shifts are the planned busy periods (availability denominator); none = always.
	Shifts []Shift `yaml:"shifts"`
	// StateFile keeps open windows across restarts; default <queue.dir>/../kpi-state.json.
	StateFile string `yaml:"state_file"`
}

// Shift is one planned working period, e.g. {start: "08:00", end: "20:00"}; an end at or
// before the start ends the next day. Days limits it to weekdays (mon..sun); empty = all.
type Shift struct {
	Start string   `yaml:"start"`
	End   string   `yaml:"end"`
	Days  []string `yaml:"days"`
}

// Workshop is the identity every point carries as tags.
type Workshop struct {
	// Region is the GB/T 2260 administrative division code (6 digits), e.g. "360100".
	Region string `yaml:"region"`
	// Park is the industrial park or base id.
	Park string `yaml:"park"`
	// Enterprise is the enterprise id, usually its unified social credit code.
	Enterprise string `yaml:"enterprise"`
	// ID is the workshop id, unique in the province; the "workshop" tag.
	ID string `yaml:"workshop"`
	// Name is a human-readable name (any language); not written as a tag.
	Name string `yaml:"name"`
	// Timezone is the IANA zone for KPI windows and shifts; default Asia/Shanghai.
	Timezone string `yaml:"timezone"`
}

// Admin is the HTTP endpoint serving /metrics, /healthz, /readyz and the status page.
type Admin struct {
	// Listen is host:port; default 127.0.0.1:9273 (loopback only).
	Listen string `yaml:"listen"`
	// BasicAuth or a bearer token (Token/TokenFile, not both methods) protects the status
	// page, /api/status and any other page; none: open.
	BasicAuth *AdminBasicAuth `yaml:"basic_auth"`
	Token     Secret          `yaml:"token"`
	TokenFile string          `yaml:"token_file"`
	// Users sign in to the status and commissioning pages (or send basic
	// authentication), each with a role: viewer (read-only) or engineer (may change the
	// configuration and commission devices). The basic_auth user and the token count as
	// engineers.
	Users []AdminUser `yaml:"users"`
	// ProtectMetrics also requires the credentials for /metrics, /healthz and /readyz.
	ProtectMetrics bool `yaml:"protect_metrics"`
	// Pprof serves the Go runtime profiles under /debug/pprof/ (behind the same
	// authentication as the status page); default false.
	Pprof bool `yaml:"pprof"`
}

// AdminBasicAuth is one user name and password for HTTP basic authentication.
type AdminBasicAuth struct {
	Username     string `yaml:"username"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// The roles of admin.users[].role.
const (
	// RoleViewer reads the status page and the read APIs; it changes nothing.
	RoleViewer = "viewer"
	// RoleEngineer also edits the configuration, commissions devices, records
	// corrections and reads the audit log.
	RoleEngineer = "engineer"
)

// AdminUser is one user of the admin endpoint: a name, a role and a password (from
// password_file, or inline).
type AdminUser struct {
	Name         string `yaml:"name"`
	Role         string `yaml:"role"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// HasCredentials reports whether the admin endpoint has any credentials: basic_auth, a
// token or users. Without any, its pages and read APIs are open and editing is refused.
func (a *Admin) HasCredentials() bool {
	return a.BasicAuth != nil || a.Token != "" || a.TokenFile != "" || len(a.Users) > 0
}

// PKI is the directory of the gateway's OPC UA certificates: its application instance
// certificate (own/, generated on first use) and the trusted and rejected server
// certificates (trusted/, rejected/). docs/security.md describes the set-up.
type PKI struct {
	// Dir defaults to pki next to the queue directory (./ganlink-data/pki).
	Dir string `yaml:"dir"`
	// ApplicationURI is the gateway's OPC UA application URI, written into the generated
	// certificate; default urn:ganlink:gateway:<workshop id>.
	ApplicationURI string `yaml:"application_uri"`
	// KeyBits is the RSA key size of a generated certificate: 2048 (default), 3072 or 4096.
	KeyBits int `yaml:"key_bits"`
}

// Queue is the store-and-forward queue; each sink has its own under Dir/<sink name>.
type Queue struct {
	Dir string `yaml:"dir"`
	// MaxBytes bounds each sink's queue on disk, e.g. "1GiB"; oldest data is dropped
	// beyond. Unset: gateway/queue.DefaultMaxBytes (1GiB).
	MaxBytes ByteSize `yaml:"max_bytes"`
	// Fsync is "always" or an interval such as "1s". Unset: gateway/queue.DefaultFsync
	// ("1s").
	Fsync string `yaml:"fsync"`
}

// Sources lists the southbound connections by protocol.
type Sources struct {
	// MaxTimeAhead is how far a source timestamp may be ahead of the gateway's clock; a
	// later one is replaced by the receive time and counted (reason "future_timestamp"),
	// because a TSDB drops points too far in the future. Default 10m.
	MaxTimeAhead Duration `yaml:"max_time_ahead"`

	// List is every source of every kind (sources.opcua, sources.mqtt, ...), each
	// decoded by its adapter's Kind, in file order.
	List []Source `yaml:"-"`
}

// Of returns the sources of one kind.
func (s *Sources) Of(kind string) []*Source {
	var out []*Source
	for i := range s.List {
		if s.List[i].Kind == kind {
			out = append(out, &s.List[i])
		}
	}
	return out
}

// Named returns the source named name, or nil.
func (s *Sources) Named(name string) *Source {
	for i := range s.List {
		if s.List[i].Name() == name {
			return &s.List[i]
		}
	}
	return nil
}

// Sinks lists the northbound writers.
type Sinks struct {
	Influx []InfluxSink `yaml:"influx"`
}

// InfluxSink writes through the InfluxDB v2 write API: InfluxDB 1.8+/2.x/3.x or
// VictoriaMetrics.
type InfluxSink struct {
	Name      string `yaml:"name"`
	URL       string `yaml:"url"`
	Org       string `yaml:"org"`
	Bucket    string `yaml:"bucket"`
	Token     Secret `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// Gzip compresses request bodies; default true. Timeout bounds each request;
	// default adapters/influx.DefaultTimeout. Unset keys keep the sink's own defaults.
	Gzip    *bool    `yaml:"gzip"`
	Timeout Duration `yaml:"timeout"`
	// BatchBytes caps one write request's uncompressed body, FlushInterval is how long
	// a partial batch may wait, RetryMin and RetryMax bound the retry backoff; unset,
	// they are the forwarder's defaults (gateway/pipeline: 1MiB, 500ms, 500ms, 10s).
	BatchBytes    ByteSize `yaml:"batch_bytes"`
	FlushInterval Duration `yaml:"flush_interval"`
	RetryMin      Duration `yaml:"retry_min"`
	RetryMax      Duration `yaml:"retry_max"`
}

// Device is one piece of equipment in the workshop inventory. Devices without a source
// (legacy machines) send nothing but count in the rates' denominators.
type Device struct {
	ID     string `yaml:"id"`
	Name   string `yaml:"name"`
	Kind   string `yaml:"kind"`
	Vendor string `yaml:"vendor"`
	// KeyProcess marks key-process equipment (关键工序设备), the CNC-rate denominator.
	KeyProcess bool `yaml:"key_process"`
	// NumericalControl marks numerically controlled equipment (数控设备).
	NumericalControl bool `yaml:"numerical_control"`
	// Digital marks equipment able to deliver data (数字化设备); default: has a source.
	Digital *bool `yaml:"digital"`
	// Smart marks smart equipment (智能装备) counted by the 万 programme.
	Smart bool `yaml:"smart"`
	// Class is "equipment" (default: production equipment, counted in every equipment
	// figure) or "meter" (energy, water or gas metering and other instrumentation: feeds
	// the energy and water KPIs, counted in no equipment figure).
	Class string `yaml:"class"`
	// Source names the source (of any kind) the device's signals come from.
	Source string `yaml:"source"`
	// UnitValueYuan is the output value of one part, for per-10k-yuan intensities.
	UnitValueYuan float64 `yaml:"unit_value_yuan"`
	// Interval is the expected report interval of a periodic source (MQTT); the device
	// is offline after 3 intervals without data. Default 0: not periodic.
	Interval Duration `yaml:"interval"`
	// Binding holds the device-level keys of its source's kind (the adapter's type,
	// e.g. the MQTT topic or the Modbus unit id); nil without a source or when the kind
	// has none.
	Binding any `yaml:"-"`
	// Signals maps field names (e.g. "spindle_speed_rpm") to bindings.
	Signals SignalMap `yaml:"signals"`
}

// Signal binds one field of a device to a source address.
type Signal struct {
	// Binding is where the value comes from: the keys of the device's source kind
	// (the adapter's type, e.g. the OPC UA node or the MQTT payload path).
	Binding any    `yaml:"-"`
	Unit    string `yaml:"unit"`
	// Scale and Offset: value × scale + offset; scale defaults to 1.
	Scale  *float64 `yaml:"scale"`
	Offset float64  `yaml:"offset"`
	// Map turns text values into numeric codes.
	Map ValueMap `yaml:"map"`
	// Role names what the value means to the KPI engine: one of the well-known role names
	// (docs/configuration.md). Default: the field name when it is a role name.
	Role string `yaml:"role"`
	// Counter marks a cumulative counter (parts, kWh, m³): KPIs use its deltas. A
	// counter role implies it; nil: not set.
	Counter *bool `yaml:"counter"`
	// MaxRate is the most a counter may rise per hour, in its own unit (kW for a kWh
	// counter: the meter's rated power; parts per hour; m³/h): a faster step is not
	// booked (docs/metrics.md "Counter steps"). Counter signals only; nil: no limit.
	MaxRate *float64 `yaml:"max_rate"`
}

// SignalMap is a device's signals by field name. It decodes in time linear in its size
// (yaml.v3 compares every pair of keys of a mapping).
type SignalMap map[string]Signal

// ValueMap maps text values to numeric codes, decoded like SignalMap.
type ValueMap map[string]float64

// Secret is a string that never prints.
type Secret string

// String returns a redaction marker, so a Secret in a log or error shows nothing.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "******"
}

// GoString keeps %#v from printing the secret.
func (s Secret) GoString() string { return `"******"` }

// MarshalYAML redacts secrets in printed configuration.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// Reveal returns the secret value, for handing to a client library.
func (s Secret) Reveal() string { return string(s) }

// Duration is a YAML duration string ("1s", "500ms"). An invalid string is kept and
// reported by validation with its path.
type Duration struct {
	D   time.Duration
	Raw string
	bad bool
}

// ByteSize is a size such as "64KiB", "1GiB", "500MB" or a plain number of bytes.
type ByteSize struct {
	N   int64
	Raw string
	bad bool
}
