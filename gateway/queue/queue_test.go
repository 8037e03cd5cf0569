package queue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"zero fields take defaults", func(c *Config) { *c = Config{Dir: c.Dir} }, ""},
		{"fsync always", func(c *Config) { c.Fsync = "always" }, ""},
		{"fsync interval", func(c *Config) { c.Fsync = "250ms" }, ""},
		{"memory disabled", func(c *Config) { c.MemoryBytes = -1 }, ""},
		{"missing dir", func(c *Config) { c.Dir = "" }, "queue.dir: required"},
		{"bad fsync", func(c *Config) { c.Fsync = "x" }, `queue.fsync: invalid value "x": want "always" or a duration`},
		{"negative fsync", func(c *Config) { c.Fsync = "-1s" }, `queue.fsync: invalid value "-1s": want "always" or a positive duration`},
		{"tiny max bytes", func(c *Config) { c.MaxBytes = 100 }, "queue.max_bytes: invalid value 100: want at least 4096"},
		{"negative segment bytes", func(c *Config) { c.SegmentBytes = -5 }, "queue.segment_bytes: invalid value -5: want at least 1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Dir = "/var/lib/ganlink/queue"
			tt.mod(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Fatalf("Validate = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if _, err := Open(Config{Fsync: "x"}, nil, nil); err == nil || !strings.Contains(err.Error(), "queue.fsync") {
		t.Fatalf("Open with invalid config = %v, want a queue.fsync error", err)
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		blocks   int
		size     int
		segBytes int64
		memory   int64
		ackEvery int
	}{
		{"one block", 1, 10, testSegment, DefaultMemoryBytes, 1},
		{"across segments from memory", 40, testPayload, testSegment, DefaultMemoryBytes, 3},
		{"across segments from disk", 40, testPayload, testSegment, -1, 5},
		{"memory smaller than backlog", 40, testPayload, testSegment, 3 * testFrame, 7},
		{"block larger than a segment", 6, 3000, 2048, DefaultMemoryBytes, 2},
		{"empty payloads", 20, 0, 1024, -1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t.TempDir())
			cfg.SegmentBytes, cfg.MemoryBytes = tt.segBytes, tt.memory
			q := openTest(t, cfg)
			before := time.Now()
			for i := 0; i < tt.blocks; i++ {
				data := make([]byte, tt.size)
				if tt.size >= 9 {
					data = payload(i, tt.size)
				}
				if err := q.Append(data, i+1); err != nil {
					t.Fatalf("Append: %v", err)
				}
			}
			got := readAll(t, q.Queue)
			if len(got) != tt.blocks {
				t.Fatalf("read %d blocks, want %d", len(got), tt.blocks)
			}
			var next uint64
			for i, b := range got {
				if tt.size >= 9 && idOf(t, b) != i {
					t.Fatalf("block %d has id %d", i, idOf(t, b))
				}
				if len(b.Data) != tt.size || b.Points != i+1 {
					t.Fatalf("block %d: %d bytes, %d points; want %d, %d", i, len(b.Data), b.Points, tt.size, i+1)
				}
				if b.Appended.Before(before.Add(-time.Second)) || b.Appended.After(time.Now()) {
					t.Fatalf("block %d: append time %v out of range", i, b.Appended)
				}
				if b.Offset != next {
					t.Fatalf("block %d at offset %d, want %d", i, b.Offset, next)
				}
				next = b.Next
				if (i+1)%tt.ackEvery == 0 || i == len(got)-1 {
					if err := q.Ack(b); err != nil {
						t.Fatalf("Ack: %v", err)
					}
				}
			}
			s := q.Stats()
			if s.PendingBlocks != 0 || s.PendingPoints != 0 || s.PendingBytes != 0 || !s.OldestPending.IsZero() {
				t.Fatalf("after acking everything: %+v", s)
			}
			if want := int64(tt.blocks * (tt.blocks + 1) / 2); s.AckedPoints != want || s.AppendedPoints != want {
				t.Fatalf("acked %d / appended %d points, want %d", s.AckedPoints, s.AppendedPoints, want)
			}
			if s.Segments != 1 || len(segFiles(t, cfg.Dir)) != 1 {
				t.Fatalf("%d segments (%d files) left after acking everything, want only the active one",
					s.Segments, len(segFiles(t, cfg.Dir)))
			}
			if tt.memory < 0 && s.DiskReadBlocks != int64(tt.blocks) {
				t.Fatalf("memory disabled: %d disk reads, want %d", s.DiskReadBlocks, tt.blocks)
			}
		})
	}
}

func TestMemoryFastPath(t *testing.T) {
	q := openTest(t, testConfig(t.TempDir()))
	for i := 0; i < 50; i++ {
		appendIDs(t, q.Queue, i, i+1, testPayload, 10)
		b, ok, err := q.TryRead()
		if err != nil || !ok {
			t.Fatalf("TryRead = %v, %v", ok, err)
		}
		if idOf(t, b) != i {
			t.Fatalf("read id %d, want %d", idOf(t, b), i)
		}
		if err := q.Ack(b); err != nil {
			t.Fatal(err)
		}
	}
	if s := q.Stats(); s.DiskReadBlocks != 0 || s.MemoryBlocks != 0 {
		t.Fatalf("reader keeping up: %d disk reads, %d blocks held; want 0, 0", s.DiskReadBlocks, s.MemoryBlocks)
	}
}

