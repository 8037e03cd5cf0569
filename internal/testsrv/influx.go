package testsrv

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
)

// Influx is a running InfluxDB 1.8.10 on 127.0.0.1 with the v2 write API and Flux on.
type Influx struct {
	Port int
	// URL is "http://127.0.0.1:PORT".
	URL string
	p   *process
	t   TB
}

// InfluxdPath is where scripts/install-deps.sh puts influxd 1.8.10.
func InfluxdPath() string {
	if p := os.Getenv("GANLINK_INFLUXD"); p != "" {
		return p
	}
	base := os.Getenv("GANLINK_CACHE")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".cache", "ganlink")
	}
	return filepath.Join(base, "influxdb-1.8.10", "influxd")
}

// StartInflux starts InfluxDB 1.8.10 with fresh directories, creates each database in
// dbs, and stops the server at the end of the test.
func StartInflux(t TB, dbs ...string) *Influx {
	t.Helper()
	in := launchInflux(t, false)
	for _, db := range dbs {
		in.Exec("CREATE DATABASE " + quoteIdent(db))
	}
	return in
}

// launchInflux starts influxd on fresh directories and free ports, with HTTP
// authentication on or off, and stops it at the end of the test.
func launchInflux(t TB, auth bool) *Influx {
	t.Helper()
	bin := lookBinary(t, InfluxdPath())
	dir := t.TempDir()
	port, rpcPort := FreePort(t), FreePort(t)
	conf := filepath.Join(dir, "influxdb.conf")
	writeFile(t, conf, fmt.Sprintf(`reporting-enabled = false
bind-address = "127.0.0.1:%d"
[meta]
  dir = "%s/meta"
[data]
  dir = "%s/data"
  wal-dir = "%s/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  auth-enabled = %t
  flux-enabled = true
  log-enabled = false
[monitor]
  store-enabled = false
[logging]
  level = "warn"
`, rpcPort, dir, dir, dir, port, auth))
	in := &Influx{Port: port, URL: fmt.Sprintf("http://127.0.0.1:%d", port), t: t}
	in.p = &process{t: t, name: "influxd", args: []string{bin, "run", "-config", conf},
		logPath: filepath.Join(dir, "influxd.log"), ready: httpReady(in.URL+"/ping", 204), port: port}
	in.p.start()
	t.Cleanup(in.p.stop)
	return in
}

// Stop stops InfluxDB; Start starts it again with the same data.
func (in *Influx) Stop() { in.p.stop() }

// Start starts a stopped InfluxDB again.
func (in *Influx) Start() { in.p.start() }

// Exec runs an InfluxQL statement (POST /query) and fails the test on error.
func (in *Influx) Exec(q string) {
	in.t.Helper()
	body, code, err := httpDo("POST", in.URL+"/query", "application/x-www-form-urlencoded",
		[]byte("q="+url.QueryEscape(q)))
	if err != nil || code != 200 {
		in.t.Fatalf("influx %s: code %d, %v: %s", q, code, err, body)
	}
}

// Series is one InfluxQL result series.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// Query runs an InfluxQL query against db with epoch=ms and returns its series.
func (in *Influx) Query(db, q string) []Series {
	in.t.Helper()
	body, code, err := httpDo("GET", in.URL+"/query?epoch=ms&db="+url.QueryEscape(db)+"&q="+url.QueryEscape(q), "", nil)
	if err != nil || code != 200 {
		in.t.Fatalf("influx query %s: code %d, %v: %s", q, code, err, body)
	}
	var r struct {
		Results []struct {
			Series []Series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		in.t.Fatalf("influx query %s: %v", q, err)
	}
	var out []Series
	for _, res := range r.Results {
		if res.Error != "" {
			in.t.Fatalf("influx query %s: %s", q, res.Error)
		}
		out = append(out, res.Series...)
	}
	return out
}

func quoteIdent(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
