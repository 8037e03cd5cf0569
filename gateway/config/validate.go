package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

// Defaults used when a key is absent.
const (
	DefaultAdminListen       = "127.0.0.1:9273"
	DefaultQueueDir          = "./ganlink-data/queue"
	DefaultPKIDir            = "./ganlink-data/pki"
	DefaultTimezone          = "Asia/Shanghai"
	DefaultDeadLetterKeep    = 20
	DefaultDeadLetterPayload = 4 << 10
	DefaultMaxTimeAhead      = 10 * time.Minute
	DefaultHealthInterval    = time.Minute
)

// ApplyDefaults fills absent keys with their defaults.
func (c *Config) ApplyDefaults() {
	if c.Workshop.Timezone == "" {
		c.Workshop.Timezone = DefaultTimezone
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = DefaultAdminListen
	}
	if c.Queue.Dir == "" {
		c.Queue.Dir = DefaultQueueDir
	}
	if c.PKI.Dir == "" {
		c.PKI.Dir = filepath.Join(filepath.Dir(filepath.Clean(c.Queue.Dir)), "pki")
	}
	if c.PKI.ApplicationURI == "" {
		c.PKI.ApplicationURI = "urn:ganlink:gateway:" + c.Workshop.ID
	}
	if c.PKI.KeyBits == 0 {
		c.PKI.KeyBits = 2048
	}
	if c.KPI.StateFile == "" {
		c.KPI.StateFile = filepath.Join(filepath.Dir(filepath.Clean(c.Queue.Dir)), "kpi-state.json")
	}
	if c.DeadLetters.Dir == "" {
		c.DeadLetters.Dir = filepath.Join(filepath.Dir(filepath.Clean(c.Queue.Dir)), "dead-letters")
	}
	if c.DeadLetters.Keep == 0 {
		c.DeadLetters.Keep = DefaultDeadLetterKeep
	}
	if !c.DeadLetters.MaxPayloadBytes.set() {
		c.DeadLetters.MaxPayloadBytes = Bytes(DefaultDeadLetterPayload)
	}
	if !c.Sources.MaxTimeAhead.set() {
		c.Sources.MaxTimeAhead = Dur(DefaultMaxTimeAhead)
	}
	if !c.Health.Interval.set() {
		c.Health.Interval = Dur(DefaultHealthInterval)
	}
	for i := range c.Sources.List {
		c.Sources.List[i].Spec.ApplyDefaults(&c.Workshop)
	}
	for i := range c.Devices {
		d := &c.Devices[i]
		if b, ok := d.Binding.(Defaulter); ok {
			b.ApplyDefaults()
		}
		if b, ok := d.Binding.(Periodic); ok && !d.Interval.set() {
			d.Interval = b.Period() // offline after 3 periods without an answer
		}
		for name, s := range d.Signals {
			if b, ok := s.Binding.(Defaulter); ok {
				b.ApplyDefaults()
				d.Signals[name] = s
			}
		}
		if d.Digital == nil {
			v := d.Source != ""
			d.Digital = &v
		}
	}
}

// IsDigital reports whether the device is digital equipment.
func (d *Device) IsDigital() bool { return d.Digital != nil && *d.Digital }

// SignalNames returns the device's signal names sorted, for a stable order.
// Conv is the signal's conversion: value × scale + offset, text through map. Its
// Problems are configuration errors of the signal.
func (s *Signal) Conv() point.Conv {
	c := point.Conv{Offset: s.Offset, Map: s.Map}
	if s.Scale != nil {
		c.Scale = *s.Scale
	}
	return c
}

