package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/point"
)

type errList struct {
	point.NopObserver
	errs []string
}

func (e *errList) SignalError(source, device, signal, reason string, err error) {
	e.errs = append(e.errs, fmt.Sprintf("%s|%s|%s|%v", source, device, reason, err))
}

// TestGuardTime: a point stamped more than sources.max_time_ahead after the clock gets
// the clock's time and is counted; one within it keeps its time.
func TestGuardTime(t *testing.T) {
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	batch := func() point.Batch {
		return point.Batch{
			{Device: "em1", Time: now.Add(5 * time.Minute).UnixNano()},
			{Device: "cnc1", Time: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()},
			{Device: "em2", Time: now.Add(-time.Hour).UnixNano()},
		}
	}
	for _, tc := range []struct {
		maxAhead time.Duration
		want     []int64
		errs     []string
	}{
		{10 * time.Minute, []int64{now.Add(5 * time.Minute).UnixNano(), now.UnixNano(), now.Add(-time.Hour).UnixNano()}, []string{
			`meters|cnc1|future_timestamp|device "cnc1": source timestamp 2200-01-01T00:00:00Z is 1517080h0m0s ahead of the gateway clock (sources.max_time_ahead 10m0s): receive time used`}},
		{time.Minute, []int64{now.UnixNano(), now.UnixNano(), now.Add(-time.Hour).UnixNano()}, []string{
			`meters|em1|future_timestamp|device "em1": source timestamp 2026-12-07T08:05:00Z is 5m0s ahead of the gateway clock (sources.max_time_ahead 1m0s): receive time used`,
			`meters|cnc1|future_timestamp|device "cnc1": source timestamp 2200-01-01T00:00:00Z is 1517080h0m0s ahead of the gateway clock (sources.max_time_ahead 1m0s): receive time used`}},
	} {
		obs := &errList{}
		var got []int64
		emit := guardTime("meters", tc.maxAhead, clock, obs, func(_ context.Context, b point.Batch) error {
			for _, p := range b {
				got = append(got, p.Time)
			}
			return nil
		})
		if err := emit(context.Background(), batch()); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) || !slices.Equal(obs.errs, tc.errs) {
			t.Errorf("max_time_ahead %s: times %v errors %q\nwant %v %q", tc.maxAhead, got, obs.errs, tc.want, tc.errs)
		}
	}
}

// TestMaxTimeAheadKey: sources.max_time_ahead set in the configuration is the guard the
// gateway puts in front of every source.
func TestMaxTimeAheadKey(t *testing.T) {
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	ahead := now.Add(5 * time.Minute).UnixNano()
	for _, tc := range []struct {
		key  string
		want int64
	}{{"", ahead}, {"max_time_ahead: 1m", now.UnixNano()}} {
		yml := fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
admin: {listen: "127.0.0.1:0"}
queue: {dir: %s}
sources: {%s}
devices: [{id: em1, kind: energy_meter}]
`, filepath.Join(t.TempDir(), "queue"), tc.key)
		cfg, err := config.Load([]byte(yml), nil, Kinds())
		if err != nil {
			t.Fatal(err)
		}
		a, err := Build(cfg, slog.New(slog.DiscardHandler), Options{Clock: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		b := point.Batch{{Measurement: "energy_meter", Device: "em1", Time: ahead, Fields: []point.Field{{Key: "power_kw", Value: 1}}}}
		if err := a.sourceEmit("meters")(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		if b[0].Time != tc.want {
			t.Errorf("%q: point time %d, want %d", tc.key, b[0].Time, tc.want)
		}
		_ = a.closeQueues()
		done, cancel := context.WithCancel(context.Background())
		cancel()
		_ = a.admin.Run(done) // releases the admin listener
	}
}
