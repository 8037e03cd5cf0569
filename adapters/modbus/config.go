package modbus

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ganlink/ganlink/adapters/internal/devcheck"
	"github.com/ganlink/ganlink/adapters/internal/serialline"
	"github.com/ganlink/ganlink/gateway/point"
)

// Defaults applied by New to zero Config and Device fields.
const (
	DefaultPort         = 502
	DefaultTimeout      = 2 * time.Second
	DefaultReconnectMin = 500 * time.Millisecond
	DefaultReconnectMax = 30 * time.Second
	DefaultMaxFailures  = 3
	DefaultPollInterval = time.Second
	// DefaultMaxGap is the gap tolerance of a configured source that sets none
	// (SourceSpec). Config.MaxGap itself has no default: zero means "adjacent signals
	// only".
	DefaultMaxGap = 10
	// DefaultUnitID is the unit id of a configured device that sets none.
	DefaultUnitID = 1
	// MaxRegistersPerRead and MaxBitsPerRead are the protocol limits of one read
	// (function codes 03/04 and 01/02).
	MaxRegistersPerRead = 125
	MaxBitsPerRead      = 2000
	// MinPollInterval is the shortest accepted poll interval.
	MinPollInterval = 10 * time.Millisecond
)

// Config configures one Modbus source: one Modbus TCP server endpoint (a meter, a PLC,
// or a Modbus TCP gateway in front of an RS-485 bus) and one TCP connection, or one
// RS-485 bus spoken to in RTU framing (a local serial port, or a serial device server
// in transparent mode); and the devices polled through it. Zero values mean the
// documented defaults, except MaxGap.
type Config struct {
	// Name is the source name used in logs and Observer calls.
	Name string
	// Endpoint is tcp://host[:port] (port 502 if omitted for Modbus TCP; required for
	// a serial server), or serial:///dev/ttyUSB0 for a local serial port (RTU).
	Endpoint string
	// Framing is "tcp" (Modbus TCP; the default on tcp:// endpoints) or "rtu" (Modbus
	// RTU: implied by serial:// endpoints; on a tcp:// endpoint, RTU frames carried
	// over TCP by a serial server in transparent mode).
	Framing string
	// Line holds the serial settings of an RTU source (baud rate, data bits, parity —
	// default none —, stop bits, response timeout, turnaround delay); its Endpoint is
	// ignored (Endpoint is the source's). It must be zero for Modbus TCP.
	Line serialline.Line
	// Timeout bounds each Modbus TCP request (the response must arrive within it);
	// default 2s. Connection attempts are bounded by the client library's fixed 5s
	// dial timeout. An RTU source uses Line.ResponseTimeout instead, and Timeout must
	// be zero.
	Timeout time.Duration
	// ReconnectMin and ReconnectMax bound the reconnect backoff (capped exponential with
	// jitter); defaults 500ms and 30s.
	ReconnectMin time.Duration
	ReconnectMax time.Duration
	// MaxFailures is how many requests in a row may time out or get a malformed answer
	// before the connection is considered dead and reopened; default 3. Any answer,
	// including an exception response, resets the count. On an RTU bus the count is
	// per device: the device is reported down (its fields Bad, the error logged once)
	// and polled on, and the line is not reopened, since the other devices on it still
	// answer; only an error of the line itself (the port vanished, the serial server
	// closed the connection) reopens it.
	MaxFailures int
	// MaxGap is the gap tolerance of read coalescing: how many unused registers (or
	// coils/discrete inputs) one read may span between two signals of a device. Zero
	// reads only adjacent or overlapping signals together. Devices may override it. The
	// gateway configuration's default is DefaultMaxGap.
	MaxGap int
	// Devices are the units polled through the endpoint.
	Devices []Device
}

// Device is one unit (meter, PLC) behind the endpoint, with its register map. Every poll
// of a device yields one point carrying all its fields.
type Device struct {
	// Device is the device id; Measurement the device kind.
	Device, Measurement string
	// Tags are the device's identity tags, sorted by key; the slice is shared by every
	// point of the device and must not be modified.
	Tags []point.Tag
	// UnitID is the Modbus unit identifier sent with every request, 0..255. Zero is
	// sent as zero: the gateway configuration defaults it to 1.
	UnitID int
	// PollInterval is the time between two polls of the device; default 1s.
	PollInterval time.Duration
	// MaxRegisters caps the registers of one read, 1..125 (default 125). Some meters
	// accept less than the protocol allows (Eastron SDM: 80).
	MaxRegisters int
	// MaxGap overrides Config.MaxGap for this device when not nil.
	MaxGap *int
	// Signals are the device's register map, one field each.
	Signals []Signal
}

