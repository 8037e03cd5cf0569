package mqtt

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ganlink/ganlink/gateway/point"
)

// Reasons passed to Observer.SignalError.
const (
	ReasonDecode    = "decode"    // invalid JSON, or a bare-number payload that is not a number
	ReasonMissing   = "missing"   // a configured path is absent
	ReasonType      = "type"      // a value of a type the field cannot carry (object, null, unmapped text)
	ReasonNaN       = "nan"       // NaN, ±Inf or a number out of float64 range
	ReasonTooLarge  = "too_large" // payload larger than MaxPayloadBytes
	ReasonUnbound   = "unbound"   // topic matched by no binding
	ReasonTimestamp = "timestamp" // unusable source timestamp; the receive time is used
)

// Timestamps outside [2000-01-01, 2200-01-01) are rejected as implausible (a meter
// clock that was never set, seconds mistaken for milliseconds).
const (
	minTimestamp = 946684800 * int64(time.Second)
	maxTimestamp = 7258118400 * int64(time.Second)
)

type tsFormat uint8

const (
	tsAuto tsFormat = iota
	tsEpochMS
	tsEpochS
	tsRFC3339
)

var tsFormatNames = [...]string{"auto", "epoch_ms", "epoch_s", "rfc3339"}

// binding is a Binding compiled for decoding.
type binding struct {
	Binding
	number bool
	ts     tsFormat
	tree   *pathTree // field paths in order, then the timestamp path
	slots  []int     // result slot of each field
	tsSlot int       // result slot of the timestamp, or -1
}

// compiledPaths is the path tree of a binding's field and timestamp paths with the
// slot of each; bindings with the same paths (a thousand meters of one model) share one.
type compiledPaths struct {
	tree   *pathTree
	slots  []int
	tsSlot int
}

// compileBinding compiles b; trees holds the path trees compiled so far, by their paths.
func compileBinding(b Binding, trees map[string]compiledPaths) binding {
	c := binding{Binding: b, number: b.Format == "number", tsSlot: -1}
	switch b.TimestampFormat {
	case "epoch_ms":
		c.ts = tsEpochMS
	case "epoch_s":
		c.ts = tsEpochS
	case "rfc3339":
		c.ts = tsRFC3339
	}
	if c.number {
		return c
	}
	paths := make([]string, 0, len(b.Fields)+1)
	for _, f := range b.Fields {
		paths = append(paths, f.Path)
	}
	if b.TimestampPath != "" {
		paths = append(paths, b.TimestampPath)
	}
	// The key tells "fields a, b + timestamp c" from "fields a, b, c".
	key := strings.Join(paths, "\x00") + "\x00" + strconv.Itoa(len(b.Fields))
	cp, ok := trees[key]
	if !ok {
		cp = compiledPaths{tree: newPathTree(paths), slots: make([]int, len(b.Fields)), tsSlot: -1}
		for i := range b.Fields {
			cp.slots[i] = cp.tree.slotOf(i)
		}
		if b.TimestampPath != "" {
			cp.tsSlot = cp.tree.slotOf(len(b.Fields))
		}
		trees[key] = cp
	}
	c.tree, c.slots, c.tsSlot = cp.tree, cp.slots, cp.tsSlot
	return c
}

// decoder turns messages into points. It is owned by one goroutine.
type decoder struct {
	source     string
	obs        point.Observer
	maxPayload int
	bindings   []binding
	exact      map[string][]int32 // exact topic → bindings
	wild       []int32            // bindings with wildcard topics, in order
	maxFields  int

	sc      scanner
	spans   []span
	scratch []byte
	msg     messageProblems
}

func newDecoder(cfg *Config, obs point.Observer) *decoder {
	d := &decoder{source: cfg.Name, obs: obs, maxPayload: cfg.MaxPayloadBytes, exact: make(map[string][]int32)}
	slots := 0
	trees := make(map[string]compiledPaths)
	for i, b := range cfg.Bindings {
		c := compileBinding(b, trees)
		d.bindings = append(d.bindings, c)
		if isWildcard(b.Topic) {
			d.wild = append(d.wild, int32(i))
		} else {
			d.exact[b.Topic] = append(d.exact[b.Topic], int32(i))
		}
		d.maxFields = max(d.maxFields, len(b.Fields))
		if c.tree != nil {
			slots = max(slots, len(c.tree.paths))
		}
	}
	d.spans = make([]span, slots)
	return d
}

