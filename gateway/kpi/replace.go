package kpi

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Recorded counter replacements (docs/corrections.md). An engineer records that device
// D's counter signal S was replaced at T; the first reading of S at or after T then
// starts a new meter: it is booked as the replacement rule books it (Δ = the reading,
// the new meter counted from zero; max_rate still bounds it) whatever its ratio to the
// old baseline, and counted as StepReplacement. A replacement is applied at most once,
// is known by its id (Replace with a known id does nothing, so the gateway may hand
// every recorded replacement to the engine at each start), and pending ones are kept in
// the state file across restarts.

// ReplaceEffect says what Replace did with a replacement.
type ReplaceEffect uint8

const (
	// ReplacePending: no reading at or after the time has arrived yet; the first one
	// starts a new meter.
	ReplacePending ReplaceEffect = iota
	// ReplaceNext: readings at or after the time arrived and were held as a glitch
	// below the old baseline (nothing booked); the next reading starts a new meter and
	// books what the new meter counted since zero.
	ReplaceNext
	// ReplacePast: a reading at or after the time was already booked by the automatic
	// rules (as a replacement or an increase); nothing changes. Mark the windows invalid
	// if that booking was wrong.
	ReplacePast
	// ReplaceKnown: the id was handed over before (pending, applied or revoked).
	ReplaceKnown
)

var replaceEffects = [...]string{"pending", "next_reading", "past", "known"}

// String returns pending, next_reading, past or known.
func (r ReplaceEffect) String() string {
	if int(r) < len(replaceEffects) {
		return replaceEffects[r]
	}
	return "effect(" + strconv.Itoa(int(r)) + ")"
}

// Errors of CheckCounter (and so Replace), for callers that branch.
var (
	ErrUnknownDevice  = errors.New("unknown device")
	ErrUnknownCounter = errors.New("unknown counter signal")
)

// replacement is one recorded replacement the engine knows.
type replacement struct {
	id   string
	dev  int  // device index
	ci   role // counter index (role - roleParts)
	at   int64
	done bool // applied, found past, or revoked
}

// maxReplacements bounds the replacements the engine keeps (pending and done); the
// correction store holds fewer.
const maxReplacements = 100000

// CheckCounter returns nil when signal is a counter of device with a KPI role
// (parts_total, energy_kwh_total, water_m3_total or a field mapped to one), an error
// wrapping ErrUnknownDevice or ErrUnknownCounter otherwise. The message names the
// device's counters.
func (e *Engine) CheckCounter(device, signal string) error {
	_, _, err := e.counterOf(device, signal)
	return err
}

// HasDevice reports whether device is in the inventory.
func (e *Engine) HasDevice(device string) bool {
	_, ok := e.byID[device]
	return ok
}

func (e *Engine) counterOf(device, signal string) (*device, role, error) {
	di, ok := e.byID[device]
	if !ok {
		return nil, 0, fmt.Errorf("%w %q", ErrUnknownDevice, device)
	}
	d := e.devs[di]
	names := counterNames(d)
	if !slices.Contains(names, signal) {
		list := "none"
		if len(names) > 0 {
			list = strings.Join(names, ", ")
		}
		return nil, 0, fmt.Errorf("%w %q of device %q (its counters: %s)", ErrUnknownCounter, signal, device, list)
	}
	return d, d.roleOf(signal) - roleParts, nil
}

// counterNames returns the configured fields of d with a counter role, sorted.
func counterNames(d *device) []string {
	var out []string
	seen := map[string]bool{}
	for _, name := range d.Signals {
		seen[name] = true
	}
	for name := range d.Roles {
		seen[name] = true
	}
	for name := range seen {
		if isCounter(d.roleOf(name)) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Replace records that device's counter signal was replaced at `at` (id: the
// correction's id). See ReplaceEffect for what happens.
func (e *Engine) Replace(id, device, signal string, at time.Time) (ReplaceEffect, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if slices.ContainsFunc(e.repls, func(r replacement) bool { return r.id == id }) {
		return ReplaceKnown, nil
	}
	d, ci, err := e.counterOf(device, signal)
	if err != nil {
		return 0, err
	}
	if len(e.repls) >= maxReplacements {
		return 0, fmt.Errorf("replace counter: %d replacements kept already", maxReplacements)
	}
	t := at.UnixNano()
	r := replacement{id: id, dev: d.idx, ci: ci, at: t}
	c := &d.ctr[ci]
	effect := ReplacePending
	switch {
	case c.has && c.last >= t && c.held:
		effect = ReplaceNext
	case c.has && c.last >= t:
		effect, r.done = ReplacePast, true
	}
	e.repls = append(e.repls, r)
	if !r.done {
		d.replPending |= 1 << ci
	}
	return effect, nil
}

// Revoke withdraws the replacement id. It reports whether the replacement was still
// pending (a replacement already applied stays booked).
func (e *Engine) Revoke(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.repls {
		if r := &e.repls[i]; r.id == id {
			was := !r.done
			r.done = true
			e.refreshPending(r.dev, r.ci)
			return was
		}
	}
	// Unknown yet (e.g. revoked before the gateway saw it): remembered as done.
	if len(e.repls) < maxReplacements {
		e.repls = append(e.repls, replacement{id: id, dev: -1, done: true})
	}
	return false
}

// PendingReplacements returns the ids of the replacements not applied yet.
func (e *Engine) PendingReplacements() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, r := range e.repls {
		if !r.done {
			out = append(out, r.id)
		}
	}
	return out
}

// replacedAt consumes the pending replacements of d's counter ci dated at or before t
// and reports whether there was one; e.mu is held.
func (e *Engine) replacedAt(d *device, ci role, t int64) bool {
	hit := false
	for i := range e.repls {
		if r := &e.repls[i]; !r.done && r.dev == d.idx && r.ci == ci && r.at <= t {
			r.done, hit = true, true
		}
	}
	if hit {
		e.refreshPending(d.idx, ci)
	}
	return hit
}

// refreshPending recomputes the pending bit of device di's counter ci.
func (e *Engine) refreshPending(di int, ci role) {
	if di < 0 {
		return
	}
	d := e.devs[di]
	d.replPending &^= 1 << ci
	for _, r := range e.repls {
		if !r.done && r.dev == di && r.ci == ci {
			d.replPending |= 1 << ci
			return
		}
	}
}
