package admin

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"net/http"

	"github.com/ganlink/ganlink/gateway/schema"
)

// statusPageSrc is the engineer's status page: one self-contained HTML document (inline
// CSS and JavaScript, no external assets) that polls /api/status every two seconds and
// renders it, in Chinese or English. Its KPI object is empty: statusPage fills it in.
//
//go:embed status.html
var statusPageSrc []byte

// kpiField is one row of the status page's workshop KPI table.
type kpiField struct {
	Key string `json:"key"`
	ZH  string `json:"zh"`
	EN  string `json:"en"`
	// Format "pct" shows a ratio as a percentage; Digits, when set, the number of
	// fraction digits of a plain number.
	Format string `json:"format,omitempty"`
	Digits *int   `json:"digits,omitempty"`
}

// pageKPI is what the status page shows of workshop_kpi: the table rows in order and the
// fields of the CNC-rate, networking-rate and parts tiles.
var pageKPI = struct {
	Fields []kpiField        `json:"fields"`
	Tiles  map[string]string `json:"tiles"`
}{
	Fields: []kpiField{
		{Key: schema.FieldCNCRate, ZH: "数控化率", EN: "CNC rate", Format: "pct"},
		{Key: schema.FieldNetworkedRate, ZH: "联网率", EN: "Networking rate", Format: "pct"},
		{Key: schema.FieldParts, ZH: "产量（件）", EN: "Parts"},
		{Key: schema.FieldEnergyKgcePerPart, ZH: "单件能耗（kgce/件）", EN: "Energy per part (kgce)", Digits: ptr(4)},
		{Key: schema.FieldEnergyKWh, ZH: "用电量（kWh）", EN: "Electricity (kWh)"},
		{Key: schema.FieldWaterM3, ZH: "用水量（m³）", EN: "Water (m³)"},
		{Key: schema.FieldAvailability, ZH: "设备可用率", EN: "Availability", Format: "pct"},
		{Key: schema.FieldEquipmentNetworked, ZH: "联网设备（台）", EN: "Networked equipment"},
		{Key: schema.FieldEquipmentTotal, ZH: "设备总数（台）", EN: "Equipment total"},
	},
	Tiles: map[string]string{"cnc": schema.FieldCNCRate, "net": schema.FieldNetworkedRate, "parts": schema.FieldParts},
}

func ptr[T any](v T) *T { return &v }

// pageKPIMarker is the empty KPI object in status.html that statusPage replaces.
const pageKPIMarker = `const KPI = {"fields": [], "tiles": {}};`

// statusPage is the page as served: statusPageSrc with its KPI object filled in from
// gateway/schema, so the page names no field itself.
var statusPage = fillPageKPI(statusPageSrc)

func fillPageKPI(src []byte) []byte {
	js, err := json.Marshal(pageKPI)
	if err != nil || bytes.Count(src, []byte(pageKPIMarker)) != 1 {
		panic("admin: status.html must hold the KPI marker exactly once") // a build defect, caught by every test
	}
	return bytes.Replace(src, []byte(pageKPIMarker), append(append([]byte("const KPI = "), js...), ';'), 1)
}

// pageCSP allows the page's inline style and script and requests to this server only,
// so the page works offline and cannot load anything from elsewhere.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; " +
	"connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func serveStatusPage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(statusPage)
}
