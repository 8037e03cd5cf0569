package kpi

import "strconv"

// SetHeartbeatRuns turns heartbeat runs (see beat) on or off, to compare an engine with
// them against one that keeps every sample as its own event.
func SetHeartbeatRuns(e *Engine, on bool) { e.noBeats = !on }

// DebugEvents lists the buffered timeline events of a device, for failure messages.
func DebugEvents(e *Engine, id string) []string {
	var out []string
	d := e.devs[e.byID[id]]
	for _, ev := range d.evs {
		s := ""
		if ev.kind == evBeat {
			s = "beat end=" + itoa(ev.end())
		}
		out = append(out, itoa(ev.t)+" k="+itoa(int64(ev.kind))+" r="+roleNames[ev.role]+" "+s)
	}
	return out
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
