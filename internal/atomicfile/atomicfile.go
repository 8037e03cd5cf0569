// Package atomicfile writes a file so that a crash leaves the old content or the new,
// never a mix: a temporary file in the same directory, fsync, rename, then an fsync of
// the directory so the rename itself is durable.
package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
)

// tempMark is in the name of every temporary file Write makes: "."+base+tempMark+random.
const tempMark = ".tmp-"

// IsTemp reports whether a file name is one of Write's temporary files (being written
// now, or left by a crash): directory listings of files written with Write skip them.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tempMark)
}

// Write writes data to path with the given permissions. The directory must exist.
func Write(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+tempMark+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
