package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/devsim"
)

func TestConfigCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"config", "-machines", "2", "-energy-meters", "1", "-water-meters", "0", "-legacy", "1",
		"-workshop", "ws9", "-opcua-addr", "127.0.0.1:14840", "-rate", "500ms", "-influx-url", "http://127.0.0.1:18428",
		"-bucket", "b", "-queue-dir", "/tmp/q", "-admin", "127.0.0.1:19273", "-shifts", "06:00-18:00"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	cfg := devsim.Config{Workshop: "ws9", Machines: 2, EnergyMeters: 1, Seed: 1, Rate: 500 * time.Millisecond,
		Shifts: []devsim.Shift{{Start: 6 * time.Hour, End: 18 * time.Hour}}}
	o := devsim.DefaultGatewayOptions()
	o.Legacy, o.OPCUAEndpoint, o.PublishingInterval = 1, "opc.tcp://127.0.0.1:14840", 500*time.Millisecond
	o.InfluxURL, o.Bucket, o.QueueDir, o.AdminListen = "http://127.0.0.1:18428", "b", "/tmp/q", "127.0.0.1:19273"
	var want strings.Builder
	if err := devsim.WriteGatewayConfig(&want, cfg, o); err != nil {
		t.Fatal(err)
	}
	if out.String() != want.String() {
		t.Errorf("config output\n%s\nwant\n%s", out.String(), want.String())
	}
}

func TestTruthCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"truth", "-machines", "1", "-energy-meters", "1", "-water-meters", "0",
		"-start", "2026-03-02T09:00:00+08:00", "-duration", "10m", "-window", "5m", "-log-level", "error"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var w struct {
			Device  string  `json:"device"`
			Start   string  `json:"start"`
			Covered float64 `json:"covered_s"`
			Final   bool    `json:"final"`
		}
		if err := json.Unmarshal([]byte(l), &w); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, w.Device+" "+w.Start)
		if w.Covered != 300 || !w.Final {
			t.Errorf("window %q: covered %v final %v", l, w.Covered, w.Final)
		}
	}
	want := []string{"m1 2026-03-02T09:00:00.000+08:00", "em1 2026-03-02T09:00:00.000+08:00",
		"m1 2026-03-02T09:05:00.000+08:00", "em1 2026-03-02T09:05:00.000+08:00"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("windows %q, want %q", got, want)
	}
}

func TestCommandErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve"}, 2, "devsim: unknown command \"serve\"\n"},
		{[]string{"run", "-machines", "-3"}, 2, "devsim run: machines: -3 is not 0..100000\n"},
		{[]string{"config", "-shifts", "8-9"}, 2, "devsim config: parse shift \"8-9\": invalid time of day \"8\"\n"},
		{[]string{"truth", "-start", "monday"}, 2, "devsim truth: parse -start \"monday\": "},
		{[]string{"run", "-timezone", "Mars/Olympus"}, 2, "devsim run: load time zone \"Mars/Olympus\": "},
		{[]string{"truth", "-window", "7m", "-duration", "1m"}, 1, "devsim truth: aggregate truth into 7m0s windows: want a multiple of 1m0s that divides a day\n"},
		{[]string{"run", "-time-scale", "NaN"}, 2, "devsim run: time scale: NaN is not in (0, 1000]\n"},
		{[]string{"config", "-time-scale", "Inf"}, 2, "devsim config: time scale: +Inf is not in (0, 1000]\n"},
		{[]string{"truth", "-time-scale", "-Inf"}, 2, "devsim truth: time scale: -Inf is not in (0, 1000]\n"},
		{[]string{"run", "-time-scale", "0"}, 2, "devsim run: time scale: 0 is not in (0, 1000]\n"},
		{[]string{"run", "-time-scale", "-1"}, 2, "devsim run: time scale: -1 is not in (0, 1000]\n"},
		{[]string{"run", "-time-scale", "1e400"}, 2, "invalid value \"1e400\" for flag -time-scale: value out of range\n"},
		{[]string{"run", "extra"}, 2, "devsim run: unexpected arguments [\"extra\"]\n"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(tt.args, &out, &errOut)
		if code != tt.code || !strings.HasPrefix(errOut.String(), tt.want) {
			t.Errorf("devsim %q: exit %d, stderr %q; want %d, %q...", tt.args, code, errOut.String(), tt.code, tt.want)
		}
	}
}
