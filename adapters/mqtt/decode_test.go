package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/gateway/point"
)

var meterTags = []point.Tag{{Key: "device", Value: "e1"}, {Key: "kind", Value: "energy_meter"}}

func decodeTestConfig() Config {
	return Config{
		Name: "meters", Broker: "tcp://127.0.0.1:1883", ClientID: "gw", QoS: 1,
		MaxPayloadBytes: 256,
		Bindings: []Binding{
			{Device: "e1", Measurement: "energy_meter", Tags: meterTags, Topic: "meters/e1", TimestampPath: "ts",
				Fields: []FieldBinding{
					{Path: "data.kwh", Field: "energy_kwh_total"},
					{Path: "kw", Field: "power_kw", Conv: point.Conv{Scale: 0.001}},
					{Path: "state", Field: "state", Conv: point.Conv{Map: map[string]float64{"run": 1, "stop": 0}}},
					{Path: "on", Field: "on"},
				}},
			{Device: "w1", Measurement: "water_meter", Topic: "site/+/water/#", Format: "number",
				Fields: []FieldBinding{{Field: "water_m3_total", Conv: point.Conv{Scale: 0.001, Offset: 100, Map: map[string]float64{"empty": 0}}}}},
			{Device: "e2", Measurement: "energy_meter", Topic: "meters/e2", TimestampPath: "t", TimestampFormat: "epoch_s",
				Fields: []FieldBinding{{Path: "values.1.v", Field: "energy_kwh_total"}, {Path: "values.0.v", Field: "power_kw"}}},
			{Device: "e3", Measurement: "energy_meter", Topic: "meters/e3", TimestampPath: "time", TimestampFormat: "rfc3339",
				Fields: []FieldBinding{{Path: "kwh", Field: "energy_kwh_total"}}},
			{Device: "w2", Measurement: "water_meter", Topic: "site/w2", Format: "number",
				Fields: []FieldBinding{{Field: "water_m3_total"}}},
		},
	}
}

const recvTime = int64(1700000999000000000)

