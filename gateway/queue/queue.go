package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	// ErrClosed is returned by every operation on a closed Queue.
	ErrClosed = errors.New("queue closed")
	// ErrTooLarge is returned by Append for a block whose frame exceeds MaxBytes.
	ErrTooLarge = errors.New("block too large")
	// ErrLocked is returned by Open when another Queue holds the directory.
	ErrLocked = errors.New("queue directory in use")
	// ErrNotDelivered is returned by Ack for a block that Read has not returned since the
	// last Rewind.
	ErrNotDelivered = errors.New("block not delivered")
)

// dropLogEvery throttles the warnings logged when the disk budget forces a drop.
const dropLogEvery = 10 * time.Second

// Block is one appended block as returned by Read.
type Block struct {
	// Offset is the position of the block in the queue's byte stream.
	Offset uint64
	// Next is the offset just past the block; acknowledging the block commits it.
	Next uint64
	// Data is the payload. It is shared with the queue and must not be modified.
	Data []byte
	// Points is the point count given to Append.
	Points int
	// Appended is when the block was appended.
	Appended time.Time
}

// Stats is a snapshot of the queue's state and of its counters since Open.
type Stats struct {
	// PendingBlocks, PendingPoints and PendingBytes cover the blocks appended and not yet
	// acknowledged, including those in flight. PendingBytes counts framed bytes on disk.
	PendingBlocks int64
	PendingPoints int64
	PendingBytes  int64
	// OldestPending is the append time of the oldest pending block; zero if none.
	OldestPending time.Time
	// InFlightBlocks were returned by Read and are not yet acknowledged.
	InFlightBlocks int64
	// DiskBytes is the total size of the segment files; Segments is their number.
	DiskBytes int64
	Segments  int

	AppendedBlocks int64
	AppendedPoints int64
	AppendedBytes  int64
	AckedBlocks    int64
	AckedPoints    int64

	// DroppedPointsDiskFull counts points of unacknowledged blocks dropped to stay within
	// MaxBytes (DroppedBlocksDiskFull their blocks); DroppedPointsTooLarge those of blocks
	// refused by Append; DroppedPointsCorrupt those of blocks lost to damage found while
	// reading (damage found by Open cannot be counted in points).
	DroppedPointsDiskFull int64
	DroppedBlocksDiskFull int64
	DroppedPointsTooLarge int64
	DroppedPointsCorrupt  int64
	CorruptBlocks         int64 // damaged regions found; each contiguous region counts once
	QuarantinedBytes      int64 // bytes moved or copied into quarantine/
	Fsyncs                int64
	DiskReadBlocks        int64 // blocks Read took from segment files rather than memory
	AckedOffset           uint64
	ReadOffset            uint64
	WriteOffset           uint64
	SyncedOffset          uint64
	PersistedOffset       uint64 // committed offset recorded in the metadata file
	MemoryBlocks          int    // blocks held for the in-memory fast path
	MemoryBytes           int64
}

// segment is one live segment file. Its frames are all valid from 0 to size.
type segment struct {
	start uint64
	size  int64
	path  string

	blocks, points                       int64
	ackedBlocks, ackedPoints, ackedBytes int64
}

func (s *segment) end() uint64 { return s.start + uint64(s.size) }

// inflight is a block returned by Read and not yet acknowledged.
type inflight struct {
	off, next uint64
	points    int64
}

