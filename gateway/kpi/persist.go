package kpi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
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
	Parts   float64          `json:"parts"`
	Energy  float64          `json:"energy_kwh"`
	Water   float64          `json:"water_m3"`
	Good    bool             `json:"good"`
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
	T    int64         `json:"t"`
	V    float64       `json:"v"`
	Kind evKind        `json:"kind"`
	Role string        `json:"role"`
	Q    point.Quality `json:"q"`
}

type snapCounter struct {
	Role string  `json:"role"`
	V    float64 `json:"v"`
	T    int64   `json:"t"`
}

// fin replaces a non-finite accumulator (an overflow of absurd input) by 0: JSON cannot
// carry it and it would never be written anyway.
func fin(v float64) float64 {
	if finite(v) {
		return v
	}
	return 0
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
	snap, err := e.snapshot(now.UnixNano())
	e.mu.Unlock()
	if err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(snap)
}

func (e *Engine) snapshot(n int64) (*snapshot, error) {
	if !e.started {
		return nil, errors.New("engine not started")
	}
	s := &snapshot{Version: stateVersion, SavedAt: max(n, e.h), Location: e.loc.String(),
		Start: e.s, Horizon: e.h}
	for k := range e.series {
		sr := &e.series[k]
		s.Windows = append(s.Windows, sr.size)
		s.Next = append(s.Next, sr.next)
		for _, w := range sr.open {
			sw := snapWindow{Size: sr.size, Start: w.start, End: w.end}
			for di, d := range e.devs {
				a := &w.acc[di]
				sw.Acc = append(sw.Acc, snapAcc{Device: d.ID, NS: a.ns, Plan: a.planNS,
					RunPlan: a.runPlanNS, Parts: fin(a.parts), Energy: fin(a.energy),
					Water: fin(a.water), Good: a.good})
			}
			s.Open = append(s.Open, sw)
		}
	}
	for _, g := range e.gaps {
		s.Gaps = append(s.Gaps, [2]int64{g.start, g.end})
	}
	for _, d := range e.devs {
		sd := snapDevice{ID: d.ID}
		for r := roleMachine; r < numRoles; r++ {
			if d.has.has(r) {
				sd.Roles = append(sd.Roles, roleNames[r])
			}
		}
		c := &d.c
		sd.Carry = snapCarry{Done: c.done, Any: c.any, Data: c.data, Down: c.down, Acc: c.acc,
			Raw: c.raw, RawAt: c.rawAt, OutAt: c.outAt, AccAt: c.accAt, PHas: c.pHas, PT: c.pT,
			PV: c.pV}
		for r := roleOther; r < numRoles; r++ {
			if sv := c.sig[r]; sv.has {
				sd.Carry.Sig = append(sd.Carry.Sig, snapEvent{V: sv.v, Role: roleNames[r], Q: sv.q})
			}
		}
		for _, ev := range d.evs {
			sd.Events = append(sd.Events, snapEvent{T: ev.t, V: ev.v, Kind: ev.kind,
				Role: roleNames[ev.role], Q: ev.q})
		}
		for ci, ct := range d.ctr {
			if ct.has {
				sd.Counters = append(sd.Counters, snapCounter{Role: roleNames[roleParts+role(ci)],
					V: ct.v, T: ct.t})
			}
		}
		s.Devices = append(s.Devices, sd)
	}
	return s, nil
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
	n := max(now.UnixNano(), s.SavedAt)
	saved := s.SavedAt
	compat := s.Location == e.loc.String() && len(s.Windows) == len(e.series) &&
		len(s.Next) == len(e.series) && s.Horizon <= saved
	for k := range e.series {
		if compat && s.Windows[k] != e.series[k].size {
			compat = false
		}
	}
	byID := make(map[string]*snapDevice, len(s.Devices))
	for i := range s.Devices {
		byID[s.Devices[i].ID] = &s.Devices[i]
	}
	if !compat {
		e.start(n)
		for _, d := range e.devs {
			if sd := byID[d.ID]; sd != nil {
				restoreCounters(d, sd)
			}
		}
		return nil
	}
	e.started = true
	e.s, e.h, e.lastNow, e.seenMax = n, max(s.Horizon, n), n, saved
	w0 := int64(1<<63 - 1)
	for k := range e.series {
		e.series[k].next = s.Next[k]
		w0 = min(w0, s.Next[k])
	}
	for _, g := range s.Gaps {
		e.gaps = append(e.gaps, span{g[0], g[1]})
	}
	if n > saved {
		e.gaps = append(e.gaps, span{saved, n})
	}
	for _, sw := range s.Open {
		k := slices.IndexFunc(e.series, func(sr series) bool { return sr.size == sw.Size })
		if k < 0 {
			continue
		}
		if ws, we := e.bounds(k, sw.Start); ws != sw.Start || we != sw.End {
			continue
		}
		w := e.windowAt(k, sw.Start)
		if w == nil {
			continue
		}
		for _, a := range sw.Acc {
			di, ok := e.byID[a.Device]
			if !ok {
				continue
			}
			w.acc[di] = devAcc{ns: a.NS, planNS: a.Plan, runPlanNS: a.RunPlan, parts: a.Parts,
				energy: a.Energy, water: a.Water, good: a.Good}
		}
	}
	for _, d := range e.devs {
		sd := byID[d.ID]
		if sd == nil {
			d.c.init(w0)
			continue
		}
		restoreCounters(d, sd)
		sc := &sd.Carry
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
		for _, se := range sd.Events {
			r, ok := roleByName(se.Role)
			if se.Role == "other" {
				r, ok = roleOther, true
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

func restoreCounters(d *device, sd *snapDevice) {
	for _, name := range sd.Roles {
		if r, ok := roleByName(name); ok && r != roleNone {
			d.has |= 1 << r
		}
	}
	for _, sc := range sd.Counters {
		if r, ok := roleByName(sc.Role); ok && isCounter(r) && finite(sc.V) && sc.V >= 0 {
			d.ctr[r-roleParts] = counter{v: sc.V, t: sc.T, has: true}
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
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("load kpi state %q: %w", path, err)
	}
	defer f.Close()
	if err := e.load(f, now); err != nil {
		return fmt.Errorf("load kpi state %q: %w", path, err)
	}
	return nil
}
