package corrections

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
	"github.com/ganlink/ganlink/internal/fsread"
)

// FileName is the store's file in the gateway's data directory.
const FileName = "corrections.jsonl"

// Limits of the store.
const (
	MaxCorrections = 10000
	MaxReason      = 200
	MaxBy          = 64
	MaxName        = 256
	MaxFileBytes   = 64 << 20
)

// Refusal reasons: the values of Error.Reason and of the reason label of
// ganlink_corrections_refused_total.
const (
	ReasonBadKind       = "bad_kind"
	ReasonUnknownDevice = "unknown_device"
	ReasonUnknownSignal = "unknown_signal"
	ReasonBadSpan       = "bad_span"
	ReasonFuture        = "future"
	ReasonMissing       = "missing"
	ReasonTooLong       = "too_long"
	ReasonBadText       = "bad_text"
	ReasonUnknownID     = "unknown_id"
	ReasonRevoked       = "revoked"
	ReasonFull          = "store_full"
	ReasonBadRequest    = "bad_request"
	// ReasonUnauthenticated: a correction request of the admin API without valid
	// credentials (answered 401).
	ReasonUnauthenticated = "unauthenticated"
)

// Reasons lists every refusal reason, for metrics initialised at 0.
var Reasons = []string{ReasonBadKind, ReasonUnknownDevice, ReasonUnknownSignal, ReasonBadSpan, ReasonFuture,
	ReasonMissing, ReasonTooLong, ReasonBadText, ReasonUnknownID, ReasonRevoked, ReasonFull, ReasonBadRequest, ReasonUnauthenticated}

// Kinds lists the correction kinds.
var Kinds = []string{schema.CorrectionInvalid, schema.CorrectionReplacement}

// Error is a refused request: Field names the input, Msg what is wrong with its value.
type Error struct {
	Reason string
	Field  string
	Msg    string
}

func (e *Error) Error() string { return e.Field + ": " + e.Msg }

