package main

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/ganlink/ganlink/gateway/schema"
)

// The fleet dashboard reads the gateways' own health series (docs/metrics.md §1.6),
// which every gateway writes once a minute through its sink queue.
func healthKPI(field string) string { return schema.VMName(schema.GatewayHealth, field) }
func sourceKPI(field string) string { return schema.VMName(schema.GatewaySource, field) }

// fleetSel selects the gateways of the chosen region and park (as their tags say).
var fleetSel = sel(re(schema.TagRegion, "$region"), re(schema.TagPark, "$park"))

// byGateway groups by what names one gateway.
var byGateway = fmt.Sprintf("%s, %s, %s", schema.TagWorkshop, schema.TagInstance, schema.TagVersion)

// silentAfter is how long without a health point makes a gateway silent (the
// GanlinkGatewaySilent alert's threshold).
const silentAfter = "10m"

// Column names of the gateways table.
const (
	colLastSeen   = "Last seen 最近上报 (s ago)"
	colUptime     = "Up 运行时长"
	colSourcesUp  = "Sources up 数据源在线"
	colSources    = "Sources 数据源"
	colOffline    = "Devices offline 离线设备"
	colQueue      = "Queued points 队列点数"
	colQueueAge   = "Oldest queued 最旧排队"
	colDropped    = "Dropped 丢弃 (range)"
	colSignalErrs = "Signal errors 信号错误 (range)"
)

func fleetQueries() (lastSeen, uptime, sourcesUp, sources, offline, queue, queueAge, dropped, signalErrs string) {
	last := func(field string) string {
		return fmt.Sprintf(`max by (%s) (last_over_time(%s{%s}[$__range]))`, byGateway, healthKPI(field), fleetSel)
	}
	lastSeen = fmt.Sprintf(`time() - max by (%s) (tlast_over_time(%s{%s}[$__range]))`, byGateway, healthKPI(schema.FieldUptimeS), fleetSel)
	uptime = last(schema.FieldUptimeS)
	sourcesUp = last(schema.FieldSourcesUp)
	sources = last(schema.FieldSourcesTotal)
	offline = last(schema.FieldDevicesOffline)
	queue = last(schema.FieldQueuePoints)
	queueAge = last(schema.FieldQueueOldestAgeS)
	increase := func(field string) string {
		return fmt.Sprintf(`max by (%s) (increase(%s{%s}[$__range]))`, byGateway, healthKPI(field), fleetSel)
	}
	dropped = increase(schema.FieldPointsDropped)
	signalErrs = increase(schema.FieldSignalErrors)
	return
}

