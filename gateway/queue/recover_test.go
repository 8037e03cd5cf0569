package queue

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// The base layout for the recovery cases: blocks 0..11 of testFrame bytes in three
// segments of four (offsets 0, 4096, 8192), blocks 0 and 1 acknowledged (acked_offset 2048).
const (
	baseBlocks = 12
	baseAcked  = 2
)

func buildBase(t *testing.T, dir string) {
	t.Helper()
	q := openTest(t, testConfig(dir))
	appendIDs(t, q.Queue, 0, baseBlocks, testPayload, 10)
	blocks := readAll(t, q.Queue)
	if err := q.Ack(blocks[baseAcked-1]); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(segFiles(t, dir)); n != 3 {
		t.Fatalf("base layout has %d segments, want 3", n)
	}
}

func segAt(dir string, start uint64) string { return segPath(dir, start) }

// modify rewrites part of a file in place.
func modify(t *testing.T, path string, fn func([]byte) []byte) {
	t.Helper()
	mustWrite(t, path, fn(mustRead(t, path)))
}

func garbage(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

func writeMetaJSON(t *testing.T, dir, s string) {
	t.Helper()
	mustWrite(t, filepath.Join(dir, metaName), []byte(s))
}

// TestQueueOpen damages a closed queue in the ways a crash, a bad disk or an operator can,
// then checks what Open delivers, what it quarantines and that a second Open finds nothing
// more to repair.
func TestQueueOpen(t *testing.T) {
	all := seq(baseAcked, baseBlocks)
	tests := []struct {
		name           string
		damage         func(t *testing.T, dir string)
		want           []int // ids delivered, in order
		wantCorrupt    int64
		wantQuarantine int    // entries in quarantine/
		wantLog        string // substring of the log
	}{
		{
			name:   "clean",
			damage: func(*testing.T, string) {},
			want:   all,
		},
		{
			name: "truncated tail block",
			damage: func(t *testing.T, dir string) {
				if err := os.Truncate(segAt(dir, 8192), testSegment-100); err != nil {
					t.Fatal(err)
				}
			},
			want: without(all, 11), wantCorrupt: 1, wantQuarantine: 1, wantLog: "damaged bytes",
		},
		{
			name: "truncated inside a header",
			damage: func(t *testing.T, dir string) {
				if err := os.Truncate(segAt(dir, 8192), 3*testFrame+10); err != nil {
					t.Fatal(err)
				}
			},
			want: without(all, 11), wantCorrupt: 1, wantQuarantine: 1,
		},
		{
			name: "zeroed tail after power loss",
			damage: func(t *testing.T, dir string) {
				modify(t, segAt(dir, 8192), func(b []byte) []byte { return append(b, make([]byte, 4000)...) })
			},
			want: all, wantCorrupt: 1, wantQuarantine: 1,
		},
		{
			// Resynchronised: the blocks after the damage in the same segment are delivered.
			name: "garbage in the middle of a segment",
			damage: func(t *testing.T, dir string) {
				modify(t, segAt(dir, 4096), func(b []byte) []byte {
					copy(b[testFrame:2*testFrame], garbage(testFrame))
					return b
				})
			},
			want: without(all, 5), wantCorrupt: 1, wantQuarantine: 1, wantLog: "moved to a new segment",
		},
		{
			name: "garbage at the start of a segment",
			damage: func(t *testing.T, dir string) {
				modify(t, segAt(dir, 4096), func(b []byte) []byte { copy(b, garbage(100)); return b })
			},
			want: without(all, 4), wantCorrupt: 1, wantQuarantine: 1,
		},
		{
			name: "garbage inserted in the last segment",
			damage: func(t *testing.T, dir string) {
				modify(t, segAt(dir, 8192), func(b []byte) []byte {
					out := append([]byte{}, b[:2*testFrame]...)
					out = append(out, garbage(37)...)
					return append(out, b[2*testFrame:]...)
				})
			},
			want: all, wantCorrupt: 1, wantQuarantine: 1,
		},
		{
			name: "flipped CRC byte",
			damage: func(t *testing.T, dir string) {
				modify(t, segAt(dir, 8192), func(b []byte) []byte { b[testFrame+crcOffset] ^= 0xff; return b })
			},
			want: without(all, 9), wantCorrupt: 1, wantQuarantine: 1,
		},
		{
			name: "flipped payload bit",
			damage: func(t *testing.T, dir string) {
				modify(t, segAt(dir, 0), func(b []byte) []byte { b[3*testFrame+500] ^= 0x01; return b })
			},
			want: without(all, 3), wantCorrupt: 1, wantQuarantine: 1,
		},
		{
			name: "length field too large",
			damage: func(t *testing.T, dir string) {
				modify(t, segAt(dir, 4096), func(b []byte) []byte {
					binary.LittleEndian.PutUint32(b[2*testFrame+4:], 0x7fffffff)
					return b
				})
			},
			want: without(all, 6), wantCorrupt: 1, wantQuarantine: 1,
		},
		{
			name: "length field too small",
			damage: func(t *testing.T, dir string) {
				modify(t, segAt(dir, 4096), func(b []byte) []byte {
					binary.LittleEndian.PutUint32(b[2*testFrame+4:], 10)
					return b
				})
			},
			want: without(all, 6), wantCorrupt: 1, wantQuarantine: 1,
		},
		{
			name: "segment of garbage only",
			damage: func(t *testing.T, dir string) {
				mustWrite(t, segAt(dir, 4096), garbage(testSegment))
			},
			want: without(all, 4, 5, 6, 7), wantCorrupt: 1, wantQuarantine: 1, wantLog: "segment holds no valid block",
		},
		{
			name: "missing metadata",
			damage: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, metaName)); err != nil {
					t.Fatal(err)
				}
			},
			want: seq(0, baseBlocks), wantLog: "no usable metadata",
		},
		{
			name:   "corrupt metadata JSON",
			damage: func(t *testing.T, dir string) { writeMetaJSON(t, dir, `{"version":1,"acked_off`) },
			want:   seq(0, baseBlocks), wantQuarantine: 1, wantLog: "metadata unreadable",
		},
		{
			name:   "metadata of an unknown version",
			damage: func(t *testing.T, dir string) { writeMetaJSON(t, dir, `{"version":7,"acked_offset":2048}`) },
			want:   seq(0, baseBlocks), wantQuarantine: 1,
		},
		{
			name: "metadata is a directory",
			damage: func(t *testing.T, dir string) {
				p := filepath.Join(dir, metaName)
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(p, 0o755); err != nil {
					t.Fatal(err)
				}
			},
			want: seq(0, baseBlocks), wantQuarantine: 1,
		},
		{
			name:   "metadata offset beyond the end",
			damage: func(t *testing.T, dir string) { writeMetaJSON(t, dir, `{"version":1,"acked_offset":99999999}`) },
			// As untrustworthy as an unreadable file: everything is delivered again and the
			// file is kept in quarantine/ (before, every pending block was taken as
			// acknowledged and discarded, counted nowhere).
			want: seq(0, baseBlocks), wantQuarantine: 1,
			wantLog: "metadata offset beyond the end of the data: delivering again from the oldest segment",
		},
		{
			name: "metadata offset just past the end",
			damage: func(t *testing.T, dir string) {
				writeMetaJSON(t, dir, fmt.Sprintf(`{"version":1,"acked_offset":%d}`, 2*testSegment+4*testFrame+1))
			},
			want: seq(0, baseBlocks), wantQuarantine: 1, wantLog: "acked_offset=12289 end_offset=12288",
		},
		{
			name: "metadata offset at the end",
			damage: func(t *testing.T, dir string) {
				writeMetaJSON(t, dir, fmt.Sprintf(`{"version":1,"acked_offset":%d}`, 2*testSegment+4*testFrame))
			},
			want: []int{},
		},
		{
			name: "metadata offset before the first segment",
			damage: func(t *testing.T, dir string) {
				if err := os.Remove(segAt(dir, 0)); err != nil {
					t.Fatal(err)
				}
				writeMetaJSON(t, dir, `{"version":1,"acked_offset":1024}`)
			},
			want: seq(4, baseBlocks), wantLog: "before the oldest segment",
		},
		{
			name:   "metadata offset inside a block",
			damage: func(t *testing.T, dir string) { writeMetaJSON(t, dir, `{"version":1,"acked_offset":2100}`) },
			want:   all, wantLog: "inside a block",
		},
		{
			name:   "metadata offset just before a block end",
			damage: func(t *testing.T, dir string) { writeMetaJSON(t, dir, `{"version":1,"acked_offset":2047}`) },
			want:   seq(1, baseBlocks),
		},
		{
			name: "metadata offset inside missing data",
			damage: func(t *testing.T, dir string) {
				if err := os.Remove(segAt(dir, 4096)); err != nil {
					t.Fatal(err)
				}
				writeMetaJSON(t, dir, `{"version":1,"acked_offset":5120}`)
			},
			want: seq(8, baseBlocks), wantLog: "inside missing data",
		},
		{
			name: "missing middle segment",
			damage: func(t *testing.T, dir string) {
				if err := os.Remove(segAt(dir, 4096)); err != nil {
					t.Fatal(err)
				}
			},
			want: without(all, 4, 5, 6, 7), wantLog: "data missing between segments",
		},
		{
			name: "missing last segment",
			damage: func(t *testing.T, dir string) {
				if err := os.Remove(segAt(dir, 8192)); err != nil {
					t.Fatal(err)
				}
			},
			want: seq(baseAcked, 8),
		},
		{
			name: "all segments missing",
			damage: func(t *testing.T, dir string) {
				for _, p := range segFiles(t, dir) {
					if err := os.Remove(p); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: []int{},
		},
		{
			name: "empty segment file at the end",
			damage: func(t *testing.T, dir string) {
				mustWrite(t, segAt(dir, 3*testSegment), nil)
			},
			want: all, wantLog: "removed empty segment",
		},
		{
			name: "empty segment file in the middle",
			damage: func(t *testing.T, dir string) {
				mustWrite(t, segAt(dir, 4096), nil)
			},
			want: without(all, 4, 5, 6, 7),
		},
		{
			name: "overlapping segment",
			damage: func(t *testing.T, dir string) {
				mustWrite(t, segAt(dir, 4096+testFrame), mustRead(t, segAt(dir, 4096)))
			},
			want: all, wantCorrupt: 1, wantQuarantine: 1, wantLog: "overlaps",
		},
		{
			name: "metadata offset out of range",
			damage: func(t *testing.T, dir string) {
				writeMetaJSON(t, dir, `{"version":1,"acked_offset":18446744073709551615}`)
			},
			want: seq(0, baseBlocks), wantQuarantine: 1, wantLog: "out of range",
		},
		{
			name: "segment name out of range",
			damage: func(t *testing.T, dir string) {
				mustWrite(t, filepath.Join(dir, segName(1<<63)), mustRead(t, segAt(dir, 0)))
			},
			want: all, wantQuarantine: 1, wantLog: "unexpected file",
		},
		{
			name: "quarantine is a file",
			damage: func(t *testing.T, dir string) {
				mustWrite(t, filepath.Join(dir, quarantineName), []byte("x"))
			},
			want: all, wantQuarantine: 1,
		},
		{
			name: "stray files",
			damage: func(t *testing.T, dir string) {
				mustWrite(t, filepath.Join(dir, "notes.txt"), []byte("hello"))
				mustWrite(t, filepath.Join(dir, "abc.seg"), []byte("x"))
				mustWrite(t, filepath.Join(dir, "00000000000000ZZ.seg"), []byte("x"))
				mustWrite(t, filepath.Join(dir, "0000000000001000.seg.tmp"), []byte("x"))
				mustWrite(t, filepath.Join(dir, metaTmpName), []byte("{"))
				if err := os.Mkdir(filepath.Join(dir, "0000000000004000.seg"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			want: all, wantQuarantine: 5, wantLog: "unexpected file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			buildBase(t, dir)
			tt.damage(t, dir)

			q := openTest(t, testConfig(dir))
			got := ids(t, readAll(t, q.Queue))
			if !equalInts(got, tt.want) {
				t.Fatalf("delivered %v, want %v\nlog:\n%s", got, tt.want, q.log)
			}
			s := q.Stats()
			if s.CorruptBlocks != tt.wantCorrupt {
				t.Errorf("CorruptBlocks = %d, want %d", s.CorruptBlocks, tt.wantCorrupt)
			}
			if s.PendingBlocks != int64(len(tt.want)) || s.PendingPoints != int64(10*len(tt.want)) {
				t.Errorf("pending %d blocks, %d points; want %d, %d", s.PendingBlocks, s.PendingPoints,
					len(tt.want), 10*len(tt.want))
			}
			if qf := quarantined(t, dir); len(qf) != tt.wantQuarantine {
				t.Errorf("quarantine holds %v, want %d entries", qf, tt.wantQuarantine)
			}
			if tt.wantQuarantine > 0 && s.QuarantinedBytes == 0 && tt.name != "metadata is a directory" {
				t.Errorf("QuarantinedBytes = 0")
			}
			if tt.wantLog != "" && !logHas(q.log, tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, q.log)
			}
			// The queue works after repair.
			appendIDs(t, q.Queue, 100, 102, testPayload, 10)
			if got := ids(t, readAll(t, q.Queue)); !equalInts(got, []int{100, 101}) {
				t.Fatalf("after repair read %v, want [100 101]", got)
			}
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}

			// Repair is complete: reopening finds nothing to fix and delivers the same blocks.
			q2 := openTest(t, testConfig(dir))
			got2 := ids(t, readAll(t, q2.Queue))
			if want := append(append([]int{}, tt.want...), 100, 101); !equalInts(got2, want) {
				t.Fatalf("second open delivered %v, want %v", got2, want)
			}
			if s := q2.Stats(); s.CorruptBlocks != 0 || s.QuarantinedBytes != 0 {
				t.Fatalf("second open repaired again: %+v\nlog:\n%s", s, q2.log)
			}
		})
	}
}

