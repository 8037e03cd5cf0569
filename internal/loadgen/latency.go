package loadgen

import (
	"math"
	"sync"
	"time"
)

// histMax is the largest latency the histogram resolves to the millisecond; longer
// latencies fall into its last bucket, and Max still reports them exactly.
const histMax = 120 * time.Second

// latencyHist counts latencies in 1 ms buckets. It is safe for concurrent use.
type latencyHist struct {
	mu      sync.Mutex
	buckets []int64 // buckets[i]: latencies in [i ms, i+1 ms); the last one also holds longer ones
	n       int64
	max     time.Duration
}

func newLatencyHist() *latencyHist {
	return &latencyHist{buckets: make([]int64, histMax/time.Millisecond+1)}
}

// add records count observations of latency d; negative latencies (clock steps) count
// as 0.
func (h *latencyHist) add(d time.Duration, count int64) {
	d = max(d, 0)
	i := min(int(d/time.Millisecond), len(h.buckets)-1)
	h.mu.Lock()
	h.buckets[i] += count
	h.n += count
	h.max = max(h.max, d)
	h.mu.Unlock()
}

// quantile returns the lower edge of the bucket holding the q-quantile (0 < q ≤ 1):
// the smallest whole millisecond m such that at least q of the observations are below
// m+1 ms. It returns 0 without observations.
func (h *latencyHist) quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q*float64(h.n) - 1e-9)) // 0.99×100 is 99, not 100
	rank = min(max(rank, 1), h.n)
	var seen int64
	for i, c := range h.buckets {
		seen += c
		if seen >= rank {
			return time.Duration(i) * time.Millisecond
		}
	}
	return histMax
}

// count returns the number of observations and the largest one.
func (h *latencyHist) count() (int64, time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n, h.max
}
