package corrections

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/ganlink/ganlink/gateway/schema"
	"github.com/ganlink/ganlink/internal/fsread"
)

// FileName is the store's file in the aggregator's data directory.
const FileName = "corrections.jsonl"

// Ops of a store record.
const (
	opAdd    = "add"
	opRevoke = "revoke"
)

// record is one line of the store.
type record struct {
	Op       string    `json:"op"`
	ID       string    `json:"id"`
	Recorded time.Time `json:"recorded"`
	By       string    `json:"by"`
	Reason   string    `json:"reason"`
	Workshop string    `json:"workshop,omitempty"`
	Device   string    `json:"device,omitempty"`
	From     time.Time `json:"from,omitzero"`
	Until    time.Time `json:"until,omitzero"`
}

// State is the content of the store: every central correction, revoked or not, in the
// order recorded.
type State struct {
	List []*Correction
	byID map[string]*Correction
	// Warning reports a torn last line that was skipped (empty when none).
	Warning string
}

// Get returns the correction with the id, nil when none.
func (s *State) Get(id string) *Correction { return s.byID[id] }

// Parse reads a store's content (name is for messages).
func Parse(name string, data []byte) (*State, error) {
	st := &State{byID: map[string]*Correction{}}
	lines := bytes.Split(data, []byte("\n"))
	last := len(lines) - 1
	if len(lines[last]) == 0 {
		lines = lines[:last]
	} else {
		// No newline after the last line: a write was interrupted.
		st.Warning = fmt.Sprintf("corrections store %q: line %d is incomplete (%d bytes without a newline, an interrupted write): skipped",
			name, last+1, len(lines[last]))
		lines = lines[:last]
	}
	for i, line := range lines {
		bad := func(format string, a ...any) error {
			return fmt.Errorf("corrections store %q: line %d: %s", name, i+1, fmt.Sprintf(format, a...))
		}
		var r record
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return nil, bad("invalid record: %v", err)
		}
		switch r.Op {
		case opAdd:
			c := &Correction{ID: r.ID, Kind: schema.CorrectionInvalid, Source: SourceCentral, Workshop: r.Workshop,
				Device: r.Device, From: r.From, Until: r.Until, By: r.By, Reason: r.Reason, Recorded: r.Recorded}
			if err := CheckName("id", r.ID, true); err != nil {
				return nil, bad("%v", err)
			}
			if err := c.Check(); err != nil {
				return nil, bad("%v", err)
			}
			if st.byID[r.ID] != nil {
				return nil, bad("duplicate id %q", r.ID)
			}
			st.byID[r.ID] = c
			st.List = append(st.List, c)
		case opRevoke:
			c := st.byID[r.ID]
			switch {
			case c == nil:
				return nil, bad("revocation of unknown id %q", Clip(r.ID))
			case c.Revoked:
				return nil, bad("id %q revoked twice", r.ID)
			}
			c.Revoked, c.RevokedAt, c.RevokedBy, c.RevokedReason = true, r.Recorded, r.By, r.Reason
		default:
			return nil, bad("op %q is not add or revoke", Clip(r.Op))
		}
	}
	return st, nil
}

// fileVersion identifies a version of the store file.
type fileVersion struct {
	size  int64
	mtime time.Time
	ino   uint64
}

func versionOf(fi fs.FileInfo) fileVersion {
	v := fileVersion{size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		v.ino = st.Ino
	}
	return v
}

// Store is the central store: the file <data dir>/corrections.jsonl, created by the
// first correction. Several processes may append at once (the command and a running
// aggregator): each append holds an exclusive lock on the file. Safe for concurrent use.
type Store struct {
	path string

	mu    sync.Mutex
	ver   fileVersion
	state *State
	gen   uint64
}

// NewStore returns the store of the file at path; it reads nothing.
func NewStore(path string) *Store {
	return &Store{path: path, state: &State{byID: map[string]*Correction{}}}
}

// Path returns the file's path.
func (s *Store) Path() string { return s.path }

// Current returns the store's content, re-reading the file when its size, modification
// time or inode changed since the last read (one stat per call), and a generation that
// changes whenever the content does. A missing file is an empty store. When the file
// cannot be read or parsed, the previous content is returned with the error.
func (s *Store) Current() (*State, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		if s.ver != (fileVersion{}) {
			s.ver, s.state = fileVersion{}, &State{byID: map[string]*Correction{}}
			s.gen++
		}
		return s.state, s.gen, nil
	}
	if err != nil {
		return s.state, s.gen, fmt.Errorf("corrections store %q: %w", s.path, err)
	}
	v := versionOf(fi)
	if v == s.ver {
		return s.state, s.gen, nil
	}
	data, err := fsread.ReadRegular(s.path, MaxStoreBytes)
	if err != nil {
		return s.state, s.gen, fmt.Errorf("read corrections store %q: %w", s.path, fsread.Reason(err))
	}
	st, err := Parse(s.path, data)
	if err != nil {
		return s.state, s.gen, err
	}
	s.ver, s.state = v, st
	s.gen++
	return st, s.gen, nil
}

