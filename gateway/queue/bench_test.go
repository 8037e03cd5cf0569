package queue

import (
	"context"
	"math/rand/v2"
	"runtime"
	"testing"
)

const (
	benchBlockBytes  = 1024
	benchBlockPoints = 10
)

func benchPayload() []byte {
	r := rand.New(rand.NewPCG(7, 7))
	b := make([]byte, benchBlockBytes)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

func openBench(b *testing.B, cfg Config) *Queue {
	b.Helper()
	q, err := Open(cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = q.Close() })
	return q
}

// BenchmarkAppend appends 1 KiB blocks of 10 points with Run doing its periodic work.
func BenchmarkAppend(b *testing.B) {
	for _, tc := range []struct {
		name      string
		fsync     string
		appenders int
	}{
		{"fsync=1s/appenders=1", "1s", 1},
		{"fsync=1s/appenders=8", "1s", 8},
		{"fsync=always/appenders=1", FsyncAlways, 1},
		{"fsync=always/appenders=16", FsyncAlways, 16},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Dir, cfg.Fsync = b.TempDir(), tc.fsync
			q := openBench(b, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- q.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					b.Error(err)
				}
			}()
			data := benchPayload()
			b.SetBytes(benchBlockBytes)
			b.ReportAllocs()
			b.ResetTimer()
			if tc.appenders == 1 {
				for i := 0; i < b.N; i++ {
					if err := q.Append(data, benchBlockPoints); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.SetParallelism((tc.appenders + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := q.Append(data, benchBlockPoints); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*benchBlockPoints)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// BenchmarkReplay reads and acknowledges 1 KiB blocks of 10 points, acknowledging every
// 100th block as a sink writing batches would. source=memory: the reader keeps up, blocks
// come from the in-memory fast path (appended untimed in batches of 1000). source=disk: a
// backlog replayed after a restart from the segment files (in the page cache).
func BenchmarkReplay(b *testing.B) {
	data := benchPayload()
	readAck := func(b *testing.B, q *Queue, n int) {
		for i := 0; i < n; i++ {
			blk, ok, err := q.TryRead()
			if err != nil || !ok {
				b.Fatalf("TryRead: %v %v", ok, err)
			}
			if i%100 == 99 || i == n-1 {
				if err := q.Ack(blk); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	report := func(b *testing.B, q *Queue) {
		b.ReportMetric(float64(b.N*benchBlockPoints)/b.Elapsed().Seconds(), "points/s")
		if s := q.Stats(); s.PendingBlocks != 0 {
			b.Fatalf("%d blocks pending after replay", s.PendingBlocks)
		}
	}

	b.Run("source=memory", func(b *testing.B) {
		cfg := DefaultConfig()
		cfg.Dir = b.TempDir()
		q := openBench(b, cfg)
		b.SetBytes(benchBlockBytes)
		b.ReportAllocs()
		b.ResetTimer()
		for done := 0; done < b.N; {
			n := min(1000, b.N-done)
			b.StopTimer()
			for i := 0; i < n; i++ {
				if err := q.Append(data, benchBlockPoints); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			readAck(b, q, n)
			done += n
		}
		b.StopTimer()
		if s := q.Stats(); s.DiskReadBlocks != 0 {
			b.Fatalf("%d blocks read from disk", s.DiskReadBlocks)
		}
		report(b, q)
	})

	b.Run("source=disk", func(b *testing.B) {
		cfg := DefaultConfig()
		cfg.Dir = b.TempDir()
		cfg.MaxBytes = max(cfg.MaxBytes, int64(b.N)*2*benchBlockBytes)
		q, err := Open(cfg, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < b.N; i++ {
			if err := q.Append(data, benchBlockPoints); err != nil {
				b.Fatal(err)
			}
		}
		if err := q.Close(); err != nil {
			b.Fatal(err)
		}
		q = openBench(b, cfg)
		b.SetBytes(benchBlockBytes)
		b.ReportAllocs()
		b.ResetTimer()
		readAck(b, q, b.N)
		b.StopTimer()
		report(b, q)
	})
}

// BenchmarkOpen measures the verification scan of a 64 MiB backlog done by Open.
func BenchmarkOpen(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Dir = b.TempDir()
	q, err := Open(cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	data := benchPayload()
	const blocks = 64 << 10
	for i := 0; i < blocks; i++ {
		if err := q.Append(data, benchBlockPoints); err != nil {
			b.Fatal(err)
		}
	}
	if err := q.Close(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(blocks * (benchBlockBytes + headerSize))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q, err := Open(cfg, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		if s := q.Stats(); s.PendingBlocks != blocks {
			b.Fatalf("%d blocks pending, want %d", s.PendingBlocks, blocks)
		}
		b.StopTimer()
		_ = q.Close()
		b.StartTimer()
	}
}
