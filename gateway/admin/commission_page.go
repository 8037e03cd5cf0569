package admin

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"net/http"

	"github.com/ganlink/ganlink/gateway/schema"
)

// commissionPageSrc is the commissioning page: one self-contained HTML document (inline
// CSS and JavaScript, no external assets, Chinese and English) with which an engineer
// signs in, browses an OPC UA server, sniffs an MQTT broker or scans a Modbus line,
// maps what was found into a device, checks it (the KPI plan and the errors of
// `gateway validate`), test-reads it, applies it, and rolls a change back. It holds no
// data: it uses only the JSON APIs under /api/session, /api/config, /api/reload,
// /api/commission/ and /api/audit (docs/commissioning.md), which enforce sign-in, role
// and CSRF themselves, so serving it reveals nothing. Its MODEL object is empty:
// commissionPage fills it in.
//
//go:embed commission.html
var commissionPageSrc []byte

// pageModel is what the commissioning page offers of the device model: the roles a
// signal may carry, the counter roles among them and the device classes.
type pageModel struct {
	Roles        []string `json:"roles"`
	CounterRoles []string `json:"counter_roles"`
	Classes      []string `json:"classes"`
}

// pageModelMarker is the empty MODEL object in commission.html that commissionPage
// replaces.
const pageModelMarker = `const MODEL = {"roles": [], "counter_roles": [], "classes": []};`

// commissionPage is the page as served: its MODEL filled in from gateway/schema, so the
// page names no role or class itself.
var commissionPage = fillPageModel(commissionPageSrc)

func fillPageModel(src []byte) []byte {
	m := pageModel{Roles: schema.RoleNames(), Classes: []string{schema.ClassEquipment, schema.ClassMeter}}
	for _, r := range m.Roles {
		if schema.IsCounterRole(r) {
			m.CounterRoles = append(m.CounterRoles, r)
		}
	}
	js, err := json.Marshal(m)
	if err != nil || bytes.Count(src, []byte(pageModelMarker)) != 1 {
		panic("admin: commission.html must hold the MODEL marker exactly once") // a build defect, caught by every test
	}
	return bytes.Replace(src, []byte(pageModelMarker), append(append([]byte("const MODEL = "), js...), ';'), 1)
}

// registerCommissionPage serves the commissioning page at GET /commission, with the
// status page's Content-Security-Policy: nothing may be loaded from elsewhere.
func (s *Server) registerCommissionPage() {
	s.handleFunc("GET /commission", serveCommissionPage)
}

func serveCommissionPage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(commissionPage)
}