// Signal binds one register (or register pair/quad, or one coil) to one field.
type Signal struct {
	// Field is the field key, e.g. "energy_kwh_total".
	Field string
	// Area is "holding" (function 03), "input" (04), "coil" (01) or "discrete" (02).
	Area string
	// Address is the protocol (0-based) address: register 40001 is holding address 0,
	// 30073 is input address 72.
	Address int
	// Type is int16, uint16 (the default for registers), int32, uint32, int64, uint64,
	// float32 or float64 for registers, and bool (the default and only type) for coils
	// and discrete inputs.
	Type string
	// WordOrder of multi-register values: "high_first" (default: the most significant
	// word at the lowest address) or "low_first".
	WordOrder string
	// ByteOrder within each register: "big" (default: the Modbus standard, high byte
	// first) or "little" (bytes swapped).
	ByteOrder string
	// Conv scales the decoded number (value × Scale + Offset); Map is not applicable.
	Conv point.Conv
}

// DefaultConfig returns a Config with every default filled in (MaxGap = DefaultMaxGap)
// and no name, endpoint or devices.
func DefaultConfig() Config {
	c := Config{MaxGap: DefaultMaxGap}
	c.applyDefaults()
	return c
}

// RTU reports whether c is an RTU source.
func (c *Config) RTU() bool {
	return c.Framing == "rtu" || strings.HasPrefix(c.Endpoint, "serial:")
}

// rtuParity is the default parity of Modbus RTU lines: none (the specification's
// default is even, but most meters ship with 8N1; the register templates say which).
const rtuParity = "none"

func (c *Config) applyDefaults() {
	if c.RTU() {
		c.Framing = "rtu"
		c.Line.Endpoint = c.Endpoint
		c.Line.ApplyDefaults(rtuParity)
		c.Line.Check(func(string, string, ...any) {}) // sets Network and Address
	} else if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = DefaultReconnectMin
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = DefaultReconnectMax
	}
	if c.MaxFailures == 0 {
		c.MaxFailures = DefaultMaxFailures
	}
	for i := range c.Devices {
		d := &c.Devices[i]
		if d.PollInterval == 0 {
			d.PollInterval = DefaultPollInterval
		}
		if d.MaxRegisters == 0 {
			d.MaxRegisters = MaxRegistersPerRead
		}
		for j := range d.Signals {
			s := &d.Signals[j]
			if s.Type == "" {
				if isBitArea(s.Area) {
					s.Type = "bool"
				} else {
					s.Type = "uint16"
				}
			}
			if s.WordOrder == "" && !isBitArea(s.Area) {
				s.WordOrder = "high_first"
			}
			if s.ByteOrder == "" && !isBitArea(s.Area) {
				s.ByteOrder = "big"
			}
		}
	}
}

func isBitArea(a string) bool { return a == "coil" || a == "discrete" }

// typeWords is the number of registers of each register type.
var typeWords = map[string]int{
	"int16": 1, "uint16": 1,
	"int32": 2, "uint32": 2, "float32": 2,
	"int64": 4, "uint64": 4, "float64": 4,
}

// Validate checks c without connecting anywhere. Zero values are valid where they mean
// a default. Every problem is reported, one per line, as "<field>: <problem>", e.g.
// `devices[1].signals[3].type: invalid type "float" for area "input": want int16,
// uint16, int32, uint32, int64, uint64, float32 or float64`.
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
		add("name", "must not be empty")
	}
	switch c.Framing {
	case "", "tcp", "rtu":
	default:
		add("framing", "invalid framing %q: want tcp or rtu", truncate(c.Framing))
	}
	if c.RTU() {
		if c.Framing == "tcp" {
			add("framing", "Modbus TCP needs a tcp:// endpoint, not %q", truncate(c.Endpoint))
		}
		l := c.Line
		l.Endpoint = c.Endpoint
		l.Check(add)
		if c.Timeout != 0 {
			add("timeout", "not applicable to RTU framing: use response_timeout")
		}
	} else {
		if _, err := hostPort(c.Endpoint); err != nil {
			add("endpoint", "%v", err)
		}
		for _, k := range lineKeys(&c.Line) {
			add(k, "not applicable to Modbus TCP: set framing: rtu for a serial server")
		}
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"timeout", c.Timeout}, {"reconnect_min", c.ReconnectMin}, {"reconnect_max", c.ReconnectMax}} {
		if d.v < 0 {
			add(d.field, "negative duration %s", d.v)
		}
	}
	rmin, rmax := c.ReconnectMin, c.ReconnectMax
	if rmin == 0 {
		rmin = DefaultReconnectMin
	}
	if rmax == 0 {
		rmax = DefaultReconnectMax
	}
	if rmin > 0 && rmax > 0 && rmin > rmax {
		add("reconnect_min", "%s is above reconnect_max %s", rmin, rmax)
	}
	if c.MaxFailures < 0 {
		add("max_failures", "negative value %d", c.MaxFailures)
	}
	if c.MaxGap < 0 || c.MaxGap > MaxBitsPerRead {
		add("max_gap", "invalid gap %d: want 0..%d", c.MaxGap, MaxBitsPerRead)
	}
	if len(c.Devices) == 0 {
		add("devices", "must not be empty")
	}
	seenDev := make(map[string]int, len(c.Devices))
	for i := range c.Devices {
		d := &c.Devices[i]
		p := fmt.Sprintf("devices[%d]", i)
		devcheck.Polled(add, p, i, seenDev, d.Device, d.Measurement, d.Tags)
		if d.UnitID < 0 || d.UnitID > 255 {
			add(p+".unit_id", "invalid unit id %d: want 0..255", d.UnitID)
		}
		devcheck.PollInterval(add, p+".poll_interval", d.PollInterval, MinPollInterval)
		if d.MaxRegisters < 0 || d.MaxRegisters > MaxRegistersPerRead {
			add(p+".max_registers", "invalid value %d: want 1..%d", d.MaxRegisters, MaxRegistersPerRead)
		}
		if d.MaxGap != nil && (*d.MaxGap < 0 || *d.MaxGap > MaxBitsPerRead) {
			add(p+".max_gap", "invalid gap %d: want 0..%d", *d.MaxGap, MaxBitsPerRead)
		}
		if len(d.Signals) == 0 {
			add(p+".signals", "must not be empty")
		}
		maxRegs := d.MaxRegisters
		if maxRegs <= 0 || maxRegs > MaxRegistersPerRead {
			maxRegs = MaxRegistersPerRead
		}
		seen := make(map[string]int, len(d.Signals))
		for j := range d.Signals {
			validateSignal(add, fmt.Sprintf("%s.signals[%d]", p, j), &d.Signals[j], maxRegs, seen, j)
		}
	}
}