// TestReadVerifiesDisk damages a segment after Open: the reader skips the damaged block,
// quarantines it and resumes at the next valid frame.
func TestReadVerifiesDisk(t *testing.T) {
	tests := []struct {
		name   string
		damage func(b []byte)
		want   []int
	}{
		{"payload bit", func(b []byte) { b[testSegment+testFrame+100] ^= 0x10 }, without(seq(0, 12), 5)},
		{"header magic", func(b []byte) { b[testSegment+2*testFrame] = 0 }, without(seq(0, 12), 6)},
		{"length", func(b []byte) { binary.LittleEndian.PutUint32(b[testSegment+4:], 1<<30) }, without(seq(0, 12), 4)},
		{"last block of the active segment", func(b []byte) { b[2*testSegment+3*testFrame+30] ^= 1 }, seq(0, 11)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(dir)
			cfg.MemoryBytes = -1
			q := openTest(t, cfg)
			appendIDs(t, q.Queue, 0, 12, testPayload, 10)
			// Damage the files behind the queue's back, as a failing disk would.
			for i, p := range segFiles(t, dir) {
				modify(t, p, func(b []byte) []byte {
					whole := make([]byte, 3*testSegment)
					copy(whole[i*testSegment:], b)
					tt.damage(whole)
					return whole[i*testSegment : i*testSegment+len(b)]
				})
			}
			blocks := readAll(t, q.Queue)
			if got := ids(t, blocks); !equalInts(got, tt.want) {
				t.Fatalf("read %v, want %v", got, tt.want)
			}
			if s := q.Stats(); s.CorruptBlocks != 1 {
				t.Fatalf("CorruptBlocks = %d, want 1", s.CorruptBlocks)
			}
			if qf := quarantined(t, dir); len(qf) != 1 {
				t.Fatalf("quarantine holds %v", qf)
			}
			if err := q.Ack(blocks[len(blocks)-1]); err != nil {
				t.Fatal(err)
			}
			s := q.Stats()
			// The lost block stays pending until its segment is released, then counts as dropped.
			if s.AckedBlocks != int64(len(tt.want)) || s.AckedPoints+s.PendingPoints+s.DroppedPointsCorrupt != 120 {
				t.Fatalf("acked %d blocks, %d points; pending %d points; dropped %d: want %d blocks acked and 120 points in all",
					s.AckedBlocks, s.AckedPoints, s.PendingPoints, s.DroppedPointsCorrupt, len(tt.want))
			}
		})
	}
}

