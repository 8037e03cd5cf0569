package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestConcurrentAppenders(t *testing.T) {
	const appenders, perAppender, size = 8, 300, 200
	tests := []struct {
		name     string
		fsync    string
		maxBytes int64
		segBytes int64
		memory   int64
	}{
		{"fsync always", FsyncAlways, 1 << 20, 16 << 10, DefaultMemoryBytes},
		{"fsync interval", "5ms", 1 << 20, 16 << 10, DefaultMemoryBytes},
		{"interval, reads from disk", "5ms", 1 << 20, 16 << 10, -1},
		{"always, dropping oldest", FsyncAlways, 64 << 10, 8 << 10, 16 << 10},
		{"interval, dropping oldest", "5ms", 64 << 10, 8 << 10, 16 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t.TempDir())
			cfg.Fsync, cfg.MaxBytes, cfg.SegmentBytes, cfg.MemoryBytes = tt.fsync, tt.maxBytes, tt.segBytes, tt.memory
			q := openTest(t, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			runDone := make(chan error, 1)
			go func() { runDone <- q.Run(ctx) }()

			var appending sync.WaitGroup
			var done atomic.Bool
			for g := 0; g < appenders; g++ {
				appending.Add(1)
				go func() {
					defer appending.Done()
					for i := 0; i < perAppender; i++ {
						b := make([]byte, size)
						copy(b, fmt.Sprintf("%02d|%06d|", g, i))
						if err := q.Append(b, 3); err != nil {
							t.Errorf("Append: %v", err)
							return
						}
					}
				}()
			}
			go func() { appending.Wait(); done.Store(true) }()
			// Scrapes run concurrently with everything else.
			go func() {
				for !done.Load() {
					_ = q.Stats()
					time.Sleep(time.Millisecond)
				}
			}()

			last := make([]int, appenders)
			for i := range last {
				last[i] = -1
			}
			delivered := 0
			var lastBlock Block
			for n := 0; ; n++ {
				b, ok, err := q.TryRead()
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					if done.Load() && q.Stats().ReadOffset >= q.Stats().WriteOffset {
						break
					}
					time.Sleep(100 * time.Microsecond)
					continue
				}
				var g, i int
				if _, err := fmt.Sscanf(string(b.Data[:10]), "%02d|%06d|", &g, &i); err != nil {
					t.Fatalf("bad block %q: %v", b.Data[:10], err)
				}
				if i <= last[g] {
					t.Fatalf("appender %d: block %d after %d", g, i, last[g])
				}
				if tt.maxBytes >= 1<<20 && i != last[g]+1 {
					t.Fatalf("appender %d: block %d after %d without drops", g, i, last[g])
				}
				last[g] = i
				delivered++
				lastBlock = b
				if n%5 == 0 {
					if err := q.Ack(b); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := q.Ack(lastBlock); err != nil {
				t.Fatal(err)
			}
			cancel()
			if err := <-runDone; err != nil {
				t.Fatalf("Run: %v", err)
			}
			s := q.Stats()
			const total = appenders * perAppender
			if s.AppendedBlocks != total || s.AckedBlocks+s.DroppedBlocksDiskFull+s.PendingBlocks != total || s.PendingBlocks != 0 {
				t.Fatalf("appended %d, acked %d, dropped %d, pending %d; want %d, all acked or dropped",
					s.AppendedBlocks, s.AckedBlocks, s.DroppedBlocksDiskFull, s.PendingBlocks, total)
			}
			if tt.maxBytes >= 1<<20 && delivered != total {
				t.Fatalf("delivered %d of %d", delivered, total)
			}
			if tt.fsync == FsyncAlways && s.SyncedOffset != s.WriteOffset {
				t.Fatalf("fsync always: synced %d of %d bytes", s.SyncedOffset, s.WriteOffset)
			}
			t.Logf("fsyncs %d for %d appends; %d blocks read from disk", s.Fsyncs, total, s.DiskReadBlocks)
		})
	}
}

func TestFsyncAlways(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Fsync = FsyncAlways
	q := openTest(t, cfg)
	for i := 0; i < 10; i++ {
		appendIDs(t, q.Queue, i, i+1, testPayload, 1)
		if s := q.Stats(); s.SyncedOffset != s.WriteOffset || s.Fsyncs < int64(i+1) {
			t.Fatalf("after Append %d: synced %d of %d, %d fsyncs", i, s.SyncedOffset, s.WriteOffset, s.Fsyncs)
		}
	}

	// Group commit: concurrent appenders share fsyncs.
	before := q.Stats().Fsyncs
	const appenders, per = 16, 50
	var wg sync.WaitGroup
	for g := 0; g < appenders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if err := q.Append(make([]byte, 100), 1); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	s := q.Stats()
	fsyncs := s.Fsyncs - before
	if s.SyncedOffset != s.WriteOffset || fsyncs >= appenders*per {
		t.Fatalf("%d fsyncs for %d concurrent appends (synced %d of %d)", fsyncs, appenders*per, s.SyncedOffset, s.WriteOffset)
	}
	t.Logf("%d fsyncs for %d concurrent appends", fsyncs, appenders*per)
}

func TestFsyncInterval(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Fsync = "20ms"
	q := openTest(t, cfg)
	appendIDs(t, q.Queue, 0, 10, testPayload, 1) // rolls two segments
	if s := q.Stats(); s.Fsyncs != 0 || s.SyncedOffset == s.WriteOffset {
		t.Fatalf("interval policy fsynced in Append: %+v", s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	waitFor(t, 5*time.Second, func() bool { s := q.Stats(); return s.SyncedOffset == s.WriteOffset })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	appendIDs(t, q.Queue, 10, 12, testPayload, 1)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if s := q.Stats(); s.SyncedOffset != s.WriteOffset {
		t.Fatalf("Close left %d of %d bytes unsynced", s.WriteOffset-s.SyncedOffset, s.WriteOffset)
	}
}

func TestRunFlushesMetadata(t *testing.T) {
	dir := t.TempDir()
	q := openTest(t, testConfig(dir))
	appendIDs(t, q.Queue, 0, 3, testPayload, 1)
	blocks := readAll(t, q.Queue)
	if err := q.Ack(blocks[1]); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = q.Run(ctx) }()
	waitFor(t, 5*time.Second, func() bool {
		var m meta
		b, err := os.ReadFile(filepath.Join(dir, metaName))
		return err == nil && json.Unmarshal(b, &m) == nil && m.AckedOffset == blocks[1].Next
	})
}
