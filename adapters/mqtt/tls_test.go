package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/ganlink/ganlink/internal/testutil"
)

// tlsPublisher connects a QoS 1 publisher to a TLS broker.
func tlsPublisher(t *testing.T, broker, caFile, user, pass, certFile, keyFile string) *publisher {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	o := paho.NewClientOptions().AddBroker(broker).SetTLSConfig(tc).SetUsername(user).SetPassword(pass).
		SetClientID(fmt.Sprintf("test-pub-%d", testClientSeq.Add(1))).
		SetCleanSession(true).SetAutoReconnect(false).SetProtocolVersion(4)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect publisher: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(250) })
	return &publisher{t: t, c: c}
}

// runSource runs src in the background until the test ends.
func runSource(t *testing.T, src *Source, emit point.EmitFunc) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx, emit) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// firstDown waits for the source's first lost or failed session and returns its error.
func firstDown(t *testing.T, rec *adaptertest.Recorder) string {
	t.Helper()
	var got string
	testutil.WaitFor(t, 10*time.Second, "state down", func() bool {
		for _, s := range rec.StateStrings() {
			if rest, ok := strings.CutPrefix(s, "down: "); ok {
				got = rest
				return true
			}
		}
		return false
	})
	return got
}

// resetRE matches a connection reset: which read or write of the client meets the
// broker's close depends on timing.
var resetRE = regexp.MustCompile(`(read|write) tcp [0-9.:]+->[0-9.:]+: (read|write): connection reset by peer`)

func normalizeReset(s string) string { return resetRE.ReplaceAllString(s, "connection reset by peer") }

// closedAfterHandshake lists the errors of a connection the broker closes right after
// the TLS handshake: an alert, or a reset or end of stream when the alert is lost
// (TLS 1.3 clients learn of a refused certificate only after the handshake, and the
// broker's close races the client's first write).
func closedAfterHandshake(prefix, alert string) string {
	return prefix + alert + "\n" + prefix + "connection reset by peer\n" + prefix + "EOF"
}

// tlsCase runs a source against a TLS broker and checks that it delivers a message
// (want == "") or that its first session fails with the error want (or one of its
// lines: see closedAfterHandshake).
func tlsCase(t *testing.T, cfg Config, want string, pub func() *publisher) {
	t.Helper()
	rec := &adaptertest.Recorder{}
	out := &sink{}
	r := start(t, cfg, rec, out.emit)
	if want != "" {
		if got := normalizeReset(firstDown(t, rec)); !slices.Contains(strings.Split(want, "\n"), got) {
			t.Fatalf("error:\n got %q\nwant %q", got, want)
		}
		if slices.Contains(rec.StateNames(), "up") {
			t.Fatal("source came up")
		}
		r.stop(t)
		return
	}
	waitUp(t, rec, 1)
	pub().publish("meters/e1", `{"ts":1700000000123,"data":{"kwh":1.5}}`)
	testutil.WaitFor(t, 5*time.Second, "1 point", func() bool { return out.len() == 1 })
	if got, want := out.got()[0], "energy_meter,device=e1,kind=energy_meter device=e1 energy_kwh_total=1.5 1700000000123000000"; got != want {
		t.Fatalf("point %q, want %q", got, want)
	}
	r.stop(t)
}

