package api

import (
	"slices"

	"github.com/ganlink/ganlink/gateway/aggregator/service"
)

// consistency: registered workshops within the region (default: the token's) whose
// telemetry tags (region, park, enterprise) disagree with the registry over the period,
// one row per workshop and tag; for province tokens also the telemetry workshops that
// are not in the registry, with the tags their points carried.
func (a *API) consistency(rq *request) (*result, error) {
	region, err := rq.regionParam()
	if err != nil {
		return nil, err
	}
	p, err := a.period(rq, false)
	if err != nil {
		return nil, err
	}
	c, err := a.svc.Consistency(rq.ctx, p, rq.reg)
	if err != nil {
		return nil, err
	}
	env := a.periodRecord(p)
	env.add("region", regionRecord(region))
	if region.Parent == "" {
		unreg := []record{}
		for _, u := range c.Unregistered {
			unreg = append(unreg, record{{"workshop", u.ID}, {"region", u.Region}, {"park", u.Park}, {"enterprise", u.Enterprise}})
		}
		env.add("unregistered_workshops", unreg)
	}
	row := func(m service.Mismatch) record {
		return record{{"workshop", m.Workshop}, {"tag", m.Tag}, {"registry", m.Registry}, {"telemetry", m.Telemetry}}
	}
	var rows []record
	for _, m := range c.Mismatches {
		if w := rq.reg.Workshop(m.Workshop); w != nil && rq.reg.Within(w.Region, region.Code) {
			rows = append(rows, row(m))
		}
	}
	return &result{envelope: env, rowsKey: "mismatches", rows: slices.Values(rows),
		template: row(service.Mismatch{Telemetry: []string{}})}, nil
}
