package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/queue"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// switchSink fails every write while down and records the lines of accepted writes.
type switchSink struct {
	mu    sync.Mutex
	up    bool
	calls int
	lines []string
}

func (s *switchSink) Write(_ context.Context, body []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if !s.up {
		return errors.New("sink down")
	}
	s.lines = append(s.lines, strings.SplitAfter(string(body), "\n")...)
	if s.lines[len(s.lines)-1] == "" {
		s.lines = s.lines[:len(s.lines)-1]
	}
	return nil
}

// setUp lets further writes succeed and returns the number of writes failed so far.
func (s *switchSink) setUp() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.up = true
	return s.calls
}

func (s *switchSink) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

const (
	linesPerBlock = 10
	lineBytes     = 100 // a block's payload is 1000 bytes, its frame 1024
)

// blockLines returns the lines of block i: 10 lines of 100 bytes, "m v=<10i+j>" padded.
func blockLines(i int) []string {
	out := make([]string, linesPerBlock)
	for j := range out {
		out[j] = fmt.Sprintf("%-*s\n", lineBytes-1, fmt.Sprintf("m v=%d", i*linesPerBlock+j))
	}
	return out
}

func blockData(i int) []byte { return []byte(strings.Join(blockLines(i), "")) }

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestForwarderDiskBudgetDrops: blocks the queue drops to stay within max_bytes while
// the forwarder retries a request holding them are left out of the request, so what
// the sink receives is exactly what the queue did not count as dropped. The queue is
// 16 KiB with 4 KiB segments of four 1 KiB frames: the 17th block drops blocks 0–3, the
// 21st blocks 4–7, and so on.
func TestForwarderDiskBudgetDrops(t *testing.T) {
	for _, tc := range []struct {
		name string
		// before are appended before the forwarder starts (its first request holds
		// them all); after are appended while that request is being retried.
		before, after int
		wantDropped   int // blocks, the oldest
	}{
		{"no drop", 8, 8, 0},
		{"part of the request dropped", 12, 8, 4},
		{"whole request dropped", 4, 36, 24},
		{"request and later blocks dropped", 12, 20, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qcfg := queue.DefaultConfig()
			qcfg.Dir = t.TempDir()
			qcfg.MaxBytes = 16 << 10
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			q, err := queue.Open(qcfg, log, prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			sink := &switchSink{}
			sm := NewSinkMetrics(prometheus.NewRegistry())
			f := NewForwarder(ForwarderConfig{Name: "s", FlushInterval: 5 * time.Millisecond,
				RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond}, q, sink, sm, log)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			defer func() {
				cancel()
				wg.Wait()
				if err := q.Close(); err != nil {
					t.Error(err)
				}
			}()
			wg.Add(1)
			go func() { defer wg.Done(); _ = q.Run(ctx) }()

			total := tc.before + tc.after
			for i := 0; i < tc.before; i++ {
				if err := q.Append(blockData(i), linesPerBlock); err != nil {
					t.Fatal(err)
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := f.Run(ctx); err != nil {
					t.Errorf("Run: %v", err)
				}
			}()
			waitUntil(t, "the first failed write", func() bool { return sink.callCount() >= 1 })
			if got := q.Stats().InFlightBlocks; got != int64(tc.before) {
				t.Fatalf("first request holds %d blocks, want %d", got, tc.before)
			}
			for i := tc.before; i < total; i++ {
				if err := q.Append(blockData(i), linesPerBlock); err != nil {
					t.Fatal(err)
				}
			}
			// Let the forwarder make two more attempts after the last drop, so none is
			// still using a request trimmed before it.
			n := sink.callCount()
			waitUntil(t, "two more attempts", func() bool { return sink.callCount() >= n+2 })
			_ = sink.setUp()
			waitUntil(t, "an empty queue", func() bool { return q.Stats().PendingPoints == 0 })

			st := q.Stats()
			if st.DroppedPointsDiskFull != int64(tc.wantDropped*linesPerBlock) {
				t.Errorf("queue dropped %d points, want %d", st.DroppedPointsDiskFull, tc.wantDropped*linesPerBlock)
			}
			var want []string
			for i := tc.wantDropped; i < total; i++ {
				want = append(want, blockLines(i)...)
			}
			sink.mu.Lock()
			got := append([]string(nil), sink.lines...)
			sink.mu.Unlock()
			if len(got) != len(want) {
				t.Fatalf("sink received %d lines, want %d (blocks %d..%d)", len(got), len(want), tc.wantDropped, total-1)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("line %d = %q, want %q", i, strings.TrimSpace(got[i]), strings.TrimSpace(want[i]))
				}
			}
			if w := testutil.ToFloat64(sm.writtenPoints.WithLabelValues("s")); w != float64(len(want)) {
				t.Errorf("ganlink_sink_points_written_total = %v, want %d", w, len(want))
			}
			if a := st.AckedPoints + st.DroppedPointsDiskFull; a != int64(total*linesPerBlock) {
				t.Errorf("acked %d + dropped %d points, want %d appended", st.AckedPoints, st.DroppedPointsDiskFull, total*linesPerBlock)
			}
		})
	}
}

// TestForwarderDeliversEverythingOnce: without drops, every block reaches the sink once
// and in order, across failed attempts, requests capped at BatchBytes and partial
// batches flushed after FlushInterval.
func TestForwarderDeliversEverythingOnce(t *testing.T) {
	for _, tc := range []struct {
		name       string
		batchBytes int
		blocks     int
		failFirst  bool
		wantWrites int // accepted writes
	}{
		{"one request", 1 << 20, 10, false, 1},
		{"capped requests", 3000, 10, false, 4},
		{"after failures", 3000, 10, true, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qcfg := queue.DefaultConfig()
			qcfg.Dir = t.TempDir()
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			q, err := queue.Open(qcfg, log, prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < tc.blocks; i++ {
				if err := q.Append(blockData(i), linesPerBlock); err != nil {
					t.Fatal(err)
				}
			}
			sink := &switchSink{up: !tc.failFirst}
			sm := NewSinkMetrics(prometheus.NewRegistry())
			f := NewForwarder(ForwarderConfig{Name: "s", BatchBytes: tc.batchBytes, FlushInterval: 5 * time.Millisecond,
				RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond}, q, sink, sm, log)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			defer func() {
				cancel()
				wg.Wait()
				if err := q.Close(); err != nil {
					t.Error(err)
				}
			}()
			wg.Add(2)
			go func() { defer wg.Done(); _ = q.Run(ctx) }()
			go func() { defer wg.Done(); _ = f.Run(ctx) }()
			failed := 0
			if tc.failFirst {
				waitUntil(t, "three failed writes", func() bool { return sink.callCount() >= 3 })
				failed = sink.setUp()
			}
			waitUntil(t, "an empty queue", func() bool { return q.Stats().PendingPoints == 0 })
			sink.mu.Lock()
			defer sink.mu.Unlock()
			if len(sink.lines) != tc.blocks*linesPerBlock {
				t.Fatalf("sink received %d lines, want %d", len(sink.lines), tc.blocks*linesPerBlock)
			}
			for i, l := range sink.lines {
				if want := fmt.Sprintf("m v=%d", i); strings.TrimSpace(l) != want {
					t.Fatalf("line %d = %q, want %q", i, strings.TrimSpace(l), want)
				}
			}
			if w := sink.calls - failed; w != tc.wantWrites {
				t.Errorf("%d accepted writes, want %d", w, tc.wantWrites)
			}
		})
	}
}
