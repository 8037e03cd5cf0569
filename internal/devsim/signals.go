package devsim

import (
	"fmt"
	"strconv"
)

// Namespace is the URI of the simulator's OPC UA namespace.
const Namespace = "urn:ganlink:devsim"

// NamespaceIndex is the index of Namespace in the server's namespace array.
const NamespaceIndex = 1

// Signal names one value a device produces. The names are the gateway's field names,
// so a Record maps directly onto the field the gateway writes.
type Signal string

// Machine signals, served over OPC UA as variables M<i>.<BrowseName>.
const (
	// SigItemState is MachineryItemState (UInt32, OPC 40001-1): ItemState* codes.
	SigItemState Signal = "machinery_item_state"
	// SigOperationMode is MachineryOperationMode (UInt32, OPC 40001-1): Mode* codes.
	SigOperationMode Signal = "operation_mode"
	// SigChannelState is ChannelState (Int32, OPC 40501-1): Channel* codes.
	SigChannelState Signal = "channel_state"
	// SigPartsTotal is PartsProducedInLifetime (UInt32, wraps at 2^32).
	SigPartsTotal Signal = "parts_total"
	// SigSpindleSpeed is SpindleSpeed (Double, rpm).
	SigSpindleSpeed Signal = "spindle_speed_rpm"
	// SigFeedOverride is FeedOverride (Double, %).
	SigFeedOverride Signal = "feed_override_pct"
	// SigActiveProgram is ActiveProgram (String).
	SigActiveProgram Signal = "active_program"
	// SigAlarm is Alarm (Boolean).
	SigAlarm Signal = "alarm"
)

// Meter signals, published over MQTT as JSON keys.
const (
	// SigEnergyTotal is the cumulative energy of an energy meter, key "kwh".
	SigEnergyTotal Signal = "energy_kwh_total"
	// SigPower is the instantaneous power of an energy meter, key "kw".
	SigPower Signal = "power_kw"
	// SigWaterTotal is the cumulative volume of a water meter, key "m3".
	SigWaterTotal Signal = "water_m3_total"
)

// MachineSignals lists the machine signals in node order.
var MachineSignals = []Signal{SigItemState, SigOperationMode, SigChannelState, SigPartsTotal,
	SigSpindleSpeed, SigFeedOverride, SigActiveProgram, SigAlarm}

var browseNames = map[Signal]string{
	SigItemState:     "MachineryItemState",
	SigOperationMode: "MachineryOperationMode",
	SigChannelState:  "ChannelState",
	SigPartsTotal:    "PartsProducedInLifetime",
	SigSpindleSpeed:  "SpindleSpeed",
	SigFeedOverride:  "FeedOverride",
	SigActiveProgram: "ActiveProgram",
	SigAlarm:         "Alarm",
}

// BrowseName returns the OPC UA browse name of a machine signal, or "" for others.
func (s Signal) BrowseName() string { return browseNames[s] }

// MachineryItemState values (OPC 40001-1 MachineryItemState state numbers).
const (
	ItemStateNotAvailable uint32 = 0
	ItemStateOutOfService uint32 = 1
	ItemStateNotExecuting uint32 = 2
	ItemStateExecuting    uint32 = 3
)

// MachineryOperationMode values (OPC 40001-1 MachineryOperationMode state numbers).
const (
	ModeNone        uint32 = 0
	ModeMaintenance uint32 = 1
	ModeSetup       uint32 = 2
	ModeProcessing  uint32 = 3
)

// ChannelState values (OPC 40501-1 ChannelState enumeration).
const (
	ChannelActive      int32 = 0
	ChannelInterrupted int32 = 1
	ChannelReset       int32 = 2
)

// MachineID returns the device id of machine i (1-based): "m1".
func MachineID(i int) string { return "m" + strconv.Itoa(i) }

// EnergyMeterID returns the device id of energy meter i (1-based): "em1".
func EnergyMeterID(i int) string { return "em" + strconv.Itoa(i) }

// WaterMeterID returns the device id of water meter i (1-based): "wm1".
func WaterMeterID(i int) string { return "wm" + strconv.Itoa(i) }

// NodeName returns the string identifier of a machine signal's node:
// NodeName(1, SigItemState) is "M1.MachineryItemState".
func NodeName(machine int, sig Signal) string {
	return "M" + strconv.Itoa(machine) + "." + sig.BrowseName()
}

// NodeID returns the node id of a machine signal with the namespace index:
// "ns=1;s=M1.MachineryItemState".
func NodeID(machine int, sig Signal) string {
	return fmt.Sprintf("ns=%d;s=%s", NamespaceIndex, NodeName(machine, sig))
}

// ExpandedNodeID returns the node id of a machine signal with the namespace URI:
// "nsu=urn:ganlink:devsim;s=M1.MachineryItemState".
func ExpandedNodeID(machine int, sig Signal) string {
	return "nsu=" + Namespace + ";s=" + NodeName(machine, sig)
}

// MeterTopic returns the MQTT topic of a meter: "plant/ws1/meter/em1".
func MeterTopic(workshop, meterID string) string {
	return "plant/" + workshop + "/meter/" + meterID
}
