// Package serialline is the serial transport the RS-485 protocols share (Modbus RTU,
// DL/T 645-2007): the YAML keys of a serial line (Spec, embedded inline in an adapter's
// source section), its runtime form with the RS-485 timing derived from the baud rate
// (Line), opening the line — a local serial port or a serial device server in
// transparent mode reached over TCP (Open) — and a Bus that serialises the requests of
// every device on the line: one request in flight, the inter-frame gap respected, a
// silent device costing its response timeout and nothing else.
package serialline

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/ganlink/ganlink/gateway/config"
)

// Defaults of a line; the parity default belongs to the protocol (Modbus RTU: none,
// DL/T 645: even) and is passed to Spec.Line.
const (
	DefaultBaudRate        = 9600
	DefaultDataBits        = 8
	DefaultStopBits        = 1
	DefaultResponseTimeout = 500 * time.Millisecond
	DefaultTurnaroundDelay = 100 * time.Millisecond
	// MinResponseTimeout and MaxResponseTimeout bound response_timeout;
	// MaxTurnaroundDelay bounds turnaround_delay.
	MinResponseTimeout = 10 * time.Millisecond
	MaxResponseTimeout = 10 * time.Second
	MaxTurnaroundDelay = 10 * time.Second
	// HighSpeedGap is the fixed inter-frame gap above 19 200 baud (Modbus over serial
	// line V1.02, 2.5.1.1: t3.5 = 1.75 ms).
	HighSpeedGap = 1750 * time.Microsecond
)

// BaudRates are the accepted baud rates.
var BaudRates = []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400}

// Parities are the accepted parity names.
var Parities = []string{"none", "even", "odd"}

// Spec is the YAML form of a serial line, embedded with `yaml:",inline"` in the source
// sections of the serial protocols.
type Spec struct {
	// Endpoint is serial:///dev/ttyUSB0 (a local port) or tcp://host:port (a serial
	// device server in transparent mode, carrying the raw frames over TCP).
	Endpoint string `yaml:"endpoint"`
	// BaudRate defaults to 9600; on a tcp:// endpoint it only sets the timing.
	BaudRate int `yaml:"baud_rate"`
	// DataBits (7 or 8, default 8), Parity (none, even or odd; the default is the
	// protocol's) and StopBits (1 or 2, default 1) apply to serial:// endpoints; on a
	// serial server they are set in the server.
	DataBits int    `yaml:"data_bits"`
	Parity   string `yaml:"parity"`
	StopBits int    `yaml:"stop_bits"`
	// ResponseTimeout bounds the wait for a reply (default 500ms); TurnaroundDelay is
	// the pause after a broadcast request, which no device answers (default 100ms).
	ResponseTimeout config.Duration `yaml:"response_timeout"`
	TurnaroundDelay config.Duration `yaml:"turnaround_delay"`
}

// Line is the runtime form of a serial line.
type Line struct {
	// Endpoint is the configured endpoint; Network "serial" or "tcp" and Address the
	// device path or host:port parsed from it (set by Check).
	Endpoint         string
	Network, Address string
	BaudRate         int
	DataBits         int
	Parity           string
	StopBits         int
	ResponseTimeout  time.Duration
	TurnaroundDelay  time.Duration
}

// Line builds the runtime line of s with the defaults filled in (parity: the
// protocol's default) and reports the problems only the YAML form can have to ck at
// path: unreadable durations, and line settings on a tcp:// endpoint (set in the serial
// server, not here). The line's own rules are Line.Check's.
func (s *Spec) Line(ck *config.Checker, path, parity string) Line {
	ck.Duration(path+".response_timeout", s.ResponseTimeout)
	ck.Duration(path+".turnaround_delay", s.TurnaroundDelay)
	if u, err := url.Parse(s.Endpoint); err == nil && u.Scheme == "tcp" {
		for _, k := range []struct {
			key string
			set bool
		}{{"data_bits", s.DataBits != 0}, {"parity", s.Parity != ""}, {"stop_bits", s.StopBits != 0}} {
			if k.set {
				ck.Add(path+"."+k.key, "not applicable to a tcp:// endpoint (a serial server): set it in the server")
			}
		}
	}
	l := Line{Endpoint: s.Endpoint, BaudRate: s.BaudRate, DataBits: s.DataBits, Parity: s.Parity,
		StopBits: s.StopBits, ResponseTimeout: s.ResponseTimeout.D, TurnaroundDelay: s.TurnaroundDelay.D}
	if !s.TurnaroundDelay.Set() {
		l.TurnaroundDelay = DefaultTurnaroundDelay
	}
	l.ApplyDefaults(parity)
	return l
}

