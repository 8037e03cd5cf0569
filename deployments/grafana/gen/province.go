package main

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// The province dashboard reads the aggregator's write-back (docs/aggregator.md): one
// programme_progress and one region_kpi point per region and write-back round, tags
// region (GB/T 2260 code) and level (province, city, county).
//
// The province variable's value is the two-digit province prefix (its text is the full
// code), so that the city variable can list that province's cities.
const (
	provinceSel = `level="province",region="${province}0000"`
	citySel     = `level="city",region=~"$city"`
)

// programmes are the 万千百十 figures of programme_progress, with their targets' fields.
var programmes = []struct {
	field, title, legend string
}{
	{"smart_equipment", "万 · Smart equipment in service 智能装备", "万 smart equipment 智能装备"},
	{"digital_workshops", "千 · Digital workshops 数字化车间", "千 digital workshops 数字化车间"},
	{"smart_equipment_makers", "百 · Smart-equipment makers 智能装备制造商", "百 makers 制造商"},
	{"smart_bases", "十 · Smart manufacturing bases 智能制造基地", "十 bases 基地"},
}

// latest is the newest write-back value of a series in the dashboard's range.
func latest(metric, sel string) string {
	return fmt.Sprintf(`last_over_time(%s{%s}[$__range])`, metric, sel)
}