// Queue is a durable FIFO of opaque blocks on disk. Append is safe for concurrent use;
// Read, TryRead, Ack and Rewind are for a single reader. Run must be running for the
// interval fsync and the periodic metadata flush. See the package documentation for the
// file format and guarantees.
type Queue struct {
	dir      string
	log      *slog.Logger
	maxBytes int64
	segBytes int64
	memBytes int64
	always   bool
	interval time.Duration
	lockFile *os.File
	metrics  *metrics

	mu       sync.Mutex
	syncCond *sync.Cond // signalled when a sync finishes
	closed   bool
	finished bool  // Close has released the directory
	broken   error // sticky: a failed fsync or an unrecoverable write error
	syncing  bool  // an fsync runs outside mu

	segs      []*segment // live segments in offset order; the last may be active
	active    *os.File   // append handle of activeSeg
	activeSeg *segment
	rolled    []*os.File // append handles of segments rolled since the last sync; the next sync fsyncs and closes them
	dirDirty  bool       // a segment was created since the last sync
	toDelete  []string   // acknowledged segments to remove once the metadata is durable
	diskBytes int64

	writeOff       uint64
	syncedOff      uint64
	ackedOff       uint64
	readOff        uint64
	persistedAcked uint64
	persistedValid bool   // persistedAcked is what the metadata file holds
	gen            uint64 // bumped when the read position moves other than by Read

	inflight     []inflight
	inflightHead int
	mem          memRing

	dataCh        chan struct{} // closed to wake a waiting reader
	readerWaiting bool

	pendingBlocks, pendingPoints, pendingBytes int64
	st                                         counters
	oldestOff                                  uint64
	oldestAt                                   int64
	dropLog                                    throttle

	readMu sync.Mutex // held by TryRead; owns rd
	rd     diskReader
	metaMu sync.Mutex // serialises metadata writes
}

type counters struct {
	appendedBlocks, appendedPoints, appendedBytes int64
	ackedBlocks, ackedPoints                      int64
	droppedDiskFull, droppedDiskFullBlocks        int64
	droppedTooLarge, droppedCorrupt               int64
	corruptBlocks, quarantinedBytes               int64
	fsyncs, diskReads                             int64
}

// Open opens or creates the queue in cfg.Dir, repairing whatever it finds there: damaged
// bytes and unexpected files are moved to <dir>/quarantine/ and logged. It fails only if
// the configuration is invalid or the directory cannot be used (not creatable, not
// writable, locked by another Queue), never because of the contents of queue files.
// log may be nil (nothing is logged); reg may be nil (metrics are not registered).
// Open starts no goroutine: call Run.
func Open(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Queue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open queue: %w", err)
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	always, interval, _ := parseFsync(cfg.Fsync)
	q := &Queue{
		dir:      cfg.Dir,
		log:      log.With("queue_dir", cfg.Dir),
		maxBytes: cfg.MaxBytes,
		segBytes: cfg.effectiveSegmentBytes(),
		memBytes: max(cfg.MemoryBytes, 0),
		always:   always,
		interval: interval,
		dataCh:   make(chan struct{}),
		dropLog:  throttle{every: dropLogEvery},
	}
	q.syncCond = sync.NewCond(&q.mu)
	if q.segBytes != cfg.SegmentBytes {
		q.log.Info("segment size lowered to a quarter of queue.max_bytes",
			"segment_bytes", cfg.SegmentBytes, "effective_segment_bytes", q.segBytes)
	}
	if err := os.MkdirAll(q.dir, 0o755); err != nil {
		return nil, fmt.Errorf("open queue: create directory %q: %w", q.dir, err)
	}
	lf, err := lockDir(filepath.Join(q.dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("open queue: %w", err)
	}
	q.lockFile = lf
	if err := q.recover(); err != nil {
		q.releaseFiles()
		return nil, fmt.Errorf("open queue %q: %w", q.dir, err)
	}
	m, err := newMetrics(q, reg)
	if err != nil {
		q.releaseFiles()
		return nil, fmt.Errorf("open queue: %w", err)
	}
	q.metrics = m
	return q, nil
}

// releaseFiles closes the writer and the directory lock after a failed Open.
func (q *Queue) releaseFiles() {
	if q.active != nil {
		_ = q.active.Close()
		q.active = nil
	}
	_ = q.lockFile.Close()
}

// Append writes one block holding data (copied) and points, the number of points it
// carries. On return the block is durable under the Fsync policy: fsynced with "always",
// written to the operating system (surviving a crash of the process, not a power failure
// until the next interval fsync) otherwise. If the block does not fit in MaxBytes the
// oldest segments are dropped and counted; a block larger than MaxBytes itself is refused
// with an error wrapping ErrTooLarge. Safe for concurrent use.
func (q *Queue) Append(data []byte, points int) error {
	if points < 0 || uint64(points) > math.MaxUint32 {
		return fmt.Errorf("append block: invalid point count %d", points)
	}
	n := int64(headerSize) + int64(len(data))
	if n > q.maxBytes || uint64(len(data)) > maxPayload {
		q.mu.Lock()
		q.st.droppedTooLarge += int64(points)
		q.mu.Unlock()
		return fmt.Errorf("append block: %d bytes framed exceed queue.max_bytes %d: %w", n, q.maxBytes, ErrTooLarge)
	}
	frame := make([]byte, n)
	now := time.Now().UnixNano()
	encodeFrame(frame, data, uint32(points), now)

	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return fmt.Errorf("append block: %w", ErrClosed)
	}
	if q.broken != nil {
		return fmt.Errorf("append block: %w", q.broken)
	}
	if err := q.makeRoomLocked(n); err != nil {
		return fmt.Errorf("append block: %w", err)
	}
	seg := q.activeSeg
	if _, err := q.active.Write(frame); err != nil {
		if terr := q.active.Truncate(seg.size); terr != nil {
			q.broken = fmt.Errorf("undo partial write to %q: %w", seg.path, terr)
			q.log.Error("queue unusable until restart", "err", q.broken)
		}
		return fmt.Errorf("append block: write %q: %w", seg.path, err)
	}
	off := q.writeOff
	q.writeOff += uint64(n)
	seg.size += n
	seg.blocks++
	seg.points += int64(points)
	q.diskBytes += n
	q.pendingBlocks++
	q.pendingPoints += int64(points)
	q.pendingBytes += n
	q.st.appendedBlocks++
	q.st.appendedPoints += int64(points)
	q.st.appendedBytes += n
	if q.memBytes > 0 {
		q.mem.push(memBlock{off: off, frame: frame, points: int64(points), appended: now}, q.memBytes)
	}
	if q.readerWaiting {
		close(q.dataCh)
		q.dataCh = make(chan struct{})
		q.readerWaiting = false
	}
	if !q.always {
		return nil
	}
	// Group commit: the first waiter fsyncs for everyone written so far.
	end := q.writeOff
	for q.syncedOff < end {
		if q.broken != nil {
			return fmt.Errorf("append block: %w", q.broken)
		}
		if q.syncing {
			q.syncCond.Wait()
			continue
		}
		// Close closes the files only once no sync is running and everything is synced,
		// so this is safe even if Close has started.
		if err := q.syncLocked(); err != nil {
			return fmt.Errorf("append block: %w", err)
		}
	}
	return nil
}

