package opcua

import (
	"fmt"

	"github.com/ganlink/ganlink/gateway/config"
)

// The OPC UA adapter's share of the gateway configuration (docs/configuration.md):
// the sources.opcua[] sections and the keys of the signals of devices bound to one.
// gateway validate and the gateway's start both turn them into a Config with
// BuildConfig, so the two apply the same rules.

// SourceSpec is one sources.opcua[] section: one server endpoint.
type SourceSpec struct {
	Name     string `yaml:"name"`
	Endpoint string `yaml:"endpoint"`
	// SecurityPolicy is auto (default: the strongest the server offers, never None),
	// None, Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss.
	SecurityPolicy string `yaml:"security_policy"`
	// SecurityMode is auto (default; None with security_policy None), Sign or
	// SignAndEncrypt.
	SecurityMode string `yaml:"security_mode"`
	// Username and Password (or PasswordFile) log in by user name; UserCertFile and
	// UserKeyFile (PEM or DER certificate, PEM RSA key) by X.509 user certificate;
	// anonymous without either.
	Username           string          `yaml:"username"`
	Password           config.Secret   `yaml:"password"`
	PasswordFile       string          `yaml:"password_file"`
	UserCertFile       string          `yaml:"user_cert_file"`
	UserKeyFile        string          `yaml:"user_key_file"`
	PublishingInterval config.Duration `yaml:"publishing_interval"`
	ConnectTimeout     config.Duration `yaml:"connect_timeout"`
	ReconnectMax       config.Duration `yaml:"reconnect_max"`
	// Timestamp selects the point time: "source" (default), "server" or "gateway".
	Timestamp string `yaml:"timestamp"`
	// MaxMessageSize bounds a message accepted from the server (8KiB to 1GiB; default
	// 2MiB, DefaultMaxMessageSize): a larger one ends the session, counted as
	// reason malformed_message.
	MaxMessageSize config.ByteSize `yaml:"max_message_size"`
}

// SignalSpec is the OPC UA binding of a signal: exactly one of Node and BrowsePath.
type SignalSpec struct {
	// Node is the node id: ns=2;s=Name, ns=2;i=42 or nsu=URI;s=Name.
	Node string `yaml:"node"`
	// BrowsePath names the node by browse names instead, translated at every connect;
	// BrowseStart is its start node id (default the Objects folder, i=85).
	BrowsePath       string          `yaml:"browse_path"`
	BrowseStart      string          `yaml:"browse_start"`
	SamplingInterval config.Duration `yaml:"sampling_interval"`
	QueueSize        uint32          `yaml:"queue_size"`
	Deadband         *Deadband       `yaml:"deadband"`
}

// Deadband filters small changes at the server.
type Deadband struct {
	Type  string  `yaml:"type"` // absolute | percent
	Value float64 `yaml:"value"`
}

// SourceName implements config.SourceSpec.
func (s *SourceSpec) SourceName() string { return s.Name }

// ApplyDefaults implements config.SourceSpec.
func (s *SourceSpec) ApplyDefaults(*config.Workshop) {
	if s.SecurityPolicy == "" {
		s.SecurityPolicy = Auto
	}
	if s.SecurityMode == "" {
		s.SecurityMode = Auto
		if s.SecurityPolicy == "None" {
			s.SecurityMode = "None"
		}
	}
	if !s.PublishingInterval.Set() {
		s.PublishingInterval = config.Dur(DefaultPublishingInterval)
	}
	if s.Timestamp == "" {
		s.Timestamp = "source"
	}
}

// Secrets implements config.SourceSpec.
func (s *SourceSpec) Secrets() []config.SecretRef {
	return []config.SecretRef{{Key: "password", Value: &s.Password, File: s.PasswordFile},
		{Key: "user_key_file", File: s.UserKeyFile}}
}

// NeedsPKI reports whether the source needs the gateway's application instance
// certificate: it uses security or sends credentials.
func (s *SourceSpec) NeedsPKI() bool {
	return s.SecurityPolicy != "None" || s.Username != "" || s.UserCertFile != ""
}

// Kind is the opcua adapter's share of the gateway configuration: its sections and
// keys, checked by BuildConfig.
var Kind = config.AdapterKind{
	Kind:   "opcua",
	Source: func() config.SourceSpec { return &SourceSpec{} },
	Signal: func() any { return &SignalSpec{} },
	Checks: config.CheckWith(BuildConfig),
}

