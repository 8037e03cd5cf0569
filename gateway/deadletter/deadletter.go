// Package deadletter keeps the last inputs each source could not fully use (an MQTT
// payload that did not decode, a register block with an impossible value, a message
// whose handling panicked), so an engineer can see what a device actually sends.
//
// Per source the newest Keep entries are kept; a payload is cut to MaxPayload bytes
// (its full size is recorded). Entries live in memory and are written, at most once a
// second and at shutdown, to DIR/<source>.json (a JSON array, oldest first, replaced
// atomically), so they survive a restart and `gateway dead-letters` can list them while
// the gateway runs or not. Recording never blocks a source for I/O: Add copies into
// memory only.
package deadletter

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/fsread"
)

const (
	// maxError bounds the error text kept with an entry.
	maxError = 1024
	// flushEvery is how often changed sources are written.
	flushEvery = time.Second
	// maxFile bounds what Read accepts from a file of the directory.
	maxFile = 64 << 20
)

// Config configures a Store.
type Config struct {
	// Dir holds one file per source; it is created when first written.
	Dir string
	// Keep is how many entries are kept per source (at least 1).
	Keep int
	// MaxPayload is how many bytes of a payload are kept (at least 1).
	MaxPayload int
}

// Entry is one dead letter.
type Entry struct {
	Time time.Time `json:"time"`
	// Source, Device and Origin say where it came from; Origin is protocol specific:
	// the MQTT topic, or e.g. "unit 3 holding 0..75" for a Modbus read.
	Source string `json:"source"`
	Device string `json:"device,omitempty"`
	Origin string `json:"origin"`
	// Reason and Error describe the first problem found in it; Problems counts them all.
	Reason   string `json:"reason"`
	Error    string `json:"error"`
	Problems int    `json:"problems"`
	// Payload is the input as text when it is valid UTF-8, else PayloadBase64 holds it;
	// either is cut to the store's MaxPayload bytes. PayloadBytes is the full size.
	Payload       string `json:"payload,omitempty"`
	PayloadBase64 string `json:"payload_base64,omitempty"`
	PayloadBytes  int    `json:"payload_bytes"`
	Truncated     bool   `json:"truncated,omitempty"`
}

// Store keeps the dead letters of every source. It is safe for concurrent use.
type Store struct {
	cfg Config

	mu      sync.Mutex
	entries map[string][]Entry
	dirty   map[string]bool
}

// Open returns a store with the entries already in cfg.Dir (a missing directory is
// empty; an unreadable file is reported and skipped, never fatal).
func Open(cfg Config) (*Store, error) {
	if cfg.Keep < 1 || cfg.MaxPayload < 1 {
		return nil, fmt.Errorf("open dead letters: keep %d and max payload %d must be positive", cfg.Keep, cfg.MaxPayload)
	}
	s := &Store{cfg: cfg, entries: map[string][]Entry{}, dirty: map[string]bool{}}
	all, err := Read(cfg.Dir)
	for src, es := range all {
		if len(es) > cfg.Keep {
			es = es[len(es)-cfg.Keep:]
		}
		s.entries[src] = es
	}
	return s, err
}

// Add records e with payload, which is copied (cut to MaxPayload); the oldest entry of
// e.Source goes when it has Keep already.
func (s *Store) Add(e Entry, payload []byte) {
	e.PayloadBytes = len(payload)
	if len(payload) > s.cfg.MaxPayload {
		payload = payload[:s.cfg.MaxPayload]
		e.Truncated = true
	}
	text := payload
	if e.Truncated {
		text = trimPartialRune(text) // the cut may have split a character
	}
	if utf8.Valid(text) {
		e.Payload = string(text)
	} else {
		e.PayloadBase64 = base64.StdEncoding.EncodeToString(payload)
	}
	e.Error = point.Truncate(e.Error, maxError)
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	es := s.entries[e.Source]
	if len(es) >= s.cfg.Keep {
		n := copy(es, es[len(es)-s.cfg.Keep+1:])
		es = es[:n]
	}
	s.entries[e.Source] = append(es, e)
	s.dirty[e.Source] = true
}

// List returns every source's entries, oldest first.
func (s *Store) List() map[string][]Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]Entry, len(s.entries))
	for k, v := range s.entries {
		out[k] = append([]Entry(nil), v...)
	}
	return out
}

// Run writes changed sources every second until ctx is done, then once more.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.Flush()
		case <-t.C:
			_ = s.Flush() // reported by Flush's caller at shutdown; retried next tick
		}
	}
}

// Flush writes every changed source's file now.
func (s *Store) Flush() error {
	s.mu.Lock()
	pending := make(map[string][]Entry, len(s.dirty))
	for src := range s.dirty {
		pending[src] = append([]Entry(nil), s.entries[src]...)
	}
	clear(s.dirty)
	s.mu.Unlock()
	var errs []error
	for src, es := range pending {
		if err := s.write(src, es); err != nil {
			errs = append(errs, err)
			s.mu.Lock()
			s.dirty[src] = true
			s.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

func (s *Store) write(source string, es []Entry) error {
	if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("write dead letters of %q: %w", source, err)
	}
	data, err := json.MarshalIndent(es, "", "  ")
	if err != nil {
		return fmt.Errorf("write dead letters of %q: %w", source, err)
	}
	path := filepath.Join(s.cfg.Dir, fileName(source))
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write dead letters of %q: %w", source, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write dead letters of %q: %w", source, err)
	}
	return nil
}

// Read returns the entries kept in dir by source, oldest first. A missing dir is empty;
// every file that cannot be read or parsed is named in the returned error and skipped.
func Read(dir string) (map[string][]Entry, error) {
	out := map[string][]Entry{}
	names, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("read dead letters: %w", err)
	}
	var errs []error
	for _, de := range names {
		name := de.Name()
		if !strings.HasSuffix(name, ".json") || !de.Type().IsRegular() {
			continue
		}
		src, err := url.PathUnescape(strings.TrimSuffix(name, ".json"))
		if err != nil {
			continue
		}
		path := filepath.Join(dir, name)
		data, err := fsread.ReadRegular(path, maxFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("read dead letters: %w", err))
			continue
		}
		var es []Entry
		if err := json.Unmarshal(data, &es); err != nil {
			errs = append(errs, fmt.Errorf("read dead letters %s: %w", path, err))
			continue
		}
		out[src] = es
	}
	return out, errors.Join(errs...)
}

// Sources returns the source names of m sorted.
func Sources(m map[string][]Entry) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// fileName is the file of a source: its name, escaped so that any name is one plain
// file name.
func fileName(source string) string { return url.PathEscape(source) + ".json" }

// trimPartialRune drops an incomplete UTF-8 sequence that a cut left at the end of b.
func trimPartialRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}
