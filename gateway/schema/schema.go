// Package schema holds the names of the TSDB contract between the gateway, the
// aggregator and the dashboards: measurements, fields, tags and window values. The
// gateway's KPI engine writes them, the aggregator queries them and writes its roll-ups
// back under them, the dashboard generator builds its queries from them and the status
// page shows them. docs/metrics.md defines what each field means.
//
// A name is spelled once, here: a string literal equal to a contract name anywhere else
// in the module fails TestNoSchemaLiterals.
//
// In InfluxDB a field is measurement device_kpi, field running_s; in VictoriaMetrics
// (and in PromQL) the same series is named device_kpi_running_s (VMName).
package schema

import (
	"fmt"
	"time"
)

// Measurements.
const (
	// DeviceKPI holds one point per device and window (tag TagWindow, timestamp the
	// window start): seconds per state, parts, availability, energy, water.
	DeviceKPI = "device_kpi"
	// WorkshopKPI holds one point per workshop and window: the inventory counts, rates
	// and the workshop's totals.
	WorkshopKPI = "workshop_kpi"
	// RegionKPI is the aggregator's roll-up of workshop_kpi per region over its
	// write-back period (tags TagLevel, TagRegion; timestamp the period's end).
	RegionKPI = "region_kpi"
	// ProgrammeProgress is the aggregator's provincial programme progress per region
	// (tags TagLevel, TagRegion).
	ProgrammeProgress = "programme_progress"
	// WorkshopInfo is the aggregator's copy of the registry: one point per registered
	// workshop and write-back round (field FieldRegistered = 1), tagged with the
	// registry's placement (TagWorkshop, TagEnterprise, TagPark, TagRegion) and names
	// (TagName, TagEnterpriseName, TagParkName, TagRegionName), so dashboards can join
	// the gateways' series on workshop and place and name them as the API does.
	WorkshopInfo = "workshop_info"
	// Correction records that windows of a workshop or of one of its devices are
	// invalid, or that a counter was replaced at a time: one point per correction
	// (timestamp the start of the span, field FieldUntil its end), tagged with the
	// workshop identity, TagDevice (absent for the whole workshop), TagCorrection,
	// TagCorrectionKind, TagBy, TagReason, and TagInstance when a gateway recorded it.
	// Corrections are appended, never edited: a revocation is a second point of the
	// same TagCorrection with FieldActive 0. The aggregator leaves out every window a
	// correction covers (docs/aggregator.md "Corrections").
	Correction = "kpi_correction"
)

// The gateways' own health series (gateway/health): written by every gateway through
// its sink queues once a minute, so a park sees its fleet in the same TSDB without
// scraping edge boxes behind NAT. Both carry the workshop identity tags, TagInstance
// and TagVersion.
const (
	// GatewayHealth has one point per gateway and minute.
	GatewayHealth = "gateway_health"
	// GatewaySource has one point per gateway, source and minute (tag TagSource).
	GatewaySource = "gateway_source"
)

// Fields and tags of gateway_health and gateway_source.
const (
	TagVersion = "version"
	TagSource  = "source"

	// gateway_health fields.
	FieldUptimeS         = "uptime_s"
	FieldSourcesTotal    = "sources"
	FieldSourcesUp       = "sources_up"
	FieldDevicesTotal    = "devices"
	FieldDevicesOffline  = "devices_offline"
	FieldLastDataAgeS    = "last_data_age_s"
	FieldQueuePoints     = "queue_points"
	FieldQueueOldestAgeS = "queue_oldest_age_s"
	FieldPointsDropped   = "points_dropped"
	FieldSignalErrors    = "signal_errors"

	// gateway_source fields.
	FieldUp     = "up"
	FieldErrors = "errors"
)

// Fields and tags of kpi_correction.
const (
	// FieldUntil is the end of the corrected span in Unix seconds (exclusive); equal to
	// the timestamp for a replacement.
	FieldUntil = "until_unix_s"
	// FieldActive is 1 for a correction in force and 0 for its revocation.
	FieldActive = "active"
	// TagCorrection is the correction's id.
	TagCorrection = "correction"
	// TagCorrectionKind is CorrectionInvalid or CorrectionReplacement.
	TagCorrectionKind = "correction_kind"
	// TagBy names who recorded the correction; TagReason says why.
	TagBy     = "by"
	TagReason = "reason"
)

