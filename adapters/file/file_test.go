package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// files returns name → content of every file in dir.
func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

func TestWriteAndRotate(t *testing.T) {
	const a = "m a=1 1\n"                     // 8 bytes
	const b = "m b=22 2\n"                    // 9 bytes
	const c = "m c=333 3"                     // 9 bytes without its newline
	const big = "m d=1 1\nm d=2 2\nm d=3 3\n" // 24 bytes
	for _, tc := range []struct {
		name   string
		max    int64
		keep   int
		blocks []string
		want   map[string]string
	}{
		{"appends", 100, 3, []string{a, b, c},
			map[string]string{"x.lp": a + b + c + "\n"}},
		{"empty block writes nothing", 100, 3, []string{a, "", b},
			map[string]string{"x.lp": a + b}},
		{"rotates before exceeding", 17, 3, []string{a, b, a},
			map[string]string{"x.lp": a, "x.lp.1": a + b}},
		{"keeps Keep files", 9, 2, []string{a, b, c, a},
			map[string]string{"x.lp": a, "x.lp.1": c + "\n", "x.lp.2": b}},
		{"keep 0 truncates", 9, 0, []string{a, b, c},
			map[string]string{"x.lp": c + "\n"}},
		{"block larger than max gets its own file", 10, 3, []string{a, big, b},
			map[string]string{"x.lp": b, "x.lp.1": big, "x.lp.2": a}},
		{"first block larger than max", 10, 3, []string{big},
			map[string]string{"x.lp": big}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := New(Config{Path: filepath.Join(dir, "x.lp"), MaxBytes: tc.max, Keep: tc.keep, NoSync: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, blk := range tc.blocks {
				if err := s.Write(context.Background(), []byte(blk)); err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			got := files(t, dir)
			if len(got) != len(tc.want) {
				t.Errorf("files %v, want %v", keys(got), keys(tc.want))
			}
			for name, want := range tc.want {
				if got[name] != want {
					t.Errorf("%s = %q, want %q", name, got[name], want)
				}
			}
		})
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestReopenAppends checks that a new sink continues the existing file and counts its
// size towards rotation.
func TestReopenAppends(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "x.lp")
	cfg := Config{Path: path, MaxBytes: 20, Keep: 1}
	for i, blk := range []string{"m a=1 1\n", "m a=2 2\n", "m a=3 3\n"} {
		s, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Write(context.Background(), []byte(blk)); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	got := files(t, filepath.Join(dir, "sub"))
	want := map[string]string{"x.lp": "m a=3 3\n", "x.lp.1": "m a=1 1\nm a=2 2\n"}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s = %q, want %q", name, got[name], w)
		}
	}
	if len(got) != 2 {
		t.Errorf("files %v", keys(got))
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"path required", Config{Name: "lines"}, `create sink "lines": path: required`},
		{"negative max", Config{Path: "x", MaxBytes: -1}, `create sink "file": max_bytes: must not be negative, got -1`},
		{"keep range", Config{Path: "x", Keep: 1001}, `create sink "file": keep: 1001 is not 0..1000`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, nil)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}

	t.Run("unwritable directory is a write error", func(t *testing.T) {
		path := filepath.Join(blocker, "x.lp")
		s, err := New(Config{Path: path}, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Write(context.Background(), []byte("m a=1 1\n"))
		want := `write sink "file": create directory of "` + path + `": mkdir ` + blocker + ": not a directory"
		if err == nil || err.Error() != want {
			t.Fatalf("err %v, want %q", err, want)
		}
		if perr := s.Ping(context.Background()); perr == nil || !strings.HasPrefix(perr.Error(), `ping sink "file": mkdir `) {
			t.Errorf("ping: %v", perr)
		}
	})

	t.Run("write after close", func(t *testing.T) {
		s, err := New(Config{Path: filepath.Join(dir, "c.lp")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		err = s.Write(context.Background(), []byte("m a=1 1\n"))
		if !errors.Is(err, errClosed) || err.Error() != `write sink "file": sink closed` {
			t.Fatalf("err %v", err)
		}
	})
}
