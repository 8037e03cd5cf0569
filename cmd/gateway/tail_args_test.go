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

// TestTailRefusesDevices: `gateway tail` refuses at once, before connecting anywhere, a
// device the configuration does not have (listing at most ten it has, those with a
// source) and a device without a source.
func TestTailRefusesDevices(t *testing.T) {
	var more strings.Builder
	for i := range 10 {
		fmt.Fprintf(&more, "  - {id: e%d, kind: energy_meter, source: broker, topic: a/%d, signals: {energy_kwh_total: {path: kwh}}}\n", i, i)
	}
	more.WriteString("  - {id: old1, kind: machine}\n")
	for _, c := range []struct {
		name, yaml string
		args       []string
		want       string
	}{
		{"unknown device", brokenconfig.Base, []string{"m1", "m9"},
			`gateway tail: unknown device "m9": the configuration's devices with a source are m1, em1, wm1`},
		{"unknown device among many", brokenconfig.Base + more.String(), []string{"em2"},
			`gateway tail: unknown device "em2": the configuration's devices with a source are m1, em1, wm1, e0, e1, e2, e3, e4, e5, e6, …`},
		{"device without a source", brokenconfig.Base + more.String(), []string{"old1"},
			`gateway tail: device "old1" has no source: it delivers no values to show`},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ws.yaml")
			if err := os.WriteFile(path, []byte(c.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"tail", "-config", path}, c.args...), &stdout, &stderr)
			if code != 2 || stdout.Len() != 0 || stderr.String() != c.want+"\n" {
				t.Fatalf("exit %d, stdout %q, stderr %q\nwant exit 2, stderr %q", code, stdout.String(), stderr.String(), c.want)
			}
		})
	}
}
