package config

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

// Defaults used when a key is absent.
const (
	DefaultAdminListen        = "127.0.0.1:9273"
	DefaultQueueDir           = "./ganlink-data/queue"
	DefaultPKIDir             = "./ganlink-data/pki"
	DefaultQueueMaxBytes      = 1 << 30
	DefaultQueueFsync         = "1s"
	DefaultTimezone           = "Asia/Shanghai"
	DefaultPublishingInterval = time.Second
	DefaultMaxPayloadBytes    = 64 << 10
	DefaultBatchBytes         = 1 << 20
	DefaultFlushInterval      = 500 * time.Millisecond
	DefaultRetryMin           = 500 * time.Millisecond
	DefaultRetryMax           = 10 * time.Second
	DefaultSinkTimeout        = 30 * time.Second
	DefaultModbusMaxGap       = 10
	DefaultDeadLetterKeep     = 20
	DefaultDeadLetterPayload  = 4 << 10
	DefaultMaxTimeAhead       = 10 * time.Minute
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
	if !c.Queue.MaxBytes.set() {
		c.Queue.MaxBytes = Bytes(DefaultQueueMaxBytes)
	}
	if c.Queue.Fsync == "" {
		c.Queue.Fsync = DefaultQueueFsync
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
	for i := range c.Sources.OPCUA {
		s := &c.Sources.OPCUA[i]
		if s.SecurityPolicy == "" {
			s.SecurityPolicy = "auto"
		}
		if s.SecurityMode == "" {
			s.SecurityMode = "auto"
			if s.SecurityPolicy == "None" {
				s.SecurityMode = "None"
			}
		}
		if !s.PublishingInterval.set() {
			s.PublishingInterval = Dur(DefaultPublishingInterval)
		}
		if s.Timestamp == "" {
			s.Timestamp = "source"
		}
	}
	for i := range c.Sources.MQTT {
		s := &c.Sources.MQTT[i]
		if s.QoS == nil {
			q := 1
			s.QoS = &q
		}
		if s.ClientID == "" {
			s.ClientID = "ganlink-" + c.Workshop.ID + "-" + s.Name
		}
		if !s.MaxPayloadBytes.set() {
			s.MaxPayloadBytes = Bytes(DefaultMaxPayloadBytes)
		}
	}
	for i := range c.Sinks.Influx {
		s := &c.Sinks.Influx[i]
		if s.Gzip == nil {
			t := true
			s.Gzip = &t
		}
		if !s.Timeout.set() {
			s.Timeout = Dur(DefaultSinkTimeout)
		}
		if !s.BatchBytes.set() {
			s.BatchBytes = Bytes(DefaultBatchBytes)
		}
		if !s.FlushInterval.set() {
			s.FlushInterval = Dur(DefaultFlushInterval)
		}
		if !s.RetryMin.set() {
			s.RetryMin = Dur(DefaultRetryMin)
		}
		if !s.RetryMax.set() {
			s.RetryMax = Dur(DefaultRetryMax)
		}
	}
	for i := range c.Sources.Modbus {
		s := &c.Sources.Modbus[i]
		if s.MaxGap == nil {
			g := DefaultModbusMaxGap
			s.MaxGap = &g
		}
	}
	modbus := map[string]bool{}
	for _, s := range c.Sources.Modbus {
		modbus[s.Name] = true
	}
	for i := range c.Devices {
		d := &c.Devices[i]
		if modbus[d.Source] {
			if d.UnitID == nil {
				u := 1
				d.UnitID = &u
			}
			if !d.PollInterval.set() {
				d.PollInterval = Dur(time.Second)
			}
			if !d.Interval.set() {
				d.Interval = d.PollInterval // offline after 3 polls without an answer
			}
		}
		if d.Digital == nil {
			v := d.Source != ""
			d.Digital = &v
		}
		if d.Format == "" && d.Topic != "" {
			d.Format = "json"
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
	idRE         = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`)
	fieldRE      = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	regionRE     = regexp.MustCompile(`^[1-8][0-9]{5}$`)
	topicLevelRE = regexp.MustCompile(`^[^+#]*$`)
)

type checker struct{ probs Errors }

func (ck *checker) add(path, format string, a ...any) {
	ck.probs = append(ck.probs, Problem{Path: path, Msg: fmt.Sprintf(format, a...)})
}

func (ck *checker) required(path, v string) bool {
	if strings.TrimSpace(v) == "" {
		ck.add(path, "required")
		return false
	}
	return true
}

func (ck *checker) id(path, v string) {
	if ck.required(path, v) && !idRE.MatchString(v) {
		ck.add(path, "invalid id %q: use letters, digits, '_', '.', ':' or '-'", v)
	}
}

func (ck *checker) duration(path string, d Duration) {
	if d.bad {
		ck.add(path, "invalid duration %q: want e.g. \"500ms\", \"1s\", \"5m\"", d.Raw)
	}
}

func (ck *checker) size(path string, b ByteSize) {
	if b.bad {
		ck.add(path, "invalid size %q: want e.g. \"64KiB\", \"1GiB\" or a number of bytes", b.Raw)
	}
}

func (ck *checker) oneOf(path, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	ck.add(path, "invalid value %q: want one of %s", v, strings.Join(allowed, ", "))
}

func (c *Config) validate() Errors {
	ck := &checker{}
	w := &c.Workshop
	if ck.required("workshop.region", w.Region) && !regionRE.MatchString(w.Region) {
		ck.add("workshop.region", "invalid region code %q: want a 6-digit GB/T 2260 code such as \"360100\"", w.Region)
	}
	ck.id("workshop.park", w.Park)
	ck.id("workshop.enterprise", w.Enterprise)
	ck.id("workshop.workshop", w.ID)
	if _, err := time.LoadLocation(w.Timezone); err != nil {
		ck.add("workshop.timezone", "unknown time zone %q", w.Timezone)
	}
	if _, port, err := net.SplitHostPort(c.Admin.Listen); err != nil || port == "" {
		ck.add("admin.listen", "invalid address %q: want host:port", c.Admin.Listen)
	}
	c.validateAdminAuth(ck)
	if k := c.PKI.KeyBits; k != 2048 && k != 3072 && k != 4096 {
		ck.add("pki.key_bits", "invalid key size %d: want 2048, 3072 or 4096", k)
	}
	if u, err := url.Parse(c.PKI.ApplicationURI); err != nil || u.Scheme == "" {
		ck.add("pki.application_uri", "invalid application URI %q: want an absolute URI such as urn:ganlink:gateway:ws1", c.PKI.ApplicationURI)
	}
	if c.Queue.Fsync != "always" {
		if d, err := time.ParseDuration(c.Queue.Fsync); err != nil || d <= 0 {
			ck.add("queue.fsync", "invalid value %q: want \"always\" or a duration such as \"1s\"", c.Queue.Fsync)
		}
	}
	ck.size("queue.max_bytes", c.Queue.MaxBytes)
	if !c.Queue.MaxBytes.bad && c.Queue.MaxBytes.N < 1<<20 {
		ck.add("queue.max_bytes", "too small %q: want at least 1MiB", c.Queue.MaxBytes.Raw)
	}

	c.validateKPI(ck)
	if k := c.DeadLetters.Keep; k < 1 || k > 1000 {
		ck.add("dead_letters.keep", "invalid value %d: want 1 to 1000", k)
	}
	ck.size("dead_letters.max_payload_bytes", c.DeadLetters.MaxPayloadBytes)
	if n := c.DeadLetters.MaxPayloadBytes.N; !c.DeadLetters.MaxPayloadBytes.bad && (n < 1 || n > 1<<20) {
		ck.add("dead_letters.max_payload_bytes", "invalid size %q: want 1 byte to 1MiB", c.DeadLetters.MaxPayloadBytes.Raw)
	}
	ck.duration("sources.max_time_ahead", c.Sources.MaxTimeAhead)
	if d := c.Sources.MaxTimeAhead; !d.bad && d.D < time.Second {
		ck.add("sources.max_time_ahead", "invalid value %q: want at least 1s", d.Raw)
	}

	// Sources: names are unique across protocols; devices refer to them.
	kinds := map[string]string{}
	addSource := func(path, name, kind string) {
		ck.id(path, name)
		if _, dup := kinds[name]; dup && name != "" {
			ck.add(path, "duplicate source name %q", name)
		}
		kinds[name] = kind
	}
	for i := range c.Sources.OPCUA {
		s := &c.Sources.OPCUA[i]
		p := fmt.Sprintf("sources.opcua[%d]", i)
		addSource(p+".name", s.Name, "opcua")
		if ck.required(p+".endpoint", s.Endpoint) {
			if u, err := url.Parse(s.Endpoint); err != nil || u.Scheme != "opc.tcp" || u.Host == "" {
				ck.add(p+".endpoint", "invalid endpoint %q: want opc.tcp://host:port[/path]", redactURL(s.Endpoint))
			}
		}
		ck.opcuaSecurity(p, s)
		ck.duration(p+".publishing_interval", s.PublishingInterval)
		ck.duration(p+".connect_timeout", s.ConnectTimeout)
		ck.duration(p+".reconnect_max", s.ReconnectMax)
		if s.ReconnectMax.set() && !s.ReconnectMax.bad && s.ReconnectMax.D < 500*time.Millisecond {
			ck.add(p+".reconnect_max", "invalid value %q: want at least 500ms", s.ReconnectMax.Raw)
		}
		ck.oneOf(p+".timestamp", s.Timestamp, "source", "server", "gateway")
		if s.Username == "" && s.Password != "" {
			ck.add(p+".username", "required when a password is set")
		}
	}
	for i := range c.Sources.MQTT {
		s := &c.Sources.MQTT[i]
		p := fmt.Sprintf("sources.mqtt[%d]", i)
		addSource(p+".name", s.Name, "mqtt")
		if ck.required(p+".broker", s.Broker) {
			u, err := url.Parse(s.Broker)
			switch {
			case err != nil || (u.Scheme != "tcp" && u.Scheme != "mqtt" && !mqttTLSScheme(u.Scheme)) || u.Host == "" || u.Hostname() == "":
				ck.add(p+".broker", "invalid broker %q: want tcp://host:port, or ssl://host:port for TLS", redactURL(s.Broker))
			case u.User != nil:
				ck.add(p+".broker", "invalid broker %q: credentials in the URL; use username and password_file", redactURL(s.Broker))
			case !mqttTLSScheme(u.Scheme) && s.TLS != (MQTTTLS{}):
				ck.add(p+".tls", "set for the plain broker %q: use ssl://, tls:// or mqtts://", s.Broker)
			}
		}
		if s.Username == "" && s.Password != "" {
			ck.add(p+".username", "required when a password is set")
		}
		ck.mqttTLS(p+".tls", &s.TLS)
		if s.QoS != nil && *s.QoS != 0 && *s.QoS != 1 {
			ck.add(p+".qos", "invalid qos %d: want 0 or 1", *s.QoS)
		}
		ck.duration(p+".keep_alive", s.KeepAlive)
		ck.size(p+".max_payload_bytes", s.MaxPayloadBytes)
		for j, f := range s.Subscribe {
			if err := validTopicFilter(f); err != nil {
				ck.add(fmt.Sprintf("%s.subscribe[%d]", p, j), "%v", err)
			}
		}
	}

	for i := range c.Sources.Modbus {
		s := &c.Sources.Modbus[i]
		p := fmt.Sprintf("sources.modbus[%d]", i)
		addSource(p+".name", s.Name, "modbus")
		if ck.required(p+".endpoint", s.Endpoint) {
			if u, err := url.Parse(s.Endpoint); err != nil || u.Scheme != "tcp" || u.Hostname() == "" {
				ck.add(p+".endpoint", "invalid endpoint %q: want tcp://host[:port]", redactURL(s.Endpoint))
			}
		}
		ck.duration(p+".timeout", s.Timeout)
		ck.duration(p+".reconnect_min", s.ReconnectMin)
		ck.duration(p+".reconnect_max", s.ReconnectMax)
		if s.MaxFailures < 0 {
			ck.add(p+".max_failures", "invalid value %d: must not be negative", s.MaxFailures)
		}
		if s.MaxGap != nil && (*s.MaxGap < 0 || *s.MaxGap > 124) {
			ck.add(p+".max_gap", "invalid value %d: want 0..124", *s.MaxGap)
		}
	}

	sinks := map[string]bool{}
	for i := range c.Sinks.Influx {
		s := &c.Sinks.Influx[i]
		p := fmt.Sprintf("sinks.influx[%d]", i)
		ck.id(p+".name", s.Name)
		if sinks[s.Name] {
			ck.add(p+".name", "duplicate sink name %q", s.Name)
		}
		sinks[s.Name] = true
		if ck.required(p+".url", s.URL) {
			if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				ck.add(p+".url", "invalid url %q: want http(s)://host:port", redactURL(s.URL))
			}
		}
		ck.required(p+".bucket", s.Bucket)
		for _, d := range []struct {
			k string
			v Duration
		}{{"timeout", s.Timeout}, {"flush_interval", s.FlushInterval}, {"retry_min", s.RetryMin}, {"retry_max", s.RetryMax}} {
			ck.duration(p+"."+d.k, d.v)
		}
		if !s.RetryMin.bad && !s.RetryMax.bad && s.RetryMax.D < s.RetryMin.D {
			ck.add(p+".retry_max", "invalid value %q: must not be below retry_min (%s)", s.RetryMax.Raw, s.RetryMin.D)
		}
		ck.size(p+".batch_bytes", s.BatchBytes)
	}

	ids := map[string]int{}
	for i := range c.Devices {
		d := &c.Devices[i]
		p := fmt.Sprintf("devices[%d]", i)
		ck.id(p+".id", d.ID)
		if j, dup := ids[d.ID]; dup && d.ID != "" {
			ck.add(p+".id", "duplicate device id %q (also devices[%d])", d.ID, j)
		} else {
			ids[d.ID] = i
		}
		if ck.required(p+".kind", d.Kind) && !fieldRE.MatchString(d.Kind) {
			ck.add(p+".kind", "invalid kind %q: use lower-case letters, digits and '_' (cnc, machine, robot, energy_meter, water_meter, ...)", d.Kind)
		}
		if !(d.UnitValueYuan >= 0) || math.IsInf(d.UnitValueYuan, 0) {
			ck.add(p+".unit_value_yuan", "invalid value %g: want a finite number, not negative", d.UnitValueYuan)
		}
		ck.duration(p+".interval", d.Interval)
		ck.semantics(p, d)
		kind := ""
		if d.Source != "" {
			k, ok := kinds[d.Source]
			if !ok {
				ck.add(p+".source", "unknown source %q", d.Source)
			}
			kind = k
		} else if len(d.Signals) > 0 {
			ck.add(p+".source", "required: the device has signals")
		}
		if kind == "mqtt" {
			if d.Format != "" {
				ck.oneOf(p+".format", d.Format, "json", "number")
			}
			if d.TimestampFormat != "" {
				ck.oneOf(p+".timestamp_format", d.TimestampFormat, "auto", "epoch_ms", "epoch_s", "rfc3339")
			}
			if d.Topic != "" {
				if err := validTopicFilter(d.Topic); err != nil {
					ck.add(p+".topic", "%v", err)
				}
			}
			if d.TimestampPath != "" {
				if err := validPath(d.TimestampPath); err != nil {
					ck.add(p+".timestamp_path", "%v", err)
				}
			}
		}
		if kind == "modbus" {
			if d.UnitID != nil && (*d.UnitID < 0 || *d.UnitID > 255) {
				ck.add(p+".unit_id", "invalid unit id %d: want 0..255", *d.UnitID)
			}
			ck.duration(p+".poll_interval", d.PollInterval)
			if !d.PollInterval.bad && d.PollInterval.set() && d.PollInterval.D < 10*time.Millisecond {
				ck.add(p+".poll_interval", "invalid value %q: want at least 10ms", d.PollInterval.Raw)
			}
			if d.MaxRegisters < 0 || d.MaxRegisters > 125 {
				ck.add(p+".max_registers", "invalid value %d: want 1..125", d.MaxRegisters)
			}
			if d.MaxGap != nil && (*d.MaxGap < 0 || *d.MaxGap > 124) {
				ck.add(p+".max_gap", "invalid value %d: want 0..124", *d.MaxGap)
			}
		} else if d.UnitID != nil || d.PollInterval.set() || d.MaxRegisters != 0 || d.MaxGap != nil {
			ck.add(p, "unit_id, poll_interval, max_registers and max_gap apply to Modbus sources only")
		}
		if kind == "opcua" {
			for _, k := range []struct{ key, v string }{{"topic", d.Topic}, {"format", d.Format}, {"timestamp_path", d.TimestampPath}, {"timestamp_format", d.TimestampFormat}} {
				if k.v != "" {
					ck.add(p+"."+k.key, "not used by OPC UA source %q", d.Source)
				}
			}
		}
		for _, name := range d.SignalNames() {
			s := d.Signals[name]
			sp := p + ".signals." + name
			if !fieldRE.MatchString(name) || strings.HasSuffix(name, "_quality") {
				ck.add(sp, "invalid signal name %q: use lower-case letters, digits and '_', not ending in _quality", name)
			}
			if s.Scale != nil && *s.Scale == 0 {
				ck.add(sp+".scale", "invalid value 0: a scale of zero discards the value")
			}
			conv := s.Conv()
			for _, pr := range conv.Problems() {
				ck.add(sp+"."+pr.Key, "%s", pr.Msg)
			}
			switch kind {
			case "opcua":
				switch {
				case s.Node == "" && s.BrowsePath == "":
					ck.add(sp+".node", "required: set node or browse_path")
				case s.Node != "" && s.BrowsePath != "":
					ck.add(sp+".browse_path", "not allowed together with node: set one of them")
				case s.Node != "":
					if err := ValidateNodeID(s.Node); err != nil {
						ck.add(sp+".node", "%v", err)
					}
					if s.BrowseStart != "" {
						ck.add(sp+".browse_start", "set without browse_path")
					}
				default:
					if err := ValidateBrowsePath(s.BrowsePath); err != nil {
						ck.add(sp+".browse_path", "%v", err)
					}
					if s.BrowseStart != "" {
						if err := ValidateNodeID(s.BrowseStart); err != nil {
							ck.add(sp+".browse_start", "%v", err)
						}
					}
				}
				ck.duration(sp+".sampling_interval", s.SamplingInterval)
				if s.Deadband != nil {
					ck.oneOf(sp+".deadband.type", s.Deadband.Type, "absolute", "percent")
					if !(s.Deadband.Value >= 0) || math.IsInf(s.Deadband.Value, 0) || (s.Deadband.Type == "percent" && s.Deadband.Value > 100) {
						ck.add(sp+".deadband.value", "invalid value %g: want 0..100 for percent, ≥ 0 for absolute", s.Deadband.Value)
					}
				}
				if s.Topic != "" || s.Path != "" {
					ck.add(sp, "topic and path are MQTT keys; OPC UA signals use node")
				}
				if s.Register != nil {
					ck.add(sp+".register", "a Modbus key; OPC UA signals use node")
				}
			case "modbus":
				if s.BrowsePath != "" || s.BrowseStart != "" {
					ck.add(sp+".browse_path", "browse_path and browse_start are OPC UA keys; Modbus signals use register")
				}
				if s.Node != "" || s.Topic != "" || s.Path != "" {
					ck.add(sp, "node, topic and path are OPC UA and MQTT keys; Modbus signals use register")
				}
				if s.Map != nil {
					ck.add(sp+".map", "not used by Modbus signals")
				}
				if s.Register == nil {
					ck.add(sp+".register", "required")
					break
				}
				r := s.Register
				ck.oneOf(sp+".register.area", r.Area, "holding", "input", "coil", "discrete")
				if r.Address < 0 || r.Address > 65535 {
					ck.add(sp+".register.address", "invalid address %d: want 0..65535 (0-based protocol address)", r.Address)
				}
				if r.Type != "" {
					if r.Area == "coil" || r.Area == "discrete" {
						ck.oneOf(sp+".register.type", r.Type, "bool")
					} else {
						ck.oneOf(sp+".register.type", r.Type, "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64")
					}
				}
				if r.WordOrder != "" {
					ck.oneOf(sp+".register.word_order", r.WordOrder, "high_first", "low_first")
				}
				if r.ByteOrder != "" {
					ck.oneOf(sp+".register.byte_order", r.ByteOrder, "big", "little")
				}
			case "mqtt":
				if s.Node != "" {
					ck.add(sp+".node", "node is an OPC UA key; MQTT signals use topic and path")
				}
				if s.BrowsePath != "" || s.BrowseStart != "" {
					ck.add(sp+".browse_path", "browse_path and browse_start are OPC UA keys; MQTT signals use topic and path")
				}
				if s.Topic == "" && d.Topic == "" {
					ck.add(sp+".topic", "required: set the device topic or the signal topic")
				} else if s.Topic != "" {
					if err := validTopicFilter(s.Topic); err != nil {
						ck.add(sp+".topic", "%v", err)
					}
				}
				if d.Format != "number" {
					if ck.required(sp+".path", s.Path) {
						if err := validPath(s.Path); err != nil {
							ck.add(sp+".path", "%v", err)
						}
					}
				}
			}
		}
		if kind == "mqtt" && d.Format == "number" {
			topics := map[string]int{}
			for _, s := range d.Signals {
				t := s.Topic
				if t == "" {
					t = d.Topic
				}
				topics[t]++
				if topics[t] > 1 {
					ck.add(p+".format", "format number carries one value: each signal needs its own topic")
					break
				}
			}
		}
	}
	return ck.probs
}

// opcuaSecurity checks an OPC UA source's security policy and mode and its login.
func (ck *checker) opcuaSecurity(p string, s *OPCUASource) {
	policyOK := true
	switch s.SecurityPolicy {
	case "auto", "None", "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss":
	case "Basic128Rsa15", "Basic256":
		ck.add(p+".security_policy", "security policy %q is deprecated (SHA-1) and not supported: want auto, Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss or None", s.SecurityPolicy)
	default:
		policyOK = false
		ck.add(p+".security_policy", "invalid value %q: want one of auto, None, Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss", s.SecurityPolicy)
	}
	switch s.SecurityMode {
	case "auto", "None", "Sign", "SignAndEncrypt":
		if policyOK && (s.SecurityMode == "None") != (s.SecurityPolicy == "None") ||
			s.SecurityPolicy == "None" && s.SecurityMode == "auto" {
			ck.add(p+".security_mode", "security mode %q does not fit security policy %q: None goes with None only", s.SecurityMode, s.SecurityPolicy)
		}
	default:
		ck.add(p+".security_mode", "invalid value %q: want one of auto, None, Sign, SignAndEncrypt", s.SecurityMode)
	}
	switch {
	case s.UserCertFile != "" && s.UserKeyFile == "":
		ck.add(p+".user_key_file", "required with user_cert_file")
	case s.UserKeyFile != "" && s.UserCertFile == "":
		ck.add(p+".user_cert_file", "required with user_key_file")
	case s.UserCertFile != "":
		if s.Username != "" {
			ck.add(p+".user_cert_file", "set together with username: log in with one of them")
		}
		if _, _, err := LoadUserCertificate(s.UserCertFile, s.UserKeyFile); err != nil {
			ck.add(p+".user_cert_file", "%v", err)
		}
	}
}

// LoadUserCertificate reads an OPC UA user certificate (PEM or DER) and its RSA key
// (PEM, PKCS#1 or PKCS#8) and checks that they belong together.
func LoadUserCertificate(certFile, keyFile string) (certDER []byte, key *rsa.PrivateKey, err error) {
	b, err := readFileLimit(certFile, maxPEMBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("read %q: %v", certFile, err)
	}
	certDER = b
	if blk, _ := pem.Decode(b); blk != nil {
		certDER = blk.Bytes
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, nil, fmt.Errorf("%q is not a PEM or DER certificate: %v", certFile, err)
	}
	kb, err := readFileLimit(keyFile, maxPEMBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("read %q: %v", keyFile, err)
	}
	blk, _ := pem.Decode(kb)
	if blk == nil {
		return nil, nil, fmt.Errorf("no PEM private key in %q", keyFile)
	}
	key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		k, err8 := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err8 != nil {
			if _, errEC := x509.ParseECPrivateKey(blk.Bytes); errEC == nil {
				return nil, nil, fmt.Errorf("%q holds an EC key: OPC UA security needs RSA", keyFile)
			}
			return nil, nil, fmt.Errorf("%q holds no RSA private key (PKCS#1 or PKCS#8)", keyFile)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			kind := "a non-RSA"
			if _, ec := k.(*ecdsa.PrivateKey); ec {
				kind = "an EC"
			}
			return nil, nil, fmt.Errorf("%q holds %s key: OPC UA security needs RSA", keyFile, kind)
		}
		key = rk
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil, fmt.Errorf("certificate %q does not belong to key %q", certFile, keyFile)
	}
	return certDER, key, nil
}

// mqttTLSScheme reports whether an MQTT broker URL scheme selects TLS.
func mqttTLSScheme(s string) bool { return s == "ssl" || s == "tls" || s == "mqtts" }

// mqttTLS checks the TLS files of an MQTT source: each must exist and parse.
func (ck *checker) mqttTLS(p string, t *MQTTTLS) {
	if t.CAFile != "" {
		if b, err := readFileLimit(t.CAFile, maxPEMBytes); err != nil {
			ck.add(p+".ca_file", "read %q: %v", t.CAFile, err)
		} else if !x509.NewCertPool().AppendCertsFromPEM(b) {
			ck.add(p+".ca_file", "no PEM certificate in %q", t.CAFile)
		}
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		ck.add(p+".key_file", "required with cert_file")
	case t.KeyFile != "" && t.CertFile == "":
		ck.add(p+".cert_file", "required with key_file")
	case t.CertFile != "":
		cert, err := readFileLimit(t.CertFile, maxPEMBytes)
		if err != nil {
			ck.add(p+".cert_file", "read %q: %v", t.CertFile, err)
		}
		key, kerr := readFileLimit(t.KeyFile, maxPEMBytes)
		if kerr != nil {
			ck.add(p+".key_file", "read %q: %v", t.KeyFile, kerr)
		}
		if err == nil && kerr == nil {
			if _, err := tls.X509KeyPair(cert, key); err != nil {
				ck.add(p+".cert_file", "load certificate %q with key %q: %v", t.CertFile, t.KeyFile, err)
			}
		}
	}
}

// validateAdminAuth checks the admin endpoint's optional authentication.
func (c *Config) validateAdminAuth(ck *checker) {
	a := &c.Admin
	if b := a.BasicAuth; b != nil {
		if ck.required("admin.basic_auth.username", b.Username) && strings.ContainsAny(b.Username, ":\r\n") {
			ck.add("admin.basic_auth.username", "invalid user name %q: no ':' or line breaks", b.Username)
		}
		if b.Password == "" && b.PasswordFile == "" {
			ck.add("admin.basic_auth.password", "required: set password_file or password")
		}
		if a.Token != "" {
			ck.add("admin.token", "set either basic_auth or a token, not both")
		}
	}
	if a.ProtectMetrics && a.BasicAuth == nil && a.Token == "" && a.TokenFile == "" {
		ck.add("admin.protect_metrics", "needs basic_auth or a token")
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

func (c *Config) validateKPI(ck *checker) {
	k := &c.KPI
	for i, w := range k.Windows {
		p := fmt.Sprintf("kpi.windows[%d]", i)
		ck.duration(p, w)
		if !w.bad && (w.D < time.Second || (24*time.Hour)%w.D != 0) {
			ck.add(p, "invalid window %q: must be at least 1s and divide a day", w.Raw)
		}
	}
	ck.duration("kpi.allowed_lateness", k.AllowedLateness)
	ck.duration("kpi.debounce", k.Debounce)
	ck.duration("kpi.max_integration_gap", k.MaxIntegrationGap)
	if k.KgcePerKWh != nil && (!(*k.KgcePerKWh > 0) || math.IsInf(*k.KgcePerKWh, 0)) {
		ck.add("kpi.kgce_per_kwh", "invalid value %g: want a finite number, positive", *k.KgcePerKWh)
	}
	if k.PowerIdleKW != nil && (!(*k.PowerIdleKW >= 0) || math.IsInf(*k.PowerIdleKW, 0)) {
		ck.add("kpi.power_idle_kw", "invalid value %g: want a finite number, not negative", *k.PowerIdleKW)
	}
	for i, s := range k.Shifts {
		p := fmt.Sprintf("kpi.shifts[%d]", i)
		if !clockRE.MatchString(s.Start) {
			ck.add(p+".start", "invalid time %q: want HH:MM", s.Start)
		}
		if !clockRE.MatchString(s.End) {
			ck.add(p+".end", "invalid time %q: want HH:MM", s.End)
		}
		for j, d := range s.Days {
			if _, ok := Weekdays[d]; !ok {
				ck.add(fmt.Sprintf("%s.days[%d]", p, j), "invalid day %q: want mon, tue, wed, thu, fri, sat or sun", d)
			}
		}
	}
}

// ValidateNodeID checks the syntax of an OPC UA node id: [ns=N;|nsu=URI;](i=N|s=TEXT|g=GUID|b=BASE64).
func ValidateNodeID(s string) error {
	bad := func() error { return fmt.Errorf("invalid node id %q", s) }
	rest := s
	switch {
	case strings.HasPrefix(rest, "ns="):
		i := strings.IndexByte(rest, ';')
		if i < 0 {
			return bad()
		}
		if _, err := strconv.ParseUint(rest[3:i], 10, 16); err != nil {
			return fmt.Errorf("invalid node id %q: namespace index %q is not 0..65535", s, rest[3:i])
		}
		rest = rest[i+1:]
	case strings.HasPrefix(rest, "nsu="):
		// The namespace URI ends at the first ';' (OPC 10000-6 §5.3.1.10 escapes a ';'
		// in the URI); a string identifier may contain more.
		i := strings.IndexByte(rest, ';')
		if i <= len("nsu=") {
			return bad()
		}
		rest = rest[i+1:]
	}
	if len(rest) < 2 || rest[1] != '=' {
		return bad()
	}
	v := rest[2:]
	switch rest[0] {
	case 'i':
		if _, err := strconv.ParseUint(v, 10, 32); err != nil {
			return fmt.Errorf("invalid node id %q: numeric identifier %q is not 0..4294967295", s, v)
		}
	case 's':
		if v == "" {
			return fmt.Errorf("invalid node id %q: empty string identifier", s)
		}
	case 'g':
		if !guidRE.MatchString(v) {
			return fmt.Errorf("invalid node id %q: %q is not a GUID", s, v)
		}
	case 'b':
		if _, err := base64.StdEncoding.DecodeString(v); err != nil || v == "" {
			return fmt.Errorf("invalid node id %q: %q is not base64", s, v)
		}
	default:
		return bad()
	}
	return nil
}

var guidRE = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

// validTopicFilter checks an MQTT topic filter: '+' and '#' only as whole levels, '#' last.
func validTopicFilter(f string) error {
	if f == "" {
		return fmt.Errorf("empty topic")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if l == "+" || (l == "#" && i == len(levels)-1) {
			continue
		}
		if !topicLevelRE.MatchString(l) {
			return fmt.Errorf("invalid topic %q: '+' and '#' must fill a whole level, '#' only last", f)
		}
	}
	return nil
}

// validPath checks a JSON path such as "data.kwh" or "values.0".
func validPath(p string) error {
	if p == "" {
		return fmt.Errorf("empty path")
	}
	for _, seg := range strings.Split(p, ".") {
		if seg == "" {
			return fmt.Errorf("invalid path %q: empty segment", p)
		}
	}
	return nil
}
