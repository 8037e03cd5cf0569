package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/ganlink/ganlink/gateway/app"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/mqtt"
	"github.com/ganlink/ganlink/gateway/config"
)

func TestParseStatTicks(t *testing.T) {
	tests := []struct {
		name, stat string
		want       int64
		err        string
	}{
		{"plain", "1234 (gateway) S 1 1234 1234 0 -1 4194560 5000 0 0 0 250 37 0 0 20 0 9 0 100 1000000 2000 18446744073709551615",
			287, ""},
		{"spaces and parens in the name", "77 (a) b (c) R 1 77 77 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0", 7, ""},
		{"no name", "77 R 1", 0, `parse stat "77 R 1": no command name`},
		{"short", "77 (x) R 1 2", 0, `parse stat "77 (x) R 1 2": 3 fields after the command name, want at least 13`},
		{"bad utime", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 u 4", 0, `parse stat utime "u": strconv.ParseInt: parsing "u": invalid syntax`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatTicks([]byte(tt.stat))
			if errText(err) != tt.err || got != tt.want {
				t.Fatalf("parseStatTicks = %d, %q; want %d, %q", got, errText(err), tt.want, tt.err)
			}
		})
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tgateway\nVmPeak:\t  900000 kB\nVmHWM:\t   34816 kB\nVmRSS:\t   30000 kB\nThreads:\t9\n"
	tests := []struct {
		name, status, key string
		want              int64
		err               string
	}{
		{"hwm", status, "VmHWM", 34816, ""},
		{"rss", status, "VmRSS", 30000, ""},
		{"missing", status, "VmSwap", 0, "parse status: no VmSwap line"},
		{"no unit", status, "Threads", 0, `parse status Threads "9": want "<number> kB"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatusKB([]byte(tt.status), tt.key)
			if errText(err) != tt.err || got != tt.want {
				t.Fatalf("parseStatusKB = %d, %q; want %d, %q", got, errText(err), tt.want, tt.err)
			}
		})
	}
}

func TestProcOfSelf(t *testing.T) {
	if _, err := cpuSeconds(os.Getpid()); err != nil {
		t.Fatalf("cpuSeconds: %v", err)
	}
	rss, err := peakRSS(os.Getpid())
	if err != nil || rss <= 0 {
		t.Fatalf("peakRSS = %d, %v; want > 0", rss, err)
	}
	if got := strings.Count(loadAvg(), " "); got != 2 {
		t.Fatalf("loadAvg() = %q, want three figures", loadAvg())
	}
}

func TestParseLine(t *testing.T) {
	tests := []struct {
		name, line string
		meas       string
		ts         int64
		fields     int
		ok         bool
	}{
		{"meter", "energy_meter,device=meter1,kind=energy_meter energy_kwh_total=1000.01,power_kw=5.1,water_m3_total=10.001 1700000000123000000",
			"energy_meter", 1700000000123000000, 3, true},
		{"no tags", "machine value_01=1 42", "machine", 42, 1, true},
		{"quality flags not counted", "machine,device=p1 value_01=1,value_01_quality=1,value_02_quality=2 7", "machine", 7, 1, true},
		{"escaped space in measurement and tag", `my\ meas,tag=a\ b f=1 9`, `my\ meas`, 9, 1, true},
		{"no timestamp", "machine f=1", "", 0, 0, false},
		{"bad timestamp", "machine f=1 x", "", 0, 0, false},
		{"blank", "", "", 0, 0, false},
		{"comment", "# hello 1", "", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ts, n, ok := parseLine([]byte(tt.line))
			if string(m) != tt.meas || ts != tt.ts || n != tt.fields || ok != tt.ok {
				t.Fatalf("parseLine = %q, %d, %d, %v; want %q, %d, %d, %v", m, ts, n, ok, tt.meas, tt.ts, tt.fields, tt.ok)
			}
		})
	}
}

func TestProxyRecord(t *testing.T) {
	p, err := newWriteProxy("http://127.0.0.1:1", "machine", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.ln.Close()
	base := time.Unix(1700000000, 0)
	p.setWindow(base, base.Add(2*time.Second))
	body := fmt.Sprintf("machine,device=p1 value_01=1 %d\nmachine,device=p1 value_01=2 %d\ndevice_kpi,device=p1 parts=1 %d\n"+
		"machine,device=p1 value_01=3,value_02=4 %d\nmachine,device=p1 value_01=5 %d",
		base.UnixNano(), base.Add(time.Second).UnixNano(), base.Add(time.Second).UnixNano(),
		base.Add(2*time.Second).UnixNano(), base.Add(3*time.Second).UnixNano())
	p.record([]byte(body), time.Nanosecond, base.Add(2500*time.Millisecond))
	st := p.stats()
	n, maxLat := p.hist.count()
	// In the window (base, base+2s]: the lines at +1s (1 field) and +2s (2 fields).
	if st.Points != 2 || st.Fields != 3 || n != 2 || maxLat != 1500*time.Millisecond || !st.LastAccept.Equal(base.Add(2500*time.Millisecond)) {
		t.Fatalf("stats %+v, %d latencies, max %s", st, n, maxLat)
	}
}

func TestPrecisionUnit(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"", time.Nanosecond, ""}, {"ns", time.Nanosecond, ""}, {"us", time.Microsecond, ""},
		{"ms", time.Millisecond, ""}, {"s", time.Second, ""},
		{"m", 0, `precision "m": want ns, us, ms or s`},
	}
	for _, tt := range tests {
		got, err := precisionUnit(tt.in)
		if got != tt.want || errText(err) != tt.err {
			t.Errorf("precisionUnit(%q) = %s, %q; want %s, %q", tt.in, got, errText(err), tt.want, tt.err)
		}
	}
}

func TestLatencyQuantiles(t *testing.T) {
	h := newLatencyHist()
	for i := 1; i <= 100; i++ {
		h.add(time.Duration(i)*time.Millisecond+300*time.Microsecond, 1)
	}
	h.add(-time.Second, 1)  // a clock step: counts as 0
	h.add(5*time.Minute, 1) // beyond the histogram: last bucket, exact max
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0.01, 1 * time.Millisecond}, // rank 2 of 102: the 0 ms one is rank 1
		{0.5, 50 * time.Millisecond},
		{0.99, 100 * time.Millisecond},
		{1, histMax},
	}
	for _, tt := range tests {
		if got := h.quantile(tt.q); got != tt.want {
			t.Errorf("quantile(%g) = %s, want %s", tt.q, got, tt.want)
		}
	}
	if n, m := h.count(); n != 102 || m != 5*time.Minute {
		t.Fatalf("count() = %d, %s; want 102, 5m0s", n, m)
	}
	if got := newLatencyHist().quantile(0.99); got != 0 {
		t.Fatalf("empty quantile = %s, want 0", got)
	}
}

func TestThousandsAndMs(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1 000", 1234567.6: "1 234 568", -45000: "-45 000"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%g) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[time.Duration]string{1500 * time.Microsecond: "1 ms", 9999 * time.Millisecond: "9999 ms", 12345 * time.Millisecond: "12.35 s"} {
		if got := ms(in); got != want {
			t.Errorf("ms(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestWriteTable(t *testing.T) {
	r := Result{Workload: "MQTT 1000 meters", Rate: 5000, RateUnit: "msgs/s", AchievedRate: 4990, Duration: 30 * time.Second,
		Produced: 450000, Stored: 449000, Loss: 1000, CPUSeconds: 4.49, PeakRSS: 30 << 20,
		P50: 310 * time.Millisecond, P99: 820 * time.Millisecond, LoadBefore: "1.00 2.00 3.00", LoadAfter: "1.50 2.00 3.00"}
	var b bytes.Buffer
	if err := WriteTable(&b, []Result{r, {Workload: "x", Rate: 10, RateUnit: "values/s", AchievedRate: 5}}); err != nil {
		t.Fatal(err)
	}
	want := "| workload | rate | fields/s | CPU-s per 1M fields | peak RSS MB | loss (of produced) | p50 / p99 latency | load avg before → after |\n" +
		"|---|---|---|---|---|---|---|---|\n" +
		"| MQTT 1000 meters | 5 000 msgs/s | 15 000 | 10.0 | 30.0 | 1 000 (of 450 000) | 310 ms / 820 ms | 1.00 2.00 3.00 → 1.50 2.00 3.00 |\n" +
		"| x | 10 values/s (achieved 5) | 0 | n/a | 0.0 | 0 (of 0) | 0 ms / 0 ms |  →  |\n"
	if b.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestGatewayConfigsValidate(t *testing.T) {
	c := gwCommon{AdminPort: 9999, QueueDir: "/tmp/q", SinkURL: "http://127.0.0.1:1", FlushInterval: 500 * time.Millisecond}
	tests := []struct {
		name    string
		yaml    string
		devices int
		first   config.Device
		topic   string
		signals int
	}{
		{"mqtt", mqttGatewayConfig(c, "tcp://127.0.0.1:1883", 1000), 1000,
			config.Device{ID: "meter1", Kind: "energy_meter", Source: "meters"}, "plant/ws1/meter/1", 3},
		{"opcua", opcuaGatewayConfig(c, "opc.tcp://127.0.0.1:4840", 25, time.Second, 500*time.Millisecond), 3,
			config.Device{ID: "plc1", Kind: "machine", Source: "plc"}, "", 10},
		{"soak", soakGatewayConfig(c, "tcp://127.0.0.1:1883", 10, "opc.tcp://127.0.0.1:4840", 25, time.Second, 500*time.Millisecond), 13,
			config.Device{ID: "meter1", Kind: "energy_meter", Source: "meters"}, "plant/ws1/meter/1", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gw.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := app.LoadConfig(path)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			d := cfg.Devices[0]
			if len(cfg.Devices) != tt.devices || d.ID != tt.first.ID || d.Kind != tt.first.Kind || d.Source != tt.first.Source ||
				deviceTopic(d) != tt.topic || len(d.Signals) != tt.signals {
				t.Fatalf("%d devices, first %+v", len(cfg.Devices), d)
			}
			if got := cfg.Sinks.Influx[0].FlushInterval.D; got != 500*time.Millisecond {
				t.Fatalf("flush interval %s, want 500ms", got)
			}
		})
	}
	// The last OPC UA device holds the remaining 5 variables, V21..V25.
	cfg := opcuaGatewayConfig(c, "opc.tcp://127.0.0.1:4840", 25, time.Second, 500*time.Millisecond)
	if !strings.Contains(cfg, `value_05: {node: "nsu=urn:ganlink:loadgen;s=V25", sampling_interval: 1s}`) ||
		strings.Contains(cfg, "s=V26") {
		t.Fatalf("opc ua config does not end with V25:\n%s", cfg[len(cfg)-300:])
	}
}

func TestMeterPayload(t *testing.T) {
	got := string(meterPayload(1700000000123, 7, 3))
	want := `{"ts":1700000000123,"kwh":7000.030,"kw":6.0,"m3":70.003}`
	if got != want {
		t.Fatalf("meterPayload = %s, want %s", got, want)
	}
}

func TestEnv(t *testing.T) {
	env, err := NewEnv(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	d1, d2 := env.TempDir(), env.TempDir()
	if d1 == d2 {
		t.Fatalf("TempDir returned %q twice", d1)
	}
	env.Cleanup(func() { order = append(order, "first") })
	env.Cleanup(func() { order = append(order, "second") })
	err = Catch(func() error {
		env.Fatalf("start %s: %v", "victoria-metrics", errors.New("boom"))
		return nil
	})
	if errText(err) != "start victoria-metrics: boom" {
		t.Fatalf("Catch = %v", err)
	}
	if err := env.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(order, ",") != "second,first" {
		t.Fatalf("cleanup order %v", order)
	}
	if _, err := os.Stat(d1); !os.IsNotExist(err) {
		t.Fatalf("temporary directory %s still there: %v", d1, err)
	}
	if err := env.Close(); err != nil || len(order) != 2 {
		t.Fatalf("second Close: %v, cleanups %v", err, order)
	}
}

func TestMainUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"no mode", nil, 2, "usage:"},
		{"unknown mode", []string{"kafka"}, 2, `loadgen: unknown mode "kafka"`},
		{"bad rate", []string{"mqtt", "-rate", "0", "-gateway", os.Args[0]}, 2, "loadgen: mqtt workload: rate 0 is not positive"},
		{"bad interval", []string{"opcua", "-interval", "1ms", "-gateway", os.Args[0]}, 2, "loadgen: opc ua workload: interval 1ms is below 10ms"},
		{"missing gateway", []string{"all", "-gateway", "/nonexistent/gateway"}, 2, "loadgen: gateway binary: stat /nonexistent/gateway: no such file or directory"},
		{"extra argument", []string{"all", "x"}, 2, "usage:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(context.Background(), tt.args, &out, &errb)
			if code != tt.code || !strings.HasPrefix(errb.String(), tt.err) {
				t.Fatalf("Main = %d, stderr %q; want %d, %q…", code, errb.String(), tt.code, tt.err)
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// deviceTopic returns the MQTT topic of a device, "" for a device of another kind.
func deviceTopic(d config.Device) string {
	if b, ok := d.Binding.(*mqtt.DeviceSpec); ok {
		return b.Topic
	}
	return ""
}

// TestSoakMedianRSS: the soak compares the median RSS of the minute from the reference
// moment with that of the last minute, so a sample caught at a collector's peak does
// not decide it.
func TestSoakMedianRSS(t *testing.T) {
	r := SoakResult{Config: SoakConfig{Duration: time.Hour}}
	for at := 10 * time.Second; at <= time.Hour; at += 10 * time.Second {
		rss := int64(80 << 20)
		switch {
		case at == 10*time.Minute+20*time.Second:
			rss = 100 << 20
		case at > 59*time.Minute && at != time.Hour:
			rss = 84 << 20
		case at == time.Hour:
			rss = 95 << 20
		}
		r.Samples = append(r.Samples, SoakSample{At: at, RSS: rss})
	}
	ref, end, ok := r.medianRSS()
	if !ok || ref != 80<<20 || end != 84<<20 {
		t.Fatalf("medians %d, %d (%v), want 80 MiB, 84 MiB", ref>>20, end>>20, ok)
	}
	r.Config.Duration = 90 * time.Second
	if _, _, ok := r.medianRSS(); ok {
		t.Fatal("a 90 s soak has no minute after its reference moment and a last minute apart")
	}
}
