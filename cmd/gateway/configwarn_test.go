package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ganlink/ganlink/internal/brokenconfig"
)

// TestValidateWarnsOpenSecretFile: `gateway validate` accepts a configuration whose
// password file others can read, and warns once on stderr, as FILE:LINE: warning:
// path: message, with the chmod to run.
func TestValidateWarnsOpenSecretFile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "mqtt.pass")
	if err := os.WriteFile(secret, []byte("pw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(secret, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ws.yaml")
	yml := strings.Replace(brokenconfig.Base, `{name: broker, broker: "tcp://127.0.0.1:1883"}`,
		fmt.Sprintf(`{name: broker, broker: "tcp://127.0.0.1:1883", username: u, password_file: %s}`, secret), 1)
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"validate", path}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want := fmt.Sprintf("%s:6: warning: sources.mqtt[0].password_file: secret file %q is readable by group or others (mode 0644): run chmod 600 %s\n",
		path, secret, secret)
	if got := stderr.String(); !strings.HasPrefix(got, want) || strings.Count(got, "password_file") != 1 {
		t.Fatalf("stderr:\n%s\nwant first:\n%s", got, want)
	}
}
