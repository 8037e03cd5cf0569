// Package health turns a gateway's view of itself into the health series it writes
// through its own sink queues (schema.GatewayHealth and schema.GatewaySource), once a
// minute: a park reads its whole fleet from the TSDB it already has, including the
// gateways behind NAT that no scraper reaches, and a gateway that was cut off delivers
// its health history with its data when the link returns. docs/metrics.md "Fleet
// health" defines every field.
package health

import (
	"math"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
)

// Snapshot is what a gateway knows of itself at one moment.
type Snapshot struct {
	Now     time.Time
	Started time.Time
	Sources []Source
	// Devices counts the inventory; DevicesOffline those whose state is offline.
	Devices, DevicesOffline int
	// LastData is when the newest batch with a configured signal arrived; zero before
	// the first.
	LastData time.Time
	// QueuePoints is the backlog over every sink queue; QueueOldest the oldest pending
	// batch of any (zero when every queue is empty).
	QueuePoints int64
	QueueOldest time.Time
	// PointsDropped counts every point dropped since the start, for any reason;
	// SignalErrors every value a source could not use.
	PointsDropped, SignalErrors float64
}

// Source is one source's connection state and its count of unusable values.
type Source struct {
	Name   string
	Up     bool
	Errors float64
}

// Points returns the gateway_health point and one gateway_source point per source,
// stamped at s.Now truncated to the second. tags are the sorted identity tags of the
// gateway (workshop identity, instance, version); the source points add the source
// tag.
func Points(s Snapshot, tags []point.Tag) point.Batch {
	ts := s.Now.Truncate(time.Second).UnixNano()
	up := 0
	for _, src := range s.Sources {
		if src.Up {
			up++
		}
	}
	fields := []point.Field{
		{Key: schema.FieldUptimeS, Value: seconds(s.Now.Sub(s.Started))},
		{Key: schema.FieldSourcesTotal, Value: float64(len(s.Sources))},
		{Key: schema.FieldSourcesUp, Value: float64(up)},
		{Key: schema.FieldDevicesTotal, Value: float64(s.Devices)},
		{Key: schema.FieldDevicesOffline, Value: float64(s.DevicesOffline)},
	}
	if !s.LastData.IsZero() {
		fields = append(fields, point.Field{Key: schema.FieldLastDataAgeS, Value: seconds(s.Now.Sub(s.LastData))})
	}
	fields = append(fields, point.Field{Key: schema.FieldQueuePoints, Value: float64(s.QueuePoints)})
	oldest := 0.0
	if !s.QueueOldest.IsZero() {
		oldest = seconds(s.Now.Sub(s.QueueOldest))
	}
	fields = append(fields,
		point.Field{Key: schema.FieldQueueOldestAgeS, Value: oldest},
		point.Field{Key: schema.FieldPointsDropped, Value: s.PointsDropped},
		point.Field{Key: schema.FieldSignalErrors, Value: s.SignalErrors})
	b := make(point.Batch, 0, 1+len(s.Sources))
	b = append(b, point.Point{Measurement: schema.GatewayHealth, Tags: tags, Fields: fields, Time: ts})
	for _, src := range s.Sources {
		v := 0.0
		if src.Up {
			v = 1
		}
		b = append(b, point.Point{Measurement: schema.GatewaySource, Tags: withSource(tags, src.Name), Time: ts,
			Fields: []point.Field{{Key: schema.FieldUp, Value: v}, {Key: schema.FieldErrors, Value: src.Errors}}})
	}
	return b
}

// seconds is d in whole seconds, never negative (a clock step back reads as 0).
func seconds(d time.Duration) float64 {
	return math.Max(0, math.Floor(d.Seconds()))
}

// withSource returns a copy of the sorted tags with the source tag inserted in order.
func withSource(tags []point.Tag, name string) []point.Tag {
	out := make([]point.Tag, 0, len(tags)+1)
	added := false
	for _, t := range tags {
		if !added && t.Key > schema.TagSource {
			out = append(out, point.Tag{Key: schema.TagSource, Value: name})
			added = true
		}
		out = append(out, t)
	}
	if !added {
		out = append(out, point.Tag{Key: schema.TagSource, Value: name})
	}
	return out
}