// makeRoomLocked drops the oldest segments until a frame of n bytes fits in MaxBytes and
// makes sure an active segment with room for it exists.
func (q *Queue) makeRoomLocked(n int64) error {
	for q.diskBytes+n > q.maxBytes && len(q.segs) > 0 {
		if len(q.segs) == 1 && q.segs[0] == q.activeSeg {
			if err := q.rollLocked(); err != nil {
				return err
			}
		}
		q.dropOldestLocked()
	}
	if q.active == nil || (q.activeSeg.size > 0 && q.activeSeg.size+n > q.segBytes) {
		return q.rollLocked()
	}
	return nil
}

// rollLocked starts a new segment at the write offset. The previous one stays open until
// the next sync has fsynced it (a sync running now may be using it).
func (q *Queue) rollLocked() error {
	if q.active != nil {
		q.rolled = append(q.rolled, q.active)
		q.active, q.activeSeg = nil, nil
	}
	path := segPath(q.dir, q.writeOff)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("create segment %q: %w", path, err)
	}
	seg := &segment{start: q.writeOff, path: path}
	q.segs = append(q.segs, seg)
	q.active, q.activeSeg = f, seg
	q.dirDirty = true
	return nil
}

// dropOldestLocked deletes the oldest segment to free disk space, moving the committed
// and read positions past it and counting what was still pending in it.
func (q *Queue) dropOldestLocked() {
	s := q.segs[0]
	q.segs = slices.Delete(q.segs, 0, 1)
	q.diskBytes -= s.size
	blocks, points, bytes := s.blocks-s.ackedBlocks, s.points-s.ackedPoints, s.size-s.ackedBytes
	q.pendingBlocks -= blocks
	q.pendingPoints -= points
	q.pendingBytes -= bytes
	q.st.droppedDiskFull += points
	q.st.droppedDiskFullBlocks += blocks
	next := q.writeOff
	if len(q.segs) > 0 {
		next = q.segs[0].start
	}
	q.advanceAckedLocked(next)
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		q.log.Warn("remove dropped segment", "path", s.path, "err", err)
	}
	if ok, suppressed := q.dropLog.allow(time.Now()); ok {
		q.log.Warn("queue full: dropped oldest segment",
			"path", s.path, "from_offset", s.start, "to_offset", s.end(),
			"dropped_blocks", blocks, "dropped_points", points,
			"max_bytes", q.maxBytes, "dropped_points_total", q.st.droppedDiskFull,
			"suppressed_warnings", suppressed)
	}
}

