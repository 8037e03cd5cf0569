// Package dlt645 is the gateway's DL/T 645-2007 source: it reads the electricity meters
// on one RS-485 bus — the gateway's own serial port, or a serial device server in
// transparent mode reached over TCP (adapters/internal/serialline) — by their 12-digit
// addresses, one data identifier per request, and turns every poll of a meter into one
// point carrying all its fields. DL/T 645-1997 (2-byte identifiers and other data
// layouts) is not supported.
//
// # Frames (frame.go)
//
//	[FE FE FE FE]  68  A0..A5  68  C  L  DATA  CS  16
//
// The FE wake-up bytes are optional (requests carry 4; a reply may carry 0 to 4, and the
// reader skips up to 64 bytes of them or of line noise before the start byte). A0..A5 is
// the address in BCD, low byte first: meter 123456789012 is 12 90 78 56 34 12; AA×6 is
// the broadcast address. C is the control code: D7 set in replies, D6 set in exception
// replies, D5 set when following frames come, D4..D0 the function (11H read data, 13H
// read address). L counts the data bytes, each sent with 33H added. CS is the sum mod
// 256 of every byte from the first 68H through the data; 16H ends the frame. Decode and
// ReadFrame name what is wrong with a frame (no start byte, second start byte, length
// mismatch, a *ChecksumError with both sums, the end byte); every such error wraps
// ErrFrame. A frame is at most 12 + 255 bytes (the length byte bounds it), so reading one
// never allocates more; FuzzDecodeFrame checks that decoding never panics, that
// ReadFrame agrees with Decode and reads no byte past the frame, and that a decoded
// frame encodes to the same bytes.
//
// # Requests and replies (protocol.go)
//
// A read request (11H) carries the data identifier DI0 first: 00 01 00 00 (total forward
// active energy) is sent 33 33 34 33. Its normal reply (91H) echoes the identifier and
// carries the value; a reply announcing following frames (B1H) is refused with
// ErrFollowingFrames (the single items read here fit one frame); an exception reply
// (D1H) carries the error byte, decoded by *ExceptionError to its named bits: other
// error, no data requested, password error/unauthorised, communication rate cannot be
// changed, year time zone count exceeded, day period count exceeded, tariff count
// exceeded. A reply from another address is an *AddressError, one for another
// identifier an ErrFrame. The read-address request (13H, broadcast) is answered with
// 93H and the address as data; every meter answers it, so it only serves a bus with one
// meter (Discover).
//
// Values are BCD, low byte first, in the formats of the standard's appendix A (Items):
// XXXXXX.XX kWh for energies, XXX.X V for voltages, XXX.XXX A for currents, XX.XXXX kW for
// powers, X.XXX for power factors, XX.XX Hz for the frequency; signed formats carry the
// sign in the top bit of the most significant byte. A signal may read an identifier
// outside Items if it gives its Format; without one the configuration is refused,
// naming the identifier. A byte that is not two BCD digits is a *BCDError naming it.
//
// # Polling (source.go)
//
// One Source is one bus: a serialline.Bus carries one request at a time, respecting the
// inter-frame gap and discarding input nobody asked for. Each meter is polled on its own
// grid (Device.PollInterval); meters due together are polled one after the other and
// their points emitted as one batch. A poll sends one request per signal. A meter that
// does not answer within the line's response timeout costs that timeout once per poll:
// its remaining requests are not sent ("not sent: …"), its fields are flagged Bad (never
// a stale value), and after 3 silent polls it is logged once as not answering; the other
// meters' values arrive in the same poll. Every failed read is reported through
// Observer.SignalError with a bounded reason (ReasonTimeout "timeout", ReasonChecksum
// "checksum", ReasonFrame "frame", ReasonAddress "address", ReasonException
// "exception", ReasonFollowing "following_frames", ReasonBCD "bcd", ReasonNaN "nan", and
// point.ReasonInternal "internal" for a panic while decoding, which is contained)
// and an error naming the signal, the device, the meter address, the data identifier
// and the reply's bytes (at most 48); a reply that arrived is kept as a dead letter.
//
// A line failure — the serial port vanished (a USB adapter unplugged, socat stopped),
// the serial server closed the connection — ends the session: the source reports
// point.StateDown with the line's error and reopens the line after a capped exponential
// backoff (ReconnectMin to ReconnectMax); every meter on the bus shows the bus down.
// Run returns only when its context ends, within the request under way (at most the
// response timeout plus the wire time).
//
// # Configuration (spec.go)
//
// sources.dlt645[] holds the serial line's keys inline (serialline.Spec) with the meters'
// defaults, 2400 baud and even parity (8E1); devices set their `address` and
// `poll_interval`, signals their `di` and, outside Items, `format`. BuildConfig turns
// them into a Config checked by the Config's own rules, so `gateway validate` and the
// running gateway refuse the same configurations with the same YAML paths.
package dlt645
