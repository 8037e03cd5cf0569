package modbus

import (
	"cmp"
	"slices"
)

// request is one read of a poll: a range of one area of one device and the signals it
// serves.
type request struct {
	area  area
	start uint16
	count uint16 // registers or bits
	sigs  []int  // indexes into device.sigs, by address
}

func (r *request) end() int { return int(r.start) + int(r.count) }

// plan coalesces the signals sigs (indexes into all) into as few reads as possible:
// per area, in address order, a read grows to take the next signal while the unused
// addresses between them are at most maxGap and the read stays within maxRegs
// registers (MaxBitsPerRead bits for coils and discrete inputs). Overlapping signals
// share a read. For signals sorted by address this greedy choice is optimal: no plan
// with fewer reads exists under the same limits.
func plan(all []signal, sigs []int, maxRegs, maxGap int) []request {
	order := slices.Clone(sigs)
	slices.SortStableFunc(order, func(a, b int) int {
		sa, sb := &all[a], &all[b]
		if c := cmp.Compare(sa.area, sb.area); c != 0 {
			return c
		}
		if c := cmp.Compare(sa.addr, sb.addr); c != 0 {
			return c
		}
		return cmp.Compare(sa.n, sb.n)
	})
	var out []request
	var cur *request
	for _, i := range order {
		s := &all[i]
		limit := maxRegs
		if s.area.bits() {
			limit = MaxBitsPerRead
		}
		if cur != nil && cur.area == s.area && int(s.addr)-cur.end() <= maxGap &&
			max(cur.end(), s.end())-int(cur.start) <= limit {
			cur.count = uint16(max(cur.end(), s.end()) - int(cur.start))
			cur.sigs = append(cur.sigs, i)
			continue
		}
		out = append(out, request{area: s.area, start: s.addr, count: s.n, sigs: []int{i}})
		cur = &out[len(out)-1]
	}
	return out
}

// split divides a read that the device refused into smaller ones that isolate the
// refused addresses: first into runs of adjacent or overlapping signals (a read that
// spanned unused addresses is split at them), and a read without unused addresses into
// one read per signal. It returns nil for a read of one signal.
func split(all []signal, r *request, maxRegs int) []request {
	if len(r.sigs) < 2 {
		return nil
	}
	runs := plan(all, r.sigs, maxRegs, 0)
	if len(runs) > 1 {
		return runs
	}
	out := make([]request, len(r.sigs))
	for i, si := range r.sigs {
		s := &all[si]
		out[i] = request{area: s.area, start: s.addr, count: s.n, sigs: []int{si}}
	}
	return out
}
