package main

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/ganlink/ganlink/gateway/schema"
)

// parkSel selects the workshops of one park and KPI window: the workshops the registry
// places in the park (the hidden workshop variable, from the aggregator's workshop_info
// series), whatever region and park tags their gateways wrote.
var parkSel = sel(re(schema.TagWorkshop, "$workshop"), eq(schema.TagWindow, "$window"))

// Digital-workshop thresholds (GB/T 37393-2019 defaults, docs/metrics.md §6): the park
// table colours each criterion against them.
const (
	thresholdDigitalRatio = 0.70
	thresholdCNCRate      = 0.60
	thresholdNetworked    = 0.90
)

// Column names of the workshops table.
const (
	colCNC       = "CNC rate 数控化率"
	colNetworked = "Networking rate 联网率"
	colDigital   = "Digital equipment ratio 数字化设备占比"
	colCriteria  = "Criteria met 达标"
	colEnergy    = "Energy intensity 能耗强度 (kgce/万元)"
	colWater     = "Water intensity 水耗强度 (m³/万元)"
	colParts     = "Parts 产量"
	colOutput    = "Output value 产值"
	colSuspect   = "Suspect steps 可疑跳变"
)

// parkRange aggregates a workshop_kpi field per workshop over the dashboard's range.
func parkRange(fn, field string) string {
	return fmt.Sprintf(`sum by (%s) (%s(%s{%s}[$__range]))`, schema.TagWorkshop, fn, workshopKPI(field), parkSel)
}

func parkQueries() (cnc, networked, digital, criteria, energy, water, parts, output, suspect string) {
	last := func(field string) string {
		return fmt.Sprintf(`max by (%s) (last_over_time(%s{%s}[$__range]))`, schema.TagWorkshop, workshopKPI(field), parkSel)
	}
	cnc = last(schema.FieldCNCRate)
	networked = fmt.Sprintf(`%s / %s`, parkRange("sum_over_time", schema.FieldEquipmentNetworked), parkRange("sum_over_time", schema.FieldEquipmentDigital))
	digital = fmt.Sprintf(`%s / %s`, last(schema.FieldEquipmentDigital), last(schema.FieldEquipmentTotal))
	criteria = fmt.Sprintf("(%s >= bool %g)\n* (%s >= bool %g)\n* (%s >= bool %g)",
		cnc, thresholdCNCRate, networked, thresholdNetworked, digital, thresholdDigitalRatio)
	output = parkRange("sum_over_time", schema.FieldOutputValueYuan)
	energy = fmt.Sprintf(`%s / (%s > 0) * 10000`, parkRange("sum_over_time", schema.FieldEnergyKgce), output)
	water = fmt.Sprintf(`%s / (%s > 0) * 10000`, parkRange("sum_over_time", schema.FieldWaterM3), output)
	parts = parkRange("sum_over_time", schema.FieldParts)
	// The gateways write suspect only when it is not 0: 0 for the workshops with parts.
	suspect = fmt.Sprintf("%s\nor 0 * %s", parkRange("sum_over_time", schema.FieldSuspect), parts)
	return
}

// group is a dashboard of the workshops of one park or one enterprise: the same panels,
// reached through a different variable.
type group struct {
	uid, title, desc string
	tags             []string
	// tag and nameTag are the workshop_info labels of the group's id and name.
	tag, nameTag, label string
}

var (
	parkGroup = group{uid: "ganlink-park", title: "Ganlink · Park 园区", tags: []string{"ganlink", "park"},
		desc: "The workshops of one park: CNC rate, networking rate, digital equipment ratio, energy and water intensity from the gateways' workshop_kpi series (docs/metrics.md).",
		tag:  schema.TagPark, nameTag: schema.TagParkName, label: "Park 园区"}
	enterpriseGroup = group{uid: "ganlink-enterprise", title: "Ganlink · Enterprise 企业", tags: []string{"ganlink", "enterprise"},
		desc: "The workshops of one enterprise: CNC rate, networking rate, digital equipment ratio, energy and water intensity from the gateways' workshop_kpi series (docs/metrics.md).",
		tag:  schema.TagEnterprise, nameTag: schema.TagEnterpriseName, label: "Enterprise 企业"}
)