// FuzzReadSegment feeds arbitrary bytes to the recovery code as a segment file, then reads
// the queue: Open must not fail or panic, and every block delivered must be a frame of the
// input whose CRC verifies.
func FuzzReadSegment(f *testing.F) {
	var valid []byte
	for i := 0; i < 4; i++ {
		p := payload(i, 20+i*7)
		fr := make([]byte, headerSize+len(p))
		encodeFrame(fr, p, uint32(i), int64(i)*1e9)
		valid = append(valid, fr...)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-5])
	f.Add(append(append(append([]byte{}, valid[:50]...), 0, 1, 2), valid[50:]...))
	f.Add(append(bytes.Repeat(magicBytes, 8), valid...))
	f.Add([]byte{})
	f.Add(magicBytes)
	f.Add(make([]byte, 100))
	// Edge values of the length field, each on an otherwise well-formed header.
	for _, seed := range lengthEdgeSeeds(valid) {
		f.Add(seed)
	}

	f.Fuzz(checkSegmentInput)
}

// frameWithLength returns a frame header claiming length payload bytes, followed by the
// payload bytes given, with the CRC computed over what is there.
func frameWithLength(length uint32, payload []byte) []byte {
	fr := make([]byte, headerSize+len(payload))
	encodeFrame(fr, payload, 3, 1e9)
	binary.LittleEndian.PutUint32(fr[4:], length)
	binary.LittleEndian.PutUint32(fr[crcOffset:], frameCRC(fr[:crcOffset], fr[headerSize:]))
	return fr
}

