package queue

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// segFile is a segment file found by Open.
type segFile struct {
	start uint64
	name  string
	size  int64
}

// recover brings the directory into a consistent state and loads it: every remaining
// segment file holds only valid frames, the committed offset lies on a block boundary
// inside the data (or at its end), and everything else has been moved to quarantine/.
// Errors are returned only for failures to use the directory itself.
func (q *Queue) recover() error {
	qdir := filepath.Join(q.dir, quarantineName)
	if info, err := os.Lstat(qdir); err == nil && !info.IsDir() {
		// Make room for the directory; the file is then quarantined like any stray file.
		if err := os.Rename(qdir, qdir+".file"); err != nil {
			return fmt.Errorf("move %q: %w", qdir, err)
		}
	}
	entries, err := os.ReadDir(q.dir)
	if err != nil {
		return fmt.Errorf("list directory: %w", err)
	}
	var files []segFile
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == lockName, name == metaName:
		case name == quarantineName && e.IsDir():
		case name == metaTmpName:
			// Left by an interrupted metadata write; the previous file is intact.
			if err := os.Remove(filepath.Join(q.dir, name)); err != nil {
				return fmt.Errorf("remove %q: %w", name, err)
			}
		default:
			if start, ok := parseSegName(name); ok && e.Type().IsRegular() && start <= maxOffset {
				info, err := e.Info()
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					return fmt.Errorf("stat %q: %w", name, err)
				}
				if info.Size() <= maxOffset-int64(start) {
					files = append(files, segFile{start: start, name: name, size: info.Size()})
					continue
				}
			}
			if err := q.quarantineFile(name, "unexpected file in queue directory"); err != nil {
				return err
			}
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].start < files[j].start })

	// Drop empty and overlapping files first, so that splitting a damaged segment below
	// can never collide with another file.
	var kept []segFile
	var emptyEnd, prevEnd uint64
	for _, f := range files {
		switch {
		case f.size == 0:
			// A segment created just before a stop: nothing to keep.
			emptyEnd = max(emptyEnd, f.start)
			q.log.Info("removed empty segment file", "path", filepath.Join(q.dir, f.name))
			if err := os.Remove(filepath.Join(q.dir, f.name)); err != nil {
				return fmt.Errorf("remove empty segment %q: %w", f.name, err)
			}
		case len(kept) > 0 && f.start < prevEnd:
			q.st.corruptBlocks++
			if err := q.quarantineFile(f.name, fmt.Sprintf("segment overlaps the previous one, which ends at offset %d", prevEnd)); err != nil {
				return err
			}
		default:
			prevEnd = f.start + uint64(f.size)
			kept = append(kept, f)
		}
	}
	var segs []*segment
	for _, f := range kept {
		loaded, err := q.loadSegment(f)
		if err != nil {
			return err
		}
		segs = append(segs, loaded...)
	}

	m, state, merr := readMeta(q.dir)
	if n := len(segs); state == metaOK && n > 0 && m.AckedOffset > segs[n-1].end() {
		// Nothing acknowledged lies past the data we hold, so the offset is as
		// untrustworthy as an unreadable file: deliver everything again (at least once).
		q.log.Warn("metadata offset beyond the end of the data: delivering again from the oldest segment",
			"path", filepath.Join(q.dir, metaName), "acked_offset", m.AckedOffset, "end_offset", segs[n-1].end())
		if err := q.quarantineFile(metaName, "metadata offset beyond the data"); err != nil {
			return err
		}
		state = metaCorrupt
	} else if state == metaCorrupt {
		q.log.Warn("metadata unreadable", "path", filepath.Join(q.dir, metaName), "err", merr)
		if err := q.quarantineFile(metaName, "metadata unreadable"); err != nil {
			return err
		}
	}
	acked, changed := q.placeAcked(segs, m.AckedOffset, state)
	end := emptyEnd
	if len(segs) > 0 {
		end = max(end, segs[len(segs)-1].end())
	}
	writeOff := max(end, acked)
	if len(segs) == 0 && acked < writeOff {
		acked, changed = writeOff, true
	}

	// Make the committed offset durable before deleting what it covers.
	if changed {
		if err := writeMeta(q.dir, meta{AckedOffset: acked}); err != nil {
			return err
		}
	}
	for len(segs) > 0 && segs[0].end() <= acked {
		if err := os.Remove(segs[0].path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove acknowledged segment %q: %w", segs[0].path, err)
		}
		segs = segs[1:]
	}
	for i := 1; i < len(segs); i++ {
		if gapFrom, gapTo := segs[i-1].end(), segs[i].start; gapTo > gapFrom {
			q.log.Warn("data missing between segments", "from_offset", gapFrom, "to_offset", gapTo,
				"before", segs[i].path)
		}
	}
	if len(segs) > 0 && acked > segs[0].start {
		if err := q.countAcked(segs[0], acked); err != nil {
			return err
		}
	}

	q.segs = segs
	for _, s := range segs {
		q.diskBytes += s.size
		q.pendingBlocks += s.blocks - s.ackedBlocks
		q.pendingPoints += s.points - s.ackedPoints
		q.pendingBytes += s.size - s.ackedBytes
	}
	q.ackedOff, q.persistedAcked, q.readOff = acked, acked, acked
	// With no metadata file yet, the first flush writes one.
	q.persistedValid = changed || state == metaOK
	q.writeOff, q.syncedOff = writeOff, writeOff
	if n := len(segs); n > 0 && segs[n-1].end() == writeOff {
		last := segs[n-1]
		f, err := os.OpenFile(last.path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return fmt.Errorf("open segment %q: %w", last.path, err)
		}
		q.active, q.activeSeg = f, last
	}
	if q.pendingBlocks > 0 || q.st.quarantinedBytes > 0 {
		q.log.Info("queue opened", "pending_blocks", q.pendingBlocks, "pending_points", q.pendingPoints,
			"pending_bytes", q.pendingBytes, "segments", len(segs), "acked_offset", acked,
			"write_offset", writeOff, "quarantined_bytes", q.st.quarantinedBytes)
	}
	return nil
}

