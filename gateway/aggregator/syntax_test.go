package aggregator

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLoadConfigSyntax: the aggregator configuration's YAML syntax errors go through
// internal/yamlsyntax like the gateway's: FILE:LINE of the fault and the hint.
func TestLoadConfigSyntax(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aggregator.yaml")
	if err := os.WriteFile(path, []byte("listen: 127.0.0.1:9280\nbackend:\n  type: promql\n\turl: http://x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(path)
	if want := path + ":4: a tab character indents this line; YAML indents with spaces only"; err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}

	// Duplicate keys are worded like the gateway's: FILE:LINE: PATH: key ... at line N.
	if err := os.WriteFile(path, []byte("listen: 127.0.0.1:9280\nlisten: 127.0.0.1:9281\nbackend:\n  type: promql\n  type: influxql\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadConfig(path)
	want := path + ":2: listen: key \"listen\" already defined at line 1\n" +
		path + ":5: backend.type: key \"type\" already defined at line 4"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}
