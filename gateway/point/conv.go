package point

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Conv turns a raw source value into a field value: value × Scale + Offset, with
// booleans as 0/1 and strings looked up in Map (enumerations such as an operation mode
// delivered as text). A zero Scale means 1.
type Conv struct {
	Scale  float64
	Offset float64
	Map    map[string]float64
}

// ConvProblem is a conversion parameter that cannot convert values.
type ConvProblem struct {
	// Key is the parameter's configuration key: "scale", "offset" or "map.<text>".
	Key string
	Msg string
}

// Problems lists the parameters that are NaN or ±Inf: such a scale, offset or map value
// turns every value into one the TSDB drops (NaN) or refuses (InfluxDB answers 400 for a
// whole block). Map entries come in the order of their text. Every configuration of a
// signal (gateway/config, each adapter's Config) is checked with it.
func (c *Conv) Problems() []ConvProblem {
	var ps []ConvProblem
	if !finite(c.Scale) {
		ps = append(ps, ConvProblem{"scale", "invalid scale " + formatFloat(c.Scale) + ": want a finite number"})
	}
	if !finite(c.Offset) {
		ps = append(ps, ConvProblem{"offset", "invalid offset " + formatFloat(c.Offset) + ": want a finite number"})
	}
	var bad []string
	for k, v := range c.Map {
		if !finite(v) {
			bad = append(bad, k)
		}
	}
	sort.Strings(bad)
	for _, k := range bad {
		ps = append(ps, ConvProblem{"map." + Truncate(k, 64), "invalid value " + formatFloat(c.Map[k]) + ": want a finite number"})
	}
	return ps
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// ErrType is wrapped by conversion errors for values of a type the signal cannot carry.
var ErrType = errors.New("unsupported value type")

// ErrNotFinite is wrapped by conversion errors for NaN and ±Inf.
var ErrNotFinite = errors.New("value is not finite")

// Apply converts v. Errors name the offending value; callers add device and signal.
func (c *Conv) Apply(v any) (float64, error) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int8:
		f = float64(x)
	case int16:
		f = float64(x)
	case int32:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint8:
		f = float64(x)
	case uint16:
		f = float64(x)
	case uint32:
		f = float64(x)
	case uint64:
		f = float64(x)
	case bool:
		if x {
			f = 1
		}
	case string:
		if c.Map != nil {
			m, ok := c.Map[x]
			if !ok {
				return 0, fmt.Errorf("value %q not in map: %w", Truncate(x, 64), ErrType)
			}
			return m, nil
		}
		return 0, fmt.Errorf("string value %q without map: %w", Truncate(x, 64), ErrType)
	case nil:
		return 0, fmt.Errorf("null value: %w", ErrType)
	default:
		return 0, fmt.Errorf("value of type %T: %w", v, ErrType)
	}
	return c.Scaled(f)
}

// Scaled applies scale and offset to a number and rejects NaN and ±Inf.
func (c *Conv) Scaled(f float64) (float64, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("value %s: %w", strconv.FormatFloat(f, 'g', -1, 64), ErrNotFinite)
	}
	if c.Scale != 0 && c.Scale != 1 {
		f *= c.Scale
	}
	f += c.Offset
	if math.IsInf(f, 0) {
		return 0, fmt.Errorf("scaled value %s: %w", strconv.FormatFloat(f, 'g', -1, 64), ErrNotFinite)
	}
	return f, nil
}

// Truncate cuts s to at most n bytes on a character boundary and marks the cut with
// "…"; every message that quotes outside data uses it, so a device that sends a
// megabyte cannot make a megabyte of log.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
