package mqtt

import (
	"fmt"
	"strings"

	"github.com/ganlink/ganlink/gateway/point"
)

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