func parkDashboard() *dashboard.DashboardBuilder       { return groupDashboard(parkGroup) }
func enterpriseDashboard() *dashboard.DashboardBuilder { return groupDashboard(enterpriseGroup) }

// namedVar is a query variable over the registry's ids of tag whose text is the name in
// nameTag (Grafana's named groups "value" and "text").
func namedVar(tag, nameTag, label, selector string) *dashboard.QueryVariableBuilder {
	query := fmt.Sprintf("query_result(max by (%s, %s) (last_over_time(%s{%s}[$__range])))", tag, nameTag, infoVar, selector)
	return labelVar(tag, label, query).Regex(fmt.Sprintf(`/%s="(?<value>[^"]*)".*%s="(?<text>[^"]*)"/`, tag, nameTag))
}

// names is the registry's workshop names by workshop: the table's name column. (Time
// series keep the workshop id as legend: a range query cannot join a name written now to
// windows written before it.)
func names() string {
	return fmt.Sprintf(`max by (%s, %s) (last_over_time(%s{%s}[$__range]))`, schema.TagWorkshop, schema.TagName, infoVar, re(schema.TagWorkshop, "$workshop"))
}

func groupDashboard(g group) *dashboard.DashboardBuilder {
	cnc, networked, digital, criteria, energy, water, parts, output, suspect := parkQueries()
	byWorkshop := func(title, desc, unit, field string) *timeseries.PanelBuilder {
		return timeseries.NewPanelBuilder().Title(title).Description(desc).Datasource(vm).Unit(unit).
			Span(12).Height(8).LineInterpolation(common.LineInterpolationStepAfter).FillOpacity(0).
			WithTarget(q("A", fmt.Sprintf(`%s{%s}`, workshopKPI(field), parkSel), legendOf(schema.TagWorkshop))).
			Legend(legendTable("mean", "lastNotNull")).Tooltip(tooltipMulti())
	}
	yesNo := valueText([3]string{"1", "yes 是", "green"}, [3]string{"0", "no 否", "red"})

	return dashboard.NewDashboardBuilder(g.title).
		Uid(g.uid).
		Description(g.desc).
		Tags(g.tags).
		Time("now-7d", "now").
		Refresh("5m").
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(labelVar(schema.TagRegion, "Region 地区", labelValuesOf(infoVar, schema.TagRegion))).
		WithVariable(namedVar(g.tag, g.nameTag, g.label, eq(schema.TagRegion, "$region"))).
		WithVariable(labelVar(schema.TagWorkshop, "Workshops 车间", labelValuesOf(infoVar+"{"+sel(eq(schema.TagRegion, "$region"), eq(g.tag, "$"+g.tag))+"}", schema.TagWorkshop)).
			Description("The workshops the registry places there (hidden; all of them).").
			Multi(true).IncludeAll(true).Hide(dashboard.VariableHideHideVariable).
			Current(dashboard.VariableOption{Selected: ptr(true), Text: dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
				Value: dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}}})).
		WithVariable(windowVar()).
		WithPanel(table.NewPanelBuilder().Title("Workshops 车间 (selected time range)").
			Description(fmt.Sprintf("One row per workshop over the selected range. Rates and intensities are ratios of sums over the windows, as the aggregator computes them. "+
				"\"Criteria met\" checks CNC rate ≥ %g, networking rate ≥ %g and digital equipment ratio ≥ %g (GB/T 37393-2019 defaults); "+
				"the official digital-workshop verdict, which also requires data coverage, is the aggregator's.",
				thresholdCNCRate, thresholdNetworked, thresholdDigitalRatio)).
			Datasource(vm).Span(24).Height(10).
			WithTarget(qi("A", cnc, "")).
			WithTarget(qi("B", networked, "")).
			WithTarget(qi("C", digital, "")).
			WithTarget(qi("D", criteria, "")).
			WithTarget(qi("E", energy, "")).
			WithTarget(qi("F", water, "")).
			WithTarget(qi("G", parts, "")).
			WithTarget(qi("H", output, "")).
			WithTarget(qi("I", suspect, "")).
			WithTarget(qi("N", names(), "")).
			WithTransformation(merge()).
			WithTransformation(hide(organize(map[string]string{schema.TagWorkshop: "Workshop 车间", schema.TagName: "Name 名称",
				"Value #A": colCNC, "Value #B": colNetworked, "Value #C": colDigital, "Value #D": colCriteria,
				"Value #E": colEnergy, "Value #F": colWater, "Value #G": colParts, "Value #H": colOutput, "Value #I": colSuspect},
				[]string{schema.TagWorkshop, schema.TagName, "Value #D", "Value #A", "Value #B", "Value #C", "Value #E", "Value #F", "Value #G", "Value #H", "Value #I"}), "Value #N")).
			Footer(noFooter()).SortBy([]cog.Builder[common.TableSortByFieldState]{common.NewTableSortByFieldStateBuilder().DisplayName("Workshop 车间")}).
			Overrides(overrides{
				byName(colCNC, unitProp("percentunit"), decimalsProp(1), cellColorBackground(), thresholdsValue("red", thresholdCNCRate, "green")),
				byName(colNetworked, unitProp("percentunit"), decimalsProp(1), cellColorBackground(), thresholdsValue("red", thresholdNetworked, "green")),
				byName(colDigital, unitProp("percentunit"), decimalsProp(1), cellColorBackground(), thresholdsValue("red", thresholdDigitalRatio, "green")),
				byName(colCriteria, mappingsProp(yesNo), cellColorBackground()),
				byName(colEnergy, decimalsProp(1)),
				byName(colWater, decimalsProp(2)),
				byName(colParts, decimalsProp(0)),
				byName(colOutput, unitProp("currencyCNY"), decimalsProp(0)),
				byName(colSuspect, decimalsProp(0), cellColorBackground(), thresholdsValue("transparent", 1.0, "orange")),
			})).
		WithPanel(benchmarkTable()).
		WithPanel(byWorkshop("CNC rate 数控化率", "Per workshop and window (target ≥ 60 %).", "percentunit", schema.FieldCNCRate).
			Min(0).Max(1).Thresholds(thresholds("red", thresholdCNCRate, "green")).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))).
		WithPanel(byWorkshop("Networking rate 联网率", "Per workshop and window: equipment with good data ÷ digital equipment (target ≥ 90 %).", "percentunit", schema.FieldNetworkedRate).
			Min(0).Max(1).Thresholds(thresholds("red", thresholdNetworked, "green")).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))).
		WithPanel(byWorkshop("Energy intensity 能耗强度", "Per workshop and window: kgce per 10 000 yuan of output.", "suffix: kgce/万元", schema.FieldEnergyKgcePer10kYuan).
			Decimals(1)).
		WithPanel(byWorkshop("Energy per part 单件能耗", "Per workshop and window: kgce per part.", "suffix: kgce", schema.FieldEnergyKgcePerPart).
			Decimals(3)).
		WithPanel(byWorkshop("Parts 产量", "Per workshop and window.", "short", schema.FieldParts).
			DrawStyle(common.GraphDrawStyleBars).FillOpacity(70).
			Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal))).
		WithPanel(byWorkshop("Water intensity 水耗强度", "Per workshop and window: m³ of fresh water per 10 000 yuan of output.", "suffix: m³/万元", schema.FieldWaterM3Per10kYuan).
			Decimals(2))
}