func TestDecode(t *testing.T) {
	cfg := decodeTestConfig().withDefaults()
	cfg.MaxPayloadBytes = 256
	big := `{"kw":1,"pad":"` + strings.Repeat("x", 300) + `"}`
	tests := []struct {
		name, topic, payload string
		want                 []string
		errs                 []string
	}{
		{"json all fields, epoch ms", "meters/e1",
			`{"ts":1700000000123,"data":{"kwh":12345.678},"kw":12500,"state":"run","on":true}`,
			[]string{"energy_meter,device=e1,kind=energy_meter device=e1 energy_kwh_total=12345.678 power_kw=12.5 state=1 on=1 1700000000123000000"}, nil},
		{"rfc3339 timestamp with offset", "meters/e1",
			`{"ts":"2023-11-14T22:13:20.123+08:00","data":{"kwh":1},"kw":0,"state":"stop","on":false}`,
			[]string{"energy_meter,device=e1,kind=energy_meter device=e1 energy_kwh_total=1 power_kw=0 state=0 on=0 1699971200123000000"}, nil},
		{"no timestamp: receive time", "meters/e1", `{"data":{"kwh":2},"kw":1000,"state":"run","on":1}`,
			[]string{"energy_meter,device=e1,kind=energy_meter device=e1 energy_kwh_total=2 power_kw=1 state=1 on=1 1700000999000000000"}, nil},
		{"escaped key, whitespace, duplicate key last wins", "meters/e1",
			" {\"d\\u0061ta\" : {\"kwh\" : 1, \"kwh\": 3 } ,\n\"kw\":2e3,\"state\":\"r\\u0075n\",\"on\":true,\"ts\":1700000000000}\t",
			[]string{"energy_meter,device=e1,kind=energy_meter device=e1 energy_kwh_total=3 power_kw=2 state=1 on=1 1700000000000000000"}, nil},
		{"missing, type and nan fields keep the good ones", "meters/e1",
			`{"ts":1700000000000,"data":{"kwh":{"v":1}},"kw":1e400,"state":"idle"}`,
			nil, []string{
				`meters|e1|energy_kwh_total|type|decode topic "meters/e1" device "e1" field "energy_kwh_total": path "data.kwh": object value "{\"v\":1}": unsupported value type`,
				`meters|e1|power_kw|nan|decode topic "meters/e1" device "e1" field "power_kw": path "kw": value 1e400 out of range: value is not finite`,
				`meters|e1|state|type|decode topic "meters/e1" device "e1" field "state": path "state": value "idle" not in map: unsupported value type`,
				`meters|e1|on|missing|decode topic "meters/e1" device "e1" field "on": path "on" not found`,
			}},
		{"null and unmapped string", "meters/e1", `{"data":{"kwh":null},"kw":"12","state":"run","on":true}`,
			[]string{"energy_meter,device=e1,kind=energy_meter device=e1 state=1 on=1 1700000999000000000"}, []string{
				`meters|e1|energy_kwh_total|type|decode topic "meters/e1" device "e1" field "energy_kwh_total": path "data.kwh": null value: unsupported value type`,
				`meters|e1|power_kw|type|decode topic "meters/e1" device "e1" field "power_kw": path "kw": string value "12" without map: unsupported value type`,
			}},
		{"invalid JSON", "meters/e1", `{"kw":12,"state":run}`, nil, []string{
			`meters|e1||decode|decode topic "meters/e1" device "e1": invalid JSON at offset 17: unexpected 'r' looking for beginning of value: payload "{\"kw\":12,\"state\":run}"`}},
		{"truncated JSON", "meters/e1", `{"kw":12`, nil, []string{
			`meters|e1||decode|decode topic "meters/e1" device "e1": invalid JSON at offset 8: unexpected end of input: payload "{\"kw\":12"`}},
		{"too large", "meters/e1", big, nil, []string{
			`meters|e1||too_large|decode topic "meters/e1" device "e1": payload of 317 bytes exceeds max_payload_bytes 256`}},
		{"unbound topic", "meters/x9", `{"kw":1}`, nil, []string{`meters|||unbound|route topic "meters/x9": no binding matches`}},
		{"timestamp seconds as ms: receive time", "meters/e1", `{"ts":1700000000,"data":{"kwh":5}}`,
			[]string{"energy_meter,device=e1,kind=energy_meter device=e1 energy_kwh_total=5 1700000999000000000"}, []string{
				`meters|e1|power_kw|missing|decode topic "meters/e1" device "e1" field "power_kw": path "kw" not found`,
				`meters|e1|state|missing|decode topic "meters/e1" device "e1" field "state": path "state" not found`,
				`meters|e1|on|missing|decode topic "meters/e1" device "e1" field "on": path "on" not found`,
				`meters|e1||timestamp|decode topic "meters/e1" device "e1": timestamp path "ts": value 1700000000 (epoch_ms) is 1970-01-20T16:13:20Z, out of range 2000..2200`,
			}},
		// A meter whose clock was never set sends 0; any single-digit value used to panic
		// while the error was formatted (issue: "ts":0 stops the gateway).
		{"timestamp zero: receive time", "meters/e1", `{"ts":0,"data":{"kwh":5},"kw":1000,"state":"run","on":true}`,
			[]string{"energy_meter,device=e1,kind=energy_meter device=e1 energy_kwh_total=5 power_kw=1 state=1 on=1 1700000999000000000"}, []string{
				`meters|e1||timestamp|decode topic "meters/e1" device "e1": timestamp path "ts": value 0 (epoch_ms) is 1970-01-01T00:00:00Z, out of range 2000..2200`}},
		{"timestamp one", "meters/e1", `{"ts":1,"data":{"kwh":5},"kw":1000,"state":"run","on":true}`,
			[]string{"energy_meter,device=e1,kind=energy_meter device=e1 energy_kwh_total=5 power_kw=1 state=1 on=1 1700000999000000000"}, []string{
				`meters|e1||timestamp|decode topic "meters/e1" device "e1": timestamp path "ts": value 1 (epoch_ms) is 1970-01-01T00:00:00.001Z, out of range 2000..2200`}},
		{"timestamp negative", "meters/e1", `{"ts":-1,"data":{"kwh":5},"kw":1000,"state":"run","on":true}`,
			[]string{"energy_meter,device=e1,kind=energy_meter device=e1 energy_kwh_total=5 power_kw=1 state=1 on=1 1700000999000000000"}, []string{
				`meters|e1||timestamp|decode topic "meters/e1" device "e1": timestamp path "ts": value -1 (epoch_ms) is 1969-12-31T23:59:59.999Z, out of range 2000..2200`}},
		{"timestamp single digit, epoch seconds", "meters/e2", `{"t":7,"values":[{"v":7.5},{"v":1234}]}`,
			[]string{"energy_meter device=e2 energy_kwh_total=1234 power_kw=7.5 1700000999000000000"}, []string{
				`meters|e2||timestamp|decode topic "meters/e2" device "e2": timestamp path "t": value 7 (epoch_s) is 1970-01-01T00:00:07Z, out of range 2000..2200`}},
		{"timestamp huge number", "meters/e2", `{"t":99999999999999999999,"values":[{"v":7.5},{"v":1234}]}`,
			[]string{"energy_meter device=e2 energy_kwh_total=1234 power_kw=7.5 1700000999000000000"}, []string{
				`meters|e2||timestamp|decode topic "meters/e2" device "e2": timestamp path "t": value 99999999999999999999 (epoch_s) is out of range 2000..2200`}},
		{"timestamp empty string", "meters/e3", `{"kwh":5,"time":""}`,
			[]string{"energy_meter device=e3 energy_kwh_total=5 1700000999000000000"}, []string{
				`meters|e3||timestamp|decode topic "meters/e3" device "e3": timestamp path "time": value "" is not RFC 3339`}},
		// Valid RFC 3339 beyond int64 nanoseconds used to wrap around silently.
		{"rfc3339 before 1678", "meters/e3", `{"kwh":5,"time":"1442-05-19T07:33:52Z"}`,
			[]string{"energy_meter device=e3 energy_kwh_total=5 1700000999000000000"}, []string{
				`meters|e3||timestamp|decode topic "meters/e3" device "e3": timestamp path "time": value "1442-05-19T07:33:52Z" is out of range 2000..2200`}},
		{"rfc3339 after 2262, auto format", "meters/e1", `{"ts":"2600-01-01T00:00:00Z","data":{"kwh":5},"kw":1000,"state":"run","on":true}`,
			[]string{"energy_meter,device=e1,kind=energy_meter device=e1 energy_kwh_total=5 power_kw=1 state=1 on=1 1700000999000000000"}, []string{
				`meters|e1||timestamp|decode topic "meters/e1" device "e1": timestamp path "ts": value "2600-01-01T00:00:00Z" is out of range 2000..2200`}},
		{"rfc3339 in 1999", "meters/e3", `{"kwh":5,"time":"1999-12-31T23:59:59Z"}`,
			[]string{"energy_meter device=e3 energy_kwh_total=5 1700000999000000000"}, []string{
				`meters|e3||timestamp|decode topic "meters/e3" device "e3": timestamp path "time": value "1999-12-31T23:59:59Z" is out of range 2000..2200`}},
		{"bad rfc3339 text", "meters/e3", `{"kwh":5,"time":"2023-02-30T00:00:00Z"}`,
			[]string{"energy_meter device=e3 energy_kwh_total=5 1700000999000000000"}, []string{
				`meters|e3||timestamp|decode topic "meters/e3" device "e3": timestamp path "time": value "2023-02-30T00:00:00Z" is not RFC 3339`}},
		{"number where rfc3339 wanted", "meters/e3", `{"kwh":5,"time":1700000000000}`,
			[]string{"energy_meter device=e3 energy_kwh_total=5 1700000999000000000"}, []string{
				`meters|e3||timestamp|decode topic "meters/e3" device "e3": timestamp path "time": number value 1700000000000 is not a timestamp (rfc3339: want RFC 3339 string)`}},
		{"epoch seconds with fraction, array paths", "meters/e2", `{"t":1700000000.25,"values":[{"v":7.5},{"v":1234}]}`,
			[]string{"energy_meter device=e2 energy_kwh_total=1234 power_kw=7.5 1700000000250000000"}, nil},
		{"array index beyond the end", "meters/e2", `{"t":1700000000,"values":[{"v":7.5}]}`,
			[]string{"energy_meter device=e2 power_kw=7.5 1700000000000000000"}, []string{
				`meters|e2|energy_kwh_total|missing|decode topic "meters/e2" device "e2" field "energy_kwh_total": path "values.1.v" not found`}},
		{"bare number on wildcard topic, scale and offset", "site/a/water/w1/total", " 12345\n",
			[]string{"water_meter device=w1 water_m3_total=112.345 1700000999000000000"}, nil},
		{"bare text from the map", "site/b/water/w1", "empty",
			[]string{"water_meter device=w1 water_m3_total=0 1700000999000000000"}, nil},
		{"bare text not in the map", "site/b/water/w1", "full", nil, []string{
			`meters|w1|water_m3_total|type|decode topic "site/b/water/w1" device "w1" field "water_m3_total": value "full" not in map: unsupported value type`}},
		{"bare NaN", "site/w2", "NaN", nil, []string{
			`meters|w2|water_m3_total|nan|decode topic "site/w2" device "w2" field "water_m3_total": value "NaN": value is not finite`}},
		{"bare garbage", "site/w2", "12,5", nil, []string{
			`meters|w2|water_m3_total|decode|decode topic "site/w2" device "w2" field "water_m3_total": payload "12,5" is not a number`}},
		{"bare JSON object is not a number", "site/w2", `{"v":1}`, nil, []string{
			`meters|w2|water_m3_total|decode|decode topic "site/w2" device "w2" field "water_m3_total": payload "{\"v\":1}" is not a number`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &adaptertest.Recorder{}
			d := newDecoder(&cfg, rec)
			batch := d.decodeBatch([]inbound{{topic: tt.topic, payload: []byte(tt.payload), qos: 1, recv: recvTime}})
			var got []string
			for _, p := range batch {
				got = append(got, formatPoint(p))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("points:\n got %q\nwant %q", got, tt.want)
			}
			if errs := rec.Errors(); !slices.Equal(errs, tt.errs) {
				t.Errorf("errors:\n got %q\nwant %q", errs, tt.errs)
			}
		})
	}
}