// maxMessageSizeLimit is the largest max_message_size (Config.check holds the range).
const maxMessageSizeLimit = 1 << 30

// minReconnectMax is the least reconnect_max a configuration may set.
const minReconnectMax = DefaultReconnectMin

// BuildConfig turns a sources.opcua section and the devices bound to it into the
// source's Config, loading the user certificate it names, and checks it with the
// Config's own rules: every problem names its YAML path. PKI and Own are left to the
// caller (the gateway opens its PKI directory only to run).
func BuildConfig(src *config.Source, devices []config.BoundDevice, w *config.Workshop) (Config, config.Errors) {
	s, errs := config.SpecOf[*SourceSpec](src)
	if errs != nil {
		return Config{}, errs
	}
	ck := &config.Checker{}
	p := src.Path
	ck.Required(p+".endpoint", s.Endpoint)
	ck.Duration(p+".publishing_interval", s.PublishingInterval)
	ck.Duration(p+".connect_timeout", s.ConnectTimeout)
	ck.Duration(p+".reconnect_max", s.ReconnectMax)
	ck.Size(p+".max_message_size", s.MaxMessageSize)
	if s.ReconnectMax.Set() && s.ReconnectMax.D > 0 && s.ReconnectMax.D < minReconnectMax {
		ck.Add(p+".reconnect_max", "invalid value %q: want at least %s", s.ReconnectMax.Raw, minReconnectMax)
	}
	c := Config{
		Name: s.Name, Endpoint: s.Endpoint, SecurityPolicy: s.SecurityPolicy, SecurityMode: s.SecurityMode,
		Username: s.Username, Password: s.Password.Reveal(), PublishingInterval: s.PublishingInterval.D,
		ConnectTimeout: s.ConnectTimeout.D, ReconnectMax: s.ReconnectMax.D, Timestamp: s.Timestamp,
	}
	// 0 or unset: the default. Config's range check names a wrong value, except one
	// beyond int32 (an edge box may be 32-bit), reported here as written.
	if n := s.MaxMessageSize.N; n > maxMessageSizeLimit {
		ck.Add(p+".max_message_size", "invalid value %q: want 8192 to 1073741824 bytes", s.MaxMessageSize.Raw)
	} else {
		c.MaxMessageSize = int(n)
	}
	switch {
	case s.UserCertFile != "" && s.UserKeyFile == "":
		ck.Add(p+".user_key_file", "required with user_cert_file")
	case s.UserKeyFile != "" && s.UserCertFile == "":
		ck.Add(p+".user_cert_file", "required with user_key_file")
	case s.UserCertFile != "":
		var err error
		if c.UserCertificate, c.UserKey, err = LoadUserCertificate(s.UserCertFile, s.UserKeyFile); err != nil {
			ck.Add(p+".user_cert_file", "%v", err)
		}
	}
	elems := map[string]string{}
	for _, d := range devices {
		tags := config.IdentityTags(w, d.Device)
		for _, name := range d.SignalNames() {
			sig := d.Signals[name]
			sp := d.SignalPath(name)
			b, _ := sig.Binding.(*SignalSpec)
			if b == nil {
				b = &SignalSpec{}
			}
			ck.Duration(sp+".sampling_interval", b.SamplingInterval)
			it := Item{Device: d.ID, Measurement: d.Kind, Tags: tags, Field: name, NodeID: b.Node,
				BrowsePath: b.BrowsePath, BrowseStart: b.BrowseStart,
				SamplingInterval: b.SamplingInterval.D, QueueSize: b.QueueSize, Conv: sig.Conv()}
			if b.Deadband != nil {
				it.DeadbandType, it.DeadbandValue = b.Deadband.Type, b.Deadband.Value
			}
			elems[fmt.Sprintf("items[%d]", len(c.Items))] = sp
			c.Items = append(c.Items, it)
		}
	}
	c.check(ck.Mapped(p, elems, configKeys), false)
	return c, ck.Problems()
}

// configKeys maps the fields Config.Validate names to the keys of the configuration.
var configKeys = map[string]string{
	"node_id": "node", "deadband_type": "deadband.type", "deadband_value": "deadband.value",
	"device": "", "measurement": "", "field": "",
	"user_certificate": "user_cert_file", "reconnect_min": "reconnect_max",
}
