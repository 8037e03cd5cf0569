// Package corrections is the aggregator's audit trail of corrections: spans of a
// workshop's (or one device's) KPI windows recorded as invalid, to be left out of every
// figure the aggregator serves. Nothing in the TSDB is edited: a correction only tells
// the aggregator which windows not to count.
//
// Two sources feed it. Central corrections are recorded with `aggregator correct add`
// or POST /api/v1/corrections and kept in the store, an append-only JSON-lines file
// (one record per line, "add" or "revoke", each written with one write and fsync'd;
// nothing is ever rewritten). Gateway corrections are the kpi_correction points the
// gateways write to the TSDB (gateway/schema.Correction), read by the service.
//
// Store recovery: a last line without its newline is a write that was interrupted; it
// is reported (Warning) and skipped, and the next append cuts it off first. Any other
// line that is not a valid record makes the whole store unreadable (an error naming the
// line): the running aggregator then keeps the corrections it read last and logs it.
package corrections

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
	"unicode/utf8"
)

// Sources of a correction.
const (
	SourceCentral = "central"
	SourceGateway = "gateway"
)

// Bounds of a correction's texts.
const (
	// MaxReasonRunes bounds a reason (and a revocation's reason).
	MaxReasonRunes = 200
	// MaxNameBytes bounds an id, a workshop, a device and who recorded it.
	MaxNameBytes = 128
	// MaxStoreBytes bounds the store file: an append beyond it is refused.
	MaxStoreBytes = 16 << 20
)

// Correction is one correction and, when revoked, its revocation.
type Correction struct {
	ID string
	// Kind is schema.CorrectionInvalid or schema.CorrectionReplacement (gateways only:
	// a replacement concerns the gateway's counter model and leaves no window out).
	Kind     string
	Source   string
	Workshop string
	// Device is empty for the whole workshop.
	Device string
	// From and Until bound the span [From, Until).
	From, Until time.Time
	By, Reason  string
	// Recorded is when the correction was recorded (central only).
	Recorded time.Time
	// Instance is the gateway instance that wrote it (gateway only).
	Instance string
	// Revoked is set once revoked; the revocation's who, when and why follow.
	Revoked                  bool
	RevokedAt                time.Time
	RevokedBy, RevokedReason string
}

// InForce reports whether c is in force (not revoked).
func (c *Correction) InForce() bool { return !c.Revoked }

// Overlaps reports whether the span [From, Until) overlaps [from, to): a window (or a
// period) is covered by a correction when they share at least one instant.
func (c *Correction) Overlaps(from, to time.Time) bool {
	return c.From.Before(to) && from.Before(c.Until)
}

// FieldError is a refused correction: the field and what is wrong with its value.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// Clip quotes at most 64 bytes of a value in an error message.
func Clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// CheckName checks an identifier-like text (workshop, device, by, id): required when
// required, at most MaxNameBytes, valid UTF-8 without control characters.
func CheckName(field, v string, required bool) error {
	switch {
	case v == "" && required:
		return fieldErr(field, "required")
	case len(v) > MaxNameBytes:
		return fieldErr(field, "%q is %d bytes long, at most %d", Clip(v), len(v), MaxNameBytes)
	case !utf8.ValidString(v):
		return fieldErr(field, "%q is not valid UTF-8", Clip(v))
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fieldErr(field, "%q contains a control character", Clip(v))
		}
	}
	return nil
}

// CheckReason checks a reason: required, valid UTF-8, at most MaxReasonRunes runes.
func CheckReason(field, v string) error {
	switch {
	case v == "":
		return fieldErr(field, "required: say why")
	case !utf8.ValidString(v):
		return fieldErr(field, "%q is not valid UTF-8", Clip(v))
	}
	if n := utf8.RuneCountInString(v); n > MaxReasonRunes {
		return fieldErr(field, "%d characters, at most %d", n, MaxReasonRunes)
	}
	return nil
}

// Check validates a new central correction's own fields (the registry and the scope are
// the caller's): workshop, device, by, reason, and a span whose from is before until,
// both whole seconds.
func (c *Correction) Check() error {
	if err := CheckName("workshop", c.Workshop, true); err != nil {
		return err
	}
	if err := CheckName("device", c.Device, false); err != nil {
		return err
	}
	if c.From.IsZero() {
		return fieldErr("from", "required")
	}
	if c.Until.IsZero() {
		return fieldErr("until", "required")
	}
	if c.From.Nanosecond() != 0 || c.Until.Nanosecond() != 0 {
		return fieldErr("from", "from and until must be whole seconds")
	}
	if !c.From.Before(c.Until) {
		return fieldErr("from", "%s is not before until %s", c.From.Format(time.RFC3339), c.Until.Format(time.RFC3339))
	}
	if err := CheckName("by", c.By, true); err != nil {
		return err
	}
	return CheckReason("reason", c.Reason)
}

// NewID returns a fresh correction id: "c-" and 12 random hex digits.
func NewID() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new correction id: %w", err)
	}
	return "c-" + hex.EncodeToString(b[:]), nil
}
