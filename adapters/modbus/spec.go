package modbus

import (
	"fmt"

	"github.com/ganlink/ganlink/adapters/internal/serialline"
	"github.com/ganlink/ganlink/gateway/config"
)

// The Modbus adapter's share of the gateway configuration (docs/configuration.md): the
// sources.modbus[] sections and the keys of the devices bound to one and of their
// signals. gateway validate and the gateway's start both turn them into a Config with
// BuildConfig, so the two apply the same rules.

// SourceSpec is one sources.modbus[] section: one Modbus TCP endpoint (a meter, or an
// RS-485 gateway in front of several units), or one RS-485 bus spoken to in RTU framing
// (serial:// endpoint, or a tcp:// one to a serial server with framing: rtu).
type SourceSpec struct {
	Name string `yaml:"name"`
	// Spec holds endpoint (tcp://host[:port], port 502 if omitted for Modbus TCP; or
	// serial:///dev/ttyUSB0) and, for RTU, the serial line's keys.
	serialline.Spec `yaml:",inline"`
	// Framing is tcp (default on tcp:// endpoints) or rtu (implied by serial://).
	Framing      string          `yaml:"framing"`
	Timeout      config.Duration `yaml:"timeout"`
	ReconnectMin config.Duration `yaml:"reconnect_min"`
	ReconnectMax config.Duration `yaml:"reconnect_max"`
	// MaxFailures is how many timeouts or malformed answers in a row reopen the
	// connection (Modbus TCP), or mark a device as not answering (RTU: per device, the
	// line stays open).
	MaxFailures int `yaml:"max_failures"`
	// MaxGap is how many unused registers one read may span; default DefaultMaxGap.
	MaxGap *int `yaml:"max_gap"`
}

// DeviceSpec is the Modbus binding of a device: the unit and how it is polled.
type DeviceSpec struct {
	// UnitID defaults to DefaultUnitID; PollInterval to DefaultPollInterval.
	UnitID       *int            `yaml:"unit_id"`
	PollInterval config.Duration `yaml:"poll_interval"`
	// MaxRegisters caps one read; MaxGap overrides the source's gap tolerance.
	MaxRegisters int  `yaml:"max_registers"`
	MaxGap       *int `yaml:"max_gap"`
}

// SignalSpec is the Modbus binding of one signal.
type SignalSpec struct {
	Register *Register `yaml:"register"`
}

// Register addresses one Modbus value (see Signal for the meaning of each key).
type Register struct {
	Area      string `yaml:"area"`
	Address   int    `yaml:"address"`
	Type      string `yaml:"type"`
	WordOrder string `yaml:"word_order"`
	ByteOrder string `yaml:"byte_order"`
}

// SourceName implements config.SourceSpec.
func (s *SourceSpec) SourceName() string { return s.Name }

// ApplyDefaults implements config.SourceSpec.
func (s *SourceSpec) ApplyDefaults(*config.Workshop) {
	if s.MaxGap == nil {
		g := DefaultMaxGap
		s.MaxGap = &g
	}
}

// Secrets implements config.SourceSpec: Modbus has none.
func (s *SourceSpec) Secrets() []config.SecretRef { return nil }

// ApplyDefaults implements config.Defaulter.
func (d *DeviceSpec) ApplyDefaults() {
	if d.UnitID == nil {
		u := DefaultUnitID
		d.UnitID = &u
	}
	if !d.PollInterval.Set() {
		d.PollInterval = config.Dur(DefaultPollInterval)
	}
}

// Period implements config.Periodic: a polled device is offline after 3 polls
// without an answer.
func (d *DeviceSpec) Period() config.Duration { return d.PollInterval }

// Kind is the modbus adapter's share of the gateway configuration: its sections and
// keys, checked by BuildConfig.
var Kind = config.AdapterKind{
	Kind:   "modbus",
	Source: func() config.SourceSpec { return &SourceSpec{} },
	Device: func() any { return &DeviceSpec{} },
	Signal: func() any { return &SignalSpec{} },
	Checks: config.CheckWith(BuildConfig),
}

