package modbus

import (
	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/internal/testutil"
	"math"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/config"
)

// The meter templates in configs/ are device sections of the gateway configuration
// (without the workshop): loadTemplate decodes one with the configuration's own
// loader and this package's Kind, builds the Config of its first Modbus source with
// BuildConfig, as the gateway does, and the tests check the read plans and decoded
// values.

// loadTemplate decodes a template and builds the Config of its first Modbus source with
// endpoint replaced by endpoint (when not empty).
func loadTemplate(t *testing.T, path, endpoint string) Config {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := append([]byte(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}`+"\n"), raw...)
	cfg, err := config.Load(doc, func(string) (string, bool) { return "", false }, config.Kinds{Kind})
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	src := cfg.Sources.Of(Kind.Name())[0]
	c, errs := BuildConfig(src, cfg.DevicesOf(src.Name()), &cfg.Workshop)
	if errs != nil {
		t.Fatalf("build %s: %v", path, errs)
	}
	if endpoint != "" {
		c.Endpoint = endpoint
	}
	return c
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