// ApplyDefaults fills the zero settings of l with the defaults, parity with the
// protocol's default.
func (l *Line) ApplyDefaults(parity string) {
	if l.BaudRate == 0 {
		l.BaudRate = DefaultBaudRate
	}
	if l.DataBits == 0 {
		l.DataBits = DefaultDataBits
	}
	if l.Parity == "" {
		l.Parity = parity
	}
	if l.StopBits == 0 {
		l.StopBits = DefaultStopBits
	}
	if l.ResponseTimeout == 0 {
		l.ResponseTimeout = DefaultResponseTimeout
	}
}

// Check reports every problem of l to add, naming the YAML key and the value, and
// sets Network and Address from Endpoint. Zero values are valid where they mean a
// default (ApplyDefaults).
func (l *Line) Check(add func(field, format string, a ...any)) {
	var err error
	l.Network, l.Address, err = ParseEndpoint(l.Endpoint)
	if err != nil {
		add("endpoint", "%v", err)
	}
	if l.BaudRate != 0 && !contains(BaudRates, l.BaudRate) {
		add("baud_rate", "invalid baud rate %d: want one of %s", l.BaudRate, join(BaudRates))
	}
	if l.DataBits != 0 && l.DataBits != 7 && l.DataBits != 8 {
		add("data_bits", "invalid data bits %d: want 7 or 8", l.DataBits)
	}
	if l.Parity != "" && !contains(Parities, l.Parity) {
		add("parity", "invalid parity %q: want none, even or odd", truncate(l.Parity))
	}
	if l.StopBits != 0 && l.StopBits != 1 && l.StopBits != 2 {
		add("stop_bits", "invalid stop bits %d: want 1 or 2", l.StopBits)
	}
	if t := l.ResponseTimeout; t != 0 && (t < MinResponseTimeout || t > MaxResponseTimeout) {
		add("response_timeout", "invalid response timeout %s: want %s..%s", t, MinResponseTimeout, MaxResponseTimeout)
	}
	if t := l.TurnaroundDelay; t < 0 || t > MaxTurnaroundDelay {
		add("turnaround_delay", "invalid turnaround delay %s: want 0s..%s", t, MaxTurnaroundDelay)
	}
}

// ParseEndpoint splits serial:///dev/ttyUSB0 into ("serial", "/dev/ttyUSB0") and
// tcp://host:port into ("tcp", "host:port").
func ParseEndpoint(endpoint string) (network, address string, err error) {
	bad := func(why string) error {
		return fmt.Errorf("invalid endpoint %q: %swant serial:///dev/ttyUSB0 or tcp://host:port", truncate(endpoint), why)
	}
	u, perr := url.Parse(endpoint)
	if perr != nil || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return "", "", bad("")
	}
	switch u.Scheme {
	case "serial":
		if u.Host != "" || len(u.Path) < 2 || u.Path[0] != '/' {
			return "", "", bad("a serial endpoint names an absolute device path: ")
		}
		return "serial", u.Path, nil
	case "tcp":
		if u.Hostname() == "" || (u.Path != "" && u.Path != "/") {
			return "", "", bad("")
		}
		port := u.Port()
		if port == "" {
			return "", "", bad("a serial server needs its port: ")
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return "", "", bad(fmt.Sprintf("port %q is not 1..65535: ", port))
		}
		return "tcp", net.JoinHostPort(u.Hostname(), port), nil
	}
	return "", "", bad("")
}

// CharBits is the number of bits one character occupies on the wire: start bit, data
// bits, parity bit if any, stop bits.
func (l *Line) CharBits() int {
	n := 1 + l.DataBits + l.StopBits
	if l.Parity != "none" {
		n++
	}
	return n
}

// CharTime is the wire time of one character.
func (l *Line) CharTime() time.Duration {
	return time.Duration(l.CharBits()) * time.Second / time.Duration(l.BaudRate)
}

// WireTime is the wire time of n characters.
func (l *Line) WireTime(n int) time.Duration {
	return time.Duration(n*l.CharBits()) * time.Second / time.Duration(l.BaudRate)
}

// FrameGap is the silence that separates two frames: 3.5 character times, and the
// fixed 1.75 ms above 19 200 baud.
func (l *Line) FrameGap() time.Duration {
	if l.BaudRate > 19200 {
		return HighSpeedGap
	}
	return time.Duration(l.CharBits()*35) * time.Second / time.Duration(10*l.BaudRate)
}

// String describes the line for logs, e.g. "serial:///dev/ttyUSB0 9600 8N1".
func (l *Line) String() string {
	if l.Network == "tcp" {
		return fmt.Sprintf("%s (serial server, %d baud)", l.Endpoint, l.BaudRate)
	}
	p := "N"
	switch l.Parity {
	case "even":
		p = "E"
	case "odd":
		p = "O"
	}
	return fmt.Sprintf("%s %d %d%s%d", l.Endpoint, l.BaudRate, l.DataBits, p, l.StopBits)
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func join(v []int) string {
	s := ""
	for i, x := range v {
		if i > 0 {
			s += ", "
		}
		s += strconv.Itoa(x)
	}
	return s
}

// truncate shortens a configured value for an error message.
func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
