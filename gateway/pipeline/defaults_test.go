package pipeline

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestForwarderDefaults: zero fields take the package defaults, which are also the
// defaults of a configured sink (gateway/config leaves unset keys zero), and a
// RetryMax below RetryMin is raised to it.
func TestForwarderDefaults(t *testing.T) {
	sm := NewSinkMetrics(prometheus.NewRegistry())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name string
		in   ForwarderConfig
		want ForwarderConfig
	}{
		{"zero", ForwarderConfig{Name: "a"},
			ForwarderConfig{BatchBytes: 1 << 20, FlushInterval: 500 * time.Millisecond, RetryMin: 500 * time.Millisecond, RetryMax: 10 * time.Second}},
		{"retry_min above the default retry_max", ForwarderConfig{Name: "b", RetryMin: 20 * time.Second},
			ForwarderConfig{BatchBytes: 1 << 20, FlushInterval: 500 * time.Millisecond, RetryMin: 20 * time.Second, RetryMax: 20 * time.Second}},
		{"set", ForwarderConfig{Name: "c", BatchBytes: 100, FlushInterval: time.Second, RetryMin: time.Second, RetryMax: time.Minute},
			ForwarderConfig{BatchBytes: 100, FlushInterval: time.Second, RetryMin: time.Second, RetryMax: time.Minute}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := NewForwarder(tc.in, nil, nil, sm, log).cfg
			if got.BatchBytes != tc.want.BatchBytes || got.FlushInterval != tc.want.FlushInterval ||
				got.RetryMin != tc.want.RetryMin || got.RetryMax != tc.want.RetryMax {
				t.Fatalf("got %d %s %s %s, want %d %s %s %s", got.BatchBytes, got.FlushInterval, got.RetryMin, got.RetryMax,
					tc.want.BatchBytes, tc.want.FlushInterval, tc.want.RetryMin, tc.want.RetryMax)
			}
		})
	}
}