// TestDecodeBatchSharesNothingMutable checks that points of one batch do not share
// field storage that a later append could overwrite, and that errors wrap the point
// package's sentinels.
func TestDecodeBatchFieldsAreIndependent(t *testing.T) {
	cfg := decodeTestConfig().withDefaults()
	var errs []error
	obs := errObserver(func(_ string, err error) { errs = append(errs, err) })
	d := newDecoder(&cfg, obs)
	var items []inbound
	for i := range 200 {
		items = append(items, inbound{topic: "meters/e1", payload: []byte(`{"data":{"kwh":` + strconv.Itoa(i) + `},"kw":1,"state":"run","on":true}`), recv: recvTime})
	}
	items = append(items, inbound{topic: "meters/e1", payload: []byte(`{"data":{"kwh":"x"},"kw":1e999}`), recv: recvTime})
	batch := d.decodeBatch(items)
	if len(batch) != 200 {
		t.Fatalf("got %d points, want 200", len(batch))
	}
	for i, p := range batch {
		if len(p.Fields) != 4 || cap(p.Fields) != 4 || p.Fields[0].Value != float64(i) {
			t.Fatalf("point %d: %s (cap %d)", i, formatPoint(p), cap(p.Fields))
		}
	}
	if len(errs) != 4 || !errors.Is(errs[0], point.ErrType) || !errors.Is(errs[1], point.ErrNotFinite) {
		t.Fatalf("errors: %v", errs)
	}
}

