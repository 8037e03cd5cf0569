package kpi

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ganlink/ganlink/gateway/schema"
)

// Plan says which KPIs a device will produce and, for those it cannot, why. `gateway
// validate` prints it and the gateway logs its warnings at start.
type Plan struct {
	// Device is the device id; Class its effective class (schema.ClassOf).
	Device, Class string
	// InventoryOnly: the device has no source; it counts in the equipment figures (when
	// equipment) but has no device_kpi rows.
	InventoryOnly bool
	// Items are the device's KPI groups in the order state, parts, energy, water (a
	// meter without a parts_total role: no parts); empty for an inventory-only device.
	Items []PlanItem
	// Warnings are configuration smells that are not errors: a counter without a role,
	// a meter-like device without a class.
	Warnings []string
}

// PlanItem is one KPI group of a device: "state" (running/idle/setup/alarm seconds and
// availability), "parts", "energy" or "water".
type PlanItem struct {
	KPI string
	// OK: the device produces it, from Roles (role names; "role=field" when the field
	// is named otherwise).
	OK    bool
	Roles []string
	// Why it is not produced, when !OK.
	Why string
}

// Produces reports whether the plan yields any KPI beyond online/offline time.
func (p Plan) Produces() bool {
	return slices.ContainsFunc(p.Items, func(it PlanItem) bool { return it.OK })
}

// String is the plan's line: `m7 equipment: state ✓ (machinery_item_state,
// operation_mode) parts ✓ (parts_total) energy – (no energy_kwh_total or power_kw role)
// water – (no water_m3_total role)`.
func (p Plan) String() string {
	var b strings.Builder
	b.WriteString(p.Device + " " + p.Class + ":")
	if p.InventoryOnly {
		if p.Class == schema.ClassMeter {
			b.WriteString(" no source: no KPI, in no equipment figure")
		} else {
			b.WriteString(" inventory only (no source): counted in the equipment figures, no device_kpi")
		}
		return b.String()
	}
	for _, it := range p.Items {
		if it.OK {
			fmt.Fprintf(&b, " %s ✓ (%s)", it.KPI, strings.Join(it.Roles, ", "))
		} else {
			fmt.Fprintf(&b, " %s – (%s)", it.KPI, it.Why)
		}
	}
	return b.String()
}

// PlanOf computes d's plan with the engine's own role and class rules. A device New
// would refuse gets the error instead.
func PlanOf(d Device) (Plan, error) { return planOf(0, d) }

func planOf(i int, d Device) (Plan, error) {
	dev, err := newDevice(i, d)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{Device: d.ID, Class: schema.ClassOf(d.Class, d.Kind), InventoryOnly: d.Source == ""}
	// field holding each role, for "role=field" when they differ
	var field [numRoles]string
	fields := slices.Sorted(func(yield func(string) bool) {
		for _, s := range d.Signals {
			if !yield(s) {
				return
			}
		}
		for s := range d.Roles {
			if !slices.Contains(d.Signals, s) && !yield(s) {
				return
			}
		}
	})
	for _, f := range fields {
		if r := dev.roleOf(f); r > roleOther {
			field[r] = f
		}
	}
	name := func(r role) string {
		if field[r] == "" || field[r] == roleNames[r] {
			return roleNames[r]
		}
		return roleNames[r] + "=" + field[r]
	}
	list := func(rs ...role) []string {
		var out []string
		for _, r := range rs {
			if dev.has.has(r) {
				out = append(out, name(r))
			}
		}
		return out
	}
	if !p.InventoryOnly {
		state := PlanItem{KPI: "state", OK: dev.production()}
		switch {
		case state.OK:
			state.Roles = list(roleMachine, roleMode, roleChannel, roleProgram, roleAlarm, roleSpindle, rolePower)
		case dev.meter:
			state.Why = "a meter: online/offline only"
		default:
			state.Why = "no machinery_item_state, channel_state, spindle_speed_rpm or power_kw role: online/offline only"
		}
		parts := PlanItem{KPI: "parts", OK: dev.has.has(roleParts), Roles: list(roleParts),
			Why: "no parts_total role"}
		energy := PlanItem{KPI: "energy", OK: dev.has.has(roleEnergy) || dev.has.has(rolePower),
			Why: "no energy_kwh_total or power_kw role"}
		switch {
		case dev.has.has(roleEnergy):
			energy.Roles = list(roleEnergy)
		case energy.OK:
			energy.Roles = []string{name(rolePower) + ", integrated"}
		}
		water := PlanItem{KPI: "water", OK: dev.has.has(roleWater), Roles: list(roleWater),
			Why: "no water_m3_total role"}
		p.Items = []PlanItem{state, parts, energy, water}
		if dev.meter && !parts.OK {
			p.Items = []PlanItem{state, energy, water} // a meter counts no parts
		}
		for i := range p.Items {
			if p.Items[i].OK {
				p.Items[i].Why = ""
			}
		}
	}
	for _, c := range slices.Sorted(slices.Values(d.Counters)) {
		if dev.roleOf(c) != roleOther {
			continue
		}
		guess, ok := guessCounterRole(c)
		if ok && field[guess] != "" {
			p.Warnings = append(p.Warnings, fmt.Sprintf("signal %q: a counter without a role feeds no KPI (role %s is signal %q)",
				c, roleNames[guess], field[guess]))
			continue
		}
		want := roleNames[roleParts] + ", " + roleNames[roleEnergy] + " or " + roleNames[roleWater]
		if ok {
			want = roleNames[guess]
		}
		p.Warnings = append(p.Warnings, fmt.Sprintf("signal %q: a counter without a role feeds no KPI; set role: %s", c, want))
	}
	if d.Class == "" {
		meterRoles, other := []string{}, false
		for _, r := range roleDocOrder {
			if !dev.has.has(r) {
				continue
			}
			if schema.IsMeterRole(roleNames[r]) {
				meterRoles = append(meterRoles, roleNames[r])
			} else {
				other = true
			}
		}
		switch {
		case dev.meter:
			p.Warnings = append(p.Warnings, fmt.Sprintf("kind %q makes it a meter (in no equipment figure): write class: meter to say so, or class: equipment to count it", d.Kind))
		case len(meterRoles) > 0 && !other:
			p.Warnings = append(p.Warnings, fmt.Sprintf("only meter roles (%s) and no class: counted as production equipment; write class: meter if it is a meter, or class: equipment",
				strings.Join(meterRoles, ", ")))
		}
	}
	return p, nil
}

// guessCounterRole returns the counter role a field's name suggests, if any.
func guessCounterRole(field string) (role, bool) {
	f := strings.ToLower(field)
	switch {
	case strings.Contains(f, "kwh") || strings.Contains(f, "energy"):
		return roleEnergy, true
	case strings.Contains(f, "m3") || strings.Contains(f, "water"):
		return roleWater, true
	case strings.Contains(f, "part") || strings.Contains(f, "piece") || strings.Contains(f, "count") ||
		strings.Contains(f, "produced"):
		return roleParts, true
	}
	return roleNone, false
}

// Plans computes every device's plan and the workshop's warnings: none of the devices
// producing any KPI is one.
func Plans(devs []Device) ([]Plan, []string, error) {
	plans := make([]Plan, 0, len(devs))
	any := false
	for i, d := range devs {
		p, err := planOf(i, d)
		if err != nil {
			return nil, nil, err
		}
		any = any || p.Produces()
		plans = append(plans, p)
	}
	var warn []string
	if !any {
		warn = append(warn, "no device produces a KPI (state, parts, energy or water): give signals a role (docs/configuration.md)")
	}
	return plans, warn, nil
}
