// Package brokenconfig is a table of broken gateway configurations, one per rule of
// each adapter's section (OPC UA, MQTT, Modbus, DL/T 645) and of the references between
// sources and devices, each with the exact problems `gateway validate` reports. The
// tests of cmd/gateway (validate and start) and gateway/app (Build) run the same
// table, so the two can be seen to refuse a configuration with the same words.
package brokenconfig

import (
	"strings"
)

// Case is one broken configuration.
type Case struct {
	Name string
	// YAML is the whole file.
	YAML string
	// Env holds the environment variables the file refers to.
	Env map[string]string
	// Want are the problems, as "line N: path: message" ("line N: message" for a YAML
	// syntax error, the message alone for a problem with no line), in file order.
	Want []string
}

// Base is a valid configuration with one source of each kind and one device on each.
// Its lines are numbered in the comments of Cases.
const Base = `workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
sources:
  opcua:
    - {name: cnc, endpoint: "opc.tcp://127.0.0.1:4840", security_policy: None}
  mqtt:
    - {name: broker, broker: "tcp://127.0.0.1:1883"}
  modbus:
    - {name: rs485, endpoint: "tcp://127.0.0.1:502"}
devices:
  - id: m1
    kind: cnc
    source: cnc
    signals:
      state: {node: "ns=2;s=M1.State"}
  - id: em1
    kind: energy_meter
    source: broker
    topic: plant/ws1/em1
    signals:
      energy_kwh_total: {path: data.kwh}
  - id: wm1
    kind: water_meter
    source: rs485
    signals:
      water_m3_total: {register: {area: holding, address: 0, type: float32}}
`

// DLT645Base is a valid configuration with one DL/T 645 bus and one meter on it.
const DLT645Base = `workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
sources:
  dlt645:
    - {name: bus, endpoint: "tcp://127.0.0.1:8234"}
devices:
  - id: em1
    kind: energy_meter
    class: meter
    source: bus
    address: "000012345678"
    signals:
      energy_kwh_total: {di: "00010000", counter: true}
`

// with645 replaces old (which must occur in DLT645Base) by new.
func with645(old, new string) string {
	if !strings.Contains(DLT645Base, old) {
		panic("brokenconfig: not in DLT645Base: " + old)
	}
	return strings.Replace(DLT645Base, old, new, 1)
}

const (
	dlt645Source = `    - {name: bus, endpoint: "tcp://127.0.0.1:8234"}`
	dlt645Addr   = `    address: "000012345678"`
	dlt645Signal = `      energy_kwh_total: {di: "00010000", counter: true}`
)

// with replaces old (which must occur in Base) by new.
func with(old, new string) string {
	if !strings.Contains(Base, old) {
		panic("brokenconfig: not in Base: " + old)
	}
	return strings.Replace(Base, old, new, 1)
}

const (
	opcuaSignal  = `      state: {node: "ns=2;s=M1.State"}`
	mqttDevice   = `    topic: plant/ws1/em1`
	mqttSignal   = `      energy_kwh_total: {path: data.kwh}`
	modbusSignal = `      water_m3_total: {register: {area: holding, address: 0, type: float32}}`
	opcuaSource  = `    - {name: cnc, endpoint: "opc.tcp://127.0.0.1:4840", security_policy: None}`
	mqttSource   = `    - {name: broker, broker: "tcp://127.0.0.1:1883"}`
	modbusSource = `    - {name: rs485, endpoint: "tcp://127.0.0.1:502"}`
)

