package admin

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
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

// commissionCSP is the commissioning page's Content-Security-Policy: the status page's,
// except that the only script allowed to run is the page's own, by its SHA-256 (no
// 'unsafe-inline' for scripts): markup that reached the page from a device (a browse
// name, a payload; the page only ever sets them as text) could not run a script either.
var commissionCSP = cspFor(commissionPage)

// cspFor returns the policy for page, whose one inline script it allows by hash.
func cspFor(page []byte) string {
	_, rest, ok1 := bytes.Cut(page, []byte("<script>"))
	script, _, ok2 := bytes.Cut(rest, []byte("</script>"))
	if !ok1 || !ok2 || bytes.Contains(rest, []byte("<script")) {
		panic("admin: commission.html must hold exactly one <script> element") // a build defect, caught by every test
	}
	sum := sha256.Sum256(script)
	return "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// registerCommissionPage serves the commissioning page at GET /commission, with its
// Content-Security-Policy: nothing may be loaded from elsewhere, and no script runs but
// its own.
func (s *Server) registerCommissionPage() {
	s.handleFunc("GET /commission", serveCommissionPage)
}

func serveCommissionPage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", commissionCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(commissionPage)
}