func TestTLSWithPassword(t *testing.T) {
	const pass = "Corr3ct-Horse-Battery"
	m := testsrv.StartMosquittoTLS(t, testsrv.MosquittoTLSOptions{Users: map[string]string{"gw": pass, "meter": "m3ter-pw"}})
	other := testsrv.NewCA(t, "some other CA")
	port := m.Port
	tests := []struct {
		name   string
		modify func(c *Config)
		want   string
	}{
		{"ssl and IP address", func(c *Config) {}, ""},
		{"tls and host name", func(c *Config) { c.Broker = fmt.Sprintf("tls://localhost:%d", port) }, ""},
		{"mqtts with server name override", func(c *Config) {
			c.Broker = fmt.Sprintf("mqtts://127.0.0.1:%d", port)
			c.TLS.ServerName = "localhost"
		}, ""},
		{"wrong server name", func(c *Config) { c.TLS.ServerName = "broker.example" },
			fmt.Sprintf(`connect broker "ssl://127.0.0.1:%d": tls handshake with "127.0.0.1:%d": tls: failed to verify certificate: x509: certificate is valid for localhost, not broker.example`, port, port)},
		{"wrong CA", func(c *Config) { c.TLS.CAFile = other.CertFile },
			fmt.Sprintf(`connect broker "ssl://127.0.0.1:%d": tls handshake with "127.0.0.1:%d": tls: failed to verify certificate: x509: certificate signed by unknown authority`, port, port)},
		{"system roots", func(c *Config) { c.TLS.CAFile = "" },
			fmt.Sprintf(`connect broker "ssl://127.0.0.1:%d": tls handshake with "127.0.0.1:%d": tls: failed to verify certificate: x509: certificate signed by unknown authority`, port, port)},
		{"wrong password", func(c *Config) { c.Password = "Wr0ng-Passw0rd-42" },
			fmt.Sprintf(`connect broker "ssl://127.0.0.1:%d": login refused for user "gw" (check username and password): not Authorized`, port)},
		{"unknown user", func(c *Config) { c.Username = "nobody" },
			fmt.Sprintf(`connect broker "ssl://127.0.0.1:%d": login refused for user "nobody" (check username and password): not Authorized`, port)},
		{"anonymous", func(c *Config) { c.Username, c.Password = "", "" },
			fmt.Sprintf(`connect broker "ssl://127.0.0.1:%d": login refused for user (anonymous) (check username and password): not Authorized`, port)},
		{"plain MQTT to the TLS port", func(c *Config) { c.Broker = fmt.Sprintf("tcp://127.0.0.1:%d", port); c.TLS = TLSConfig{} },
			fmt.Sprintf(`connect broker "tcp://127.0.0.1:%d": connection reset by peer`, port) + "\n" +
				fmt.Sprintf(`connect broker "tcp://127.0.0.1:%d": EOF`, port)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(m.URL)
			cfg.Username, cfg.Password = "gw", pass
			cfg.TLS = TLSConfig{CAFile: m.CA.CertFile}
			cfg.ReconnectMax = 200 * time.Millisecond
			tt.modify(&cfg)
			tlsCase(t, cfg, tt.want, func() *publisher { return tlsPublisher(t, m.URL, m.CA.CertFile, "meter", "m3ter-pw", "", "") })
		})
	}
}

func TestTLSClientCertificate(t *testing.T) {
	m := testsrv.StartMosquittoTLS(t, testsrv.MosquittoTLSOptions{RequireCertificate: true, UseIdentityAsUsername: true})
	cert, key := m.CA.IssueClient(t, "gateway-ws1")
	pubCert, pubKey := m.CA.IssueClient(t, "meter-publisher")
	other := testsrv.NewCA(t, "some other CA")
	otherCert, otherKey := other.IssueClient(t, "gateway-ws1")
	port := m.Port
	tests := []struct {
		name   string
		modify func(c *Config)
		want   string
	}{
		{"certificate from the broker's CA", func(c *Config) {}, ""},
		{"no certificate", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = "", "" },
			closedAfterHandshake(fmt.Sprintf(`connect broker "ssl://127.0.0.1:%d": the broker asked for a client certificate and none is configured (tls.cert_file, tls.key_file): `, port),
				"remote error: tls: certificate required")},
		{"certificate from another CA", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = otherCert, otherKey },
			closedAfterHandshake(fmt.Sprintf(`connect broker "ssl://127.0.0.1:%d": `, port), "remote error: tls: unknown certificate authority")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(m.URL)
			cfg.TLS = TLSConfig{CAFile: m.CA.CertFile, CertFile: cert, KeyFile: key}
			cfg.ReconnectMax = 200 * time.Millisecond
			tt.modify(&cfg)
			tlsCase(t, cfg, tt.want, func() *publisher { return tlsPublisher(t, m.URL, m.CA.CertFile, "", "", pubCert, pubKey) })
		})
	}
}

