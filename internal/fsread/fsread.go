// Package fsread reads the files the gateway and the aggregator are configured with (the
// configuration itself, secrets, certificates and keys, the PKI directory, the registry,
// the tokens file) and the state files they keep: only a regular file (after following
// symbolic links) and only up to a size limit per kind of file.
//
// A named pipe, a device such as /dev/zero, a socket or a directory is refused with an
// error naming what it is, without reading from it: a FIFO given as password_file would
// otherwise block the reader until someone writes to it (a `gateway validate` that never
// returns, a configuration reload that keeps the process from exiting), and /dev/zero or a
// huge file would fill memory. A FIFO is opened with O_NONBLOCK, so even one that appears
// between the check and the open does not block.
package fsread

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Limits of each kind of file, in bytes. docs/configuration.md and docs/aggregator.md
// list them.
const (
	// MaxConfig bounds a configuration file (gateway and aggregator).
	MaxConfig = 16 << 20
	// MaxSecret bounds a *_file secret (password, token).
	MaxSecret = 64 << 10
	// MaxPEM bounds a certificate, key or CA bundle (PEM or DER), including every file
	// of the OPC UA PKI directory.
	MaxPEM = 1 << 20
	// MaxRegistry bounds the aggregator's registry YAML and each CSV file it imports.
	MaxRegistry = 64 << 20
	// MaxTokens bounds the aggregator's tokens file.
	MaxTokens = 4 << 20
	// MaxState bounds the KPI engine's state file.
	MaxState = 1 << 30
	// MaxMeta bounds the queue's meta.json.
	MaxMeta = 64 << 10
)

// ErrNotRegular is wrapped by the error for a path that is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// NotRegularError says what a refused path is.
type NotRegularError struct {
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	return "is " + Describe(e.Mode) + ", not a regular file"
}

// Is makes errors.Is(err, ErrNotRegular) true.
func (e *NotRegularError) Is(target error) bool { return target == ErrNotRegular }

// ErrTooLarge is wrapped by the error for a file larger than its limit.
var ErrTooLarge = errors.New("file too large")

// TooLargeError is a file over its limit of Max bytes.
type TooLargeError struct {
	Max int64
}

func (e *TooLargeError) Error() string { return "larger than " + FormatSize(e.Max) }

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// Describe names the type of a file mode for people: "a named pipe (FIFO)", "a character
// device", "a directory"...
func Describe(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	default:
		return "a special file"
	}
}

// FormatSize prints a limit: "64 KiB", "16 MiB", "1000 bytes".
func FormatSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// ReadRegular reads the file at path, which must be a regular file (after following
// symbolic links) of at most max bytes. Errors are *fs.PathError: the operating system's
// ("open PATH: no such file or directory"), or "read PATH: is a named pipe (FIFO), not a
// regular file" (wrapping a *NotRegularError) or "read PATH: larger than 1 MiB" (wrapping
// a *TooLargeError).
func ReadRegular(path string, max int64) ([]byte, error) {
	f, size, err := open(path, max)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Room for the whole file and one read more, to see a file that grew since Stat.
	var buf bytes.Buffer
	buf.Grow(int(min(size, max)) + bytes.MinRead)
	if _, err := buf.ReadFrom(io.LimitReader(f, max+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > max {
		return nil, &fs.PathError{Op: "read", Path: path, Err: &TooLargeError{Max: max}}
	}
	return buf.Bytes(), nil
}

// Open opens the regular file at path for reading, like ReadRegular, for a caller that
// decodes it as a stream: reading beyond max bytes fails with a *TooLargeError.
func Open(path string, max int64) (io.ReadCloser, error) {
	f, _, err := open(path, max)
	if err != nil {
		return nil, err
	}
	return &limited{f: f, path: path, left: max, max: max}, nil
}

type limited struct {
	f    *os.File
	path string
	left int64
	max  int64
}

func (l *limited) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, &fs.PathError{Op: "read", Path: l.path, Err: &TooLargeError{Max: l.max}}
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.f.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, &fs.PathError{Op: "read", Path: l.path, Err: &TooLargeError{Max: l.max}}
	}
	return n, err
}

func (l *limited) Close() error { return l.f.Close() }

// open checks path before opening it (a device is never opened), opens it without
// blocking and checks the opened file again (the path may have been replaced between the
// two). It returns the file's size.
func open(path string, max int64) (*os.File, int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			pe.Op = "open" // as os.ReadFile says it
		}
		return nil, 0, err
	}
	if err := check(path, st, max); err != nil {
		return nil, 0, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, 0, err
	}
	st, err = f.Stat()
	if err == nil {
		err = check(path, st, max)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

func check(path string, st fs.FileInfo, max int64) error {
	if !st.Mode().IsRegular() {
		return &fs.PathError{Op: "read", Path: path, Err: &NotRegularError{Mode: st.Mode()}}
	}
	if st.Size() > max {
		return &fs.PathError{Op: "read", Path: path, Err: &TooLargeError{Max: max}}
	}
	return nil
}

// Reason returns err without the operation and path of an *fs.PathError ("is a named
// pipe (FIFO), not a regular file", "no such file or directory"), for a caller whose
// message names the file itself.
func Reason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