// advanceAckedLocked moves the committed position forward to off without a reader's
// acknowledgement (data dropped), discarding in-flight blocks below it.
func (q *Queue) advanceAckedLocked(off uint64) {
	if off <= q.ackedOff {
		return
	}
	q.ackedOff = off
	if q.readOff < off {
		q.readOff = off
	}
	for q.inflightHead < len(q.inflight) && q.inflight[q.inflightHead].off < off {
		q.inflightHead++
	}
	q.compactInflight()
	q.mem.evictBelow(off)
	q.gen++
}

func (q *Queue) compactInflight() {
	if q.inflightHead == len(q.inflight) {
		q.inflight = q.inflight[:0]
		q.inflightHead = 0
	} else if q.inflightHead >= 1024 && 2*q.inflightHead >= len(q.inflight) {
		k := copy(q.inflight, q.inflight[q.inflightHead:])
		q.inflight = q.inflight[:k]
		q.inflightHead = 0
	}
}

// syncLocked fsyncs everything written so far: rolled segments, the active segment and,
// if segments were created, the directory. mu is released during the fsync.
func (q *Queue) syncLocked() error {
	target := q.writeOff
	rolled := q.rolled
	q.rolled = nil
	f := q.active
	dir := q.dirDirty
	q.dirDirty = false
	q.syncing = true
	q.mu.Unlock()

	start := time.Now()
	err := q.syncFiles(rolled, f, dir)
	elapsed := time.Since(start)
	for _, r := range rolled {
		_ = r.Close()
	}

	q.mu.Lock()
	q.syncing = false
	q.st.fsyncs++
	if q.metrics != nil {
		q.metrics.fsyncSeconds.Observe(elapsed.Seconds())
	}
	if err != nil {
		if q.broken == nil {
			q.broken = fmt.Errorf("sync queue: %w", err)
			q.log.Error("fsync failed; appends fail until restart", "err", err)
		}
		q.syncCond.Broadcast()
		return q.broken
	}
	if target > q.syncedOff {
		q.syncedOff = target
	}
	q.syncCond.Broadcast()
	return nil
}

func (q *Queue) syncFiles(rolled []*os.File, active *os.File, dir bool) error {
	for _, f := range rolled {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("sync segment %q: %w", f.Name(), err)
		}
	}
	if active != nil {
		if err := active.Sync(); err != nil {
			return fmt.Errorf("sync segment %q: %w", active.Name(), err)
		}
	}
	if dir {
		return syncDir(q.dir)
	}
	return nil
}

// syncNow fsyncs everything appended so far. Run calls it at the configured interval.
func (q *Queue) syncNow() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.syncing {
		q.syncCond.Wait()
	}
	if q.closed {
		return nil
	}
	if q.broken != nil {
		return q.broken
	}
	if q.syncedOff == q.writeOff && len(q.rolled) == 0 && !q.dirDirty {
		return nil
	}
	return q.syncLocked()
}

// Read returns the next block after the last one Read returned, waiting until one is
// appended or ctx is done. Blocks come back in append order; each stays pending until
// acknowledged. For a single reader.
func (q *Queue) Read(ctx context.Context) (Block, error) {
	for {
		b, ok, err := q.TryRead()
		if err != nil || ok {
			return b, err
		}
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return Block{}, fmt.Errorf("read block: %w", ErrClosed)
		}
		if q.readOff < q.writeOff {
			q.mu.Unlock()
			continue
		}
		ch := q.dataCh
		q.readerWaiting = true
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return Block{}, fmt.Errorf("read block: %w", ctx.Err())
		case <-ch:
		}
	}
}