// Cases are the broken configurations.
var Cases = []Case{
	// YAML syntax: the line of the fault itself and a hint
	{Name: "tab indents a key", YAML: with(mqttDevice, "\ttopic: plant/ws1/em1"),
		Want: []string{"line 18: a tab character indents this line; YAML indents with spaces only"}},
	{Name: "key indented less than its siblings", YAML: with(mqttDevice, "   topic: plant/ws1/em1"),
		Want: []string{"line 18: did not find expected '-' indicator: this line is indented 3 spaces, line 17 4; the keys of one mapping start in the same column"}},
	{Name: "key indented more than its siblings", YAML: with(mqttDevice, "      topic: plant/ws1/em1"),
		Want: []string{"line 18: mapping values are not allowed in this context: this line is indented 6 spaces, line 17 4; the keys of one mapping start in the same column"}},
	{Name: "duplicate key", YAML: with(mqttDevice, mqttDevice+"\n    topic: plant/ws1/em2"),
		Want: []string{"line 19: devices[1].topic: key \"topic\" already defined at line 18"}},
	{Name: "gzip file", YAML: "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03",
		Want: []string{"not a YAML text file: gzip-compressed data"}},
	{Name: "ELF file", YAML: "\x7fELF\x02\x01\x01\x00\x00\x00",
		Want: []string{"not a YAML text file: an ELF executable"}},
	// OPC UA
	{Name: "opcua node id", YAML: with(opcuaSignal, `      state: {node: "ns=2;x=1"}`),
		Want: []string{"line 14: devices[0].signals.state.node: invalid node id \"ns=2;x=1\""}},
	{Name: "opcua namespace index", YAML: with(opcuaSignal, `      state: {node: "ns=70000;s=a"}`),
		Want: []string{"line 14: devices[0].signals.state.node: invalid node id \"ns=70000;s=a\": namespace index \"70000\" is not 0..65535"}},
	{Name: "opcua node and browse path", YAML: with(opcuaSignal, `      state: {node: "ns=2;s=a", browse_path: "Objects/M1"}`),
		Want: []string{"line 14: devices[0].signals.state.browse_path: set together with a node id: set one of them"}},
	{Name: "opcua no node", YAML: with(opcuaSignal, `      state: {unit: rpm}`),
		Want: []string{"line 14: devices[0].signals.state.node: required: set a node id or a browse path"}},
	{Name: "opcua browse path empty element", YAML: with(opcuaSignal, `      state: {browse_path: "Objects//State"}`),
		Want: []string{"line 14: devices[0].signals.state.browse_path: invalid browse path \"Objects//State\": element 2: empty name"}},
	{Name: "opcua browse path namespace", YAML: with(opcuaSignal, `      state: {browse_path: "Objects/nsu=urn:x/State"}`),
		Want: []string{"line 14: devices[0].signals.state.browse_path: invalid browse path \"Objects/nsu=urn:x/State\": element 2: missing \";\" after the namespace uri"}},
	{Name: "opcua browse start without path", YAML: with(opcuaSignal, `      state: {node: "ns=2;s=a", browse_start: "i=85"}`),
		Want: []string{"line 14: devices[0].signals.state.browse_start: set without browse_path"}},
	{Name: "opcua browse start node id", YAML: with(opcuaSignal, `      state: {browse_path: "Objects/State", browse_start: "ns=2;q=1"}`),
		Want: []string{"line 14: devices[0].signals.state.browse_start: invalid node id \"ns=2;q=1\""}},
	{Name: "opcua NaN deadband", YAML: with(opcuaSignal, `      state: {node: "ns=2;s=a", deadband: {type: absolute, value: .nan}}`),
		Want: []string{"line 14: devices[0].signals.state.deadband.value: invalid deadband NaN: want a finite value >= 0"}},
	{Name: "opcua percent deadband", YAML: with(opcuaSignal, `      state: {node: "ns=2;s=a", deadband: {type: percent, value: 150}}`),
		Want: []string{"line 14: devices[0].signals.state.deadband.value: percent deadband 150 is above 100"}},
	{Name: "opcua deadband type", YAML: with(opcuaSignal, `      state: {node: "ns=2;s=a", deadband: {type: relative, value: 1}}`),
		Want: []string{"line 14: devices[0].signals.state.deadband.type: invalid deadband type \"relative\": want absolute or percent"}},
	{Name: "opcua sampling interval", YAML: with(opcuaSignal, `      state: {node: "ns=2;s=a", sampling_interval: fast}`),
		Want: []string{"line 14: devices[0].signals.state.sampling_interval: invalid duration \"fast\": want e.g. \"500ms\", \"1s\", \"5m\""}},
	{Name: "opcua endpoint", YAML: with(opcuaSource, `    - {name: cnc, endpoint: "http://127.0.0.1:4840", security_policy: None}`),
		Want: []string{"line 4: sources.opcua[0].endpoint: invalid endpoint \"http://127.0.0.1:4840\": want opc.tcp://host:port[/path]"}},
	{Name: "opcua endpoint port", YAML: with(opcuaSource, `    - {name: cnc, endpoint: "opc.tcp://127.0.0.1:70000", security_policy: None}`),
		Want: []string{"line 4: sources.opcua[0].endpoint: invalid endpoint \"opc.tcp://127.0.0.1:70000\": port \"70000\" is not 1..65535"}},
	{Name: "opcua deprecated policy", YAML: with(opcuaSource, `    - {name: cnc, endpoint: "opc.tcp://h:4840", security_policy: Basic128Rsa15}`),
		Want: []string{"line 4: sources.opcua[0].security_policy: security policy \"Basic128Rsa15\" is deprecated (SHA-1) and not supported: want auto, None, Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss"}},
	{Name: "opcua user certificate without key", YAML: with(opcuaSource, `    - {name: cnc, endpoint: "opc.tcp://h:4840", user_cert_file: user.pem}`),
		Want: []string{"line 4: sources.opcua[0].user_key_file: required with user_cert_file"}},
	{Name: "opcua user certificate missing", YAML: with(opcuaSource, `    - {name: cnc, endpoint: "opc.tcp://h:4840", user_cert_file: /nonexistent/user.pem, user_key_file: /nonexistent/user.key}`),
		Want: []string{"line 4: sources.opcua[0].user_cert_file: read \"/nonexistent/user.pem\": no such file or directory"}},
	{Name: "opcua reconnect max", YAML: with(opcuaSource, `    - {name: cnc, endpoint: "opc.tcp://h:4840", security_policy: None, reconnect_max: 100ms}`),
		Want: []string{"line 4: sources.opcua[0].reconnect_max: invalid value \"100ms\": want at least 500ms"}},
	// MQTT
	{Name: "mqtt topic NUL", YAML: with(mqttDevice, `    topic: "plant/\0/em1"`),
		Want: []string{"line 18: devices[1].topic: invalid topic \"plant/\\x00/em1\": contains a NUL character"}},
	{Name: "mqtt topic length", YAML: with(mqttDevice, `    topic: plant/`+strings.Repeat("x", 65530)),
		Want: []string{"line 18: devices[1].topic: invalid topic \"plant/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…\": 65536 bytes, at most 65535"}},
	{Name: "mqtt topic wildcard", YAML: with(mqttDevice, `    topic: plant/#/em1`),
		Want: []string{"line 18: devices[1].topic: invalid topic \"plant/#/em1\": '+' and '#' must fill a whole level, '#' only last"}},
	{Name: "mqtt signal topic wildcard", YAML: with(mqttSignal, `      energy_kwh_total: {path: data.kwh, topic: "plant/+x"}`),
		Want: []string{"line 20: devices[1].signals.energy_kwh_total.topic: invalid topic \"plant/+x\": '+' and '#' must fill a whole level, '#' only last"}},
	{Name: "mqtt path UTF-8", YAML: with(mqttSignal, `      energy_kwh_total: {path: "${BAD_PATH}"}`), Env: map[string]string{"BAD_PATH": "data.\xff"},
		Want: []string{"line 20: devices[1].signals.energy_kwh_total.path: invalid path \"data.\\xff\": not UTF-8"}},
	{Name: "mqtt path segments", YAML: with(mqttSignal, `      energy_kwh_total: {path: `+strings.Repeat("a.", 32)+`b}`),
		Want: []string{"line 20: devices[1].signals.energy_kwh_total.path: invalid path \"a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.…\": 33 segments, at most 32"}},
	{Name: "mqtt path empty segment", YAML: with(mqttSignal, `      energy_kwh_total: {path: data..kwh}`),
		Want: []string{"line 20: devices[1].signals.energy_kwh_total.path: invalid path \"data..kwh\": empty segment"}},
	{Name: "mqtt path missing", YAML: with(mqttSignal, `      energy_kwh_total: {unit: kWh}`),
		Want: []string{"line 20: devices[1].signals.energy_kwh_total.path: required"}},
	{Name: "mqtt no topic", YAML: with(mqttDevice+"\n", ""),
		Want: []string{"line 19: devices[1].signals.energy_kwh_total.topic: required: set the device topic or the signal topic"}},
	{Name: "mqtt number format two signals", YAML: strings.Replace(with(mqttDevice+"\n", mqttDevice+"\n    format: number\n"),
		mqttSignal+"\n", mqttSignal+"\n      power_kw: {unit: kW}\n", 1),
		Want: []string{"line 19: devices[1].format: format \"number\" carries one value, got 2 fields"}},
	{Name: "mqtt format", YAML: with(mqttDevice, mqttDevice+"\n    format: xml"),
		Want: []string{"line 19: devices[1].format: invalid format \"xml\": want json or number"}},
	{Name: "mqtt timestamp format", YAML: with(mqttDevice, mqttDevice+"\n    timestamp_format: unix"),
		Want: []string{"line 19: devices[1].timestamp_format: invalid timestamp format \"unix\": want auto, epoch_ms, epoch_s or rfc3339"}},
	{Name: "mqtt timestamp path", YAML: with(mqttDevice, mqttDevice+"\n    timestamp_path: ts."),
		Want: []string{"line 19: devices[1].timestamp_path: invalid path \"ts.\": empty segment"}},
	{Name: "mqtt qos", YAML: with(mqttSource, `    - {name: broker, broker: "tcp://127.0.0.1:1883", qos: 2}`),
		Want: []string{"line 6: sources.mqtt[0].qos: invalid qos 2: want 0 or 1"}},
	{Name: "mqtt broker credentials", YAML: with(mqttSource, `    - {name: broker, broker: "tcp://u:secret@127.0.0.1:1883"}`),
		Want: []string{"line 6: sources.mqtt[0].broker: invalid broker \"tcp://u:xxxxx@127.0.0.1:1883\": credentials in the URL; use username and password"}},
	{Name: "mqtt subscribe does not cover", YAML: with(mqttSource, `    - {name: broker, broker: "tcp://127.0.0.1:1883", subscribe: ["other/#"]}`),
		Want: []string{"line 18: devices[1].topic: topic \"plant/ws1/em1\" is not covered by any subscribe filter"}},
	{Name: "mqtt tls on plain broker", YAML: with(mqttSource, `    - {name: broker, broker: "tcp://127.0.0.1:1883", tls: {server_name: x}}`),
		Want: []string{"line 6: sources.mqtt[0].tls: set for the plain broker \"tcp://127.0.0.1:1883\": use ssl://, tls:// or mqtts://"}},
	// Modbus
	{Name: "modbus area", YAML: with(modbusSignal, `      water_m3_total: {register: {area: holdings, address: 0}}`),
		Want: []string{"line 25: devices[2].signals.water_m3_total.register.area: invalid area \"holdings\": want holding, input, coil or discrete"}},
	{Name: "modbus address", YAML: with(modbusSignal, `      water_m3_total: {register: {area: holding, address: 70000}}`),
		Want: []string{"line 25: devices[2].signals.water_m3_total.register.address: invalid address 70000: want 0..65535"}},
	{Name: "modbus address end", YAML: with(modbusSignal, `      water_m3_total: {register: {area: holding, address: 65534, type: float64}}`),
		Want: []string{"line 25: devices[2].signals.water_m3_total.register.address: float64 at address 65534 ends past 65535"}},
	{Name: "modbus coil type", YAML: with(modbusSignal, `      water_m3_total: {register: {area: coil, address: 1, type: float32}}`),
		Want: []string{"line 25: devices[2].signals.water_m3_total.register.type: invalid type \"float32\" for area \"coil\": want bool"}},
	{Name: "modbus no register", YAML: with(modbusSignal, `      water_m3_total: {unit: m3}`),
		Want: []string{"line 25: devices[2].signals.water_m3_total.register: required"}},
	{Name: "modbus map", YAML: with(modbusSignal, `      water_m3_total: {register: {area: holding, address: 0}, map: {on: 1}}`),
		Want: []string{"line 25: devices[2].signals.water_m3_total.map: not applicable to modbus signals"}},
	{Name: "modbus unit id", YAML: with("    source: rs485\n", "    source: rs485\n    unit_id: 300\n"),
		Want: []string{"line 24: devices[2].unit_id: invalid unit id 300: want 0..255"}},
	{Name: "modbus poll interval", YAML: with("    source: rs485\n", "    source: rs485\n    poll_interval: 1ms\n"),
		Want: []string{"line 24: devices[2].poll_interval: invalid interval 1ms: want at least 10ms"}},
	{Name: "modbus poll interval zero", YAML: with("    source: rs485\n", "    source: rs485\n    poll_interval: 0s\n"),
		Want: []string{"line 24: devices[2].poll_interval: invalid interval 0s: want a positive interval (omit the key for the default 1s)"}},
	{Name: "modbus poll interval negative", YAML: with("    source: rs485\n", "    source: rs485\n    poll_interval: -1s\n"),
		Want: []string{"line 24: devices[2].poll_interval: invalid duration \"-1s\": want e.g. \"500ms\", \"1s\", \"5m\""}},
	{Name: "modbus max registers", YAML: with("    source: rs485\n", "    source: rs485\n    max_registers: 200\n"),
		Want: []string{"line 24: devices[2].max_registers: invalid value 200: want 1..125"}},
	{Name: "modbus endpoint", YAML: with(modbusSource, `    - {name: rs485, endpoint: "udp://127.0.0.1:502"}`),
		Want: []string{"line 8: sources.modbus[0].endpoint: invalid endpoint \"udp://127.0.0.1:502\": want tcp://host[:port]"}},
	{Name: "modbus max gap", YAML: with(modbusSource, `    - {name: rs485, endpoint: "tcp://127.0.0.1", max_gap: 5000}`),
		Want: []string{"line 8: sources.modbus[0].max_gap: invalid gap 5000: want 0..2000"}},
	// DL/T 645
	{Name: "dlt645 endpoint", YAML: with645(dlt645Source, `    - {name: bus, endpoint: "http://x"}`),
		Want: []string{"line 4: sources.dlt645[0].endpoint: invalid endpoint \"http://x\": want serial:///dev/ttyUSB0 or tcp://host:port"}},
	{Name: "dlt645 baud rate", YAML: with645(dlt645Source, `    - {name: bus, endpoint: "serial:///dev/ttyUSB0", baud_rate: 1234}`),
		Want: []string{"line 4: sources.dlt645[0].baud_rate: invalid baud rate 1234: want one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400"}},
	{Name: "dlt645 parity", YAML: with645(dlt645Source, `    - {name: bus, endpoint: "serial:///dev/ttyUSB0", parity: mark}`),
		Want: []string{"line 4: sources.dlt645[0].parity: invalid parity \"mark\": want none, even or odd"}},
	{Name: "dlt645 address digits", YAML: with645(dlt645Addr, `    address: "00001234567G"`),
		Want: []string{"line 10: devices[0].address: invalid meter address \"00001234567G\": want 12 decimal digits"}},
	{Name: "dlt645 address missing", YAML: with645(dlt645Addr+"\n", ""),
		Want: []string{"line 6: devices[0].address: required"}},
	{Name: "dlt645 duplicate address", YAML: with645("devices:\n", "devices:\n  - {id: em0, kind: energy_meter, class: meter, source: bus, address: \"000012345678\", signals: {energy_kwh_total: {di: \"00010000\"}}}\n"),
		Want: []string{"line 11: devices[1].address: duplicate meter address 000012345678 (also devices[0]): two meters on one bus need distinct addresses"}},
	{Name: "dlt645 poll interval", YAML: with645(dlt645Addr, dlt645Addr+"\n    poll_interval: 0s"),
		Want: []string{"line 11: devices[0].poll_interval: invalid interval 0s: want a positive interval (omit the key for the default 5s)"}},
	{Name: "dlt645 poll interval short", YAML: with645(dlt645Addr, dlt645Addr+"\n    poll_interval: 5ms"),
		Want: []string{"line 11: devices[0].poll_interval: invalid interval 5ms: want at least 10ms"}},
	{Name: "dlt645 data identifier missing", YAML: with645(dlt645Signal, `      energy_kwh_total: {counter: true}`),
		Want: []string{"line 12: devices[0].signals.energy_kwh_total.di: required: the data identifier, e.g. \"00010000\" (total forward active energy)"}},
	{Name: "dlt645 data identifier", YAML: with645(dlt645Signal, `      energy_kwh_total: {di: "0001000"}`),
		Want: []string{"line 12: devices[0].signals.energy_kwh_total.di: invalid data identifier \"0001000\": want 8 hex digits, e.g. \"00010000\""}},
	{Name: "dlt645 unknown data identifier", YAML: with645(dlt645Signal, `      energy_kwh_total: {di: "0A0B0C0D"}`),
		Want: []string{"line 12: devices[0].signals.energy_kwh_total.di: data identifier 0A0B0C0D has no known format: give the signal a format, e.g. \"XXXXXX.XX\""}},
	{Name: "dlt645 format", YAML: with645(dlt645Signal, `      energy_kwh_total: {di: "0A0B0C0D", format: "XX.Z"}`),
		Want: []string{"line 12: devices[0].signals.energy_kwh_total.format: invalid format \"XX.Z\": want X digits with an optional '.' and a leading '-' for signed values, e.g. \"XXXXXX.XX\" or \"-XXX.XXX\", an even count of 2 to 16 digits"}},
	{Name: "modbus key on a dlt645 signal", YAML: with645(dlt645Signal, `      energy_kwh_total: {di: "00010000", register: {area: holding, address: 0}}`),
		Want: []string{"line 12: devices[0].signals.energy_kwh_total.register: a key of modbus signals, not of dlt645 signals (source \"bus\")"}},
	// The gateway's own health series
	{Name: "health interval", YAML: Base + "health: {interval: 100ms}\n",
		Want: []string{"line 26: health.interval: invalid interval \"100ms\": want 0s (off) or 1s to 1h"}},
	// The inventory
	{Name: "empty inventory", YAML: Base[:strings.Index(Base, "devices:\n")] + "devices: []\n",
		Want: []string{"line 9: devices: empty inventory: list the workshop's equipment and meters, including machines without a network connection"}},
	{Name: "no devices", YAML: Base[:strings.Index(Base, "devices:\n")],
		Want: []string{"devices: empty inventory: list the workshop's equipment and meters, including machines without a network connection"}},
	// References between sources and devices, keys of the wrong adapter
	{Name: "unknown source", YAML: with("    source: rs485\n", "    source: rs486\n"),
		Want: []string{"line 23: devices[2].source: unknown source \"rs486\""}},
	{Name: "duplicate source name", YAML: with(modbusSource, `    - {name: broker, endpoint: "tcp://127.0.0.1:502"}`),
		Want: []string{"line 8: sources.modbus[0].name: duplicate source name \"broker\"", "line 23: devices[2].source: unknown source \"rs485\""}},
	{Name: "opcua key on an mqtt signal", YAML: with(mqttSignal, `      energy_kwh_total: {path: data.kwh, node: "ns=2;s=a"}`),
		Want: []string{"line 20: devices[1].signals.energy_kwh_total.node: a key of opcua signals, not of mqtt signals (source \"broker\")"}},
	{Name: "modbus key on an opcua signal", YAML: with(opcuaSignal, `      state: {node: "ns=2;s=a", register: {area: coil, address: 1}}`),
		Want: []string{"line 14: devices[0].signals.state.register: a key of modbus signals, not of opcua signals (source \"cnc\")"}},
	{Name: "modbus key on an mqtt device", YAML: with(mqttDevice, mqttDevice+"\n    unit_id: 3"),
		Want: []string{"line 19: devices[1].unit_id: a key of modbus devices, not of mqtt devices (source \"broker\")"}},
	{Name: "mqtt key on an opcua device", YAML: with("    source: cnc\n", "    source: cnc\n    topic: a/b\n"),
		Want: []string{"line 13: devices[0].topic: a key of mqtt devices, not of opcua devices (source \"cnc\")"}},
	{Name: "adapter key without a source", YAML: Base + "  - {id: old1, kind: machine, topic: a/b}\n",
		Want: []string{"line 26: devices[3].topic: a key of mqtt devices: set the device's source"}},
	{Name: "unknown key in a binding", YAML: with(opcuaSignal, `      state: {node: "ns=2;s=a", nod: x}`),
		Want: []string{"line 14: devices[0].signals.state.nod: unknown key; did you mean \"node\"?"}},
	{Name: "wrong type in a binding", YAML: with(opcuaSignal, `      state: {node: "ns=2;s=a", queue_size: many}`),
		Want: []string{"line 14: devices[0].signals.state.queue_size: invalid value \"many\": want an integer"}},
}
