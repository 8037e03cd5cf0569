//go:build !nodemo

package main

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoDemoBuild builds the gateway with -tags nodemo (the edge-box build) and checks
// that it starts, refuses -demo and the demo's flags with a clear message and exit code
// 2, and links neither the demo, the OPC UA simulator's server nor the embedded broker.
func TestNoDemoBuild(t *testing.T) {
	if !demoAvailable {
		t.Fatal("the test binary itself must be a default build (with the demo)")
	}
	bin := filepath.Join(t.TempDir(), "gateway-nodemo")
	if out, err := exec.Command("go", "build", "-tags", "nodemo", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags nodemo: %v\n%s", err, out)
	}
	const msg = "-demo is not available: this gateway was built with -tags nodemo (the edge-box build, without the simulator and the embedded MQTT broker); run the demo from a default build, e.g. go run ./cmd/gateway -demo"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-demo"}, "gateway: " + msg + "\n"},
		{[]string{"-demo", "-listen", "127.0.0.1:0"}, "gateway: " + msg + "\n"},
		{[]string{"-data-dir", "x"}, "gateway: -data-dir needs -demo, which " + strings.TrimPrefix(msg, "-demo ") + "\n"},
	} {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, tc.args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v: %v, want exit code 2", tc.args, err)
		}
		if stderr.String() != tc.want || stdout.Len() != 0 {
			t.Errorf("%v: stderr %q stdout %q, want stderr %q", tc.args, stderr.String(), stdout.String(), tc.want)
		}
	}
	// The rest of the gateway is there: validate the example configuration.
	if out, err := exec.Command(bin, "validate", "-q", "../../configs/gateway.example.yaml").CombinedOutput(); err != nil {
		t.Fatalf("nodemo gateway validate: %v\n%s", err, out)
	}
	syms, err := exec.Command("go", "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("go tool nm: %v", err)
	}
	for _, pkg := range []string{"github.com/ganlink/ganlink/internal/demo.", "github.com/mochi-mqtt/server/v2.", "github.com/gopcua/opcua/server."} {
		if bytes.Contains(syms, []byte(pkg)) {
			t.Errorf("the nodemo build links %s", strings.TrimSuffix(pkg, "."))
		}
	}
}
