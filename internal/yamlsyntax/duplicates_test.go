package yamlsyntax

import (
	"fmt"
	"strings"
	"testing"
)

func TestDuplicates(t *testing.T) {
	cases := []struct {
		name, doc string
		want      []string
	}{
		{"none", "a: 1\nb: {c: 2}\n", nil},
		{"top level", "listen: x\nlisten: y\n", []string{`line 2: listen: key "listen" already defined at line 1`}},
		{"nested in a sequence", "devices:\n  - id: a\n    topic: t\n    topic: u\n  - id: b\n    id: c\n",
			[]string{`line 4: devices[0].topic: key "topic" already defined at line 3`,
				`line 6: devices[1].id: key "id" already defined at line 5`}},
		{"same key in two mappings is fine", "a: {x: 1}\nb: {x: 2}\n", nil},
		{"merge keys may repeat", "base: &b {x: 1}\nother: &o {y: 2}\nc:\n  <<: *b\n  <<: *o\n", nil},
		{"a complex key is no scalar's twin", "? [a]\n: 1\n\"\": 2\n", nil},
		{"empty keys", "\"\": 1\n\"\": 2\n", []string{`line 2: key "" already defined at line 1`}},
		{"aliases are not followed", "a: &a {x: 1}\nb: *a\nc: *a\n", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root, err := Parse([]byte(c.doc))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range Duplicates(root) {
				got = append(got, d.Error())
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			err = Check([]byte(c.doc))
			if (err == nil) != (c.want == nil) || err != nil && err.Error() != strings.Join(c.want, "\n") {
				t.Fatalf("Check = %v", err)
			}
		})
	}
}

func TestDuplicatesBounded(t *testing.T) {
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, "k: %d\n", i)
	}
	root, err := Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	d := Duplicates(root)
	if len(d) != maxDuplicates || d[0].Line != 2 || d[maxDuplicates-1].Line != maxDuplicates+1 {
		t.Fatalf("%d duplicates, first %+v", len(d), d[0])
	}
}
