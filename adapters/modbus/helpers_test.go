package modbus

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/gateway/point"
)

// fieldString renders fields compactly for exact comparisons: "a=1 b=bad".
func fieldString(fs []point.Field) string {
	var b strings.Builder
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch f.Quality {
		case point.Good:
			fmt.Fprintf(&b, "%s=%v", f.Key, f.Value)
		default:
			fmt.Fprintf(&b, "%s=%s", f.Key, f.Quality)
		}
	}
	return b.String()
}

// run starts s.Run with rec as emit and returns a stop function that cancels it and
// waits for Run to return, failing the test if that takes longer than limit.
func run(t *testing.T, s *Source, rec *adaptertest.Recorder, limit time.Duration) (stop func() time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, rec.Emit) }()
	var once sync.Once
	var took time.Duration
	stop = func() time.Duration {
		once.Do(func() {
			start := time.Now()
			cancel()
			select {
			case err := <-done:
				took = time.Since(start)
				if err != nil {
					t.Errorf("Run returned %v", err)
				}
			case <-time.After(limit):
				t.Fatalf("Run did not return within %s of cancel", limit)
			}
		})
		return took
	}
	t.Cleanup(func() { stop() })
	return stop
}

// fastConfig returns a quickly reacting config for url with the given devices.
func fastConfig(url string, devs ...Device) Config {
	return Config{
		Name:         "meters",
		Endpoint:     url,
		Timeout:      500 * time.Millisecond,
		ReconnectMin: 20 * time.Millisecond,
		ReconnectMax: 200 * time.Millisecond,
		MaxGap:       DefaultMaxGap,
		Devices:      devs,
	}
}

var meterTags = []point.Tag{{Key: "device", Value: "em1"}, {Key: "kind", Value: "energy_meter"}}

func newSource(t *testing.T, cfg Config, rec *adaptertest.Recorder) *Source {
	t.Helper()
	s, err := New(cfg, rec, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}
