//go:build !unix

package queue

import (
	"fmt"
	"os"
)

// lockDir opens the lock file; other platforms get no advisory locking.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create lock file %q: %w", path, err)
	}
	return f, nil
}
