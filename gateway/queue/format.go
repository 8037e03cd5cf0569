package queue

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
)

// Frame layout, little endian:
//
//	0  magic           uint32  frameMagic
//	4  payload length  uint32
//	8  points          uint32
//	12 append time     int64   Unix nanoseconds
//	20 CRC32C          uint32  Castagnoli, over bytes 0..20 and the payload
//	24 payload
const (
	frameMagic     uint32 = 0x3151_4c47 // "GLQ1" on disk
	headerSize            = 24
	crcOffset             = 20
	maxPayload            = math.MaxUint32
	segSuffix             = ".seg"
	segNameLen            = 16 + len(segSuffix)
	metaName              = "meta.json"
	metaTmpName           = "meta.json.tmp"
	lockName              = "lock"
	quarantineName        = "quarantine"
	scanChunk             = 1 << 20
	readChunk             = 256 << 10

	// maxOffset bounds offsets found on disk so that arithmetic on them cannot overflow
	// (2^62 bytes is far beyond any real queue).
	maxOffset = 1 << 62
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	magicBytes = binary.LittleEndian.AppendUint32(nil, frameMagic)

	// errCorrupt marks a frame that fails verification (magic, length or CRC).
	errCorrupt = errors.New("corrupt frame")
)

// header is a decoded frame header.
type header struct {
	length   uint32
	points   uint32
	appended int64
	crc      uint32
}

func (h header) frameLen() int64 { return headerSize + int64(h.length) }

// encodeFrame writes the frame for payload into dst, which must have length
// headerSize+len(payload).
func encodeFrame(dst, payload []byte, points uint32, appended int64) {
	binary.LittleEndian.PutUint32(dst[0:], frameMagic)
	binary.LittleEndian.PutUint32(dst[4:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[8:], points)
	binary.LittleEndian.PutUint64(dst[12:], uint64(appended))
	copy(dst[headerSize:], payload)
	binary.LittleEndian.PutUint32(dst[crcOffset:], frameCRC(dst[:crcOffset], dst[headerSize:]))
}

func frameCRC(head, payload []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, head), castagnoli, payload)
}

// parseHeader decodes b[:headerSize]; ok is false if the magic does not match.
func parseHeader(b []byte) (header, bool) {
	if len(b) < headerSize || binary.LittleEndian.Uint32(b) != frameMagic {
		return header{}, false
	}
	return header{
		length:   binary.LittleEndian.Uint32(b[4:]),
		points:   binary.LittleEndian.Uint32(b[8:]),
		appended: int64(binary.LittleEndian.Uint64(b[12:])),
		crc:      binary.LittleEndian.Uint32(b[crcOffset:]),
	}, true
}

// verifyFrame checks a complete frame; it returns the header when magic, length and CRC
// are all right.
func verifyFrame(frame []byte) (header, bool) {
	h, ok := parseHeader(frame)
	if !ok || h.frameLen() != int64(len(frame)) {
		return header{}, false
	}
	if frameCRC(frame[:crcOffset], frame[headerSize:]) != h.crc {
		return header{}, false
	}
	return h, true
}

// segName is the file name of the segment starting at global offset start.
func segName(start uint64) string { return fmt.Sprintf("%016x%s", start, segSuffix) }

// parseSegName returns the start offset encoded in a segment file name.
func parseSegName(name string) (uint64, bool) {
	if len(name) != segNameLen || !strings.HasSuffix(name, segSuffix) {
		return 0, false
	}
	hex := name[:16]
	if strings.ToLower(hex) != hex {
		return 0, false
	}
	v, err := strconv.ParseUint(hex, 16, 64)
	return v, err == nil
}

func segPath(dir string, start uint64) string { return filepath.Join(dir, segName(start)) }

// span is a byte range [from, to) inside one segment file.
type span struct{ from, to int64 }

func (s span) len() int64 { return s.to - s.from }

// scanResult describes a segment file: runs of consecutive valid frames and the damaged
// ranges between, after and before them. Together they cover the whole file in order.
type scanResult struct {
	runs []run
	bad  []span
}

