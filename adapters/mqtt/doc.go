// Package mqtt is the gateway's MQTT source: it subscribes to a broker (MQTT 3.1.1) and
// turns the JSON or bare-number payloads of energy and water meters into points.
//
// # Flow
//
// Run owns everything it starts. Each broker session is one connection (session.go: the
// subscriber side of MQTT 3.1.1 over paho.mqtt.golang's packet encoding for CONNECT and
// SUBSCRIBE). One goroutine reads the connection through a 32 KiB buffer and parses each
// PUBLISH into a message in one allocation (topic and payload share it), stamped with
// the receive time, and puts it into a mailbox. One batching goroutine takes the
// messages, cuts them into batches, decodes each batch into points, calls emit and then
// acknowledges every QoS 1 message of the batch in one write. The reader wakes the
// batching goroutine only when the batch it waits for is complete (see Batching), so a
// message costs no goroutine hand-off of its own; the reader waits only when BatchMax
// messages are already waiting. Messages stay in arrival order.
//
// # Acknowledgement
//
// With QoS 1 delivery is at least once:
//
//   - A message is acknowledged (PUBACK) only after emit returned nil for the batch
//     holding it; emit returns nil once the points are durable in the gateway's queue
//     (or, for a batch no queue can ever hold, once the pipeline dropped and counted
//     it). emit is called once per batch: while a queue refuses, the pipeline's emit
//     policy retries with backoff and the messages stay unacknowledged at the broker;
//     an error from emit means ctx ended, and the batch is not acknowledged.
//   - A message that yields no point (invalid JSON, every field unusable, oversize,
//     unbound topic) is reported to the Observer with a bounded reason and then
//     acknowledged: bad data is counted, not redelivered forever.
//   - When Run stops, the batch being emitted either completes (and is acknowledged
//     before DISCONNECT) or is abandoned unacknowledged; unacknowledged messages are
//     redelivered by the broker to the next session with the same client id.
//   - After a connection loss the broker redelivers what was not acknowledged, so a
//     point may be emitted twice. With a source timestamp the duplicate is the same
//     sample (same series and time: InfluxDB overwrites it, VictoriaMetrics'
//     deduplication drops it); without one it carries a new receive time.
//
// With QoS 0 the broker neither waits for nor redelivers anything: messages in flight
// during a disconnection are lost.
//
// # Batching
//
// A batch is emitted when it holds BatchMax messages or its first message has waited
// BatchWait, and earlier while it holds unacknowledged QoS 1 messages and the broker has
// probably stopped sending for want of acknowledgements. A broker sends at most its
// in-flight limit of unacknowledged QoS 1 messages to a client (mosquitto:
// max_inflight_messages, 20 by default) and then waits, so a batch holding that many
// is emitted as soon as nothing more is queued, and any batch is emitted after a gap of
// BatchWait/8 without arrivals. The limit is learned: it starts at 20 and grows to the
// largest number of unacknowledged messages the broker was seen to send. At high rates
// batches therefore follow the broker's window (and grow while emit is slow); at low
// rates a QoS 1 message waits at most BatchWait/8. Acknowledging promptly matters: while the
// window is full the broker queues further messages for the client, and beyond its
// queue limit it drops them.
//
// # Connection
//
// The session is persistent by default (clean session off, stable ClientID), so the
// broker keeps the subscriptions and queues messages while the gateway is away. After
// every connect the source subscribes again anyway: a broker restarted without
// persistence has forgotten the session. Messages queued for the session may arrive
// before the SUBACK; they are handled like any other. A lost connection is retried with
// jittered backoff from 250ms doubling up to ReconnectMax (restarting after a session
// that stayed up 10s). The Observer sees connecting, up, and down with the error.
//
// A message larger than MaxPayloadBytes is read past without being stored (only its
// first 4 KiB are kept for the dead letter) and refused with its real size. A broker
// that sends a malformed packet (a remaining length over four bytes, QoS 3, a topic
// longer than its packet, a packet type a broker never sends) ends the session with an
// error naming the fault, and the source reconnects. Keep-alive: a PINGREQ when nothing
// was written for three quarters of KeepAlive; no PINGRESP within KeepAlive (at most
// 10 s) ends the session ("pingresp not received, disconnecting"). A PUBREL (QoS 2, which
// only a broker upgrading the subscription sends) is answered with PUBCOMP.
//
// # TLS and credentials
//
// An ssl://, tls:// or mqtts:// broker URL selects TLS (1.2 or later, port 8883 by
// default): the source dials TCP, completes the TLS handshake itself (bounded by
// ConnectTimeout and ctx) and speaks MQTT over the TLS connection. Config.TLS names the CA file (default: the system's roots), an optional
// client certificate and key, and the server name to verify (default: the URL's host);
// New reads and parses the files, so a bad file fails at start with the field and path
// in the error. InsecureSkipVerify disables verification and is logged as a warning on
// every connect. Broker URLs may not carry credentials (they would show in logs); Username and Password are never logged, and a refused login is
// reported with the user name only. A password sent without TLS to a host other than
// loopback is logged as a warning once per Run.
//
// Connect errors name the broker and the cause: the dial or TLS handshake error
// ("tls: failed to verify certificate: x509: certificate signed by unknown authority"),
// a refused login, or, when the broker asked for a client certificate that is not
// configured, that fact (with TLS 1.3 the broker can refuse a certificate only after the
// handshake, and its alert may be lost in a connection reset).
//
// # Decoding
//
// A binding maps a topic (exact, or a filter with + and #) to one device. Format
// "json" extracts each field's dot path ("data.kwh", numeric segments index arrays:
// "values.0.v") in a single pass over the payload without allocating, with the
// semantics of encoding/json (duplicate keys: the last one wins). Numbers are scaled,
// true/false become 1/0, strings are looked up in the field's Conv.Map; null, objects,
// arrays and unmapped strings are type errors, numbers beyond float64 and ±Inf after
// scaling are "nan". Format "number" takes the whole payload as one number (or as a
// text looked up in the map); "NaN" and "inf" texts are "nan". Every field decoded
// gives one point per message and binding, carrying the binding's measurement, device
// and tags; fields that fail are reported and left out. The time is the source
// timestamp at TimestampPath (epoch milliseconds or seconds as numbers, RFC 3339 as
// text; before 2000 or after 2200 is an error) or, without one, the receive time.
// Observer reasons: "decode", "missing", "type", "nan", "too_large", "unbound",
// "timestamp"; errors name the topic, device, field and the offending value (cut to 64
// bytes).
//
// Retained messages are delivered again on every subscribe: meters should not publish
// retained, or should carry a source timestamp so that a repeat is the same sample.
//
// # Broker settings for sites (mosquitto 2.0)
//
//	persistence true                  # sessions, subscriptions and queues survive a restart
//	autosave_interval 60              # seconds between persistence saves
//	persistent_client_expiration 7d   # forget sessions of clients that never return
//	max_inflight_messages 100         # per client; default 20
//	max_queued_messages 360000        # per client; default 1000
//	max_queued_bytes 268435456        # per client; bound the memory instead of the count
//
// Why:
//
//   - max_inflight_messages bounds throughput: the gateway acknowledges only once a
//     batch is durable, so at most that many messages are delivered per emit round trip
//     (throughput ≤ limit / (emit latency + network round trip)). Mosquitto's 20 is
//     enough for 10 000 messages/s only with a fast queue on a local broker; 100 gives
//     headroom and larger batches (fewer queue writes). More in flight also means more
//     redelivered duplicates after a gateway crash.
//   - max_queued_messages is the client's queue while the gateway is offline or slower
//     than the meters. Beyond it mosquitto drops messages silently. Size it as message
//     rate × the longest outage to bridge (100 messages/s × 1 h = 360 000; each costs
//     its payload plus about 100 bytes of broker memory) and cap the memory with
//     max_queued_bytes.
//   - persistence keeps the queued messages across a broker restart; without it they
//     are lost (the gateway resubscribes by itself, but cannot recover what the broker
//     forgot). autosave_interval bounds what a broker crash loses.
//   - persistent_client_expiration removes the sessions of clients that are gone for
//     good (a renamed gateway), which would otherwise queue forever.
//   - Publishers should use QoS 1 too (a message is delivered at the lower of the
//     publish and subscribe QoS), and every gateway source needs its own client id: two
//     clients with one id take the session from each other in a loop.
package mqtt