func refuse(reason, field, format string, args ...any) *Error {
	return &Error{Reason: reason, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Inventory answers which devices and counter signals exist: the KPI engine
// (kpi.Engine), so the store and the counter model agree.
type Inventory interface {
	HasDevice(device string) bool
	CheckCounter(device, signal string) error
}

// Request is a correction to record. An invalid span names From and Until (Device ""
// for the whole workshop); a replacement names Device, Signal and At.
type Request struct {
	Kind   string    `json:"kind"`
	Device string    `json:"device,omitempty"`
	Signal string    `json:"signal,omitempty"`
	From   time.Time `json:"from,omitzero"`
	Until  time.Time `json:"until,omitzero"`
	At     time.Time `json:"at,omitzero"`
	Reason string    `json:"reason"`
	// By is who records it; the admin API takes the authenticated user instead.
	By string `json:"by,omitempty"`
}

// Correction is a recorded correction. For a replacement From and Until are both the
// replacement time.
type Correction struct {
	ID       string      `json:"id"`
	Kind     string      `json:"kind"`
	Device   string      `json:"device,omitempty"`
	Signal   string      `json:"signal,omitempty"`
	From     time.Time   `json:"from"`
	Until    time.Time   `json:"until"`
	By       string      `json:"by"`
	Reason   string      `json:"reason"`
	Recorded time.Time   `json:"recorded"`
	Revoked  *Revocation `json:"revoked,omitempty"`
}

// Revocation records who withdrew a correction, when and why.
type Revocation struct {
	By       string    `json:"by"`
	Reason   string    `json:"reason"`
	Recorded time.Time `json:"recorded"`
}

// Active reports whether c is in force (not revoked).
func (c *Correction) Active() bool { return c.Revoked == nil }

// record is one line of the store.
type record struct {
	Op       string     `json:"op"`
	ID       string     `json:"id"`
	Kind     string     `json:"kind,omitempty"`
	Device   string     `json:"device,omitempty"`
	Signal   string     `json:"signal,omitempty"`
	From     *time.Time `json:"from,omitempty"`
	Until    *time.Time `json:"until,omitempty"`
	By       string     `json:"by,omitempty"`
	Reason   string     `json:"reason,omitempty"`
	Point    string     `json:"point,omitempty"`
	Recorded time.Time  `json:"recorded"`
}

// Record operations.
const (
	opAdd     = "add"
	opRevoke  = "revoke"
	opWritten = "written"
)

// Unwritten is a record whose kpi_correction point is not in the sink queues yet.
type Unwritten struct {
	Correction Correction
	// Revoke: the revocation's point (FieldActive 0), else the correction's.
	Revoke bool
}

// Store is the durable correction log. Its methods are safe for concurrent use.
type Store struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	inv     Inventory
	now     func() time.Time
	list    []*Correction
	byID    map[string]*Correction
	written map[string]uint8 // bit 1: the add's point, bit 2: the revocation's
}

// Open opens (creating) the store at path, checked against inv, with now as the clock
// (nil: time.Now). problems lists the lines skipped (torn or damaged), each naming the
// line; they are never an error. The file is locked until Close.
func Open(path string, inv Inventory, now func() time.Time) (s *Store, problems []string, err error) {
	if now == nil {
		now = time.Now
	}
	f, err := openLocked(path)
	if err != nil {
		return nil, nil, err
	}
	s = &Store{path: path, f: f, inv: inv, now: now, byID: map[string]*Correction{}, written: map[string]uint8{}}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	r, err := fsread.Open(path, MaxFileBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("open corrections %q: %w", path, err)
	}
	data, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("read corrections %q: %w", path, err)
	}
	good := 0 // bytes up to the end of the last complete line
	for line := 1; len(data) > good; line++ {
		rest := data[good:]
		n := bytes.IndexByte(rest, '\n')
		if n < 0 {
			problems = append(problems, fmt.Sprintf("%s:%d: torn last line (%d bytes without a line end) skipped and cut off", path, line, len(rest)))
			if err := f.Truncate(int64(good)); err != nil {
				return nil, nil, fmt.Errorf("cut off torn line of corrections %q: %w", path, err)
			}
			if err := f.Sync(); err != nil {
				return nil, nil, fmt.Errorf("sync corrections %q: %w", path, err)
			}
			break
		}
		good += n + 1
		if len(bytes.TrimSpace(rest[:n])) == 0 {
			continue
		}
		var rec record
		if err := json.Unmarshal(rest[:n], &rec); err != nil {
			problems = append(problems, fmt.Sprintf("%s:%d: damaged line skipped: %v", path, line, err))
			continue
		}
		if msg := s.apply(&rec); msg != "" {
			problems = append(problems, fmt.Sprintf("%s:%d: record skipped: %s", path, line, msg))
		}
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return nil, nil, fmt.Errorf("open corrections %q: %w", path, err)
	}
	return s, problems, nil
}

// apply takes a decoded record into the in-memory view; it returns why it cannot.
func (s *Store) apply(rec *record) string {
	c := s.byID[rec.ID]
	switch rec.Op {
	case opAdd:
		switch {
		case rec.ID == "" || c != nil:
			return "add without an id or with one already used " + strconv.Quote(point.Truncate(rec.ID, 40))
		case rec.From == nil || rec.Until == nil:
			return "add " + strconv.Quote(rec.ID) + " without from or until"
		case len(s.list) >= MaxCorrections:
			return fmt.Sprintf("more than %d corrections", MaxCorrections)
		}
		c = &Correction{ID: rec.ID, Kind: rec.Kind, Device: rec.Device, Signal: rec.Signal, From: rec.From.UTC(),
			Until: rec.Until.UTC(), By: rec.By, Reason: rec.Reason, Recorded: rec.Recorded.UTC()}
		s.list = append(s.list, c)
		s.byID[c.ID] = c
	case opRevoke:
		if c == nil {
			return "revocation of unknown id " + strconv.Quote(point.Truncate(rec.ID, 40))
		}
		if c.Revoked == nil {
			c.Revoked = &Revocation{By: rec.By, Reason: rec.Reason, Recorded: rec.Recorded.UTC()}
		}
	case opWritten:
		if c == nil {
			return "written mark of unknown id " + strconv.Quote(point.Truncate(rec.ID, 40))
		}
		if rec.Point == opRevoke {
			s.written[rec.ID] |= 2
		} else {
			s.written[rec.ID] |= 1
		}
	default:
		return "unknown op " + strconv.Quote(point.Truncate(rec.Op, 40))
	}
	return ""
}

