package point

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	protocol "github.com/influxdata/line-protocol"
)

var idTags = []Tag{{"device", "m1"}, {"kind", "cnc"}, {"workshop", "ws1"}}

func TestAppendLine(t *testing.T) {
	for _, tc := range []struct {
		name   string
		p      Point
		want   string
		fields int
	}{
		{"good", Point{Measurement: "cnc", Tags: idTags, Fields: []Field{{Key: "spindle_speed_rpm", Value: 1200.5}}, Time: 1700000000123000000},
			"cnc,device=m1,kind=cnc,workshop=ws1 spindle_speed_rpm=1200.5 1700000000123000000\n", 1},
		{"integer value stays float", Point{Measurement: "cnc", Fields: []Field{{Key: "parts_total", Value: 4294967295}}, Time: 1},
			"cnc parts_total=4.294967295e+09 1\n", 1},
		{"uncertain", Point{Measurement: "cnc", Fields: []Field{{Key: "state", Value: 3, Quality: Uncertain}}, Time: 1},
			"cnc state=3,state_quality=1 1\n", 2},
		{"bad writes quality only", Point{Measurement: "cnc", Fields: []Field{{Key: "a", Value: 7, Quality: Bad}, {Key: "b", Value: 1}}, Time: 1},
			"cnc a_quality=2,b=1 1\n", 2},
		{"no fields", Point{Measurement: "cnc", Tags: idTags, Time: 1}, "", 0},
		{"escaping", Point{Measurement: "a b,c", Tags: []Tag{{"k=1", "v 1,x=y"}, {"name", "1号 车间"}}, Fields: []Field{{Key: "f x", Value: -0.25}}, Time: -5},
			`a\ b\,c,k\=1=v\ 1\,x\=y,name=1号\ 车间 f\ x=-0.25 -5` + "\n", 1},
		{"control chars, backslash, bad utf-8", Point{Measurement: "m\n", Tags: []Tag{{"k", "a\\b\tc\xff"}}, Fields: []Field{{Key: "f", Value: 1}}, Time: 2},
			"m_,k=a/b_c\uFFFD f=1 2\n", 1},
		{"empty tag skipped", Point{Measurement: "m", Tags: []Tag{{"a", ""}, {"", "x"}, {"b", "1"}}, Fields: []Field{{Key: "f", Value: 1}}, Time: 3},
			"m,b=1 f=1 3\n", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, n := AppendLine([]byte("prefix\n"), &tc.p)
			if string(got) != "prefix\n"+tc.want || n != tc.fields {
				t.Fatalf("got %q (%d fields), want %q (%d)", got, n, "prefix\n"+tc.want, tc.fields)
			}
		})
	}
}

func TestAppendBatchCountsFields(t *testing.T) {
	b := Batch{
		{Measurement: "m", Fields: []Field{{Key: "a", Value: 1}, {Key: "b", Value: 2, Quality: Uncertain}}, Time: 1},
		{Measurement: "m", Time: 2},
	}
	out, n := AppendBatch(nil, b)
	if n != 3 || strings.Count(string(out), "\n") != 1 || b.Fields() != 2 {
		t.Fatalf("got %q, %d fields written, %d in batch", out, n, b.Fields())
	}
}

// FuzzAppendLine: whatever strings a configuration or a device hands over, the line is
// valid line protocol that parses back to the sanitised names and the exact value.
func FuzzAppendLine(f *testing.F) {
	f.Add("cnc", "device", "m 1,x=y", "spindle", 1.5, int64(1700000000000000000))
	f.Add("a\\", "k\\", "v\\", "f\\", -1e300, int64(-1))
	f.Add("\xff\xfe", "=", ",", "\"", math.SmallestNonzeroFloat64, int64(0))
	f.Fuzz(func(t *testing.T, m, tk, tv, fk string, v float64, ts int64) {
		if math.IsNaN(v) || math.IsInf(v, 0) || m == "" || fk == "" {
			return // Conv rejects these before a point is built; config requires names
		}
		p := Point{Measurement: m, Tags: []Tag{{tk, tv}}, Fields: []Field{{Key: fk, Value: v}}, Time: ts}
		line, n := AppendLine(nil, &p)
		if n != 1 {
			t.Fatalf("fields %d", n)
		}
		if !utf8.Valid(line) {
			t.Fatalf("invalid utf-8: %q", line)
		}
		if strings.Count(string(line), "\n") != 1 {
			t.Fatalf("line breaks: %q", line)
		}
		if strings.HasPrefix(sanitize(m), "#") || strings.TrimSpace(sanitize(m)) == "" {
			return // a comment or blank measurement: configuration validation forbids it
		}
		ms, err := protocol.NewParser(protocol.NewMetricHandler()).Parse(line)
		if err != nil || len(ms) != 1 {
			t.Fatalf("parse %q: %v", line, err)
		}
		got := ms[0]
		if got.Name() != sanitize(m) {
			t.Fatalf("measurement %q, want %q (line %q)", got.Name(), sanitize(m), line)
		}
		if tk != "" && tv != "" {
			if len(got.TagList()) != 1 || got.TagList()[0].Key != sanitize(tk) || got.TagList()[0].Value != sanitize(tv) {
				t.Fatalf("tags %+v, want %q=%q (line %q)", got.TagList(), sanitize(tk), sanitize(tv), line)
			}
		}
		fl := got.FieldList()
		if len(fl) != 1 || fl[0].Key != sanitize(fk) || fl[0].Value != v || got.Time().UnixNano() != ts {
			t.Fatalf("fields %+v at %d, want %q=%v at %d (line %q)", fl, got.Time().UnixNano(), sanitize(fk), v, ts, line)
		}
	})
}

// sanitize is what AppendLine does to names before escaping.
func sanitize(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteRune(utf8.RuneError)
		case r < 0x20 || r == 0x7f:
			b.WriteByte('_')
		case r == '\\':
			b.WriteByte('/')
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func BenchmarkAppendLine(b *testing.B) {
	tags := []Tag{{"device", "em17"}, {"enterprise", "91360100MA00000000"}, {"kind", "energy_meter"},
		{"park", "nc-hitech"}, {"region", "360100"}, {"workshop", "ws1"}}
	p := Point{Measurement: "energy_meter", Tags: tags, Fields: []Field{{Key: "energy_kwh_total", Value: 12345.678},
		{Key: "power_kw", Value: 12.5}, {Key: "water_m3_total", Value: 321.25}}, Time: 1700000000123000000}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf, _ = AppendLine(buf[:0], &p)
	}
	b.SetBytes(int64(len(buf)))
}