func TestRestartRedeliversUnacked(t *testing.T) {
	tests := []struct {
		name  string
		read  int
		acked int // blocks acknowledged
		crash bool
		run   bool // let Run flush the metadata before the crash
	}{
		{"nothing read", 0, 0, false, false},
		{"read, none acked", 10, 0, false, false},
		{"some acked", 10, 6, false, false},
		{"acked past segments", 15, 13, false, false},
		{"all acked", 20, 20, false, false},
		{"crash after acks flushed by run", 15, 7, true, true},
		{"crash before metadata flush", 15, 7, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			q := openTest(t, testConfig(dir))
			points := func(id int) int { return id%7 + 1 }
			for id := 0; id < 20; id++ {
				if err := q.Append(payload(id, testPayload), points(id)); err != nil {
					t.Fatal(err)
				}
			}
			got := make([]Block, 0, tt.read)
			for i := 0; i < tt.read; i++ {
				b, err := q.Read(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, b)
			}
			if tt.acked > 0 {
				if err := q.Ack(got[tt.acked-1]); err != nil {
					t.Fatal(err)
				}
			}
			if tt.run {
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- q.Run(ctx) }()
				waitFor(t, 3*time.Second, func() bool { return q.Stats().PersistedOffset == q.Stats().AckedOffset })
				cancel()
				if err := <-done; err != nil {
					t.Fatalf("Run: %v", err)
				}
			}
			if tt.crash {
				q.crash()
			} else if err := q.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}

			q2 := openTest(t, testConfig(dir))
			s := q2.Stats()
			gotIDs := ids(t, readAll(t, q2.Queue))
			if len(gotIDs) == 0 {
				if tt.acked != 20 {
					t.Fatal("nothing delivered after restart")
				}
				if s.PendingBlocks != 0 {
					t.Fatalf("pending %d blocks with nothing to read", s.PendingBlocks)
				}
				return
			}
			first := gotIDs[0]
			if !equalInts(gotIDs, seq(first, 20)) {
				t.Fatalf("delivered %v, want a contiguous suffix", gotIDs)
			}
			// A crash may lose the latest acknowledgements but never skips unacknowledged blocks.
			if first > tt.acked || (!tt.crash || tt.run) && first != tt.acked {
				t.Fatalf("delivery restarts at block %d, %d were acknowledged", first, tt.acked)
			}
			wantPoints := 0
			for id := first; id < 20; id++ {
				wantPoints += points(id)
			}
			if s.PendingPoints != int64(wantPoints) || s.PendingBlocks != int64(20-first) ||
				s.PendingBytes != int64((20-first)*testFrame) {
				t.Fatalf("pending %d blocks, %d points, %d bytes; want %d, %d, %d", s.PendingBlocks,
					s.PendingPoints, s.PendingBytes, 20-first, wantPoints, (20-first)*testFrame)
			}
			if s.CorruptBlocks != 0 {
				t.Fatalf("%d corrupt blocks after a clean run", s.CorruptBlocks)
			}
		})
	}
}

