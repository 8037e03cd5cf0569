package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/ganlink/ganlink/gateway/corrections"
	"github.com/ganlink/ganlink/gateway/point"
)

// Corrections is the service behind the correction endpoints (corrections.Service).
type Corrections interface {
	Add(ctx context.Context, req corrections.Request) (corrections.Result, error)
	Revoke(ctx context.Context, id, by, reason string) (corrections.Result, error)
	List() []corrections.Correction
	Refused(reason string)
}

// maxCorrectionBody bounds a correction request's JSON body.
const maxCorrectionBody = 16 << 10

// TokenUser is who records a correction through the admin API authenticated with a
// bearer token (which carries no user name); with basic authentication it is the user
// name, also when the token is given as the basic password.
const TokenUser = "token"

// SetCorrections serves the correction endpoints (docs/corrections.md), behind the
// endpoint's authentication like every page:
//
//	GET  /api/corrections              every correction, revoked ones included
//	POST /api/corrections              record one: {"kind","device","signal","from","until","at","reason"}
//	POST /api/corrections/{id}/revoke  revoke one: {"reason"}
//
// Who recorded it is the authenticated user; without authentication the body's "by".
func (s *Server) SetCorrections(c Corrections) {
	s.corr = c
	s.handleFunc("GET /api/corrections", func(w http.ResponseWriter, _ *http.Request) {
		list := c.List()
		if list == nil {
			list = []corrections.Correction{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"corrections": list})
	})
	s.handleFunc("POST /api/corrections", func(w http.ResponseWriter, r *http.Request) {
		var req corrections.Request
		if !s.decodeCorrection(w, r, c, &req, &req.By) {
			return
		}
		res, err := c.Add(r.Context(), req)
		target := req.Kind + " " + req.Device
		if req.Signal != "" {
			target += "." + req.Signal
		}
		if err != nil {
			Audit(r, ActionCorrectionAdd, target, "", "refused: "+err.Error())
			correctionError(w, err)
			return
		}
		Audit(r, ActionCorrectionAdd, target, "", "ok: "+res.Correction.ID)
		writeJSON(w, http.StatusCreated, res)
	})
	s.handleFunc("POST /api/corrections/{id}/revoke", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Reason string `json:"reason"`
			By     string `json:"by,omitempty"`
		}
		if !s.decodeCorrection(w, r, c, &req, &req.By) {
			return
		}
		res, err := c.Revoke(r.Context(), r.PathValue("id"), req.By, req.Reason)
		if err != nil {
			Audit(r, ActionCorrectionRevoke, r.PathValue("id"), "", "refused: "+err.Error())
			correctionError(w, err)
			return
		}
		Audit(r, ActionCorrectionRevoke, r.PathValue("id"), "", "ok")
		writeJSON(w, http.StatusOK, res)
	})
}

// decodeCorrection decodes r's JSON body into v and sets *by to who makes the request;
// it answers 400 and returns false when it cannot.
func (s *Server) decodeCorrection(w http.ResponseWriter, r *http.Request, c Corrections, v any, by *string) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCorrectionBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		c.Refused(corrections.ReasonBadRequest)
		msg := err.Error()
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			msg = "larger than 16 KiB"
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + point.Truncate(msg, 200),
			"reason": corrections.ReasonBadRequest})
		return false
	}
	if user, _ := UserFrom(r); user != "" {
		if *by != "" && *by != user {
			c.Refused(corrections.ReasonBadRequest)
			writeJSON(w, http.StatusBadRequest, map[string]string{
				"error":  "by: " + quote(*by) + " given, but the request is authenticated as " + quote(user) + ", who records it",
				"reason": corrections.ReasonBadRequest})
			return false
		}
		*by = user
	}
	return true
}

func quote(s string) string { return `"` + strings.ReplaceAll(point.Truncate(s, 64), `"`, `\"`) + `"` }

// correctionError answers a refusal (400, 404 for an unknown id, 409 for one revoked
// already), 503 before the store is open, 500 otherwise.
func correctionError(w http.ResponseWriter, err error) {
	var ce *corrections.Error
	switch {
	case errors.As(err, &ce):
		code := http.StatusBadRequest
		switch ce.Reason {
		case corrections.ReasonUnknownID:
			code = http.StatusNotFound
		case corrections.ReasonRevoked:
			code = http.StatusConflict
		}
		writeJSON(w, code, map[string]string{"error": ce.Error(), "reason": ce.Reason})
	case errors.Is(err, corrections.ErrNotOpen):
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