type errObserver func(reason string, err error)

func (errObserver) State(string, point.State, error)                {}
func (f errObserver) SignalError(_, _, _, reason string, err error) { f(reason, err) }
func (errObserver) Received(string, int)                            {}
func (errObserver) DeadLetter(string, point.DeadLetter, []byte)     {}

func TestParseRFC3339(t *testing.T) {
	good := []string{
		"2023-11-14T22:13:20Z", "2023-11-14t22:13:20z", "2023-11-14 22:13:20Z",
		"2023-11-14T22:13:20.1Z", "2023-11-14T22:13:20.123456789Z", "2023-11-14T22:13:20.1234567891234Z",
		"2023-11-14T22:13:20+08:00", "2023-11-14T22:13:20.5-05:30", "2024-02-29T00:00:00Z",
		"2000-01-01T00:00:00+23:59", "1999-12-31T23:59:59Z",
	}
	for _, s := range good {
		ref, err := time.Parse(time.RFC3339Nano, strings.NewReplacer("t", "T", "z", "Z", " ", "T").Replace(s))
		if err != nil {
			t.Fatalf("reference parse %q: %v", s, err)
		}
		got, ok, inRange := parseRFC3339([]byte(s))
		if !ok || !inRange || got != ref.UnixNano() {
			t.Errorf("parseRFC3339(%q) = %d, %v, %v; want %d", s, got, ok, inRange, ref.UnixNano())
		}
	}
	// Valid RFC 3339 outside int64 nanoseconds: recognised, but flagged out of range
	// (t.Unix()*1e9 used to wrap around: 1442 became "now + 1 min", 2600 became 2015).
	for _, s := range []string{"1442-05-19T07:33:52Z", "2600-01-01T00:00:00Z", "0000-01-01T00:00:00Z",
		"9999-12-31T23:59:59.999999999Z", "1677-09-21T00:12:43Z", "2262-04-11T23:47:17Z"} {
		if got, ok, inRange := parseRFC3339([]byte(s)); !ok || inRange {
			t.Errorf("parseRFC3339(%q) = %d, %v, %v; want ok and out of range", s, got, ok, inRange)
		}
	}
	bad := []string{
		"", "2023-11-14", "2023-11-14T22:13:20", "2023-11-14T22:13:20.Z", "2023-13-14T22:13:20Z",
		"2023-02-29T00:00:00Z", "2023-11-31T00:00:00Z", "2023-11-14T24:00:00Z", "2023-11-14T22:60:00Z",
		"2023-11-14T22:13:60Z", "2023-11-14T22:13:20+0800", "2023-11-14T22:13:20+24:00", "2023-11-14X22:13:20Z",
		"2023/11/14T22:13:20Z", "2023-11-14T22:13:20Zjunk", "+023-11-14T22:13:20Z",
	}
	for _, s := range bad {
		if got, ok, _ := parseRFC3339([]byte(s)); ok {
			t.Errorf("parseRFC3339(%q) = %d, want failure", s, got)
		}
	}
}

