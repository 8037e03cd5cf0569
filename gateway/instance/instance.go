// Package instance holds the gateway's instance id: a random identifier generated once
// and kept in the gateway's data directory, written with every KPI point (tag
// schema.TagInstance) so that two gateways writing the same workshop identity can be
// told apart by the aggregator and by a gateway at its start.
package instance

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ganlink/ganlink/internal/atomicfile"
)

// FileName is the instance id file in the data directory (next to kpi-state.json).
const FileName = "instance-id"

// idLen is the length of an id: 16 lowercase hex digits (64 random bits).
const idLen = 16

// Path returns the instance id file of a data directory.
func Path(dataDir string) string { return filepath.Join(dataDir, FileName) }

// Valid reports whether s is an instance id: 16 lowercase hex digits.
func Valid(s string) bool {
	if len(s) != idLen {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// New returns a new random instance id.
func New() string {
	var b [idLen / 2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics instead)
	return hex.EncodeToString(b[:])
}

// Load returns the instance id kept in path, creating it (and its directory) on first
// use. A file that does not hold an id (damaged, truncated, edited, longer than
// maxFile bytes: only that much is read) is moved aside to
// path.bad-<UTC time>, logged, and replaced by a new id: the gateway then writes its
// points under a new instance, as when its data directory is lost. The file is written
// atomically (a temporary file, synced, renamed), so a crash never leaves half an id.
func Load(path string, now time.Time, log *slog.Logger) (string, error) {
	b, err := readHead(path)
	switch {
	case err == nil:
		id := strings.TrimSpace(string(b))
		if len(b) <= maxFile && Valid(id) {
			return id, nil
		}
		bad := path + ".bad-" + now.UTC().Format("20060102T150405")
		if err := os.Rename(path, bad); err != nil {
			return "", fmt.Errorf("instance id %s: set aside the damaged file: %w", path, err)
		}
		shown := id
		if len(shown) > 40 {
			shown = shown[:40] + "…"
		}
		log.Warn("instance id file damaged; set aside, a new instance id is made", "file", path, "moved_to", bad,
			"content", shown)
	case errors.Is(err, fs.ErrNotExist):
	default:
		return "", fmt.Errorf("read instance id: %w", err)
	}
	id := New()
	if err := write(path, id); err != nil {
		return "", err
	}
	log.Info("new instance id", "instance", id, "file", path)
	return id, nil
}

// maxFile bounds what Load reads of the file: an id and a newline fit many times over;
// a longer file is damaged, whatever it holds.
const maxFile = 256

// readHead reads at most maxFile+1 bytes of path.
func readHead(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxFile+1))
}

func write(path, id string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write instance id: %w", err)
	}
	if err := atomicfile.Write(path, []byte(id+"\n"), 0o600); err != nil {
		return fmt.Errorf("write instance id %s: %w", path, err)
	}
	return nil
}
