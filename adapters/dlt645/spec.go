package dlt645

import (
	"fmt"

	"github.com/ganlink/ganlink/adapters/internal/serialline"
	"github.com/ganlink/ganlink/gateway/config"
)

// The DL/T 645 adapter's share of the gateway configuration (docs/configuration.md):
// the sources.dlt645[] sections (one RS-485 bus each) and the keys of the meters bound
// to one and of their signals. gateway validate and the gateway's start both turn them
// into a Config with BuildConfig, so the two apply the same rules.

// SourceSpec is one sources.dlt645[] section: one bus, with the serial line's keys
// (serialline.Spec: endpoint, baud_rate, data_bits, parity, stop_bits,
// response_timeout, turnaround_delay) inline. The baud rate defaults to 2400 and the
// parity to even, as DL/T 645-2007 meters ship.
type SourceSpec struct {
	Name            string `yaml:"name"`
	serialline.Spec `yaml:",inline"`
}

// DeviceSpec is the DL/T 645 binding of a device: the meter's address and how often
// it is polled.
type DeviceSpec struct {
	// Address is the 12-digit meter address (通信地址) as on the nameplate.
	Address      string          `yaml:"address"`
	PollInterval config.Duration `yaml:"poll_interval"`
}

// SignalSpec is the DL/T 645 binding of one signal: the data identifier read, and the
// value format when the identifier is not in the package's table (Items).
type SignalSpec struct {
	DI     string `yaml:"di"`
	Format string `yaml:"format"`
}

// SourceName implements config.SourceSpec.
func (s *SourceSpec) SourceName() string { return s.Name }

// ApplyDefaults implements config.SourceSpec: 2400 baud unless set.
func (s *SourceSpec) ApplyDefaults(*config.Workshop) {
	if s.BaudRate == 0 {
		s.BaudRate = DefaultBaudRate
	}
}

// Secrets implements config.SourceSpec: DL/T 645 reads need none.
func (s *SourceSpec) Secrets() []config.SecretRef { return nil }

// ApplyDefaults implements config.Defaulter.
func (d *DeviceSpec) ApplyDefaults() {
	if !d.PollInterval.Set() {
		d.PollInterval = config.Dur(DefaultPollInterval)
	}
}

// Period implements config.Periodic: a polled meter is offline after 3 polls without
// an answer.
func (d *DeviceSpec) Period() config.Duration { return d.PollInterval }

// Kind is the dlt645 adapter's share of the gateway configuration.
var Kind = config.AdapterKind{
	Kind:   "dlt645",
	Source: func() config.SourceSpec { return &SourceSpec{} },
	Device: func() any { return &DeviceSpec{} },
	Signal: func() any { return &SignalSpec{} },
	Checks: config.CheckWith(BuildConfig),
}

// BuildConfig turns a sources.dlt645 section and the meters bound to it into the
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
	c := Config{Name: s.Name, Line: s.Line(ck, p, DefaultParity)}
	elems := map[string]string{}
	skip := map[string]bool{} // fields already reported at their YAML path
	for _, d := range devices {
		ds, _ := d.Binding.(*DeviceSpec)
		if ds == nil {
			ds = &DeviceSpec{}
			ds.ApplyDefaults()
		}
		ck.Interval(d.Path+".poll_interval", ds.PollInterval, DefaultPollInterval)
		dp := fmt.Sprintf("devices[%d]", len(c.Devices))
		elems[dp] = d.Path
		md := Device{Device: d.ID, Measurement: d.Kind, Tags: config.IdentityTags(w, d.Device), PollInterval: ds.PollInterval.D}
		if ck.Required(d.Path+".address", ds.Address) {
			a, err := ParseAddress(ds.Address)
			if err != nil {
				ck.Add(d.Path+".address", "%v", err)
			}
			md.Address = a
		}
		if ds.Address == "" || !md.Address.valid() {
			skip[dp+".address"] = true
		}
		for _, name := range d.SignalNames() {
			sig := d.Signals[name]
			sp := d.SignalPath(name)
			ss, _ := sig.Binding.(*SignalSpec)
			if ss == nil || ss.DI == "" {
				ck.Add(sp+".di", "required: the data identifier, e.g. \"00010000\" (total forward active energy)")
				skip[dp+".signals"] = true
				continue
			}
			di, err := ParseDI(ss.DI)
			if err != nil {
				ck.Add(sp+".di", "%v", err)
				skip[dp+".signals"] = true
				continue
			}
			ms := Signal{Field: name, DI: di, Conv: sig.Conv()}
			if ss.Format != "" {
				f, err := ParseFormat(ss.Format)
				if err != nil {
					ck.Add(sp+".format", "%v", err)
					skip[dp+".signals"] = true
					continue
				}
				ms.Format = f
			}
			elems[fmt.Sprintf("%s.signals[%d]", dp, len(md.Signals))] = sp
			md.Signals = append(md.Signals, ms)
		}
		c.Devices = append(c.Devices, md)
	}
	mapped := ck.Mapped(p, elems, configKeys)
	c.check(func(field, format string, a ...any) {
		if field == "devices" && len(c.Devices) == 0 || skip[field] {
			return
		}
		mapped(field, format, a...)
	})
	return c, ck.Problems()
}

// configKeys maps the fields Config.Validate names to the keys of the configuration.
var configKeys = map[string]string{
	"device": "", "measurement": "", "tags": "", "field": "",
}
