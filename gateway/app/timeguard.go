package app

import (
	"context"
	"fmt"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

// ReasonFutureTimestamp is the SignalError reason of a point whose source timestamp was
// too far ahead of the gateway's clock.
const ReasonFutureTimestamp = "future_timestamp"

// guardTime wraps one source's emit: a point stamped more than maxAhead after the
// gateway's clock is given the clock's time instead and reported to obs, once per
// point. A TSDB drops such points (VictoriaMetrics: "too big timestamp") while still
// answering 2xx, so the gateway could neither detect the loss nor count it later; a
// device clock running ahead is a fault of the device, like an unset one, and is handled
// the same way: the data is kept at the time it arrived. Sources report implausibly old
// timestamps themselves (each knows its own fallback); this is the one place for the
// future, whatever the protocol.
func guardTime(source string, maxAhead time.Duration, clock func() time.Time, obs point.Observer, emit point.EmitFunc) point.EmitFunc {
	return func(ctx context.Context, b point.Batch) error {
		now := clock()
		limit := now.Add(maxAhead).UnixNano()
		for i := range b {
			if t := b[i].Time; t > limit {
				obs.SignalError(source, b[i].Device, "", ReasonFutureTimestamp,
					fmt.Errorf("device %q: source timestamp %s is %s ahead of the gateway clock (sources.max_time_ahead %s): receive time used",
						b[i].Device, time.Unix(0, t).UTC().Format(time.RFC3339Nano),
						time.Duration(t-now.UnixNano()).Round(time.Second), maxAhead))
				b[i].Time = now.UnixNano()
			}
		}
		return emit(ctx, b)
	}
}