// Values of TagCorrectionKind.
const (
	// CorrectionInvalid: the windows in the span are left out of every figure.
	CorrectionInvalid = "invalid"
	// CorrectionReplacement: the device's counter was replaced at the time; the first
	// reading after it starts a new baseline.
	CorrectionReplacement = "replacement"
)

// Field and tags of workshop_info.
const (
	FieldRegistered   = "registered"
	TagName           = "name"
	TagEnterpriseName = "enterprise_name"
	TagParkName       = "park_name"
	TagRegionName     = "region_name"
)

// The aggregator's efficiency-leader write-back (能效、水效领跑者, docs/aggregator.md
// "Write-back"): per round, the workshops of each industry class ranked within each
// province by the leader rule (rules.leaders), stamped with the period's end.
const (
	// IndustryBenchmark has one point per province, industry class and metric with
	// ranked peers: tags TagIndustry, TagRegion (the province), TagMetric; fields
	// FieldRanked, FieldLeaders, FieldMedian, FieldThreshold (intensities on the rule's
	// basis, kgce or m³ per 10 000 yuan).
	IndustryBenchmark = "industry_benchmark"
	// WorkshopBenchmark has one point per ranked or ineligible workshop: tags
	// TagWorkshop, TagIndustry, TagRegion, TagPark, TagEnterprise (the registry's
	// placement); fields FieldEligible and, per metric, its intensity, percentile,
	// rank, gap to the threshold, leader flag, and its class's median and threshold in
	// the province (as in IndustryBenchmark, so a panel needs no join across regions)
	// (WorkshopBenchmarkFields).
	WorkshopBenchmark = "workshop_benchmark"
	// TagIndustry is the GB/T 4754-2017 class of the enterprise ("C3421"); workshop_info
	// carries it too when the enterprise has one.
	TagIndustry = "industry"
	// TagMetric is MetricEnergy or MetricWater.
	TagMetric    = "metric"
	MetricEnergy = "energy"
	MetricWater  = "water"

	FieldRanked    = "ranked"
	FieldLeaders   = "leaders"
	FieldMedian    = "median"
	FieldThreshold = "threshold"
	FieldEligible  = "eligible"

	FieldEnergyIntensity  = "energy_intensity"
	FieldEnergyPercentile = "energy_percentile"
	FieldEnergyRank       = "energy_rank"
	FieldEnergyGap        = "energy_gap"
	FieldEnergyLeader     = "energy_leader"
	FieldEnergyMedian     = "energy_median"
	FieldEnergyThreshold  = "energy_threshold"
	FieldWaterIntensity   = "water_intensity"
	FieldWaterPercentile  = "water_percentile"
	FieldWaterRank        = "water_rank"
	FieldWaterGap         = "water_gap"
	FieldWaterLeader      = "water_leader"
	FieldWaterMedian      = "water_median"
	FieldWaterThreshold   = "water_threshold"
)

// Tags. Every point carries the workshop identity (region, park, enterprise, workshop);
// device points add device and kind, and vendor and smart when configured.
const (
	TagRegion     = "region"
	TagPark       = "park"
	TagEnterprise = "enterprise"
	TagWorkshop   = "workshop"
	TagDevice     = "device"
	TagKind       = "kind"
	TagVendor     = "vendor"
	// TagSmart is "1" on the device points of smart equipment (智能装备).
	TagSmart = "smart"
	// TagWindow is the KPI window length of device_kpi and workshop_kpi points
	// (WindowName).
	TagWindow = "window"
	// TagLevel is the region level of the aggregator's roll-ups (province, city, county).
	TagLevel = "level"
	// TagInstance is the gateway instance id on device_kpi and workshop_kpi points: 16
	// hex digits a gateway generates once and keeps in its data directory
	// (gateway/instance), so two gateways writing one workshop identity can be told
	// apart. Not named "instance": that is the scrape target label of Prometheus and
	// VictoriaMetrics.
	TagInstance = "gateway_instance"
)

// SmartTrue is the value of TagSmart on smart equipment.
const SmartTrue = "1"

// Window values of the default KPI windows (WindowName of 1m, 1h, 24h).
const (
	Window1m = "1m"
	Window1h = "1h"
	Window1d = "1d"
)

// WindowName is the TagWindow value of a window length: whole days as "1d", whole hours
// as "1h", whole minutes as "15m", else whole seconds as "30s".
func WindowName(w time.Duration) string {
	switch {
	case w%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", w/(24*time.Hour))
	case w%time.Hour == 0:
		return fmt.Sprintf("%dh", w/time.Hour)
	case w%time.Minute == 0:
		return fmt.Sprintf("%dm", w/time.Minute)
	default:
		return fmt.Sprintf("%ds", w/time.Second)
	}
}