// loadSegment verifies one segment file and repairs it: damaged ranges are copied to
// quarantine/, valid frames after a damaged range move to a new segment file named by
// their offset, and the original is truncated after its first valid run (or removed).
func (q *Queue) loadSegment(sf segFile) ([]*segment, error) {
	path := filepath.Join(q.dir, sf.name)
	f, err := os.Open(path)
	if err != nil {
		q.log.Warn("segment unreadable", "path", path, "err", err)
		q.st.corruptBlocks++
		return nil, q.quarantineFile(sf.name, "segment unreadable")
	}
	defer f.Close()
	res, err := scanSegment(f, sf.size, nil)
	if err != nil {
		q.log.Warn("segment unreadable", "path", path, "err", err)
		q.st.corruptBlocks++
		return nil, q.quarantineFile(sf.name, "segment unreadable")
	}
	newSeg := func(r run) *segment {
		start := sf.start + uint64(r.from)
		return &segment{start: start, size: r.len(), path: segPath(q.dir, start), blocks: r.blocks, points: r.points}
	}
	if len(res.bad) == 0 {
		return []*segment{newSeg(res.runs[0])}, nil
	}
	q.st.corruptBlocks += int64(len(res.bad))
	if len(res.runs) == 0 {
		return nil, q.quarantineFile(sf.name, "segment holds no valid block")
	}
	for _, b := range res.bad {
		q.quarantineRange(f, path, sf.start, b.from, b.to)
		q.log.Warn("damaged bytes in segment", "path", path,
			"from_offset", sf.start+uint64(b.from), "to_offset", sf.start+uint64(b.to),
			"file_from", b.from, "file_to", b.to)
	}
	var segs []*segment
	for _, r := range res.runs {
		s := newSeg(r)
		segs = append(segs, s)
		if r.from == 0 {
			continue
		}
		if err := copyRange(f, r.from, r.to, s.path, false); err != nil {
			return nil, fmt.Errorf("split segment %q: %w", path, err)
		}
		q.log.Warn("valid blocks after damage moved to a new segment", "path", s.path,
			"from_offset", s.start, "to_offset", s.end())
	}
	if res.runs[0].from == 0 {
		if err := os.Truncate(path, res.runs[0].to); err != nil {
			return nil, fmt.Errorf("truncate segment %q: %w", path, err)
		}
		if err := syncPath(path); err != nil {
			return nil, err
		}
	} else if err := os.Remove(path); err != nil {
		return nil, fmt.Errorf("remove damaged segment %q: %w", path, err)
	}
	if err := syncDir(q.dir); err != nil {
		return nil, err
	}
	return segs, nil
}

// placeAcked moves the committed offset from the metadata onto a block boundary inside
// the data: to the oldest segment if the metadata is missing or unusable (Open has
// already turned an offset past the end of the data into that case) or points before
// it, to the next segment if it points into a gap, and to the start of the enclosing
// block if it points inside one. changed reports that
// the metadata file must be rewritten.
func (q *Queue) placeAcked(segs []*segment, acked uint64, state metaState) (uint64, bool) {
	metaPath := filepath.Join(q.dir, metaName)
	if len(segs) == 0 {
		return acked, state == metaCorrupt
	}
	first, end := segs[0].start, segs[len(segs)-1].end()
	switch {
	case state != metaOK:
		q.log.Warn("no usable metadata: delivering from the oldest segment", "path", metaPath, "offset", first)
		return first, true
	case acked < first:
		q.log.Warn("metadata offset before the oldest segment: delivering from the oldest segment",
			"path", metaPath, "acked_offset", acked, "offset", first)
		return first, true
	case acked == end:
		return acked, false
	}
	i := sort.Search(len(segs), func(i int) bool { return segs[i].end() > acked })
	s := segs[i]
	if s.start > acked {
		q.log.Warn("metadata offset inside missing data: delivering from the next segment",
			"path", metaPath, "acked_offset", acked, "offset", s.start)
		return s.start, true
	}
	if acked == s.start {
		return acked, false
	}
	boundary, err := blockBoundary(s, acked)
	if err != nil || boundary == acked {
		return acked, false // an I/O error here is reported by the reader
	}
	q.log.Warn("metadata offset inside a block: delivering that block again",
		"path", metaPath, "acked_offset", acked, "offset", boundary)
	return boundary, true
}

