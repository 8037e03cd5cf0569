// Package reconnect holds what the connection-oriented sources (OPC UA, Modbus) share:
// the reconnect loop with its state reports, a capped exponential backoff with jitter,
// and a throttled warning for lost and failed connections.
package reconnect

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

// Backoff is a capped exponential backoff with jitter: the n-th delay is drawn from
// [d/2, d] with d = Min × 2ⁿ capped at Max. The zero value is not usable; set Min and
// Max. Not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration
	n        int
}

// Reset starts again from Min.
func (b *Backoff) Reset() { b.n = 0 }

// Next returns the next delay.
func (b *Backoff) Next() time.Duration {
	d := b.Min
	for i := 0; i < b.n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if b.n < 62 {
		b.n++
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// Warner logs connection failures: at Warn when the connection had been up, when the
// error changed, or once a minute; else at Debug, so a device that stays unreachable
// does not flood the log. Not safe for concurrent use.
type Warner struct {
	Log      *slog.Logger
	Protocol string // "opcua", "modbus": the message's first word
	Endpoint string

	last    time.Time
	lastMsg string
}

// Down logs err; retry is the delay before the next attempt, wasUp whether the
// connection had been established.
func (w *Warner) Down(err error, retry time.Duration, wasUp bool) {
	msg := err.Error()
	now := time.Now()
	level := slog.LevelDebug
	if wasUp || msg != w.lastMsg || now.Sub(w.last) >= time.Minute {
		level = slog.LevelWarn
		w.last, w.lastMsg = now, msg
	}
	text := w.Protocol + " connection failed"
	if wasUp {
		text = w.Protocol + " connection lost"
	}
	w.Log.Log(context.Background(), level, text, "endpoint", w.Endpoint, "err", err, "retry_in", retry.Round(time.Millisecond))
}

// Loop runs session until ctx is done: before each attempt it reports
// point.StateConnecting; when a session ends with ctx still live it reports
// point.StateDown with the session's error, logs it through w and waits the next
// backoff delay (reset after a session that was up). A stop is not reported as Down.
func Loop(ctx context.Context, b *Backoff, w *Warner, report func(point.State, error),
	session func(context.Context) (up bool, err error)) {
	for ctx.Err() == nil {
		report(point.StateConnecting, nil)
		up, err := session(ctx)
		if ctx.Err() != nil {
			return
		}
		if up {
			b.Reset()
		}
		report(point.StateDown, err)
		d := b.Next()
		w.Down(err, d, up)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}