func TestTLSInsecureSkipVerifyWarnsOnEveryConnect(t *testing.T) {
	m := testsrv.StartMosquittoTLS(t, testsrv.MosquittoTLSOptions{Users: map[string]string{"gw": "pw-1234"}})
	var logs testutil.LogBuffer
	cfg := baseConfig(m.URL)
	cfg.Username, cfg.Password = "gw", "pw-1234"
	cfg.TLS = TLSConfig{InsecureSkipVerify: true} // no CA: the broker's certificate cannot be verified
	cfg.ReconnectMax = 200 * time.Millisecond
	src, err := New(cfg, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	rec := &adaptertest.Recorder{}
	src.obs = rec
	r := runSource(t, src, (&sink{}).emit)
	waitUp(t, rec, 1)
	m.Stop()
	m.Start()
	waitUp(t, rec, 2)
	r.stop(t)
	warnings := strings.Count(logs.String(), "level=WARN msg=\"INSECURE: the broker's TLS certificate is NOT verified (tls.insecure_skip_verify);")
	connects := 0
	for _, s := range rec.StateNames() {
		if s == "connecting" {
			connects++
		}
	}
	if connects < 2 || warnings != connects {
		t.Fatalf("%d warnings for %d connects:\n%s", warnings, connects, logs.String())
	}
	if strings.Contains(logs.String(), "pw-1234") {
		t.Fatalf("password in the log:\n%s", logs.String())
	}
}

func TestPlainPasswordWarning(t *testing.T) {
	for _, tt := range []struct {
		broker, pass string
		warn         bool
	}{
		{"tcp://meters.plant.local:1883", "pw", true},
		{"tcp://127.0.0.1:1883", "pw", false},
		{"tcp://localhost:1883", "pw", false},
		{"tcp://meters.plant.local:1883", "", false},
		{"ssl://meters.plant.local:8883", "pw", false},
	} {
		var logs testutil.LogBuffer
		cfg := validConfig()
		cfg.Broker, cfg.Username, cfg.Password = tt.broker, "gw", tt.pass
		cfg.ConnectTimeout = 50 * time.Millisecond
		src, err := New(cfg, nil, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = src.Run(ctx, (&sink{}).emit)
		got := strings.Contains(logs.String(), `msg="mqtt password is sent unencrypted: use an ssl:// broker URL with TLS"`)
		if got != tt.warn {
			t.Errorf("%s with password %q: warning %v, want %v:\n%s", tt.broker, tt.pass, got, tt.warn, logs.String())
		}
	}
}

func TestNewTLSFiles(t *testing.T) {
	ca := testsrv.NewCA(t, "test CA")
	cert, key := ca.IssueClient(t, "gw")
	_, otherKey := ca.IssueClient(t, "other")
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	fifo := filepath.Join(dir, "fifo.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.pem")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		tls  TLSConfig
		want string
	}{
		{"all files", TLSConfig{CAFile: ca.CertFile, CertFile: cert, KeyFile: key}, ""},
		{"missing CA file", TLSConfig{CAFile: missing}, fmt.Sprintf(`tls.ca_file: read %q: no such file or directory`, missing)},
		{"CA file without a certificate", TLSConfig{CAFile: garbage}, fmt.Sprintf(`tls.ca_file: no PEM certificate in %q`, garbage)},
		{"CA file is a directory", TLSConfig{CAFile: dir}, fmt.Sprintf(`tls.ca_file: read %q: is a directory, not a regular file`, dir)},
		{"CA file is a FIFO", TLSConfig{CAFile: fifo}, fmt.Sprintf(`tls.ca_file: read %q: is a named pipe (FIFO), not a regular file`, fifo)},
		{"key is a link to /dev/zero", TLSConfig{CertFile: cert, KeyFile: zero}, fmt.Sprintf(`tls.key_file: read %q: is a character device, not a regular file`, zero)},
		{"missing certificate", TLSConfig{CertFile: missing, KeyFile: key}, fmt.Sprintf(`tls.cert_file: read %q: no such file or directory`, missing)},
		{"missing key", TLSConfig{CertFile: cert, KeyFile: missing}, fmt.Sprintf(`tls.key_file: read %q: no such file or directory`, missing)},
		{"key of another certificate", TLSConfig{CertFile: cert, KeyFile: otherKey},
			fmt.Sprintf(`tls.cert_file: load certificate %q with key %q: tls: private key does not match public key`, cert, otherKey)},
		{"garbage key", TLSConfig{CertFile: cert, KeyFile: garbage},
			fmt.Sprintf(`tls.cert_file: load certificate %q with key %q: tls: failed to find any PEM data in key input`, cert, garbage)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			cfg.Broker = "ssl://127.0.0.1:8883"
			cfg.TLS = tt.tls
			_, err := New(cfg, nil, nil)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if tt.want != "" {
				tt.want = `configure mqtt source "meters": ` + tt.want
			}
			if got != tt.want {
				t.Fatalf("New:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}