// TryRead is Read without waiting: ok is false when no block is available.
func (q *Queue) TryRead() (b Block, ok bool, err error) {
	q.readMu.Lock()
	defer q.readMu.Unlock()
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return Block{}, false, fmt.Errorf("read block: %w", ErrClosed)
		}
		r := q.skipGapLocked()
		if r >= q.writeOff {
			q.mu.Unlock()
			return Block{}, false, nil
		}
		if mb, found := q.mem.find(r); found {
			b = mb.block()
			q.deliverLocked(b)
			q.mu.Unlock()
			return b, true, nil
		}
		seg := q.segmentAtLocked(r)
		if seg == nil { // unreachable: skipGapLocked lands inside a segment
			q.mu.Unlock()
			return Block{}, false, fmt.Errorf("read block: no segment holds offset %d", r)
		}
		gen, start, path := q.gen, seg.start, seg.path
		pos, limit := int64(r-seg.start), seg.size
		q.mu.Unlock()

		b, err = q.rd.read(path, start, pos, limit)
		skipTo := int64(-1)
		if errors.Is(err, errCorrupt) {
			skipTo = q.resyncRead(path, start, pos, limit)
		}

		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return Block{}, false, fmt.Errorf("read block: %w", ErrClosed)
		}
		if q.gen != gen || q.readOff != r {
			q.mu.Unlock()
			continue
		}
		if skipTo >= 0 {
			q.st.corruptBlocks++
			q.readOff = start + uint64(skipTo)
			q.gen++
			q.mu.Unlock()
			continue
		}
		if err != nil {
			q.mu.Unlock()
			return Block{}, false, fmt.Errorf("read block: %w", err)
		}
		q.st.diskReads++
		q.deliverLocked(b)
		q.mu.Unlock()
		return b, true, nil
	}
}

// skipGapLocked moves the read position past a range that no segment holds (data lost
// before Open, or damage skipped) and returns it.
func (q *Queue) skipGapLocked() uint64 {
	r := q.readOff
	if r >= q.writeOff {
		return r
	}
	i := sort.Search(len(q.segs), func(i int) bool { return q.segs[i].end() > r })
	switch {
	case i == len(q.segs):
		r = q.writeOff
	case q.segs[i].start > r:
		r = q.segs[i].start
	}
	q.readOff = r
	return r
}

func (q *Queue) segmentAtLocked(off uint64) *segment {
	i := sort.Search(len(q.segs), func(i int) bool { return q.segs[i].end() > off })
	if i < len(q.segs) && q.segs[i].start <= off {
		return q.segs[i]
	}
	return nil
}

func (q *Queue) deliverLocked(b Block) {
	q.readOff = b.Next
	q.inflight = append(q.inflight, inflight{off: b.Offset, next: b.Next, points: int64(b.Points)})
}

// resyncRead handles a block that failed verification while reading: it copies the damaged
// bytes to quarantine/ and returns the position of the next valid frame in the segment, or
// limit if there is none.
func (q *Queue) resyncRead(path string, start uint64, pos, limit int64) int64 {
	skip := limit
	if f := q.rd.f; f != nil {
		res, err := scanSegment(io.NewSectionReader(f, pos, limit-pos), limit-pos, nil)
		if err == nil && len(res.runs) > 0 && res.runs[0].from > 0 {
			skip = pos + res.runs[0].from
		}
		q.quarantineRange(f, path, start, pos, skip)
	}
	q.log.Warn("damaged block skipped while reading", "path", path,
		"from_offset", start+uint64(pos), "to_offset", start+uint64(skip))
	return skip
}

