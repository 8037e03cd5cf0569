package queue

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ganlink/ganlink/internal/testutil"
)

// Test geometry: a 1000-byte payload makes a 1024-byte frame, four to a 4 KiB segment.
const (
	testPayload = 1000
	testFrame   = testPayload + headerSize
	testSegment = 4 * testFrame
)

func testLogger(t testing.TB) (*slog.Logger, *testutil.LogBuffer) {
	t.Helper()
	lb := &testutil.LogBuffer{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// testConfig is the small geometry most tests use.
func testConfig(dir string) Config {
	c := DefaultConfig()
	c.Dir = dir
	c.SegmentBytes = testSegment
	c.MaxBytes = 1 << 20
	return c
}

type testQueue struct {
	*Queue
	reg *prometheus.Registry
	log *testutil.LogBuffer
}

func openTest(t testing.TB, cfg Config) *testQueue {
	t.Helper()
	log, lb := testLogger(t)
	reg := prometheus.NewRegistry()
	q, err := Open(cfg, log, reg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return &testQueue{Queue: q, reg: reg, log: lb}
}

// payload returns a block of size bytes identified by id.
func payload(id, size int) []byte {
	b := bytes.Repeat([]byte{byte('a' + id%26)}, size)
	copy(b, fmt.Sprintf("%08d|", id))
	return b
}

func idOf(t testing.TB, b Block) int {
	t.Helper()
	id, err := strconv.Atoi(string(b.Data[:8]))
	if err != nil {
		t.Fatalf("block at offset %d: bad payload %q", b.Offset, b.Data[:min(len(b.Data), 16)])
	}
	if want := payload(id, len(b.Data)); !bytes.Equal(b.Data, want) {
		t.Fatalf("block %d at offset %d: payload differs", id, b.Offset)
	}
	return id
}

func appendIDs(t testing.TB, q *Queue, from, to, size, points int) {
	t.Helper()
	for id := from; id < to; id++ {
		if err := q.Append(payload(id, size), points); err != nil {
			t.Fatalf("Append(%d): %v", id, err)
		}
	}
}

// readAll reads until no block is available, checking frame continuity.
func readAll(t testing.TB, q *Queue) []Block {
	t.Helper()
	var out []Block
	for {
		b, ok, err := q.TryRead()
		if err != nil {
			t.Fatalf("TryRead: %v", err)
		}
		if !ok {
			return out
		}
		if b.Next != b.Offset+uint64(headerSize+len(b.Data)) {
			t.Fatalf("block at %d: Next %d does not match its length %d", b.Offset, b.Next, len(b.Data))
		}
		if len(out) > 0 && b.Offset < out[len(out)-1].Next {
			t.Fatalf("block at %d overlaps the previous one ending at %d", b.Offset, out[len(out)-1].Next)
		}
		out = append(out, b)
	}
}

func ids(t testing.TB, blocks []Block) []int {
	t.Helper()
	out := make([]int, 0, len(blocks))
	for _, b := range blocks {
		out = append(out, idOf(t, b))
	}
	return out
}

func seq(from, to int) []int {
	out := []int{}
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func without(s []int, drop ...int) []int {
	out := []int{}
	for _, v := range s {
		if !containsInt(drop, v) {
			out = append(out, v)
		}
	}
	return out
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// segFiles lists the segment files of dir in offset order.
func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

func quarantined(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(dir, quarantineName))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// crash abandons the queue as a killed process would: no fsync, no metadata flush.
func (q *Queue) crash() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	close(q.dataCh)
	for q.syncing {
		q.syncCond.Wait()
	}
	for _, f := range q.rolled {
		_ = f.Close()
	}
	q.rolled = nil
	if q.active != nil {
		_ = q.active.Close()
		q.active = nil
	}
	q.finished = true
	q.mu.Unlock()
	q.readMu.Lock()
	q.rd.close()
	q.readMu.Unlock()
	q.metrics.unregister()
	_ = q.lockFile.Close()
}

func mustWrite(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func logHas(l *testutil.LogBuffer, s string) bool { return strings.Contains(l.String(), s) }
