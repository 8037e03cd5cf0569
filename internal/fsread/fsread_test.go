//go:build unix

package fsread

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostile returns a directory holding one path of every kind a configured file must not
// be: a FIFO, a symbolic link to /dev/zero, a symbolic link to a FIFO, a directory and a
// socket, by name. Other packages' tests build the same with their own helpers.
func hostile(t *testing.T) (dir string, paths map[string]string) {
	t.Helper()
	dir = t.TempDir()
	paths = map[string]string{}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	paths["fifo"] = fifo
	zero := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	paths["zero"] = zero
	viaLink := filepath.Join(dir, "fifo-link")
	if err := os.Symlink(fifo, viaLink); err != nil {
		t.Fatal(err)
	}
	paths["fifo-link"] = viaLink
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	paths["dir"] = sub
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	paths["socket"] = sock
	return dir, paths
}

func TestReadRegular(t *testing.T) {
	dir, p := hostile(t)
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		max        int64
		want       string // content, or the error
		is         error
	}{
		{"fits", small, 10, "0123456789", nil},
		{"empty", empty, 10, "", nil},
		{"one byte over", small, 9, "read " + small + ": larger than 9 bytes", ErrTooLarge},
		{"fifo", p["fifo"], 1 << 20, "read " + p["fifo"] + ": is a named pipe (FIFO), not a regular file", ErrNotRegular},
		{"symlink to a fifo", p["fifo-link"], 1 << 20, "read " + p["fifo-link"] + ": is a named pipe (FIFO), not a regular file", ErrNotRegular},
		{"symlink to /dev/zero", p["zero"], 1 << 20, "read " + p["zero"] + ": is a character device, not a regular file", ErrNotRegular},
		{"directory", p["dir"], 1 << 20, "read " + p["dir"] + ": is a directory, not a regular file", ErrNotRegular},
		{"socket", p["socket"], 1 << 20, "read " + p["socket"] + ": is a socket, not a regular file", ErrNotRegular},
		{"missing", filepath.Join(dir, "nope"), 10, "open " + filepath.Join(dir, "nope") + ": no such file or directory", os.ErrNotExist},
		{"proc file of size 0 read to its end", "/proc/self/status", 64 << 10, "", nil},
		{"proc file over the limit", "/proc/self/status", 16, "read /proc/self/status: larger than 16 bytes", ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			b, err := ReadRegular(tc.path, tc.max)
			if d := time.Since(start); d > time.Second {
				t.Fatalf("took %s", d)
			}
			if tc.is != nil {
				if err == nil || err.Error() != tc.want || !errors.Is(err, tc.is) {
					t.Fatalf("got %v, want %s (wrapping %v)", err, tc.want, tc.is)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.path == "/proc/self/status" {
				if !strings.HasPrefix(string(b), "Name:") {
					t.Fatalf("read %q", b)
				}
				return
			}
			if string(b) != tc.want {
				t.Fatalf("read %q, want %q", b, tc.want)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	dir, p := hostile(t)
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, max := range []int64{10, 11, 1 << 20} {
		r, err := Open(small, max)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil || string(b) != "0123456789" {
			t.Fatalf("max %d: read %q, %v", max, b, err)
		}
	}
	if _, err := Open(small, 9); err == nil || err.Error() != "read "+small+": larger than 9 bytes" {
		t.Fatalf("got %v", err)
	}
	if _, err := Open(p["fifo"], 1<<20); err == nil || err.Error() != "read "+p["fifo"]+": is a named pipe (FIFO), not a regular file" {
		t.Fatalf("got %v", err)
	}
	// A file that passes the size check at open and grows later fails when read.
	r, err := Open("/proc/self/status", 16)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.ReadAll(r); err == nil || err.Error() != "read /proc/self/status: larger than 16 bytes" || !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v", err)
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{MaxConfig: "16 MiB", MaxSecret: "64 KiB", MaxState: "1 GiB", 1000: "1000 bytes", 1536: "1536 bytes"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
