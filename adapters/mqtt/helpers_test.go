package mqtt

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/ganlink/ganlink/gateway/point"
)

// testMsg is a received message for decoder and batcher tests.
type testMsg struct {
	topic   string
	payload []byte
	qos     byte
	acked   atomic.Bool
}

func (m *testMsg) Topic() string   { return m.topic }
func (m *testMsg) Payload() []byte { return m.payload }
func (m *testMsg) Qos() byte       { return m.qos }
func (m *testMsg) Ack()            { m.acked.Store(true) }

// formatPoint renders a point compactly for exact comparisons.
func formatPoint(p point.Point) string {
	var b strings.Builder
	b.WriteString(p.Measurement)
	for _, t := range p.Tags {
		fmt.Fprintf(&b, ",%s=%s", t.Key, t.Value)
	}
	fmt.Fprintf(&b, " device=%s", p.Device)
	for _, f := range p.Fields {
		fmt.Fprintf(&b, " %s=%v", f.Key, f.Value)
		if f.Quality != point.Good {
			fmt.Fprintf(&b, "(%s)", f.Quality)
		}
	}
	fmt.Fprintf(&b, " %d", p.Time)
	return b.String()
}
