package kpi

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/ganlink/ganlink/gateway/point"

	"github.com/ganlink/ganlink/internal/fsread"
)

// The persisted state is JSON: the open windows, every device's committed timeline
// state, its pending samples and its counter baselines. A restart between SaveState and
// LoadState is a gap: the open windows are completed after LoadState as one window each,
// with the gap counted as unknown, and windows wholly inside the gap are not emitted.

const stateVersion = 1

type snapshot struct {
	Version  int          `json:"version"`
	SavedAt  int64        `json:"saved_at"`
	Location string       `json:"location"`
	Windows  []int64      `json:"windows"`
	Start    int64        `json:"start"`
	Horizon  int64        `json:"horizon"`
	Next     []int64      `json:"next"`
	Gaps     [][2]int64   `json:"gaps,omitempty"`
	Open     []snapWindow `json:"open"`
	Devices  []snapDevice `json:"devices"`
	// Replacements are the recorded counter replacements the engine knows (replace.go).
	Replacements []snapReplacement `json:"replacements,omitempty"`
}

type snapReplacement struct {
	ID     string `json:"id"`
	Device string `json:"device,omitempty"`
	Role   string `json:"role,omitempty"`
	At     int64  `json:"at"`
	Done   bool   `json:"done,omitempty"`
}

type snapWindow struct {
	Size  int64     `json:"size"`
	Start int64     `json:"start"`
	End   int64     `json:"end"`
	Acc   []snapAcc `json:"acc"`
}

type snapAcc struct {
	Device  string           `json:"device"`
	NS      [numStates]int64 `json:"ns"`
	Plan    int64            `json:"plan_ns"`
	RunPlan int64            `json:"run_plan_ns"`
	Parts   accFloat         `json:"parts"`
	Energy  accFloat         `json:"energy_kwh"`
	Water   accFloat         `json:"water_m3"`
	Suspect int64            `json:"suspect,omitempty"`
	Good    bool             `json:"good"`
}

// accFloat is an accumulator in the state file: a JSON number, or "+Inf", "-Inf" or
// "NaN" for one that overflowed on absurd input. The overflow is kept across a restart,
// so the window still omits the field instead of reporting the sum of what came after.
type accFloat float64

func (f accFloat) MarshalJSON() ([]byte, error) {
	switch v := float64(f); {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	default:
		return json.Marshal(v)
	}
}

