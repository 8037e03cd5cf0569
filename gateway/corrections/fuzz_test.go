package corrections_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/corrections"
)

// FuzzStoreOpen: whatever the file holds, Open neither fails nor panics, and a
// correction added afterwards is read back by the next Open.
func FuzzStoreOpen(f *testing.F) {
	f.Add([]byte(`{"op":"add","id":"c-1","kind":"invalid","from":"2026-12-07T08:00:00Z","until":"2026-12-07T09:00:00Z","by":"a","reason":"r","recorded":"2026-12-07T10:00:00Z"}` + "\n"))
	f.Add([]byte(`{"op":"revoke","id":"c-1","by":"b","reason":"r","recorded":"2026-12-07T10:00:00Z"}` + "\n{\"op\":\"add\""))
	f.Add([]byte("\n\n{}\n[1,2]\n{\"op\":\"written\",\"id\":\"x\"}"))
	inv := engine(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), corrections.FileName)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, _, err := corrections.Open(path, inv, clock)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		n := len(s.List())
		c, err := s.Add(corrections.Request{Kind: "invalid", From: now.Add(-time.Hour), Until: now, By: "a", Reason: "r"})
		s.Close()
		if err != nil {
			if n >= corrections.MaxCorrections {
				return
			}
			t.Fatalf("Add: %v", err)
		}
		s, _, err = corrections.Open(path, inv, clock)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer s.Close()
		if got, ok := s.Get(c.ID); !ok || got.Revoked != nil || len(s.List()) != n+1 {
			t.Fatalf("after reopen: %+v %v, %d corrections, want %d", got, ok, len(s.List()), n+1)
		}
	})
}
