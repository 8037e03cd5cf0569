package influx

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Config configures a Sink. Start from DefaultConfig: the zero value has gzip off.
type Config struct {
	// Name identifies the sink in logs, metrics and errors; "influx" when empty.
	Name string
	// URL is the server's base URL, "http(s)://host:port", optionally with a path prefix
	// for a reverse proxy ("https://proxy/influx").
	URL string
	// Org is the InfluxDB 2.x organisation; InfluxDB 1.8 and VictoriaMetrics ignore it.
	Org string
	// Bucket is the InfluxDB 2.x bucket; for InfluxDB 1.8 "database/retention-policy" or
	// "database" (default retention policy). VictoriaMetrics accepts any value.
	Bucket string
	// Token is sent as "Authorization: Token <token>": an InfluxDB 2.x token,
	// "user:password" for InfluxDB 1.8, empty for no Authorization header. It is a
	// secret: the sink never logs it and removes it from every error it returns.
	Token string
	// Gzip compresses request bodies (Content-Encoding: gzip). DefaultConfig turns it on.
	Gzip bool
	// Timeout bounds one request including reading the response; 30s when zero.
	Timeout time.Duration
	// TLSInsecureSkipVerify disables verification of the server's certificate.
	TLSInsecureSkipVerify bool
}

// DefaultTimeout is the request timeout used when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// DefaultConfig returns a Config with gzip on and the default timeout; URL and Bucket
// must still be set.
func DefaultConfig() Config {
	return Config{Name: "influx", Gzip: true, Timeout: DefaultTimeout}
}

// Validate checks the configuration. Errors name the field as its YAML key
// (`url: invalid url "x"`, `bucket: required`) so the caller can prefix the path. The
// token never appears in an error.
func (c *Config) Validate() error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("url: invalid url %q", redactURL(c.URL))
	}
	if u.User != nil {
		return fmt.Errorf("url: invalid url %q: credentials belong in token", redactURL(c.URL))
	}
	if c.Bucket == "" {
		return errors.New("bucket: required")
	}
	for i := 0; i < len(c.Token); i++ {
		if b := c.Token[i]; b < 0x20 || b == 0x7f {
			return errors.New("token: contains control characters")
		}
	}
	if c.Timeout < 0 {
		return fmt.Errorf("timeout: must not be negative, got %s", c.Timeout)
	}
	return nil
}

// redactURL hides a password in a URL, also in one that does not parse.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		if _, hasPass := u.User.Password(); hasPass {
			return u.Redacted()
		}
		return s
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	host := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		host = rest[:i]
	}
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		user, _, hasPass := strings.Cut(host[:at], ":")
		if hasPass {
			return scheme + "://" + user + ":xxxxx" + rest[at:]
		}
	}
	return s
}
