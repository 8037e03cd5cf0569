package queue

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestDiskFullDropsOldest(t *testing.T) {
	// 1024-byte frames, 4 to a segment, 16 within MaxBytes.
	tests := []struct {
		name        string
		appends     int
		read, acked int // before the appends that overflow
		wantFirst   int // first id delivered afterwards
		wantDropped int64
		wantBlocks  int64
	}{
		{"fits exactly", 16, 0, 0, 0, 0, 0},
		{"one block over drops one segment", 17, 0, 0, 4, 40, 4},
		{"four blocks over drop one segment", 20, 0, 0, 4, 40, 4},
		{"five blocks over drop two segments", 21, 0, 0, 8, 80, 8},
		{"acknowledged blocks are not counted", 17, 3, 3, 4, 10, 1},
		{"blocks in flight are counted", 17, 6, 2, 6, 20, 2},
		{"long overflow", 100, 0, 0, 84, 840, 84},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(dir)
			cfg.MaxBytes = 16 * testFrame
			q := openTest(t, cfg)
			appendIDs(t, q.Queue, 0, 8, testPayload, 10)
			var inflight []Block
			for i := 0; i < tt.read; i++ {
				b, ok, err := q.TryRead()
				if err != nil || !ok {
					t.Fatalf("TryRead: %v %v", ok, err)
				}
				inflight = append(inflight, b)
			}
			if tt.acked > 0 {
				if err := q.Ack(inflight[tt.acked-1]); err != nil {
					t.Fatal(err)
				}
			}
			appendIDs(t, q.Queue, 8, tt.appends, testPayload, 10)

			s := q.Stats()
			if s.DroppedPointsDiskFull != tt.wantDropped || s.DroppedBlocksDiskFull != tt.wantBlocks {
				t.Fatalf("dropped %d points in %d blocks, want %d in %d", s.DroppedPointsDiskFull,
					s.DroppedBlocksDiskFull, tt.wantDropped, tt.wantBlocks)
			}
			if s.DiskBytes > cfg.MaxBytes {
				t.Fatalf("disk %d bytes > MaxBytes %d", s.DiskBytes, cfg.MaxBytes)
			}
			var size int64
			for _, p := range segFiles(t, dir) {
				size += int64(len(mustRead(t, p)))
			}
			if size != s.DiskBytes {
				t.Fatalf("segment files hold %d bytes, Stats says %d", size, s.DiskBytes)
			}
			// Blocks read before the drop and still present are not delivered twice.
			wantFirst := max(tt.wantFirst, tt.read)
			got := ids(t, readAll(t, q.Queue))
			if !equalInts(got, seq(wantFirst, tt.appends)) {
				t.Fatalf("delivered %v, want %d..%d", got, wantFirst, tt.appends-1)
			}
			if tt.wantDropped > 0 && !logHas(q.log, "queue full: dropped oldest segment") {
				t.Fatalf("drop not logged:\n%s", q.log)
			}
			// Acknowledging a block that was dropped is a no-op.
			for _, b := range inflight {
				if err := q.Ack(b); err != nil {
					t.Fatalf("Ack of block %d: %v", idOf(t, b), err)
				}
			}
			// Every block appended is acknowledged, pending or dropped, exactly once.
			if s := q.Stats(); s.AckedBlocks+s.PendingBlocks+s.DroppedBlocksDiskFull != int64(tt.appends) ||
				s.PendingPoints != 10*s.PendingBlocks {
				t.Fatalf("acked %d + pending %d (%d points) + dropped %d blocks, want %d in all",
					s.AckedBlocks, s.PendingBlocks, s.PendingPoints, s.DroppedBlocksDiskFull, tt.appends)
			}
			want := `
# HELP ganlink_queue_dropped_points_total Points dropped by the queue: oldest data dropped to stay within max_bytes (disk_full), blocks refused as larger than max_bytes (too_large), blocks lost to damage found while reading (corrupt).
# TYPE ganlink_queue_dropped_points_total counter
ganlink_queue_dropped_points_total{reason="corrupt"} 0
ganlink_queue_dropped_points_total{reason="disk_full"} ` + strconv.FormatInt(tt.wantDropped, 10) + `
ganlink_queue_dropped_points_total{reason="too_large"} 0
`
			if err := testutil.GatherAndCompare(q.reg, strings.NewReader(want), "ganlink_queue_dropped_points_total"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDiskFullBlockFillingTheBudget(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.MaxBytes = 8 * testFrame // segments lowered to 2 frames
	q := openTest(t, cfg)
	appendIDs(t, q.Queue, 0, 8, testPayload, 10)
	big := payload(99, int(cfg.MaxBytes)-headerSize)
	if err := q.Append(big, 5); err != nil {
		t.Fatalf("Append of a block of exactly MaxBytes: %v", err)
	}
	s := q.Stats()
	if s.DroppedPointsDiskFull != 80 || s.PendingPoints != 5 || s.DiskBytes != cfg.MaxBytes || s.Segments != 1 {
		t.Fatalf("after the big block: %+v", s)
	}
	if got := ids(t, readAll(t, q.Queue)); !equalInts(got, []int{99}) {
		t.Fatalf("delivered %v, want the newest block only", got)
	}
}

func TestTooLarge(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MaxBytes = 8192
	q := openTest(t, cfg)
	err := q.Append(make([]byte, 8192-headerSize+1), 7)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "queue.max_bytes") {
		t.Fatalf("Append of an oversized block = %v, want ErrTooLarge naming queue.max_bytes", err)
	}
	if err := q.Append([]byte("fits"), 1); err != nil {
		t.Fatal(err)
	}
	s := q.Stats()
	if s.DroppedPointsTooLarge != 7 || s.AppendedBlocks != 1 || s.PendingPoints != 1 {
		t.Fatalf("stats %+v", s)
	}
	if err := q.Append(nil, -1); err == nil {
		t.Fatal("Append with negative points succeeded")
	}
}
