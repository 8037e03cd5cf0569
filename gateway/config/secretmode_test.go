package config_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecretFileModeWarning: a secret file that group or others can read loads, with
// one warning per file naming it and the chmod to run; a file only its owner reads
// gives none.
func TestSecretFileModeWarning(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "mqtt pass") // a space: the chmod is quoted for the shell
	closed := filepath.Join(dir, "token")
	for f, mode := range map[string]os.FileMode{open: 0o640, closed: 0o600} {
		if err := os.WriteFile(f, []byte("s3cret\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f, mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	y := strings.Replace(base, `broker: "tcp://127.0.0.1:1883"}`,
		fmt.Sprintf(`broker: "tcp://127.0.0.1:1883", username: u, password_file: %q}`, open), 1) +
		fmt.Sprintf("admin: {token_file: %q, basic_auth: null}\n", closed)
	// The same open file twice: one warning.
	y = strings.Replace(y, `endpoint: "opc.tcp://127.0.0.1:4840"}`,
		fmt.Sprintf(`endpoint: "opc.tcp://127.0.0.1:4840", username: u, password_file: %q}`, open), 1)
	cfg, err := load([]byte(y), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`line 4: sources.opcua[0].password_file: secret file %q is readable by group or others (mode 0640): run chmod 600 '%s'`, open, open)
	if got := cfg.Warnings.Error(); got != want {
		t.Fatalf("warnings:\n got  %s\n want %s", got, want)
	}
	if err := os.Chmod(open, 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err = load([]byte(y), noEnv); err != nil || len(cfg.Warnings) != 0 {
		t.Fatalf("after chmod 600: %v, warnings %v", err, cfg.Warnings)
	}
}

// TestKeyFileModeWarning: the private key files the adapters read themselves (OPC UA
// user_key_file, MQTT tls.key_file) get the same warning when group or others can read
// them, and none at mode 0600.
func TestKeyFileModeWarning(t *testing.T) {
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "operator"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	write := func(name string, b []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert := write("user.pem", certPEM, 0o644)
	uaKey := write("user.key", keyPEM, 0o644)
	mqttKey := write("client.key", keyPEM, 0o640)
	y := strings.Replace(base, `broker: "tcp://127.0.0.1:1883"}`,
		fmt.Sprintf(`broker: "ssl://127.0.0.1:8883", tls: {cert_file: %q, key_file: %q}}`, cert, mqttKey), 1)
	y = strings.Replace(y, `endpoint: "opc.tcp://127.0.0.1:4840"}`,
		fmt.Sprintf(`endpoint: "opc.tcp://127.0.0.1:4840", user_cert_file: %q, user_key_file: %q}`, cert, uaKey), 1)
	cfg, err := load([]byte(y), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("line 4: sources.opcua[0].user_key_file: secret file %q is readable by group or others (mode 0644): run chmod 600 %s\n"+
		"line 6: sources.mqtt[0].tls.key_file: secret file %q is readable by group or others (mode 0640): run chmod 600 %s", uaKey, uaKey, mqttKey, mqttKey)
	if got := cfg.Warnings.Error(); got != want {
		t.Fatalf("warnings:\n got  %s\n want %s", got, want)
	}
	for _, f := range []string{uaKey, mqttKey} {
		if err := os.Chmod(f, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if cfg, err = load([]byte(y), noEnv); err != nil || len(cfg.Warnings) != 0 {
		t.Fatalf("after chmod 600: %v, warnings %v", err, cfg.Warnings)
	}
}
