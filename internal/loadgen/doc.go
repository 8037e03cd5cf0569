// Package loadgen is the gateway's load harness (issue 9): it runs the reference
// workloads against real servers and measures what the gateway costs.
//
// # Set-up
//
// Every run starts its own servers through internal/testsrv: mosquitto with default
// limits (plus sys_interval 1, for its $SYS drop counter) and VictoriaMetrics with
// -dedup.minScrapeInterval=1ms, so that a sample written twice (a message redelivered
// after a lost acknowledgement) is stored once. The gateway binary runs as a child
// process with a configuration the harness writes: the workload's devices, the durable
// queue (fsync 1s) and the KPI engine with their defaults, one sink. The sink writes
// through a proxy in the harness (see Latency) to VictoriaMetrics. The harness waits
// for the gateway's /readyz before it produces anything.
//
// MQTT: Publishers paho connections (default 4) publish {"ts","kwh","kw","m3"} with QoS 1
// for meters plant/ws1/meter/1..Meters round-robin, paced to Rate; ts is the epoch
// millisecond of publishing, kept strictly increasing per meter. The gateway subscribes
// to plant/ws1/meter/+ with a persistent session.
//
// OPC UA: a gopcua server in the harness process holds Items Double variables that
// all change on every multiple of Interval, with that instant as source timestamp. The
// gateway monitors each with sampling interval = Interval and, by default, a publishing
// interval of Interval/2 (OPCUAConfig.Publishing explains why). Notifications bypass
// the server's blocking ChangeNotification, as devsim's do.
//
// # Peers and soak
//
// With -peers (or mode "peers") every workload also runs through Telegraf (a binary
// scripts/loadtest.sh builds with only the plugins needed) and the floor program
// (Floor, this binary's "floor" mode), one after the other against the same servers,
// and WriteSideBySide prints their figures and ratios (peer.go has the settings that
// keep the comparison fair). Mode "soak" (RunSoak) runs both workloads through one
// gateway for an hour with a TSDB outage in the middle and samples RSS and goroutines.
//
// # Figures
//
//   - CPU: utime + stime of /proc/PID/stat (USER_HZ 100) of the gateway process. MQTT:
//     from the first publish until the proxy saw the last field accepted (or the drain
//     gave up after Options.Quiet without progress). OPC UA: over the measured window
//     of whole intervals, which starts once every item is monitored and the initial
//     values have passed; the gateway works periodically, so the window holds as much
//     work as the values it counts.
//   - Per million fields: CPU seconds ÷ distinct samples stored × 10⁶.
//   - Peak RSS: VmHWM of /proc/PID/status at the end of the drain, before shutdown.
//   - Loss: fields produced (MQTT: acknowledged messages × 3; OPC UA: items × ticks in
//     the window) minus distinct samples in VictoriaMetrics, counted with
//     sum(count_over_time(...)) over the run's time range after the gateway stopped;
//     the count is repeated until it holds still, since VictoriaMetrics shows the last
//     second's samples only gradually even after /internal/force_flush.
//   - Latency: the proxy forwards every write unchanged; when VictoriaMetrics answers a
//     write with 2xx, the proxy takes that moment as "accepted", decompresses the body
//     and records, for every line of the workload's measurement, accepted − the line's
//     timestamp (the source timestamp) in a 1 ms histogram; p50 and p99 come from it.
//   - Items monitored (OPC UA): the server's monitored-item count is polled every 5 ms;
//     the time from the first subscription to all items, and from process start, are
//     reported, with the time the gateway's "opcua connected" log line appeared.
package loadgen
