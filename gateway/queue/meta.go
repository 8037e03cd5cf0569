package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ganlink/ganlink/internal/fsread"
)

const metaVersion = 1

// meta is the content of the metadata file.
type meta struct {
	Version int `json:"version"`
	// AckedOffset is the committed read position: every block whose frame ends at or
	// before it has been acknowledged.
	AckedOffset uint64 `json:"acked_offset"`
}

// metaState says what readMeta found.
type metaState int

const (
	metaOK metaState = iota
	metaMissing
	metaCorrupt
)

// readMeta reads the metadata file. Anything other than a well-formed file of the current
// version is reported as metaCorrupt together with the reason, never as an error.
func readMeta(dir string) (meta, metaState, error) {
	b, err := fsread.ReadRegular(filepath.Join(dir, metaName), fsread.MaxMeta)
	if errors.Is(err, os.ErrNotExist) {
		return meta{}, metaMissing, nil
	}
	if err != nil {
		return meta{}, metaCorrupt, fmt.Errorf("read metadata: %w", err)
	}
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return meta{}, metaCorrupt, fmt.Errorf("decode metadata: %w", err)
	}
	if m.Version != metaVersion {
		return meta{}, metaCorrupt, fmt.Errorf("decode metadata: unsupported version %d", m.Version)
	}
	if m.AckedOffset > maxOffset {
		return meta{}, metaCorrupt, fmt.Errorf("decode metadata: offset %d out of range", m.AckedOffset)
	}
	return m, metaOK, nil
}

// writeMeta replaces the metadata file atomically and durably: it writes a temporary file,
// fsyncs it, renames it over the old one and fsyncs the directory.
func writeMeta(dir string, m meta) error {
	m.Version = metaVersion
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode metadata: %w", err)
	}
	b = append(b, '\n')
	tmp := filepath.Join(dir, metaTmpName)
	if err := writeFileSync(tmp, b); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, metaName)); err != nil {
		return fmt.Errorf("rename metadata: %w", err)
	}
	return syncDir(dir)
}

// writeFileSync creates or truncates path, writes b and fsyncs it.
func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("create %q: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync %q: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %q: %w", path, err)
	}
	return nil
}

// syncDir fsyncs a directory so that entries created, renamed or removed in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %q: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %q: %w", dir, err)
	}
	return nil
}
