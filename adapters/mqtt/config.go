package mqtt

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ganlink/ganlink/adapters/internal/devcheck"
	"github.com/ganlink/ganlink/gateway/point"
)

// Defaults applied by New to zero-valued Config fields.
const (
	DefaultKeepAlive       = 30 * time.Second
	DefaultConnectTimeout  = 10 * time.Second
	DefaultReconnectMax    = 30 * time.Second
	DefaultMaxPayloadBytes = 64 << 10
	DefaultBatchMax        = 1000
	DefaultBatchWait       = 20 * time.Millisecond
)

// Config configures one MQTT broker connection and the topic bindings it serves.
//
// Zero durations and sizes mean the defaults above. QoS has no default here: its zero
// value is QoS 0, so callers set 1 (the gateway configuration's default) explicitly.
type Config struct {
	// Name is the source name used in logs and Observer calls.
	Name string
	// Broker is the broker URL: tcp://host:port (mqtt:// is a synonym; port 1883 if
	// omitted) or, with TLS, ssl://host:port (tls:// and mqtts:// are synonyms; port
	// 8883 if omitted). It must not carry credentials: use Username and Password.
	Broker string
	// ClientID identifies the session at the broker. It must be stable across restarts:
	// the broker keeps a persistent session (and queues messages) under it.
	ClientID string
	// Username and Password authenticate the client; a password needs a user name.
	// Neither is ever logged or put into an error.
	Username, Password string
	// TLS configures TLS for ssl://, tls:// and mqtts:// brokers.
	TLS TLSConfig
	// QoS is the subscription QoS, 0 or 1. With 1 a message is acknowledged only after
	// the batch holding it was emitted (stored durably by the gateway).
	QoS byte
	// CleanSession asks the broker to discard the session on disconnect. Default false:
	// a persistent session, so the broker queues messages while the gateway is away.
	CleanSession bool
	// KeepAlive is the MQTT keep-alive interval (default 30s, at least 1s).
	KeepAlive time.Duration
	// ConnectTimeout bounds the TCP connect and the MQTT handshake (default 10s).
	ConnectTimeout time.Duration
	// ReconnectMax caps the reconnection backoff (default 30s).
	ReconnectMax time.Duration
	// MaxPayloadBytes rejects larger payloads with reason "too_large" (default 64 KiB).
	MaxPayloadBytes int
	// Subscribe lists the topic filters to subscribe to; default: the distinct binding
	// topics. Every binding topic must be covered by one of them.
	Subscribe []string
	// BatchMax caps the messages in one emitted batch (default 1000).
	BatchMax int
	// BatchWait is the longest a message waits for its batch to fill (default 20ms).
	BatchWait time.Duration
	// Bindings map topics to device points.
	Bindings []Binding
}

// Binding turns the messages of one topic (or topic filter) into points of one device.
type Binding struct {
	Device, Measurement string
	// Tags are the device's identity tags, sorted by key; the slice is shared by every
	// point of the binding and must not be modified.
	Tags []point.Tag
	// Topic is an exact topic or a filter with + and # wildcards.
	Topic string
	// Format is "json" (default) or "number": the payload is one bare number (or a text
	// looked up in the field's Conv.Map); exactly one field, whose Path is ignored.
	Format string
	// TimestampPath is the optional JSON path of the source timestamp; without it, or
	// when a message lacks it, the point carries the gateway's receive time.
	TimestampPath string
	// TimestampFormat is "auto" (default: a number is epoch milliseconds, a string RFC
	// 3339), "epoch_ms", "epoch_s" or "rfc3339".
	TimestampFormat string
	Fields          []FieldBinding
}

// FieldBinding extracts one field from a JSON payload.
type FieldBinding struct {
	// Path is a dot path such as "data.kwh"; numeric segments also index arrays
	// ("values.0.v").
	Path string
	// Field is the point's field name.
	Field string
	// Conv converts the raw value: numbers are scaled, true/false become 1/0, strings
	// are looked up in Conv.Map.
	Conv point.Conv
}

// withDefaults returns a copy of c with zero values replaced by the defaults.
func (c Config) withDefaults() Config {
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = DefaultReconnectMax
	}
	if c.MaxPayloadBytes == 0 {
		c.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	if c.BatchMax == 0 {
		c.BatchMax = DefaultBatchMax
	}
	if c.BatchWait == 0 {
		c.BatchWait = DefaultBatchWait
	}
	c.Bindings = append([]Binding(nil), c.Bindings...) // the caller's slice stays as it is
	for i := range c.Bindings {
		b := &c.Bindings[i]
		if b.Format == "" {
			b.Format = "json"
		}
		if b.TimestampFormat == "" {
			b.TimestampFormat = "auto"
		}
	}
	if len(c.Subscribe) == 0 {
		c.Subscribe = nil
		seen := make(map[string]bool)
		for _, b := range c.Bindings {
			if !seen[b.Topic] {
				seen[b.Topic] = true
				c.Subscribe = append(c.Subscribe, b.Topic)
			}
		}
	}
	return c
}

// Validate checks c without modifying it. Each problem names the field and the value,
// e.g. `bindings[2].fields[0].path: empty path`; several problems are joined.
func (c *Config) Validate() error {
	var errs []error
	c.check(func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	})
	return errors.Join(errs...)
}

