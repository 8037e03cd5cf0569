package dlt645

import (
	"errors"
	"fmt"
	"time"

	"github.com/ganlink/ganlink/adapters/internal/devcheck"
	"github.com/ganlink/ganlink/adapters/internal/serialline"
	"github.com/ganlink/ganlink/gateway/point"
)

// Defaults applied by New to zero Config and Device fields, and by the configuration.
const (
	// DefaultBaudRate is the rate most DL/T 645-2007 meters ship with (the standard's
	// default rate; 1200, 4800 and 9600 are settable on the meter).
	DefaultBaudRate = 2400
	// DefaultParity: the standard's character format is 8 data bits, even parity, 1
	// stop bit (8E1).
	DefaultParity       = "even"
	DefaultPollInterval = 5 * time.Second
	DefaultReconnectMin = 500 * time.Millisecond
	DefaultReconnectMax = 30 * time.Second
	// MinPollInterval is the shortest accepted poll interval.
	MinPollInterval = 10 * time.Millisecond
)

// Config configures one DL/T 645 source: one RS-485 bus (a serial port of the gateway,
// or a serial device server in transparent mode) and the meters on it, polled in turn.
type Config struct {
	// Name is the source name used in logs and Observer calls.
	Name string
	// Line is the serial line (serialline.Line, defaults applied by the configuration:
	// 2400 baud 8E1 for DL/T 645). Its ResponseTimeout bounds each request.
	Line serialline.Line
	// ReconnectMin and ReconnectMax bound the backoff between attempts to reopen a
	// failed line (capped exponential with jitter); defaults 500ms and 30s.
	ReconnectMin, ReconnectMax time.Duration
	// Devices are the meters on the bus.
	Devices []Device
}

// Device is one meter on the bus. Every poll of a meter yields one point carrying all
// its fields.
type Device struct {
	// Device is the device id; Measurement the device kind.
	Device, Measurement string
	// Tags are the device's identity tags, sorted by key, shared by all its points.
	Tags []point.Tag
	// Address is the meter's 12-digit address (nameplate, low byte first on the wire).
	Address Address
	// PollInterval is the time between two polls of the meter; default 5s.
	PollInterval time.Duration
	// Signals are the data items read, one request and one field each.
	Signals []Signal
}

// Signal reads one data item into one field.
type Signal struct {
	// Field is the field key, e.g. "energy_kwh_total".
	Field string
	// DI is the data identifier, e.g. 0x00010000.
	DI DI
	// Format decodes the value; the zero Format means the one of Items[DI].
	Format Format
	// Conv scales the decoded number (value × Scale + Offset); Map is not applicable.
	Conv point.Conv
}

func (c *Config) applyDefaults() {
	c.Line.ApplyDefaults(DefaultParity)
	if c.ReconnectMin == 0 {
		c.ReconnectMin = DefaultReconnectMin
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = DefaultReconnectMax
	}
	for i := range c.Devices {
		d := &c.Devices[i]
		if d.PollInterval == 0 {
			d.PollInterval = DefaultPollInterval
		}
		for j := range d.Signals {
			s := &d.Signals[j]
			if s.Format.Digits == 0 {
				s.Format = Items[s.DI].Format
			}
		}
	}
}

// Validate checks c without opening anything. Every problem is reported, one per line,
// as "<field>: <problem>", e.g. `devices[0].signals[2].di: data identifier 02800001 has
// no known format: give the signal a format, e.g. "XX.XX"`.
func (c *Config) Validate() error {
	var errs []error
	c.check(func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	})
	return errors.Join(errs...)
}

func (c *Config) check(add func(field, format string, a ...any)) {
	if c.Name == "" {
		add("name", "must not be empty")
	}
	c.Line.Check(add)
	if c.ReconnectMin < 0 || c.ReconnectMax < 0 || (c.ReconnectMax > 0 && c.ReconnectMin > c.ReconnectMax) {
		add("reconnect_min", "invalid backoff %s..%s", c.ReconnectMin, c.ReconnectMax)
	}
	if len(c.Devices) == 0 {
		add("devices", "must not be empty")
	}
	seenDev := map[string]int{}
	seenAddr := map[Address]int{}
	for i := range c.Devices {
		d := &c.Devices[i]
		p := fmt.Sprintf("devices[%d]", i)
		devcheck.Polled(add, p, i, seenDev, d.Device, d.Measurement, d.Tags)
		if !d.Address.valid() {
			add(p+".address", "invalid meter address %s: want 12 decimal digits", d.Address)
		} else if j, dup := seenAddr[d.Address]; dup {
			add(p+".address", "duplicate meter address %s (also devices[%d]): two meters on one bus need distinct addresses", d.Address, j)
		} else {
			seenAddr[d.Address] = i
		}
		devcheck.PollInterval(add, p+".poll_interval", d.PollInterval, MinPollInterval)
		if len(d.Signals) == 0 {
			add(p+".signals", "must not be empty")
		}
		seen := map[string]int{}
		for j := range d.Signals {
			s := &d.Signals[j]
			sp := fmt.Sprintf("%s.signals[%d]", p, j)
			if s.Field == "" {
				add(sp+".field", "must not be empty")
			} else if k, dup := seen[s.Field]; dup {
				add(sp+".field", "duplicate field %q (also signals[%d])", s.Field, k)
			} else {
				seen[s.Field] = j
			}
			if s.Format.Digits == 0 {
				if _, known := Items[s.DI]; !known {
					add(sp+".di", "data identifier %s has no known format: give the signal a format, e.g. \"XXXXXX.XX\"", s.DI)
				}
			} else if _, err := ParseFormat(s.Format.String()); err != nil || s.Format.Decimals > s.Format.Digits {
				add(sp+".format", "invalid format %+v", s.Format)
			}
			for _, pr := range s.Conv.Problems() {
				add(sp+"."+pr.Key, "%s", pr.Msg)
			}
			if len(s.Conv.Map) > 0 {
				add(sp+".map", "not applicable to dlt645 signals")
			}
		}
	}
}

// valid reports whether a is 12 BCD digits (not the broadcast address).
func (a Address) valid() bool {
	for _, b := range a {
		if !isBCD(b) {
			return false
		}
	}
	return true
}