func TestEpochNanos(t *testing.T) {
	tests := []struct {
		raw  string
		unit int64
		want int64
		ok   bool
	}{
		{"1700000000123", 1e6, 1700000000123000000, true},
		{"1700000000", 1e9, 1700000000000000000, true},
		{"1700000000.5", 1e9, 1700000000500000000, true},
		{"1.7000000001234e12", 1e6, 1700000000123399936, true},
		{"1700000000123.4567891", 1e6, 1700000000123456789, true},
		{"-1.5", 1e9, -1500000000, true},
		{"-5", 1e6, -5000000, true},
		{"9223372036855", 1e6, 0, false},
		{"1e300", 1e6, 0, false},
		{"1e999", 1e6, 0, false},
	}
	for _, tt := range tests {
		got, ok := epochNanos([]byte(tt.raw), tt.unit)
		if got != tt.want || ok != tt.ok {
			t.Errorf("epochNanos(%s, %d) = %d, %v; want %d, %v", tt.raw, tt.unit, got, ok, tt.want, tt.ok)
		}
	}
}

// scanTestPaths are the paths the scanner tests extract.
var scanTestPaths = []string{"a", "a.b", "a.b.c", "x.0", "x.1.y", "0", "0.a", "é", "k\"q", "a.0", "ts"}

func TestScanAgreesWithEncodingJSON(t *testing.T) {
	for _, payload := range scanSeeds {
		checkScan(t, []byte(payload), scanTestPaths)
	}
}

var scanSeeds = []string{
	`{"a":{"b":{"c":1.5e3}},"x":[1,{"y":true}],"ts":1700000000123}`,
	`{"a":{"b":1},"a":{"c":2}}`,
	`{"a":1,"a":{"b":{"c":"v"}}}`,
	`[{"a":1},2]`,
	`{"\u00e9":"\ud83d\ude00","k\"q":"\ud800x","a":[null,false]}`,
	"{\"\xff\":1,\"a\":\"\xfe\"}",
	`{"0":{"a":-0}}`,
	`{"x":{"0":5,"1":{"y":"z"}}}`,
	`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":1e+}`, `{"a":tru}`, `{"a":nul}`,
	`{"a":"\x"}`, `{"a":"\u12G4"}`, "{\"a\":\"\x01\"}", `{"a" 1}`, `{"a":1,}`, `[1,]`, `{,}`, `{"a":1}}`,
	`"\ud83d\ude00"`, `123`, `-1.5E-7`, ` true `, `null`, ``, ` `, `{`, `[`, `"`, `"abc`, `{"a":[`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	`{"a":{"b":{"c":{"d":[[[{"e":1}]]]}}}}`,
	"\ufeff{}",
}

// checkScan compares the scanner with encoding/json for payload and paths.
func checkScan(t *testing.T, payload []byte, paths []string) {
	t.Helper()
	tree := newPathTree(paths)
	out := make([]span, len(paths))
	var s scanner
	err := s.scan(payload, tree, out)
	valid := json.Valid(payload)
	if valid != (err == nil) {
		t.Fatalf("payload %q: json.Valid = %v, scan error = %v", payload, valid, err)
	}
	if !valid {
		var se *syntaxError
		if !errors.As(err, &se) || se.offset < 0 || se.offset > len(payload) {
			t.Fatalf("payload %q: error %v has a bad offset", payload, err)
		}
		return
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("payload %q: decode: %v", payload, err)
	}
	for i, p := range paths {
		want, found := walk(doc, p)
		got := out[tree.slotOf(i)]
		if found != (got.kind != kindNone) {
			t.Fatalf("payload %q path %q: found = %v, scanner kind %v", payload, p, found, got.kind)
		}
		if !found {
			continue
		}
		raw := payload[got.start:got.end]
		switch w := want.(type) {
		case json.Number:
			if got.kind != kindNumber || string(raw) != string(w) {
				t.Fatalf("payload %q path %q: want number %s, got %v %q", payload, p, w, got.kind, raw)
			}
		case string:
			text := raw[1 : len(raw)-1]
			if got.esc {
				text = appendUnquoted(nil, text)
			}
			if got.kind != kindString || string(text) != w {
				t.Fatalf("payload %q path %q: want string %q, got %v %q", payload, p, w, got.kind, text)
			}
			if !got.esc && !bytes.Equal(raw[1:len(raw)-1], text) {
				t.Fatalf("payload %q path %q: unescaped string not flagged", payload, p)
			}
		case bool:
			if (w && got.kind != kindTrue) || (!w && got.kind != kindFalse) {
				t.Fatalf("payload %q path %q: want %v, got %v", payload, p, w, got.kind)
			}
		case nil:
			if got.kind != kindNull {
				t.Fatalf("payload %q path %q: want null, got %v", payload, p, got.kind)
			}
		case map[string]any:
			if got.kind != kindObject {
				t.Fatalf("payload %q path %q: want object, got %v", payload, p, got.kind)
			}
		case []any:
			if got.kind != kindArray {
				t.Fatalf("payload %q path %q: want array, got %v", payload, p, got.kind)
			}
		}
	}
}

