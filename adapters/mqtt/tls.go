package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"

	"github.com/ganlink/ganlink/internal/fsread"
)

// TLSConfig configures TLS to the broker. It applies to ssl://, tls:// and mqtts://
// brokers (default port 8883) and must stay empty for tcp:// and mqtt:// ones.
type TLSConfig struct {
	// CAFile is a PEM file of the certificate authorities the broker's certificate must
	// chain to; empty means the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate and its private key (PEM), for
	// brokers that authenticate clients by certificate; both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name the broker's certificate must carry; default the broker
	// URL's host (a DNS name or an IP address).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any broker certificate. Anyone on the network path can
	// then impersonate the broker and read the credentials: for a first test only. The
	// source logs a warning at start and on every reconnect.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

func (t *TLSConfig) isZero() bool { return *t == TLSConfig{} }

// isTLSScheme reports whether a broker URL scheme selects TLS.
func isTLSScheme(scheme string) bool { return scheme == "ssl" || scheme == "tls" || scheme == "mqtts" }

// buildTLS loads the files of c.TLS and returns the client TLS configuration, or nil for
// a plain broker. Errors name the field and the file.
func buildTLS(c *Config) (*tls.Config, error) {
	u, err := url.Parse(c.Broker)
	if err != nil || !isTLSScheme(u.Scheme) {
		return nil, nil
	}
	t := &c.TLS
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // opt-in, warned about on every connect
	}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	if t.CAFile != "" {
		pem, err := readPEM(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: no PEM certificate in %q", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		certPEM, cerr := readPEM(t.CertFile)
		keyPEM, kerr := readPEM(t.KeyFile)
		if cerr != nil || kerr != nil {
			var errs []error
			if cerr != nil {
				errs = append(errs, fmt.Errorf("tls.cert_file: %w", cerr))
			}
			if kerr != nil {
				errs = append(errs, fmt.Errorf("tls.key_file: %w", kerr))
			}
			return nil, errors.Join(errs...)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file: load certificate %q with key %q: %w", t.CertFile, t.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// readPEM reads a PEM file: a regular file of at most fsread.MaxPEM bytes.
func readPEM(path string) ([]byte, error) {
	b, err := fsread.ReadRegular(path, fsread.MaxPEM)
	if err != nil {
		return nil, fmt.Errorf("read %q: %w", path, fsread.Reason(err))
	}
	return b, nil
}

// redactBroker hides a password in a broker URL for messages, also in one that does
// not parse.
func redactBroker(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return userinfoRE.ReplaceAllString(s, "://xxxxx@")
}

var userinfoRE = regexp.MustCompile(`://[^/@]*@`)

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