// run is a range of consecutive valid frames.
type run struct {
	span
	blocks int64
	points int64
}

// scanner reads a segment through a sliding window.
type scanner struct {
	r      io.ReaderAt
	size   int64
	buf    []byte
	bufOff int64
}

// window returns bytes [pos, pos+n) of the file; n must not reach past the end.
func (s *scanner) window(pos, n int64) ([]byte, error) {
	if pos >= s.bufOff && pos+n <= s.bufOff+int64(len(s.buf)) {
		return s.buf[pos-s.bufOff : pos-s.bufOff+n], nil
	}
	want := max(n, scanChunk)
	want = min(want, s.size-pos)
	if int64(cap(s.buf)) < want {
		s.buf = make([]byte, want)
	}
	s.buf = s.buf[:want]
	s.bufOff = pos
	if _, err := s.r.ReadAt(s.buf, pos); err != nil {
		s.buf = s.buf[:0]
		return nil, err
	}
	return s.buf[:n], nil
}

// frameAt returns the header of a valid frame starting at pos. The length field is checked
// against the file before anything is read for it, and the CRC is computed chunk by chunk,
// so a damaged length (up to 4 GiB) never costs more than the scanner's window.
func (s *scanner) frameAt(pos int64) (header, bool, error) {
	if s.size-pos < headerSize {
		return header{}, false, nil
	}
	b, err := s.window(pos, headerSize)
	if err != nil {
		return header{}, false, err
	}
	h, ok := parseHeader(b)
	if !ok || h.frameLen() > s.size-pos {
		return header{}, false, nil
	}
	crc := crc32.Update(0, castagnoli, b[:crcOffset])
	for p, end := pos+headerSize, pos+h.frameLen(); p < end; {
		c, err := s.window(p, min(scanChunk, end-p))
		if err != nil {
			return header{}, false, err
		}
		crc = crc32.Update(crc, castagnoli, c)
		p += int64(len(c))
	}
	if crc != h.crc {
		return header{}, false, nil
	}
	return h, true, nil
}

// nextMagic returns the position of the first frame magic at or after from, or size.
func (s *scanner) nextMagic(from int64) (int64, error) {
	for p := from; s.size-p >= int64(len(magicBytes)); {
		b, err := s.window(p, min(scanChunk, s.size-p))
		if err != nil {
			return 0, err
		}
		if i := bytes.Index(b, magicBytes); i >= 0 {
			return p + int64(i), nil
		}
		p += int64(len(b)) - int64(len(magicBytes)-1)
	}
	return s.size, nil
}

// scanSegment verifies every frame of a segment of the given size. After a frame that fails
// verification it resynchronises on the next position holding the magic and a frame whose
// length and CRC check out, so the blocks after a damaged region are kept. visit, if not nil,
// is called for every valid frame in order with its position in the file. Only I/O errors
// are returned; damage is reported in the result.
func scanSegment(r io.ReaderAt, size int64, visit func(pos int64, h header)) (scanResult, error) {
	s := &scanner{r: r, size: size}
	var res scanResult
	var cur *run
	badFrom := int64(-1)
	for pos := int64(0); pos < size; {
		h, ok, err := s.frameAt(pos)
		if err != nil {
			return scanResult{}, err
		}
		if ok {
			if badFrom >= 0 {
				res.bad = append(res.bad, span{badFrom, pos})
				badFrom = -1
			}
			if cur == nil {
				res.runs = append(res.runs, run{span: span{pos, pos}})
				cur = &res.runs[len(res.runs)-1]
			}
			if visit != nil {
				visit(pos, h)
			}
			pos += h.frameLen()
			cur.to = pos
			cur.blocks++
			cur.points += int64(h.points)
			continue
		}
		cur = nil
		if badFrom < 0 {
			badFrom = pos
		}
		if pos, err = s.nextMagic(pos + 1); err != nil {
			return scanResult{}, err
		}
	}
	if badFrom >= 0 {
		res.bad = append(res.bad, span{badFrom, size})
	}
	return res, nil
}
