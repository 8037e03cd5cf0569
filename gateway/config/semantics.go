package config

import (
	"math"
	"strings"

	"github.com/ganlink/ganlink/gateway/schema"
)

// This file holds the device model's semantics: a device's class and each signal's role
// and counter flag (docs/configuration.md, "Roles, counters and classes"). The role
// vocabulary and the class rule live in gateway/schema (schema.RoleNames,
// schema.ClassOf), shared with the KPI engine; the checks here report them with their
// YAML paths. What a configuration yields is
// kpi.PlanOf's business (`gateway validate` prints it, with its warnings).

// RoleOf returns the signal's KPI role: its role key, else the field name when that
// is a role name, else "" (no role: the signal only proves the device online).
func (s *Signal) RoleOf(field string) string {
	if s.Role != "" {
		return s.Role
	}
	if schema.IsRole(field) {
		return field
	}
	return ""
}

// Roles returns the device's explicit role assignments that differ from the field
// names (the KPI engine's Device.Roles); nil when there are none.
func (d *Device) Roles() map[string]string {
	var m map[string]string
	for name, s := range d.Signals {
		if s.Role != "" && s.Role != name {
			if m == nil {
				m = map[string]string{}
			}
			m[name] = s.Role
		}
	}
	return m
}

// MaxRates returns the max_rate of the device's signals that set one, by field name.
func (d *Device) MaxRates() map[string]float64 {
	var m map[string]float64
	for name, s := range d.Signals {
		if s.MaxRate != nil {
			if m == nil {
				m = map[string]float64{}
			}
			m[name] = *s.MaxRate
		}
	}
	return m
}

// Counters returns the names of the signals flagged counter: true, sorted.
func (d *Device) Counters() []string {
	var out []string
	for _, name := range d.SignalNames() {
		if c := d.Signals[name].Counter; c != nil && *c {
			out = append(out, name)
		}
	}
	return out
}

// semantics checks the class of the device at path p and the role and counter flag of
// its signals.
func (ck *Checker) semantics(p string, d *Device) {
	if d.Class != "" && d.Class != schema.ClassEquipment && d.Class != schema.ClassMeter {
		ck.Add(p+".class", "invalid value %s: want one of %s, %s", quote(d.Class), schema.ClassEquipment, schema.ClassMeter)
	}
	if schema.ClassOf(d.Class, d.Kind) == schema.ClassMeter {
		why := "class meter"
		if d.Class == "" {
			why = "class meter by its kind " + quote(d.Kind) + "; set class: equipment if it is production equipment"
		}
		for _, f := range []struct {
			key string
			set bool
		}{{"key_process", d.KeyProcess}, {"numerical_control", d.NumericalControl}, {"smart", d.Smart}} {
			if f.set {
				ck.Add(p+"."+f.key, "a meter is not production equipment (%s): %s applies to class equipment only", why, f.key)
			}
		}
	}
	holder := map[string]string{} // role → the first signal (in name order) holding it
	for _, name := range d.SignalNames() {
		s := d.Signals[name]
		sp := p + ".signals." + name
		if s.Role != "" && !schema.IsRole(s.Role) {
			ck.Add(sp+".role", "unknown role %s: want one of %s", quote(s.Role), strings.Join(schema.RoleNames(), ", "))
			continue
		}
		role := s.RoleOf(name)
		if role != "" {
			if first, dup := holder[role]; dup {
				at := sp
				if s.Role != "" {
					at += ".role"
				}
				ck.Add(at, "role %q is also held by signal %q: each role names one signal of a device", role, first)
			} else {
				holder[role] = name
			}
		}
		if s.MaxRate != nil {
			switch v := *s.MaxRate; {
			case math.IsNaN(v) || math.IsInf(v, 0) || v <= 0:
				ck.Add(sp+".max_rate", "invalid value %v: want a finite number > 0 (the counter's unit per hour)", v)
			case !schema.IsCounterRole(role):
				ck.Add(sp+".max_rate", "applies to counter roles only (%s); the signal's role is %s", strings.Join(counterRoles(), ", "), quote(role))
			}
		}
		if s.Counter == nil {
			continue
		}
		switch {
		case !*s.Counter && schema.IsCounterRole(role):
			ck.Add(sp+".counter", "false, but role %q is a cumulative counter: remove counter or give the signal another role", role)
		case *s.Counter && role != "" && !schema.IsCounterRole(role):
			ck.Add(sp+".counter", "true, but role %q is not a counter (counter roles: %s)", role, strings.Join(counterRoles(), ", "))
		}
	}
}

func counterRoles() []string {
	var out []string
	for _, r := range schema.RoleNames() {
		if schema.IsCounterRole(r) {
			out = append(out, r)
		}
	}
	return out
}

// quote quotes a value for a message, truncated to 64 bytes.
func quote(s string) string {
	const limit = 64
	if len(s) > limit {
		i := limit
		for i > 0 && s[i]&0xC0 == 0x80 {
			i--
		}
		s = s[:i] + "…"
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}
