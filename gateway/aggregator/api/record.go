package api

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"iter"
	"math"
	"strconv"
	"strings"
	"time"
)

// record is a JSON object with ordered keys; nested records flatten to CSV columns
// named "outer.inner".
type record []kv

type kv struct {
	k string
	v any
}

func (r *record) add(k string, v any) { *r = append(*r, kv{k, v}) }

// num rounds to 15 significant digits: sums and ratios read from a TSDB carry float
// noise in the last digits. NaN and ±Inf are null.
type num float64

func (n num) text() (string, bool) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", false
	}
	f, _ = strconv.ParseFloat(strconv.FormatFloat(f, 'g', 15, 64), 64)
	if f == 0 {
		f = 0 // no "-0"
	}
	return strconv.FormatFloat(f, 'f', -1, 64), true
}

func (n num) MarshalJSON() ([]byte, error) {
	s, ok := n.text()
	if !ok {
		return []byte("null"), nil
	}
	return []byte(s), nil
}

// optBool is a boolean that is null when not applicable.
type optBool struct {
	v, ok bool
}

func (b optBool) MarshalJSON() ([]byte, error) {
	if !b.ok {
		return []byte("null"), nil
	}
	return json.Marshal(b.v)
}

func (r record) MarshalJSON() ([]byte, error) { return r.appendJSON(nil) }

// appendJSON appends r as a JSON object to b.
func (r record) appendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	for i, e := range r {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendJSONValue(appendKey(b, e.k), e.v); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendKey appends s as a JSON string and a colon.
func appendKey(b []byte, s string) []byte { return append(appendString(b, s), ':') }

// appendString appends s as a JSON string, escaped as encoding/json does.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // cannot fail for a string
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONValue appends v; the common types directly, the rest through encoding/json.
func appendJSONValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case record:
		return v.appendJSON(b)
	case num:
		s, ok := v.text()
		if !ok {
			return append(b, "null"...), nil
		}
		return append(b, s...), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, v), nil
	case time.Time: // as encoding/json writes it
		return append(v.AppendFormat(append(b, '"'), time.RFC3339Nano), '"'), nil
	case []record:
		b = append(b, '[')
		for i, r := range v {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = r.appendJSON(b); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// writeJSON writes the envelope with the rows added under rowsKey (an empty array when
// there are none), and a newline, to w as it goes: the response is never held whole
// in memory.
func writeJSON(w io.Writer, env record, rowsKey string, rows iter.Seq[record]) error {
	const chunk = 32 << 10
	b := make([]byte, 0, 2*chunk)
	flush := func(force bool) error {
		if len(b) < chunk && !force {
			return nil
		}
		_, err := w.Write(b)
		b = b[:0]
		return err
	}
	b = append(b, '{')
	var err error
	for _, e := range env {
		if b, err = appendJSONValue(appendKey(b, e.k), e.v); err != nil {
			return err
		}
		b = append(b, ',')
	}
	if rowsKey == "" {
		if len(env) > 0 {
			b = b[:len(b)-1]
		}
		b = append(b, "}\n"...)
		return flush(true)
	}
	b = append(appendKey(b, rowsKey), '[')
	if rows != nil {
		first := true
		for r := range rows {
			if !first {
				b = append(b, ',')
			}
			first = false
			if b, err = r.appendJSON(b); err != nil {
				return err
			}
			if err = flush(false); err != nil {
				return err
			}
		}
	}
	b = append(b, "]}\n"...)
	return flush(true)
}

// flatten appends the CSV cells of r with their column names.
func (r record) flatten(prefix string, cols, cells *[]string) {
	for _, e := range r {
		name := prefix + e.k
		switch v := e.v.(type) {
		case record:
			v.flatten(name+".", cols, cells)
			continue
		case num:
			s, _ := v.text()
			*cells = append(*cells, s)
		case optBool:
			s := ""
			if v.ok {
				s = strconv.FormatBool(v.v)
			}
			*cells = append(*cells, s)
		case bool:
			*cells = append(*cells, strconv.FormatBool(v))
		case int:
			*cells = append(*cells, strconv.Itoa(v))
		case string:
			*cells = append(*cells, csvText(v))
		case []string:
			items := make([]string, len(v))
			for i, s := range v {
				items[i] = csvText(s)
			}
			*cells = append(*cells, strings.Join(items, ";"))
		case time.Time:
			*cells = append(*cells, v.Format(time.RFC3339))
		case nil:
			*cells = append(*cells, "")
		default:
			b, _ := json.Marshal(v)
			*cells = append(*cells, csvText(string(b)))
		}
		*cols = append(*cols, name)
	}
}

// csvText neutralises a text cell against formula injection (OWASP "CSV Injection"): a
// spreadsheet program runs a cell starting with =, +, -, @, tab or carriage return as a
// formula, so such a cell gets a leading single quote and is shown as text. It is
// applied to every cell that holds text (names, identifiers, lists, reasons); cells
// the aggregator writes from numbers, booleans and times are never prefixed, so a
// negative number stays a number.
func csvText(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// writeCSV writes rows as CSV with a header from the first row (or from template when
// there are none), preceded by a UTF-8 byte-order mark so spreadsheet programs read the
// Chinese names correctly. It is the one CSV writer of the API: every text cell passes
// csvText (in flatten).
func writeCSV(out io.Writer, rows iter.Seq[record], template record) error {
	bw := bufio.NewWriterSize(out, 32<<10)
	_, _ = bw.Write([]byte{0xEF, 0xBB, 0xBF})
	w := csv.NewWriter(bw)
	header := false
	if rows != nil {
		for r := range rows {
			var cols, cells []string
			r.flatten("", &cols, &cells)
			if !header {
				header = true
				if err := w.Write(cols); err != nil {
					return err
				}
			}
			if err := w.Write(cells); err != nil {
				return err
			}
		}
	}
	if !header {
		var cols, cells []string
		template.flatten("", &cols, &cells)
		_ = w.Write(cols)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return bw.Flush()
}