// inbound is a received PUBLISH: its topic and payload (which share one buffer that
// is never written after the message is read), the payload's size on the wire (larger
// than len(payload) when the payload exceeded MaxPayloadBytes and only its start was
// kept), QoS, packet id, the session it came through (for the acknowledgement) and the
// receive time (Unix ns).
type inbound struct {
	topic   string
	payload []byte
	size    int
	qos     byte
	pid     uint16
	sess    *session
	recv    int64
}

// decodeBatch decodes items into a new batch; problems go to the observer.
func (d *decoder) decodeBatch(items []inbound) point.Batch {
	batch := make(point.Batch, 0, len(items))
	arena := make([]point.Field, 0, len(items)*d.maxFields)
	for i := range items {
		batch, arena = d.decodeMessage(batch, arena, &items[i])
	}
	return batch
}

// TestHookDecode, when set, is called before a message is decoded for a binding. It exists for
// tests that inject a panic into message handling; it is nil in the gateway.
var TestHookDecode func(topic string, payload []byte)

// decodeMessage decodes one message into batch for every binding that matches its
// topic. A message that produced any SignalError is handed to the observer as a dead
// letter. A panic while handling it (a decoder bug that some payload reaches) is
// contained here: the message's points are discarded, the panic is reported with
// reason "internal" and the message kept as a dead letter; like any unusable message it
// is then acknowledged with its batch, so the broker does not redeliver it forever.
func (d *decoder) decodeMessage(batch point.Batch, arena []point.Field, it *inbound) (outBatch point.Batch, outArena []point.Field) {
	topic, payload := it.topic, it.payload
	d.msg = messageProblems{topic: topic}
	batch0, arena0 := batch, arena
	defer func() {
		if r := recover(); r != nil {
			// What this message appended is discarded; the batch and arena as they were
			// before it stay valid (later appends only ever go beyond their lengths).
			outBatch, outArena = batch0, arena0
			d.fail(d.msg.device, "", point.ReasonInternal,
				fmt.Errorf("decode topic %q: internal error (message dropped): %v: payload %s", topic, r, quoteTrunc(payload)))
		}
		if d.msg.count > 0 {
			// The topic shares its memory with the payload: an observer that keeps the
			// dead letter keeps a copy, not the message buffer.
			d.obs.DeadLetter(d.source, point.DeadLetter{Device: d.msg.device, Origin: strings.Clone(topic), Reason: d.msg.reason,
				Err: d.msg.err, Problems: d.msg.count}, payload)
		}
	}()
	matched := false
	for _, bi := range d.exact[topic] {
		matched = true
		d.msg.device = d.bindings[bi].Device
		batch, arena = d.decodeTo(batch, arena, &d.bindings[bi], topic, payload, it.size, it.recv)
	}
	for _, bi := range d.wild {
		if matchTopic(d.bindings[bi].Topic, topic) {
			matched = true
			d.msg.device = d.bindings[bi].Device
			batch, arena = d.decodeTo(batch, arena, &d.bindings[bi], topic, payload, it.size, it.recv)
		}
	}
	if !matched {
		d.fail("", "", ReasonUnbound, fmt.Errorf("route topic %q: no binding matches", topic))
	}
	return batch, arena
}

// messageProblems gathers what went wrong with the message being decoded.
type messageProblems struct {
	topic, device string
	reason        string // of the first problem
	err           error  // the first problem
	count         int
}

// fail reports one problem of the current message to the observer and notes it for the
// message's dead letter.
func (d *decoder) fail(device, field, reason string, err error) {
	d.obs.SignalError(d.source, device, field, reason, err)
	if d.msg.count == 0 {
		d.msg.reason, d.msg.err = reason, err
		if device != "" {
			d.msg.device = device
		}
	}
	d.msg.count++
}

