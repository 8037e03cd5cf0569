package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
