package testsrv

import (
	"encoding/json"
	"fmt"
	"path/filepath"
)

// VMAlert is a running vmalert (from the victoria-metrics Debian package) evaluating
// rule files against a datasource.
type VMAlert struct {
	Port int
	URL  string
	t    TB
	p    *process
}

// StartVMAlert starts vmalert with the rule files, evaluating every second against
// datasource (a VictoriaMetrics URL) and sending alerts to notifier (an Alertmanager
// API URL; a test's own HTTP server will do). It stops at the end of the test.
func StartVMAlert(t TB, datasource, notifier string, rules ...string) *VMAlert {
	t.Helper()
	bin := lookBinary(t, "vmalert", "/usr/bin/vmalert")
	dir := t.TempDir()
	port := FreePort(t)
	v := &VMAlert{Port: port, URL: fmt.Sprintf("http://127.0.0.1:%d", port), t: t}
	args := []string{bin, fmt.Sprintf("-httpListenAddr=127.0.0.1:%d", port), "-datasource.url=" + datasource,
		"-notifier.url=" + notifier, "-evaluationInterval=1s", "-loggerLevel=WARN"}
	for _, r := range rules {
		args = append(args, "-rule="+r)
	}
	v.p = &process{t: t, name: "vmalert", args: args, logPath: filepath.Join(dir, "vmalert.log"),
		ready: httpReady(v.URL+"/health", 200), port: port}
	v.p.start()
	t.Cleanup(v.p.stop)
	return v
}

// Alert is one alert vmalert holds, as /api/v1/alerts lists it.
type Alert struct {
	Name   string            `json:"name"`
	State  string            `json:"state"`
	Value  string            `json:"value"`
	Labels map[string]string `json:"labels"`
}

// Alerts returns the alerts vmalert holds (pending and firing).
func (v *VMAlert) Alerts() []Alert {
	v.t.Helper()
	body, code, err := httpDo("GET", v.URL+"/api/v1/alerts", "", nil)
	if err != nil || code != 200 {
		v.t.Fatalf("vmalert alerts: %d %v %s", code, err, body)
	}
	var r struct {
		Data struct {
			Alerts []Alert `json:"alerts"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		v.t.Fatalf("vmalert alerts: %v: %s", err, body)
	}
	return r.Data.Alerts
}
