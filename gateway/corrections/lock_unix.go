//go:build unix

package corrections

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ErrLocked: another process (a running gateway) has the store open.
var ErrLocked = errors.New("in use by another process (a running gateway)")

// openLocked opens path for appending and takes an exclusive advisory lock on it.
func openLocked(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open corrections %q: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("open corrections %q: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("lock corrections %q: %w", path, err)
	}
	return f, nil
}
