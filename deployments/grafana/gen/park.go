package main

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// parkSel selects the workshops of one park and KPI window.
const parkSel = `region="$region",park="$park",window="$window"`

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
)

// parkRange aggregates a workshop_kpi field per workshop over the dashboard's range.
func parkRange(fn, field string) string {
	return fmt.Sprintf(`sum by (workshop) (%s(workshop_kpi_%s{%s}[$__range]))`, fn, field, parkSel)
}

func parkQueries() (cnc, networked, digital, criteria, energy, water, parts, output string) {
	cnc = fmt.Sprintf(`max by (workshop) (last_over_time(workshop_kpi_cnc_rate{%s}[$__range]))`, parkSel)
	networked = fmt.Sprintf(`%s / %s`, parkRange("sum_over_time", "equipment_networked"), parkRange("sum_over_time", "equipment_digital"))
	digital = fmt.Sprintf(`max by (workshop) (last_over_time(workshop_kpi_equipment_digital{%s}[$__range])) / max by (workshop) (last_over_time(workshop_kpi_equipment_total{%s}[$__range]))`, parkSel, parkSel)
	criteria = fmt.Sprintf("(%s >= bool %g)\n* (%s >= bool %g)\n* (%s >= bool %g)",
		cnc, thresholdCNCRate, networked, thresholdNetworked, digital, thresholdDigitalRatio)
	output = parkRange("sum_over_time", "output_value_yuan")
	energy = fmt.Sprintf(`%s / (%s > 0) * 10000`, parkRange("sum_over_time", "energy_kgce"), output)
	water = fmt.Sprintf(`%s / (%s > 0) * 10000`, parkRange("sum_over_time", "water_m3"), output)
	parts = parkRange("sum_over_time", "parts")
	return
}

func parkDashboard() *dashboard.DashboardBuilder {
	cnc, networked, digital, criteria, energy, water, parts, output := parkQueries()
	byWorkshop := func(title, desc, unit, field string) *timeseries.PanelBuilder {
		return timeseries.NewPanelBuilder().Title(title).Description(desc).Datasource(vm).Unit(unit).
			Span(12).Height(8).LineInterpolation(common.LineInterpolationStepAfter).FillOpacity(0).
			WithTarget(q("A", fmt.Sprintf(`workshop_kpi_%s{%s}`, field, parkSel), "{{workshop}}")).
			Legend(legendTable("mean", "lastNotNull")).Tooltip(tooltipMulti())
	}
	yesNo := valueText([3]string{"1", "yes 是", "green"}, [3]string{"0", "no 否", "red"})

	return dashboard.NewDashboardBuilder("Ganlink · Park 园区").
		Uid("ganlink-park").
		Description("The workshops of one park: CNC rate, networking rate, digital equipment ratio, energy and water intensity from the gateways' workshop_kpi series (docs/metrics.md).").
		Tags([]string{"ganlink", "park"}).
		Time("now-7d", "now").
		Refresh("5m").
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(labelVar("region", "Region 地区", "label_values(workshop_kpi_equipment_total, region)")).
		WithVariable(labelVar("park", "Park 园区", `label_values(workshop_kpi_equipment_total{region="$region"}, park)`)).
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
			WithTransformation(merge()).
			WithTransformation(organize(map[string]string{"workshop": "Workshop 车间",
				"Value #A": colCNC, "Value #B": colNetworked, "Value #C": colDigital, "Value #D": colCriteria,
				"Value #E": colEnergy, "Value #F": colWater, "Value #G": colParts, "Value #H": colOutput},
				[]string{"workshop", "Value #D", "Value #A", "Value #B", "Value #C", "Value #E", "Value #F", "Value #G", "Value #H"})).
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
			})).
		WithPanel(byWorkshop("CNC rate 数控化率", "Per workshop and window (target ≥ 60 %).", "percentunit", "cnc_rate").
			Min(0).Max(1).Thresholds(thresholds("red", thresholdCNCRate, "green")).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))).
		WithPanel(byWorkshop("Networking rate 联网率", "Per workshop and window: equipment with good data ÷ digital equipment (target ≥ 90 %).", "percentunit", "networked_rate").
			Min(0).Max(1).Thresholds(thresholds("red", thresholdNetworked, "green")).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))).
		WithPanel(byWorkshop("Energy intensity 能耗强度", "Per workshop and window: kgce per 10 000 yuan of output.", "suffix: kgce/万元", "energy_kgce_per_10k_yuan").
			Decimals(1)).
		WithPanel(byWorkshop("Energy per part 单件能耗", "Per workshop and window: kgce per part.", "suffix: kgce", "energy_kgce_per_part").
			Decimals(3)).
		WithPanel(byWorkshop("Parts 产量", "Per workshop and window.", "short", "parts").
			DrawStyle(common.GraphDrawStyleBars).FillOpacity(70).
			Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal))).
		WithPanel(byWorkshop("Water intensity 水耗强度", "Per workshop and window: m³ of fresh water per 10 000 yuan of output.", "suffix: m³/万元", "water_m3_per_10k_yuan").
			Decimals(2))
}