// Fields of device_kpi; workshop_kpi and region_kpi reuse Parts, EnergyKWh, WaterM3 and
// Availability with the same meaning.
const (
	// Seconds per machine state in the window.
	FieldRunningS = "running_s"
	FieldIdleS    = "idle_s"
	FieldSetupS   = "setup_s"
	FieldAlarmS   = "alarm_s"
	FieldOfflineS = "offline_s"
	FieldUnknownS = "unknown_s"

	FieldParts        = "parts"
	FieldAvailability = "availability"
	FieldEnergyKWh    = "energy_kwh"
	FieldWaterM3      = "water_m3"
	// FieldSuspect counts the counter steps of the window that were not booked (glitches
	// and implausible increases, docs/metrics.md "Counter steps"); device_kpi and
	// workshop_kpi (the sum) carry it only when it is not 0.
	FieldSuspect = "suspect"
)

// Fields of workshop_kpi (and, where the aggregator rolls them up, region_kpi).
const (
	FieldEquipmentTotal          = "equipment_total"
	FieldEquipmentKey            = "equipment_key"
	FieldEquipmentCNCKey         = "equipment_cnc_key"
	FieldCNCRate                 = "cnc_rate"
	FieldEquipmentDigital        = "equipment_digital"
	FieldEquipmentNetworked      = "equipment_networked"
	FieldNetworkedRate           = "networked_rate"
	FieldNetworkedRateAll        = "networked_rate_all"
	FieldSmartEquipmentInService = "smart_equipment_in_service"
	FieldOutputValueYuan         = "output_value_yuan"
	FieldEnergyKgce              = "energy_kgce"
	FieldEnergyKgcePerPart       = "energy_kgce_per_part"
	FieldEnergyKgcePer10kYuan    = "energy_kgce_per_10k_yuan"
	FieldWaterM3Per10kYuan       = "water_m3_per_10k_yuan"
)

// Fields only region_kpi has.
const (
	FieldWorkshops                   = "workshops"
	FieldWorkshopsReporting          = "workshops_reporting"
	FieldEnergyTce                   = "energy_tce"
	FieldEnergyIntensityChange       = "energy_intensity_change"
	FieldEnergyIntensityChangeTarget = "energy_intensity_change_target"
	FieldWaterIntensityChange        = "water_intensity_change"
	FieldWaterIntensityChangeTarget  = "water_intensity_change_target"
	// Value added (output value × the enterprises' value-added rates, from the
	// aggregator's registry) and the intensities per 10 000 yuan of it.
	FieldValueAddedYuan                 = "value_added_yuan"
	FieldEnergyKgcePer10kYuanValueAdded = "energy_kgce_per_10k_yuan_value_added"
	FieldWaterM3Per10kYuanValueAdded    = "water_m3_per_10k_yuan_value_added"
	FieldEnergyTargetMet                = "energy_target_met"
	FieldWaterTargetMet                 = "water_target_met"
)

// Fields of programme_progress: each count and, when the region has one, its target
// (the count's name with TargetSuffix).
const (
	FieldSmartEquipment       = "smart_equipment"
	FieldDigitalWorkshops     = "digital_workshops"
	FieldSmartEquipmentMakers = "smart_equipment_makers"
	FieldSmartBases           = "smart_bases"

	FieldSmartEquipmentTarget       = FieldSmartEquipment + TargetSuffix
	FieldDigitalWorkshopsTarget     = FieldDigitalWorkshops + TargetSuffix
	FieldSmartEquipmentMakersTarget = FieldSmartEquipmentMakers + TargetSuffix
	FieldSmartBasesTarget           = FieldSmartBases + TargetSuffix

	// TargetSuffix names a count's target field.
	TargetSuffix = "_target"
)

// Raw signal fields: a raw point's measurement is the device kind, its fields the
// configured signal names; these are the names of the well-known KPI roles
// (docs/configuration.md): the KPI engine's role table spells them through these
// constants, and dashboards may query them directly.
const (
	RawMachineryItemState = "machinery_item_state"
	RawOperationMode      = "operation_mode"
	RawChannelState       = "channel_state"
	RawProgramState       = "program_state"
	RawAlarm              = "alarm"
	RawSpindleSpeedRPM    = "spindle_speed_rpm"
	RawPartsTotal         = "parts_total"
	RawEnergyKWhTotal     = "energy_kwh_total"
	RawPowerKW            = "power_kw"
	RawWaterM3Total       = "water_m3_total"
)

