// Package modbus is the gateway's Modbus source: it polls the registers of energy and
// water meters, PLCs and other units behind one Modbus TCP endpoint (the device itself,
// or a Modbus TCP gateway in front of an RS-485 bus), or on one RS-485 bus spoken to in
// Modbus RTU framing — through a local serial port (serial:// endpoint) or a serial
// device server in transparent mode (tcp:// endpoint with Framing "rtu") — and turns
// every poll of a device into one point carrying all the device's fields.
//
// Modbus TCP is spoken by github.com/simonvetter/modbus (MIT, pure Go): a maintained
// client and server whose client checks transaction and unit ids and skips stale
// responses. Modbus RTU is spoken by the package itself (rtu.go: read function codes 01
// to 04, CRC-16/MODBUS) over adapters/internal/serialline, the serial transport it
// shares with DL/T 645: one request in flight on the bus, the 3.5-character gap between
// frames, stale input discarded before each request and the line resynchronised after a
// bad frame. The tests run RTU against devsim's slave and npm modbus-serial's serial
// server on socat pseudo-terminals.
//
// # Register map
//
// A Device names its unit id, poll interval and signals. A Signal names an area
// ("holding" = function 03, "input" = 04, "coil" = 01, "discrete" = 02), the 0-based
// protocol address (documentation often counts from 1 with the area as prefix: 30001 is
// input address 0, 40073 holding address 72), and for registers a type — int16, uint16
// (default), int32, uint32, int64, uint64, float32, float64 — with its word and byte
// order. With A the most significant byte, a 32-bit value is ABCD with word order
// high_first and byte order big (the default and the Modbus convention), CDAB with
// low_first/big, BADC with high_first/little and DCBA with low_first/little; 64-bit
// values reverse all four words for low_first. Coils and discrete inputs are 0 or 1.
// Every value then goes through the signal's Conv: value × Scale + Offset.
//
// # Reads
//
// New plans the reads once per device: per area and in address order, signals are
// coalesced into one read while the unused addresses between two neighbours are at most
// the gap tolerance (Config.MaxGap, per device Device.MaxGap; adjacent only when 0) and
// the read stays within Device.MaxRegisters registers (at most 125, the protocol limit;
// some meters accept fewer, e.g. 80 for Eastron SDM meters) or 2000 coils or discrete
// inputs. The greedy plan is minimal: no plan with fewer reads fits the same limits.
// Every poll sends the device's reads one after the other on the source's single
// connection (Modbus TCP devices and RS-485 gateways answer one request at a time).
//
// Spanning unused addresses saves requests but some devices refuse a read that touches
// an address they do not implement. A read refused with exception 2 (illegal data
// address) or 3 (illegal data value) that serves several signals is therefore split
// at once, in the same poll: at its unused addresses first, and a read without any into
// one read per signal. The split plan is kept for the life of the Source, so a refused
// address costs one extra request once, and only the signals at addresses the device
// really refuses fail.
//
// # Errors per signal
//
// A read that fails marks the fields of all its signals Bad (they are written as
// "<field>_quality" = 2, never with a stale value) and reports each signal through
// Observer.SignalError with a bounded reason and an error naming the device, the signal,
// its address, the unit id, the read, and the cause:
//
//   - "modbus_exception": the device answered with an exception, e.g.
//     `read signal "voltage_l1_v" of device "em1" at input register 0 (unit 1, read
//     0..75): modbus exception 2 (illegal data address)`; the error wraps an
//     *ExceptionError with the code.
//   - "timeout": no answer within Config.Timeout, or Line.ResponseTimeout on RTU (the
//     error wraps ErrTimeout).
//   - "protocol": a malformed answer, or on RTU an answer from another unit (wraps
//     ErrProtocol).
//   - "crc": an RTU answer whose CRC does not match (wraps ErrCRC): noise, wrong line
//     settings, or two masters on the bus.
//   - "nan": a float register holding NaN or ±Inf, or a value that overflows when
//     scaled; the field is left out of the point.
//
// The other reads and devices keep flowing. After a timeout, and after exceptions 10 and
// 11 (the Modbus gateway cannot reach the unit), the remaining reads of the same device
// in that poll are not sent and their signals are reported with the same cause ("not
// sent: ..."), so a silent unit on an RS-485 bus costs one timeout per poll instead of
// one per read.
//
// # Connection and reconnect
//
// A Source owns one TCP connection. It reports point.StateConnecting, then
// point.StateUp once the connection is open, and point.StateDown with the cause when the
// connection fails: a connection error (refused, reset, closed by the peer) or
// Config.MaxFailures requests in a row (default 3) that timed out or got a malformed
// answer — a half-open connection or a hung device. Any answer, exceptions included,
// resets that count, so one silent unit among several does not take the connection
// down. The source then closes the connection and opens a new one after a capped
// exponential backoff with jitter (ReconnectMin doubling to ReconnectMax, each delay
// drawn from its upper half), reset once a request got an answer on a connection.
//
// On an RTU bus the failure count is kept per device instead: a device with
// MaxFailures requests in a row unanswered is logged as not answering and polled on,
// since the other devices on the bus still answer; the line is closed and reopened (with
// the same backoff) only when the line itself fails: the serial port vanished, the
// serial server closed the connection. Run
// itself only returns when its context is done; it returns within Config.Timeout (a
// request under way is not interrupted) and, while a connection attempt is dialling,
// within the client library's fixed 5 s dial timeout.
//
// # Points and timing
//
// Each device is polled on its own grid: right after a connection opens, then every
// PollInterval; a poll that overran skips the missed slots instead of catching up.
// A poll yields one point with the device's measurement, device id and shared, sorted
// identity tags, the fields in the order of the device's signals, and the time the poll
// started on the gateway's clock, in whole milliseconds (Modbus carries no
// timestamps). Devices due at the same time are polled one after the other and their
// points handed to emit as one Batch; Observer.Received counts the fields first. emit
// is called once per batch and polling waits while it runs: the pipeline's emit policy
// retries a refusing queue and counts what it drops (gateway/pipeline), so an error
// from emit means ctx ended.
package modbus
