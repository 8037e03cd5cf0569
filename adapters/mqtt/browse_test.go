package mqtt

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestPayloadPaths: the paths listed for a payload, in document order, with their types
// and values; keys no path can name are left out, a repeated key once with its last
// value, and the list stops at max.
func TestPayloadPaths(t *testing.T) {
	for _, c := range []struct {
		payload string
		max     int
		want    string
	}{
		{`{"kwh": 12.5, "v": [230.1, 231], "m": {"id": "em-1", "ok": false, "x": null}}`, 0,
			`json false <nil> [{kwh number 12.5} {v.0 number 230.1} {v.1 number 231} {m.id string em-1} {m.ok boolean false} {m.x null <nil>}]`},
		{`{"a.b": 1, "": 2, "c": {"d": 1, "d": {"e": 3}}, "c": 4}`, 0, `json false <nil> [{c number 4}]`},
		{`{"c": {"d": 1, "d": {"e": 3}}}`, 0, `json false <nil> [{c.d.e number 3}]`},
		{`[1, [2, {"x": 3}]]`, 0, `json false <nil> [{0 number 1} {1.0 number 2} {1.1.x number 3}]`},
		{`{"a": 1, "b": 2, "c": 3}`, 2, `json true <nil> [{a number 1} {b number 2}]`},
		{`{"big": 1e400, "neg": -0}`, 0, `json false <nil> [{big number 1e400} {neg number -0}]`},
		{` 42.5 `, 0, `number false <nil> []`},
		{`NaN`, 0, `text false <nil> []`},
		{`hello`, 0, `text false <nil> []`},
		{`{"a": }`, 0, `text false not JSON: invalid character '}' looking for beginning of value []`},
		{`{"a": 1} x`, 0, `text false not JSON: invalid character 'x' after top-level value []`},
		{`"text"`, 0, `text false <nil> []`},
		{`{"s": "` + strings.Repeat("é", 201) + `"}`, 0, `json false <nil> [{s string ` + strings.Repeat("é", 200) + `…}]`},
	} {
		paths, format, more, err := PayloadPaths([]byte(c.payload), c.max)
		var ps []string
		for _, p := range paths {
			ps = append(ps, fmt.Sprintf("{%s %s %v}", p.Path, p.Type, p.Value))
		}
		got := fmt.Sprintf("%s %v %v [%s]", format, more, err, strings.Join(ps, " "))
		if got != c.want {
			t.Errorf("PayloadPaths(%s):\n got %s\nwant %s", c.payload, got, c.want)
		}
	}
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	if paths, _, _, err := PayloadPaths([]byte(deep), 0); err != nil || len(paths) != 0 {
		t.Errorf("40 levels deep: %v %v, want no path (the grammar has 32 segments)", paths, err)
	}
}

// FuzzPayloadPaths: on any payload PayloadPaths does not panic, and every path it lists
// is valid in the source's grammar and locates, with the source's own payload scanner,
// a value of the listed type and (for numbers in float64's range) the listed value.
func FuzzPayloadPaths(f *testing.F) {
	for _, s := range []string{`{"kwh": 12.5, "v": [230.1, 231], "m": {"id": "em-1", "ok": true, "x": null}}`,
		`{"a": {"b": 1}, "a": 2}`, `[[[1]]]`, `{"\u0041": "\ud83d\ude00"}`, `12`, `{"a.b": 1, "": {"c": 2}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		paths, format, _, err := PayloadPaths(payload, 100)
		if format != "json" {
			if len(paths) != 0 {
				t.Fatalf("format %s with paths %v", format, paths)
			}
			return
		}
		if err != nil || !json.Valid(payload) {
			t.Fatalf("format json with error %v for %q", err, payload)
		}
		for _, p := range paths {
			if err := ValidatePath(p.Path); err != nil {
				t.Fatalf("path %q of %q: %v", p.Path, payload, err)
			}
			tree := newPathTree([]string{p.Path})
			var sc scanner
			out := make([]span, 1)
			if err := sc.scan(payload, tree, out); err != nil {
				t.Fatalf("scanner refuses %q that PayloadPaths read: %v", payload, err)
			}
			sp := out[tree.slotOf(0)]
			want := map[string][]kind{"number": {kindNumber}, "string": {kindString}, "boolean": {kindTrue, kindFalse}, "null": {kindNull}}[p.Type]
			found := false
			for _, k := range want {
				found = found || sp.kind == k
			}
			if !found {
				t.Fatalf("path %q of %q: listed as %s, the scanner finds %s", p.Path, payload, p.Type, sp.kind)
			}
			if v, ok := p.Value.(float64); ok {
				got, err := parseNumber(payload[sp.start:sp.end])
				if err != nil || got != v {
					t.Fatalf("path %q of %q: listed %v, the source reads %v (%v)", p.Path, payload, v, got, err)
				}
			}
		}
	})
}