// Device kinds the dashboards name (the TagKind value and the raw measurement).
const (
	KindCNC         = "cnc"
	KindEnergyMeter = "energy_meter"
	KindWaterMeter  = "water_meter"
)

// StateSecondsFields are the device_kpi state-seconds fields in the order written.
func StateSecondsFields() []string {
	return []string{FieldRunningS, FieldIdleS, FieldSetupS, FieldAlarmS, FieldOfflineS, FieldUnknownS}
}

// DeviceKPIFields are the fields of device_kpi in the order written; a field that
// cannot be computed in a window is absent from its point.
func DeviceKPIFields() []string {
	return append(StateSecondsFields(), FieldParts, FieldAvailability, FieldEnergyKWh, FieldWaterM3)
}

// WorkshopKPIFields are the fields of workshop_kpi in the order written.
func WorkshopKPIFields() []string {
	return []string{FieldEquipmentTotal, FieldEquipmentKey, FieldEquipmentCNCKey, FieldCNCRate,
		FieldEquipmentDigital, FieldEquipmentNetworked, FieldNetworkedRate, FieldNetworkedRateAll,
		FieldSmartEquipmentInService, FieldParts, FieldOutputValueYuan, FieldEnergyKWh, FieldEnergyKgce,
		FieldWaterM3, FieldEnergyKgcePerPart, FieldEnergyKgcePer10kYuan, FieldWaterM3Per10kYuan,
		FieldAvailability}
}

// RegionKPIFields are the fields of region_kpi in the order written.
func RegionKPIFields() []string {
	return []string{FieldWorkshops, FieldWorkshopsReporting, FieldEquipmentTotal, FieldEquipmentKey, FieldEquipmentCNCKey,
		FieldEquipmentDigital, FieldCNCRate, FieldNetworkedRate, FieldSmartEquipmentInService, FieldParts,
		FieldOutputValueYuan, FieldEnergyKWh, FieldEnergyTce, FieldWaterM3, FieldEnergyKgcePer10kYuan,
		FieldWaterM3Per10kYuan, FieldValueAddedYuan, FieldEnergyKgcePer10kYuanValueAdded, FieldWaterM3Per10kYuanValueAdded,
		FieldEnergyIntensityChange, FieldEnergyIntensityChangeTarget,
		FieldWaterIntensityChange, FieldWaterIntensityChangeTarget, FieldEnergyTargetMet, FieldWaterTargetMet}
}

// ProgrammeProgressFields are the fields of programme_progress in the order written.
func ProgrammeProgressFields() []string {
	return []string{FieldSmartEquipment, FieldDigitalWorkshops, FieldSmartEquipmentMakers, FieldSmartBases,
		FieldSmartEquipmentTarget, FieldDigitalWorkshopsTarget, FieldSmartEquipmentMakersTarget,
		FieldSmartBasesTarget}
}

// WorkshopBenchmarkFields are the fields of workshop_benchmark in the order written.
func WorkshopBenchmarkFields() []string {
	return []string{FieldEligible, FieldEnergyIntensity, FieldEnergyPercentile, FieldEnergyRank, FieldEnergyGap, FieldEnergyLeader,
		FieldEnergyMedian, FieldEnergyThreshold, FieldWaterIntensity, FieldWaterPercentile, FieldWaterRank, FieldWaterGap,
		FieldWaterLeader, FieldWaterMedian, FieldWaterThreshold}
}

// Measurements returns the KPI measurements with their fields: the contract the
// aggregator and the dashboards read.
func Measurements() map[string][]string {
	return map[string][]string{
		DeviceKPI:         DeviceKPIFields(),
		WorkshopKPI:       WorkshopKPIFields(),
		RegionKPI:         RegionKPIFields(),
		ProgrammeProgress: ProgrammeProgressFields(),
		WorkshopInfo:      {FieldRegistered},
		IndustryBenchmark: {FieldRanked, FieldLeaders, FieldMedian, FieldThreshold},
		WorkshopBenchmark: WorkshopBenchmarkFields(),
	}
}

// VMName is the VictoriaMetrics (Prometheus) metric name of a field: the measurement and
// the field joined by "_", as VictoriaMetrics' InfluxDB line-protocol ingestion names it
// (workshop_kpi, cnc_rate → workshop_kpi_cnc_rate).
func VMName(measurement, field string) string { return measurement + "_" + field }
