// Package point defines the unit of telemetry that flows through the gateway and its
// encoding as InfluxDB line protocol.
//
// A Point is self-contained: it carries its measurement, its identity tags (shared,
// pre-sorted slices built once per device), its numeric fields and a timestamp in Unix
// nanoseconds. Field values are float64 only: VictoriaMetrics stores everything as float
// and InfluxDB rejects a field whose type changes, so the gateway never writes integers or
// strings.
package point

import (
	"context"
	"time"
)

// Quality is the data quality of one field value, derived from the source's status
// (OPC UA StatusCode severity, MQTT decode result).
type Quality uint8

const (
	// Good is a value the source vouches for.
	Good Quality = iota
	// Uncertain is a value the source delivers with reservations; it is written together
	// with a "<field>_quality" = 1 field.
	Uncertain
	// Bad marks a signal whose value is unusable. The value is not written; only
	// "<field>_quality" = 2 is, so a bad value never masquerades as the last good one.
	Bad
)

// String returns "good", "uncertain" or "bad".
func (q Quality) String() string {
	switch q {
	case Good:
		return "good"
	case Uncertain:
		return "uncertain"
	default:
		return "bad"
	}
}

// Tag is one key/value tag. Tag slices in a Point are sorted by key.
type Tag struct {
	Key   string
	Value string
}

// Field is one numeric field value with its quality.
type Field struct {
	Key     string
	Value   float64
	Quality Quality
}

// Point is one line of telemetry: a measurement, sorted tags, fields and a timestamp.
//
// Device is the gateway's device id the point belongs to ("" for workshop-level points);
// it duplicates the "device" tag so consumers need not search the tags.
type Point struct {
	Measurement string
	Device      string
	Tags        []Tag
	Fields      []Field
	Time        int64 // Unix nanoseconds
}

// Timestamp returns the point's time as a time.Time.
func (p *Point) Timestamp() time.Time { return time.Unix(0, p.Time) }

// Batch is a group of points handed over together by a source.
type Batch []Point

// Fields counts the field values in the batch (the unit of throughput figures).
func (b Batch) Fields() int {
	n := 0
	for i := range b {
		n += len(b[i].Fields)
	}
	return n
}

// EmitFunc hands a batch from a source to the pipeline, which applies the gateway's one
// emit policy (gateway/pipeline): a queue refusing the batch for a while is retried
// with backoff, one that can never hold it makes the pipeline drop and count it. It
// returns nil once the batch is settled, durable in every sink queue or dropped and
// counted, and an error only when ctx ended first (the batch is then counted as
// dropped at shutdown). So a source calls it once per batch and never retries it, and
// acknowledges its upstream (MQTT QoS 1 PUBACK) only after a nil return. The batch and
// its slices must not be modified by the caller after the call.
type EmitFunc func(ctx context.Context, b Batch) error

// State is the connection state of a source.
type State int

const (
	// StateConnecting means the source is (re)establishing its session.
	StateConnecting State = iota
	// StateUp means the session is established and data can flow.
	StateUp
	// StateDown means the session was lost; the source retries with backoff.
	StateDown
)

// String returns "connecting", "up" or "down".
func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateUp:
		return "up"
	default:
		return "down"
	}
}

// StateFunc is called by a source whenever its connection state changes. err explains
// a StateDown transition and is nil otherwise. Implementations must be fast and safe for
// concurrent use.
type StateFunc func(source string, s State, err error)
