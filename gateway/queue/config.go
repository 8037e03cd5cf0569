package queue

import (
	"errors"
	"fmt"
	"time"
)

// Defaults applied by DefaultConfig and, for zero fields, by Open.
const (
	DefaultMaxBytes     int64 = 1 << 30
	DefaultSegmentBytes int64 = 32 << 20
	DefaultFsync              = "1s"
	DefaultMemoryBytes  int64 = 8 << 20

	// FsyncAlways is the Fsync value that makes every Append durable before it returns.
	FsyncAlways = "always"

	minMaxBytes     int64 = 4 << 10
	minSegmentBytes int64 = 1 << 10
)

// Config configures a Queue. It is the `queue:` section of the gateway configuration; start
// from DefaultConfig. Zero numeric fields and an empty Fsync take their defaults in Open.
type Config struct {
	// Dir is the directory that holds the segment files, the metadata file and quarantine/.
	// Required. It is created if missing; one Queue at a time may use it.
	Dir string `yaml:"dir"`
	// MaxBytes bounds the total size of the segment files. When an Append would exceed it,
	// the oldest segments are dropped (and counted). Default 1 GiB.
	MaxBytes int64 `yaml:"max_bytes"`
	// SegmentBytes is the size at which a new segment file is started. Disk space is
	// reclaimed, and dropped when full, by whole segments, so Open lowers it to MaxBytes/4
	// when larger. Default 32 MiB.
	SegmentBytes int64 `yaml:"segment_bytes"`
	// Fsync is "always" (every Append is fsynced before it returns; concurrent appenders
	// share one fsync) or a Go duration such as "1s": Run fsyncs at that interval.
	// Default "1s".
	Fsync string `yaml:"fsync"`
	// MemoryBytes is the budget for recently appended blocks kept in memory, so that a
	// reader keeping up never reads the disk. Negative disables it. Default 8 MiB.
	MemoryBytes int64 `yaml:"memory_bytes"`
}

// DefaultConfig returns the defaults; Dir is left empty and must be set.
func DefaultConfig() Config {
	return Config{
		MaxBytes:     DefaultMaxBytes,
		SegmentBytes: DefaultSegmentBytes,
		Fsync:        DefaultFsync,
		MemoryBytes:  DefaultMemoryBytes,
	}
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxBytes == 0 {
		c.MaxBytes = d.MaxBytes
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = d.SegmentBytes
	}
	if c.Fsync == "" {
		c.Fsync = d.Fsync
	}
	if c.MemoryBytes == 0 {
		c.MemoryBytes = d.MemoryBytes
	}
	return c
}

// Validate reports every invalid field, each named by its configuration path
// (`queue.fsync: invalid value "x": want "always" or a duration`). Zero fields are valid:
// they take their defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("queue.dir: required"))
	}
	if c.MaxBytes < minMaxBytes {
		errs = append(errs, fmt.Errorf("queue.max_bytes: invalid value %d: want at least %d", c.MaxBytes, minMaxBytes))
	}
	if c.SegmentBytes < minSegmentBytes {
		errs = append(errs, fmt.Errorf("queue.segment_bytes: invalid value %d: want at least %d", c.SegmentBytes, minSegmentBytes))
	}
	if _, _, err := parseFsync(c.Fsync); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// parseFsync returns always=true for "always", or the interval.
func parseFsync(s string) (always bool, interval time.Duration, err error) {
	if s == FsyncAlways {
		return true, 0, nil
	}
	d, perr := time.ParseDuration(s)
	if perr != nil {
		return false, 0, fmt.Errorf("queue.fsync: invalid value %q: want %q or a duration", s, FsyncAlways)
	}
	if d <= 0 {
		return false, 0, fmt.Errorf("queue.fsync: invalid value %q: want %q or a positive duration", s, FsyncAlways)
	}
	return false, d, nil
}

// effectiveSegmentBytes is the segment size actually used: at most a quarter of MaxBytes, so
// that dropping or reclaiming one segment never frees more than a quarter of the queue.
func (c Config) effectiveSegmentBytes() int64 {
	s := c.SegmentBytes
	if q := c.MaxBytes / 4; s > q {
		s = q
	}
	return s
}