// Add validates c (Check), gives it an id and the time recorded, and appends it.
func (s *Store) Add(c Correction, now time.Time) (*Correction, error) {
	c.Kind, c.Source = schema.CorrectionInvalid, SourceCentral
	c.Revoked, c.RevokedAt, c.RevokedBy, c.RevokedReason = false, time.Time{}, "", ""
	c.Instance = ""
	if err := c.Check(); err != nil {
		return nil, err
	}
	id, err := NewID()
	if err != nil {
		return nil, err
	}
	c.ID, c.Recorded = id, now.UTC().Truncate(time.Second)
	r := record{Op: opAdd, ID: c.ID, Recorded: c.Recorded, By: c.By, Reason: c.Reason, Workshop: c.Workshop,
		Device: c.Device, From: c.From.UTC(), Until: c.Until.UTC()}
	if err := s.append(r, nil); err != nil {
		return nil, err
	}
	return &c, nil
}

// ErrAlreadyRevoked is wrapped by the error of a second revocation.
var ErrAlreadyRevoked = errors.New("already revoked")

// NotFoundError is a revocation of an id the store does not hold.
type NotFoundError struct{ ID string }

func (e *NotFoundError) Error() string { return fmt.Sprintf("correction %q not found", Clip(e.ID)) }

// Revoke appends the revocation of the correction id, by whom and why. check, when
// not nil, is called with the correction under the store's lock and may refuse it
// (a caller's scope).
func (s *Store) Revoke(id, by, reason string, now time.Time, check func(*Correction) error) (*Correction, error) {
	if err := CheckName("id", id, true); err != nil {
		return nil, err
	}
	if err := CheckName("by", by, true); err != nil {
		return nil, err
	}
	if err := CheckReason("reason", reason); err != nil {
		return nil, err
	}
	r := record{Op: opRevoke, ID: id, Recorded: now.UTC().Truncate(time.Second), By: by, Reason: reason}
	var out Correction
	err := s.append(r, func(st *State) error {
		c := st.Get(id)
		switch {
		case c == nil:
			return &NotFoundError{ID: id}
		case c.Revoked:
			return fmt.Errorf("correction %q is %w (by %q at %s)", id, ErrAlreadyRevoked, c.RevokedBy, c.RevokedAt.Format(time.RFC3339))
		}
		if check != nil {
			if err := check(c); err != nil {
				return err
			}
		}
		out = *c
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.Revoked, out.RevokedAt, out.RevokedBy, out.RevokedReason = true, r.Recorded, by, reason
	return &out, nil
}

// append writes r as one line under an exclusive lock of the file, after cutting off
// a torn last line and calling check (when not nil) with the file's current content;
// the line is fsync'd, and the directory too when the file was created.
func (s *Store) append(r record, check func(*State) error) error {
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode correction: %w", err)
	}
	line = append(line, '\n')
	_, statErr := os.Stat(s.path)
	created := errors.Is(statErr, fs.ErrNotExist)
	if created {
		if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
			return fmt.Errorf("corrections store: %w", err)
		}
	}
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("corrections store: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock corrections store %q: %w", s.path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("corrections store: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("corrections store %q: not a regular file", s.path)
	}
	if fi.Size()+int64(len(line)) > MaxStoreBytes {
		return fmt.Errorf("corrections store %q is full (%s): archive it and start a new one", s.path, fsread.FormatSize(MaxStoreBytes))
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxStoreBytes+1))
	if err != nil {
		return fmt.Errorf("read corrections store %q: %w", s.path, err)
	}
	st, err := Parse(s.path, data)
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(st); err != nil {
			return err
		}
	}
	end := int64(len(data))
	if st.Warning != "" {
		// Cut the torn line off so the new record starts a line of its own.
		end = int64(bytes.LastIndexByte(data, '\n') + 1)
		if err := f.Truncate(end); err != nil {
			return fmt.Errorf("corrections store %q: cut the incomplete last line: %w", s.path, err)
		}
	}
	if _, err := f.WriteAt(line, end); err != nil {
		return fmt.Errorf("write corrections store %q: %w", s.path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync corrections store %q: %w", s.path, err)
	}
	if created {
		if d, err := os.Open(filepath.Dir(s.path)); err == nil {
			_ = d.Sync()
			_ = d.Close()
		}
	}
	return nil
}
