package loadgen

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Env lets the load harness start servers through internal/testsrv outside a test: it
// implements testsrv.TB. Fatalf panics with an error that Catch turns back into a
// return value; TempDir hands out directories under one base directory; Close runs
// the cleanups (stopping every server) in reverse order and removes the base
// directory. An Env is used from one goroutine.
type Env struct {
	base string

	mu       sync.Mutex
	n        int
	cleanups []func()
	closed   bool
}

// NewEnv creates an Env whose temporary directories live under a new directory in
// os.TempDir (or dir when not empty).
func NewEnv(dir string) (*Env, error) {
	base, err := os.MkdirTemp(dir, "ganlink-loadgen-")
	if err != nil {
		return nil, fmt.Errorf("create harness directory: %w", err)
	}
	return &Env{base: base}, nil
}

// fatalError is the panic value of Env.Fatalf.
type fatalError struct{ err error }

// Helper implements testsrv.TB; it does nothing.
func (e *Env) Helper() {}

// Fatalf implements testsrv.TB: it panics; Catch recovers the panic as an error.
func (e *Env) Fatalf(format string, args ...any) {
	panic(fatalError{fmt.Errorf(format, args...)})
}

// TempDir implements testsrv.TB: a new directory, removed by Close.
func (e *Env) TempDir() string {
	e.mu.Lock()
	e.n++
	dir := filepath.Join(e.base, strconv.Itoa(e.n))
	e.mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.Fatalf("create temporary directory: %v", err)
	}
	return dir
}

// Cleanup implements testsrv.TB: f runs at Close, after the cleanups registered later.
func (e *Env) Cleanup(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cleanups = append(e.cleanups, f)
}

// Close runs the cleanups in reverse order and removes the harness directory; a second
// Close does nothing.
func (e *Env) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	fs := e.cleanups
	e.cleanups = nil
	e.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	if err := os.RemoveAll(e.base); err != nil {
		return fmt.Errorf("remove harness directory %q: %w", e.base, err)
	}
	return nil
}

// Catch runs f and returns its error, or the error of an Env.Fatalf called while it
// ran. Other panics are not recovered.
func Catch(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fe, ok := r.(fatalError)
			if !ok {
				panic(r)
			}
			err = fe.err
		}
	}()
	return f()
}