func (f *accFloat) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"+Inf"`:
		*f = accFloat(math.Inf(1))
	case `"-Inf"`:
		*f = accFloat(math.Inf(-1))
	case `"NaN"`:
		*f = accFloat(math.NaN())
	default:
		var v float64
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*f = accFloat(v)
	}
	return nil
}

type snapDevice struct {
	ID       string        `json:"id"`
	Roles    []string      `json:"roles"`
	Carry    snapCarry     `json:"carry"`
	Events   []snapEvent   `json:"events,omitempty"`
	Counters []snapCounter `json:"counters,omitempty"`
}

type snapCarry struct {
	Done  int64       `json:"done"`
	Sig   []snapEvent `json:"signals,omitempty"`
	Any   bool        `json:"any"`
	Data  int64       `json:"data"`
	Down  bool        `json:"down"`
	Acc   State       `json:"acc"`
	Raw   State       `json:"raw"`
	RawAt int64       `json:"raw_at"`
	OutAt int64       `json:"out_at"`
	AccAt int64       `json:"acc_at"`
	PHas  bool        `json:"power_has"`
	PT    int64       `json:"power_t"`
	PV    float64     `json:"power_kw"`
}

type snapEvent struct {
	T     int64         `json:"t"`
	V     float64       `json:"v"`
	End   int64         `json:"end,omitempty"`   // of a heartbeat run (kind 4)
	Slots uint16        `json:"slots,omitempty"` // of a heartbeat run
	Kind  evKind        `json:"kind"`
	Role  string        `json:"role"`
	Q     point.Quality `json:"q"`
}

type snapCounter struct {
	Role string  `json:"role"`
	V    float64 `json:"v"`
	T    int64   `json:"t"`
	// Held: a glitch holds the counter below V, its baseline (counter.held).
	Held bool `json:"held,omitempty"`
	// Last is the time of the latest reading taken (counter.last).
	Last int64 `json:"last,omitempty"`
}

// SaveState writes the engine's state to w; now is the moment of saving, from which the
// gateway counts as not observing until LoadState. It may be called periodically: a
// crash then loses only the time since the last save (counted as unknown).
func (e *Engine) SaveState(w io.Writer, now time.Time) error {
	if err := e.save(w, now); err != nil {
		return fmt.Errorf("save kpi state: %w", err)
	}
	return nil
}

func (e *Engine) save(w io.Writer, now time.Time) error {
	e.mu.Lock()
	f, err := e.freeze(now.UnixNano())
	e.mu.Unlock()
	if err != nil {
		return err
	}
	return f.encode(w)
}

// frozen is the engine's state copied for a save: the copy is compact (events as the
// engine holds them) so the lock is held only for it; encoding happens after.
type frozen struct {
	savedAt, start, horizon int64
	loc                     string
	sizes, next             []int64
	gaps                    []span
	open                    []frozenWindow
	devs                    []frozenDevice
	repls                   []replacement
}

type frozenWindow struct {
	size, start, end int64
	acc              []devAcc
}

type frozenDevice struct {
	id  string
	has roleSet
	c   carry
	evs []event
	ctr [3]counter
}

// freeze copies the state to persist; e.mu must be held.
func (e *Engine) freeze(n int64) (*frozen, error) {
	if !e.started {
		return nil, errors.New("engine not started")
	}
	// The horizon written is the one every next window holds, which a reload checks;
	// it is h except between LoadState and the first Tick.
	f := &frozen{savedAt: max(n, e.h), start: e.s, horizon: e.closed, loc: e.loc.String(),
		gaps: slices.Clone(e.gaps), devs: make([]frozenDevice, len(e.devs)), repls: slices.Clone(e.repls)}
	nw := 0
	for k := range e.series {
		sr := &e.series[k]
		f.sizes = append(f.sizes, sr.size)
		f.next = append(f.next, sr.next)
		nw += len(sr.open)
	}
	accs := make([]devAcc, nw*len(e.devs))
	for k := range e.series {
		sr := &e.series[k]
		for _, w := range sr.open {
			a := accs[:len(w.acc):len(w.acc)]
			accs = accs[copy(a, w.acc):]
			f.open = append(f.open, frozenWindow{size: sr.size, start: w.start, end: w.end, acc: a})
		}
	}
	ne := 0
	for _, d := range e.devs {
		ne += len(d.evs)
	}
	evs := make([]event, ne)
	for i, d := range e.devs {
		c := evs[:len(d.evs):len(d.evs)]
		evs = evs[copy(c, d.evs):]
		f.devs[i] = frozenDevice{id: d.ID, has: d.has, c: d.c, evs: c, ctr: d.ctr}
	}
	return f, nil
}

// encode writes f as the JSON of a snapshot, streaming it to w.
func (f *frozen) encode(w io.Writer) error {
	j := jsonWriter{w: w, b: make([]byte, 0, 64<<10)}
	j.raw(`{"version":`)
	j.int(stateVersion)
	j.raw(`,"saved_at":`)
	j.int(f.savedAt)
	j.raw(`,"location":`)
	j.str(f.loc)
	j.raw(`,"windows":`)
	j.ints(f.sizes)
	j.raw(`,"start":`)
	j.int(f.start)
	j.raw(`,"horizon":`)
	j.int(f.horizon)
	j.raw(`,"next":`)
	j.ints(f.next)
	if len(f.gaps) > 0 {
		j.raw(`,"gaps":[`)
		for i, g := range f.gaps {
			j.sep(i)
			j.raw(`[`)
			j.int(g.start)
			j.raw(`,`)
			j.int(g.end)
			j.raw(`]`)
		}
		j.raw(`]`)
	}
	j.raw(`,"open":`)
	if f.open == nil {
		j.raw(`null`)
	} else {
		j.raw(`[`)
		for i := range f.open {
			j.sep(i)
			f.window(&j, &f.open[i])
		}
		j.raw(`]`)
	}
	j.raw(`,"devices":`)
	if len(f.devs) == 0 {
		j.raw(`null`)
	} else {
		j.raw(`[`)
		for i := range f.devs {
			j.sep(i)
			j.device(&f.devs[i])
			j.flush(false)
		}
		j.raw(`]`)
	}
	if len(f.repls) > 0 {
		j.raw(`,"replacements":[`)
		for i, r := range f.repls {
			j.sep(i)
			j.raw(`{"id":`)
			j.str(r.id)
			if r.dev >= 0 {
				j.raw(`,"device":`)
				j.str(f.devs[r.dev].id)
				j.raw(`,"role":`)
				j.str(roleNames[roleParts+r.ci])
			}
			j.raw(`,"at":`)
			j.int(r.at)
			if r.done {
				j.raw(`,"done":true`)
			}
			j.raw(`}`)
		}
		j.raw(`]`)
	}
	j.raw("}\n")
	return j.flush(true)
}

func (f *frozen) window(j *jsonWriter, w *frozenWindow) {
	j.raw(`{"size":`)
	j.int(w.size)
	j.raw(`,"start":`)
	j.int(w.start)
	j.raw(`,"end":`)
	j.int(w.end)
	j.raw(`,"acc":`)
	if len(w.acc) == 0 {
		j.raw(`null}`)
		return
	}
	j.raw(`[`)
	for di := range w.acc {
		a := &w.acc[di]
		j.sep(di)
		j.raw(`{"device":`)
		j.str(f.devs[di].id)
		j.raw(`,"ns":[`)
		for s, x := range a.ns {
			j.sep(s)
			j.int(x)
		}
		j.raw(`],"plan_ns":`)
		j.int(a.planNS)
		j.raw(`,"run_plan_ns":`)
		j.int(a.runPlanNS)
		j.raw(`,"parts":`)
		j.acc(a.parts)
		j.raw(`,"energy_kwh":`)
		j.acc(a.energy)
		j.raw(`,"water_m3":`)
		j.acc(a.water)
		if a.suspect > 0 {
			j.raw(`,"suspect":`)
			j.int(a.suspect)
		}
		j.raw(`,"good":`)
		j.bool(a.good)
		j.raw(`}`)
		j.flush(false)
	}
	j.raw(`]}`)
}

func (j *jsonWriter) device(d *frozenDevice) {
	j.raw(`{"id":`)
	j.str(d.id)
	j.raw(`,"roles":`)
	n := 0
	for r := roleMachine; r < numRoles; r++ {
		if d.has.has(r) {
			if n == 0 {
				j.raw(`[`)
			}
			j.sep(n)
			j.str(roleNames[r])
			n++
		}
	}
	if n == 0 {
		j.raw(`null`)
	} else {
		j.raw(`]`)
	}
	c := &d.c
	j.raw(`,"carry":{"done":`)
	j.int(c.done)
	n = 0
	for r := roleOther; r < numRoles; r++ {
		if sv := c.sig[r]; sv.has {
			if n == 0 {
				j.raw(`,"signals":[`)
			}
			j.sep(n)
			j.event(&event{v: sv.v, role: r, q: sv.q})
			n++
		}
	}
	if n > 0 {
		j.raw(`]`)
	}
	j.raw(`,"any":`)
	j.bool(c.any)
	j.raw(`,"data":`)
	j.int(c.data)
	j.raw(`,"down":`)
	j.bool(c.down)
	j.raw(`,"acc":`)
	j.int(int64(c.acc))
	j.raw(`,"raw":`)
	j.int(int64(c.raw))
	j.raw(`,"raw_at":`)
	j.int(c.rawAt)
	j.raw(`,"out_at":`)
	j.int(c.outAt)
	j.raw(`,"acc_at":`)
	j.int(c.accAt)
	j.raw(`,"power_has":`)
	j.bool(c.pHas)
	j.raw(`,"power_t":`)
	j.int(c.pT)
	j.raw(`,"power_kw":`)
	j.float(c.pV)
	j.raw(`}`)
	if len(d.evs) > 0 {
		j.raw(`,"events":[`)
		for i := range d.evs {
			j.sep(i)
			j.event(&d.evs[i])
			j.flush(false)
		}
		j.raw(`]`)
	}
	n = 0
	for ci, ct := range d.ctr {
		if ct.has {
			if n == 0 {
				j.raw(`,"counters":[`)
			}
			j.sep(n)
			j.raw(`{"role":`)
			j.str(roleNames[roleParts+role(ci)])
			j.raw(`,"v":`)
			j.float(ct.v)
			j.raw(`,"t":`)
			j.int(ct.t)
			if ct.held {
				j.raw(`,"held":true`)
			}
			if ct.last != 0 {
				j.raw(`,"last":`)
				j.int(ct.last)
			}
			j.raw(`}`)
			n++
		}
	}
	if n > 0 {
		j.raw(`]`)
	}
	j.raw(`}`)
}

func (j *jsonWriter) event(ev *event) {
	j.raw(`{"t":`)
	j.int(ev.t)
	j.raw(`,"v":`)
	if ev.kind == evBeat {
		j.float(0)
		j.raw(`,"end":`)
		j.int(ev.end())
		if ev.slots != 0 {
			j.raw(`,"slots":`)
			j.int(int64(ev.slots))
		}
	} else {
		j.float(ev.v)
	}
	j.raw(`,"kind":`)
	j.int(int64(ev.kind))
	j.raw(`,"role":`)
	j.str(roleNames[ev.role])
	j.raw(`,"q":`)
	j.int(int64(ev.q))
	j.raw(`}`)
}

// jsonWriter appends JSON to a buffer written to w in pieces, with the number and
// string formats of encoding/json. The first error is kept and ends the writing.
type jsonWriter struct {
	w   io.Writer
	b   []byte
	err error
}

func (j *jsonWriter) raw(s string) { j.b = append(j.b, s...) }

func (j *jsonWriter) sep(i int) {
	if i > 0 {
		j.b = append(j.b, ',')
	}
}

func (j *jsonWriter) int(v int64) { j.b = strconv.AppendInt(j.b, v, 10) }

func (j *jsonWriter) ints(vs []int64) {
	if vs == nil {
		j.raw(`null`)
		return
	}
	j.raw(`[`)
	for i, v := range vs {
		j.sep(i)
		j.int(v)
	}
	j.raw(`]`)
}

func (j *jsonWriter) bool(v bool) { j.b = strconv.AppendBool(j.b, v) }

// acc writes an accumulator (see accFloat).
func (j *jsonWriter) acc(v float64) {
	switch {
	case math.IsNaN(v):
		j.raw(`"NaN"`)
	case math.IsInf(v, 1):
		j.raw(`"+Inf"`)
	case math.IsInf(v, -1):
		j.raw(`"-Inf"`)
	default:
		j.float(v)
	}
}

func (j *jsonWriter) float(v float64) {
	if !finite(v) {
		if j.err == nil {
			j.err = fmt.Errorf("encode: unsupported value %v", v)
		}
		j.raw(`0`)
		return
	}
	format := byte('f')
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	j.b = strconv.AppendFloat(j.b, v, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9, as encoding/json writes it.
		if n := len(j.b); n >= 4 && j.b[n-4] == 'e' && j.b[n-3] == '-' && j.b[n-2] == '0' {
			j.b[n-2] = j.b[n-1]
			j.b = j.b[:n-1]
		}
	}
}

func (j *jsonWriter) str(s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil && j.err == nil {
				j.err = fmt.Errorf("encode: %w", err)
			}
			j.b = append(j.b, q...)
			return
		}
	}
	j.b = append(j.b, '"')
	j.b = append(j.b, s...)
	j.b = append(j.b, '"')
}

// flush writes the buffer once it is large, or always when final; it returns the first
// error.
func (j *jsonWriter) flush(final bool) error {
	if j.err == nil && (final || len(j.b) >= cap(j.b)/2) {
		if _, err := j.w.Write(j.b); err != nil {
			j.err = fmt.Errorf("write: %w", err)
		}
		j.b = j.b[:0]
	}
	return j.err
}

// LoadState restores a state written by SaveState, before the first Tick or Process.
// now is the moment observation resumes; the time since the save is unknown. When the
// location or the window lengths changed, the windows start afresh at now and only the
// counter baselines are kept. Devices are matched by id: new ones start unknown, removed
// ones are dropped.
func (e *Engine) LoadState(r io.Reader, now time.Time) error {
	if err := e.load(r, now); err != nil {
		return fmt.Errorf("load kpi state: %w", err)
	}
	return nil
}

func (e *Engine) load(r io.Reader, now time.Time) error {
	var s snapshot
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if s.Version != stateVersion {
		return fmt.Errorf("unsupported version %d", s.Version)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started || e.touched {
		return errors.New("engine already running")
	}
	e.restored = nil
	e.restoreReplacements(s.Replacements)
	clock := now.UnixNano()
	saved := s.SavedAt
	n := max(clock, saved)
	byID := make(map[string]*snapDevice, len(s.Devices))
	for i := range s.Devices {
		byID[s.Devices[i].ID] = &s.Devices[i]
	}
	if reason, detail, ok := e.checkSnapshot(&s, clock); !ok {
		if reason == DropFuture {
			n = clock
		}
		for _, sw := range s.Open {
			e.dropWindows(sw.Size, reason, 1, sw.Start, sw.End, detail)
		}
		for _, sr := range e.series {
			e.dropWindows(sr.size, reason, 0, 0, 0, detail) // named in Restored even without windows
		}
		e.start(n)
		for _, d := range e.devs {
			if sd := byID[d.ID]; sd != nil {
				restoreCounters(d, sd, n)
			}
		}
		return nil
	}
	e.started = true
	e.s, e.h, e.lastNow, e.seenMax = n, max(s.Horizon, n), n, saved
	// Windows that ended more than the restore horizon ago are never emitted.
	floor := n - e.restoreHorizon()
	e.closed = max(s.Horizon, floor)
	w0 := int64(math.MaxInt64)
	for k := range e.series {
		next := s.Next[k]
		if _, we := e.bounds(k, next); we <= floor {
			next, _ = e.bounds(k, floor)
		}
		e.series[k].next = next
		w0 = min(w0, next)
	}
	gaps := make([]span, 0, len(s.Gaps)+1)
	for _, g := range s.Gaps {
		// A gap ends at a Tick, which the save follows: one reaching past the save would
		// hide the windows after it.
		// Only the part from the first window to restore on matters; a start before it
		// (as early as 1677 in a damaged file) would only confuse the window arithmetic.
		if end := min(g[1], saved); g[0] < end && end > w0 {
			gaps = append(gaps, span{max(g[0], w0), end})
		}
	}
	if n > saved {
		gaps = append(gaps, span{saved, n})
	}
	e.gaps = mergeSpans(gaps)
	for _, sw := range s.Open {
		k := slices.IndexFunc(e.series, func(sr series) bool { return sr.size == sw.Size })
		if k < 0 {
			e.dropWindows(sw.Size, DropInconsistent, 1, sw.Start, sw.End, "a window of a length not in the file's list")
			continue
		}
		sr := &e.series[k]
		switch ws, we := e.bounds(k, sw.Start); {
		case ws != sw.Start || we != sw.End:
			e.dropWindows(sw.Size, DropInconsistent, 1, sw.Start, sw.End,
				fmt.Sprintf("window %s-%s is not on the window grid", e.fmtTime(sw.Start), e.fmtTime(sw.End)))
			continue
		case sw.End <= floor:
			e.dropWindows(sw.Size, DropExpired, 1, sw.Start, sw.End,
				fmt.Sprintf("ended before %s (restore horizon %s)", e.fmtTime(floor), time.Duration(e.restoreHorizon())))
			continue
		case sw.Start < sr.next:
			e.dropWindows(sw.Size, DropInconsistent, 1, sw.Start, sw.End,
				fmt.Sprintf("window %s is before the next window to emit %s", e.fmtTime(sw.Start), e.fmtTime(sr.next)))
			continue
		case sw.Start >= saved+maxAhead:
			e.dropWindows(sw.Size, DropFuture, 1, sw.Start, sw.End,
				fmt.Sprintf("window %s starts more than %s after the save at %s", e.fmtTime(sw.Start),
					time.Duration(maxAhead), e.fmtTime(saved)))
			continue
		}
		w := e.windowAt(k, sw.Start)
		if w == nil {
			continue // inside a gap: its counter deltas are booked at the gap's end
		}
		for _, a := range sw.Acc {
			di, ok := e.byID[a.Device]
			if !ok {
				continue
			}
			w.acc[di] = devAcc{ns: a.NS, planNS: a.Plan, runPlanNS: a.RunPlan, parts: float64(a.Parts),
				energy: float64(a.Energy), water: float64(a.Water), suspect: max(a.Suspect, 0), good: a.Good}
		}
	}
	for _, d := range e.devs {
		sd := byID[d.ID]
		if sd == nil {
			d.c.init(w0)
			continue
		}
		restoreCounters(d, sd, n)
		sc := &sd.Carry
		if max(sc.Done, sc.RawAt, sc.OutAt, sc.AccAt, sc.PT) > saved || sc.Data > saved+maxAhead ||
			min(sc.Done, sc.RawAt, sc.OutAt, sc.AccAt) < 0 || sc.PHas && sc.PT < 0 {
			// A timeline ahead of its own save (the latest sample may be up to maxAhead
			// ahead) would hold the device's state back until then, and one before 1970
			// was never written by an engine (a power reading from then would be
			// integrated over centuries): the device starts afresh (unknown) instead.
			d.c.init(w0)
			e.insert(d, event{t: saved, kind: evReset})
			continue
		}
		d.c = carry{done: sc.Done, any: sc.Any, data: sc.Data, down: sc.Down, acc: sc.Acc % numStates,
			raw: sc.Raw % numStates, rawAt: sc.RawAt, outAt: sc.OutAt, accAt: sc.AccAt,
			pHas: sc.PHas, pT: sc.PT, pV: sc.PV}
		for _, sv := range sc.Sig {
			if r, ok := roleByName(sv.Role); ok && r != roleNone {
				d.c.sig[r] = sigVal{v: sv.V, q: sv.Q, has: true}
			} else if sv.Role == "other" {
				d.c.sig[roleOther] = sigVal{v: sv.V, q: sv.Q, has: true}
			}
		}
		// In time order, so that inserting each costs O(1) whatever order the file has.
		slices.SortStableFunc(sd.Events, func(a, b snapEvent) int { return cmp.Compare(a.T, b.T) })
		for _, se := range sd.Events {
			r, ok := roleByName(se.Role)
			if se.Role == "other" {
				r, ok = roleOther, true
			}
			if se.Kind == evBeat {
				if se.T < saved && se.T >= d.c.done && se.End >= se.T {
					b := beat(se.T, min(se.End, saved-1))
					b.slots = se.Slots
					e.insert(d, b)
				}
				continue
			}
			if !ok || se.T >= saved || se.T < d.c.done || se.Kind > evReset {
				continue
			}
			e.insert(d, event{t: se.T, v: se.V, kind: se.Kind, role: r, q: se.Q})
		}
		e.insert(d, event{t: max(saved, d.c.done), kind: evReset})
	}
	return nil
}

// checkSnapshot decides whether the windows of a compatible snapshot can be restored at
// clock: the same zone and window lengths, a save not ahead of the clock, and for every
// window length the next window to emit at the file's horizon. It returns the reason and
// the first fact that failed otherwise.
func (e *Engine) checkSnapshot(s *snapshot, clock int64) (DropReason, string, bool) {
	if s.Location != e.loc.String() || len(s.Windows) != len(e.series) {
		return DropConfigChanged, fmt.Sprintf("saved for zone %q and %d window lengths", s.Location, len(s.Windows)), false
	}
	for k := range e.series {
		if s.Windows[k] != e.series[k].size {
			return DropConfigChanged, fmt.Sprintf("saved with window length %s", time.Duration(s.Windows[k])), false
		}
	}
	switch {
	case s.SavedAt > clock+maxAhead:
		return DropFuture, fmt.Sprintf("saved at %s, more than %s after the clock %s", e.fmtTime(s.SavedAt),
			time.Duration(maxAhead), e.fmtTime(clock)), false
	case len(s.Next) != len(e.series):
		return DropInconsistent, fmt.Sprintf("%d next windows for %d window lengths", len(s.Next), len(e.series)), false
	case s.Horizon < 0 || s.Horizon > s.SavedAt:
		return DropInconsistent, fmt.Sprintf("horizon %s is not between 1970 and the save at %s",
			e.fmtTime(s.Horizon), e.fmtTime(s.SavedAt)), false
	}
	for k := range e.series {
		want, _ := e.bounds(k, s.Horizon)
		if next := s.Next[k]; next != want {
			reason := DropInconsistent
			if next > want && next > clock+maxAhead {
				reason = DropFuture
			}
			return reason, fmt.Sprintf("next %s window %s, but the file's horizon %s is in the window of %s",
				e.series[k].name, e.fmtTime(next), e.fmtTime(s.Horizon), e.fmtTime(want)), false
		}
	}
	return 0, "", true
}

// mergeSpans sorts spans and merges those that overlap or touch.
func mergeSpans(ss []span) []span {
	slices.SortFunc(ss, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	out := ss[:0]
	for _, g := range ss {
		if n := len(out); n > 0 && g.start <= out[n-1].end {
			out[n-1].end = max(out[n-1].end, g.end)
			continue
		}
		out = append(out, g)
	}
	return out
}

// restoreReplacements takes over the recorded replacements of the file (of devices
// still in the inventory), before those handed to the engine since New; e.mu is held.
func (e *Engine) restoreReplacements(rs []snapReplacement) {
	var out []replacement
	for _, sr := range rs {
		if len(out) >= maxReplacements || sr.ID == "" {
			break
		}
		r := replacement{id: sr.ID, dev: -1, at: sr.At, done: true}
		if di, ok := e.byID[sr.Device]; ok && sr.Device != "" {
			if ro, ok := roleByName(sr.Role); ok && isCounter(ro) {
				r.dev, r.ci, r.done = di, ro-roleParts, sr.Done
			}
		}
		out = append(out, r)
	}
	for _, r := range e.repls {
		if !slices.ContainsFunc(out, func(o replacement) bool { return o.id == r.id }) {
			out = append(out, r)
		}
	}
	e.repls = out
	for _, d := range e.devs {
		for ci := range d.ctr {
			e.refreshPending(d.idx, role(ci))
		}
	}
}

// restoreCounters takes over d's roles and counter baselines; a baseline dated more than
// an hour after n is kept with no date, so the next reading counts from it whatever its
// time (as after the clock went back).
func restoreCounters(d *device, sd *snapDevice, n int64) {
	for _, name := range sd.Roles {
		if r, ok := roleByName(name); ok && r != roleNone {
			d.has |= 1 << r
		}
	}
	for _, sc := range sd.Counters {
		if r, ok := roleByName(sc.Role); ok && isCounter(r) && finite(sc.V) && sc.V >= 0 {
			t := sc.T
			if t > n+maxAhead {
				t = math.MinInt64
			}
			d.ctr[r-roleParts] = counter{v: sc.V, t: t, last: min(max(sc.Last, t), n+maxAhead), has: true, held: sc.Held}
		}
	}
}

// SaveFile writes the state to path atomically (temporary file, fsync, rename).
func (e *Engine) SaveFile(path string, now time.Time) (err error) {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("save kpi state %q: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := e.save(f, now); err != nil {
		return fmt.Errorf("save kpi state %q: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("save kpi state %q: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save kpi state %q: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save kpi state %q: %w", path, err)
	}
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		dir.Sync()
		dir.Close()
	}
	return nil
}

// LoadFile restores the state saved at path; a missing file gives an error wrapping
// fs.ErrNotExist (start without state then).
func (e *Engine) LoadFile(path string, now time.Time) error {
	f, err := fsread.Open(path, fsread.MaxState)
	if err != nil {
		return fmt.Errorf("load kpi state %q: %w", path, err)
	}
	defer f.Close()
	if err := e.load(f, now); err != nil {
		return fmt.Errorf("load kpi state %q: %w", path, err)
	}
	return nil
}
