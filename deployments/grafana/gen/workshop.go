package main

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/ganlink/ganlink/gateway/schema"
)

// shopSel selects one workshop's series by its id alone: the region and park variables
// list the registry's placement (the aggregator's workshop_info series), which the
// gateway's own region and park tags may contradict (docs/aggregator.md, "Registry ↔
// telemetry consistency").
var shopSel = eq(schema.TagWorkshop, "$workshop")

// machineSel selects the 1m windows of machines: meters are idle whenever they report
// (docs/metrics.md §3.2), their connection shows in "Equipment networked".
var machineSel = "," + sel(nre(schema.TagKind, ".*meter"), eq(schema.TagWindow, schema.Window1m))

// States are the machine state codes of docs/metrics.md §3.1 with their state-seconds
// field, label and color, in the priority order that breaks ties (offline first;
// unknown last so that a window with any observed state shows it).
var states = []struct {
	code         int
	field, label string
	color        string
}{
	{1, schema.FieldOfflineS, "offline 离线", "#6e6e6e"},
	{2, schema.FieldAlarmS, "alarm 报警", "red"},
	{3, schema.FieldSetupS, "setup 调试", "blue"},
	{4, schema.FieldRunningS, "running 运行", "green"},
	{5, schema.FieldIdleS, "idle 空闲", "yellow"},
	{0, schema.FieldUnknownS, "unknown 未知", "#c8c8c8"},
}

// dominantStateExpr is, per device and 1-minute window, the code of the state the
// device spent most of the window in (docs/metrics.md §3.1). The gateway writes state
// seconds per window, not a state signal, so the timeline is derived from them: each
// state's seconds are compared with the window's largest, and the first state in
// priority order that reaches it wins. The state-seconds fields share the suffix "_s".
func dominantStateExpr(selector string) string {
	var names []string
	for _, s := range states {
		names = append(names, strings.TrimSuffix(s.field, "_s"))
	}
	maxExpr := fmt.Sprintf(`max without () ({%s,%s})`,
		re("__name__", deviceKPI("("+strings.Join(names, "|")+")_s")), selector)
	var terms []string
	for _, s := range states {
		terms = append(terms, fmt.Sprintf("(%s{%s} == %s) * 0 + %d", deviceKPI(s.field), selector, maxExpr, s.code))
	}
	return strings.Join(terms, "\nor ")
}

func stateMappings() []dashboard.ValueMapping {
	var pairs [][3]string
	for _, s := range states {
		pairs = append(pairs, [3]string{fmt.Sprint(s.code), s.label, s.color})
	}
	return valueText(pairs...)
}

