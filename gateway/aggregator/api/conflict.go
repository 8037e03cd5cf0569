package api

import (
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/service"
)

// conflictRecord is a workshop row's conflict: whether more than one gateway instance
// wrote one window of the workshop in the period, the instances (the counted one
// first), the counted one and the start of the first window both wrote (null when not
// determined). The row's figures are the counted instance's (service.Conflict).
func conflictRecord(c *service.Conflict, loc *time.Location) record {
	if c == nil {
		return record{{"active", false}, {"instances", []string{}}, {"counted", ""}, {"since", nil}}
	}
	var since any
	if !c.Since.IsZero() {
		since = c.Since.In(loc)
	}
	return record{{"active", true}, {"instances", c.IDs()}, {"counted", c.Counted()}, {"since", since}}
}
