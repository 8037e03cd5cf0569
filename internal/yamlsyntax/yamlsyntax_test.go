package yamlsyntax

import "testing"

// TestParseErrors: each broken document gives the line of its fault (not the line
// where yaml.v3's enclosing block started) and the hint.
func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ name, doc, want string }{
		{"tab in a nested key", "a: 1\nb:\n  c: 2\n\td: 3\n",
			"line 4: a tab character indents this line; YAML indents with spaces only"},
		{"tab under a key", "a: 1\nb:\n\tc: 2\n",
			"line 3: a tab character indents this line; YAML indents with spaces only"},
		{"tab on the first line", "\ta: 1\nb: 2\n",
			"line 1: a tab character indents this line; YAML indents with spaces only"},
		{"tab after spaces in a list item", "a:\n  - x: 1\n  \ty: 2\n",
			"line 3: a tab character indents this line; YAML indents with spaces only"},
		{"key indented less than its siblings", "devices:\n  - id: em1\n    kind: energy_meter\n    source: broker\n   topic: plant/x\n",
			"line 5: did not find expected '-' indicator: this line is indented 3 spaces, line 4 4; the keys of one mapping start in the same column"},
		{"key indented less, blank lines between", "a:\n  - b: 1\n    c: 2\n\n\n   d: 3\n",
			"line 6: did not find expected '-' indicator: this line is indented 3 spaces, line 3 4; the keys of one mapping start in the same column"},
		{"key indented more than its siblings", "devices:\n  - id: em1\n     kind: energy_meter\n",
			"line 3: mapping values are not allowed in this context: this line is indented 5 spaces, line 2 4; the keys of one mapping start in the same column"},
		{"key between two levels", "a:\n  b: 1\n c: 2\n",
			"line 3: did not find expected key: this line is indented 1 spaces, line 2 2; the keys of one mapping start in the same column"},
		{"unclosed flow mapping", "a: 1\nb: {x: 1\nc: 2\n",
			"line 2: did not find expected ',' or '}'"},
		{"unclosed quote", "a: 1\nb: \"x\nc: 2\n",
			"line 2: found unexpected end of stream"},
		{"gzip", "\x1f\x8b\x08\x00\x00\x00\x00\x00", "not a YAML text file: gzip-compressed data"},
		{"ELF", "\x7fELF\x02\x01\x01\x00", "not a YAML text file: an ELF executable"},
		{"control byte", "a: 1\nb: \x01\n", "not a YAML text file: binary data (byte 0x01 at offset 8)"},
		{"GBK text", "a: 1\n# \xc4\xe3\xba\xc3\nb: 2\n", "line 2: not UTF-8: byte 0xc4; save the file as UTF-8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc))
			if err == nil {
				t.Fatal("parsed")
			}
			if err.Error() != c.want {
				t.Fatalf("got  %q\nwant %q", err.Error(), c.want)
			}
		})
	}
}

// TestParseValid: valid documents parse, including UTF-16 with a byte-order mark and
// tabs inside values.
func TestParseValid(t *testing.T) {
	for _, doc := range []string{"a: 1\n", "a: \"x\ty\"\n", "\xff\xfea\x00:\x00 \x001\x00\n\x00"} {
		if _, err := Parse([]byte(doc)); err != nil {
			t.Errorf("%q: %v", doc, err)
		}
	}
}

// FuzzParse: any input parses or fails with an Error; never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte("a:\n  b: 1\n c: 2\n"))
	f.Add([]byte("a: 1\nb:\n\tc: 2\n"))
	f.Add([]byte("a: 1\na: 2\nb: {c: 1, c: 2}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		root, err := Parse(data)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T", err)
			}
			return
		}
		for _, d := range Duplicates(root) {
			if d.Line < 1 || d.First < 1 || d.First > d.Line || d.Path == "" && d.Key != "" {
				t.Fatalf("duplicate %+v", d)
			}
		}
	})
}
