package registry

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestParseIndustry(t *testing.T) {
	tests := []struct{ code, want, wantErr string }{
		{"C3411", "C3411", ""},
		{"3411", "C3411", ""},
		{"C34", "C34", ""},
		{"34", "C34", ""},
		{"C341", "C341", ""},
		{"C", "C", ""},
		{"A0111", "A0111", ""},
		{"0111", "A0111", ""},
		{"1311", "C1311", ""}, // first division of C
		{"4330", "C4330", ""}, // last division of C
		{"D4411", "D4411", ""},
		{"T9700", "T9700", ""},
		{"K7010", "K7010", ""},
		{"D3411", "", `invalid industry code "D3411": division 34 is in section C, not D`},
		{"C4411", "", `invalid industry code "C4411": division 44 is in section D, not C`},
		{"B1311", "", `invalid industry code "B1311": division 13 is in section C, not B`},
		{"C1211", "", `invalid industry code "C1211": division 12 is in section B, not C`},
		{"0011", "", `invalid industry code "0011": unknown division "00" (want 01–97)`},
		{"9811", "", `invalid industry code "9811": unknown division "98" (want 01–97)`},
		{"U", "", `invalid industry code "U": unknown section "U" (want A–T)`},
		{"c3411", "", `invalid industry code "c3411": want a section letter A–T and up to 4 digits (GB/T 4754-2017, e.g. C3411)`},
		{"C34111", "", `invalid industry code "C34111": want a section letter A–T and up to 4 digits (GB/T 4754-2017, e.g. C3411)`},
		{"C3", "", `invalid industry code "C3": want a section letter A–T and up to 4 digits (GB/T 4754-2017, e.g. C3411)`},
		{"C34A1", "", `invalid industry code "C34A1": want a section letter A–T and up to 4 digits (GB/T 4754-2017, e.g. C3411)`},
		{"", "", `invalid industry code "": want a section letter A–T and up to 4 digits (GB/T 4754-2017, e.g. C3411)`},
		{"CC", "", `invalid industry code "CC": want a section letter A–T and up to 4 digits (GB/T 4754-2017, e.g. C3411)`},
		{"３４", "", `invalid industry code "３４": want a section letter A–T and up to 4 digits (GB/T 4754-2017, e.g. C3411)`},
	}
	for _, tt := range tests {
		got, err := ParseIndustry(tt.code)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tt.want || gotErr != tt.wantErr {
			t.Errorf("ParseIndustry(%q) = %q, %q; want %q, %q", tt.code, got, gotErr, tt.want, tt.wantErr)
		}
	}
	if _, err := ParseIndustryClass("C34"); err == nil || err.Error() != `invalid industry code "C34": want a 4-digit class (GB/T 4754-2017, e.g. C3411)` {
		t.Errorf("ParseIndustryClass(C34) = %v", err)
	}
	long := strings.Repeat("x", 100)
	if _, err := ParseIndustry(long); err == nil || err.Error() != `invalid industry code "`+strings.Repeat("x", 40)+`…": want a section letter A–T and up to 4 digits (GB/T 4754-2017, e.g. C3411)` {
		t.Errorf("long code: %v", err)
	}
	// Every division 01–97 has a section and a default rate; no other has.
	for d := 0; d <= 99; d++ {
		has := SectionOf(d) != 0
		if has != (d >= 1 && d <= 97) || (DefaultValueAddedRate(d) != 0) != has {
			t.Errorf("division %02d: section %q, default rate %g", d, SectionOf(d), DefaultValueAddedRate(d))
		}
	}
	for _, tt := range []struct {
		class, industry string
		want            bool
	}{{"C3411", "C", true}, {"C3411", "C34", true}, {"C3411", "C341", true}, {"C3411", "C3411", true},
		{"C3411", "C35", false}, {"C3411", "D", false}, {"", "C", false}, {"C3411", "", false}} {
		if got := IndustryWithin(tt.class, tt.industry); got != tt.want {
			t.Errorf("IndustryWithin(%q, %q) = %v", tt.class, tt.industry, got)
		}
	}
}

func TestParseValueAddedRate(t *testing.T) {
	for s, want := range map[string]float64{"0.32": 0.32, "1": 1, "32%": 0.32, " 18 % ": 0.18, "100%": 1, "1e-3": 0.001} {
		if got, err := ParseValueAddedRate(s); err != nil || got != want {
			t.Errorf("ParseValueAddedRate(%q) = %g, %v; want %g", s, got, err, want)
		}
	}
	for _, s := range []string{"0", "-0.1", "1.01", "101%", "NaN", "Inf", "x", "", "%"} {
		want := `invalid value-added rate "` + s + `" (want a share of output value in (0, 1], e.g. 0.32 or 32%)`
		if _, err := ParseValueAddedRate(s); err == nil || err.Error() != want {
			t.Errorf("ParseValueAddedRate(%q) = %v, want %s", s, err, want)
		}
	}
}

