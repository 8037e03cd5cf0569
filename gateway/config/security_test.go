package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// withMQTT replaces the base configuration's MQTT source (line 6) with src.
func withMQTT(src string) string {
	return strings.Replace(base, `    - {name: meters, broker: "tcp://127.0.0.1:1883"}`, "    - "+src, 1)
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMQTTTLS(t *testing.T) {
	ca := testsrv.NewCA(t, "test CA")
	cert, key := ca.IssueClient(t, "gw")
	_, otherKey := ca.IssueClient(t, "other")
	garbage := writeTemp(t, "garbage.pem", "not PEM\n")
	missing := filepath.Join(t.TempDir(), "missing.pem")
	empty := writeTemp(t, "empty", "")
	tests := []struct {
		name, src string
		want      string
	}{
		{"TLS with every file", fmt.Sprintf(`{name: meters, broker: "ssl://127.0.0.1:8883", username: gw, password: pw,
        tls: {ca_file: %s, cert_file: %s, key_file: %s, server_name: broker.local}}`, ca.CertFile, cert, key), ""},
		{"tls and mqtts schemes", `{name: meters, broker: "mqtts://broker.local", tls: {insecure_skip_verify: true}}`, ""},
		{"no tls section for TLS", `{name: meters, broker: "tls://broker.local:8883"}`, ""},
		{"missing CA file", fmt.Sprintf(`{name: meters, broker: "ssl://h:8883", tls: {ca_file: %s}}`, missing),
			fmt.Sprintf(`line 6: sources.mqtt[0].tls.ca_file: read %q: no such file or directory`, missing)},
		{"CA file without a certificate", fmt.Sprintf(`{name: meters, broker: "ssl://h:8883", tls: {ca_file: %s}}`, garbage),
			fmt.Sprintf(`line 6: sources.mqtt[0].tls.ca_file: no PEM certificate in %q`, garbage)},
		{"certificate without key", fmt.Sprintf(`{name: meters, broker: "ssl://h:8883", tls: {cert_file: %s}}`, cert),
			`line 6: sources.mqtt[0].tls.key_file: required with cert_file`},
		{"key without certificate", fmt.Sprintf(`{name: meters, broker: "ssl://h:8883", tls: {key_file: %s}}`, key),
			`line 6: sources.mqtt[0].tls.cert_file: required with key_file`},
		{"missing certificate and key", fmt.Sprintf(`{name: meters, broker: "ssl://h:8883", tls: {cert_file: %s, key_file: %s}}`, missing, missing),
			fmt.Sprintf("line 6: sources.mqtt[0].tls.cert_file: read %q: no such file or directory\nline 6: sources.mqtt[0].tls.key_file: read %q: no such file or directory", missing, missing)},
		{"key of another certificate", fmt.Sprintf(`{name: meters, broker: "ssl://h:8883", tls: {cert_file: %s, key_file: %s}}`, cert, otherKey),
			fmt.Sprintf(`line 6: sources.mqtt[0].tls.cert_file: load certificate %q with key %q: tls: private key does not match public key`, cert, otherKey)},
		{"tls for a plain broker", `{name: meters, broker: "tcp://h:1883", tls: {server_name: h}}`,
			`line 6: sources.mqtt[0].tls: set for the plain broker "tcp://h:1883": use ssl://, tls:// or mqtts://`},
		{"websocket broker", `{name: meters, broker: "ws://h:8080"}`,
			`line 6: sources.mqtt[0].broker: invalid broker "ws://h:8080": want tcp://host:port, or ssl://host:port for TLS`},
		{"credentials in the broker URL", `{name: meters, broker: "ssl://gw:Url-S3cret@h:8883"}`,
			`line 6: sources.mqtt[0].broker: invalid broker "ssl://gw:xxxxx@h:8883": credentials in the URL; use username and password_file`},
		{"credentials in a broken broker URL", `{name: meters, broker: "ssl://gw:Url-S3cret@h:88x3"}`,
			`line 6: sources.mqtt[0].broker: invalid broker "ssl://xxxxx@h:88x3": want tcp://host:port, or ssl://host:port for TLS`},
		{"password without user name", `{name: meters, broker: "ssl://h:8883", password: pw}`,
			`line 6: sources.mqtt[0].username: required when a password is set`},
		{"empty password file", `{name: meters, broker: "ssl://h:8883", username: u, password_file: ` + empty + `}`,
			fmt.Sprintf(`line 6: sources.mqtt[0].password_file: secret file %q is empty`, empty)},
		{"unknown tls key", `{name: meters, broker: "ssl://h:8883", tls: {ca: x}}`,
			`line 6: sources.mqtt[0].tls.ca: unknown key`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load([]byte(withMQTT(tc.src)), noEnv)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
			if err == nil && strings.Contains(tc.src, "server_name") {
				want := MQTTTLS{CAFile: ca.CertFile, CertFile: cert, KeyFile: key, ServerName: "broker.local"}
				if cfg.Sources.MQTT[0].TLS != want {
					t.Fatalf("tls decoded as %+v", cfg.Sources.MQTT[0].TLS)
				}
			}
		})
	}
}