// walk follows a dot path through a decoded document.
func walk(doc any, path string) (any, bool) {
	v := doc
	for _, seg := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[seg]; !ok {
				return nil, false
			}
		case []any:
			i := arrayIndex(seg)
			if i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// FuzzDecode checks that the payload scanner agrees with encoding/json on every input
// and that decoding a message never panics (a contained panic is reported with reason
// "internal": that fails the target too), under every configuration variant: each
// timestamp format, JSON and bare-number payloads, fields with and without scale,
// offset and map.
func FuzzDecode(f *testing.F) {
	for _, s := range scanSeeds {
		if len(s) < 1000 { // the nesting-limit seeds only slow the fuzzer down
			f.Add([]byte(s), "a|a.b|x.1.y|ts")
		}
	}
	f.Add([]byte(benchPayload), "kwh|kw|m3|ts")
	f.Add([]byte(" 12.5e1 "), "v")
	f.Add([]byte("-Inf"), "v")
	f.Add([]byte(`{"ts":"2023-11-14T22:13:20.123+08:00","v":"run"}`), "v|ts")
	// Edge values of every kind, at the timestamp path and at a field path.
	for _, v := range []string{"0", "1", "-1", "7", `""`, "1e400", "-1e400", "123456789012345678901234567890",
		"9223372036854775807", "-9223372036854775808", "1.7e12", "-0.0000001", "1700000000123.4567891",
		`"2023-11-14T22:13:20\u005a"`, `"r\u0075n"`, `"1442-05-19T07:33:52Z"`, `"2600-01-01T00:00:00Z"`,
		`"9999-12-31T23:59:59.999999999+23:59"`, `"0000-01-01T00:00:00-23:59"`, `"\ud800"`, "null", "true",
		"{}", "[]", `"nan"`, `"run"`} {
		f.Add([]byte(`{"ts":`+v+`,"v":`+v+`}`), "v|ts")
		f.Add([]byte(v), "v")
	}
	f.Add([]byte(strings.Repeat("9", 400)), "v")
	f.Add([]byte("nan"), "v")
	f.Add([]byte("run"), "v")
	f.Add([]byte(""), "v")
	f.Fuzz(func(t *testing.T, payload []byte, pathList string) {
		var paths []string
		for _, p := range strings.Split(pathList, "|") {
			if ValidatePath(p) == nil && len(paths) < 8 {
				paths = append(paths, p)
			}
		}
		if len(paths) > 0 {
			checkScan(t, payload, paths)
		}
		convs := []point.Conv{{}, {Scale: 10, Offset: -3}, {Scale: 1e300}, {Map: map[string]float64{"run": 1, "": 2, "nan": 3}}}
		var cfg Config
		cfg.Name, cfg.MaxPayloadBytes = "fuzz", 1<<20
		var topics []string
		for fi, format := range []string{"", "auto", "epoch_ms", "epoch_s", "rfc3339"} {
			for ci, c := range convs {
				fields := []FieldBinding{{Path: "v", Field: "v", Conv: c}}
				for i, p := range paths {
					fields = append(fields, FieldBinding{Path: p, Field: "f" + strconv.Itoa(i), Conv: c})
				}
				topic := fmt.Sprintf("j/%d/%d", fi, ci)
				cfg.Bindings = append(cfg.Bindings, Binding{Device: "d", Measurement: "m", Topic: topic,
					TimestampPath: "ts", TimestampFormat: format, Fields: fields})
				topics = append(topics, topic)
				if fi == 0 {
					topic = fmt.Sprintf("n/%d", ci)
					cfg.Bindings = append(cfg.Bindings, Binding{Device: "d", Measurement: "m", Topic: topic, Format: "number", Fields: fields[:1]})
					topics = append(topics, topic)
				}
			}
		}
		cfg = cfg.withDefaults()
		d := newDecoder(&cfg, errObserver(func(reason string, err error) {
			if reason == point.ReasonInternal {
				t.Fatalf("contained panic: %v", err)
			}
		}))
		for _, topic := range topics {
			for _, p := range d.decodeBatch([]inbound{{topic: topic, payload: payload, recv: recvTime}}) {
				if len(p.Fields) == 0 {
					t.Fatalf("topic %s: point without fields", topic)
				}
				for _, f := range p.Fields {
					if math.IsNaN(f.Value) || math.IsInf(f.Value, 0) {
						t.Fatalf("topic %s: field %s = %v", topic, f.Key, f.Value)
					}
				}
				if p.Time != recvTime && (p.Time < minTimestamp || p.Time >= maxTimestamp) {
					t.Fatalf("topic %s: time %d out of range", topic, p.Time)
				}
			}
		}
	})
}

// FuzzParseRFC3339 holds the allocation-free parser to the standard library's: whatever
// it accepts in range, time.Parse accepts with the same instant; whatever time.Parse
// accepts in the grammar the parser implements, the parser accepts.
func FuzzParseRFC3339(f *testing.F) {
	for _, s := range []string{"2023-11-14T22:13:20Z", "2023-11-14t22:13:20.123456789z", "2023-11-14 22:13:20+08:00",
		"1442-05-19T07:33:52Z", "2600-01-01T00:00:00Z", "2262-04-11T23:47:16.854775807Z", "1677-09-21T00:12:43.145224192Z",
		"2024-02-29T00:00:00-23:59", "2023-02-29T00:00:00Z", "2023-11-14T22:13:20.Z", "0000-01-01T00:00:00Z",
		"2023-11-14T22:13:20.1234567891234Z", "2023-11-14T24:00:00Z", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ns, ok, inRange := parseRFC3339([]byte(s))
		norm := []byte(s)
		if len(norm) >= 20 {
			if norm[10] == 't' || norm[10] == ' ' {
				norm[10] = 'T'
			}
			if last := len(norm) - 1; norm[last] == 'z' {
				norm[last] = 'Z'
			}
		}
		ref, err := time.Parse(time.RFC3339Nano, string(norm))
		switch {
		case ok && err != nil:
			t.Fatalf("parseRFC3339(%q) accepted what time.Parse refuses: %v", s, err)
		case ok && inRange && ref.UnixNano() != ns:
			t.Fatalf("parseRFC3339(%q) = %d, time.Parse = %d", s, ns, ref.UnixNano())
		case ok && !inRange && ref.Year() > 1678 && ref.Year() < 2262:
			t.Fatalf("parseRFC3339(%q) out of range, time.Parse says %s", s, ref)
		case !ok && err == nil && grammarOf(norm):
			t.Fatalf("parseRFC3339(%q) refused what time.Parse accepts: %s", s, ref)
		}
	})
}