func TestIndustryRegistry(t *testing.T) {
	parse := func(yml string, csv map[string]string) (*Registry, error) {
		return Parse("r.yaml", []byte(yml), func(name string) (string, []byte, error) {
			s, ok := csv[name]
			if !ok {
				return name, nil, os.ErrNotExist
			}
			return name, []byte(s), nil
		})
	}
	t.Run("resolution", func(t *testing.T) {
		r, err := parse(okRegions+`value_added_rates:
  C: 0.3
  "34": 0.25
  C341: 0.24
  C3412: 22%
enterprises:
  - {id: 91360100MA35HT001T, name: a, park: p1, industry: C3412}
  - {id: 91360200MA35JD001R, name: b, region: "360200", industry: "3411"}
  - {id: 91360400MA35JJ0018, name: c, region: "360100", industry: C3421}
  - {id: 91360100MA35XXXX0W, name: d, region: "360100", industry: C3511}
  - {id: 91360100MA35HT0031, name: e, region: "360100", industry: D4411}
  - {id: 91360100MA35HT0057, name: f, region: "360100", value_added_rate: 0.4}
  - {id: 91360100MA35HT006A, name: g, region: "360100", industry: C3411, value_added_rate: "31%"}
  - {id: 91360100MA35HT007D, name: h, region: "360100"}
enterprises_csv: e.csv
`, map[string]string{"e.csv": "统一社会信用代码,企业名称,行政区划代码,国民经济行业代码,增加值率\n91360200MA35JD002W,i,360200,1311,\n91360200MA35JD0030,j,360200,C1311,0.5\n"})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"91360100MA35HT001T": "C3412 0.22 value_added_rates C3412",
			"91360200MA35JD001R": "C3411 0.24 value_added_rates C341",
			"91360400MA35JJ0018": "C3421 0.25 value_added_rates C34",
			"91360100MA35XXXX0W": "C3511 0.3 value_added_rates C",
			"91360100MA35HT0031": "D4411 0.286 default D44",
			"91360100MA35HT0057": " 0.4 enterprise",
			"91360100MA35HT006A": "C3411 0.31 enterprise",
			"91360100MA35HT007D": " 0 ",
			"91360200MA35JD002W": "C1311 0.3 value_added_rates C",
			"91360200MA35JD0030": "C1311 0.5 enterprise",
		}
		for id, w := range want {
			e := r.Enterprise(id)
			if e == nil {
				t.Errorf("%s missing", id)
				continue
			}
			if got := e.Industry + " " + strconvG(e.ValueAddedRate) + " " + e.ValueAddedRateFrom; got != w {
				t.Errorf("%s: %q, want %q", id, got, w)
			}
		}
		// Without the province's table the national default applies.
		r, err = parse(okRegions+"enterprises: [{id: 91360100MA35HT001T, name: a, park: p1, industry: C3412}]\n", nil)
		if err != nil {
			t.Fatal(err)
		}
		if e := r.Enterprise("91360100MA35HT001T"); e.ValueAddedRate != 0.192 || e.ValueAddedRateFrom != "default C34" {
			t.Errorf("default: %+v", e)
		}
	})
	t.Run("errors", func(t *testing.T) {
		_, err := parse(okRegions+`value_added_rates:
  C34: 0.2
  "34": 0.3
  D34: 0.2
  C35: 0
  C36: [1]
  U: 0.1
enterprises:
  - {id: 91360100MA35HT001T, name: a, park: p1, industry: D3411}
  - {id: 91360200MA35JD001R, name: b, region: "360200", industry: C34}
  - {id: 91360400MA35JJ0018, name: c, region: "360100", industry: C3421, value_added_rate: 1.5}
  - {id: 91360100MA35XXXX0W, name: d, region: "360100", industry: 9911}
enterprises_csv: e.csv
`, map[string]string{"e.csv": "id,name,region,industry,value_added_rate\n91360200MA35JD002W,i,360200,c1311,\n91360200MA35JD0030,j,360200,C1311,=1+1\n"})
		want := `r.yaml:9: value_added_rates.34: industry C34 given twice (first as "C34")
r.yaml:10: value_added_rates.D34: invalid industry code "D34": division 34 is in section C, not D
r.yaml:11: value_added_rates.C35: invalid value-added rate "0" (want a share of output value in (0, 1], e.g. 0.32 or 32%)
r.yaml:12: value_added_rates.C36: want a number
r.yaml:13: value_added_rates.U: invalid industry code "U": unknown section "U" (want A–T)
r.yaml:15: enterprises[0].industry: invalid industry code "D3411": division 34 is in section C, not D
r.yaml:16: enterprises[1].industry: invalid industry code "C34": want a 4-digit class (GB/T 4754-2017, e.g. C3411)
r.yaml:17: enterprises[2].value_added_rate: invalid value-added rate "1.5" (want a share of output value in (0, 1], e.g. 0.32 or 32%)
r.yaml:18: enterprises[3].industry: invalid industry code "9911": unknown division "99" (want 01–97)
e.csv:2: industry: invalid industry code "c1311": want a section letter A–T and up to 4 digits (GB/T 4754-2017, e.g. C3411)
e.csv:3: value_added_rate: invalid value-added rate "=1+1" (want a share of output value in (0, 1], e.g. 0.32 or 32%)`
		if err == nil || err.Error() != want {
			t.Errorf("got:\n%v\nwant:\n%s", err, want)
		}
		_, err = parse(okRegions+"value_added_rates: [0.2]\n", nil)
		if want := "r.yaml:7: value_added_rates: want a mapping of industry code to rate (e.g. C34: 0.21)"; err == nil || err.Error() != want {
			t.Errorf("got %v, want %s", err, want)
		}
	})
}

func strconvG(f float64) string { return fmtG(f) }

func fmtG(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