// hide adds columns to those an organize transformation leaves out.
func hide(t dashboard.DataTransformerConfig, cols ...string) dashboard.DataTransformerConfig {
	ex := t.Options.(map[string]any)["excludeByName"].(map[string]bool)
	for _, c := range cols {
		ex[c] = true
	}
	return t
}

// Columns of the benchmark table: workshop_benchmark fields.
var benchmarkCols = []struct {
	field, name string
	decimals    int
	unit        string
}{
	{schema.FieldEligible, "Eligible 参评", 0, ""},
	{schema.FieldEnergyIntensity, "Energy intensity 能耗强度 (kgce/万元)", 1, ""},
	{schema.FieldEnergyMedian, "Industry median 行业中位数", 1, ""},
	{schema.FieldEnergyThreshold, "Leader threshold 领跑线", 1, ""},
	{schema.FieldEnergyGap, "Gap 差距", 1, ""},
	{schema.FieldEnergyPercentile, "Percentile 百分位", 0, "percentunit"},
	{schema.FieldEnergyRank, "Rank 排名", 0, ""},
	{schema.FieldEnergyLeader, "Energy leader 能效领跑者", 0, ""},
	{schema.FieldWaterIntensity, "Water intensity 水耗强度 (m³/万元)", 2, ""},
	{schema.FieldWaterMedian, "Water median 水耗中位数", 2, ""},
	{schema.FieldWaterThreshold, "Water leader threshold 水效领跑线", 2, ""},
	{schema.FieldWaterLeader, "Water leader 水效领跑者", 0, ""},
}