// grammarOf reports whether s has the shape parseRFC3339 implements: digits where digits
// go, a 'T', an optional fraction of digits, then Z or ±hh:mm (hh < 24, mm < 60)
// (time.Parse also takes e.g. a comma before the fraction, which devices do not send).
func grammarOf(s []byte) bool {
	if len(s) < 20 || s[10] != 'T' {
		return false
	}
	rest := s[19:]
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		rest = rest[i:]
	}
	// time.Parse takes offsets up to +99:99 ("+00:60" as one hour); RFC 3339 allows
	// hours 00-23 and minutes 00-59.
	return string(rest) == "Z" || len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
		string(rest[1:3]) < "24" && rest[4] <= '5'
}

const benchPayload = `{"ts":1700000000123,"kwh":12345.678,"kw":12.5,"m3":321.25}`

func benchConfig() Config {
	cfg := Config{Name: "bench", Bindings: []Binding{{
		Device: "e1", Measurement: "energy_meter", Tags: meterTags, Topic: "meters/e1", TimestampPath: "ts",
		Fields: []FieldBinding{{Path: "kwh", Field: "energy_kwh_total"}, {Path: "kw", Field: "power_kw"}, {Path: "m3", Field: "water_m3_total"}},
	}}}
	return cfg.withDefaults()
}