// check reports every problem of c to add.
func (c *Config) check(add func(field, format string, a ...any)) {
	if c.Name == "" {
		add("name", "required")
	}
	if c.Broker == "" {
		add("broker", "required")
	} else if u, err := url.Parse(c.Broker); err != nil || (u.Scheme != "tcp" && u.Scheme != "mqtt" && !isTLSScheme(u.Scheme)) ||
		u.Host == "" || u.Hostname() == "" {
		add("broker", "invalid broker %q: want tcp://host:port, or ssl://host:port for TLS", redactBroker(c.Broker))
	} else if u.User != nil {
		add("broker", "invalid broker %q: credentials in the URL; use username and password", redactBroker(c.Broker))
	} else if !isTLSScheme(u.Scheme) && !c.TLS.isZero() {
		add("tls", "set for the plain broker %q: use ssl://, tls:// or mqtts://", c.Broker)
	}
	if c.TLS.CertFile != "" && c.TLS.KeyFile == "" {
		add("tls.key_file", "required with tls.cert_file")
	}
	if c.TLS.KeyFile != "" && c.TLS.CertFile == "" {
		add("tls.cert_file", "required with tls.key_file")
	}
	if c.Password != "" && c.Username == "" {
		add("username", "required when a password is set")
	}
	if c.ClientID == "" {
		add("client_id", "required: a stable id keeps the broker session")
	} else if !utf8.ValidString(c.ClientID) || len(c.ClientID) > 65535 {
		add("client_id", "invalid client id %q", c.ClientID)
	}
	if c.QoS > 1 {
		add("qos", "invalid qos %d: want 0 or 1", c.QoS)
	}
	if c.KeepAlive < 0 || (c.KeepAlive > 0 && c.KeepAlive < time.Second) {
		add("keep_alive", "invalid value %s: want ≥ 1s", c.KeepAlive)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"connect_timeout", c.ConnectTimeout}, {"reconnect_max", c.ReconnectMax}, {"batch_wait", c.BatchWait}} {
		if d.v < 0 {
			add(d.name, "invalid value %s: want ≥ 0", d.v)
		}
	}
	if c.MaxPayloadBytes < 0 {
		add("max_payload_bytes", "invalid value %d: want ≥ 0", c.MaxPayloadBytes)
	}
	if c.BatchMax < 0 {
		add("batch_max", "invalid value %d: want ≥ 0", c.BatchMax)
	}
	for i, f := range c.Subscribe {
		if err := validateFilter(f); err != nil {
			add(fmt.Sprintf("subscribe[%d]", i), "%v", err)
		}
	}
	if len(c.Bindings) == 0 {
		add("bindings", "required")
	}
	for i := range c.Bindings {
		b := &c.Bindings[i]
		p := fmt.Sprintf("bindings[%d]", i)
		if b.Device == "" {
			add(p+".device", "required")
		}
		if b.Measurement == "" {
			add(p+".measurement", "required")
		}
		devcheck.SortedTags(add, p, b.Tags)
		if b.Topic == "" {
			add(p+".topic", "required")
		} else if err := validateFilter(b.Topic); err != nil {
			add(p+".topic", "%v", err)
		} else if len(c.Subscribe) > 0 && !coveredBy(c.Subscribe, b.Topic) {
			add(p+".topic", "topic %q is not covered by any subscribe filter", b.Topic)
		}
		number := false
		switch b.Format {
		case "", "json":
		case "number":
			number = true
		default:
			add(p+".format", "invalid format %q: want json or number", b.Format)
		}
		switch b.TimestampFormat {
		case "", "auto", "epoch_ms", "epoch_s", "rfc3339":
		default:
			add(p+".timestamp_format", "invalid timestamp format %q: want auto, epoch_ms, epoch_s or rfc3339", b.TimestampFormat)
		}
		if b.TimestampPath != "" {
			if number {
				add(p+".timestamp_path", "not supported with format \"number\"")
			} else if err := ValidatePath(b.TimestampPath); err != nil {
				add(p+".timestamp_path", "%v", err)
			}
		}
		if len(b.Fields) == 0 {
			add(p+".fields", "required")
		} else if number && len(b.Fields) > 1 {
			add(p+".fields", "format \"number\" carries one value, got %d fields", len(b.Fields))
		}
		seen := make(map[string]bool, len(b.Fields))
		for j := range b.Fields {
			f := &b.Fields[j]
			fp := fmt.Sprintf("%s.fields[%d]", p, j)
			if f.Field == "" {
				add(fp+".field", "required")
			} else if seen[f.Field] {
				add(fp+".field", "duplicate field %q", f.Field)
			}
			seen[f.Field] = true
			for _, pr := range f.Conv.Problems() {
				add(fp+"."+pr.Key, "%s", pr.Msg)
			}
			if !number {
				if err := ValidatePath(f.Path); err != nil {
					add(fp+".path", "%v", err)
				}
			}
		}
	}
}

// ValidatePath checks a payload path such as "data.kwh" or "values.0.v": non-empty
// UTF-8 segments separated by dots.
func ValidatePath(p string) error {
	if p == "" {
		return errors.New("empty path")
	}
	if !utf8.ValidString(p) {
		return fmt.Errorf("invalid path %q: not UTF-8", point.Truncate(p, maxQuoted))
	}
	if strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") || strings.Contains(p, "..") {
		return fmt.Errorf("invalid path %q: empty segment", point.Truncate(p, maxQuoted))
	}
	if n := strings.Count(p, ".") + 1; n > maxPathSegments {
		return fmt.Errorf("invalid path %q: %d segments, at most %d", point.Truncate(p, maxQuoted), n, maxPathSegments)
	}
	return nil
}

// maxPathSegments bounds a path's depth.
const maxPathSegments = 32
