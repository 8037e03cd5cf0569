package mqtt

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ganlink/ganlink/gateway/config"
)

// The MQTT adapter's share of the gateway configuration (docs/configuration.md): the
// sources.mqtt[] sections and the keys of the devices bound to one and of their
// signals. gateway validate and the gateway's start both turn them into a Config with
// BuildConfig, so the two apply the same rules.

// DefaultQoS is the subscription QoS of a configured source.
const DefaultQoS = 1

// SourceSpec is one sources.mqtt[] section: one broker connection.
type SourceSpec struct {
	Name         string        `yaml:"name"`
	Broker       string        `yaml:"broker"`
	ClientID     string        `yaml:"client_id"`
	Username     string        `yaml:"username"`
	Password     config.Secret `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	// TLS applies to ssl://, tls:// and mqtts:// brokers.
	TLS TLSConfig `yaml:"tls"`
	// QoS is 0 or 1; default 1.
	QoS             *int            `yaml:"qos"`
	CleanSession    bool            `yaml:"clean_session"`
	KeepAlive       config.Duration `yaml:"keep_alive"`
	MaxPayloadBytes config.ByteSize `yaml:"max_payload_bytes"`
	// Subscribe lists topic filters; default: every bound device topic.
	Subscribe []string `yaml:"subscribe"`
}

// DeviceSpec is the MQTT binding shared by a device's signals.
type DeviceSpec struct {
	Topic           string `yaml:"topic"`
	Format          string `yaml:"format"`
	TimestampPath   string `yaml:"timestamp_path"`
	TimestampFormat string `yaml:"timestamp_format"`
}

// SignalSpec is the MQTT binding of one signal.
type SignalSpec struct {
	// Topic overrides the device topic.
	Topic string `yaml:"topic"`
	// Path is the JSON path in the payload, e.g. "data.kwh".
	Path string `yaml:"path"`
}

// SourceName implements config.SourceSpec.
func (s *SourceSpec) SourceName() string { return s.Name }

// ApplyDefaults implements config.SourceSpec: QoS 1, the client id
// ganlink-<workshop>-<source>, and the payload size limit.
func (s *SourceSpec) ApplyDefaults(w *config.Workshop) {
	if s.QoS == nil {
		q := DefaultQoS
		s.QoS = &q
	}
	if s.ClientID == "" {
		s.ClientID = "ganlink-" + w.ID + "-" + s.Name
	}
	if !s.MaxPayloadBytes.Set() {
		s.MaxPayloadBytes = config.Bytes(DefaultMaxPayloadBytes)
	}
}

// Secrets implements config.SourceSpec.
func (s *SourceSpec) Secrets() []config.SecretRef {
	return []config.SecretRef{{Key: "password", Value: &s.Password, File: s.PasswordFile},
		{Key: "tls.key_file", File: s.TLS.KeyFile}}
}

// Kind is the mqtt adapter's share of the gateway configuration: its sections and
// keys, checked by BuildConfig.
var Kind = config.AdapterKind{
	Kind:   "mqtt",
	Source: func() config.SourceSpec { return &SourceSpec{} },
	Device: func() any { return &DeviceSpec{} },
	Signal: func() any { return &SignalSpec{} },
	Checks: config.CheckWith(BuildConfig),
}

// BuildConfig turns a sources.mqtt section and the devices bound to it into the
// source's Config (one Binding per distinct topic of a device) and checks it with the
// Config's own rules, loading the TLS files it names: every problem names its YAML
// path. A source without devices yields a Config without bindings, which the gateway
// does not run.
func BuildConfig(src *config.Source, devices []config.BoundDevice, w *config.Workshop) (Config, config.Errors) {
	s, errs := config.SpecOf[*SourceSpec](src)
	if errs != nil {
		return Config{}, errs
	}
	ck := &config.Checker{}
	p := src.Path
	ck.Required(p+".broker", s.Broker)
	ck.Duration(p+".keep_alive", s.KeepAlive)
	ck.Size(p+".max_payload_bytes", s.MaxPayloadBytes)
	c := Config{
		Name: s.Name, Broker: s.Broker, ClientID: s.ClientID, Username: s.Username, Password: s.Password.Reveal(),
		TLS: s.TLS, CleanSession: s.CleanSession, KeepAlive: s.KeepAlive.D,
		MaxPayloadBytes: int(s.MaxPayloadBytes.N), Subscribe: s.Subscribe,
	}
	if s.QoS != nil {
		if q := *s.QoS; q < 0 || q > 1 {
			ck.Add(p+".qos", "invalid qos %d: want 0 or 1", q)
		} else {
			c.QoS = byte(q)
		}
	}
	elems := map[string]string{}
	for _, d := range devices {
		ds, _ := d.Binding.(*DeviceSpec)
		if ds == nil {
			ds = &DeviceSpec{}
		}
		tags := config.IdentityTags(w, d.Device)
		byTopic := map[string]*Binding{}
		origin := map[string]string{} // topic → the YAML path that set it
		for _, name := range d.SignalNames() {
			sig := d.Signals[name]
			ss, _ := sig.Binding.(*SignalSpec)
			if ss == nil {
				ss = &SignalSpec{}
			}
			sp := d.SignalPath(name)
			topic, from := ss.Topic, sp+".topic"
			if topic == "" {
				topic, from = ds.Topic, d.Path+".topic"
			}
			if topic == "" {
				ck.Add(sp+".topic", "required: set the device topic or the signal topic")
				continue
			}
			if ds.Format != "number" {
				ck.Required(sp+".path", ss.Path)
			}
			b := byTopic[topic]
			if b == nil {
				b = &Binding{Device: d.ID, Measurement: d.Kind, Tags: tags, Topic: topic,
					Format: ds.Format, TimestampPath: ds.TimestampPath, TimestampFormat: ds.TimestampFormat}
				byTopic[topic] = b
				origin[topic] = from
			}
			b.Fields = append(b.Fields, FieldBinding{Path: ss.Path, Field: name, Conv: sig.Conv()})
			elems[fmt.Sprintf("bindings[%s].fields[%d]", topic, len(b.Fields)-1)] = sp
		}
		topics := make([]string, 0, len(byTopic))
		for t := range byTopic {
			topics = append(topics, t)
		}
		sort.Strings(topics)
		for _, t := range topics {
			i := len(c.Bindings)
			bp := fmt.Sprintf("bindings[%d]", i)
			elems[bp] = d.Path
			elems[bp+".topic"] = origin[t]
			elems[bp+".fields"] = d.Path + ".format"
			for j := range byTopic[t].Fields {
				elems[fmt.Sprintf("%s.fields[%d]", bp, j)] = elems[fmt.Sprintf("bindings[%s].fields[%d]", t, j)]
			}
			c.Bindings = append(c.Bindings, *byTopic[t])
		}
	}
	mapped := ck.Mapped(p, elems, configKeys)
	report := func(field, format string, a ...any) {
		if field == "bindings" && len(c.Bindings) == 0 {
			return // a source without devices is not run
		}
		mapped(field, format, a...)
	}
	c.check(report)
	if _, err := buildTLS(&c); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			field, msg, _ := strings.Cut(line, ": ")
			report(field, "%s", msg)
		}
	}
	return c, ck.Problems()
}

// configKeys maps the fields Config.Validate names to the keys of the configuration.
var configKeys = map[string]string{"device": "", "measurement": "", "tags": "", "field": ""}
