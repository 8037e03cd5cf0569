package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/corrections"
	"github.com/ganlink/ganlink/gateway/aggregator/registry"
)

// Reasons of ganlink_aggregator_correction_refusals_total: recording or revoking a
// correction refused.
const (
	refuseForbidden      = "forbidden"       // the token lacks corrections: true (403)
	refuseOutOfScope     = "out_of_scope"    // the workshop is outside the token's region (403)
	refuseInvalid        = "bad_request"     // a bad body or field, an unknown workshop (400)
	refuseNotFound       = "not_found"       // revocation of an id the central store does not hold (404)
	refuseAlreadyRevoked = "already_revoked" // revocation of a revoked correction (409)
	refuseStore          = "store"           // the store could not be written (500)
	refuseNoStore        = "no_store"        // the aggregator has no corrections store (503)
)

func refusalReasons() []string {
	return []string{refuseForbidden, refuseOutOfScope, refuseInvalid, refuseNotFound, refuseAlreadyRevoked, refuseStore, refuseNoStore}
}

// postRoutes are the authenticated POST endpoints; they take a JSON body.
var postRoutes = []route{
	{"/api/v1/corrections", nil, (*API).addCorrection},
	{"/api/v1/corrections/{id}/revoke", nil, (*API).revokeCorrection},
}

// PostRoutes returns the authenticated POST paths (for documentation checks).
func PostRoutes() []string {
	out := make([]string, len(postRoutes))
	for i, r := range postRoutes {
		out[i] = r.path
	}
	return out
}

func (a *API) refuse(reason string, code int, format string, args ...any) error {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...), corrReason: reason}
}

// correctionRecord is a correction as the API shows it.
func correctionRecord(c *corrections.Correction, loc *time.Location) record {
	t := func(x time.Time) any {
		if x.IsZero() {
			return nil
		}
		return x.In(loc)
	}
	return record{{"id", c.ID}, {"source", c.Source}, {"kind", c.Kind}, {"workshop", c.Workshop}, {"device", c.Device},
		{"from", t(c.From)}, {"until", t(c.Until)}, {"by", c.By}, {"reason", c.Reason}, {"recorded", t(c.Recorded)},
		{"instance", c.Instance}, {"in_force", c.InForce()}, {"revoked_at", t(c.RevokedAt)}, {"revoked_by", c.RevokedBy},
		{"revoked_reason", c.RevokedReason}}
}

// corrections: the corrections, central and gateway, of the workshops within the
// region (default: the token's) whose span overlaps the period, revoked ones included.
func (a *API) corrections(rq *request) (*result, error) {
	region, err := rq.regionParam()
	if err != nil {
		return nil, err
	}
	var shop *registry.Workshop
	if id := rq.param("workshop"); id != "" {
		if shop = rq.reg.Workshop(id); shop == nil {
			return nil, errorf(http.StatusNotFound, "unknown workshop %q", clip(id))
		}
		if !rq.reg.Within(shop.Region, rq.scope.Code) {
			return nil, rq.outOfScope("workshop", id)
		}
	}
	p, err := a.period(rq, false)
	if err != nil {
		return nil, err
	}
	list, err := a.svc.Corrections(rq.ctx, p)
	if err != nil {
		return nil, err
	}
	loc := a.svc.Location()
	var rows []record
	for _, c := range list {
		w := rq.reg.Workshop(c.Workshop)
		if w == nil || !rq.reg.Within(w.Region, region.Code) || (shop != nil && w != shop) {
			continue
		}
		rows = append(rows, correctionRecord(c, loc))
	}
	env := a.periodRecord(p)
	env.add("region", regionRecord(region))
	return &result{envelope: env, rowsKey: "rows", rows: slices.Values(rows),
		template: correctionRecord(&corrections.Correction{}, loc)}, nil
}

// decodeBody decodes the request's JSON body into v strictly (unknown keys are errors).
func decodeBody(rq *request, v any) error {
	dec := json.NewDecoder(rq.r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{code: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body larger than %d bytes", mbe.Limit),
				corrReason: refuseInvalid}
		}
		return &apiError{code: http.StatusBadRequest, msg: "body: " + clip(err.Error()), corrReason: refuseInvalid}
	}
	if dec.More() {
		return &apiError{code: http.StatusBadRequest, msg: "body: more than one JSON value", corrReason: refuseInvalid}
	}
	return nil
}

// mayCorrect refuses a token without the corrections permission.
func (a *API) mayCorrect(rq *request) error {
	if !rq.token.Corrections {
		return a.refuse(refuseForbidden, http.StatusForbidden,
			"token %q may not record or revoke corrections (its tokens-file entry needs corrections: true)", rq.token.Name)
	}
	if a.svc.CorrectionStore() == nil {
		return a.refuse(refuseNoStore, http.StatusServiceUnavailable, "the aggregator has no corrections store")
	}
	return nil
}

