package pipeline

import "github.com/prometheus/client_golang/prometheus"

// SinkMetrics holds the per-sink metric vectors shared by all forwarders.
type SinkMetrics struct {
	up            *prometheus.GaugeVec
	writtenPoints *prometheus.CounterVec
	writtenBytes  *prometheus.CounterVec
	droppedPoints *prometheus.CounterVec
	retries       *prometheus.CounterVec
	writeSeconds  *prometheus.HistogramVec
}

// Names of the drop counters other parts of the gateway sum (its health series).
const (
	MetricSinkPointsDropped     = "ganlink_sink_points_dropped_total"
	MetricPipelinePointsDropped = "ganlink_pipeline_points_dropped_total"
)

// NewSinkMetrics registers the sink metrics on reg.
func NewSinkMetrics(reg prometheus.Registerer) *SinkMetrics {
	m := &SinkMetrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ganlink_sink_up",
			Help: "1 when the sink's last write succeeded (or was rejected as invalid data), 0 while it fails."}, []string{"sink"}),
		writtenPoints: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ganlink_sink_points_written_total",
			Help: "Points the sink accepted."}, []string{"sink"}),
		writtenBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ganlink_sink_written_bytes_total",
			Help: "Uncompressed line-protocol bytes the sink accepted."}, []string{"sink"}),
		droppedPoints: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricSinkPointsDropped,
			Help: "Points dropped because the sink rejected them permanently (e.g. HTTP 400)."}, []string{"sink", "reason"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ganlink_sink_retries_total",
			Help: "Failed write attempts that were retried."}, []string{"sink"}),
		writeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ganlink_sink_write_duration_seconds",
			Help:    "Duration of one write request, including failures.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"sink"}),
	}
	reg.MustRegister(m.up, m.writtenPoints, m.writtenBytes, m.droppedPoints, m.retries, m.writeSeconds)
	return m
}

type sinkMetrics struct {
	up            prometheus.Gauge
	writtenPoints prometheus.Counter
	writtenBytes  prometheus.Counter
	droppedPoints prometheus.Counter
	retries       prometheus.Counter
	writeSeconds  prometheus.Observer
}

func (m *SinkMetrics) forSink(name string) *sinkMetrics {
	return &sinkMetrics{
		up:            m.up.WithLabelValues(name),
		writtenPoints: m.writtenPoints.WithLabelValues(name),
		writtenBytes:  m.writtenBytes.WithLabelValues(name),
		droppedPoints: m.droppedPoints.WithLabelValues(name, "rejected"),
		retries:       m.retries.WithLabelValues(name),
		writeSeconds:  m.writeSeconds.WithLabelValues(name),
	}
}
