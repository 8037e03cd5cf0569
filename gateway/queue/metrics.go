package queue

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the queue's Prometheus metrics. All but the fsync histogram are read from
// Stats when collected.
type metrics struct {
	reg          prometheus.Registerer
	fsyncSeconds prometheus.Histogram
	stats        *statsCollector
}

func newMetrics(q *Queue, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		reg: reg,
		fsyncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ganlink_queue_fsync_duration_seconds",
			Help:    "Duration of queue fsyncs (segments written since the previous fsync, plus the directory after a new segment).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 8),
		}),
		stats: newStatsCollector(q),
	}
	if reg == nil {
		return m, nil
	}
	if err := reg.Register(m.fsyncSeconds); err != nil {
		return nil, fmt.Errorf("register queue metrics: %w", err)
	}
	if err := reg.Register(m.stats); err != nil {
		reg.Unregister(m.fsyncSeconds)
		return nil, fmt.Errorf("register queue metrics: %w", err)
	}
	return m, nil
}

// unregister removes the metrics so that the directory can be reopened with the same
// Registerer.
func (m *metrics) unregister() {
	if m == nil || m.reg == nil {
		return
	}
	m.reg.Unregister(m.fsyncSeconds)
	m.reg.Unregister(m.stats)
}

// Reasons for ganlink_queue_dropped_points_total.
const (
	reasonDiskFull = "disk_full"
	reasonTooLarge = "too_large"
	reasonCorrupt  = "corrupt"
)

type statsCollector struct {
	q *Queue

	pendingPoints, pendingBytes, pendingBlocks, oldestAge *prometheus.Desc
	diskBytes, segments                                   *prometheus.Desc
	appendedBlocks, appendedPoints, appendedBytes         *prometheus.Desc
	ackedBlocks, ackedPoints                              *prometheus.Desc
	droppedPoints, corruptBlocks, quarantinedBytes        *prometheus.Desc
	diskReadBlocks                                        *prometheus.Desc
}

func newStatsCollector(q *Queue) *statsCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("ganlink_queue_"+name, help, labels, nil)
	}
	return &statsCollector{
		q:                q,
		pendingPoints:    d("pending_points", "Points in blocks appended and not yet acknowledged."),
		pendingBytes:     d("pending_bytes", "Framed bytes of blocks appended and not yet acknowledged."),
		pendingBlocks:    d("pending_blocks", "Blocks appended and not yet acknowledged."),
		oldestAge:        d("oldest_pending_age_seconds", "Age of the oldest block not yet acknowledged; 0 when none."),
		diskBytes:        d("disk_usage_bytes", "Total size of the queue's segment files."),
		segments:         d("segments", "Number of segment files."),
		appendedBlocks:   d("appended_blocks_total", "Blocks appended."),
		appendedPoints:   d("appended_points_total", "Points in blocks appended."),
		appendedBytes:    d("appended_bytes_total", "Framed bytes appended."),
		ackedBlocks:      d("acked_blocks_total", "Blocks acknowledged by the reader."),
		ackedPoints:      d("acked_points_total", "Points in blocks acknowledged by the reader."),
		droppedPoints:    d("dropped_points_total", "Points dropped by the queue: oldest data dropped to stay within max_bytes (disk_full), blocks refused as larger than max_bytes (too_large), blocks lost to damage found while reading (corrupt).", "reason"),
		corruptBlocks:    d("corrupt_blocks_total", "Damaged regions found in segment files; each contiguous region counts once."),
		quarantinedBytes: d("quarantined_bytes_total", "Bytes moved or copied into the quarantine directory."),
		diskReadBlocks:   d("disk_read_blocks_total", "Blocks read back from segment files because they were no longer held in memory."),
	}
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.pendingPoints, c.pendingBytes, c.pendingBlocks, c.oldestAge, c.diskBytes, c.segments,
		c.appendedBlocks, c.appendedPoints, c.appendedBytes, c.ackedBlocks, c.ackedPoints,
		c.droppedPoints, c.corruptBlocks, c.quarantinedBytes, c.diskReadBlocks,
	} {
		ch <- d
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.q.Stats()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	age := 0.0
	if !s.OldestPending.IsZero() {
		age = max(time.Since(s.OldestPending).Seconds(), 0)
	}
	gauge(c.pendingPoints, float64(s.PendingPoints))
	gauge(c.pendingBytes, float64(s.PendingBytes))
	gauge(c.pendingBlocks, float64(s.PendingBlocks))
	gauge(c.oldestAge, age)
	gauge(c.diskBytes, float64(s.DiskBytes))
	gauge(c.segments, float64(s.Segments))
	counter(c.appendedBlocks, s.AppendedBlocks)
	counter(c.appendedPoints, s.AppendedPoints)
	counter(c.appendedBytes, s.AppendedBytes)
	counter(c.ackedBlocks, s.AckedBlocks)
	counter(c.ackedPoints, s.AckedPoints)
	counter(c.droppedPoints, s.DroppedPointsDiskFull, reasonDiskFull)
	counter(c.droppedPoints, s.DroppedPointsTooLarge, reasonTooLarge)
	counter(c.droppedPoints, s.DroppedPointsCorrupt, reasonCorrupt)
	counter(c.corruptBlocks, s.CorruptBlocks)
	counter(c.quarantinedBytes, s.QuarantinedBytes)
	counter(c.diskReadBlocks, s.DiskReadBlocks)
}
