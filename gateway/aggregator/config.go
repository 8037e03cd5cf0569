// Package aggregator composes the cloud aggregator: configuration, the registry, a
// query backend, the service, the HTTP API and the write-back loop.
package aggregator

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/corrections"
	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/gateway/aggregator/rules"
	"github.com/ganlink/ganlink/gateway/aggregator/service"
	"github.com/ganlink/ganlink/gateway/schema"
	"github.com/ganlink/ganlink/internal/httplimit"
	"gopkg.in/yaml.v3"

	"github.com/ganlink/ganlink/internal/fsread"
	"github.com/ganlink/ganlink/internal/yamlsyntax"
)

// Duration is a YAML duration string with an additional day unit ("30d", "1h").
type Duration struct{ D time.Duration }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := service.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	d.D = v
	return nil
}

// BackendConfig selects and configures the query backend.
type BackendConfig struct {
	// Type is "promql" (VictoriaMetrics, Prometheus) or "influxql" (InfluxDB /query).
	Type string `yaml:"type"`
	URL  string `yaml:"url"`
	// Database and RetentionPolicy: influxql only.
	Database        string `yaml:"database"`
	RetentionPolicy string `yaml:"retention_policy"`
	// TokenFile holds the token (promql: "Bearer", influxql: "Token"; 1.8: user:password).
	TokenFile string `yaml:"token_file"`
	// TokenEnv names an environment variable holding the token instead.
	TokenEnv    string   `yaml:"token_env"`
	Timeout     Duration `yaml:"timeout"`
	Concurrency int      `yaml:"concurrency"`
	// NoCache (promql) sends nocache=1 (see backend.PromQLConfig); default true.
	NoCache *bool `yaml:"nocache"`
}

// WriteBackConfig configures the write-back of region_kpi and programme_progress.
type WriteBackConfig struct {
	Enabled   bool     `yaml:"enabled"`
	URL       string   `yaml:"url"`
	Org       string   `yaml:"org"`
	Bucket    string   `yaml:"bucket"`
	TokenFile string   `yaml:"token_file"`
	TokenEnv  string   `yaml:"token_env"`
	Interval  Duration `yaml:"interval"`
	Period    Duration `yaml:"period"`
	Timeout   Duration `yaml:"timeout"`
}

// ServerConfig holds the HTTP server's timeouts and limits.
type ServerConfig struct {
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	ReadTimeout       Duration `yaml:"read_timeout"`
	WriteTimeout      Duration `yaml:"write_timeout"`
	IdleTimeout       Duration `yaml:"idle_timeout"`
	MaxHeaderBytes    int      `yaml:"max_header_bytes"`
	MaxURLBytes       int      `yaml:"max_url_bytes"`
	MaxBodyBytes      int64    `yaml:"max_body_bytes"`
	RequestTimeout    Duration `yaml:"request_timeout"`
	// MaxInFlight, MaxQueued and QueueTimeout bound concurrent work (see api.Options).
	MaxInFlight  int      `yaml:"max_in_flight"`
	MaxQueued    int      `yaml:"max_queued"`
	QueueTimeout Duration `yaml:"queue_timeout"`
}

// Config is the aggregator's YAML configuration (configs/aggregator.example.yaml).
type Config struct {
	Listen     string `yaml:"listen"`
	Registry   string `yaml:"registry"`
	TokensFile string `yaml:"tokens_file"`
	Timezone   string `yaml:"timezone"`
	// Window is the KPI window series read (the gateways' window tag).
	Window       string    `yaml:"window"`
	DefaultRange Duration  `yaml:"default_range"`
	MaxRange     Duration  `yaml:"max_range"`
	MaxBuckets   int       `yaml:"max_buckets"`
	MaxRows      int       `yaml:"max_rows"`
	MaxPoints    int       `yaml:"max_points"`
	CacheTTL     *Duration `yaml:"cache_ttl"`
	// Settle is how long after a window's end its data counts as complete.
	Settle Duration `yaml:"settle"`
	// DataDir holds the aggregator's own files: the corrections store
	// (corrections.jsonl), created by the first correction.
	DataDir   string          `yaml:"data_dir"`
	Backend   BackendConfig   `yaml:"backend"`
	Rules     rules.Config    `yaml:"rules"`
	WriteBack WriteBackConfig `yaml:"write_back"`
	Server    ServerConfig    `yaml:"server"`

	dir string
}

// Default returns a configuration with every default set.
func Default() Config {
	return Config{
		Listen: "127.0.0.1:9280", Timezone: "Asia/Shanghai", Window: schema.Window1h,
		DefaultRange: Duration{0}, MaxRange: Duration{400 * 24 * time.Hour}, MaxBuckets: 1000,
		MaxRows: 20000, MaxPoints: 200000,
		Settle:    Duration{2 * time.Minute},
		DataDir:   "data",
		Backend:   BackendConfig{Type: "promql", Timeout: Duration{30 * time.Second}, Concurrency: 4},
		Rules:     rules.Default(),
		WriteBack: WriteBackConfig{Interval: Duration{time.Hour}, Period: Duration{30 * 24 * time.Hour}, Timeout: Duration{30 * time.Second}},
		Server:    ServerConfig{MaxHeaderBytes: 16 << 10, MaxInFlight: 4, MaxQueued: 16, QueueTimeout: Duration{5 * time.Second}},
	}
}

