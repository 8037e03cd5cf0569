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

	"github.com/ganlink/ganlink/gateway/schema"
)

// The province dashboard reads the aggregator's write-back (docs/aggregator.md): one
// programme_progress and one region_kpi point per region and write-back round, tags
// region (GB/T 2260 code) and level (province, city, county).
//
// The province variable's value is the two-digit province prefix (its text is the full
// code), so that the city variable can list that province's cities.
var (
	provinceSel = sel(eq(schema.TagLevel, "province"), eq(schema.TagRegion, "${province}0000"))
	citySel     = sel(eq(schema.TagLevel, "city"), re(schema.TagRegion, "$city"))
)

// programmes are the 万千百十 figures of programme_progress, with their targets' fields.
var programmes = []struct {
	field, title, legend string
}{
	{schema.FieldSmartEquipment, "万 · Smart equipment in service 智能装备", "万 smart equipment 智能装备"},
	{schema.FieldDigitalWorkshops, "千 · Digital workshops 数字化车间", "千 digital workshops 数字化车间"},
	{schema.FieldSmartEquipmentMakers, "百 · Smart-equipment makers 智能装备制造商", "百 makers 制造商"},
	{schema.FieldSmartBases, "十 · Smart manufacturing bases 智能制造基地", "十 bases 基地"},
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
		WithVariable(labelVar("province", "Province 省", labelValuesOf(progressKPI(schema.FieldSmartEquipment)+"{"+eq(schema.TagLevel, "province")+"}", schema.TagRegion)).
			Regex(`/^(?<text>(?<value>\d\d)0000)$/`)).
		WithVariable(labelVar("city", "Cities 城市", labelValuesOf(regionKPI(schema.FieldWorkshops)+"{"+sel(eq(schema.TagLevel, "city"), re(schema.TagRegion, "${province}[0-9]{4}"))+"}", schema.TagRegion)).
			Multi(true).IncludeAll(true).
			Current(dashboard.VariableOption{Selected: ptr(true), Text: dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
				Value: dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}}})).
		WithRow(dashboard.NewRowBuilder("Programme progress 万千百十进度"))

	for _, p := range programmes {
		b = b.WithPanel(stat.NewPanelBuilder().Title(p.title).
			Description(fmt.Sprintf("programme_progress %s of the province in the newest write-back, and its target.", p.field)).
			Datasource(vm).Span(6).Height(5).Unit("short").Decimals(0).
			WithTarget(qv("A", latest(progressKPI(p.field), provinceSel), "reached 已完成")).
			WithTarget(qv("B", latest(progressKPI(p.field+schema.TargetSuffix), provinceSel), "target 目标")).
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
			return fmt.Sprintf("%s / %s", f(progressKPI(p.field), provinceSel), f(progressKPI(p.field+schema.TargetSuffix), provinceSel))
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
		{regionKPI(schema.FieldWorkshops), "Workshops 车间", "short", 0},
		{regionKPI(schema.FieldWorkshopsReporting), "Reporting 上报", "short", 0},
		{progressKPI(schema.FieldSmartEquipment), "Smart equipment 智能装备", "short", 0},
		{progressKPI(schema.FieldDigitalWorkshops), "Digital workshops 数字化车间", "short", 0},
		{regionKPI(schema.FieldCNCRate), "CNC rate 数控化率", "percentunit", 1},
		{regionKPI(schema.FieldNetworkedRate), "Networking rate 联网率", "percentunit", 1},
		{regionKPI(schema.FieldEnergyKgcePer10kYuan), "Energy intensity 能耗强度 (kgce/万元)", "short", 1},
		{regionKPI(schema.FieldEnergyIntensityChange), "Energy vs baseline 能耗强度变化", "percentunit", 1},
		{regionKPI(schema.FieldWaterM3Per10kYuan), "Water intensity 水耗强度 (m³/万元)", "short", 2},
		{regionKPI(schema.FieldWaterIntensityChange), "Water vs baseline 水耗强度变化", "percentunit", 1},
	}
	cities := table.NewPanelBuilder().Title("Cities 城市 (newest write-back)").
		Description("The roll-up of each city's workshops over the aggregator's write-back period; intensity changes against the city's baseline year (negative is better; targets −18 % energy, −10 % water by default).").
		Datasource(vm).Span(24).Height(9).
		WithTransformation(merge())
	rename := map[string]string{schema.TagRegion: "Region 地区"}
	order := []string{schema.TagRegion}
	var ov overrides
	for i, c := range cityCols {
		ref := string(rune('A' + i))
		cities = cities.WithTarget(qi(ref, fmt.Sprintf(`max by (%s) (%s)`, schema.TagRegion, latest(c.metric, citySel)), ""))
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
			WithTarget(qv("A", fmt.Sprintf(`max by (%s) (%s)`, schema.TagRegion, latest(metric, citySel)), legendOf(schema.TagRegion))).
			DisplayMode(common.BarGaugeDisplayModeBasic).Orientation(common.VizOrientationHorizontal).
			ReduceOptions(reduceLast()).Min(0)
	}
	b = b.WithRow(dashboard.NewRowBuilder("Cities compared 城市对比")).
		WithPanel(cities).
		WithPanel(cityBars("Digital workshops 数字化车间", "Qualified digital workshops per city.", progressKPI(schema.FieldDigitalWorkshops), "short").
			Thresholds(thresholds("blue")).Decimals(0)).
		WithPanel(cityBars("Smart equipment 智能装备", "Smart equipment in service per city.", progressKPI(schema.FieldSmartEquipment), "short").
			Thresholds(thresholds("blue")).Decimals(0)).
		WithPanel(cityBars("CNC rate 数控化率", "Σ NC key-process equipment ÷ Σ key-process equipment per city (target ≥ 60 %).", regionKPI(schema.FieldCNCRate), "percentunit").
			Max(1).Thresholds(thresholds("red", thresholdCNCRate, "green"))).
		WithPanel(cityBars("Energy intensity 能耗强度", "kgce per 10 000 yuan of output per city.", regionKPI(schema.FieldEnergyKgcePer10kYuan), "suffix: kgce/万元").
			Thresholds(thresholds("blue")).Decimals(1))

	// Intensity against the baseline year.
	change := func(title, desc, field, target string) *timeseries.PanelBuilder {
		return timeseries.NewPanelBuilder().Title(title).Description(desc).Datasource(vm).Span(12).Height(8).
			Unit("percentunit").LineInterpolation(common.LineInterpolationStepAfter).
			WithTarget(q("A", fmt.Sprintf(`%s{%s}`, regionKPI(field), provinceSel), "province 全省")).
			WithTarget(q("B", fmt.Sprintf(`%s{%s}`, regionKPI(field), citySel), legendOf(schema.TagRegion))).
			WithTarget(q("C", fmt.Sprintf(`%s{%s}`, regionKPI(target), provinceSel), "target 目标")).
			OverrideByName("province 全省", []dashboard.DynamicConfigValue{{Id: "custom.lineWidth", Value: 3}}).
			OverrideByName("target 目标", []dashboard.DynamicConfigValue{dashedProp(),
				{Id: "color", Value: map[string]any{"mode": "fixed", "fixedColor": "red"}}}).
			Legend(legendTable("lastNotNull")).Tooltip(tooltipMulti())
	}
	met := func(title, what, field string) *stat.PanelBuilder {
		return stat.NewPanelBuilder().Title(title).
			Description(fmt.Sprintf("Whether the province's %s intensity change against the baseline year meets its target (newest write-back).", what)).
			Datasource(vm).Span(6).Height(4).
			WithTarget(qv("A", latest(regionKPI(field), provinceSel), "")).
			Mappings(valueText([3]string{"1", "met 达标", "green"}, [3]string{"0", "not met 未达标", "red"})).
			ReduceOptions(reduceLast()).ColorMode(common.BigValueColorModeBackground).
			GraphMode(common.BigValueGraphModeNone).TextMode(common.BigValueTextModeValue).
			Orientation(common.VizOrientationAuto).Thresholds(thresholds("text"))
	}
	intensity := func(title, field, unit string, decimals float64) *stat.PanelBuilder {
		return stat.NewPanelBuilder().Title(title).
			Description("The province's intensity over the write-back period (newest write-back).").
			Datasource(vm).Span(6).Height(4).Unit(unit).Decimals(decimals).
			WithTarget(qv("A", latest(regionKPI(field), provinceSel), "")).
			ReduceOptions(reduceLast()).ColorMode(common.BigValueColorModeValue).
			GraphMode(common.BigValueGraphModeNone).TextMode(common.BigValueTextModeValue).
			Orientation(common.VizOrientationAuto).Thresholds(thresholds("blue"))
	}
	// Workshops written by more than one gateway instance in the range (docs/aggregator.md,
	// Conflicts): the aggregator counts one instance of each; the table of
	// /api/v1/workshops names them.
	instances := fmt.Sprintf(`count by (%s) (count by (%s, %s) (last_over_time(%s{%s}[$__range])))`,
		schema.TagWorkshop, schema.TagWorkshop, schema.TagInstance, workshopKPI(schema.FieldEquipmentTotal),
		re(schema.TagRegion, "${province}[0-9]{4}"))
	conflicts := stat.NewPanelBuilder().Title("Workshops in conflict 身份冲突车间").
		Description("Workshops of the province whose workshop_kpi points in the range come from more than one gateway instance (tag gateway_instance): the same workshop identity on several gateways. The aggregator counts only the instance with the most windows and flags the workshop (conflict in /api/v1/workshops, metric ganlink_aggregator_workshop_conflicts); 0 is right.").
		Datasource(vm).Span(6).Height(4).Decimals(0).
		WithTarget(qv("A", fmt.Sprintf(`count(%s > 1) or vector(0)`, instances), "")).
		ReduceOptions(reduceLast()).ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone).TextMode(common.BigValueTextModeValue).
		Orientation(common.VizOrientationAuto).Thresholds(thresholds("green", 1.0, "red"))
	// Counter steps the gateways did not book (glitches, implausible increases) in the
	// province's windows over the write-back period: the aggregator's roll-up of the
	// suspect field (docs/aggregator.md, Roll-ups).
	suspect := stat.NewPanelBuilder().Title("Suspect counter steps 可疑计数跳变").
		Description("Counter steps of the province's meters and machines that the gateways did not book over the write-back period (glitches: a small step backwards; implausible: faster than the signal's max_rate), newest write-back of region_kpi suspect. The figures were cleaned; a growing number points at a meter to check (device_kpi suspect names it). 0 is normal.").
		Datasource(vm).Span(6).Height(4).Decimals(0).
		WithTarget(qv("A", latest(regionKPI(schema.FieldSuspect), provinceSel), "")).
		ReduceOptions(reduceLast()).ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone).TextMode(common.BigValueTextModeValue).
		Orientation(common.VizOrientationAuto).Thresholds(thresholds("green", 1.0, "orange"))
	b = b.WithRow(dashboard.NewRowBuilder("Data quality 数据质量")).WithPanel(conflicts).WithPanel(suspect)
	b = b.WithRow(dashboard.NewRowBuilder("Efficiency leaders 能效、水效领跑者")).WithPanel(leadersTable())

	return b.WithRow(dashboard.NewRowBuilder("Intensity against baseline 较基准年强度变化")).
		WithPanel(intensity("Energy intensity 能耗强度", schema.FieldEnergyKgcePer10kYuan, "suffix: kgce/万元", 1)).
		WithPanel(met("Energy target 能耗目标", "energy", schema.FieldEnergyTargetMet)).
		WithPanel(intensity("Water intensity 水耗强度", schema.FieldWaterM3Per10kYuan, "suffix: m³/万元", 2)).
		WithPanel(met("Water target 水耗目标", "water", schema.FieldWaterTargetMet)).
		WithPanel(change("Energy intensity vs baseline 能耗强度变化", "Change of kgce per 10 000 yuan against the baseline year: province, cities and the target (default −18 %).",
			schema.FieldEnergyIntensityChange, schema.FieldEnergyIntensityChangeTarget)).
		WithPanel(change("Water intensity vs baseline 水耗强度变化", "Change of m³ per 10 000 yuan against the baseline year: province, cities and the target (default −10 %).",
			schema.FieldWaterIntensityChange, schema.FieldWaterIntensityChangeTarget))
}

