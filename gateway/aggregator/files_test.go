package aggregator

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestTokenFileSpecialFiles: backend.token_file and write_back.token_file are read only
// from a regular file of at most 64 KiB.
func TestTokenFileSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo, zero, big, good := filepath.Join(dir, "fifo"), filepath.Join(dir, "zero"), filepath.Join(dir, "big"), filepath.Join(dir, "good")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, make([]byte, 64<<10+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, []byte(" s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		fifo: fmt.Sprintf("read token file %q: is a named pipe (FIFO), not a regular file", fifo),
		zero: fmt.Sprintf("read token file %q: is a character device, not a regular file", zero),
		big:  fmt.Sprintf("read token file %q: larger than 64 KiB", big),
	} {
		if _, err := secret(file, ""); err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %s", file, err, want)
		}
	}
	if s, err := secret(good, ""); err != nil || s != "s3cret" {
		t.Errorf("good file: %q %v", s, err)
	}
}