// decodeTo decodes one message for one binding and appends its point, if any field
// decoded, to batch; the fields are carved out of arena.
func (d *decoder) decodeTo(batch point.Batch, arena []point.Field, b *binding, topic string, payload []byte, size int, recv int64) (point.Batch, []point.Field) {
	if cap(arena)-len(arena) < len(b.Fields) {
		arena = make([]point.Field, 0, max(64*d.maxFields, len(b.Fields)))
	}
	start := len(arena)
	if TestHookDecode != nil {
		TestHookDecode(topic, payload)
	}
	var ts int64
	arena, ts = d.decode(arena, b, topic, payload, size, recv)
	if len(arena) == start {
		return batch, arena
	}
	batch = append(batch, point.Point{
		Measurement: b.Measurement,
		Device:      b.Device,
		Tags:        b.Tags,
		Fields:      arena[start:len(arena):len(arena)],
		Time:        ts,
	})
	return batch, arena
}

// decode appends the message's good fields to dst and returns the point time. size is
// the payload's size on the wire (len(payload), or more when only its start was kept).
func (d *decoder) decode(dst []point.Field, b *binding, topic string, payload []byte, size int, recv int64) ([]point.Field, int64) {
	if size > d.maxPayload || len(payload) > d.maxPayload {
		d.fail(b.Device, "", ReasonTooLarge,
			fmt.Errorf("decode topic %q device %q: payload of %d bytes exceeds max_payload_bytes %d", topic, b.Device, max(size, len(payload)), d.maxPayload))
		return dst, recv
	}
	if b.number {
		return d.decodeNumber(dst, b, topic, payload), recv
	}
	spans := d.spans[:len(b.tree.paths)]
	if err := d.sc.scan(payload, b.tree, spans); err != nil {
		d.fail(b.Device, "", ReasonDecode,
			fmt.Errorf("decode topic %q device %q: %w: payload %s", topic, b.Device, err, quoteTrunc(payload)))
		return dst, recv
	}
	for i := range b.Fields {
		f := &b.Fields[i]
		v, reason, err := d.fieldValue(&f.Conv, payload, spans[b.slots[i]])
		switch {
		case reason == ReasonMissing:
			d.fail(b.Device, f.Field, reason,
				fmt.Errorf("decode topic %q device %q field %q: path %q not found", topic, b.Device, f.Field, f.Path))
			continue
		case err != nil:
			d.fail(b.Device, f.Field, reason,
				fmt.Errorf("decode topic %q device %q field %q: path %q: %w", topic, b.Device, f.Field, f.Path, err))
			continue
		}
		dst = append(dst, point.Field{Key: f.Field, Value: v})
	}
	ts := recv
	if b.tsSlot >= 0 {
		if sp := spans[b.tsSlot]; sp.kind != kindNone {
			t, err := d.timestamp(b.ts, payload, sp)
			if err != nil {
				d.fail(b.Device, "", ReasonTimestamp,
					fmt.Errorf("decode topic %q device %q: timestamp path %q: %w", topic, b.Device, b.TimestampPath, err))
			} else {
				ts = t
			}
		}
	}
	return dst, ts
}

// fieldValue converts the value at sp; on failure it returns the reason and, unless
// the value is missing, an error naming the value.
func (d *decoder) fieldValue(c *point.Conv, payload []byte, sp span) (float64, string, error) {
	raw := payload[sp.start:sp.end]
	switch sp.kind {
	case kindNone:
		return 0, ReasonMissing, nil
	case kindNumber:
		f, err := parseNumber(raw)
		if err != nil {
			return 0, ReasonNaN, err
		}
		v, err := c.Scaled(f)
		if err != nil {
			return 0, ReasonNaN, err
		}
		return v, "", nil
	case kindTrue, kindFalse:
		f := 0.0
		if sp.kind == kindTrue {
			f = 1
		}
		v, err := c.Scaled(f)
		if err != nil {
			return 0, ReasonNaN, err
		}
		return v, "", nil
	case kindString:
		text := raw[1 : len(raw)-1]
		if sp.esc {
			d.scratch = appendUnquoted(d.scratch[:0], text)
			text = d.scratch
		}
		if c.Map == nil {
			return 0, ReasonType, fmt.Errorf("string value %s without map: %w", quoteTrunc(text), point.ErrType)
		}
		v, ok := c.Map[string(text)]
		if !ok {
			return 0, ReasonType, fmt.Errorf("value %s not in map: %w", quoteTrunc(text), point.ErrType)
		}
		return v, "", nil
	case kindNull:
		return 0, ReasonType, fmt.Errorf("null value: %w", point.ErrType)
	default:
		return 0, ReasonType, fmt.Errorf("%s value %s: %w", sp.kind, quoteTrunc(raw), point.ErrType)
	}
}