func TestAdminAuth(t *testing.T) {
	pwFile := writeTemp(t, "admin.pw", "Adm1n-Passw0rd\n")
	tokenFile := writeTemp(t, "admin.token", "glk_0123456789abcdef\n")
	emptyFile := writeTemp(t, "empty", "")
	env := func(k string) (string, bool) {
		if k == "ADMIN_TOKEN" {
			return "env-token-value", true
		}
		return "", false
	}
	tests := []struct {
		name, admin string
		want        string
		check       func(a Admin) bool
	}{
		{"no auth", `admin: {listen: "127.0.0.1:0"}`, "", func(a Admin) bool { return a.BasicAuth == nil && a.Token == "" && !a.ProtectMetrics }},
		{"basic auth from a file", `admin: {basic_auth: {username: ops, password_file: ` + pwFile + `}}`, "",
			func(a Admin) bool {
				return a.BasicAuth.Username == "ops" && a.BasicAuth.Password.Reveal() == "Adm1n-Passw0rd"
			}},
		{"token from a file, metrics protected", `admin: {token_file: ` + tokenFile + `, protect_metrics: true}`, "",
			func(a Admin) bool { return a.Token.Reveal() == "glk_0123456789abcdef" && a.ProtectMetrics }},
		{"token from the environment", `admin: {token: "${ADMIN_TOKEN}"}`, "",
			func(a Admin) bool { return a.Token.Reveal() == "env-token-value" }},
		{"basic auth without password", `admin: {basic_auth: {username: ops}}`,
			`line 16: admin.basic_auth.password: required: set password_file or password`, nil},
		{"basic auth without user", `admin: {basic_auth: {password_file: ` + pwFile + `}}`,
			`line 16: admin.basic_auth.username: required`, nil},
		{"user name with a colon", `admin: {basic_auth: {username: "a:b", password: x}}`,
			`line 16: admin.basic_auth.username: invalid user name "a:b": no ':' or line breaks`, nil},
		{"both methods", `admin: {basic_auth: {username: ops, password: x}, token: y}`,
			`line 16: admin.token: set either basic_auth or a token, not both`, nil},
		{"token and token file", `admin: {token: y, token_file: ` + tokenFile + `}`,
			`line 16: admin.token: set either the value or the _file key, not both`, nil},
		{"empty token file", `admin: {token_file: ` + emptyFile + `}`,
			fmt.Sprintf(`line 16: admin.token_file: secret file %q is empty`, emptyFile), nil},
		{"missing password file", `admin: {basic_auth: {username: ops, password_file: /nonexistent/pw}}`,
			`line 16: admin.basic_auth.password_file: read secret file "/nonexistent/pw": no such file or directory`, nil},
		{"endless secret file", `admin: {token_file: /dev/zero}`,
			`line 16: admin.token_file: read secret file "/dev/zero": larger than 65536 bytes`, nil},
		{"protect metrics without auth", `admin: {protect_metrics: true}`,
			`line 16: admin.protect_metrics: needs basic_auth or a token`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load([]byte(base+tc.admin+"\n"), env)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
			if tc.check != nil && !tc.check(cfg.Admin) {
				t.Fatalf("decoded %+v", cfg.Admin)
			}
		})
	}
}

