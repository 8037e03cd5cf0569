package corrections

import (
	"testing"
)

// FuzzParse: the store decoder never panics; what it accepts are valid corrections with
// unique ids, and a revocation only of a correction before it.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"op":"add","id":"c-1","recorded":"2024-05-02T01:00:00Z","by":"ops","reason":"meter swap","workshop":"w1","from":"2024-05-01T02:00:00Z","until":"2024-05-01T04:00:00Z"}` + "\n" +
		`{"op":"revoke","id":"c-1","recorded":"2024-05-02T02:00:00Z","by":"ops","reason":"wrong day"}` + "\n"))
	f.Add([]byte(`{"op":"add","id":"c-1","recor`))
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, c := range st.List {
			if err := c.Check(); err != nil {
				t.Fatalf("accepted an invalid correction %+v: %v", c, err)
			}
			if seen[c.ID] || st.Get(c.ID) != c {
				t.Fatalf("id %q twice or not indexed", c.ID)
			}
			seen[c.ID] = true
		}
	})
}
