// Package file is a northbound sink that appends line protocol to a local file, for a
// gateway without a TSDB (the demo) or as a local record next to one.
//
// Each Write appends one block — newline-separated line protocol as point.AppendBatch
// produces it — and returns after the data is on disk (fsync unless Config.NoSync), so
// the pipeline acknowledges a queue block only once the file holds it. A block is never
// split: when appending it would take the file past MaxBytes, the file is rotated first
// (path → path.1 → path.2 …, keeping Keep old files), and a block larger than MaxBytes
// gets a file of its own. A write that fails part-way is cut back off the file, so a
// retry never leaves a half line behind. Every error is retryable: a full disk or a
// missing directory is a fault the operator fixes while the queue keeps the data.
//
// The file is InfluxDB line protocol with nanosecond timestamps: it loads as is with
// `influx write --precision ns -f FILE` or `curl --data-binary @FILE
// 'http://victoria:8428/api/v2/write'`.
package file

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Config configures a Sink.
type Config struct {
	// Name identifies the sink in logs, metrics and errors; "file" when empty.
	Name string
	// Path is the file appended to; its directory is created when missing.
	Path string
	// MaxBytes bounds the file: it is rotated before a block would take it past this
	// size. Default 64 MiB.
	MaxBytes int64
	// Keep is how many rotated files (Path.1 … Path.Keep) are kept; older ones are
	// removed. 0 keeps none: rotation truncates. Default 3 (DefaultConfig).
	Keep int
	// NoSync skips the fsync after each write (faster, but a power cut may lose
	// acknowledged blocks).
	NoSync bool
}

// DefaultMaxBytes is the rotation size used when Config.MaxBytes is zero.
const DefaultMaxBytes = 64 << 20

// DefaultConfig returns a Config with 64 MiB files and 3 rotated files kept; Path must
// still be set.
func DefaultConfig() Config {
	return Config{Name: "file", MaxBytes: DefaultMaxBytes, Keep: 3}
}

// Validate checks the configuration; errors name the field as its YAML key.
func (c *Config) Validate() error {
	if c.Path == "" {
		return errors.New("path: required")
	}
	if c.MaxBytes < 0 {
		return fmt.Errorf("max_bytes: must not be negative, got %d", c.MaxBytes)
	}
	if c.Keep < 0 || c.Keep > 1000 {
		return fmt.Errorf("keep: %d is not 0..1000", c.Keep)
	}
	return nil
}

// Sink appends blocks of line protocol to a size-bounded, rotated file. It is safe for
// concurrent use and starts no goroutines.
type Sink struct {
	name string
	cfg  Config
	log  *slog.Logger

	mu     sync.Mutex
	f      *os.File
	size   int64
	closed bool
}

// New validates cfg. It opens nothing: the first Write opens (and if needed creates)
// the file, so a directory that cannot be written yet is a retryable write error and
// not a start-up failure. log may be nil.
func New(cfg Config, log *slog.Logger) (*Sink, error) {
	if cfg.Name == "" {
		cfg.Name = "file"
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("create sink %q: %w", cfg.Name, err)
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sink{name: cfg.Name, cfg: cfg, log: log.With("sink", cfg.Name)}, nil
}

// Name returns the sink's name.
func (s *Sink) Name() string { return s.name }

// Path returns the file the sink appends to.
func (s *Sink) Path() string { return s.cfg.Path }

var errClosed = errors.New("sink closed")

// Write appends lines, adding a final newline if it lacks one, rotating first when the
// file would grow past MaxBytes. It returns after the data is written (and synced unless
// NoSync); on error the file is left as it was before the call. An empty block writes
// nothing. ctx is not consulted: a local write is not interrupted half-way.
func (s *Sink) Write(_ context.Context, lines []byte) error {
	if len(lines) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("write sink %q: %w", s.name, errClosed)
	}
	n := int64(len(lines))
	if lines[len(lines)-1] != '\n' {
		n++
	}
	if err := s.open(); err != nil {
		return fmt.Errorf("write sink %q: %w", s.name, err)
	}
	if s.size > 0 && s.size+n > s.cfg.MaxBytes {
		if err := s.rotate(); err != nil {
			return fmt.Errorf("write sink %q: %w", s.name, err)
		}
	}
	if err := s.append(lines, n); err != nil {
		return fmt.Errorf("write sink %q: %w", s.name, err)
	}
	return nil
}

// append writes the block at the end; on failure it cuts the file back to its old size.
func (s *Sink) append(lines []byte, n int64) error {
	_, err := s.f.Write(lines)
	if err == nil && n > int64(len(lines)) {
		_, err = s.f.Write([]byte{'\n'})
	}
	if err == nil && !s.cfg.NoSync {
		err = s.f.Sync()
	}
	if err != nil {
		if terr := s.f.Truncate(s.size); terr != nil {
			// The file's end is unknown now: reopen on the next write.
			s.log.Error("cut back failed write", "path", s.cfg.Path, "err", terr)
			_ = s.f.Close()
			s.f = nil
		}
		return fmt.Errorf("append to %q: %w", s.cfg.Path, err)
	}
	s.size += n
	return nil
}

func (s *Sink) open() error {
	if s.f != nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(s.cfg.Path), 0o755); err != nil {
		return fmt.Errorf("create directory of %q: %w", s.cfg.Path, err)
	}
	f, err := os.OpenFile(s.cfg.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %q: %w", s.cfg.Path, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("stat %q: %w", s.cfg.Path, err)
	}
	s.f, s.size = f, st.Size()
	return nil
}

// rotate shifts Path.i to Path.i+1 (dropping the oldest), moves Path to Path.1 and
// opens a new, empty Path. With Keep 0 it truncates Path instead.
func (s *Sink) rotate() error {
	p := s.cfg.Path
	if s.cfg.Keep == 0 {
		if err := s.f.Truncate(0); err != nil {
			return fmt.Errorf("truncate %q: %w", p, err)
		}
		s.size = 0
		return nil
	}
	if err := s.f.Close(); err != nil {
		s.log.Warn("close file before rotation", "path", p, "err", err)
	}
	s.f = nil
	if err := os.Remove(rotated(p, s.cfg.Keep)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("rotate %q: %w", p, err)
	}
	for i := s.cfg.Keep - 1; i >= 1; i-- {
		if err := os.Rename(rotated(p, i), rotated(p, i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate %q: %w", p, err)
		}
	}
	if err := os.Rename(p, rotated(p, 1)); err != nil {
		return fmt.Errorf("rotate %q: %w", p, err)
	}
	s.log.Info("file rotated", "path", p, "kept", s.cfg.Keep)
	return s.open()
}

func rotated(p string, i int) string { return p + "." + strconv.Itoa(i) }

// Ping checks that the file's directory exists or can be created.
func (s *Sink) Ping(context.Context) error {
	if err := os.MkdirAll(filepath.Dir(s.cfg.Path), 0o755); err != nil {
		return fmt.Errorf("ping sink %q: %w", s.name, err)
	}
	return nil
}

// Close closes the file. Write fails after Close.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("close sink %q: %w", s.name, err)
	}
	return nil
}
