package queue

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"
)

// memBlock is a recently appended frame kept for the in-memory fast path.
type memBlock struct {
	off      uint64
	frame    []byte
	points   int64
	appended int64
}

func (m memBlock) block() Block {
	n := len(m.frame)
	return Block{
		Offset:   m.off,
		Next:     m.off + uint64(n),
		Data:     m.frame[headerSize:n:n],
		Points:   int(m.points),
		Appended: time.Unix(0, m.appended),
	}
}

// memRing holds the most recently appended frames, contiguous in offset and ending at the
// write offset, within a byte budget. Frames are never modified once pushed.
type memRing struct {
	blocks []memBlock
	head   int
	bytes  int64
}

func (m *memRing) len() int { return len(m.blocks) - m.head }

func (m *memRing) push(b memBlock, budget int64) {
	m.blocks = append(m.blocks, b)
	m.bytes += int64(len(b.frame))
	for m.bytes > budget && m.head < len(m.blocks) {
		m.popFront()
	}
}

func (m *memRing) popFront() {
	m.bytes -= int64(len(m.blocks[m.head].frame))
	m.blocks[m.head] = memBlock{}
	m.head++
	switch {
	case m.head == len(m.blocks):
		m.blocks = m.blocks[:0]
		m.head = 0
	case m.head >= 1024 && 2*m.head >= len(m.blocks):
		k := copy(m.blocks, m.blocks[m.head:])
		clear(m.blocks[k:])
		m.blocks = m.blocks[:k]
		m.head = 0
	}
}

// evictBelow drops the frames that start before off.
func (m *memRing) evictBelow(off uint64) {
	for m.head < len(m.blocks) && m.blocks[m.head].off < off {
		m.popFront()
	}
}

func (m *memRing) find(off uint64) (memBlock, bool) {
	live := m.blocks[m.head:]
	if len(live) == 0 || off < live[0].off {
		return memBlock{}, false
	}
	i := sort.Search(len(live), func(i int) bool { return live[i].off >= off })
	if i < len(live) && live[i].off == off {
		return live[i], true
	}
	return memBlock{}, false
}

// diskReader reads frames from one segment file at a time through a read-ahead buffer.
// A refill allocates a new buffer, so the payloads handed out are never overwritten.
type diskReader struct {
	f      *os.File
	start  uint64
	buf    []byte
	bufOff int64
}

func (r *diskReader) close() {
	if r.f != nil {
		_ = r.f.Close()
	}
	*r = diskReader{}
}

// read returns the frame at pos of the segment starting at start; limit is the number of
// bytes of the segment that are written. A frame that fails verification yields errCorrupt.
func (r *diskReader) read(path string, start uint64, pos, limit int64) (Block, error) {
	if r.f == nil || r.start != start {
		r.close()
		f, err := os.Open(path)
		if err != nil {
			return Block{}, fmt.Errorf("open segment %q: %w", path, err)
		}
		r.f, r.start = f, start
	}
	if limit-pos < headerSize {
		return Block{}, errCorrupt
	}
	hb, err := r.window(pos, headerSize, limit)
	if err != nil {
		return Block{}, err
	}
	h, ok := parseHeader(hb)
	if !ok || h.frameLen() > limit-pos {
		return Block{}, errCorrupt
	}
	fb, err := r.window(pos, h.frameLen(), limit)
	if err != nil {
		return Block{}, err
	}
	if frameCRC(fb[:crcOffset], fb[headerSize:]) != h.crc {
		return Block{}, errCorrupt
	}
	n := len(fb)
	return Block{
		Offset:   start + uint64(pos),
		Next:     start + uint64(pos) + uint64(n),
		Data:     fb[headerSize:n:n],
		Points:   int(h.points),
		Appended: time.Unix(0, h.appended),
	}, nil
}

func (r *diskReader) window(pos, n, limit int64) ([]byte, error) {
	if pos >= r.bufOff && pos+n <= r.bufOff+int64(len(r.buf)) {
		return r.buf[pos-r.bufOff : pos-r.bufOff+n], nil
	}
	want := min(max(n, readChunk), limit-pos)
	buf := make([]byte, want)
	k, err := r.f.ReadAt(buf, pos)
	if int64(k) < n {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, errCorrupt // the file is shorter than recorded
		}
		return nil, fmt.Errorf("read segment %q: %w", r.f.Name(), err)
	}
	r.buf, r.bufOff = buf[:k], pos
	return r.buf[:n], nil
}