func (d *Device) SignalNames() []string {
	names := make([]string, 0, len(d.Signals))
	for n := range d.Signals {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Validate checks a configuration that has defaults applied and returns every problem.
func (c *Config) Validate() error {
	if p := c.validate(); len(p) > 0 {
		return p
	}
	return nil
}

var (
	idRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`)
	fieldRE  = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	regionRE = regexp.MustCompile(`^[1-8][0-9]{5}$`)
)

// Checker collects problems at YAML paths; the adapters check their sections with it.
type Checker struct{ probs Errors }

// Problems returns the problems collected.
func (ck *Checker) Problems() Errors { return ck.probs }

func (ck *Checker) Add(path, format string, a ...any) {
	ck.probs = append(ck.probs, Problem{Path: path, Msg: fmt.Sprintf(format, a...)})
}

func (ck *Checker) Required(path, v string) bool {
	if strings.TrimSpace(v) == "" {
		ck.Add(path, "required")
		return false
	}
	return true
}

func (ck *Checker) ID(path, v string) {
	if ck.Required(path, v) && !idRE.MatchString(v) {
		ck.Add(path, "invalid id %q: use letters, digits, '_', '.', ':' or '-'", v)
	}
}

func (ck *Checker) Duration(path string, d Duration) {
	if d.bad {
		ck.Add(path, "invalid duration %q: want e.g. \"500ms\", \"1s\", \"5m\"", d.Raw)
	}
}

func (ck *Checker) Size(path string, b ByteSize) {
	if b.bad {
		ck.Add(path, "invalid size %q: want e.g. \"64KiB\", \"1GiB\" or a number of bytes", b.Raw)
	}
}

func (ck *Checker) OneOf(path, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	ck.Add(path, "invalid value %q: want one of %s", v, strings.Join(allowed, ", "))
}

func (c *Config) validate() Errors {
	ck := &Checker{}
	w := &c.Workshop
	if ck.Required("workshop.region", w.Region) && !regionRE.MatchString(w.Region) {
		ck.Add("workshop.region", "invalid region code %q: want a 6-digit GB/T 2260 code such as \"360100\"", w.Region)
	}
	ck.ID("workshop.park", w.Park)
	ck.ID("workshop.enterprise", w.Enterprise)
	ck.ID("workshop.workshop", w.ID)
	if _, err := time.LoadLocation(w.Timezone); err != nil {
		ck.Add("workshop.timezone", "unknown time zone %q", w.Timezone)
	}
	if _, port, err := net.SplitHostPort(c.Admin.Listen); err != nil || port == "" {
		ck.Add("admin.listen", "invalid address %q: want host:port", c.Admin.Listen)
	}
	c.validateAdminAuth(ck)
	if k := c.PKI.KeyBits; k != 2048 && k != 3072 && k != 4096 {
		ck.Add("pki.key_bits", "invalid key size %d: want 2048, 3072 or 4096", k)
	}
	if u, err := url.Parse(c.PKI.ApplicationURI); err != nil || u.Scheme == "" {
		ck.Add("pki.application_uri", "invalid application URI %q: want an absolute URI such as urn:ganlink:gateway:ws1", c.PKI.ApplicationURI)
	}
	if c.Queue.Fsync != "" && c.Queue.Fsync != "always" {
		if d, err := time.ParseDuration(c.Queue.Fsync); err != nil || d <= 0 {
			ck.Add("queue.fsync", "invalid value %q: want \"always\" or a duration such as \"1s\"", c.Queue.Fsync)
		}
	}
	ck.Size("queue.max_bytes", c.Queue.MaxBytes)
	if c.Queue.MaxBytes.set() && !c.Queue.MaxBytes.bad && c.Queue.MaxBytes.N < 1<<20 {
		ck.Add("queue.max_bytes", "too small %q: want at least 1MiB", c.Queue.MaxBytes.Raw)
	}

	c.validateKPI(ck)
	if k := c.DeadLetters.Keep; k < 1 || k > 1000 {
		ck.Add("dead_letters.keep", "invalid value %d: want 1 to 1000", k)
	}
	ck.Size("dead_letters.max_payload_bytes", c.DeadLetters.MaxPayloadBytes)
	if n := c.DeadLetters.MaxPayloadBytes.N; !c.DeadLetters.MaxPayloadBytes.bad && (n < 1 || n > 1<<20) {
		ck.Add("dead_letters.max_payload_bytes", "invalid size %q: want 1 byte to 1MiB", c.DeadLetters.MaxPayloadBytes.Raw)
	}
	ck.Duration("health.interval", c.Health.Interval)
	if d := c.Health.Interval; !d.bad && d.D != 0 && (d.D < time.Second || d.D > time.Hour) {
		ck.Add("health.interval", "invalid interval %q: want 0s (off) or 1s to 1h", d.Raw)
	}
	ck.Duration("sources.max_time_ahead", c.Sources.MaxTimeAhead)
	if d := c.Sources.MaxTimeAhead; !d.bad && d.D < time.Second {
		ck.Add("sources.max_time_ahead", "invalid value %q: want at least 1s", d.Raw)
	}

	// Sources: names are unique across kinds; devices refer to them.
	kinds := map[string]string{}
	badSource := map[string]bool{}
	for i := range c.Sources.List {
		src := &c.Sources.List[i]
		name, path := src.Name(), src.Path+".name"
		ck.ID(path, name)
		if _, dup := kinds[name]; dup && name != "" {
			ck.Add(path, "duplicate source name %q", name)
			badSource[name] = true
		}
		kinds[name] = src.Kind
	}

	sinks := map[string]bool{}
	for i := range c.Sinks.Influx {
		s := &c.Sinks.Influx[i]
		p := fmt.Sprintf("sinks.influx[%d]", i)
		ck.ID(p+".name", s.Name)
		if sinks[s.Name] {
			ck.Add(p+".name", "duplicate sink name %q", s.Name)
		}
		sinks[s.Name] = true
		if ck.Required(p+".url", s.URL) {
			if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				ck.Add(p+".url", "invalid url %q: want http(s)://host:port", redactURL(s.URL))
			}
		}
		ck.Required(p+".bucket", s.Bucket)
		for _, d := range []struct {
			k string
			v Duration
		}{{"timeout", s.Timeout}, {"flush_interval", s.FlushInterval}, {"retry_min", s.RetryMin}, {"retry_max", s.RetryMax}} {
			ck.Duration(p+"."+d.k, d.v)
		}
		if s.RetryMin.set() && s.RetryMax.set() && !s.RetryMin.bad && !s.RetryMax.bad && s.RetryMax.D < s.RetryMin.D {
			ck.Add(p+".retry_max", "invalid value %q: must not be below retry_min (%s)", s.RetryMax.Raw, s.RetryMin.D)
		}
		ck.Size(p+".batch_bytes", s.BatchBytes)
	}

	if len(c.Devices) == 0 {
		// The inventory is the denominator of every rate: a gateway without one records
		// nothing and reports nothing.
		ck.Add("devices", "empty inventory: list the workshop's equipment and meters, including machines without a network connection")
	}
	ids := map[string]int{}
	for i := range c.Devices {
		d := &c.Devices[i]
		before := len(ck.probs)
		p := fmt.Sprintf("devices[%d]", i)
		ck.ID(p+".id", d.ID)
		if j, dup := ids[d.ID]; dup && d.ID != "" {
			ck.Add(p+".id", "duplicate device id %q (also devices[%d])", d.ID, j)
		} else {
			ids[d.ID] = i
		}
		if ck.Required(p+".kind", d.Kind) && !fieldRE.MatchString(d.Kind) {
			ck.Add(p+".kind", "invalid kind %q: use lower-case letters, digits and '_' (cnc, machine, robot, energy_meter, water_meter, ...)", d.Kind)
		}
		if !(d.UnitValueYuan >= 0) || math.IsInf(d.UnitValueYuan, 0) {
			ck.Add(p+".unit_value_yuan", "invalid value %g: want a finite number, not negative", d.UnitValueYuan)
		}
		ck.Duration(p+".interval", d.Interval)
		ck.semantics(p, d)
		if d.Source != "" {
			if _, ok := kinds[d.Source]; !ok {
				ck.Add(p+".source", "unknown source %q", d.Source)
			}
		} else if len(d.Signals) > 0 {
			ck.Add(p+".source", "required: the device has signals")
		}
		for _, name := range d.SignalNames() {
			s := d.Signals[name]
			sp := p + ".signals." + name
			if !fieldRE.MatchString(name) || strings.HasSuffix(name, "_quality") {
				ck.Add(sp, "invalid signal name %q: use lower-case letters, digits and '_', not ending in _quality", name)
			}
			if s.Scale != nil && *s.Scale == 0 {
				ck.Add(sp+".scale", "invalid value 0: a scale of zero discards the value")
			}
			conv := s.Conv()
			for _, pr := range conv.Problems() {
				ck.Add(sp+"."+pr.Key, "%s", pr.Msg)
			}
		}
		if len(ck.probs) > before {
			badSource[d.Source] = true
		}
	}
	for i := range c.Sources.List {
		src := &c.Sources.List[i]
		if badSource[src.Name()] {
			continue // the adapters check sources whose common keys are valid
		}
		k := c.kinds.byName(src.Kind)
		if k == nil {
			ck.Add(src.Path, "no adapter for sources of kind %q", src.Kind)
			continue
		}
		ck.probs = append(ck.probs, k.Check(src, c.DevicesOf(src.Name()), &c.Workshop)...)
	}
	return ck.probs
}

// validateAdminAuth checks the admin endpoint's optional authentication.
func (c *Config) validateAdminAuth(ck *Checker) {
	a := &c.Admin
	if b := a.BasicAuth; b != nil {
		if ck.Required("admin.basic_auth.username", b.Username) && strings.ContainsAny(b.Username, ":\r\n") {
			ck.Add("admin.basic_auth.username", "invalid user name %q: no ':' or line breaks", b.Username)
		}
		if b.Password == "" && b.PasswordFile == "" {
			ck.Add("admin.basic_auth.password", "required: set password_file or password")
		}
		if a.Token != "" {
			ck.Add("admin.token", "set either basic_auth or a token, not both")
		}
	}
	seen := map[string]int{}
	if a.BasicAuth != nil && a.BasicAuth.Username != "" {
		seen[a.BasicAuth.Username] = -1
	}
	for i, u := range a.Users {
		p := fmt.Sprintf("admin.users[%d]", i)
		if ck.Required(p+".name", u.Name) {
			switch j, dup := seen[u.Name]; {
			case strings.ContainsAny(u.Name, ":\r\n"):
				ck.Add(p+".name", "invalid user name %q: no ':' or line breaks", u.Name)
			case dup && j < 0:
				ck.Add(p+".name", "user %q is also admin.basic_auth.username: one name, one password", u.Name)
			case dup:
				ck.Add(p+".name", "user %q is also admin.users[%d]", u.Name, j)
			default:
				seen[u.Name] = i
			}
		}
		if ck.Required(p+".role", u.Role) && u.Role != RoleViewer && u.Role != RoleEngineer {
			ck.Add(p+".role", "unknown role %q: want %s or %s", u.Role, RoleViewer, RoleEngineer)
		}
		if u.Password == "" && u.PasswordFile == "" {
			ck.Add(p+".password", "required: set password_file or password")
		}
	}
	if a.ProtectMetrics && a.BasicAuth == nil && a.Token == "" && a.TokenFile == "" && len(a.Users) == 0 {
		ck.Add("admin.protect_metrics", "needs basic_auth, a token or users")
	}
}

// redactURL hides the password of a URL in a message, also in one that does not parse.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return userinfoRE.ReplaceAllString(s, "://xxxxx@")
}

var userinfoRE = regexp.MustCompile(`://[^/@]*@`)

// Weekdays maps the shift day names to time.Weekday.
var Weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

var clockRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$`)

func (c *Config) validateKPI(ck *Checker) {
	k := &c.KPI
	for i, w := range k.Windows {
		p := fmt.Sprintf("kpi.windows[%d]", i)
		ck.Duration(p, w)
		if !w.bad && (w.D < time.Second || (24*time.Hour)%w.D != 0) {
			ck.Add(p, "invalid window %q: must be at least 1s and divide a day", w.Raw)
		}
	}
	ck.Duration("kpi.allowed_lateness", k.AllowedLateness)
	ck.Duration("kpi.debounce", k.Debounce)
	ck.Duration("kpi.max_integration_gap", k.MaxIntegrationGap)
	if k.KgcePerKWh != nil && (!(*k.KgcePerKWh > 0) || math.IsInf(*k.KgcePerKWh, 0)) {
		ck.Add("kpi.kgce_per_kwh", "invalid value %g: want a finite number, positive", *k.KgcePerKWh)
	}
	if k.PowerIdleKW != nil && (!(*k.PowerIdleKW >= 0) || math.IsInf(*k.PowerIdleKW, 0)) {
		ck.Add("kpi.power_idle_kw", "invalid value %g: want a finite number, not negative", *k.PowerIdleKW)
	}
	for i, s := range k.Shifts {
		p := fmt.Sprintf("kpi.shifts[%d]", i)
		if !clockRE.MatchString(s.Start) {
			ck.Add(p+".start", "invalid time %q: want HH:MM", s.Start)
		}
		if !clockRE.MatchString(s.End) {
			ck.Add(p+".end", "invalid time %q: want HH:MM", s.End)
		}
		for j, d := range s.Days {
			if _, ok := Weekdays[d]; !ok {
				ck.Add(fmt.Sprintf("%s.days[%d]", p, j), "invalid day %q: want mon, tue, wed, thu, fri, sat or sun", d)
			}
		}
	}
}

// Has reports whether a problem was reported at path.
func (ck *Checker) Has(path string) bool {
	for _, p := range ck.probs {
		if p.Path == path {
			return true
		}
	}
	return false
}

// Set reports whether the duration was given.
func (d Duration) Set() bool { return d.set() }

// Set reports whether the size was given.
func (b ByteSize) Set() bool { return b.set() }
