package corrections

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2024, 5, 1, 2, 0, 0, 0, time.UTC)

func add(t *testing.T, s *Store, shop string) *Correction {
	t.Helper()
	c, err := s.Add(Correction{Workshop: shop, From: t0, Until: t0.Add(time.Hour), By: "ops", Reason: "test run"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStoreRecovery: a torn last line is reported and skipped, and cut off by the next
// append; any other bad line makes the store unreadable, naming the line, and the
// previous content stays in force.
func TestStoreRecovery(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data", FileName)
	s := NewStore(path)
	st, gen0, err := s.Current()
	if err != nil || len(st.List) != 0 {
		t.Fatalf("missing file: %v %v", st.List, err)
	}
	c1 := add(t, s, "w1")
	st, gen1, err := s.Current()
	if err != nil || len(st.List) != 1 || st.List[0].ID != c1.ID || gen1 == gen0 {
		t.Fatalf("after add: %v %v gen %d→%d", st.List, err, gen0, gen1)
	}
	if _, gen, _ := s.Current(); gen != gen1 {
		t.Errorf("unchanged file: generation %d → %d", gen1, gen)
	}
	// An interrupted write: half a record without its newline.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	torn := `{"op":"add","id":"c-1234","recor`
	if _, err := f.WriteString(torn); err != nil {
		t.Fatal(err)
	}
	f.Close()
	st, _, err = s.Current()
	wantWarn := `corrections store "` + path + `": line 2 is incomplete (32 bytes without a newline, an interrupted write): skipped`
	if err != nil || len(st.List) != 1 || st.Warning != wantWarn {
		t.Errorf("torn: %d corrections, warning %q, err %v; want 1, %q", len(st.List), st.Warning, err, wantWarn)
	}
	c2 := add(t, s, "w2")
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), torn) || strings.Count(string(data), "\n") != 2 {
		t.Errorf("after append the torn line is cut off:\n%s", data)
	}
	st, _, err = s.Current()
	if err != nil || len(st.List) != 2 || st.List[1].ID != c2.ID || st.Warning != "" {
		t.Errorf("after append: %v %v %q", st.List, err, st.Warning)
	}
	// A bad line in the middle: the store is unreadable; the previous content stays.
	lines := strings.SplitAfter(string(data), "\n")
	bad := lines[0] + "{\"op\":\"erase\",\"id\":\"x\"}\n" + lines[1]
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	st, _, err = s.Current()
	if want := `corrections store "` + path + `": line 2: op "erase" is not add or revoke`; err == nil || err.Error() != want {
		t.Errorf("bad line: %v, want %s", err, want)
	}
	if len(st.List) != 2 {
		t.Errorf("bad line: %d corrections kept, want 2", len(st.List))
	}
	if _, err := s.Add(Correction{Workshop: "w3", From: t0, Until: t0.Add(time.Hour), By: "ops", Reason: "x"}, t0); err == nil ||
		err.Error() != `corrections store "`+path+`": line 2: op "erase" is not add or revoke` {
		t.Errorf("append to a bad store: %v", err)
	}
}

func TestCheck(t *testing.T) {
	ok := Correction{Workshop: "w1", From: t0, Until: t0.Add(time.Hour), By: "ops", Reason: "calibration"}
	for _, tt := range []struct {
		mod  func(c *Correction)
		want string
	}{
		{func(c *Correction) { c.Workshop = "" }, "workshop: required"},
		{func(c *Correction) { c.Workshop = strings.Repeat("w", 129) }, `workshop: "` + strings.Repeat("w", 64) + `…" is 129 bytes long, at most 128`},
		{func(c *Correction) { c.Device = "m\n1" }, `device: "m\n1" contains a control character`},
		{func(c *Correction) { c.From = time.Time{} }, "from: required"},
		{func(c *Correction) { c.Until = time.Time{} }, "until: required"},
		{func(c *Correction) { c.Until = c.From }, "from: 2024-05-01T02:00:00Z is not before until 2024-05-01T02:00:00Z"},
		{func(c *Correction) { c.From = c.From.Add(time.Millisecond) }, "from: from and until must be whole seconds"},
		{func(c *Correction) { c.By = "" }, "by: required"},
		{func(c *Correction) { c.Reason = "" }, "reason: required: say why"},
		{func(c *Correction) { c.Reason = strings.Repeat("校", 201) }, "reason: 201 characters, at most 200"},
		{func(c *Correction) { c.Reason = "\xff" }, `reason: "\xff" is not valid UTF-8`},
	} {
		c := ok
		tt.mod(&c)
		if err := c.Check(); err == nil || err.Error() != tt.want {
			t.Errorf("%+v: %v, want %s", c, err, tt.want)
		}
	}
	c := ok
	c.Reason = strings.Repeat("校", 200)
	if err := c.Check(); err != nil {
		t.Errorf("200 characters: %v", err)
	}
}
