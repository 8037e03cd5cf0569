package reconnect

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	for i, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		got := b.Next()
		if got < want/2 || got > want {
			t.Fatalf("delay %d = %v, want in [%v, %v]", i, got, want/2, want)
		}
	}
	b.Reset()
	if got := b.Next(); got > 100*time.Millisecond {
		t.Fatalf("after Reset: %v", got)
	}
}

func TestWarnerThrottles(t *testing.T) {
	var buf bytes.Buffer
	w := Warner{Log: slog.New(slog.NewTextHandler(&buf, nil)), Protocol: "modbus", Endpoint: "tcp://x:502"}
	err := errors.New("connection refused")
	w.Down(err, time.Second, false)
	w.Down(err, time.Second, false) // same error within a minute: debug, not shown
	w.Down(errors.New("timeout"), time.Second, false)
	w.Down(err, time.Second, true)
	out := buf.String()
	if n := strings.Count(out, "level=WARN"); n != 3 {
		t.Fatalf("%d warnings, want 3:\n%s", n, out)
	}
	if !strings.Contains(out, `msg="modbus connection failed" endpoint=tcp://x:502 err="connection refused" retry_in=1s`) ||
		!strings.Contains(out, `msg="modbus connection lost"`) {
		t.Fatalf("unexpected log:\n%s", out)
	}
}
