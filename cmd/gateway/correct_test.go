package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// correctRun runs `gateway correct args...` in-process.
func correctRun(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(append([]string{"correct"}, args...), &o, &e)
	return code, o.String(), e.String()
}

// TestCorrectCommand: corrections recorded with `gateway correct`, first while the
// gateway is stopped (written to the store, picked up at start), then through the
// running gateway's admin API (authenticated with its token; the recorder is -by): the
// exact kpi_correction points in VictoriaMetrics, the revocation point, the recorded
// meter replacement applied to the counter model (a swap to a meter reading 600 after
// 999.65 is booked as a replacement, not held as a glitch), the API's refusals, the
// metrics and /api/status.
func TestCorrectCommand(t *testing.T) {
	broker := testsrv.StartMosquitto(t)
	vm := testsrv.StartVictoria(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := testsrv.FreePort(t)
	cfg := fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1, timezone: Asia/Shanghai}
admin: {listen: "127.0.0.1:%d", token_file: %q}
queue: {dir: %q}
kpi: {windows: [5s], allowed_lateness: 1s}
sources:
  mqtt:
    - {name: meters, broker: %q, client_id: correct-test, qos: 1}
sinks:
  influx:
    - {name: tsdb, url: %q, bucket: ganlink, flush_interval: 100ms}
devices:
  - id: em1
    kind: energy_meter
    source: meters
    topic: m/em1
    signals:
      energy_kwh_total: {path: v}
`, port, tokenFile, filepath.Join(dir, "data", "queue"), broker.URL, vm.URL)
	g := &gateway{t: t, bin: testsrv.GatewayBinary(t), cfgPath: filepath.Join(dir, "gateway.yaml"),
		admin: fmt.Sprintf("127.0.0.1:%d", port), logPath: filepath.Join(dir, "gateway.log")}
	if err := os.WriteFile(g.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if g.cmd != nil {
			g.Stop()
		}
		if t.Failed() {
			t.Logf("gateway log:\n%s", g.logTail(8000))
		}
	})
	sh, _ := time.LoadLocation("Asia/Shanghai")
	storePath := filepath.Join(dir, "data", "corrections.jsonl")

	// 1. The gateway is stopped: the command writes the store.
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	from := time.Now().Add(-2 * time.Hour).Truncate(time.Hour)
	until := from.Add(30 * time.Minute)
	code, out, errs := correctRun("add", "-config", g.cfgPath, "-kind", "invalid", "-device", "em1",
		"-from", from.In(sh).Format(time.DateTime), "-until", until.Format(time.RFC3339), "-by", "alice", "-reason", "calibration run")
	re := regexp.MustCompile(`^recorded (c-[0-9a-f]{16})  invalid  device em1 ` + regexp.QuoteMeta(from.In(sh).Format(time.DateTime)+" to "+
		until.In(sh).Format(time.DateTime)+` (Asia/Shanghai)  by alice: "calibration run"`) +
		"\n  the gateway is not running: written to " + regexp.QuoteMeta(storePath) + ", applied when it starts\n$")
	m := re.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("offline add: exit %d\nstdout %q\nstderr %s", code, out, errs)
	}
	invalidID := m[1]
	code, out, errs = correctRun("add", "-config", g.cfgPath, "-kind", "invalid", "-device", "em9",
		"-from", from.Format(time.RFC3339), "-until", until.Format(time.RFC3339), "-by", "alice", "-reason", "x")
	if code != 1 || errs != "gateway correct add: device: unknown device \"em9\"\n" || out != "" {
		t.Errorf("offline add of an unknown device: exit %d, stdout %q, stderr %q", code, out, errs)
	}

	// 2. The gateway starts and writes the stored correction's point.
	g.Start()
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(broker.URL).SetClientID("correct-test-pub").SetCleanSession(true))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect publisher: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	accepted := 0
	publish := func(v float64) {
		t.Helper()
		if tok := pub.Publish("m/em1", 1, false, fmt.Sprintf(`{"v": %v}`, v)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
		accepted++
		want := fmt.Sprintf(`ganlink_kpi_samples_total{outcome="accepted"} %d`, accepted)
		if msg := testsrv.WaitFor(20*time.Second, func() string {
			if _, body := g.get("/metrics"); !strings.Contains(body, want+"\n") {
				return "no " + want
			}
			return ""
		}); msg != "" {
			t.Fatal(msg)
		}
	}
	publish(999.0)
	publish(999.65)
	time.Sleep(1100 * time.Millisecond) // the replacement time (whole seconds) after the 999.65 reading

	// 3. Through the API: a replacement (the recorder is -by, sent as the token's user name).
	at := time.Now()
	code, out, errs = correctRun("add", "-config", g.cfgPath, "-kind", "replacement", "-device", "em1", "-signal", "energy_kwh_total",
		"-at", at.Format(time.RFC3339), "-by", "bob", "-reason", "meter swapped, 换表")
	re = regexp.MustCompile(`^recorded (c-[0-9a-f]{16})  replacement  device em1 energy_kwh_total at ` +
		regexp.QuoteMeta(at.In(sh).Format(time.DateTime)+` (Asia/Shanghai)  by bob: "meter swapped, 换表"`) + "\n  counter model: pending\n$")
	if m = re.FindStringSubmatch(out); code != 0 || m == nil {
		t.Fatalf("add through the API: exit %d\nstdout %q\nstderr %s", code, out, errs)
	}
	replID := m[1]
	publish(600)
	publish(600.4)

	// The revocation of the stored correction, through the API.
	code, out, errs = correctRun("revoke", "-config", g.cfgPath, "-id", invalidID, "-by", "carol", "-reason", "wrong span")
	if code != 0 || !strings.HasPrefix(out, "revoked "+invalidID+"  invalid  device em1 ") ||
		!strings.Contains(out, " by carol: \"wrong span\"\n") {
		t.Errorf("revoke: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
	code, out, errs = correctRun("revoke", "-config", g.cfgPath, "-id", "c-0000000000000000", "-by", "carol", "-reason", "x")
	if code != 1 || errs != "gateway correct revoke: id: unknown correction \"c-0000000000000000\"\n" {
		t.Errorf("revoke of an unknown id: exit %d, stderr %q", code, errs)
	}
	code, out, _ = correctRun("list", "-config", g.cfgPath)
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, "\n  revoked at ") || !strings.Contains(out, replID+"  replacement") {
		t.Errorf("list: exit %d\n%s", code, out)
	}

	// 4. The API: authentication and refusals.
	post := func(path, auth, body string) (int, string) {
		req, _ := http.NewRequest("POST", "http://"+g.admin+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	bearer := "Bearer s3cret-token"
	for _, tc := range []struct {
		path, auth, body string
		code             int
		want             string
	}{
		{"/api/corrections", "", `{"kind":"invalid"}`, 401, "unauthorized\n"},
		{"/api/corrections", "Bearer wrong", `{"kind":"invalid"}`, 401, "unauthorized\n"},
		{"/api/corrections", bearer, `{"kind":"invalid","device":"em1","from":"2026-01-01T10:00:00Z","until":"2026-01-01T09:00:00Z","reason":"r"}`,
			400, `{"error":"until: 2026-01-01T09:00:00Z is not after from 2026-01-01T10:00:00Z","reason":"bad_span"}`},
		{"/api/corrections", bearer, `{"kind":"invalid","from":"2026-01-01T09:00:00Z","until":"2999-01-01T00:00:00Z","reason":"r"}`,
			400, `"error":"until: 2999-01-01T00:00:00Z is in the future (now `},
		{"/api/corrections", bearer, `{"kind":"replacement","device":"em1","signal":"power_kw","at":"2026-01-01T09:00:00Z","reason":"r"}`,
			400, `{"error":"signal: unknown counter signal \"power_kw\" of device \"em1\" (its counters: energy_kwh_total)","reason":"unknown_signal"}`},
		{"/api/corrections", bearer, `{"kind":"invalid","from":"2026-01-01T09:00:00Z","until":"2026-01-01T10:00:00Z"}`,
			400, `{"error":"reason: missing","reason":"missing"}`},
		{"/api/corrections", bearer, `{"kind":"invalid","bogus":1}`,
			400, `{"error":"body: json: unknown field \"bogus\"","reason":"bad_request"}`},
		{"/api/corrections/" + replID + "/revoke", bearer, `{"reason":"r","by":"mallory"}`,
			400, `{"error":"by: \"mallory\" given, but the request is authenticated as \"token\", who records it","reason":"bad_request"}`},
		{"/api/corrections/" + invalidID + "/revoke", bearer, `{"reason":"again"}`, 409, `"reason":"revoked"`},
	} {
		code, body := post(tc.path, tc.auth, tc.body)
		compact := body
		var buf bytes.Buffer
		if json.Compact(&buf, []byte(body)) == nil {
			compact = buf.String()
		}
		if code != tc.code || !strings.Contains(compact, tc.want) {
			t.Errorf("POST %s %s: %d %s, want %d %s", tc.path, tc.body, code, compact, tc.code, tc.want)
		}
	}

	// 5. The counter model booked the swap as a replacement; the metrics count it all.
	_, metrics := g.get("/metrics")
	for _, want := range []string{
		`ganlink_kpi_cumulative_steps_total{class="replacement",device="em1",signal="energy_kwh_total"} 1`,
		`ganlink_kpi_cumulative_steps_total{class="glitch",device="em1",signal="energy_kwh_total"} 0`,
		`ganlink_corrections_recorded_total{kind="replacement"} 1`,
		`ganlink_corrections_recorded_total{kind="invalid"} 0`,
		`ganlink_corrections_revoked_total{kind="invalid"} 1`,
		`ganlink_corrections_refused_total{reason="bad_span"} 1`,
		`ganlink_corrections_refused_total{reason="future"} 1`,
		`ganlink_corrections_refused_total{reason="unknown_signal"} 1`,
		`ganlink_corrections_refused_total{reason="missing"} 1`,
		`ganlink_corrections_refused_total{reason="bad_request"} 2`,
		`ganlink_corrections_refused_total{reason="revoked"} 1`,
		`ganlink_corrections_refused_total{reason="unknown_id"} 1`,
		`ganlink_corrections_refused_total{reason="unauthenticated"} 2`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// /api/status lists the corrections in force: the replacement only.
	req, _ := http.NewRequest("GET", "http://"+g.admin+"/api/status?device_limit=0", nil)
	req.Header.Set("Authorization", bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Corrections []struct{ ID, By, Kind string } `json:"corrections"`
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || len(st.Corrections) != 1 || st.Corrections[0].ID != replID || st.Corrections[0].By != "bob" {
		t.Errorf("/api/status corrections %+v (%v), want the replacement by bob", st.Corrections, err)
	}

	// 6. The exact kpi_correction points.
	type pt struct {
		Name, Corr, Kind, By, Reason, Device, Instance string
		Value                                          float64
		TS                                             int64
	}
	var got []pt
	if msg := testsrv.WaitFor(30*time.Second, func() string {
		got = nil
		for _, s := range vm.Export(`{__name__=~"kpi_correction_.*"}`) {
			l := s.Labels
			if len(l) != 11 || l["region"] != "360100" || l["park"] != "p1" || l["enterprise"] != "e1" || l["workshop"] != "ws1" {
				return fmt.Sprintf("labels %v", l)
			}
			got = append(got, pt{l["__name__"], l["correction"], l["correction_kind"], l["by"], l["reason"], l["device"],
				l["gateway_instance"], s.Value, s.Timestamp})
		}
		if len(got) != 6 {
			return fmt.Sprintf("%d samples: %+v", len(got), got)
		}
		return ""
	}); msg != "" {
		t.Fatal(msg)
	}
	inst := got[0].Instance
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(inst) {
		t.Errorf("instance %q", inst)
	}
	atS := at.Truncate(time.Second)
	want := []pt{
		{"kpi_correction_active", invalidID, "invalid", "alice", "calibration run", "em1", inst, 1, from.UnixMilli()},
		{"kpi_correction_active", invalidID, "invalid", "carol", "wrong span", "em1", inst, 0, from.UnixMilli()},
		{"kpi_correction_active", replID, "replacement", "bob", "meter swapped, 换表", "em1", inst, 1, atS.UnixMilli()},
		{"kpi_correction_until_unix_s", invalidID, "invalid", "alice", "calibration run", "em1", inst, float64(until.Unix()), from.UnixMilli()},
		{"kpi_correction_until_unix_s", invalidID, "invalid", "carol", "wrong span", "em1", inst, float64(until.Unix()), from.UnixMilli()},
		{"kpi_correction_until_unix_s", replID, "replacement", "bob", "meter swapped, 换表", "em1", inst, float64(atS.Unix()), atS.UnixMilli()},
	}
	sortPts := func(ps []pt) {
		sort.Slice(ps, func(i, j int) bool { return fmt.Sprint(ps[i]) < fmt.Sprint(ps[j]) })
	}
	sortPts(got)
	sortPts(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("kpi_correction samples\n got %+v\nwant %+v", got, want)
	}

	// 7. The energy booked: 0.65 before the swap, 600 for the new meter (the replacement
	// rule), 0.4 after; a glitch would have booked 0.
	var sum float64
	if msg := testsrv.WaitFor(30*time.Second, func() string {
		sum = 0
		for _, s := range vm.Export(`device_kpi_energy_kwh{device="em1",window="5s"}`) {
			sum += s.Value
		}
		if math.Abs(sum-601.05) > 1e-6 {
			return fmt.Sprintf("energy booked %v, want 601.05", sum)
		}
		return ""
	}); msg != "" {
		t.Error(msg)
	}

	// 8. Stopped again: the command writes the store directly, and the next start writes
	// nothing twice (the written marks) and applies nothing twice (the engine's state).
	g.Stop()
	code, out, errs = correctRun("list", "-config", g.cfgPath, "-json")
	var listed []struct{ ID string }
	if code != 0 || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 2 {
		t.Errorf("list while stopped: exit %d\n%s\n%s", code, out, errs)
	}
	g.Start()
	accepted = 0
	publish(601.0)
	time.Sleep(500 * time.Millisecond) // five flush intervals
	if n := len(vm.Export(`{__name__=~"kpi_correction_.*"}`)); n != 6 {
		t.Errorf("%d kpi_correction samples after a restart, want still 6", n)
	}
	if _, body := g.get("/metrics"); strings.Contains(body, `ganlink_kpi_cumulative_steps_total{class="replacement",device="em1",signal="energy_kwh_total"} 1`) ||
		strings.Contains(g.logTail(100000), "counter replacement applied from the correction store") {
		t.Errorf("the replacement was applied again after the restart:\n%s", body)
	}
}
