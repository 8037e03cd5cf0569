package schema

import "strings"

// The device model's vocabulary, shared by the configuration (which checks what an
// engineer writes) and the KPI engine (which acts on it): the role a raw signal plays
// and the class of a device. docs/configuration.md lists them.

// Device classes (the YAML key devices[].class).
const (
	// ClassEquipment is production equipment, counted in every equipment figure.
	ClassEquipment = "equipment"
	// ClassMeter is instrumentation (energy, water, gas meters): it feeds the energy and
	// water figures and is counted in no equipment figure (MIIT 设备联网率 and
	// GB/T 37393 count production equipment).
	ClassMeter = "meter"
)

// ClassOf returns a device's effective class: class when set, else ClassMeter for a
// kind ending in "meter" (energy_meter, water_meter, ...; case-insensitive), else
// ClassEquipment. It is the one place that rule lives.
func ClassOf(class, kind string) string {
	if class != "" {
		return class
	}
	if strings.HasSuffix(strings.ToLower(kind), "meter") {
		return ClassMeter
	}
	return ClassEquipment
}

// roles are the roles a signal may carry (the YAML key signals.*.role), in the order of
// docs/configuration.md, with what each is.
var roles = [...]struct {
	name           string
	counter, meter bool
}{
	{RawMachineryItemState, false, false},
	{RawOperationMode, false, false},
	{RawChannelState, false, false},
	{RawProgramState, false, false},
	{RawAlarm, false, false},
	{RawSpindleSpeedRPM, false, false},
	{RawPartsTotal, true, false},
	{RawEnergyKWhTotal, true, true},
	{RawPowerKW, false, true},
	{RawWaterM3Total, true, true},
}

// RoleNames returns the ten role names a signal may carry, in the order of
// docs/configuration.md.
func RoleNames() []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = r.name
	}
	return out
}

func roleOf(name string) (int, bool) {
	for i, r := range roles {
		if r.name == name {
			return i, true
		}
	}
	return 0, false
}

// IsRole reports whether name is one of RoleNames.
func IsRole(name string) bool {
	_, ok := roleOf(name)
	return ok
}

// IsCounterRole reports whether the role is a cumulative counter: parts_total,
// energy_kwh_total or water_m3_total.
func IsCounterRole(name string) bool {
	i, ok := roleOf(name)
	return ok && roles[i].counter
}

// IsMeterRole reports whether the role is one a meter has: energy_kwh_total, power_kw
// or water_m3_total.
func IsMeterRole(name string) bool {
	i, ok := roleOf(name)
	return ok && roles[i].meter
}
