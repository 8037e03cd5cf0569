package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"

	"github.com/ganlink/ganlink/gateway/schema"
)

// Datasource uids, fixed in provisioning/datasources/ganlink.yaml.
const (
	VictoriaUID = "ganlink-victoriametrics"
	InfluxUID   = "ganlink-influxdb"
)

// vm is the VictoriaMetrics datasource (Prometheus type) every panel queries.
var vm = common.DataSourceRef{Type: ptr("prometheus"), Uid: ptr(VictoriaUID)}

func ptr[T any](v T) *T { return &v }

// File is one generated dashboard file.
type File struct {
	Name string
	Data []byte
}

// Dashboards builds every dashboard and returns its JSON file, in a fixed order.
func Dashboards() ([]File, error) {
	var out []File
	for _, d := range []struct {
		name  string
		build func() *dashboard.DashboardBuilder
	}{
		{"workshop.json", workshopDashboard},
		{"park.json", parkDashboard},
		{"province.json", provinceDashboard},
		{"fleet.json", fleetDashboard},
	} {
		db, err := d.build().Build()
		if err != nil {
			return nil, fmt.Errorf("build dashboard %q: %w", d.name, err)
		}
		numberPanels(&db)
		data, err := encode(db)
		if err != nil {
			return nil, fmt.Errorf("encode dashboard %q: %w", d.name, err)
		}
		out = append(out, File{Name: d.name, Data: data})
	}
	return out, nil
}

// numberPanels gives every panel and row an id in layout order.
func numberPanels(d *dashboard.Dashboard) {
	id := uint32(0)
	for i := range d.Panels {
		id++
		switch p := d.Panels[i]; {
		case p.Panel != nil:
			p.Panel.Id = ptr(id)
		case p.RowPanel != nil:
			p.RowPanel.Id = id
			for j := range p.RowPanel.Panels {
				id++
				p.RowPanel.Panels[j].Id = ptr(id)
			}
		}
	}
}

// encode is indented JSON without HTML escaping (PromQL's ">" stays readable), with a
// final newline.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// q is a PromQL target with its RefId.
func q(refID, expr, legend string) *prometheus.DataqueryBuilder {
	b := prometheus.NewDataqueryBuilder().RefId(refID).Datasource(vm).Expr(expr).Range()
	if legend != "" {
		b = b.LegendFormat(legend)
	}
	return b
}

// qi is an instant PromQL target in table format with its RefId.
func qi(refID, expr, legend string) *prometheus.DataqueryBuilder {
	b := prometheus.NewDataqueryBuilder().RefId(refID).Datasource(vm).Expr(expr).Instant().
		Format(prometheus.PromQueryFormatTable)
	if legend != "" {
		b = b.LegendFormat(legend)
	}
	return b
}

// qv is an instant PromQL target in time-series format (for stat and bar gauge panels).
func qv(refID, expr, legend string) *prometheus.DataqueryBuilder {
	b := prometheus.NewDataqueryBuilder().RefId(refID).Datasource(vm).Expr(expr).Instant()
	if legend != "" {
		b = b.LegendFormat(legend)
	}
	return b
}

// Series names of the TSDB contract (gateway/schema) as VictoriaMetrics names them.
func deviceKPI(field string) string   { return schema.VMName(schema.DeviceKPI, field) }
func workshopKPI(field string) string { return schema.VMName(schema.WorkshopKPI, field) }
func regionKPI(field string) string   { return schema.VMName(schema.RegionKPI, field) }
func progressKPI(field string) string { return schema.VMName(schema.ProgrammeProgress, field) }

// infoVar is the aggregator's registry copy (one series per registered workshop, tagged
// with the registry's workshop, enterprise, park, region and names): variables listing
// places query it so that dashboards place workshops as the API does.
var infoVar = schema.VMName(schema.WorkshopInfo, schema.FieldRegistered)

// Label matchers: eq(tag, v) is tag="v", re a regex match, nre a negated one; sel joins
// matchers.
func eq(label, value string) string  { return label + "=" + strconv.Quote(value) }
func re(label, value string) string  { return label + "=~" + strconv.Quote(value) }
func nre(label, value string) string { return label + "!~" + strconv.Quote(value) }
func sel(ms ...string) string        { return strings.Join(ms, ",") }

// labelValuesOf is Grafana's label_values(selector, label) variable query.
func labelValuesOf(selector, label string) string {
	return fmt.Sprintf("label_values(%s, %s)", selector, label)
}

// legendOf is a legend showing a label's value.
func legendOf(label string) string { return "{{" + label + "}}" }

// labelVar is a single-value query variable over a label's values.
func labelVar(name, label, query string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).Label(label).Datasource(vm).
		Query(dashboard.StringOrMap{String: ptr(query)}).Definition(query).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc)
}