// Ack acknowledges b and every block before it. The committed offset is persisted by Run
// (at most every second) and by Close, and durably before any segment file is deleted;
// segments wholly acknowledged are deleted. Acknowledging a block already acknowledged, or
// dropped, is a no-op.
func (q *Queue) Ack(b Block) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return fmt.Errorf("ack block: %w", ErrClosed)
	}
	if b.Next <= q.ackedOff {
		q.mu.Unlock()
		return nil
	}
	live := q.inflight[q.inflightHead:]
	k := sort.Search(len(live), func(i int) bool { return live[i].next >= b.Next })
	if k == len(live) || live[k].next != b.Next {
		q.mu.Unlock()
		return fmt.Errorf("ack block at offset %d: %w", b.Offset, ErrNotDelivered)
	}
	si := sort.Search(len(q.segs), func(i int) bool { return q.segs[i].end() > live[0].off })
	for _, e := range live[:k+1] {
		for si < len(q.segs) && q.segs[si].end() <= e.off {
			si++
		}
		size := int64(e.next - e.off)
		if si < len(q.segs) && q.segs[si].start <= e.off {
			s := q.segs[si]
			s.ackedBlocks++
			s.ackedPoints += e.points
			s.ackedBytes += size
			q.pendingBlocks--
			q.pendingPoints -= e.points
			q.pendingBytes -= size
		}
		q.st.ackedBlocks++
		q.st.ackedPoints += e.points
	}
	q.inflightHead += k + 1
	q.compactInflight()
	q.ackedOff = b.Next
	q.mem.evictBelow(q.ackedOff)
	deleted := false
	for len(q.segs) > 0 && q.segs[0] != q.activeSeg && q.segs[0].end() <= q.ackedOff {
		s := q.segs[0]
		q.segs = slices.Delete(q.segs, 0, 1)
		q.diskBytes -= s.size
		// Blocks never acknowledged here were skipped as damaged.
		q.pendingBlocks -= s.blocks - s.ackedBlocks
		q.pendingPoints -= s.points - s.ackedPoints
		q.pendingBytes -= s.size - s.ackedBytes
		q.st.droppedCorrupt += s.points - s.ackedPoints
		q.toDelete = append(q.toDelete, s.path)
		deleted = true
	}
	q.mu.Unlock()
	if deleted {
		if err := q.flushMeta(); err != nil {
			return fmt.Errorf("ack block: %w", err)
		}
	}
	return nil
}

// Rewind makes the next Read start again at the oldest unacknowledged block: the reader
// gives up every block it holds in flight.
func (q *Queue) Rewind() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.readOff = q.ackedOff
	q.inflight = q.inflight[:0]
	q.inflightHead = 0
	q.gen++
	if q.readerWaiting && !q.closed {
		close(q.dataCh)
		q.dataCh = make(chan struct{})
		q.readerWaiting = false
	}
}

// flushMeta persists the committed offset if it changed, then deletes the segments that
// were waiting for it.
func (q *Queue) flushMeta() error {
	q.metaMu.Lock()
	defer q.metaMu.Unlock()
	q.mu.Lock()
	if q.finished {
		q.mu.Unlock()
		return nil
	}
	off := q.ackedOff
	dirty := !q.persistedValid || off != q.persistedAcked
	paths := q.toDelete
	q.toDelete = nil
	q.mu.Unlock()
	if dirty {
		if err := writeMeta(q.dir, meta{AckedOffset: off}); err != nil {
			q.mu.Lock()
			q.toDelete = append(paths, q.toDelete...)
			q.mu.Unlock()
			return fmt.Errorf("persist metadata: %w", err)
		}
		q.mu.Lock()
		q.persistedAcked, q.persistedValid = off, true
		q.mu.Unlock()
	}
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			q.log.Warn("remove acknowledged segment", "path", p, "err", err)
		}
	}
	return nil
}

// Run performs the interval fsync (unless Fsync is "always") and flushes the committed
// offset every second. It returns nil when ctx is done, or an error if an fsync fails,
// after which Append fails until the queue is reopened.
func (q *Queue) Run(ctx context.Context) error {
	meta := time.NewTicker(time.Second)
	defer meta.Stop()
	var syncC <-chan time.Time
	if !q.always {
		t := time.NewTicker(q.interval)
		defer t.Stop()
		syncC = t.C
	}
	var metaLog throttle
	metaLog.every = time.Minute
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-syncC:
			if err := q.syncNow(); err != nil {
				return fmt.Errorf("run queue: %w", err)
			}
		case <-meta.C:
			if err := q.flushMeta(); err != nil {
				if ok, suppressed := metaLog.allow(time.Now()); ok {
					q.log.Warn("persist queue metadata", "err", err, "suppressed_warnings", suppressed)
				}
			}
		}
	}
}

