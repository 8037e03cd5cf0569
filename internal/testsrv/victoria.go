package testsrv

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
)

// Victoria is a running single-node VictoriaMetrics on 127.0.0.1.
type Victoria struct {
	Port int
	// URL is "http://127.0.0.1:PORT", the base of the write and query APIs.
	URL string
	p   *process
	t   TB
}

// StartVictoria starts VictoriaMetrics with a fresh data directory and stops it at the
// end of the test.
func StartVictoria(t TB) *Victoria {
	t.Helper()
	return StartVictoriaWith(t)
}

// StartVictoriaWith is StartVictoria with extra command-line flags, e.g.
// "-dedup.minScrapeInterval=1ms" to keep one sample per series and millisecond.
func StartVictoriaWith(t TB, extraFlags ...string) *Victoria {
	t.Helper()
	bin := lookBinary(t, "victoria-metrics", "/usr/bin/victoria-metrics")
	dir := t.TempDir()
	port := FreePort(t)
	v := &Victoria{Port: port, URL: fmt.Sprintf("http://127.0.0.1:%d", port), t: t}
	v.p = &process{t: t, name: "victoria-metrics", args: append([]string{bin,
		fmt.Sprintf("-httpListenAddr=127.0.0.1:%d", port),
		"-storageDataPath=" + filepath.Join(dir, "data"),
		"-retentionPeriod=100y", "-search.latencyOffset=0s", "-loggerLevel=WARN",
		"-search.disableCache",
	}, extraFlags...), logPath: filepath.Join(dir, "vm.log"), ready: httpReady(v.URL+"/health", 200), port: port}
	v.p.start()
	t.Cleanup(v.p.stop)
	return v
}

// Stop stops VictoriaMetrics (SIGTERM, data kept).
func (v *Victoria) Stop() { v.p.stop() }

// Start starts a stopped VictoriaMetrics again on the same port and data directory.
func (v *Victoria) Start() { v.p.start() }

// Flush makes recently written samples visible to queries.
func (v *Victoria) Flush() {
	v.t.Helper()
	if _, code, err := httpDo("GET", v.URL+"/internal/force_flush", "", nil); err != nil || code != 200 {
		v.t.Fatalf("victoria force_flush: code %d, %v", code, err)
	}
}

// Sample is one exported raw sample.
type Sample struct {
	Labels    map[string]string
	Value     float64
	Timestamp int64 // Unix milliseconds
}

// Key returns "name{k=v,...} ts=value" for set comparisons; labels sorted.
func (s Sample) Key() string {
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		if k != "__name__" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(s.Labels["__name__"])
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%s", k, s.Labels[k])
	}
	fmt.Fprintf(&b, "} %d=%g", s.Timestamp, s.Value)
	return b.String()
}

// Export returns every raw sample of the series matching the selector (e.g.
// `{__name__=~"cnc_.*"}`), after a flush.
func (v *Victoria) Export(selector string) []Sample {
	v.t.Helper()
	v.Flush()
	body, code, err := httpDo("POST", v.URL+"/api/v1/export", "application/x-www-form-urlencoded",
		[]byte("match[]="+url.QueryEscape(selector)))
	if err != nil || code != 200 {
		v.t.Fatalf("victoria export %s: code %d, %v: %s", selector, code, err, body)
	}
	var out []Sample
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		var line struct {
			Metric     map[string]string `json:"metric"`
			Values     []float64         `json:"values"`
			Timestamps []int64           `json:"timestamps"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			v.t.Fatalf("victoria export: decode %q: %v", sc.Text(), err)
		}
		for i := range line.Values {
			out = append(out, Sample{Labels: line.Metric, Value: line.Values[i], Timestamp: line.Timestamps[i]})
		}
	}
	return out
}

// Query runs an instant PromQL query and returns the raw JSON "data" object.
func (v *Victoria) Query(promql string) json.RawMessage {
	v.t.Helper()
	v.Flush()
	body, code, err := httpDo("GET", v.URL+"/api/v1/query?query="+url.QueryEscape(promql), "", nil)
	if err != nil || code != 200 {
		v.t.Fatalf("victoria query %s: code %d, %v: %s", promql, code, err, body)
	}
	var r struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		v.t.Fatalf("victoria query %s: %v", promql, err)
	}
	return r.Data
}