// lengthEdgeSeeds are segment contents around the frame length field: 0 (a valid empty
// block), the largest value, one byte beyond the file, a header cut inside its CRC, and
// each of them followed by valid frames to resynchronise on.
func lengthEdgeSeeds(valid []byte) [][]byte {
	empty := frameWithLength(0, nil)
	seeds := [][]byte{
		empty,
		append(append([]byte{}, empty...), valid...),
		frameWithLength(maxPayload, []byte("short")),
		append(frameWithLength(maxPayload, nil), valid...),
		frameWithLength(6, []byte("short")),                   // one byte beyond the file
		append(frameWithLength(1<<31, []byte("x")), valid...), // 2 GiB claimed
		empty[:crcOffset+2],                                   // truncated inside the CRC
		append(append([]byte{}, valid...), empty[:crcOffset+3]...),
		append(append([]byte{}, valid...), frameWithLength(uint32(len(valid)), nil)...),
	}
	return seeds
}

// A damaged length field costs no allocation of its size: beyond the file it is rejected
// before any read, and inside a large file the CRC is checked chunk by chunk.
func TestScanLengthFieldBoundsMemory(t *testing.T) {
	big := make([]byte, 16<<20)
	copy(big, frameWithLength(uint32(len(big)-headerSize), nil)) // CRC of no payload: wrong
	tests := []struct {
		name     string
		data     []byte
		maxAlloc uint64
		runs     int
	}{
		{"length 4 GiB in 29 bytes", frameWithLength(maxPayload, []byte("short")), 2 << 20, 0},
		{"length one past the file", frameWithLength(6, []byte("short")), 2 << 20, 0},
		{"length 16 MiB inside a 16 MiB file, bad CRC", big, 2 << 20, 0},
		{"length 0", frameWithLength(0, nil), 2 << 20, 1},
		{"truncated CRC", frameWithLength(0, nil)[:crcOffset+2], 2 << 20, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			res, err := scanSegment(bytes.NewReader(tt.data), int64(len(tt.data)), nil)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > tt.maxAlloc {
				t.Errorf("scan allocated %d bytes, want at most %d", got, tt.maxAlloc)
			}
			if len(res.runs) != tt.runs {
				t.Errorf("%d runs of valid frames, want %d: %+v", len(res.runs), tt.runs, res)
			}
			checkCoverage(t, res, int64(len(tt.data)))
			checkSegmentInput(t, tt.data)
		})
	}
}

