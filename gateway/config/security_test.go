package config_test

import (
	"errors"
	"fmt"
	"github.com/ganlink/ganlink/adapters/mqtt"
	"github.com/ganlink/ganlink/gateway/config"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ganlink/ganlink/adapters/opcua/pki"
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
	fifo := filepath.Join(t.TempDir(), "ca.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(t.TempDir(), "key.pem")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, src string
		want      string
	}{
		{"CA file is a FIFO", fmt.Sprintf(`{name: meters, broker: "ssl://h:8883", tls: {ca_file: %s}}`, fifo),
			fmt.Sprintf(`line 6: sources.mqtt[0].tls.ca_file: read %q: is a named pipe (FIFO), not a regular file`, fifo)},
		{"key file linked to /dev/zero", fmt.Sprintf(`{name: meters, broker: "ssl://h:8883", tls: {cert_file: %s, key_file: %s}}`, cert, zero),
			fmt.Sprintf(`line 6: sources.mqtt[0].tls.key_file: read %q: is a character device, not a regular file`, zero)},
		{"password file is a FIFO", `{name: meters, broker: "ssl://h:8883", username: u, password_file: ` + fifo + `}`,
			fmt.Sprintf(`line 6: sources.mqtt[0].password_file: read secret file %q: is a named pipe (FIFO), not a regular file`, fifo)},
		{"TLS with every file", fmt.Sprintf(`{name: meters, broker: "ssl://127.0.0.1:8883", username: gw, password: pw,
        tls: {ca_file: %s, cert_file: %s, key_file: %s, server_name: broker.local}}`, ca.CertFile, cert, key), ""},
		{"tls and mqtts schemes", `{name: meters, broker: "mqtts://broker.local", tls: {insecure_skip_verify: true}}`, ""},
		{"no tls section for TLS", `{name: meters, broker: "tls://broker.local:8883"}`, ""},
		{"missing CA file", fmt.Sprintf(`{name: meters, broker: "ssl://h:8883", tls: {ca_file: %s}}`, missing),
			fmt.Sprintf(`line 6: sources.mqtt[0].tls.ca_file: read %q: no such file or directory`, missing)},
		{"CA file without a certificate", fmt.Sprintf(`{name: meters, broker: "ssl://h:8883", tls: {ca_file: %s}}`, garbage),
			fmt.Sprintf(`line 6: sources.mqtt[0].tls.ca_file: no PEM certificate in %q`, garbage)},
		{"certificate without key", fmt.Sprintf(`{name: meters, broker: "ssl://h:8883", tls: {cert_file: %s}}`, cert),
			`line 6: sources.mqtt[0].tls.key_file: required with tls.cert_file`},
		{"key without certificate", fmt.Sprintf(`{name: meters, broker: "ssl://h:8883", tls: {key_file: %s}}`, key),
			`line 6: sources.mqtt[0].tls.cert_file: required with tls.key_file`},
		{"missing certificate and key", fmt.Sprintf(`{name: meters, broker: "ssl://h:8883", tls: {cert_file: %s, key_file: %s}}`, missing, missing),
			fmt.Sprintf("line 6: sources.mqtt[0].tls.cert_file: read %q: no such file or directory\nline 6: sources.mqtt[0].tls.key_file: read %q: no such file or directory", missing, missing)},
		{"key of another certificate", fmt.Sprintf(`{name: meters, broker: "ssl://h:8883", tls: {cert_file: %s, key_file: %s}}`, cert, otherKey),
			fmt.Sprintf(`line 6: sources.mqtt[0].tls.cert_file: load certificate %q with key %q: tls: private key does not match public key`, cert, otherKey)},
		{"tls for a plain broker", `{name: meters, broker: "tcp://h:1883", tls: {server_name: h}}`,
			`line 6: sources.mqtt[0].tls: set for the plain broker "tcp://h:1883": use ssl://, tls:// or mqtts://`},
		{"websocket broker", `{name: meters, broker: "ws://h:8080"}`,
			`line 6: sources.mqtt[0].broker: invalid broker "ws://h:8080": want tcp://host:port, or ssl://host:port for TLS`},
		{"credentials in the broker URL", `{name: meters, broker: "ssl://gw:Url-S3cret@h:8883"}`,
			`line 6: sources.mqtt[0].broker: invalid broker "ssl://gw:xxxxx@h:8883": credentials in the URL; use username and password`},
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
			cfg, err := load([]byte(withMQTT(tc.src)), noEnv)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
			if err == nil && strings.Contains(tc.src, "server_name") {
				want := mqtt.TLSConfig{CAFile: ca.CertFile, CertFile: cert, KeyFile: key, ServerName: "broker.local"}
				if mqttSource(cfg).TLS != want {
					t.Fatalf("tls decoded as %+v", mqttSource(cfg).TLS)
				}
			}
		})
	}
}