// leaderCols are the columns of the leaders table: per metric, the industry_benchmark
// fields of the province.
var leaderCols = []struct {
	metric, field, name, unit string
	decimals                  int
}{
	{schema.MetricEnergy, schema.FieldRanked, "Energy: ranked 能耗参评", "short", 0},
	{schema.MetricEnergy, schema.FieldLeaders, "Energy: leaders 能效领跑者", "short", 0},
	{schema.MetricEnergy, schema.FieldMedian, "Energy: median 能耗中位数 (kgce/万元)", "short", 1},
	{schema.MetricEnergy, schema.FieldThreshold, "Energy: leader threshold 能效领跑线 (kgce/万元)", "short", 1},
	{schema.MetricWater, schema.FieldRanked, "Water: ranked 水耗参评", "short", 0},
	{schema.MetricWater, schema.FieldLeaders, "Water: leaders 水效领跑者", "short", 0},
	{schema.MetricWater, schema.FieldMedian, "Water: median 水耗中位数 (m³/万元)", "short", 2},
	{schema.MetricWater, schema.FieldThreshold, "Water: leader threshold 水效领跑线 (m³/万元)", "short", 2},
}

// leadersTable is one row per industry class of the province with ranked workshops:
// the newest industry_benchmark write-back (docs/aggregator.md, Efficiency leaders).
func leadersTable() *table.PanelBuilder {
	t := table.NewPanelBuilder().Title("Efficiency leaders per industry 能效领跑者").
		Description("Per GB/T 4754 industry class, the province's workshops ranked by energy and by water intensity over the aggregator's write-back period (rules.leaders; basis output value by default): how many are ranked (eligible: coverage, no conflict, no suspect steps), how many are leaders, the median intensity and the leader threshold (the intensity of the best 10 % by default; none with fewer than min_peers ranked). /api/v1/leaders lists the workshops.").
		Datasource(vm).Span(24).Height(9).
		WithTransformation(merge())
	rename := map[string]string{schema.TagIndustry: "Industry 行业"}
	order := []string{schema.TagIndustry}
	var ov overrides
	for i, c := range leaderCols {
		ref := string(rune('A' + i))
		t = t.WithTarget(qi(ref, fmt.Sprintf(`max by (%s) (%s)`, schema.TagIndustry,
			latest(schema.VMName(schema.IndustryBenchmark, c.field), sel(eq(schema.TagRegion, "${province}0000"), eq(schema.TagMetric, c.metric)))), ""))
		rename["Value #"+ref] = c.name
		order = append(order, "Value #"+ref)
		ov = append(ov, byName(c.name, unitProp(c.unit), decimalsProp(c.decimals)))
	}
	return t.WithTransformation(organize(rename, order)).Overrides(ov).Footer(noFooter()).
		SortBy([]cog.Builder[common.TableSortByFieldState]{common.NewTableSortByFieldStateBuilder().DisplayName("Industry 行业")})
}