// BuildConfig turns a sources.modbus section and the devices bound to it into the
// source's Config and checks it with the Config's own rules: every problem names its
// YAML path. A source without devices yields a Config without devices, which the
// gateway does not run.
func BuildConfig(src *config.Source, devices []config.BoundDevice, w *config.Workshop) (Config, config.Errors) {
	s, errs := config.SpecOf[*SourceSpec](src)
	if errs != nil {
		return Config{}, errs
	}
	ck := &config.Checker{}
	p := src.Path
	ck.Required(p+".endpoint", s.Endpoint)
	ck.Duration(p+".timeout", s.Timeout)
	ck.Duration(p+".reconnect_min", s.ReconnectMin)
	ck.Duration(p+".reconnect_max", s.ReconnectMax)
	c := Config{Name: s.Name, Endpoint: s.Endpoint, Framing: s.Framing, Timeout: s.Timeout.D, ReconnectMin: s.ReconnectMin.D,
		ReconnectMax: s.ReconnectMax.D, MaxFailures: s.MaxFailures, MaxGap: DefaultMaxGap}
	if c.RTU() {
		c.Line = s.Spec.Line(ck, p, rtuParity)
	} else {
		ck.Duration(p+".response_timeout", s.ResponseTimeout)
		ck.Duration(p+".turnaround_delay", s.TurnaroundDelay)
		c.Line = serialline.Line{BaudRate: s.BaudRate, DataBits: s.DataBits, Parity: s.Parity, StopBits: s.StopBits,
			ResponseTimeout: s.ResponseTimeout.D, TurnaroundDelay: s.TurnaroundDelay.D}
	}
	if s.MaxGap != nil {
		c.MaxGap = *s.MaxGap
	}
	elems := map[string]string{}
	incomplete := map[string]bool{} // devices with a signal left out for a missing register
	for _, d := range devices {
		ds, _ := d.Binding.(*DeviceSpec)
		if ds == nil {
			ds = &DeviceSpec{}
			ds.ApplyDefaults()
		}
		ck.Interval(d.Path+".poll_interval", ds.PollInterval, DefaultPollInterval)
		md := Device{Device: d.ID, Measurement: d.Kind, Tags: config.IdentityTags(w, d.Device),
			UnitID: *ds.UnitID, PollInterval: ds.PollInterval.D, MaxRegisters: ds.MaxRegisters, MaxGap: ds.MaxGap}
		dp := fmt.Sprintf("devices[%d]", len(c.Devices))
		elems[dp] = d.Path
		for _, name := range d.SignalNames() {
			sig := d.Signals[name]
			sp := d.SignalPath(name)
			ss, _ := sig.Binding.(*SignalSpec)
			if ss == nil || ss.Register == nil {
				ck.Add(sp+".register", "required")
				incomplete[dp+".signals"] = true
				continue
			}
			r := ss.Register
			elems[fmt.Sprintf("%s.signals[%d]", dp, len(md.Signals))] = sp
			md.Signals = append(md.Signals, Signal{Field: name, Area: r.Area, Address: r.Address,
				Type: r.Type, WordOrder: r.WordOrder, ByteOrder: r.ByteOrder, Conv: sig.Conv()})
		}
		c.Devices = append(c.Devices, md)
	}
	mapped := ck.Mapped(p, elems, configKeys)
	c.check(func(field, format string, a ...any) {
		if field == "devices" && len(c.Devices) == 0 || incomplete[field] {
			return // a source without devices is not run; a missing register is reported
		}
		mapped(field, format, a...)
	})
	return c, ck.Problems()
}

// configKeys maps the fields Config.Validate names to the keys of the configuration.
var configKeys = map[string]string{
	"area": "register.area", "address": "register.address", "type": "register.type",
	"word_order": "register.word_order", "byte_order": "register.byte_order",
	"device": "", "measurement": "", "tags": "", "field": "",
}
