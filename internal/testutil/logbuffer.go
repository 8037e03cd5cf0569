// Package testutil holds small helpers shared by the tests of several packages. Only
// tests import it.
package testutil

import (
	"bytes"
	"sync"
)

// LogBuffer collects what concurrent writers write (a logger's handler, a child
// process's output) for assertions. The zero value is ready to use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