// append writes rec as one line and syncs the file; the in-memory view follows only
// after it is durable.
func (s *Store) append(rec *record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode correction record: %w", err)
	}
	b = append(b, '\n')
	if _, err := s.f.Write(b); err != nil {
		return fmt.Errorf("append to corrections %q: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sync corrections %q: %w", s.path, err)
	}
	s.apply(rec)
	return nil
}

// Path returns the store's file.
func (s *Store) Path() string { return s.path }

// Close releases the file and its lock.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// Check validates req as Add would, without recording it; it returns the correction
// Add would record (without id and times of recording).
func (s *Store) Check(req Request) (Correction, error) {
	now := s.now()
	// Whole seconds: the point's FieldUntil is in Unix seconds.
	req.From, req.Until, req.At = req.From.Truncate(time.Second), req.Until.Truncate(time.Second), req.At.Truncate(time.Second)
	c := Correction{Kind: req.Kind, Device: req.Device, Signal: req.Signal, By: req.By, Reason: req.Reason}
	if err := checkText("by", req.By, MaxBy); err != nil {
		return c, err
	}
	if err := checkText("reason", req.Reason, MaxReason); err != nil {
		return c, err
	}
	if len(req.Device) > MaxName {
		return c, refuse(ReasonTooLong, "device", "%d bytes, at most %d", len(req.Device), MaxName)
	}
	if len(req.Signal) > MaxName {
		return c, refuse(ReasonTooLong, "signal", "%d bytes, at most %d", len(req.Signal), MaxName)
	}
	if req.Device != "" && !s.inv.HasDevice(req.Device) {
		return c, refuse(ReasonUnknownDevice, "device", "unknown device %q", point.Truncate(req.Device, 64))
	}
	switch req.Kind {
	case schema.CorrectionInvalid:
		switch {
		case req.Signal != "":
			return c, refuse(ReasonBadRequest, "signal", "%q given for an invalid span: only a replacement names a signal", point.Truncate(req.Signal, 64))
		case !req.At.IsZero():
			return c, refuse(ReasonBadRequest, "at", "given for an invalid span: it has from and until")
		case req.From.IsZero():
			return c, refuse(ReasonMissing, "from", "missing: the start of the invalid span")
		case req.Until.IsZero():
			return c, refuse(ReasonMissing, "until", "missing: the end of the invalid span (exclusive)")
		case !req.From.Before(req.Until):
			return c, refuse(ReasonBadSpan, "until", "%s is not after from %s", stamp(req.Until), stamp(req.From))
		case req.Until.After(now):
			return c, refuse(ReasonFuture, "until", "%s is in the future (now %s): mark a span once it has ended", stamp(req.Until), stamp(now))
		}
		c.From, c.Until = req.From.UTC(), req.Until.UTC()
	case schema.CorrectionReplacement:
		switch {
		case req.Device == "":
			return c, refuse(ReasonMissing, "device", "missing: a replacement names the device whose counter was replaced")
		case req.Signal == "":
			return c, refuse(ReasonMissing, "signal", "missing: a replacement names the counter signal that was replaced")
		case req.At.IsZero():
			return c, refuse(ReasonMissing, "at", "missing: the time of the replacement")
		case !req.From.IsZero() || !req.Until.IsZero():
			return c, refuse(ReasonBadRequest, "from", "given for a replacement: it has one time, at")
		}
		if err := s.inv.CheckCounter(req.Device, req.Signal); err != nil {
			return c, refuse(ReasonUnknownSignal, "signal", "%v", err)
		}
		c.From, c.Until = req.At.UTC(), req.At.UTC()
	case "":
		return c, refuse(ReasonMissing, "kind", "missing: want %s or %s", schema.CorrectionInvalid, schema.CorrectionReplacement)
	default:
		return c, refuse(ReasonBadKind, "kind", "unknown kind %q: want %s or %s", point.Truncate(req.Kind, 64),
			schema.CorrectionInvalid, schema.CorrectionReplacement)
	}
	return c, nil
}

