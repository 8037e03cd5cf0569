package kpi

import (
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

// Field names of device_kpi in the order written; docs/metrics.md defines them.
var (
	stateOrder  = [...]State{StateRunning, StateIdle, StateSetup, StateAlarm, StateOffline, StateUnknown}
	stateFields = [numStates]string{"unknown_s", "offline_s", "alarm_s", "setup_s", "running_s", "idle_s"}
)

// fieldList appends only finite values: a KPI that cannot be computed is absent, never
// NaN or Inf.
type fieldList []point.Field

func (f *fieldList) add(key string, v float64) {
	if finite(v) {
		*f = append(*f, point.Field{Key: key, Value: v})
	}
}

// ratio adds num/den unless den is 0.
func (f *fieldList) ratio(key string, num, den float64) {
	if den != 0 {
		f.add(key, num/den)
	}
}

func seconds(ns int64) float64 { return float64(ns) / float64(time.Second) }

// emit appends the device_kpi points of window w of series k and its workshop_kpi point.
func (e *Engine) emit(k int, w *window, out point.Batch) point.Batch {
	for di, d := range e.devs {
		if d.Source == "" {
			continue
		}
		out = append(out, point.Point{Measurement: measurementDevice, Device: d.ID,
			Tags: d.tags[k], Fields: e.deviceFields(d, &w.acc[di]), Time: w.start})
	}
	return append(out, point.Point{Measurement: measurementShop, Tags: e.shopTags[k],
		Fields: e.workshopFields(w.acc), Time: w.start})
}

func (e *Engine) deviceFields(d *device, a *devAcc) []point.Field {
	fs := make(fieldList, 0, numStates+4)
	for _, st := range stateOrder {
		fs.add(stateFields[st], seconds(a.ns[st]))
	}
	if d.has.has(roleParts) {
		fs.add("parts", a.parts)
	}
	if d.production() {
		fs.ratio("availability", float64(a.runPlanNS), float64(a.planNS))
	}
	if d.has.has(roleEnergy) || d.has.has(rolePower) {
		fs.add("energy_kwh", a.energy)
	}
	if d.has.has(roleWater) {
		fs.add("water_m3", a.water)
	}
	return fs
}

func (e *Engine) workshopFields(accs []devAcc) []point.Field {
	var (
		networked, smart              int
		parts, value, energy, water   float64
		plan, run                     int64
		hasParts, hasEnergy, hasWater bool
		total, key, cncKey, digital   float64 = float64(e.inv.total), float64(e.inv.key),
			float64(e.inv.cncKey), float64(e.inv.digital)
	)
	for di, d := range e.devs {
		a := &accs[di]
		if a.good && !d.meter { // meters are in no equipment figure
			if d.Digital {
				networked++
			}
			if d.Smart {
				smart++
			}
		}
		if d.has.has(roleParts) {
			hasParts = true
			parts += a.parts
			value += a.parts * d.UnitValueYuan
		}
		if d.has.has(roleEnergy) || d.has.has(rolePower) {
			hasEnergy = true
			energy += a.energy
		}
		if d.has.has(roleWater) {
			hasWater = true
			water += a.water
		}
		if d.production() {
			plan += a.planNS
			run += a.runPlanNS
		}
	}
	fs := make(fieldList, 0, 18)
	fs.add("equipment_total", total)
	fs.add("equipment_key", key)
	fs.add("equipment_cnc_key", cncKey)
	fs.ratio("cnc_rate", cncKey, key)
	fs.add("equipment_digital", digital)
	fs.add("equipment_networked", float64(networked))
	fs.ratio("networked_rate", float64(networked), digital)
	fs.ratio("networked_rate_all", float64(networked), total)
	fs.add("smart_equipment_in_service", float64(smart))
	kgce := energy * e.cfg.KgcePerKWh
	if hasParts {
		fs.add("parts", parts)
		fs.add("output_value_yuan", value)
	}
	if hasEnergy {
		fs.add("energy_kwh", energy)
		fs.add("energy_kgce", kgce)
	}
	if hasWater {
		fs.add("water_m3", water)
	}
	if hasEnergy && hasParts {
		fs.ratio("energy_kgce_per_part", kgce, parts)
	}
	if hasEnergy && hasParts {
		fs.ratio("energy_kgce_per_10k_yuan", kgce, value/1e4)
	}
	if hasWater && hasParts {
		fs.ratio("water_m3_per_10k_yuan", water, value/1e4)
	}
	fs.ratio("availability", float64(run), float64(plan))
	return fs
}
