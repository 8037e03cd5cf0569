//go:build !unix

package corrections

import (
	"errors"
	"fmt"
	"os"
)

// ErrLocked: another process (a running gateway) has the store open.
var ErrLocked = errors.New("in use by another process (a running gateway)")

// openLocked opens path for appending; without flock(2) there is no lock.
func openLocked(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open corrections %q: %w", path, err)
	}
	return f, nil
}