func checkSegmentInput(t *testing.T, data []byte) {
	{
		res, err := scanSegment(bytes.NewReader(data), int64(len(data)), func(pos int64, h header) {
			if _, ok := verifyFrame(data[pos : pos+h.frameLen()]); !ok {
				t.Fatalf("scan accepted an invalid frame at %d", pos)
			}
		})
		if err != nil {
			t.Fatalf("scanSegment: %v", err)
		}
		checkCoverage(t, res, int64(len(data)))

		dir := t.TempDir()
		if len(data) > 0 {
			mustWrite(t, filepath.Join(dir, segName(0)), data)
		}
		q, err := Open(testConfig(dir), nil, nil)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer q.Close()
		var delivered int64
		for {
			b, ok, err := q.TryRead()
			if err != nil {
				t.Fatalf("TryRead: %v", err)
			}
			if !ok {
				break
			}
			if b.Next > uint64(len(data)) {
				t.Fatalf("block [%d, %d) past the input's %d bytes", b.Offset, b.Next, len(data))
			}
			frame := data[b.Offset:b.Next]
			h, ok := verifyFrame(frame)
			if !ok || !bytes.Equal(frame[headerSize:], b.Data) || int(h.points) != b.Points {
				t.Fatalf("delivered block at %d is not a valid input frame", b.Offset)
			}
			delivered++
		}
		var want int64
		for _, r := range res.runs {
			want += r.blocks
		}
		if delivered != want {
			t.Fatalf("delivered %d blocks, the scan found %d", delivered, want)
		}
	}
}

// checkCoverage asserts that the runs and damaged ranges of a scan tile [0, size).
func checkCoverage(t *testing.T, res scanResult, size int64) {
	t.Helper()
	var spans []span
	for _, r := range res.runs {
		spans = append(spans, r.span)
	}
	spans = append(spans, res.bad...)
	var covered int64
	for _, s := range spans {
		if s.from < 0 || s.to > size || s.from >= s.to {
			t.Fatalf("bad span %+v in %d bytes", s, size)
		}
		covered += s.len()
	}
	if covered != size {
		t.Fatalf("spans cover %d of %d bytes: %s", covered, size, fmt.Sprint(res))
	}
}
