package mqtt

import (
	"context"
	"testing"
	"time"
)

func feed(in *mailbox, n int, qos byte) {
	for range n {
		in.put(context.Background(), inbound{topic: "t", qos: qos, recv: time.Now().UnixNano()})
	}
}

// TestBatcher checks when batches are cut: at the in-flight window without waiting,
// at max, after a gap in QoS 1 arrivals, after the wait, and how the window grows.
func TestBatcher(t *testing.T) {
	ctx := context.Background()
	// Long enough that a loaded machine's scheduling delays (tens of milliseconds) stay
	// well inside the gap between the spaced arrivals and the gap that cuts a batch.
	const wait = 1600 * time.Millisecond
	const gap = wait / 8
	in := newMailbox(1000)
	b := newBatcher(100, wait)

	tests := []struct {
		name       string
		feed       func()
		wantLen    int
		min, max   time.Duration // time collect took
		wantWindow int
	}{
		{"window reached: no wait", func() { feed(in, 20, 1) }, 20, 0, gap, 20},
		{"more queued than the window: the window grows", func() { feed(in, 35, 1) }, 35, 0, gap, 35},
		{"max caps the batch", func() { feed(in, 150, 1) }, 100, 0, gap, 100},
		{"below the window: cut after a gap", func() {}, 50, gap, wait, 100},
		{"spaced arrivals below the gap keep the batch open", func() {
			go func() {
				for range 5 {
					feed(in, 1, 1)
					time.Sleep(gap / 4)
				}
			}()
		}, 5, 2 * gap, wait, 100},
		{"QoS 0 waits for the batch to fill", func() { feed(in, 10, 0) }, 10, wait, 2 * wait, 100},
	}
	for _, tt := range tests {
		tt.feed()
		begin := time.Now()
		items, ok := b.collect(ctx, in)
		took := time.Since(begin)
		if !ok || len(items) != tt.wantLen {
			t.Fatalf("%s: got %d items (ok %v), want %d", tt.name, len(items), ok, tt.wantLen)
		}
		if took < tt.min || took >= tt.max {
			t.Fatalf("%s: took %s, want [%s, %s)", tt.name, took, tt.min, tt.max)
		}
		if b.window != tt.wantWindow {
			t.Fatalf("%s: window %d, want %d", tt.name, b.window, tt.wantWindow)
		}
		b.reset()
	}

	ctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, ok := b.collect(ctx, in); ok {
		t.Fatal("collect after cancel returned a batch")
	}
}
