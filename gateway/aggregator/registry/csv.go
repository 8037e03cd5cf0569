package registry

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"unicode/utf8"
)

// Column headers may be the field names or the Chinese headings officials use.
var (
	enterpriseAliases = map[string]string{
		"统一社会信用代码": "id", "企业名称": "name", "名称": "name", "行政区划代码": "region",
		"园区": "park", "智能装备制造商": "smart_equipment_maker", "设备厂商标识": "vendors",
		"行业代码": "industry", "国民经济行业代码": "industry", "增加值率": "value_added_rate",
	}
	workshopAliases = map[string]string{
		"车间编号": "id", "车间名称": "name", "名称": "name", "企业": "enterprise",
		"统一社会信用代码": "enterprise", "行政区划代码": "region", "园区": "park",
	}
)

// readCSVEntries reads one imported CSV file: a header row naming the columns (any
// order, unknown columns are errors), then one entry per row. Lists (vendors) are
// separated by ';'. The file must be UTF-8 (a byte-order mark is allowed).
func readCSVEntries(ps *problems, ref csvRef, read ReadFunc, keys []string, aliases map[string]string) []*entry {
	name, data, err := read(ref.name)
	if err != nil {
		readError(ps, ref, err)
		return nil
	}
	data = trimBOM(data)
	if !utf8.Valid(data) {
		line := 1 + bytes.Count(data[:invalidUTF8At(data)], []byte{'\n'})
		ps.add(name, line, "", "not UTF-8 text (save the sheet as \"CSV UTF-8\")")
		return nil
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err == io.EOF {
		ps.add(name, 0, "", "empty file (want a header row: %s)", strings.Join(keys, ","))
		return nil
	}
	if err != nil {
		csvError(ps, name, err)
		return nil
	}
	cols := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if a, ok := aliases[h]; ok {
			h = a
		}
		h = strings.ToLower(h)
		switch {
		case !contains(keys, h):
			ps.add(name, 1, h, "unknown column (want %s)", strings.Join(keys, ","))
			return nil
		case seen[h]:
			ps.add(name, 1, h, "column given twice")
			return nil
		}
		seen[h] = true
		cols[i] = h
	}
	for _, k := range keys[:2] { // id and name
		if !seen[k] {
			ps.add(name, 1, k, "missing column")
			return nil
		}
	}
	var out []*entry
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			csvError(ps, name, err)
			return out
		}
		line, _ := r.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		if len(rec) != len(cols) {
			ps.add(name, line, "", "%d fields, want %d (as the header)", len(rec), len(cols))
			continue
		}
		e := &entry{file: name, line: line, vals: map[string]string{}, lines: map[string]int{}}
		for i, v := range rec {
			l, _ := r.FieldPos(i)
			e.lines[cols[i]] = l
			v = strings.TrimSpace(v)
			if cols[i] == "vendors" {
				for _, s := range strings.Split(v, ";") {
					if s = strings.TrimSpace(s); s != "" {
						e.vendors = append(e.vendors, s)
					}
				}
				e.hasVend = len(e.vendors) > 0
				continue
			}
			e.vals[cols[i]] = v
		}
		out = append(out, e)
	}
	return out
}

func csvError(ps *problems, name string, err error) {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		ps.add(name, pe.Line, "", "%v", pe.Err)
		return
	}
	ps.add(name, 0, "", "%v", err)
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}
