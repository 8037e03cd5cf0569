package modbus

import (
	"bytes"
	"math"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/testutil"
)

// The meter templates in configs/ use the gateway configuration's proposed Modbus schema.
// These types mirror that schema (strictly: unknown keys fail), map it onto Config the
// way the gateway's composition root is meant to, and check the templates' read plans and
// decoded values.

type tmplFile struct {
	Sources struct {
		Modbus []tmplSource `yaml:"modbus"`
	} `yaml:"sources"`
	Devices []tmplDevice `yaml:"devices"`
}

type tmplSource struct {
	Name         string `yaml:"name"`
	Endpoint     string `yaml:"endpoint"`
	Timeout      string `yaml:"timeout"`
	ReconnectMin string `yaml:"reconnect_min"`
	ReconnectMax string `yaml:"reconnect_max"`
	MaxFailures  int    `yaml:"max_failures"`
	MaxGap       *int   `yaml:"max_gap"`
}

type tmplDevice struct {
	ID           string                `yaml:"id"`
	Name         string                `yaml:"name"`
	Kind         string                `yaml:"kind"`
	Class        string                `yaml:"class"`
	Source       string                `yaml:"source"`
	UnitID       *int                  `yaml:"unit_id"`
	PollInterval string                `yaml:"poll_interval"`
	MaxRegisters int                   `yaml:"max_registers"`
	MaxGap       *int                  `yaml:"max_gap"`
	Signals      map[string]tmplSignal `yaml:"signals"`
}

type tmplSignal struct {
	Register struct {
		Area      string `yaml:"area"`
		Address   int    `yaml:"address"`
		Type      string `yaml:"type"`
		WordOrder string `yaml:"word_order"`
		ByteOrder string `yaml:"byte_order"`
	} `yaml:"register"`
	Scale   *float64 `yaml:"scale"`
	Offset  float64  `yaml:"offset"`
	Unit    string   `yaml:"unit"`
	Counter bool     `yaml:"counter"`
}

func duration(t *testing.T, s string) time.Duration {
	t.Helper()
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("duration %q: %v", s, err)
	}
	return d
}

// loadTemplate decodes a template and builds the Config of its first Modbus source with
// endpoint replaced by endpoint (when not empty).
func loadTemplate(t *testing.T, path, endpoint string) Config {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f tmplFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	sc := f.Sources.Modbus[0]
	cfg := Config{Name: sc.Name, Endpoint: sc.Endpoint, Timeout: duration(t, sc.Timeout),
		ReconnectMin: duration(t, sc.ReconnectMin), ReconnectMax: duration(t, sc.ReconnectMax),
		MaxFailures: sc.MaxFailures, MaxGap: DefaultMaxGap}
	if sc.MaxGap != nil {
		cfg.MaxGap = *sc.MaxGap
	}
	if endpoint != "" {
		cfg.Endpoint = endpoint
	}
	for _, d := range f.Devices {
		if d.Source != sc.Name {
			continue
		}
		unit := 1
		if d.UnitID != nil {
			unit = *d.UnitID
		}
		dev := Device{Device: d.ID, Measurement: d.Kind, UnitID: unit, PollInterval: duration(t, d.PollInterval),
			MaxRegisters: d.MaxRegisters, MaxGap: d.MaxGap,
			Tags: []point.Tag{{Key: "device", Value: d.ID}, {Key: "kind", Value: d.Kind}}}
		names := make([]string, 0, len(d.Signals))
		for n := range d.Signals {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			s := d.Signals[n]
			c := point.Conv{Scale: 1, Offset: s.Offset}
			if s.Scale != nil {
				c.Scale = *s.Scale
			}
			r := s.Register
			dev.Signals = append(dev.Signals, Signal{Field: n, Area: r.Area, Address: r.Address, Type: r.Type,
				WordOrder: r.WordOrder, ByteOrder: r.ByteOrder, Conv: c})
		}
		cfg.Devices = append(cfg.Devices, dev)
	}
	return cfg
}

func TestMeterTemplatesPlan(t *testing.T) {
	for _, tc := range []struct {
		path  string
		plans []string // per device
	}{
		{"../../configs/modbus-sdm630.example.yaml", []string{
			"input 0+76[11 12 13 0 1 2 8 9 10 7 6 5 4 3]",
			"input 0+8[3 0] input 52+2[2] input 72+2[1]",
		}},
		{"../../configs/modbus-dtsu666.example.yaml", []string{
			"holding 4126+2[3] holding 8198+64[10 11 12 0 1 2 6 7 8 9 5 4]",
		}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			s, err := New(loadTemplate(t, tc.path, ""), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range s.devices {
				got = append(got, renderPlan(d.reqs))
			}
			if !slices.Equal(got, tc.plans) {
				t.Fatalf("plans\n got %q\nwant %q", got, tc.plans)
			}
		})
	}
}

// TestSDM630Template runs the SDM630 template against a server holding SDM630 input
// registers.
func TestSDM630Template(t *testing.T) {
	b := newBank()
	regs := make([]uint16, 76)
	put := func(addr int, v float32) {
		u := math.Float32bits(v)
		regs[addr], regs[addr+1] = uint16(u>>16), uint16(u)
	}
	for addr, v := range map[int]float32{0: 230.5, 2: 231, 4: 229.5, 6: 10.25, 8: 11, 10: 12.5, 12: 2000, 14: 2500,
		16: 3000, 52: 7500, 62: 0.5, 70: 50, 72: 12345.5, 74: 0.25} {
		put(addr, v)
	}
	b.setRegs(1, "input", 0, regs...)
	b.setRegs(2, "input", 0, regs...)
	ts := startServer(t, b)
	cfg := loadTemplate(t, "../../configs/modbus-sdm630.example.yaml", ts.url)
	for i := range cfg.Devices {
		cfg.Devices[i].PollInterval = 50 * time.Millisecond
	}
	rec := &adaptertest.Recorder{}
	run(t, newSource(t, cfg, rec), rec, 2*time.Second)
	testutil.WaitFor(t, 5*time.Second, "points of both meters", func() bool {
		return len(rec.Points("em-sdm630-1")) > 0 && len(rec.Points("em-sdm630-2")) > 0
	})
	p1, _ := rec.Last("em-sdm630-1")
	want1 := "current_l1_a=10.25 current_l2_a=11 current_l3_a=12.5 energy_export_kwh_total=0.25 energy_kwh_total=12345.5 " +
		"frequency_hz=50 power_factor=0.5 power_kw=7.5 power_l1_kw=2 power_l2_kw=2.5 power_l3_kw=3 " +
		"voltage_l1_v=230.5 voltage_l2_v=231 voltage_l3_v=229.5"
	if got := fieldString(p1.Fields); got != want1 {
		t.Fatalf("em-sdm630-1:\n got %s\nwant %s", got, want1)
	}
	p2, _ := rec.Last("em-sdm630-2")
	if got, want := fieldString(p2.Fields), "current_l1_a=10.25 energy_kwh_total=12345.5 power_kw=7.5 voltage_l1_v=230.5"; got != want {
		t.Fatalf("em-sdm630-2:\n got %s\nwant %s", got, want)
	}
	if errs := rec.Errors(); len(errs) != 0 {
		t.Fatalf("signal errors %q", errs)
	}
}