// BenchmarkDecodeJSON decodes one message (3 fields and a timestamp) into a point.
func BenchmarkDecodeJSON(b *testing.B) {
	cfg := benchConfig()
	d := newDecoder(&cfg, point.NopObserver{})
	payload := []byte(benchPayload)
	bd := &d.bindings[0]
	dst := make([]point.Field, 0, 3)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		var ts int64
		dst, ts = d.decode(dst[:0], bd, "meters/e1", payload, len(payload), recvTime)
		if len(dst) != 3 || ts != 1700000000123000000 {
			b.Fatalf("decoded %v at %d", dst, ts)
		}
	}
}

// BenchmarkDecodeEncodingJSON decodes the same payload with encoding/json: into a
// struct (the best case, fields known at compile time) and into a map walked by path
// (what a configurable decoder built on it must do).
func BenchmarkDecodeEncodingJSON(b *testing.B) {
	payload := []byte(benchPayload)
	b.Run("struct", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			var v struct {
				TS  int64   `json:"ts"`
				KWh float64 `json:"kwh"`
				KW  float64 `json:"kw"`
				M3  float64 `json:"m3"`
			}
			if err := json.Unmarshal(payload, &v); err != nil || v.KW != 12.5 {
				b.Fatal(err)
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			var v any
			if err := json.Unmarshal(payload, &v); err != nil {
				b.Fatal(err)
			}
			for _, p := range []string{"kwh", "kw", "m3", "ts"} {
				if _, ok := walk(v, p); !ok {
					b.Fatal(p)
				}
			}
		}
	})
}

// BenchmarkDecodeBatch decodes a batch of 100 messages into points, allocations
// included (the batch and its field storage are new for every emit).
func BenchmarkDecodeBatch(b *testing.B) {
	cfg := benchConfig()
	d := newDecoder(&cfg, point.NopObserver{})
	items := make([]inbound, 100)
	for i := range items {
		items[i] = inbound{topic: "meters/e1", payload: []byte(benchPayload), qos: 1, recv: recvTime}
	}
	b.ReportAllocs()
	for b.Loop() {
		if batch := d.decodeBatch(items); len(batch) != 100 {
			b.Fatal(len(batch))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/msg")
}

// TestDecodePanicIsContained: a panic while one message is handled (injected) drops
// that message only; the messages around it in the batch decode, the panic is reported
// with reason "internal" and the message kept as a dead letter, as is every message
// with a problem (one dead letter per message, naming its first problem).
func TestDecodePanicIsContained(t *testing.T) {
	cfg := decodeTestConfig().withDefaults()
	TestHookDecode = func(topic string, payload []byte) {
		if string(payload) == "boom" {
			panic("injected decoder fault")
		}
	}
	t.Cleanup(func() { TestHookDecode = nil })
	rec := &adaptertest.Recorder{}
	d := newDecoder(&cfg, rec)
	msgs := []inbound{
		{topic: "site/w2", payload: []byte("1.5"), qos: 1, recv: recvTime},
		{topic: "site/w2", payload: []byte("boom"), qos: 1, recv: recvTime},
		{topic: "meters/e3", payload: []byte(`{"kwh":5,"time":0}`), qos: 1, recv: recvTime},
		{topic: "meters/x9", payload: []byte("?"), qos: 1, recv: recvTime},
		{topic: "site/w2", payload: []byte("2.5"), qos: 1, recv: recvTime},
	}
	var got []string
	for _, p := range d.decodeBatch(msgs) {
		got = append(got, formatPoint(p))
	}
	want := []string{
		"water_meter device=w2 water_m3_total=1.5 1700000999000000000",
		"energy_meter device=e3 energy_kwh_total=5 1700000999000000000",
		"water_meter device=w2 water_m3_total=2.5 1700000999000000000",
	}
	if !slices.Equal(got, want) {
		t.Errorf("points:\n got %q\nwant %q", got, want)
	}
	wantErrs := []string{
		`meters|w2||internal|decode topic "site/w2": internal error (message dropped): injected decoder fault: payload "boom"`,
		`meters|e3||timestamp|decode topic "meters/e3" device "e3": timestamp path "time": number value 0 is not a timestamp (rfc3339: want RFC 3339 string)`,
		`meters|||unbound|route topic "meters/x9": no binding matches`,
	}
	if errs := rec.Errors(); !slices.Equal(errs, wantErrs) {
		t.Errorf("errors:\n got %q\nwant %q", errs, wantErrs)
	}
	wantDead := []string{
		`meters|w2|site/w2|internal|1|"boom"`,
		`meters|e3|meters/e3|timestamp|1|"{\"kwh\":5,\"time\":0}"`,
		`meters||meters/x9|unbound|1|"?"`,
	}
	if dead := rec.DeadLetters(); !slices.Equal(dead, wantDead) {
		t.Errorf("dead letters:\n got %q\nwant %q", dead, wantDead)
	}
}