func fleetDashboard() *dashboard.DashboardBuilder {
	lastSeen, uptime, sourcesUp, sources, offline, queue, queueAge, dropped, signalErrs := fleetQueries()
	reporting := fmt.Sprintf(`count(max by (%s) (last_over_time(%s{%s}[%s]))) or vector(0)`,
		schema.TagInstance, healthKPI(schema.FieldUptimeS), fleetSel, silentAfter)
	silent := fmt.Sprintf(`count(max by (%[1]s) (max_over_time(%[2]s{%[3]s}[$__range])) unless max by (%[1]s) (max_over_time(%[2]s{%[3]s}[%[4]s]))) or vector(0)`,
		schema.TagInstance, healthKPI(schema.FieldUptimeS), fleetSel, silentAfter)
	sourcesDown := fmt.Sprintf(`sum(max by (%s, %s) (last_over_time(%s{%s}[%s])) == bool 0) or vector(0)`,
		schema.TagInstance, schema.TagSource, sourceKPI(schema.FieldUp), fleetSel, silentAfter)
	notYet := "No health point yet: every gateway writes one a minute 尚无数据：网关每分钟上报一次"
	statPanel := func(title, desc, expr string, th *dashboard.ThresholdsConfigBuilder) *stat.PanelBuilder {
		return stat.NewPanelBuilder().Title(title).Description(desc).Datasource(vm).Span(8).Height(4).
			WithTarget(qv("A", expr, "")).ReduceOptions(reduceLast()).Thresholds(th).NoValue(notYet)
	}
	perGateway := func(title, desc, unit, expr string) *timeseries.PanelBuilder {
		return timeseries.NewPanelBuilder().Title(title).Description(desc).Datasource(vm).Unit(unit).
			Span(12).Height(8).FillOpacity(0).NoValue(notYet).
			WithTarget(q("A", expr, "{{"+schema.TagWorkshop+"}} {{"+schema.TagInstance+"}}")).
			Legend(legendTable("max", "lastNotNull")).Tooltip(tooltipMulti())
	}
	return dashboard.NewDashboardBuilder("Ganlink · Fleet 网关").
		Uid("ganlink-fleet").
		Description("The park's gateways from their own health series (gateway_health, gateway_source; docs/metrics.md §1.6): last seen, sources, queue backlog, drops. The alerts in deployments/alerts watch the same series.").
		Tags([]string{"ganlink", "fleet"}).
		Time("now-6h", "now").
		Refresh("1m").
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(labelVar(schema.TagRegion, "Region 地区", labelValuesOf(healthKPI(schema.FieldUptimeS), schema.TagRegion)).
			IncludeAll(true).AllValue(".*")).
		WithVariable(labelVar(schema.TagPark, "Park 园区", labelValuesOf(healthKPI(schema.FieldUptimeS)+"{"+re(schema.TagRegion, "$region")+"}", schema.TagPark)).
			IncludeAll(true).AllValue(".*")).
		WithPanel(statPanel("Gateways reporting 在线网关", "Gateways with a health point in the last "+silentAfter+".", reporting,
			thresholds("green"))).
		WithPanel(statPanel("Gateways silent 失联网关", "Gateways seen in the selected range but not in the last "+silentAfter+" (alert GanlinkGatewaySilent).", silent,
			thresholds("green", 1.0, "red"))).
		WithPanel(statPanel("Sources down 断开的数据源", "Sources whose gateway reports them disconnected (alert GanlinkSourceDown after 10 minutes).", sourcesDown,
			thresholds("green", 1.0, "orange"))).
		WithPanel(table.NewPanelBuilder().Title("Gateways 网关").
			Description("One row per gateway (workshop, instance id, version), as its newest health point in the selected range says; drops and signal errors are counted over the range.").
			Datasource(vm).Span(24).Height(10).NoValue(notYet).
			WithTarget(qi("A", lastSeen, "")).
			WithTarget(qi("B", uptime, "")).
			WithTarget(qi("C", sourcesUp, "")).
			WithTarget(qi("D", sources, "")).
			WithTarget(qi("E", offline, "")).
			WithTarget(qi("F", queue, "")).
			WithTarget(qi("G", queueAge, "")).
			WithTarget(qi("H", dropped, "")).
			WithTarget(qi("I", signalErrs, "")).
			WithTransformation(merge()).
			WithTransformation(organize(map[string]string{schema.TagWorkshop: "Workshop 车间", schema.TagInstance: "Instance 实例",
				schema.TagVersion: "Version 版本", "Value #A": colLastSeen, "Value #B": colUptime, "Value #C": colSourcesUp,
				"Value #D": colSources, "Value #E": colOffline, "Value #F": colQueue, "Value #G": colQueueAge,
				"Value #H": colDropped, "Value #I": colSignalErrs},
				[]string{schema.TagWorkshop, schema.TagInstance, "Value #A", "Value #C", "Value #D", "Value #E", "Value #F",
					"Value #G", "Value #H", "Value #I", "Value #B", schema.TagVersion})).
			Footer(noFooter()).SortBy([]cog.Builder[common.TableSortByFieldState]{common.NewTableSortByFieldStateBuilder().DisplayName("Workshop 车间")}).
			Overrides(overrides{
				byName(colLastSeen, decimalsProp(0), cellColorBackground(), thresholdsValue("green", 180.0, "orange", 600.0, "red")),
				byName(colUptime, unitProp("s")),
				byName(colQueueAge, unitProp("s"), cellColorBackground(), thresholdsValue("green", 300.0, "orange", 900.0, "red")),
				byName(colDropped, decimalsProp(0), cellColorBackground(), thresholdsValue("green", 1.0, "red")),
				byName(colSignalErrs, decimalsProp(0)),
			})).
		WithPanel(perGateway("Oldest queued data 最旧排队数据", "Age of the oldest batch waiting in each gateway's sink queue (alert GanlinkQueueBacklogOld above 15 minutes).", "s",
			fmt.Sprintf(`max by (%s, %s) (%s{%s})`, schema.TagWorkshop, schema.TagInstance, healthKPI(schema.FieldQueueOldestAgeS), fleetSel))).
		WithPanel(perGateway("Last data age 最新数据时长", "Seconds since each gateway last received data from any source.", "s",
			fmt.Sprintf(`max by (%s, %s) (%s{%s})`, schema.TagWorkshop, schema.TagInstance, healthKPI(schema.FieldLastDataAgeS), fleetSel))).
		WithPanel(perGateway("Sources down 断开的数据源", "Configured sources minus connected ones, per gateway.", "short",
			fmt.Sprintf(`max by (%[1]s, %[2]s) (%[3]s{%[5]s}) - max by (%[1]s, %[2]s) (%[4]s{%[5]s})`, schema.TagWorkshop, schema.TagInstance,
				healthKPI(schema.FieldSourcesTotal), healthKPI(schema.FieldSourcesUp), fleetSel)).Decimals(0)).
		WithPanel(perGateway("Points dropped 丢弃的点", "Points dropped per 10 minutes, per gateway (alert GanlinkPointsDropped).", "short",
			fmt.Sprintf(`max by (%s, %s) (increase(%s{%s}[10m]))`, schema.TagWorkshop, schema.TagInstance, healthKPI(schema.FieldPointsDropped), fleetSel)).Decimals(0))
}
