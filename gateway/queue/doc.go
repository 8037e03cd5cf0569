// Package queue is the gateway's on-disk store-and-forward queue: opaque blocks appended by
// the sources are kept on disk until the TSDB sink acknowledges them, so that a sink outage
// or a restart loses nothing that was acknowledged to a device.
//
// # Usage
//
// Open the queue, start Run in a goroutine owned by the caller, Append from any number of
// goroutines, and consume from one reader with Read (or TryRead) and Ack. After a sink
// failure the reader calls Rewind and reads the unacknowledged blocks again. Close flushes
// and releases the directory.
//
// Delivery is at least once: Read hands out blocks in append order; Ack(b) commits b and
// every block before it. After a restart, Read starts at the committed offset, so blocks
// that were read but not acknowledged are delivered again.
//
// # Files
//
// The directory holds:
//
//	%016x.seg     segment files, named by the offset of their first byte in the queue's
//	              byte stream; offsets only grow and are never reused
//	meta.json     {"version":1,"acked_offset":N}: the committed offset
//	lock          held with flock(2) while a Queue has the directory open
//	quarantine/   damaged bytes and unexpected files moved aside by Open (never read back
//	              and not counted in max_bytes: the operator removes them)
//
// A segment is a sequence of frames. Each frame is a 24-byte header followed by the
// payload; integers are little endian:
//
//	magic   uint32  "GLQ1"
//	length  uint32  payload bytes
//	points  uint32  points carried by the payload
//	time    int64   append time, Unix nanoseconds
//	crc     uint32  CRC-32C (Castagnoli) of the 20 header bytes before it and the payload
//
// A block's Offset is the offset of its header and Next the offset just past its payload.
// A new segment is started when the next frame would take the current one past
// segment_bytes (a frame larger than that gets a segment of its own).
//
// meta.json is replaced atomically: written to meta.json.tmp, fsynced, renamed over
// meta.json, and the directory fsynced. It is written by Run at most once a second when the
// committed offset has moved, by Close, and always before a segment file is deleted;
// segments whose every block is acknowledged are deleted.
//
// Recently appended frames are also kept in memory (memory_bytes), so a reader that keeps up
// is served without reading the disk. Every frame read from disk is verified again.
//
// # Durability
//
// With fsync "always", Append returns only after the block's segment (and, for a new
// segment, the directory) is fsynced: an acknowledged Append survives a power failure.
// Concurrent appenders share one fsync (group commit), so throughput grows with the number
// of appenders while each pays about one fsync of latency.
//
// With an interval (default "1s"), Append returns once the frame is written to the
// operating system: it survives a crash or kill of the gateway process, but a power failure
// or kernel crash can lose up to the last interval of appends (Run fsyncs at the interval,
// and Close at the end). Frames written before the last completed fsync are intact; frames
// after it may be missing, torn or zeroed, which their CRC detects and the next Open
// repairs.
//
// The committed offset is flushed at most once a second, so after a crash up to the last
// second of acknowledged blocks may be delivered again; nothing acknowledged is needed for
// that, because segments are deleted only after the offset that covers them is durable.
//
// # Bounded disk
//
// The segment files never exceed max_bytes. When an Append would pass it, the oldest
// segments are deleted, acknowledged or not, and the committed and read positions move past
// them; the points of unacknowledged blocks dropped are counted in
// ganlink_queue_dropped_points_total{reason="disk_full"} and a warning is logged (at most
// every 10 s). The block being appended is never dropped and Append does not fail for lack
// of room. Because space is freed by whole segments, segment_bytes is lowered to
// max_bytes/4 when larger. A single block whose frame exceeds max_bytes is refused with
// ErrTooLarge and counted with reason="too_large".
//
// # Recovery
//
// Open never fails because of what the queue files contain; it repairs and logs, moving
// anything it cannot use to quarantine/ (logged with its path and offsets, counted in
// ganlink_queue_corrupt_blocks_total and ganlink_queue_quarantined_bytes_total):
//
//   - Every frame of every segment is verified (magic, length within the file, CRC). A
//     length field is checked against the file before anything is read for it and the CRC
//     is computed in 1 MiB chunks, so a damaged length (up to 4 GiB) costs no memory of
//     its size; the reader, later, allocates a frame only within the segment size it
//     recorded. After a
//     frame that fails, the scan resynchronises on the next position that holds the magic
//     followed by a frame whose length and CRC check out. The damaged bytes between are
//     copied to quarantine/ as <from>-<to>.bad (offsets in hex). The valid blocks after
//     them are kept: they move to a new segment file named by their offset, and the
//     original file is truncated after its last valid frame before the damage. A truncated
//     or torn tail is the same case with nothing valid after it. Startup therefore reads
//     the pending data once.
//   - A segment file with no valid frame, one overlapping the previous segment, and any file
//     that is not a segment, meta.json, lock or quarantine/ are moved to quarantine/.
//     Zero-length segment files (a segment created just before a stop) are removed.
//     A leftover meta.json.tmp is removed.
//   - A missing segment leaves a gap in the offsets: it is logged and the reader skips it.
//   - meta.json missing, unreadable (including not a file), not valid JSON of this
//     version, or with an acked_offset past the end of the data in the segments: it is
//     quarantined (when present) and delivery starts at the oldest intact segment, so
//     blocks may be delivered twice but none is lost. Such an offset is either damage or
//     the trace of a power failure that took an acknowledged but not yet fsynced tail;
//     the two cannot be told apart, so it is never taken to mean "everything was
//     acknowledged". With no segment left at all nothing is pending and the offset only
//     sets where appending continues.
//     An offset before the oldest segment moves to the oldest segment; one inside a gap
//     moves to the next segment; one inside a block moves back to that block's start,
//     which is delivered again. The corrected offset is written back at once.
//   - Points, bytes and append times of pending blocks are restored from the frame headers.
//
// A frame that fails verification while being read (damage after Open) is handled the same
// way: the damaged bytes are copied to quarantine/, the reader resumes at the next valid
// frame, and the points lost are counted with reason="corrupt" once the segment is
// released. Read never returns a block whose CRC does not match.
//
// An fsync error makes the queue refuse further appends until it is reopened (after a
// failed fsync the kernel may have dropped the unwritten pages, so retrying cannot be
// trusted); Run returns the error.
package queue