// LoadConfig reads, decodes strictly (unknown keys are errors), defaults and validates
// the file; relative paths in it are relative to its directory.
func LoadConfig(path string) (*Config, error) {
	data, err := fsread.ReadRegular(path, fsread.MaxConfig)
	if err != nil {
		return nil, fmt.Errorf("read config %q: %w", path, fsread.Reason(err))
	}
	if err := yamlsyntax.Check(data); err != nil {
		return nil, fileErrors(path, strings.Split(err.Error(), "\n"))
	}
	cfg := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, fileErrors(path, te.Errors)
		}
		return nil, fileErrors(path, []string{err.Error()})
	}
	cfg.dir = filepath.Dir(path)
	if err := cfg.Validate(); err != nil {
		return nil, fileErrors(path, strings.Split(err.Error(), "\n"))
	}
	return &cfg, nil
}

var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// fileErrors prefixes every message with the file (and line): "FILE:LINE: msg".
func fileErrors(path string, msgs []string) error {
	lines := make([]string, len(msgs))
	for i, m := range msgs {
		m = strings.TrimPrefix(m, "yaml: ")
		if mm := lineRE.FindStringSubmatch(m); mm != nil {
			lines[i] = path + ":" + mm[1] + ": " + mm[2]
		} else {
			lines[i] = path + ": " + m
		}
	}
	return errors.New(strings.Join(lines, "\n"))
}

// Path resolves a path from the configuration against its directory.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// WindowSize parses Window.
func (c *Config) WindowSize() (time.Duration, error) { return service.ParseDuration(c.Window) }

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid url %q", s)
	}
	return nil
}

// Validate checks the configuration; errors name the YAML path.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Listen == "" {
		add("listen: required")
	}
	if c.Registry == "" {
		add("registry: required")
	}
	if c.TokensFile == "" {
		add("tokens_file: required")
	}
	if c.DataDir == "" {
		add("data_dir: required")
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		add("timezone: unknown zone %q", c.Timezone)
	}
	if w, err := c.WindowSize(); err != nil || w < time.Second || (24*time.Hour)%w != 0 {
		add("window: %q is not a duration dividing a day", c.Window)
	} else if name := schema.WindowName(w); name != c.Window {
		// The gateways tag their windows with the canonical name only: "60m" would
		// select no data.
		add("window: %q is not a window tag the gateways write: use %q", c.Window, name)
	}
	if c.DefaultRange.D < 0 || c.DefaultRange.D > c.MaxRange.D {
		add("default_range: %s not in [0, max_range] (0: the calendar month to date)", service.FormatDuration(c.DefaultRange.D))
	}
	if c.MaxBuckets < 1 {
		add("max_buckets: %d is less than 1", c.MaxBuckets)
	}
	if c.MaxRows < 1 {
		add("max_rows: %d is less than 1", c.MaxRows)
	}
	if c.MaxPoints < 1 {
		add("max_points: %d is less than 1", c.MaxPoints)
	}
	sv := &c.Server
	if sv.MaxHeaderBytes < httplimit.MinHeadBytes {
		add("server.max_header_bytes: %d is less than %d", sv.MaxHeaderBytes, httplimit.MinHeadBytes)
	}
	if sv.MaxInFlight < 1 {
		add("server.max_in_flight: %d is less than 1", sv.MaxInFlight)
	}
	if sv.MaxQueued < 0 {
		add("server.max_queued: %d is negative", sv.MaxQueued)
	}
	if sv.QueueTimeout.D <= 0 {
		add("server.queue_timeout: %s is not positive", sv.QueueTimeout.D)
	}
	if c.CacheTTL != nil && c.CacheTTL.D < 0 {
		add("cache_ttl: negative")
	}
	if c.Settle.D < 0 || c.Settle.D > 24*time.Hour {
		add("settle: %s not in [0, 1d]", c.Settle.D)
	}
	b := &c.Backend
	switch b.Type {
	case "promql":
	case "influxql":
		if b.Database == "" {
			add("backend.database: required for influxql")
		}
	default:
		add("backend.type: %q is not promql or influxql", b.Type)
	}
	if err := checkURL(b.URL); err != nil {
		add("backend.url: %v", err)
	}
	if b.TokenFile != "" && b.TokenEnv != "" {
		add("backend: token_file and token_env are exclusive")
	}
	if b.Concurrency < 1 {
		add("backend.concurrency: %d is less than 1", b.Concurrency)
	}
	if err := c.Rules.Validate(); err != nil {
		errs = append(errs, err)
	}
	if wb := &c.WriteBack; wb.Enabled {
		if err := checkURL(wb.URL); err != nil {
			add("write_back.url: %v", err)
		}
		if wb.Bucket == "" {
			add("write_back.bucket: required")
		}
		if wb.TokenFile != "" && wb.TokenEnv != "" {
			add("write_back: token_file and token_env are exclusive")
		}
		if wb.Interval.D < time.Second {
			add("write_back.interval: %s is shorter than 1s", wb.Interval.D)
		}
		if wb.Period.D <= 0 || wb.Period.D > c.MaxRange.D {
			add("write_back.period: %s not in (0, max_range]", service.FormatDuration(wb.Period.D))
		}
	}
	return errors.Join(errs...)
}

// secret reads a token from a file (trimmed) or an environment variable.
func secret(file, env string) (string, error) {
	switch {
	case file != "":
		b, err := fsread.ReadRegular(file, fsread.MaxSecret)
		if err != nil {
			return "", fmt.Errorf("read token file %q: %w", file, fsread.Reason(err))
		}
		return strings.TrimSpace(string(b)), nil
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("token environment variable %q is not set", env)
		}
		return v, nil
	}
	return "", nil
}

// CorrectionsPath is the corrections store's file in the data directory.
func (c *Config) CorrectionsPath() string {
	return filepath.Join(c.Path(c.DataDir), corrections.FileName)
}

// LoadRegistry loads the configured registry.
func (c *Config) LoadRegistry() (*registry.Registry, error) { return registry.Load(c.Path(c.Registry)) }
