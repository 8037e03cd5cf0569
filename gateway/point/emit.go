package point

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// EmitWithRetry hands b to emit, retrying with capped exponential backoff (100 ms to
// 5 s) until emit succeeds or ctx is done, so a source never drops data because the
// queue refused it for a moment. A batch still refused at shutdown is reported through
// obs.SignalError with reason "emit" and ctx's error is returned.
func EmitWithRetry(ctx context.Context, emit EmitFunc, b Batch, source string, obs Observer, log *slog.Logger) error {
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := emit(ctx, b)
		if err == nil {
			if attempt > 1 {
				log.Info("emit recovered", "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() == nil {
			if attempt == 1 || attempt%10 == 0 {
				log.Warn("emit failed, retrying", "points", len(b), "attempt", attempt, "err", err)
			}
			t := time.NewTimer(delay)
			select {
			case <-t.C:
				delay = min(2*delay, 5*time.Second)
				continue
			case <-ctx.Done():
				t.Stop()
			}
		}
		obs.SignalError(source, "", "", "emit",
			fmt.Errorf("emit batch of %d fields: dropped at shutdown after %d attempts: %w", b.Fields(), attempt, err))
		return ctx.Err()
	}
}