func workshopDashboard() *dashboard.DashboardBuilder {
	w := eq(schema.TagWindow, "$window")
	sum := func(field string) string {
		return fmt.Sprintf(`sum(sum_over_time(%s{%s,%s}[$__range]))`, workshopKPI(field), shopSel, w)
	}
	statPanel := func(title, desc, unit string) *stat.PanelBuilder {
		return stat.NewPanelBuilder().Title(title).Description(desc).Datasource(vm).Unit(unit).
			Span(4).Height(4).ReduceOptions(reduceLast()).ColorMode(common.BigValueColorModeValue).
			GraphMode(common.BigValueGraphModeNone).TextMode(common.BigValueTextModeValue).
			Orientation(common.VizOrientationAuto)
	}
	windowed := func(title, desc, unit string) *timeseries.PanelBuilder {
		return timeseries.NewPanelBuilder().Title(title).Description(desc).Datasource(vm).Unit(unit).
			Span(12).Height(8).LineInterpolation(common.LineInterpolationStepAfter).FillOpacity(10).
			Legend(legendList()).Tooltip(tooltipMulti())
	}

	return dashboard.NewDashboardBuilder("Ganlink · Workshop 车间").
		Uid("ganlink-workshop").
		Description("One workshop: machine states, output, energy, water and availability from the gateway's device_kpi and workshop_kpi series (docs/metrics.md).").
		Tags([]string{"ganlink", "workshop"}).
		Time("now-6h", "now").
		Refresh("1m").
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(labelVar(schema.TagRegion, "Region 地区", labelValuesOf(infoVar, schema.TagRegion))).
		WithVariable(labelVar(schema.TagPark, "Park 园区", labelValuesOf(infoVar+"{"+eq(schema.TagRegion, "$region")+"}", schema.TagPark))).
		WithVariable(labelVar(schema.TagWorkshop, "Workshop 车间", labelValuesOf(infoVar+"{"+sel(eq(schema.TagRegion, "$region"), eq(schema.TagPark, "$park"))+"}", schema.TagWorkshop))).
		WithVariable(windowVar()).
		WithRow(dashboard.NewRowBuilder("Overview 概览 (selected time range)")).
		WithPanel(statPanel("CNC rate 数控化率", "Numerically controlled key-process equipment ÷ key-process equipment, from the inventory (target ≥ 60 %).", "percentunit").
			WithTarget(qv("A", fmt.Sprintf(`last_over_time(%s{%s,%s}[$__range])`, workshopKPI(schema.FieldCNCRate), shopSel, w), "")).
			Thresholds(thresholds("red", 0.6, "green")).Min(0).Max(1)).
		WithPanel(statPanel("Networking rate 联网率", "Σ equipment networked ÷ Σ digital equipment over the windows of the range (target ≥ 90 %).", "percentunit").
			WithTarget(qv("A", fmt.Sprintf(`%s / %s`, sum(schema.FieldEquipmentNetworked), sum(schema.FieldEquipmentDigital)), "")).
			Thresholds(thresholds("red", 0.9, "green")).Min(0).Max(1)).
		WithPanel(statPanel("Availability 设备可用率", "Mean of the workshop's availability (ISO 22400: running time ÷ planned busy time) over the windows of the range.", "percentunit").
			WithTarget(qv("A", fmt.Sprintf(`avg_over_time(%s{%s,%s}[$__range])`, workshopKPI(schema.FieldAvailability), shopSel, w), "")).
			Thresholds(thresholds("red", 0.5, "yellow", 0.75, "green")).Min(0).Max(1)).
		WithPanel(statPanel("Parts 产量", "Parts produced in the windows of the range.", "short").
			WithTarget(qv("A", sum(schema.FieldParts), "")).Thresholds(thresholds("blue"))).
		WithPanel(statPanel("Energy per part 单件能耗", "Σ energy (kgce, 0.1229 kgce/kWh) ÷ Σ parts over the range.", "suffix: kgce").
			WithTarget(qv("A", fmt.Sprintf(`%s / %s`, sum(schema.FieldEnergyKgce), sum(schema.FieldParts)), "")).Decimals(3).Thresholds(thresholds("blue"))).
		WithPanel(statPanel("Water 用水", "Fresh-water intake in the windows of the range.", "m3").
			WithTarget(qv("A", sum(schema.FieldWaterM3), "")).Decimals(2).Thresholds(thresholds("blue"))).
		WithRow(dashboard.NewRowBuilder("Machines 设备")).
		WithPanel(statetimeline.NewPanelBuilder().Title("Machine state 设备状态").
			Description("Per machine and minute, the state it spent most of the minute in (device_kpi state seconds of the 1m windows; ties: offline > alarm > setup > running > idle > unknown). Meters are not shown.").
			Datasource(vm).Span(24).Height(9).Interval("1m").
			WithTarget(q("A", dominantStateExpr(shopSel+machineSel), legendOf(schema.TagDevice))).
			Mappings(stateMappings()).Thresholds(thresholds("text")).
			ShowValue(common.VisibilityModeNever).MergeValues(true).RowHeight(0.8).FillOpacity(80).
			AlignValue(common.TimelineValueAlignmentLeft).Legend(legendList()).Tooltip(tooltipSingle())).
		WithPanel(timeseries.NewPanelBuilder().Title("Parts per hour 每小时产量").
			Description("Parts per device in each hour window (device_kpi parts, window 1h).").
			Datasource(vm).Unit("short").Span(12).Height(8).Interval("1h").
			WithTarget(q("A", fmt.Sprintf(`sum by (%s) (%s{%s,%s})`, schema.TagDevice, deviceKPI(schema.FieldParts), shopSel,
				eq(schema.TagWindow, schema.Window1h)), legendOf(schema.TagDevice))).
			DrawStyle(common.GraphDrawStyleBars).FillOpacity(80).
			Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
			Legend(legendTable("sum", "mean")).Tooltip(tooltipMulti())).
		WithPanel(windowed("Availability 设备可用率", "Per production device and for the workshop, per window: running time ÷ planned busy time (ISO 22400-2; unknown time excluded).", "percentunit").
			WithTarget(q("A", fmt.Sprintf(`%s{%s,%s}`, deviceKPI(schema.FieldAvailability), shopSel, w), legendOf(schema.TagDevice))).
			WithTarget(q("B", fmt.Sprintf(`%s{%s,%s}`, workshopKPI(schema.FieldAvailability), shopSel, w), "workshop 车间")).
			Min(0).Max(1).OverrideByName("workshop 车间", []dashboard.DynamicConfigValue{
			{Id: "custom.lineWidth", Value: 3}, {Id: "color", Value: map[string]any{"mode": "fixed", "fixedColor": "text"}}})).
		WithRow(dashboard.NewRowBuilder("Energy and water 能耗与用水")).
		WithPanel(windowed("Energy per part 单件能耗", "Workshop energy (kgce) ÷ parts, per window (workshop_kpi energy_kgce_per_part).", "suffix: kgce").
			WithTarget(q("A", fmt.Sprintf(`%s{%s,%s}`, workshopKPI(schema.FieldEnergyKgcePerPart), shopSel, w), "kgce per part 单件")).Decimals(3)).
		WithPanel(windowed("Energy 能耗", "Energy per window (kWh) of each metered device.", "kwatth").
			WithTarget(q("A", fmt.Sprintf(`sum by (%s) (%s{%s,%s})`, schema.TagDevice, deviceKPI(schema.FieldEnergyKWh), shopSel, w), legendOf(schema.TagDevice))).
			DrawStyle(common.GraphDrawStyleBars).FillOpacity(70).
			Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal))).
		WithPanel(windowed("Water 用水", "Fresh-water intake per window (m³).", "m3").
			WithTarget(q("A", fmt.Sprintf(`%s{%s,%s}`, workshopKPI(schema.FieldWaterM3), shopSel, w), "water 用水")).
			DrawStyle(common.GraphDrawStyleBars).FillOpacity(70).Decimals(3)).
		WithPanel(timeseries.NewPanelBuilder().Title("Power 功率").
			Description("Active power reported by the energy meters (raw signal energy_meter power_kw).").
			Datasource(vm).Unit("kwatt").Span(12).Height(8).
			WithTarget(q("A", fmt.Sprintf(`%s{%s}`, schema.VMName(schema.KindEnergyMeter, schema.RawPowerKW), shopSel), legendOf(schema.TagDevice))).
			FillOpacity(10).Legend(legendList()).Tooltip(tooltipMulti())).
		WithPanel(windowed("Equipment networked 联网设备", "Per window: digital equipment that delivered good data, digital equipment, and all equipment in the inventory.", "short").
			WithTarget(q("A", fmt.Sprintf(`%s{%s,%s}`, workshopKPI(schema.FieldEquipmentNetworked), shopSel, w), "networked 联网")).
			WithTarget(q("B", fmt.Sprintf(`%s{%s,%s}`, workshopKPI(schema.FieldEquipmentDigital), shopSel, w), "digital 数字化")).
			WithTarget(q("C", fmt.Sprintf(`%s{%s,%s}`, workshopKPI(schema.FieldEquipmentTotal), shopSel, w), "total 总数")).
			Min(0).Decimals(0).Span(24))
}