// blockBoundary returns the start of the block of s that contains off.
func blockBoundary(s *segment, off uint64) (uint64, error) {
	boundary := off
	err := walkHeaders(s, off, func(pos int64, h header) {
		if from := s.start + uint64(pos); from+uint64(h.frameLen()) > off {
			boundary = from
		}
	})
	return boundary, err
}

// countAcked records as acknowledged the blocks of s that end at or before off, which is a
// block boundary.
func (q *Queue) countAcked(s *segment, off uint64) error {
	return walkHeaders(s, off, func(pos int64, h header) {
		if s.start+uint64(pos)+uint64(h.frameLen()) <= off {
			s.ackedBlocks++
			s.ackedPoints += int64(h.points)
			s.ackedBytes += h.frameLen()
		}
	})
}

// walkHeaders visits the headers of a verified segment's blocks that start before off.
func walkHeaders(s *segment, off uint64, visit func(pos int64, h header)) error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("open segment %q: %w", s.path, err)
	}
	defer f.Close()
	sc := &scanner{r: f, size: s.size}
	for pos := int64(0); pos+headerSize <= s.size && s.start+uint64(pos) < off; {
		b, err := sc.window(pos, headerSize)
		if err != nil {
			return fmt.Errorf("read segment %q: %w", s.path, err)
		}
		h, ok := parseHeader(b)
		if !ok {
			return fmt.Errorf("read segment %q: %w", s.path, errCorrupt)
		}
		visit(pos, h)
		pos += h.frameLen()
	}
	return nil
}

// quarantineFile moves dir/name into quarantine/, keeping its name (with a numeric suffix
// if taken).
func (q *Queue) quarantineFile(name, reason string) error {
	src := filepath.Join(q.dir, name)
	dst, err := q.quarantineTarget(name)
	if err != nil {
		return err
	}
	var size int64
	if info, err := os.Lstat(src); err == nil && info.Mode().IsRegular() {
		size = info.Size()
	}
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("quarantine %q: %w", src, err)
	}
	q.st.quarantinedBytes += size
	q.log.Warn("moved to quarantine", "path", src, "quarantine_path", dst, "bytes", size, "reason", reason)
	return nil
}

// quarantineRange copies bytes [from, to) of the segment file f (starting at global offset
// start) into quarantine/. Failure to copy is logged: the bytes are dropped either way.
func (q *Queue) quarantineRange(f *os.File, path string, start uint64, from, to int64) {
	if to <= from {
		return
	}
	dst, err := q.quarantineTarget(fmt.Sprintf("%016x-%016x.bad", start+uint64(from), start+uint64(to)))
	if err == nil {
		err = copyRange(f, from, to, dst, true)
	}
	if err != nil {
		q.log.Warn("copy damaged bytes to quarantine", "path", path, "err", err)
		return
	}
	q.st.quarantinedBytes += to - from
	q.log.Warn("damaged bytes copied to quarantine", "path", path, "quarantine_path", dst,
		"from_offset", start+uint64(from), "to_offset", start+uint64(to), "bytes", to-from)
}

// quarantineTarget returns a free path for name inside quarantine/, creating the directory.
func (q *Queue) quarantineTarget(name string) (string, error) {
	qdir := filepath.Join(q.dir, quarantineName)
	if err := os.MkdirAll(qdir, 0o755); err != nil {
		return "", fmt.Errorf("create quarantine directory: %w", err)
	}
	dst := filepath.Join(qdir, name)
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			return dst, nil
		}
		dst = filepath.Join(qdir, name+"."+strconv.Itoa(i))
	}
}

// copyRange writes bytes [from, to) of src to a new file dst and fsyncs it. Unless
// exclusive, it writes a temporary file and renames it into place.
func copyRange(src *os.File, from, to int64, dst string, exclusive bool) error {
	target := dst
	flags := os.O_CREATE | os.O_WRONLY | os.O_EXCL
	if !exclusive {
		target = dst + ".tmp"
		flags = os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	}
	out, err := os.OpenFile(target, flags, 0o644)
	if err != nil {
		return fmt.Errorf("create %q: %w", target, err)
	}
	_, err = io.Copy(out, io.NewSectionReader(src, from, to-from))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(target)
		return fmt.Errorf("copy to %q: %w", target, err)
	}
	if target != dst {
		if err := os.Rename(target, dst); err != nil {
			return fmt.Errorf("rename %q: %w", target, err)
		}
	}
	return nil
}

func syncPath(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open %q: %w", path, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %q: %w", path, err)
	}
	return nil
}
