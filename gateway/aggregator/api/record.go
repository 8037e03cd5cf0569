package api

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
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

func (r record) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range r {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
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
			*cells = append(*cells, v)
		case []string:
			*cells = append(*cells, strings.Join(v, ";"))
		case time.Time:
			*cells = append(*cells, v.Format(time.RFC3339))
		case nil:
			*cells = append(*cells, "")
		default:
			b, _ := json.Marshal(v)
			*cells = append(*cells, string(b))
		}
		*cols = append(*cols, name)
	}
}

// writeCSV writes rows as CSV with a header from the first row (or from template when
// there are none), preceded by a UTF-8 byte-order mark so spreadsheet programs read the
// Chinese names correctly.
func writeCSV(rows []record, template record) []byte {
	var b bytes.Buffer
	b.Write([]byte{0xEF, 0xBB, 0xBF})
	w := csv.NewWriter(&b)
	if len(rows) == 0 {
		var cols, cells []string
		template.flatten("", &cols, &cells)
		_ = w.Write(cols)
	}
	for i, r := range rows {
		var cols, cells []string
		r.flatten("", &cols, &cells)
		if i == 0 {
			_ = w.Write(cols)
		}
		_ = w.Write(cells)
	}
	w.Flush()
	return b.Bytes()
}