// benchmarkTable is each workshop's standing in its industry class within the
// province, from the newest workshop_benchmark write-back: its intensity against the
// class's median and leader threshold (docs/aggregator.md, Efficiency leaders).
func benchmarkTable() *table.PanelBuilder {
	t := table.NewPanelBuilder().Title("Against the industry's leaders 对标行业领跑者").
		Description("Each workshop's intensity over the aggregator's write-back period against the median and the leader threshold of its GB/T 4754 industry class in the province (rules.leaders). Gap = intensity − threshold (≤ 0: at or below it); percentile = the share of ranked peers with a higher intensity. A workshop that is not eligible (low coverage, conflict, suspect steps, no output) is shown but not ranked; a workshop whose enterprise has no industry is not listed.").
		Datasource(vm).Span(24).Height(9).
		WithTarget(qi("N", fmt.Sprintf("%s\nand on (%s) last_over_time(%s{%s}[$__range])", names(), schema.TagWorkshop,
			schema.VMName(schema.WorkshopBenchmark, schema.FieldEligible), re(schema.TagWorkshop, "$workshop")), ""))
	rename := map[string]string{schema.TagWorkshop: "Workshop 车间", schema.TagName: "Name 名称", schema.TagIndustry: "Industry 行业"}
	order := []string{schema.TagWorkshop, schema.TagName, schema.TagIndustry}
	yesNo := valueText([3]string{"1", "yes 是", "green"}, [3]string{"0", "no 否", "text"})
	var ov overrides
	for i, c := range benchmarkCols {
		ref := string(rune('A' + i))
		t = t.WithTarget(qi(ref, fmt.Sprintf(`max by (%s, %s) (last_over_time(%s{%s}[$__range]))`, schema.TagWorkshop, schema.TagIndustry,
			schema.VMName(schema.WorkshopBenchmark, c.field), re(schema.TagWorkshop, "$workshop")), ""))
		rename["Value #"+ref] = c.name
		order = append(order, "Value #"+ref)
		props := []dashboard.DynamicConfigValue{decimalsProp(c.decimals)}
		if c.unit != "" {
			props = append(props, unitProp(c.unit))
		}
		switch c.field {
		case schema.FieldEligible, schema.FieldEnergyLeader, schema.FieldWaterLeader:
			props = append(props, mappingsProp(yesNo), cellColorBackground())
		case schema.FieldEnergyGap:
			props = append(props, cellColorBackground(), thresholdsValue("green", 0.000001, "orange"))
		}
		ov = append(ov, byName(c.name, props...))
	}
	return t.WithTransformation(merge()).WithTransformation(hide(organize(rename, order), "Value #N")).Overrides(ov).Footer(noFooter()).
		SortBy([]cog.Builder[common.TableSortByFieldState]{common.NewTableSortByFieldStateBuilder().DisplayName("Workshop 车间")})
}
