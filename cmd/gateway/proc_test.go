package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/ganlink/ganlink/internal/testsrv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testsrv.RemoveGatewayBinary()
	os.Exit(code)
}

// gwConfig is the configuration of a gateway under test: one MQTT source with
// `devices` flow meters publishing {"ts": epoch ms, "v": value} on ft/fmNN, one
// VictoriaMetrics sink named "tsdb".
type gwConfig struct {
	AdminPort     int
	QueueDir      string
	MaxBytes      string
	Fsync         string
	Broker        string
	ClientID      string
	SinkURL       string
	BatchBytes    string
	FlushInterval string
	RetryMax      string
	Devices       int
	// Timezone puts local noon near now, so that the daily KPI window never closes
	// during a test and the queue holds only the publisher's points.
	Timezone string
}

var gwTemplate = template.Must(template.New("gw").Funcs(template.FuncMap{
	"seq": func(n int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = i
		}
		return s
	},
}).Parse(`workshop:
  region: "360100"
  park: p1
  enterprise: e1
  workshop: ws1
  timezone: {{.Timezone}}
admin:
  listen: "127.0.0.1:{{.AdminPort}}"
queue:
  dir: {{.QueueDir}}
  max_bytes: {{.MaxBytes}}
  fsync: {{.Fsync}}
kpi:
  windows: ["24h"]
health:
  interval: 0s # the fault tests count every point queued: none of the gateway's own
sources:
  mqtt:
    - name: meters
      broker: "{{.Broker}}"
      client_id: {{.ClientID}}
      qos: 1
      clean_session: false
sinks:
  influx:
    - name: tsdb
      url: "{{.SinkURL}}"
      bucket: ganlink
      batch_bytes: {{.BatchBytes}}
      flush_interval: {{.FlushInterval}}
      retry_min: 200ms
      retry_max: {{.RetryMax}}
devices:
{{- range seq .Devices}}
  - id: fm{{printf "%02d" .}}
    kind: flow_meter
    source: meters
    topic: ft/fm{{printf "%02d" .}}
    timestamp_path: ts
    signals:
      flow_m3h: {path: v}
{{- end}}
`))

// noonZone returns an Etc/GMT zone in which the local time is between 12:00 and 13:00.
func noonZone(now time.Time) string {
	n := now.UTC().Hour() - 12 // Etc/GMT+N is UTC-N
	switch {
	case n > 0:
		return fmt.Sprintf("Etc/GMT+%d", n)
	case n < 0:
		return fmt.Sprintf("Etc/GMT-%d", -n)
	}
	return "Etc/GMT"
}

// defaultGWConfig returns a configuration for broker and sink with a fresh queue
// directory and admin port.
func defaultGWConfig(t *testing.T, broker, sinkURL string, devices int) gwConfig {
	return gwConfig{
		AdminPort:     testsrv.FreePort(t),
		QueueDir:      filepath.Join(t.TempDir(), "queue"),
		MaxBytes:      "1GiB",
		Fsync:         "1s",
		Broker:        broker,
		ClientID:      "ganlink-fault-test",
		SinkURL:       sinkURL,
		BatchBytes:    "1MiB",
		FlushInterval: "200ms",
		RetryMax:      "2s",
		Devices:       devices,
		Timezone:      noonZone(time.Now()),
	}
}

// gateway is the gateway binary running as a child process. Start and Kill/Stop may
// alternate; every run appends to the same log file.
type gateway struct {
	t       *testing.T
	bin     string
	cfgPath string
	admin   string
	logPath string

	cmd    *exec.Cmd
	exited chan struct{}
	starts int
}

// newGateway writes cfg and returns a gateway ready to Start. The process is killed at
// the end of the test if still running; its log is printed if the test failed.
func newGateway(t *testing.T, cfg gwConfig) *gateway {
	t.Helper()
	dir := t.TempDir()
	g := &gateway{t: t, bin: testsrv.GatewayBinary(t), cfgPath: filepath.Join(dir, "gateway.yaml"),
		admin: fmt.Sprintf("127.0.0.1:%d", cfg.AdminPort), logPath: filepath.Join(dir, "gateway.log")}
	var b bytes.Buffer
	if err := gwTemplate.Execute(&b, cfg); err != nil {
		t.Fatalf("render gateway config: %v", err)
	}
	if err := os.WriteFile(g.cfgPath, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if g.cmd != nil {
			g.Stop()
		}
		if t.Failed() {
			t.Logf("gateway log (last 8000 bytes):\n%s", g.logTail(8000))
		}
	})
	return g
}

// Start runs the gateway and waits until /readyz answers 200 (its MQTT source has
// connected).
func (g *gateway) Start() {
	g.t.Helper()
	if g.cmd != nil {
		g.t.Fatalf("gateway already running")
	}
	logf, err := os.OpenFile(g.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		g.t.Fatal(err)
	}
	g.starts++
	fmt.Fprintf(logf, "=== start %d\n", g.starts)
	cmd := exec.Command(g.bin, "-config", g.cfgPath, "-log-level", "info")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		g.t.Fatalf("start gateway: %v", err)
	}
	g.cmd, g.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { cmd.Wait(); logf.Close(); close(exited) }(g.exited)
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, _ := g.get("/readyz")
		if code == 200 {
			return
		}
		select {
		case <-g.exited:
			g.cmd = nil
			g.t.Fatalf("gateway exited during start-up (%v):\n%s", cmd.ProcessState, g.logTail(4000))
		default:
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("gateway not ready after 60s:\n%s", g.logTail(4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Pid returns the process id of the running gateway.
func (g *gateway) Pid() int { return g.cmd.Process.Pid }

// Running reports whether the gateway process is still running.
func (g *gateway) Running() bool {
	if g.cmd == nil {
		return false
	}
	select {
	case <-g.exited:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (g *gateway) Kill() {
	g.t.Helper()
	if g.cmd == nil {
		return
	}
	_ = g.cmd.Process.Signal(syscall.SIGKILL)
	<-g.exited
	g.cmd = nil
}

// Stop sends SIGTERM and waits up to 30 s for a clean exit (status 0).
func (g *gateway) Stop() {
	g.t.Helper()
	if g.cmd == nil {
		return
	}
	cmd := g.cmd
	g.cmd = nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
		if !cmd.ProcessState.Success() {
			g.t.Errorf("gateway exited with %v after SIGTERM", cmd.ProcessState)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-g.exited
		g.t.Errorf("gateway did not stop within 30s of SIGTERM")
	}
}

func (g *gateway) get(path string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + g.admin + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Metrics scrapes /metrics and returns each sample by its name and labels exactly as
// exposed, e.g. `ganlink_sink_up{sink="tsdb"}`.
func (g *gateway) Metrics() map[string]float64 {
	g.t.Helper()
	var code int
	var body string
	for attempt := 0; attempt < 5; attempt++ {
		if code, body = g.get("/metrics"); code == 200 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code != 200 {
		g.t.Fatalf("scrape /metrics: %d %s", code, body)
	}
	return parseMetrics(g.t, body)
}

func parseMetrics(t *testing.T, page string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(page))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("metrics line %q: no value", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func (g *gateway) logTail(n int) string {
	b, _ := os.ReadFile(g.logPath)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