func validateSignal(add func(field, format string, a ...any), p string, s *Signal, maxRegs int, seen map[string]int, j int) {
	if s.Field == "" {
		add(p+".field", "must not be empty")
	} else if k, dup := seen[s.Field]; dup {
		add(p+".field", "duplicate field %q (also signals[%d])", s.Field, k)
	} else {
		seen[s.Field] = j
	}
	words := 1
	switch s.Area {
	case "holding", "input":
		if s.Type != "" {
			n, ok := typeWords[s.Type]
			if !ok {
				add(p+".type", "invalid type %q for area %q: want int16, uint16, int32, uint32, int64, uint64, float32 or float64", s.Type, s.Area)
			} else {
				words = n
				if n > maxRegs {
					add(p+".type", "type %q needs %d registers, above max_registers %d", s.Type, n, maxRegs)
				}
			}
		}
		switch s.WordOrder {
		case "", "high_first", "low_first":
		default:
			add(p+".word_order", "invalid word order %q: want high_first or low_first", s.WordOrder)
		}
		switch s.ByteOrder {
		case "", "big", "little":
		default:
			add(p+".byte_order", "invalid byte order %q: want big or little", s.ByteOrder)
		}
	case "coil", "discrete":
		if s.Type != "" && s.Type != "bool" {
			add(p+".type", "invalid type %q for area %q: want bool", s.Type, s.Area)
		}
		if s.WordOrder != "" {
			add(p+".word_order", "not applicable to area %q", s.Area)
		}
		if s.ByteOrder != "" {
			add(p+".byte_order", "not applicable to area %q", s.Area)
		}
	case "":
		add(p+".area", "must not be empty: want holding, input, coil or discrete")
	default:
		add(p+".area", "invalid area %q: want holding, input, coil or discrete", s.Area)
	}
	if s.Address < 0 || s.Address > 0xFFFF {
		add(p+".address", "invalid address %d: want 0..65535", s.Address)
	} else if s.Address+words-1 > 0xFFFF {
		add(p+".address", "%s at address %d ends past 65535", s.Type, s.Address)
	}
	for _, pr := range s.Conv.Problems() {
		add(p+"."+pr.Key, "%s", pr.Msg)
	}
	if len(s.Conv.Map) > 0 {
		add(p+".map", "not applicable to modbus signals")
	}
}

// lineKeys names the serial settings set in l.
func lineKeys(l *serialline.Line) []string {
	var keys []string
	for _, k := range []struct {
		key string
		set bool
	}{{"baud_rate", l.BaudRate != 0}, {"data_bits", l.DataBits != 0}, {"parity", l.Parity != ""},
		{"stop_bits", l.StopBits != 0}, {"response_timeout", l.ResponseTimeout != 0},
		{"turnaround_delay", l.TurnaroundDelay != 0}} {
		if k.set {
			keys = append(keys, k.key)
		}
	}
	return keys
}

// truncate shortens a configured value for an error message.
func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// hostPort parses a tcp://host[:port] endpoint into host:port.
func hostPort(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "tcp" || u.Hostname() == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return "", fmt.Errorf("invalid endpoint %q: want tcp://host[:port]", endpoint)
	}
	port := u.Port()
	if port == "" {
		port = strconv.Itoa(DefaultPort)
	} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "", fmt.Errorf("invalid endpoint %q: port %q is not 1..65535", endpoint, port)
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}
