package api

import (
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/rules"
	"github.com/ganlink/ganlink/gateway/aggregator/service"
)

// FuzzPeriod feeds from, to and step through the API's period parsing (parseTime,
// service.ParseDuration, CheckPeriod): no input panics, every error is short, and an
// accepted period is well-formed: from before to, within max_range, buckets that tile
// it, at most max_buckets of them.
func FuzzPeriod(f *testing.F) {
	cst := time.FixedZone("CST", 8*3600)
	now := time.Date(2024, 5, 2, 0, 10, 0, 0, cst)
	svc, err := service.New(nil, nil, rules.Default(), service.Options{Window: "1h", WindowSize: time.Hour, Location: cst,
		MaxBuckets: 1000, MaxRange: 400 * 24 * time.Hour, Now: func() time.Time { return now }}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	a := &API{svc: svc, opt: Options{DefaultRange: 30 * 24 * time.Hour}}
	for _, s := range [][3]string{
		{"2024-05-01", "2024-05-02", "1h"}, {"", "", ""}, {"2024-03-23", "2024-05-02", "1h"}, {"2024-05-01T00:30", "", ""},
		{"2024-05-01T00:00:00+08:00", "2024-05-01T06:00:00Z", "6h"}, {"0001-01-01", "9999-12-31", "1d"},
		{"", "2024-05-02", "999999999999d"}, {"", "", "1d-5h"}, {"", "", "-1h"}, {"", "", "0s"}, {"", "", "+1d"},
		{"2024-02-30", "2024-13-01", "1e9h"}, {"1970-01-01T00:00:00Z", "", "24h"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, from, to, step string) {
		q := map[string]string{"from": from, "to": to, "step": step}
		p, err := a.period(&request{query: q}, true)
		if err != nil {
			if len(err.Error()) > 4*service.ClipBytes+200 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		n := p.Buckets()
		if !p.From.Before(p.To) || p.To.Sub(p.From) > 400*24*time.Hour || n < 1 || n > 1000 {
			t.Fatalf("accepted %+v (%d buckets)", p, n)
		}
		if _, end := p.Bucket(n - 1); !end.Equal(p.To) {
			t.Fatalf("%+v: last bucket ends %s", p, end)
		}
	})
}