// Close fsyncs what was appended, persists the committed offset and releases the
// directory. Blocked Read calls return ErrClosed. Close is idempotent.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	close(q.dataCh)
	for q.syncing {
		q.syncCond.Wait()
	}
	var errs []error
	if q.broken == nil && (q.syncedOff < q.writeOff || len(q.rolled) > 0 || q.dirDirty) {
		if err := q.syncLocked(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range q.rolled { // left by a failed sync
		_ = f.Close()
	}
	q.rolled = nil
	if q.active != nil {
		if err := q.active.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close segment %q: %w", q.activeSeg.path, err))
		}
		q.active = nil
	}
	q.syncCond.Broadcast()
	q.mu.Unlock()

	if err := q.flushMeta(); err != nil {
		errs = append(errs, err)
	}
	q.readMu.Lock()
	q.rd.close()
	q.readMu.Unlock()
	q.metaMu.Lock()
	q.mu.Lock()
	q.finished = true
	q.mu.Unlock()
	q.metaMu.Unlock()
	q.metrics.unregister()
	if err := q.lockFile.Close(); err != nil {
		errs = append(errs, fmt.Errorf("release lock: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close queue: %w", err)
	}
	return nil
}

// Stats returns a snapshot of the queue's state and counters.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := Stats{
		PendingBlocks:         q.pendingBlocks,
		PendingPoints:         q.pendingPoints,
		PendingBytes:          q.pendingBytes,
		InFlightBlocks:        int64(len(q.inflight) - q.inflightHead),
		DiskBytes:             q.diskBytes,
		Segments:              len(q.segs),
		AppendedBlocks:        q.st.appendedBlocks,
		AppendedPoints:        q.st.appendedPoints,
		AppendedBytes:         q.st.appendedBytes,
		AckedBlocks:           q.st.ackedBlocks,
		AckedPoints:           q.st.ackedPoints,
		DroppedPointsDiskFull: q.st.droppedDiskFull,
		DroppedBlocksDiskFull: q.st.droppedDiskFullBlocks,
		DroppedPointsTooLarge: q.st.droppedTooLarge,
		DroppedPointsCorrupt:  q.st.droppedCorrupt,
		CorruptBlocks:         q.st.corruptBlocks,
		QuarantinedBytes:      q.st.quarantinedBytes,
		Fsyncs:                q.st.fsyncs,
		DiskReadBlocks:        q.st.diskReads,
		AckedOffset:           q.ackedOff,
		ReadOffset:            q.readOff,
		WriteOffset:           q.writeOff,
		SyncedOffset:          q.syncedOff,
		PersistedOffset:       q.persistedAcked,
		MemoryBlocks:          q.mem.len(),
		MemoryBytes:           q.mem.bytes,
	}
	if !q.persistedValid {
		s.PersistedOffset = 0
	}
	if q.pendingBlocks > 0 {
		s.OldestPending = q.oldestLocked()
	}
	return s
}

// oldestLocked returns the append time of the oldest pending block, reading its header
// from disk if it is no longer in memory (cached per offset).
func (q *Queue) oldestLocked() time.Time {
	off := q.ackedOff
	i := sort.Search(len(q.segs), func(i int) bool { return q.segs[i].end() > off })
	if i == len(q.segs) {
		return time.Time{}
	}
	seg := q.segs[i]
	off = max(off, seg.start)
	if q.oldestOff == off && q.oldestAt != 0 {
		return time.Unix(0, q.oldestAt)
	}
	var at int64
	if mb, ok := q.mem.find(off); ok {
		at = mb.appended
	} else {
		f, err := os.Open(seg.path)
		if err != nil {
			return time.Time{}
		}
		var hb [headerSize]byte
		_, err = f.ReadAt(hb[:], int64(off-seg.start))
		_ = f.Close()
		h, ok := parseHeader(hb[:])
		if err != nil || !ok {
			return time.Time{}
		}
		at = h.appended
	}
	q.oldestOff, q.oldestAt = off, at
	return time.Unix(0, at)
}

// throttle lets one event through per period and counts the others.
type throttle struct {
	every      time.Duration
	last       time.Time
	suppressed int
}

func (t *throttle) allow(now time.Time) (ok bool, suppressed int) {
	if !t.last.IsZero() && now.Sub(t.last) < t.every {
		t.suppressed++
		return false, 0
	}
	suppressed, t.suppressed, t.last = t.suppressed, 0, now
	return true, suppressed
}
