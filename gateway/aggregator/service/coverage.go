package service

import (
	"context"
	"math"

	"github.com/ganlink/ganlink/gateway/aggregator/backend"
	"github.com/ganlink/ganlink/gateway/schema"
)

// stateFields are the device_kpi state seconds read per workshop for the coverage:
// unknown_s first, then the states in which the device was observed.
var stateFields = func() []backend.Field {
	fs := []backend.Field{{Name: schema.FieldUnknownS, Func: backend.Sum}}
	for _, f := range schema.StateSecondsFields() {
		if f != schema.FieldUnknownS {
			fs = append(fs, backend.Field{Name: f, Func: backend.Sum})
		}
	}
	return fs
}()

// addObserved sets each workshop's UnknownS and StateS per bucket from its devices'
// state seconds (rules.WorkshopStats.Coverage). Workshops without workshop_kpi data in a
// bucket get none: they reported no window there.
func (s *Service) addObserved(ctx context.Context, p Period, snap *Snapshot) error {
	q := backend.Query{Measurement: schema.DeviceKPI, Window: s.opt.Window, GroupBy: schema.TagWorkshop,
		Fields: stateFields, Start: p.From, End: p.To, Step: p.Step}
	rows, _, err := s.aggregate(ctx, q, snap.ex)
	if err != nil {
		return err
	}
	for _, r := range rows {
		st := snap.Shops[r.Bucket][r.Group]
		if st == nil {
			continue
		}
		unknown, all := 0.0, 0.0
		for i, v := range r.Values {
			if math.IsNaN(v) {
				continue
			}
			if i == 0 {
				unknown = v
			}
			all += v
		}
		st.UnknownS, st.StateS = unknown, all
	}
	return nil
}