// windowVar is the KPI window variable: the window tag of device_kpi and workshop_kpi.
func windowVar() *dashboard.CustomVariableBuilder {
	return dashboard.NewCustomVariableBuilder(schema.TagWindow).Label("KPI window 统计窗口").
		Description("Window length of the device_kpi and workshop_kpi series (the gateway writes 1m, 1h and 1d by default).").
		Values(dashboard.StringOrMap{String: ptr(strings.Join([]string{schema.Window1h, schema.Window1d, schema.Window1m}, ","))}).
		Current(dashboard.VariableOption{Selected: ptr(true), Text: dashboard.StringOrArrayOfString{String: ptr(schema.Window1h)},
			Value: dashboard.StringOrArrayOfString{String: ptr(schema.Window1h)}}).
		Options([]dashboard.VariableOption{opt(schema.Window1h, true), opt(schema.Window1d, false), opt(schema.Window1m, false)})
}

func opt(v string, selected bool) dashboard.VariableOption {
	return dashboard.VariableOption{Selected: ptr(selected), Text: dashboard.StringOrArrayOfString{String: ptr(v)},
		Value: dashboard.StringOrArrayOfString{String: ptr(v)}}
}

// thresholds builds absolute thresholds: a base color, then value/color pairs.
func thresholds(base string, steps ...any) *dashboard.ThresholdsConfigBuilder {
	s := []dashboard.Threshold{{Value: nil, Color: base}}
	for i := 0; i+1 < len(steps); i += 2 {
		s = append(s, dashboard.Threshold{Value: ptr(steps[i].(float64)), Color: steps[i+1].(string)})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(s)
}

// thresholdsValue is thresholds as an override property value.
func thresholdsValue(base string, steps ...any) dashboard.DynamicConfigValue {
	t, _ := thresholds(base, steps...).Build()
	return dashboard.DynamicConfigValue{Id: "thresholds", Value: t}
}

// valueText maps exact values to text and color.
func valueText(pairs ...[3]string) []dashboard.ValueMapping {
	m := dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: map[string]dashboard.ValueMappingResult{}}
	for i, p := range pairs {
		m.Options[p[0]] = dashboard.ValueMappingResult{Text: ptr(p[1]), Color: ptr(p[2]), Index: ptr(int32(i))}
	}
	return []dashboard.ValueMapping{{ValueMap: &m}}
}

func legendList() *common.VizLegendOptionsBuilder {
	return common.NewVizLegendOptionsBuilder().DisplayMode(common.LegendDisplayModeList).
		Placement(common.LegendPlacementBottom).ShowLegend(true)
}

func legendTable(calcs ...string) *common.VizLegendOptionsBuilder {
	return common.NewVizLegendOptionsBuilder().DisplayMode(common.LegendDisplayModeTable).
		Placement(common.LegendPlacementBottom).ShowLegend(true).Calcs(calcs)
}

func tooltipMulti() *common.VizTooltipOptionsBuilder {
	return common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending)
}

func tooltipSingle() *common.VizTooltipOptionsBuilder {
	return common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeSingle).Sort(common.SortOrderNone)
}

func reduceLast() *common.ReduceDataOptionsBuilder {
	return common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false)
}

// Transformations used by the tables.

// merge joins the frames of instant table queries on their common label columns.
func merge() dashboard.DataTransformerConfig {
	return dashboard.DataTransformerConfig{Id: "merge", Options: map[string]any{}}
}

// organize hides the Time column and renames value columns ("Value #A" → name).
func organize(rename map[string]string, order []string) dashboard.DataTransformerConfig {
	idx := map[string]int{}
	for i, f := range order {
		idx[f] = i
	}
	return dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
		"excludeByName": map[string]bool{"Time": true},
		"renameByName":  rename,
		"indexByName":   idx,
	}}
}

// overrides is a list of by-name field overrides.
type overrides []cog.Builder[dashboard.DashboardFieldConfigSourceOverrides]

func byName(name string, props ...dashboard.DynamicConfigValue) cog.Builder[dashboard.DashboardFieldConfigSourceOverrides] {
	return dashboard.NewDashboardFieldConfigSourceOverridesBuilder().
		Matcher(dashboard.MatcherConfig{Id: "byName", Options: name}).Properties(props)
}

func unitProp(u string) dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "unit", Value: u}
}

func decimalsProp(n int) dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "decimals", Value: n}
}

func cellColorBackground() dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "custom.cellOptions", Value: map[string]any{"type": "color-background", "mode": "basic"}}
}

func mappingsProp(m []dashboard.ValueMapping) dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "mappings", Value: m}
}

func drawStyleProp(s string) dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "custom.drawStyle", Value: s}
}

func dashedProp() dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "custom.lineStyle", Value: map[string]any{"fill": "dash", "dash": []int{10, 10}}}
}

// noFooter hides a table's footer (with the reducer list Grafana expects).
func noFooter() *common.TableFooterOptionsBuilder {
	return common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"}).CountRows(false)
}
