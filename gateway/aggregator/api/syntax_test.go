package api

import "testing"

// TestParseTokensSyntax: the tokens file's YAML syntax errors go through
// internal/yamlsyntax like the gateway's configuration.
func TestParseTokensSyntax(t *testing.T) {
	_, err := ParseTokens([]byte("tokens:\n  - name: a\n\t  sha256: x\n"))
	if want := "decode: line 3: a tab character indents this line; YAML indents with spaces only"; err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	_, err = ParseTokens([]byte("tokens:\n  - name: a\n    name: b\n"))
	if want := `decode: line 3: tokens[0].name: key "name" already defined at line 2`; err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}