// parseNumber parses a valid JSON number; one beyond the float64 range is an error
// wrapping point.ErrNotFinite.
func parseNumber(raw []byte) (float64, error) {
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil && (math.IsInf(f, 0) || !errors.Is(err, strconv.ErrRange)) {
		return 0, fmt.Errorf("value %s out of range: %w", truncate(raw), point.ErrNotFinite)
	}
	return f, nil
}

// decodeNumber handles format "number": the payload is one number, or a text looked up
// in the field's map.
func (d *decoder) decodeNumber(dst []point.Field, b *binding, topic string, payload []byte) []point.Field {
	f := &b.Fields[0]
	raw := trimSpace(payload)
	fail := func(reason string, err error) []point.Field {
		d.fail(b.Device, f.Field, reason,
			fmt.Errorf("decode topic %q device %q field %q: %w", topic, b.Device, f.Field, err))
		return dst
	}
	if validNumber(raw) {
		v, err := parseNumber(raw)
		if err == nil {
			v, err = f.Conv.Scaled(v)
		}
		if err != nil {
			return fail(ReasonNaN, err)
		}
		return append(dst, point.Field{Key: f.Field, Value: v})
	}
	if f.Conv.Map != nil {
		if v, ok := f.Conv.Map[string(raw)]; ok {
			return append(dst, point.Field{Key: f.Field, Value: v})
		}
	}
	if isNonFinite(raw) {
		return fail(ReasonNaN, fmt.Errorf("value %s: %w", quoteTrunc(raw), point.ErrNotFinite))
	}
	if f.Conv.Map != nil {
		return fail(ReasonType, fmt.Errorf("value %s not in map: %w", quoteTrunc(raw), point.ErrType))
	}
	return fail(ReasonDecode, fmt.Errorf("payload %s is not a number", quoteTrunc(raw)))
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// validNumber reports whether b is exactly one JSON number.
func validNumber(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	var s scanner
	s.buf = b
	return s.number() && s.pos == len(b)
}

// isNonFinite reports a textual NaN or infinity as printed by common firmware.
func isNonFinite(b []byte) bool {
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		b = b[1:]
	}
	if len(b) > 9 {
		return false
	}
	var low [9]byte
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	switch string(low[:len(b)]) {
	case "nan", "inf", "infinity":
		return true
	}
	return false
}

// timestamp converts the source timestamp at sp to Unix nanoseconds. Every error names
// the value as the message carried it (numbers as text, strings quoted, both cut to 64
// bytes): the value is never sliced before its kind is known.
func (d *decoder) timestamp(f tsFormat, payload []byte, sp span) (int64, error) {
	raw := payload[sp.start:sp.end]
	format := tsFormatNames[max(f, tsEpochMS)]
	switch {
	case sp.kind == kindNumber && f != tsRFC3339:
		unit := int64(time.Millisecond)
		if f == tsEpochS {
			unit = int64(time.Second)
		}
		ns, ok := epochNanos(raw, unit)
		if !ok {
			return 0, fmt.Errorf("value %s (%s) is out of range 2000..2200", truncate(raw), format)
		}
		if ns < minTimestamp || ns >= maxTimestamp {
			return 0, fmt.Errorf("value %s (%s) is %s, out of range 2000..2200", truncate(raw), format,
				time.Unix(0, ns).UTC().Format(time.RFC3339Nano))
		}
		return ns, nil
	case sp.kind == kindString && (f == tsAuto || f == tsRFC3339):
		text := raw[1 : len(raw)-1] // a string span always holds both quotes
		if sp.esc {
			d.scratch = appendUnquoted(d.scratch[:0], text)
			text = d.scratch
		}
		ns, ok, inRange := parseRFC3339(text)
		if !ok {
			return 0, fmt.Errorf("value %s is not RFC 3339", quoteTrunc(text))
		}
		if !inRange || ns < minTimestamp || ns >= maxTimestamp {
			return 0, fmt.Errorf("value %s is out of range 2000..2200", quoteTrunc(text))
		}
		return ns, nil
	}
	want := "epoch number"
	if f == tsRFC3339 {
		want = "RFC 3339 string"
	}
	v := truncate(raw)
	if sp.kind == kindString || sp.kind == kindObject || sp.kind == kindArray {
		v = quoteTrunc(raw)
	}
	return 0, fmt.Errorf("%s value %s is not a timestamp (%s: want %s)", sp.kind, v, tsFormatNames[f], want)
}