// checkText refuses a missing value, one longer than max runes, invalid UTF-8 and
// control characters (the value becomes a TSDB tag).
func checkText(field, v string, max int) error {
	switch n := utf8.RuneCountInString(v); {
	case v == "":
		return refuse(ReasonMissing, field, "missing")
	case n > max:
		return refuse(ReasonTooLong, field, "%d characters, at most %d", n, max)
	case !utf8.ValidString(v):
		return refuse(ReasonBadText, field, "not valid UTF-8")
	case slices.ContainsFunc([]rune(v), unicode.IsControl):
		return refuse(ReasonBadText, field, "contains a control character (line break, tab): %q", point.Truncate(v, 64))
	}
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Add checks req and records it durably; it returns the correction with its new id.
func (s *Store) Add(req Request) (Correction, error) {
	c, err := s.Check(req)
	if err != nil {
		return c, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return c, errors.New("add correction: store closed")
	}
	if len(s.list) >= MaxCorrections {
		return c, refuse(ReasonFull, "id", "the store holds %d corrections, the most it keeps", MaxCorrections)
	}
	c.ID = newID()
	c.Recorded = s.now().UTC().Truncate(time.Millisecond)
	from, until := c.From, c.Until
	rec := &record{Op: opAdd, ID: c.ID, Kind: c.Kind, Device: c.Device, Signal: c.Signal, From: &from, Until: &until,
		By: c.By, Reason: c.Reason, Recorded: c.Recorded}
	if err := s.append(rec); err != nil {
		return c, err
	}
	return *s.byID[c.ID], nil
}

// Revoke withdraws the correction id; by and reason are checked like Add's.
func (s *Store) Revoke(id, by, reason string) (Correction, error) {
	if err := checkText("by", by, MaxBy); err != nil {
		return Correction{}, err
	}
	if err := checkText("reason", reason, MaxReason); err != nil {
		return Correction{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.byID[id]
	switch {
	case id == "":
		return Correction{}, refuse(ReasonMissing, "id", "missing: the id of the correction to revoke")
	case c == nil:
		return Correction{}, refuse(ReasonUnknownID, "id", "unknown correction %q", point.Truncate(id, 64))
	case c.Revoked != nil:
		return *c, refuse(ReasonRevoked, "id", "correction %q was revoked already at %s by %s", id, stamp(c.Revoked.Recorded), c.Revoked.By)
	case s.f == nil:
		return *c, errors.New("revoke correction: store closed")
	}
	rec := &record{Op: opRevoke, ID: id, By: by, Reason: reason, Recorded: s.now().UTC().Truncate(time.Millisecond)}
	if err := s.append(rec); err != nil {
		return *c, err
	}
	return *c, nil
}

// MarkWritten records that the point of u is in the sink queues.
func (s *Store) MarkWritten(u Unwritten) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return errors.New("mark correction written: store closed")
	}
	rec := &record{Op: opWritten, ID: u.Correction.ID, Point: opAdd, Recorded: s.now().UTC().Truncate(time.Millisecond)}
	if u.Revoke {
		rec.Point = opRevoke
	}
	return s.append(rec)
}

// Unwritten returns the records whose points are not in the sink queues yet, in the
// order they were recorded.
func (s *Store) Unwritten() []Unwritten {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Unwritten
	for _, c := range s.list {
		w := s.written[c.ID]
		if w&1 == 0 {
			out = append(out, Unwritten{Correction: *c})
		}
		if c.Revoked != nil && w&2 == 0 {
			out = append(out, Unwritten{Correction: *c, Revoke: true})
		}
	}
	return out
}

// List returns every correction, revoked ones included, in the order recorded.
func (s *Store) List() []Correction {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Correction, len(s.list))
	for i, c := range s.list {
		out[i] = *c
	}
	return out
}

// Get returns the correction id.
func (s *Store) Get(id string) (Correction, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.byID[id]
	if !ok {
		return Correction{}, false
	}
	return *c, true
}

// newID returns "c-" and 16 random hex digits.
func newID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return "c-" + hex.EncodeToString(b[:])
}

// IsNotExist reports whether err says the store's directory is missing.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
