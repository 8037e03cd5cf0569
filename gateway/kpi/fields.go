package kpi

import (
	"time"

	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
)

// Field names of device_kpi in the order written; docs/metrics.md defines them.
var (
	stateOrder  = [...]State{StateRunning, StateIdle, StateSetup, StateAlarm, StateOffline, StateUnknown}
	stateFields = [numStates]string{schema.FieldUnknownS, schema.FieldOfflineS, schema.FieldAlarmS, schema.FieldSetupS, schema.FieldRunningS, schema.FieldIdleS}
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
			Tags: insertTag(d.base, point.Tag{Key: schema.TagWindow, Value: e.series[k].name}), Fields: e.deviceFields(d, &w.acc[di]), Time: w.start})
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
		fs.add(schema.FieldParts, a.parts)
	}
	if d.production() {
		fs.ratio(schema.FieldAvailability, float64(a.runPlanNS), float64(a.planNS))
	}
	if d.has.has(roleEnergy) || d.has.has(rolePower) {
		fs.add(schema.FieldEnergyKWh, a.energy)
	}
	if d.has.has(roleWater) {
		fs.add(schema.FieldWaterM3, a.water)
	}
	if a.suspect > 0 {
		fs.add(schema.FieldSuspect, float64(a.suspect))
	}
	return fs
}

func (e *Engine) workshopFields(accs []devAcc) []point.Field {
	var (
		networked, smart              int
		parts, value, energy, water   float64
		plan, run, suspect            int64
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
		suspect += a.suspect
		if d.production() {
			plan += a.planNS
			run += a.runPlanNS
		}
	}
	fs := make(fieldList, 0, 18)
	fs.add(schema.FieldEquipmentTotal, total)
	fs.add(schema.FieldEquipmentKey, key)
	fs.add(schema.FieldEquipmentCNCKey, cncKey)
	fs.ratio(schema.FieldCNCRate, cncKey, key)
	fs.add(schema.FieldEquipmentDigital, digital)
	fs.add(schema.FieldEquipmentNetworked, float64(networked))
	fs.ratio(schema.FieldNetworkedRate, float64(networked), digital)
	fs.ratio(schema.FieldNetworkedRateAll, float64(networked), total)
	fs.add(schema.FieldSmartEquipmentInService, float64(smart))
	kgce := energy * e.cfg.KgcePerKWh
	if hasParts {
		fs.add(schema.FieldParts, parts)
		fs.add(schema.FieldOutputValueYuan, value)
	}
	if hasEnergy {
		fs.add(schema.FieldEnergyKWh, energy)
		fs.add(schema.FieldEnergyKgce, kgce)
	}
	if hasWater {
		fs.add(schema.FieldWaterM3, water)
	}
	if hasEnergy && hasParts {
		fs.ratio(schema.FieldEnergyKgcePerPart, kgce, parts)
	}
	if hasEnergy && hasParts {
		fs.ratio(schema.FieldEnergyKgcePer10kYuan, kgce, value/1e4)
	}
	if hasWater && hasParts {
		fs.ratio(schema.FieldWaterM3Per10kYuan, water, value/1e4)
	}
	fs.ratio(schema.FieldAvailability, float64(run), float64(plan))
	if suspect > 0 {
		fs.add(schema.FieldSuspect, float64(suspect))
	}
	return fs
}