// epochNanos converts an epoch number in unit (ns per unit) to nanoseconds. Decimal
// notation converts exactly (digits below a nanosecond are dropped); exponent notation
// goes through float64.
func epochNanos(raw []byte, unit int64) (int64, bool) {
	neg := raw[0] == '-'
	digits := raw
	if neg {
		digits = raw[1:]
	}
	intPart, frac := digits, []byte(nil)
	decimal := true
	for i, c := range digits {
		if c == '.' {
			intPart, frac = digits[:i], digits[i+1:]
		} else if c == 'e' || c == 'E' {
			decimal = false
			break
		}
	}
	if decimal && len(intPart) <= 18 {
		var v int64
		for _, c := range intPart {
			v = v*10 + int64(c-'0')
		}
		var f int64
		for i, scale := 0, unit/10; i < len(frac) && scale > 0; i, scale = i+1, scale/10 {
			f += int64(frac[i]-'0') * scale
		}
		if v > (math.MaxInt64-f)/unit {
			return 0, false
		}
		v = v*unit + f
		if neg {
			v = -v
		}
		return v, true
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil && math.IsInf(f, 0) {
		return 0, false
	}
	x := math.Round(f * float64(unit))
	if !(x > -9.2e18 && x < 9.2e18) {
		return 0, false
	}
	return int64(x), true
}

// parseRFC3339 parses YYYY-MM-DD[T|t| ]hh:mm:ss[.frac](Z|z|±hh:mm) without allocating.
// ok reports the syntax; inRange that the instant fits int64 nanoseconds (years 1678 to
// 2262): only then is ns meaningful.
func parseRFC3339(b []byte) (ns int64, ok, inRange bool) {
	if len(b) < 20 {
		return 0, false, false
	}
	num := func(b []byte) (int, bool) {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(b[0:4])
	month, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	hour, ok4 := num(b[11:13])
	minute, ok5 := num(b[14:16])
	sec, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || b[4] != '-' || b[7] != '-' ||
		(b[10] != 'T' && b[10] != 't' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return 0, false, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return 0, false, false
	}
	rest := b[19:]
	nsec := 0
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		scale := int(time.Second)
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			if scale > 1 {
				scale /= 10
				nsec += int(rest[i]-'0') * scale
			}
			i++
		}
		if i == 1 {
			return 0, false, false
		}
		rest = rest[i:]
	}
	offset := 0
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := num(rest[1:3])
		om, ok2 := num(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, false, false
		}
		offset = oh*3600 + om*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC).Add(-time.Duration(offset) * time.Second)
	// int64 nanoseconds span 1677-09-21 to 2262-04-11; beyond, t.Unix()*1e9 wraps around.
	const limit = math.MaxInt64 / int64(time.Second)
	if s := t.Unix(); s <= -limit || s >= limit {
		return 0, true, false
	}
	return t.UnixNano(), true, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// truncate returns b as text, cut to 64 bytes with an ellipsis.
func truncate(b []byte) string {
	const n = 64
	if len(b) <= n {
		return string(b)
	}
	i := n
	for i > n-utf8.UTFMax && !utf8.RuneStart(b[i]) {
		i--
	}
	return string(b[:i]) + "…"
}

// quoteTrunc quotes b (Go syntax) after cutting it to 64 bytes.
func quoteTrunc(b []byte) string {
	const n = 64
	if len(b) <= n {
		return strconv.Quote(string(b))
	}
	i := n
	for i > n-utf8.UTFMax && !utf8.RuneStart(b[i]) {
		i--
	}
	return strconv.Quote(string(b[:i])) + "…"
}
