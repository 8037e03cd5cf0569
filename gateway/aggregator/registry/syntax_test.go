package registry

import "testing"

// TestParseSyntaxErrors: the registry's YAML syntax errors go through
// internal/yamlsyntax like the gateway's: the line of the fault, the tab hint, binary
// files named without a line.
func TestParseSyntaxErrors(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"tab", "regions:\n  - code: \"360000\"\n\t name: x\n", "r.yaml:3: a tab character indents this line; YAML indents with spaces only"},
		{"indentation", "regions:\n  - code: \"360000\"\n    name: x\n   level: 1\n",
			"r.yaml:4: did not find expected '-' indicator: this line is indented 3 spaces, line 3 4; the keys of one mapping start in the same column"},
		{"gzip", "\x1f\x8b\x08\x00", "r.yaml: not a YAML text file: gzip-compressed data"},
		// A second top-level section used to replace the first silently.
		{"duplicate section", "regions:\n  - code: \"360000\"\n    name: x\nregions: []\n",
			`r.yaml:4: regions: key "regions" already defined at line 1`},
		{"duplicate key", "regions:\n  - code: \"360000\"\n    name: x\n    name: y\n",
			`r.yaml:4: regions[0].name: key "name" already defined at line 3`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("r.yaml", []byte(c.yaml), nil)
			if err == nil || err.Error() != c.want {
				t.Fatalf("got  %v\nwant %s", err, c.want)
			}
		})
	}
}