// CheckWorkshop checks that a correction's workshop is registered; the command and the
// API share it.
func CheckWorkshop(reg *registry.Registry, id string) (*registry.Workshop, error) {
	w := reg.Workshop(id)
	if w == nil {
		return nil, &corrections.FieldError{Field: "workshop", Msg: fmt.Sprintf("%q is not in the registry", clip(id))}
	}
	return w, nil
}

// ParseSpan parses a correction's from and until as the API and the command take them
// (ParseTime).
func ParseSpan(from, until string, loc *time.Location) (time.Time, time.Time, error) {
	var f, u time.Time
	var err error
	if from != "" {
		if f, err = ParseTime(from, loc); err != nil {
			return f, u, &corrections.FieldError{Field: "from", Msg: err.Error()}
		}
	}
	if until != "" {
		if u, err = ParseTime(until, loc); err != nil {
			return f, u, &corrections.FieldError{Field: "until", Msg: err.Error()}
		}
	}
	return f, u, nil
}

func (a *API) fieldError(err error) error {
	var fe *corrections.FieldError
	if errors.As(err, &fe) {
		return a.refuse(refuseInvalid, http.StatusBadRequest, "%s", err.Error())
	}
	a.log.Error("corrections store", "err", err)
	return a.refuse(refuseStore, http.StatusInternalServerError, "the corrections store could not be written; see the aggregator log")
}

// addCorrection records a central correction: body {"workshop", "device", "from",
// "until", "reason"}; who is the token's name.
func (a *API) addCorrection(rq *request) (*result, error) {
	if err := a.mayCorrect(rq); err != nil {
		return nil, err
	}
	var body struct {
		Workshop string `json:"workshop"`
		Device   string `json:"device"`
		From     string `json:"from"`
		Until    string `json:"until"`
		Reason   string `json:"reason"`
	}
	if err := decodeBody(rq, &body); err != nil {
		return nil, err
	}
	if err := corrections.CheckName("workshop", body.Workshop, true); err != nil {
		return nil, a.fieldError(err)
	}
	w, err := CheckWorkshop(rq.reg, body.Workshop)
	if err != nil {
		return nil, a.fieldError(err)
	}
	if !rq.reg.Within(w.Region, rq.scope.Code) {
		err := rq.outOfScope("workshop", w.ID).(*apiError)
		err.corrReason = refuseOutOfScope
		return nil, err
	}
	from, until, err := ParseSpan(body.From, body.Until, a.svc.Location())
	if err != nil {
		return nil, a.fieldError(err)
	}
	c, err := a.svc.CorrectionStore().Add(corrections.Correction{Workshop: body.Workshop, Device: body.Device,
		From: from, Until: until, By: rq.token.Name, Reason: body.Reason}, a.svc.Now())
	if err != nil {
		return nil, a.fieldError(err)
	}
	a.log.Info("correction recorded", "id", c.ID, "by", c.By, "workshop", c.Workshop, "device", c.Device,
		"from", c.From.Format(time.RFC3339), "until", c.Until.Format(time.RFC3339), "reason", c.Reason)
	return &result{status: http.StatusCreated, envelope: record{{"correction", correctionRecord(c, a.svc.Location())}}}, nil
}

// revokeCorrection revokes a central correction: body {"reason"}.
func (a *API) revokeCorrection(rq *request) (*result, error) {
	if err := a.mayCorrect(rq); err != nil {
		return nil, err
	}
	var body struct {
		Reason string `json:"reason"`
	}
	if err := decodeBody(rq, &body); err != nil {
		return nil, err
	}
	id := rq.r.PathValue("id")
	c, err := a.svc.CorrectionStore().Revoke(id, rq.token.Name, body.Reason, a.svc.Now(), func(c *corrections.Correction) error {
		if w := rq.reg.Workshop(c.Workshop); w == nil || !rq.reg.Within(w.Region, rq.scope.Code) {
			err := rq.outOfScope("workshop", c.Workshop).(*apiError)
			err.corrReason = refuseOutOfScope
			return err
		}
		return nil
	})
	var nf *corrections.NotFoundError
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return nil, err
	case errors.As(err, &nf):
		return nil, a.refuse(refuseNotFound, http.StatusNotFound,
			"correction %q is not in the central store (a gateway's correction is revoked on its gateway)", clip(id))
	case errors.Is(err, corrections.ErrAlreadyRevoked):
		return nil, a.refuse(refuseAlreadyRevoked, http.StatusConflict, "%s", err.Error())
	case err != nil:
		return nil, a.fieldError(err)
	}
	a.log.Info("correction revoked", "id", c.ID, "by", c.RevokedBy, "workshop", c.Workshop, "reason", c.RevokedReason)
	return &result{status: http.StatusOK, envelope: record{{"correction", correctionRecord(c, a.svc.Location())}}}, nil
}
