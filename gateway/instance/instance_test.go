package instance

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/testutil"
)

func newLog(buf *testutil.LogBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
}

// TestLoad: the id is made once (in a directory created for it), reused on every later
// load, and a damaged file is set aside with a warning and replaced by a new id.
func TestLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := Path(dir)
	now := time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC)
	var logs testutil.LogBuffer
	id, err := Load(path, now, newLog(&logs))
	if err != nil {
		t.Fatal(err)
	}
	if !Valid(id) {
		t.Fatalf("id %q is not 16 lowercase hex digits", id)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != id+"\n" {
		t.Fatalf("file = %q, %v; want %q", b, err, id+"\n")
	}
	if want := "level=INFO msg=\"new instance id\" instance=" + id + " file=" + path + "\n"; logs.String() != want {
		t.Errorf("log = %q, want %q", logs.String(), want)
	}
	for range 2 {
		again, err := Load(path, now, newLog(&logs))
		if err != nil || again != id {
			t.Fatalf("reload = %q, %v; want %q", again, err, id)
		}
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Errorf("reloads logged: %q", logs.String())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("data directory holds %d entries, want the id file only", len(ents))
	}

	for _, damaged := range []string{"", "not an id\n", strings.ToUpper(id), id + "0", "\x00\x00\x00",
		id + "\n" + strings.Repeat(" ", 1<<20)} {
		if err := os.WriteFile(path, []byte(damaged), 0o644); err != nil {
			t.Fatal(err)
		}
		var logs testutil.LogBuffer
		now = now.Add(time.Second)
		bad := path + ".bad-" + now.Format("20060102T150405")
		fresh, err := Load(path, now, newLog(&logs))
		if err != nil {
			t.Fatal(err)
		}
		if !Valid(fresh) || fresh == id {
			t.Errorf("damaged %.40q: new id %q", damaged, fresh)
		}
		if kept, err := os.ReadFile(bad); err != nil || string(kept) != damaged {
			t.Errorf("damaged %.40q: set aside as %.40q: %v", damaged, kept, err)
		}
		if !strings.HasPrefix(logs.String(), "level=WARN msg=\"instance id file damaged; set aside, a new instance id is made\" file="+path+
			" moved_to="+bad+" content=") || !strings.Contains(logs.String(), "level=INFO msg=\"new instance id\" instance="+fresh) {
			t.Errorf("damaged %.40q: log %q", damaged, logs.String())
		}
		if again, _ := Load(path, now, newLog(&logs)); again != fresh {
			t.Errorf("damaged %.40q: reload %q, want %q", damaged, again, fresh)
		}
	}
}

// TestLoadUnreadable: a path that cannot be read (a directory) is an error, never a
// silent new id.
func TestLoadUnreadable(t *testing.T) {
	dir := t.TempDir()
	path := Path(dir)
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, time.Now(), slog.New(slog.DiscardHandler))
	if err == nil || !strings.HasPrefix(err.Error(), "read instance id: read "+path+": is a directory") {
		t.Errorf("err = %v", err)
	}
}

func TestNewDistinct(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := New()
		if !Valid(id) || seen[id] {
			t.Fatalf("id %q invalid or repeated", id)
		}
		seen[id] = true
	}
}
