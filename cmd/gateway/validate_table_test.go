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

// TestValidateAndStartRefuseBrokenConfigs runs `gateway validate FILE` and
// `gateway -config FILE` on each broken configuration of internal/brokenconfig (every
// rule of the OPC UA, MQTT and Modbus sections, the references between sources and
// devices and keys of the wrong adapter): both exit 1 and print exactly the expected
// problems, each as FILE:LINE: YAML path: message. gateway/app's
// TestBuildRefusesWhatValidateRefuses shows that Build itself refuses them the same way.
func TestValidateAndStartRefuseBrokenConfigs(t *testing.T) {
	if len(brokenconfig.Cases) < 25 {
		t.Fatalf("%d cases, want at least 25", len(brokenconfig.Cases))
	}
	for i, c := range brokenconfig.Cases {
		t.Run(c.Name, func(t *testing.T) {
			for k, v := range c.Env {
				t.Setenv(k, v)
			}
			path := filepath.Join(t.TempDir(), fmt.Sprintf("case%02d.yaml", i))
			if err := os.WriteFile(path, []byte(c.YAML), 0o600); err != nil {
				t.Fatal(err)
			}
			var want strings.Builder
			for _, p := range c.Want {
				if !strings.HasPrefix(p, "line ") {
					fmt.Fprintf(&want, "%s: %s\n", path, p)
					continue
				}
				line, rest, _ := strings.Cut(strings.TrimPrefix(p, "line "), ": ")
				fmt.Fprintf(&want, "%s:%s: %s\n", path, line, rest)
			}
			fmt.Fprintf(&want, "%d error(s)\n", len(c.Want))
			for _, args := range [][]string{{"validate", path}, {"-config", path}} {
				var stdout, stderr bytes.Buffer
				if code := run(args, &stdout, &stderr); code != 1 {
					t.Fatalf("gateway %s: exit %d, want 1\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout.String(), stderr.String())
				}
				if stderr.String() != want.String() {
					t.Fatalf("gateway %s:\n got  %q\n want %q", strings.Join(args, " "), stderr.String(), want.String())
				}
			}
		})
	}
}