func TestAdminAuth(t *testing.T) {
	pwFile := writeTemp(t, "admin.pw", "Adm1n-Passw0rd\n")
	tokenFile := writeTemp(t, "admin.token", "glk_0123456789abcdef\n")
	emptyFile := writeTemp(t, "empty", "")
	fifo := filepath.Join(t.TempDir(), "pw.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(t.TempDir(), "token")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	huge := writeTemp(t, "huge", strings.Repeat("x", 64<<10+1))
	env := func(k string) (string, bool) {
		if k == "ADMIN_TOKEN" {
			return "env-token-value", true
		}
		return "", false
	}
	tests := []struct {
		name, admin string
		want        string
		check       func(a config.Admin) bool
	}{
		{"no auth", `admin: {listen: "127.0.0.1:0"}`, "", func(a config.Admin) bool { return a.BasicAuth == nil && a.Token == "" && !a.ProtectMetrics }},
		{"basic auth from a file", `admin: {basic_auth: {username: ops, password_file: ` + pwFile + `}}`, "",
			func(a config.Admin) bool {
				return a.BasicAuth.Username == "ops" && a.BasicAuth.Password.Reveal() == "Adm1n-Passw0rd"
			}},
		{"token from a file, metrics protected", `admin: {token_file: ` + tokenFile + `, protect_metrics: true}`, "",
			func(a config.Admin) bool { return a.Token.Reveal() == "glk_0123456789abcdef" && a.ProtectMetrics }},
		{"token from the environment", `admin: {token: "${ADMIN_TOKEN}"}`, "",
			func(a config.Admin) bool { return a.Token.Reveal() == "env-token-value" }},
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
			`line 16: admin.token_file: read secret file "/dev/zero": is a character device, not a regular file`, nil},
		{"secret file linked to /dev/zero", `admin: {token_file: ` + zero + `}`,
			fmt.Sprintf(`line 16: admin.token_file: read secret file %q: is a character device, not a regular file`, zero), nil},
		{"secret file is a FIFO", `admin: {basic_auth: {username: ops, password_file: ` + fifo + `}}`,
			fmt.Sprintf(`line 16: admin.basic_auth.password_file: read secret file %q: is a named pipe (FIFO), not a regular file`, fifo), nil},
		{"secret file over 64 KiB", `admin: {token_file: ` + huge + `}`,
			fmt.Sprintf(`line 16: admin.token_file: read secret file %q: larger than 64 KiB`, huge), nil},
		{"users", `admin: {users: [{name: li, role: engineer, password_file: ` + pwFile + `}, {name: wang, role: viewer, password: w}]}`, "",
			func(a config.Admin) bool {
				return len(a.Users) == 2 && a.Users[0].Name == "li" && a.Users[0].Role == config.RoleEngineer &&
					a.Users[0].Password.Reveal() == "Adm1n-Passw0rd" && a.Users[1].Role == config.RoleViewer &&
					a.Users[1].Password.Reveal() == "w" && a.HasCredentials()
			}},
		{"users protect metrics", `admin: {users: [{name: li, role: viewer, password: x}], protect_metrics: true}`, "",
			func(a config.Admin) bool { return a.ProtectMetrics }},
		{"user without a name", `admin: {users: [{role: viewer, password: x}]}`, `line 16: admin.users[0].name: required`, nil},
		{"user without a role", `admin: {users: [{name: li, password: x}]}`, `line 16: admin.users[0].role: required`, nil},
		{"user with an unknown role", `admin: {users: [{name: li, role: admin, password: x}]}`,
			`line 16: admin.users[0].role: unknown role "admin": want viewer or engineer`, nil},
		{"user without a password", `admin: {users: [{name: li, role: viewer}]}`,
			`line 16: admin.users[0].password: required: set password_file or password`, nil},
		{"user with both passwords", `admin: {users: [{name: li, role: viewer, password: x, password_file: ` + pwFile + `}]}`,
			`line 16: admin.users[0].password: set either the value or the _file key, not both`, nil},
		{"user password file missing", `admin: {users: [{name: li, role: viewer, password_file: /nonexistent/pw}]}`,
			`line 16: admin.users[0].password_file: read secret file "/nonexistent/pw": no such file or directory`, nil},
		{"user name with a colon", `admin: {users: [{name: "l:i", role: viewer, password: x}]}`,
			`line 16: admin.users[0].name: invalid user name "l:i": no ':' or line breaks`, nil},
		{"two users of one name", `admin: {users: [{name: li, role: viewer, password: x}, {name: li, role: engineer, password: y}]}`,
			`line 16: admin.users[1].name: user "li" is also admin.users[0]`, nil},
		{"a user named like basic_auth", `admin: {basic_auth: {username: li, password: x}, users: [{name: li, role: viewer, password: y}]}`,
			`line 16: admin.users[0].name: user "li" is also admin.basic_auth.username: one name, one password`, nil},
		{"protect metrics without auth", `admin: {protect_metrics: true}`,
			`line 16: admin.protect_metrics: needs basic_auth, a token or users`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := load([]byte(base+tc.admin+"\n"), env)
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
	_, err := load([]byte(y), noEnv)
	want := `line 4: sources.opcua[0].endpoint: invalid endpoint "http://op:xxxxx@h:4840": want opc.tcp://host:port[/path]` + "\n" +
		`line 6: sources.mqtt[0].broker: invalid broker "tcp://m:xxxxx@h:1883": credentials in the URL; use username and password` + "\n" +
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
	// Shapes that used to blow the loader up, and non-finite numbers.
	f.Add([]byte("workshop: " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "\n"))
	f.Add([]byte("x: &a " + strings.Repeat("[", 20) + strings.Repeat("]", 20) + "\nworkshop: [*a, *a, *a, *a]\n"))
	f.Add([]byte("x: &a {b: &b [*a]}\n"))
	f.Add([]byte(base + "k1: 1\nk2: 2\nk1: 3\n" + strings.Repeat("k", 4096) + ": 1\n"))
	f.Add([]byte(strings.Replace(base, `      state: {node: "ns=2;s=M1.State"}`, `      state: {node: "ns=2;s=M1.State", scale: .nan, offset: -.inf, map: {A: .nan, B: .inf, A: 1}}`, 1)))
	f.Add([]byte(base + "kpi: {kgce_per_kwh: .nan, power_idle_kw: .inf}\n"))
	env := func(k string) (string, bool) {
		if k == "X" {
			return "360100", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := load(data, env)
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
		var errs config.Errors
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
		{"alias inside its own anchor", "a: &a [a, *a]\nworkshop: *a\n", "line 1: anchor 'a' value contains itself"},
		{"billion laughs", laughs, "document contains excessive aliasing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load([]byte(tc.yaml), noEnv)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
}

// withOPCUA replaces the base configuration's OPC UA source (line 4) with src.
func withOPCUA(src string) string {
	return strings.Replace(base, `    - {name: cnc, endpoint: "opc.tcp://127.0.0.1:4840"}`, "    - "+src, 1)
}

func TestOPCUASecurity(t *testing.T) {
	rsaPair := func() (cert, key string) {
		s := &pki.Store{Dir: t.TempDir()}
		if _, err := s.LoadOrCreate(pki.OwnOptions{ApplicationURI: "urn:user"}); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(s.Dir, pki.OwnCertFile), filepath.Join(s.Dir, pki.OwnKeyFile)
	}
	cert, key := rsaPair()
	_, otherKey := rsaPair()
	_, ecKey := testsrv.NewCA(t, "test CA").IssueClient(t, "operator")
	missing := filepath.Join(t.TempDir(), "missing.pem")
	fifo := filepath.Join(t.TempDir(), "user.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, src          string
		want               string
		policy, mode, user string // decoded values when valid
	}{
		{"user certificate is a FIFO", fmt.Sprintf(`{name: cnc, endpoint: "opc.tcp://h:4840", user_cert_file: %s, user_key_file: %s}`, fifo, key),
			fmt.Sprintf(`line 4: sources.opcua[0].user_cert_file: read %q: is a named pipe (FIFO), not a regular file`, fifo), "", "", ""},
		{"user key is /dev/zero", fmt.Sprintf(`{name: cnc, endpoint: "opc.tcp://h:4840", user_cert_file: %s, user_key_file: /dev/zero}`, cert),
			`line 4: sources.opcua[0].user_cert_file: read "/dev/zero": is a character device, not a regular file`, "", "", ""},
		{"defaults: auto", `{name: cnc, endpoint: "opc.tcp://h:4840"}`, "", "auto", "auto", ""},
		{"None says None", `{name: cnc, endpoint: "opc.tcp://h:4840", security_policy: None}`, "", "None", "None", ""},
		{"policy, mode auto", `{name: cnc, endpoint: "opc.tcp://h:4840", security_policy: Aes256_Sha256_RsaPss}`, "", "Aes256_Sha256_RsaPss", "auto", ""},
		{"every policy", `{name: cnc, endpoint: "opc.tcp://h:4840", security_policy: Aes128_Sha256_RsaOaep, security_mode: Sign}`, "", "Aes128_Sha256_RsaOaep", "Sign", ""},
		{"user certificate", fmt.Sprintf(`{name: cnc, endpoint: "opc.tcp://h:4840", user_cert_file: %s, user_key_file: %s}`, cert, key), "", "auto", "auto", cert},
		{"unknown policy", `{name: cnc, endpoint: "opc.tcp://h:4840", security_policy: Basic512}`,
			`line 4: sources.opcua[0].security_policy: unsupported security policy "Basic512": want auto, None, Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss`, "", "", ""},
		{"deprecated policy", `{name: cnc, endpoint: "opc.tcp://h:4840", security_policy: Basic128Rsa15, security_mode: Sign}`,
			`line 4: sources.opcua[0].security_policy: security policy "Basic128Rsa15" is deprecated (SHA-1) and not supported: want auto, None, Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss`, "", "", ""},
		{"unknown mode", `{name: cnc, endpoint: "opc.tcp://h:4840", security_mode: Encrypt}`,
			`line 4: sources.opcua[0].security_mode: invalid security mode "Encrypt": want auto, None, Sign or SignAndEncrypt`, "", "", ""},
		{"None with Sign", `{name: cnc, endpoint: "opc.tcp://h:4840", security_policy: None, security_mode: Sign}`,
			`line 4: sources.opcua[0].security_mode: security mode "Sign" does not fit security policy "None": None goes with None only`, "", "", ""},
		{"secure policy with mode None", `{name: cnc, endpoint: "opc.tcp://h:4840", security_policy: Basic256Sha256, security_mode: None}`,
			`line 4: sources.opcua[0].security_mode: security mode "None" does not fit security policy "Basic256Sha256": None goes with None only`, "", "", ""},
		{"user certificate without key", fmt.Sprintf(`{name: cnc, endpoint: "opc.tcp://h:4840", user_cert_file: %s}`, cert),
			`line 4: sources.opcua[0].user_key_file: required with user_cert_file`, "", "", ""},
		{"user certificate and user name", fmt.Sprintf(`{name: cnc, endpoint: "opc.tcp://h:4840", username: u, user_cert_file: %s, user_key_file: %s}`, cert, key),
			`line 4: sources.opcua[0].user_cert_file: set together with username: choose one login`, "", "", ""},
		{"user key of another certificate", fmt.Sprintf(`{name: cnc, endpoint: "opc.tcp://h:4840", user_cert_file: %s, user_key_file: %s}`, cert, otherKey),
			fmt.Sprintf(`line 4: sources.opcua[0].user_cert_file: certificate %q does not belong to key %q`, cert, otherKey), "", "", ""},
		{"missing user certificate", fmt.Sprintf(`{name: cnc, endpoint: "opc.tcp://h:4840", user_cert_file: %s, user_key_file: %s}`, missing, key),
			fmt.Sprintf(`line 4: sources.opcua[0].user_cert_file: read %q: no such file or directory`, missing), "", "", ""},
		{"user key is a certificate", fmt.Sprintf(`{name: cnc, endpoint: "opc.tcp://h:4840", user_cert_file: %s, user_key_file: %s}`, cert, cert),
			fmt.Sprintf(`line 4: sources.opcua[0].user_cert_file: no PEM private key in %q`, cert), "", "", ""},
		{"EC user key", fmt.Sprintf(`{name: cnc, endpoint: "opc.tcp://h:4840", user_cert_file: %s, user_key_file: %s}`, cert, ecKey),
			fmt.Sprintf(`line 4: sources.opcua[0].user_cert_file: %q holds an EC key: OPC UA security needs RSA`, ecKey), "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := load([]byte(withOPCUA(tc.src)), noEnv)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
			if err == nil {
				s := opcuaSource(cfg)
				if s.SecurityPolicy != tc.policy || s.SecurityMode != tc.mode || s.UserCertFile != tc.user {
					t.Fatalf("decoded %q %q %q", s.SecurityPolicy, s.SecurityMode, s.UserCertFile)
				}
			}
		})
	}
}

func TestPKIConfig(t *testing.T) {
	cfg, err := load([]byte(base), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PKI.Dir != filepath.Join("ganlink-data", "pki") || cfg.PKI.ApplicationURI != "urn:ganlink:gateway:ws1" || cfg.PKI.KeyBits != 2048 {
		t.Errorf("defaults %+v", cfg.PKI)
	}
	_, err = load([]byte(base+"pki: {dir: /var/lib/ganlink/pki, application_uri: not a uri, key_bits: 1024}\n"), noEnv)
	want := `line 16: pki.key_bits: invalid key size 1024: want 2048, 3072 or 4096
line 16: pki.application_uri: invalid application URI "not a uri": want an absolute URI such as urn:ganlink:gateway:ws1`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}
