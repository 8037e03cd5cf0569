package point

import (
	"strconv"
	"unicode/utf8"
)

// AppendLine appends p as one line of InfluxDB line protocol (with a trailing newline)
// and returns the extended buffer and the number of field values written. A point with no
// fields appends nothing and returns 0.
//
// Measurement, tag keys, tag values and field keys are escaped as the protocol requires
// (comma, space, equals sign); control characters, which the protocol cannot carry, become
// '_', a backslash becomes '/' (the protocol has no unambiguous escape for it before a
// separator) and invalid UTF-8 becomes U+FFFD. Tags with an empty key or value are
// skipped (the protocol forbids them). A Good field is written as "key=value", an
// Uncertain one as "key=value,key_quality=1", a Bad one as "key_quality=2" only.
// Values are always floats; the timestamp is in nanoseconds.
func AppendLine(buf []byte, p *Point) ([]byte, int) {
	if len(p.Fields) == 0 {
		return buf, 0
	}
	start := len(buf)
	buf = appendEscaped(buf, p.Measurement, escMeasurement)
	for i := range p.Tags {
		t := &p.Tags[i]
		if t.Key == "" || t.Value == "" {
			continue
		}
		buf = append(buf, ',')
		buf = appendEscaped(buf, t.Key, escKey)
		buf = append(buf, '=')
		buf = appendEscaped(buf, t.Value, escKey)
	}
	buf = append(buf, ' ')
	n := 0
	for i := range p.Fields {
		f := &p.Fields[i]
		if n > 0 {
			buf = append(buf, ',')
		}
		if f.Quality != Bad {
			buf = appendEscaped(buf, f.Key, escKey)
			buf = append(buf, '=')
			buf = strconv.AppendFloat(buf, f.Value, 'g', -1, 64)
			n++
		}
		if f.Quality != Good {
			if f.Quality != Bad {
				buf = append(buf, ',')
			}
			buf = appendEscaped(buf, f.Key, escKey)
			buf = append(buf, "_quality="...)
			buf = strconv.AppendUint(buf, uint64(f.Quality), 10)
			n++
		}
	}
	if n == 0 {
		return buf[:start], 0
	}
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, p.Time, 10)
	buf = append(buf, '\n')
	return buf, n
}

// AppendBatch appends every point of b and returns the buffer and the number of
// field values written.
func AppendBatch(buf []byte, b Batch) ([]byte, int) {
	total := 0
	for i := range b {
		var n int
		buf, n = AppendLine(buf, &b[i])
		total += n
	}
	return buf, total
}

const (
	escMeasurement = 1 // comma, space
	escKey         = 2 // comma, space, equals
)

// needsEscape reports per byte whether it needs escaping or replacement in a key.
var needsEscape = func() (t [256]uint8) {
	for c := 0; c < 0x20; c++ {
		t[c] = escMeasurement | escKey
	}
	t[0x7f] = escMeasurement | escKey
	t[','] = escMeasurement | escKey
	t[' '] = escMeasurement | escKey
	t['\\'] = escMeasurement | escKey
	t['='] = escKey
	for c := 0x80; c < 0x100; c++ {
		t[c] = escMeasurement | escKey // checked for valid UTF-8 on the slow path
	}
	return t
}()

func appendEscaped(buf []byte, s string, kind uint8) []byte {
	clean := true
	for i := 0; i < len(s); i++ {
		if needsEscape[s[i]]&kind != 0 {
			clean = false
			break
		}
	}
	if clean {
		return append(buf, s...)
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size <= 1 {
				buf = utf8.AppendRune(buf, utf8.RuneError)
				i++
				continue
			}
			buf = append(buf, s[i:i+size]...)
			i += size
			continue
		}
		switch {
		case c < 0x20 || c == 0x7f:
			buf = append(buf, '_')
		case c == '\\':
			buf = append(buf, '/')
		case c == ',' || c == ' ' || (c == '=' && kind == escKey):
			buf = append(buf, '\\', c)
		default:
			buf = append(buf, c)
		}
		i++
	}
	return buf
}
