package app

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/ganlink/ganlink/gateway/pipeline"
	"github.com/ganlink/ganlink/gateway/queue"
	"github.com/ganlink/ganlink/gateway/status"
	"github.com/prometheus/client_golang/prometheus"
)

// ExtraSink is a northbound writer built and owned by the caller of Build, such as the
// demo's line-protocol file. Build gives it its own queue under queue.dir/<Name> and a
// forwarder, exactly like a configured sink; the caller closes the sink after Run
// returns.
type ExtraSink struct {
	// Name names the sink and its queue; it must differ from every configured sink.
	Name string
	// Kind is shown on the status page, e.g. "file".
	Kind string
	// Target is where the sink writes (a path or URL), shown on the status page.
	Target string
	Sink   pipeline.Sink
}

// buildExtraSinks opens a queue and builds a forwarder for each extra sink, after the
// configured ones, and returns the queues for the pipeline. Its writes are retried with
// the same capped exponential backoff as the first configured sink's
// (sinks.influx[0].retry_min/retry_max; the defaults without one).
func (a *App) buildExtraSinks(extra []ExtraSink, m *pipeline.SinkMetrics) ([]pipeline.Queue, error) {
	cfg := a.cfg
	names := map[string]bool{}
	for i := range cfg.Sinks.Influx {
		names[cfg.Sinks.Influx[i].Name] = true
	}
	// An extra sink backs off like the first configured sink, or with the forwarder's
	// defaults (zero values) when none is configured (the demo's file sink).
	var retryMin, retryMax time.Duration
	if len(cfg.Sinks.Influx) > 0 {
		retryMin, retryMax = cfg.Sinks.Influx[0].RetryMin.D, cfg.Sinks.Influx[0].RetryMax.D
	}
	var out []pipeline.Queue
	for _, es := range extra {
		if es.Name == "" || es.Sink == nil {
			return nil, fmt.Errorf("build sink %q: name and sink are required", es.Name)
		}
		if names[es.Name] {
			return nil, fmt.Errorf("build sink %q: duplicate sink name", es.Name)
		}
		names[es.Name] = true
		qcfg := queue.DefaultConfig()
		qcfg.Dir = filepath.Join(cfg.Queue.Dir, es.Name)
		qcfg.MaxBytes = cfg.Queue.MaxBytes.N
		qcfg.Fsync = cfg.Queue.Fsync
		q, err := queue.Open(qcfg, a.log.With("queue", es.Name), prometheus.WrapRegistererWith(prometheus.Labels{"sink": es.Name}, a.reg))
		if err != nil {
			return nil, fmt.Errorf("open queue of sink %q: %w", es.Name, err)
		}
		a.queues = append(a.queues, q)
		a.extra = append(a.extra, es)
		out = append(out, q)
		a.forwarders = append(a.forwarders, pipeline.NewForwarder(pipeline.ForwarderConfig{Name: es.Name,
			RetryMin: retryMin, RetryMax: retryMax}, q, es.Sink, m, a.log))
	}
	return out, nil
}

// sinkInfo returns the name, kind and target of the sink of queue i (a.queues and
// a.forwarders share the order: configured sinks, then extra ones).
func (a *App) sinkInfo(i int) (name, kind, target string) {
	if n := len(a.cfg.Sinks.Influx); i < n {
		sc := &a.cfg.Sinks.Influx[i]
		return sc.Name, "influx", status.RedactedURL(sc.URL)
	} else if i-n < len(a.extra) {
		es := a.extra[i-n]
		return es.Name, es.Kind, es.Target
	}
	return "", "", ""
}