// TestURLsRedactedInErrors checks that a password in a URL never reaches an error.
func TestURLsRedactedInErrors(t *testing.T) {
	const secret = "Ur1-Passw0rd"
	y := strings.Replace(base, `endpoint: "opc.tcp://127.0.0.1:4840"`, `endpoint: "http://op:`+secret+`@h:4840"`, 1)
	y = strings.Replace(y, `url: "http://127.0.0.1:8428"`, `url: "ftp://w:`+secret+`@h:8428"`, 1)
	y = strings.Replace(y, `broker: "tcp://127.0.0.1:1883"`, `broker: "tcp://m:`+secret+`@h:1883"`, 1)
	_, err := Load([]byte(y), noEnv)
	want := `line 4: sources.opcua[0].endpoint: invalid endpoint "http://op:xxxxx@h:4840": want opc.tcp://host:port[/path]` + "\n" +
		`line 6: sources.mqtt[0].broker: invalid broker "tcp://m:xxxxx@h:1883": credentials in the URL; use username and password_file` + "\n" +
		`line 9: sinks.influx[0].url: invalid url "ftp://w:xxxxx@h:8428": want http(s)://host:port`
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

// FuzzLoad feeds arbitrary bytes to Load: it never panics, and every error carries a
// message.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(base))
	if b, err := os.ReadFile(filepath.Join("..", "..", "configs", "gateway.example.yaml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(base + "admin: {basic_auth: {username: ops, password: x}, protect_metrics: true}\n"))
	f.Add([]byte(withMQTT(`{name: meters, broker: "ssl://h", tls: {ca_file: /nonexistent, insecure_skip_verify: true}}`)))
	f.Add([]byte("a: &a [1, 2]\nb: [*a, *a, *a]\nworkshop: *a\n"))
	f.Add([]byte("workshop: {region: ${X}}\ndevices: [{id: m1, signals: {s: {scale: 0}}}]\n"))
	f.Add([]byte("queue: {max_bytes: 1e999GiB, fsync: -1s}\nkpi: {windows: [0s, 7s, x]}\n"))
	f.Add([]byte("\xff\xfe"))
	f.Add([]byte("- [\n"))
	env := func(k string) (string, bool) {
		if k == "X" {
			return "360100", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Load(data, env)
		if err == nil {
			if cfg == nil {
				t.Fatal("nil configuration without an error")
			}
			return
		}
		if cfg != nil {
			t.Fatal("configuration and error")
		}
		if err.Error() == "" {
			t.Fatal("error without a message")
		}
		var errs Errors
		if errors.As(err, &errs) {
			if len(errs) == 0 {
				t.Fatal("empty Errors")
			}
			for _, p := range errs {
				if p.Msg == "" {
					t.Fatalf("problem without a message: %+v", p)
				}
			}
		}
	})
}

// TestHostileYAML checks documents whose aliases would make the loader loop or explode.
func TestHostileYAML(t *testing.T) {
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for c := 'b'; c <= 'i'; c++ {
		p := string(c - 1)
		laughs += fmt.Sprintf("%c: &%c [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n", c, c, p, p, p, p, p, p, p, p, p, p)
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"alias inside its own anchor", "a: &a [a, *a]\nworkshop: *a\n", "anchor 'a' value contains itself"},
		{"billion laughs", laughs, "document contains excessive aliasing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(tc.yaml), noEnv)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
}
