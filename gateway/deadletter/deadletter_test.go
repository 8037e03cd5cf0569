package deadletter

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStoreKeepsTheNewestAndSurvivesARestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dead")
	s, err := Open(Config{Dir: dir, Keep: 3, MaxPayload: 8})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	for i, p := range []string{"one", "two", "three", "four"} {
		s.Add(Entry{Time: t0.Add(time.Duration(i) * time.Second), Source: "meters", Origin: "t/" + p, Reason: "decode",
			Error: "bad " + p, Problems: 1}, []byte(p))
	}
	s.Add(Entry{Time: t0, Source: "plc", Origin: "unit 1 holding registers 0..1", Reason: "nan"}, []byte("€€€")) // 9 bytes: cut inside the third €
	s.Add(Entry{Time: t0, Source: "bin/ä", Origin: "x", Reason: "decode"}, []byte{0xff, 0x00, 0x01})
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, got := range []map[string][]Entry{s.List(), mustRead(t, dir)} {
		var origins []string
		for _, e := range got["meters"] {
			origins = append(origins, e.Origin)
		}
		if !slices.Equal(origins, []string{"t/two", "t/three", "t/four"}) {
			t.Errorf("meters kept %q, want the newest 3 oldest first", origins)
		}
		if e := got["plc"][0]; e.Payload != "€€" || !e.Truncated || e.PayloadBytes != 9 {
			t.Errorf("cut payload: %+v", e)
		}
		if e := got["bin/ä"][0]; e.Payload != "" || e.PayloadBase64 != "/wAB" || e.Truncated {
			t.Errorf("binary payload: %+v", e)
		}
	}
	// A restart with a smaller keep keeps the newest.
	s2, err := Open(Config{Dir: dir, Keep: 2, MaxPayload: 8})
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.List()["meters"]; len(got) != 2 || got[1].Origin != "t/four" {
		t.Errorf("after the restart: %+v", got)
	}
}

// TestReadSkipsWhatIsNotARegularFile: a FIFO, a symlink to /dev/zero and a damaged file
// in the directory neither hang nor crash a reader; the damaged one is named.
func TestReadSkipsWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.json"), []byte("[{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ok.json"), []byte(`[{"source":"ok","origin":"t","reason":"decode"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir)
	if err == nil || !strings.Contains(err.Error(), "broken.json") {
		t.Errorf("error %v, want one naming broken.json", err)
	}
	if len(got) != 1 || len(got["ok"]) != 1 {
		t.Errorf("read %v, want only ok", got)
	}
	if _, err := Open(Config{Dir: dir, Keep: 0, MaxPayload: 1}); err == nil {
		t.Error("Open with keep 0 succeeded")
	}
	if got, err := Read(filepath.Join(dir, "missing")); err != nil || len(got) != 0 {
		t.Errorf("missing dir: %v %v", got, err)
	}
}

func mustRead(t *testing.T, dir string) map[string][]Entry {
	t.Helper()
	m, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
