package aggregator

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/api"
	"github.com/ganlink/ganlink/gateway/aggregator/rules"
)

func TestLoadConfigExample(t *testing.T) {
	cfg, err := LoadConfig("../../configs/aggregator.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Rules, rules.Default()) {
		t.Errorf("example rules %+v differ from the defaults %+v", cfg.Rules, rules.Default())
	}
	def := Default()
	if cfg.Listen != def.Listen || cfg.Window != def.Window || cfg.DefaultRange != def.DefaultRange ||
		cfg.MaxRange != def.MaxRange || cfg.MaxBuckets != def.MaxBuckets || cfg.Backend.Type != def.Backend.Type ||
		cfg.Backend.Timeout != def.Backend.Timeout || cfg.Backend.Concurrency != def.Backend.Concurrency ||
		cfg.WriteBack.Interval != def.WriteBack.Interval || cfg.WriteBack.Period != def.WriteBack.Period ||
		cfg.CacheTTL == nil || cfg.CacheTTL.D != time.Minute || cfg.Settle != def.Settle ||
		cfg.MaxRows != def.MaxRows || cfg.MaxPoints != def.MaxPoints || cfg.Server.MaxInFlight != def.Server.MaxInFlight ||
		cfg.Server.MaxQueued != def.Server.MaxQueued || cfg.Server.QueueTimeout != def.Server.QueueTimeout ||
		cfg.Server.MaxHeaderBytes != def.Server.MaxHeaderBytes || cfg.DataDir != def.DataDir {
		t.Errorf("example differs from the defaults: %+v", cfg)
	}
	if got := cfg.Path(cfg.Registry); got != filepath.Join("../../configs", "registry.example.yaml") {
		t.Errorf("registry path %q", got)
	}
	if _, err := cfg.LoadRegistry(); err != nil {
		t.Error(err)
	}
	if _, err := api.LoadTokens(cfg.Path(cfg.TokensFile)); err != nil {
		t.Error(err)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "registry: r.yaml\ntokens_file: t.yaml\nbackend: {url: \"http://x\", colour: red}\n",
			":3: field colour not found in type aggregator.BackendConfig"},
		{"bad duration", "cache_ttl: soon\n", ":1: invalid duration \"soon\""},
		{"invalid", `listen: ""
window: 7h
default_range: 500d
max_buckets: 0
max_rows: 0
max_points: -1
server: {max_header_bytes: 4096, max_in_flight: 0, max_queued: -1, queue_timeout: 0s}
cache_ttl: 0s
settle: 2d
timezone: Mars/Olympus
backend: {type: flux, url: "ftp://x", token_file: a, token_env: B, concurrency: 0}
rules: {cnc_rate: 1.2, base_min_digital_workshops: 0}
write_back: {enabled: true, url: "", interval: 10ms, period: 0s}
`, `listen: required
registry: required
tokens_file: required
timezone: unknown zone "Mars/Olympus"
window: "7h" is not a duration dividing a day
default_range: 500d not in [0, max_range] (0: the calendar month to date)
max_buckets: 0 is less than 1
max_rows: 0 is less than 1
max_points: -1 is less than 1
server.max_header_bytes: 4096 is less than 4097
server.max_in_flight: 0 is less than 1
server.max_queued: -1 is negative
server.queue_timeout: 0s is not positive
settle: 48h0m0s not in [0, 1d]
backend.type: "flux" is not promql or influxql
backend.url: invalid url "ftp://x"
backend: token_file and token_env are exclusive
backend.concurrency: 0 is less than 1
rules.cnc_rate: 1.2 not in [0, 1]
rules.base_min_digital_workshops: 0 is less than 1
write_back.url: invalid url ""
write_back.bucket: required
write_back.interval: 10ms is shorter than 1s
write_back.period: 0s not in (0, max_range]`},
		{"window not canonical", "registry: r\ntokens_file: t\nwindow: 60m\nbackend: {url: \"http://x\"}\n",
			`window: "60m" is not a window tag the gateways write: use "1h"`},
		{"influxql without database", "registry: r\ntokens_file: t\nbackend: {type: influxql, url: \"http://x:8086\"}\n",
			"backend.database: required for influxql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "c.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(path)
			var lines []string
			for _, l := range strings.Split(tt.want, "\n") {
				if strings.HasPrefix(l, ":") {
					lines = append(lines, path+l)
				} else {
					lines = append(lines, path+": "+l)
				}
			}
			want := strings.Join(lines, "\n")
			if err == nil || err.Error() != want {
				t.Errorf("LoadConfig:\n%v\nwant\n%s", err, want)
			}
		})
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	writeProvince(t, dir)
	a, c, _ := startApp(t, dir, "backend: {type: promql, url: \"http://127.0.0.1:1\"}\n")
	count := func(token string) int {
		code, _, body := c.get(token, "/api/v1/regions?format=csv")
		if code != 200 {
			return -code
		}
		return strings.Count(string(body), "\n") - 1
	}
	if n := count("tok-province"); n != 7 {
		t.Fatalf("regions before reload: %d", n)
	}
	reg := filepath.Join(dir, "registry.yaml")
	orig, _ := os.ReadFile(reg)
	added := strings.Replace(string(orig), "  - {code: \"360400\", name: 九江市}\n",
		"  - {code: \"360400\", name: 九江市}\n  - {code: \"360402\", name: 濂溪区}\n", 1)
	if err := os.WriteFile(reg, []byte(added), 0o644); err != nil {
		t.Fatal(err)
	}
	toks := filepath.Join(dir, "tokens.yaml")
	origToks, _ := os.ReadFile(toks)
	if err := os.WriteFile(toks, append(origToks, []byte("  - {name: jiujiang, sha256: "+api.HashToken("tok-jj")+", region: \"360400\"}\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if count("tok-jj") != -401 {
		t.Fatal("new token accepted before reload")
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if n := count("tok-province"); n != 8 {
		t.Errorf("regions after reload: %d", n)
	}
	if n := count("tok-jj"); n != 2 {
		t.Errorf("new token sees %d regions, want 2", n)
	}
	// A broken registry and tokens file: both errors reported, the previous ones kept.
	broken := strings.Replace(added, "濂溪区}\n", "濂溪区}\n  - {code: \"370101\", name: y}\n", 1)
	if err := os.WriteFile(reg, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(toks, []byte("tokens: [{name: x}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := a.Reload()
	want := `reload registry "` + reg + `": ` + reg + `:14: regions[8].code: unknown parent region "370100"` + "\n" +
		`load tokens "` + toks + `": tokens[0].sha256: want 64 hex digits` + "\n" +
		`tokens[0].region: invalid region code "": want 6 digits`
	if err == nil || err.Error() != want {
		t.Errorf("Reload:\n%v\nwant\n%s", err, want)
	}
	if n := count("tok-province"); n != 8 {
		t.Errorf("regions after failed reload: %d", n)
	}
	if n := count("tok-jj"); n != 2 {
		t.Errorf("tokens after failed reload: %d", n)
	}
}

func TestBackendFailures(t *testing.T) {
	dir := t.TempDir()
	writeProvince(t, dir)
	// A TSDB that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	tests := []struct{ name, yaml string }{
		{"refused", "backend: {type: promql, url: \"http://127.0.0.1:1\"}\n"},
		{"silent", fmt.Sprintf("backend: {type: influxql, url: \"http://%s\", database: x, timeout: 10s}\nserver: {request_timeout: 300ms}\n", ln.Addr())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c, reg := startApp(t, dir, tt.yaml)
			start := time.Now()
			code, _, body := c.get("tok-province", "/api/v1/programme?"+period)
			if code != 502 || strings.TrimSpace(string(body)) != `{"error":"the time-series database did not answer; see the aggregator log"}` {
				t.Errorf("GET: %d %s", code, body)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
			mfs, _ := reg.Gather()
			found := false
			for _, mf := range mfs {
				if mf.GetName() == "ganlink_aggregator_api_requests_total" {
					for _, m := range mf.GetMetric() {
						if m.GetLabel()[0].GetValue() == "502" && m.GetCounter().GetValue() == 1 {
							found = true
						}
					}
				}
			}
			if !found {
				t.Error("502 not counted")
			}
		})
	}
}