func TestStatsOldestPending(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.MemoryBytes = -1
	q := openTest(t, cfg)
	appendIDs(t, q.Queue, 0, 10, testPayload, 10)
	blocks := readAll(t, q.Queue)
	if got := q.Stats().OldestPending; !got.Equal(blocks[0].Appended) {
		t.Fatalf("OldestPending %v, want %v", got, blocks[0].Appended)
	}
	if err := q.Ack(blocks[5]); err != nil {
		t.Fatal(err)
	}
	if got := q.Stats().OldestPending; !got.Equal(blocks[6].Appended) {
		t.Fatalf("OldestPending %v, want %v", got, blocks[6].Appended)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q2 := openTest(t, cfg)
	s := q2.Stats()
	if !s.OldestPending.Equal(blocks[6].Appended) || s.PendingPoints != 40 || s.PendingBlocks != 4 {
		t.Fatalf("after reopen: oldest %v, %d points, %d blocks; want %v, 40, 4",
			s.OldestPending, s.PendingPoints, s.PendingBlocks, blocks[6].Appended)
	}
}

func TestRewindAndAck(t *testing.T) {
	q := openTest(t, testConfig(t.TempDir()))
	appendIDs(t, q.Queue, 0, 10, testPayload, 1)
	first := readAll(t, q.Queue)[:6]
	q.Rewind()
	if got := ids(t, readAll(t, q.Queue)); !equalInts(got, seq(0, 10)) {
		t.Fatalf("after Rewind read %v", got)
	}
	if err := q.Ack(first[3]); err != nil {
		t.Fatal(err)
	}
	q.Rewind()
	if got := ids(t, readAll(t, q.Queue)[:2]); !equalInts(got, []int{4, 5}) {
		t.Fatalf("after Ack and Rewind read %v, want 4, 5", got)
	}
	if err := q.Ack(first[2]); err != nil {
		t.Fatalf("Ack of an already acknowledged block: %v", err)
	}
	q.Rewind()
	if err := q.Ack(first[5]); !errors.Is(err, ErrNotDelivered) {
		t.Fatalf("Ack of a block given up by Rewind = %v, want ErrNotDelivered", err)
	}
	if s := q.Stats(); s.AckedPoints != 4 || s.PendingBlocks != 6 || s.InFlightBlocks != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestReadWaits(t *testing.T) {
	q := openTest(t, testConfig(t.TempDir()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := q.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read on an empty queue = %v, want deadline exceeded", err)
	}

	got := make(chan Block, 1)
	go func() {
		b, err := q.Read(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- b
	}()
	time.Sleep(10 * time.Millisecond)
	appendIDs(t, q.Queue, 7, 8, 100, 1)
	select {
	case b := <-got:
		if idOf(t, b) != 7 {
			t.Fatalf("read id %d", idOf(t, b))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read not woken by Append")
	}

	errc := make(chan error, 1)
	go func() { _, err := q.Read(context.Background()); errc <- err }()
	time.Sleep(10 * time.Millisecond)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Read after Close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read not woken by Close")
	}
	if err := q.Append([]byte("x"), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
	if _, _, err := q.TryRead(); !errors.Is(err, ErrClosed) {
		t.Fatalf("TryRead after Close = %v, want ErrClosed", err)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDir := dir + "/file"
	mustWrite(t, notDir, []byte("x"))
	if _, err := Open(testConfig(notDir+"/queue"), nil, nil); err == nil {
		t.Fatal("Open under a regular file succeeded")
	}
	q := openTest(t, testConfig(dir+"/q"))
	if _, err := Open(testConfig(dir+"/q"), nil, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open of the same directory = %v, want ErrLocked", err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q2, err := Open(testConfig(dir+"/q"), nil, nil)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	_ = q2.Close()
}

func TestMetrics(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Fsync = FsyncAlways
	q := openTest(t, cfg)
	appendIDs(t, q.Queue, 0, 5, testPayload, 10)
	blocks := readAll(t, q.Queue)
	if err := q.Ack(blocks[1]); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]prometheus.Collector{"stats": q.metrics.stats, "fsync": q.metrics.fsyncSeconds} {
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatalf("lint %s: %v", name, err)
		}
		for _, p := range problems {
			t.Errorf("lint %s: %s: %s", name, p.Metric, p.Text)
		}
	}
	want := `
# HELP ganlink_queue_acked_points_total Points in blocks acknowledged by the reader.
# TYPE ganlink_queue_acked_points_total counter
ganlink_queue_acked_points_total 20
# HELP ganlink_queue_appended_points_total Points in blocks appended.
# TYPE ganlink_queue_appended_points_total counter
ganlink_queue_appended_points_total 50
# HELP ganlink_queue_pending_points Points in blocks appended and not yet acknowledged.
# TYPE ganlink_queue_pending_points gauge
ganlink_queue_pending_points 30
# HELP ganlink_queue_pending_bytes Framed bytes of blocks appended and not yet acknowledged.
# TYPE ganlink_queue_pending_bytes gauge
ganlink_queue_pending_bytes 3072
# HELP ganlink_queue_segments Number of segment files.
# TYPE ganlink_queue_segments gauge
ganlink_queue_segments 2
# HELP ganlink_queue_dropped_points_total Points dropped by the queue: oldest data dropped to stay within max_bytes (disk_full), blocks refused as larger than max_bytes (too_large), blocks lost to damage found while reading (corrupt).
# TYPE ganlink_queue_dropped_points_total counter
ganlink_queue_dropped_points_total{reason="corrupt"} 0
ganlink_queue_dropped_points_total{reason="disk_full"} 0
ganlink_queue_dropped_points_total{reason="too_large"} 0
`
	if err := testutil.GatherAndCompare(q.reg, strings.NewReader(want),
		"ganlink_queue_acked_points_total", "ganlink_queue_appended_points_total", "ganlink_queue_pending_points",
		"ganlink_queue_pending_bytes", "ganlink_queue_segments", "ganlink_queue_dropped_points_total"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"ganlink_queue_oldest_pending_age_seconds", "ganlink_queue_appended_blocks_total",
		"ganlink_queue_appended_bytes_total", "ganlink_queue_corrupt_blocks_total",
		"ganlink_queue_quarantined_bytes_total", "ganlink_queue_fsync_duration_seconds",
		"ganlink_queue_disk_usage_bytes", "ganlink_queue_pending_blocks",
	} {
		if n, err := testutil.GatherAndCount(q.reg, name); err != nil || n == 0 {
			t.Errorf("metric %s: %d series, %v", name, n, err)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if n, _ := testutil.GatherAndCount(q.reg); n != 0 {
		t.Fatalf("%d series still registered after Close", n)
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