func provinceDashboard() *dashboard.DashboardBuilder {
	b := dashboard.NewDashboardBuilder("Ganlink · Province 全省 万千百十").
		Uid("ganlink-province").
		Description("Programme progress (万千百十) against targets, cities compared and intensity against the baseline year, from the aggregator's write-back (region_kpi, programme_progress; docs/aggregator.md).").
		Tags([]string{"ganlink", "province", "aggregator"}).
		Time("now-30d", "now").
		Refresh("15m").
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(labelVar("province", "Province 省", `label_values(programme_progress_smart_equipment{level="province"}, region)`).
			Regex(`/^(?<text>(?<value>\d\d)0000)$/`)).
		WithVariable(labelVar("city", "Cities 城市", `label_values(region_kpi_workshops{level="city",region=~"${province}[0-9]{4}"}, region)`).
			Multi(true).IncludeAll(true).
			Current(dashboard.VariableOption{Selected: ptr(true), Text: dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
				Value: dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}}})).
		WithRow(dashboard.NewRowBuilder("Programme progress 万千百十进度"))

	for _, p := range programmes {
		b = b.WithPanel(stat.NewPanelBuilder().Title(p.title).
			Description(fmt.Sprintf("programme_progress %s of the province in the newest write-back, and its target.", p.field)).
			Datasource(vm).Span(6).Height(5).Unit("short").Decimals(0).
			WithTarget(qv("A", latest("programme_progress_"+p.field, provinceSel), "reached 已完成")).
			WithTarget(qv("B", latest("programme_progress_"+p.field+"_target", provinceSel), "target 目标")).
			ReduceOptions(reduceLast()).TextMode(common.BigValueTextModeValueAndName).
			ColorMode(common.BigValueColorModeValue).GraphMode(common.BigValueGraphModeNone).
			Orientation(common.VizOrientationHorizontal).Thresholds(thresholds("blue")).
			OverrideByName("target 目标", []dashboard.DynamicConfigValue{{Id: "color", Value: map[string]any{"mode": "fixed", "fixedColor": "text"}}}))
	}

	progress := bargauge.NewPanelBuilder().Title("Progress against targets 完成率").
		Description("Each programme figure of the province ÷ its target (newest write-back).").
		Datasource(vm).Span(12).Height(8).Unit("percentunit").Min(0).Max(1).
		DisplayMode(common.BarGaugeDisplayModeGradient).Orientation(common.VizOrientationHorizontal).
		ReduceOptions(reduceLast()).Thresholds(thresholds("red", 0.5, "yellow", 1.0, "green"))
	progressTS := timeseries.NewPanelBuilder().Title("Progress over time 完成率走势").
		Description("Each programme figure ÷ its target at every write-back.").
		Datasource(vm).Span(12).Height(8).Unit("percentunit").Min(0).
		LineInterpolation(common.LineInterpolationStepAfter).Legend(legendList()).Tooltip(tooltipMulti())
	for i, p := range programmes {
		ref := string(rune('A' + i))
		ratio := func(f func(string, string) string) string {
			return fmt.Sprintf("%s / %s", f("programme_progress_"+p.field, provinceSel), f("programme_progress_"+p.field+"_target", provinceSel))
		}
		progress = progress.WithTarget(qv(ref, ratio(latest), p.legend))
		progressTS = progressTS.WithTarget(q(ref, ratio(func(m, s string) string { return fmt.Sprintf("%s{%s}", m, s) }), p.legend))
	}
	b = b.WithPanel(progress).WithPanel(progressTS)

	// Cities compared.
	cityCols := []struct {
		metric, name, unit string
		decimals           int
	}{
		{"region_kpi_workshops", "Workshops 车间", "short", 0},
		{"region_kpi_workshops_reporting", "Reporting 上报", "short", 0},
		{"programme_progress_smart_equipment", "Smart equipment 智能装备", "short", 0},
		{"programme_progress_digital_workshops", "Digital workshops 数字化车间", "short", 0},
		{"region_kpi_cnc_rate", "CNC rate 数控化率", "percentunit", 1},
		{"region_kpi_networked_rate", "Networking rate 联网率", "percentunit", 1},
		{"region_kpi_energy_kgce_per_10k_yuan", "Energy intensity 能耗强度 (kgce/万元)", "short", 1},
		{"region_kpi_energy_intensity_change", "Energy vs baseline 能耗强度变化", "percentunit", 1},
		{"region_kpi_water_m3_per_10k_yuan", "Water intensity 水耗强度 (m³/万元)", "short", 2},
		{"region_kpi_water_intensity_change", "Water vs baseline 水耗强度变化", "percentunit", 1},
	}
	cities := table.NewPanelBuilder().Title("Cities 城市 (newest write-back)").
		Description("The roll-up of each city's workshops over the aggregator's write-back period; intensity changes against the city's baseline year (negative is better; targets −18 % energy, −10 % water by default).").
		Datasource(vm).Span(24).Height(9).
		WithTransformation(merge())
	rename := map[string]string{"region": "Region 地区"}
	order := []string{"region"}
	var ov overrides
	for i, c := range cityCols {
		ref := string(rune('A' + i))
		cities = cities.WithTarget(qi(ref, fmt.Sprintf(`max by (region) (%s)`, latest(c.metric, citySel)), ""))
		rename["Value #"+ref] = c.name
		order = append(order, "Value #"+ref)
		ov = append(ov, byName(c.name, unitProp(c.unit), decimalsProp(c.decimals)))
	}
	ov = append(ov,
		byName("CNC rate 数控化率", cellColorBackground(), thresholdsValue("red", thresholdCNCRate, "green")),
		byName("Networking rate 联网率", cellColorBackground(), thresholdsValue("red", thresholdNetworked, "green")))
	cities = cities.WithTransformation(organize(rename, order)).Overrides(ov).
		Footer(noFooter()).SortBy([]cog.Builder[common.TableSortByFieldState]{common.NewTableSortByFieldStateBuilder().DisplayName("Region 地区")})

	cityBars := func(title, desc, metric, unit string) *bargauge.PanelBuilder {
		return bargauge.NewPanelBuilder().Title(title).Description(desc).Datasource(vm).Span(6).Height(8).Unit(unit).
			WithTarget(qv("A", fmt.Sprintf(`max by (region) (%s)`, latest(metric, citySel)), "{{region}}")).
			DisplayMode(common.BarGaugeDisplayModeBasic).Orientation(common.VizOrientationHorizontal).
			ReduceOptions(reduceLast()).Min(0)
	}
	b = b.WithRow(dashboard.NewRowBuilder("Cities compared 城市对比")).
		WithPanel(cities).
		WithPanel(cityBars("Digital workshops 数字化车间", "Qualified digital workshops per city.", "programme_progress_digital_workshops", "short").
			Thresholds(thresholds("blue")).Decimals(0)).
		WithPanel(cityBars("Smart equipment 智能装备", "Smart equipment in service per city.", "programme_progress_smart_equipment", "short").
			Thresholds(thresholds("blue")).Decimals(0)).
		WithPanel(cityBars("CNC rate 数控化率", "Σ NC key-process equipment ÷ Σ key-process equipment per city (target ≥ 60 %).", "region_kpi_cnc_rate", "percentunit").
			Max(1).Thresholds(thresholds("red", thresholdCNCRate, "green"))).
		WithPanel(cityBars("Energy intensity 能耗强度", "kgce per 10 000 yuan of output per city.", "region_kpi_energy_kgce_per_10k_yuan", "suffix: kgce/万元").
			Thresholds(thresholds("blue")).Decimals(1))

	// Intensity against the baseline year.
	change := func(title, desc, field string) *timeseries.PanelBuilder {
		return timeseries.NewPanelBuilder().Title(title).Description(desc).Datasource(vm).Span(12).Height(8).
			Unit("percentunit").LineInterpolation(common.LineInterpolationStepAfter).
			WithTarget(q("A", fmt.Sprintf(`region_kpi_%s_intensity_change{%s}`, field, provinceSel), "province 全省")).
			WithTarget(q("B", fmt.Sprintf(`region_kpi_%s_intensity_change{%s}`, field, citySel), "{{region}}")).
			WithTarget(q("C", fmt.Sprintf(`region_kpi_%s_intensity_change_target{%s}`, field, provinceSel), "target 目标")).
			OverrideByName("province 全省", []dashboard.DynamicConfigValue{{Id: "custom.lineWidth", Value: 3}}).
			OverrideByName("target 目标", []dashboard.DynamicConfigValue{dashedProp(),
				{Id: "color", Value: map[string]any{"mode": "fixed", "fixedColor": "red"}}}).
			Legend(legendTable("lastNotNull")).Tooltip(tooltipMulti())
	}
	met := func(title, field string) *stat.PanelBuilder {
		return stat.NewPanelBuilder().Title(title).
			Description(fmt.Sprintf("Whether the province's %s intensity change against the baseline year meets its target (newest write-back).", field)).
			Datasource(vm).Span(6).Height(4).
			WithTarget(qv("A", latest("region_kpi_"+field+"_target_met", provinceSel), "")).
			Mappings(valueText([3]string{"1", "met 达标", "green"}, [3]string{"0", "not met 未达标", "red"})).
			ReduceOptions(reduceLast()).ColorMode(common.BigValueColorModeBackground).
			GraphMode(common.BigValueGraphModeNone).TextMode(common.BigValueTextModeValue).
			Orientation(common.VizOrientationAuto).Thresholds(thresholds("text"))
	}
	intensity := func(title, field, unit string, decimals float64) *stat.PanelBuilder {
		return stat.NewPanelBuilder().Title(title).
			Description("The province's intensity over the write-back period (newest write-back).").
			Datasource(vm).Span(6).Height(4).Unit(unit).Decimals(decimals).
			WithTarget(qv("A", latest("region_kpi_"+field, provinceSel), "")).
			ReduceOptions(reduceLast()).ColorMode(common.BigValueColorModeValue).
			GraphMode(common.BigValueGraphModeNone).TextMode(common.BigValueTextModeValue).
			Orientation(common.VizOrientationAuto).Thresholds(thresholds("blue"))
	}
	return b.WithRow(dashboard.NewRowBuilder("Intensity against baseline 较基准年强度变化")).
		WithPanel(intensity("Energy intensity 能耗强度", "energy_kgce_per_10k_yuan", "suffix: kgce/万元", 1)).
		WithPanel(met("Energy target 能耗目标", "energy")).
		WithPanel(intensity("Water intensity 水耗强度", "water_m3_per_10k_yuan", "suffix: m³/万元", 2)).
		WithPanel(met("Water target 水耗目标", "water")).
		WithPanel(change("Energy intensity vs baseline 能耗强度变化", "Change of kgce per 10 000 yuan against the baseline year: province, cities and the target (default −18 %).", "energy")).
		WithPanel(change("Water intensity vs baseline 水耗强度变化", "Change of m³ per 10 000 yuan against the baseline year: province, cities and the target (default −10 %).", "water"))
}
