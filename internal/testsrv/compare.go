package testsrv

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// DiffSamples compares sample sets keyed by series and timestamp; values must agree
// within relTol (VictoriaMetrics keeps about 13 significant digits; InfluxDB is exact).
// It returns "" when they are equal, else the first missing and unexpected samples.
func DiffSamples(want, got map[string]float64, relTol float64) string {
	var missing, extra []string
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			missing = append(missing, fmt.Sprintf("%s %v", k, v))
		case math.Abs(g-v) > relTol*math.Abs(v):
			missing = append(missing, fmt.Sprintf("%s %v (got %v)", k, v, g))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			extra = append(extra, fmt.Sprintf("%s %v", k, v))
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	sort.Strings(missing)
	sort.Strings(extra)
	cut := func(s []string) []string {
		if len(s) > 10 {
			return append(s[:10:10], fmt.Sprintf("... %d more", len(s)-10))
		}
		return s
	}
	return fmt.Sprintf("missing %d:\n  %s\nunexpected %d:\n  %s", len(missing), strings.Join(cut(missing), "\n  "),
		len(extra), strings.Join(cut(extra), "\n  "))
}

// WaitFor polls cond every 200 ms until it returns "" or d elapses, and returns its last
// message ("" on success).
func WaitFor(d time.Duration, cond func() string) string {
	deadline := time.Now().Add(d)
	for {
		msg := cond()
		if msg == "" || time.Now().After(deadline) {
			return msg
		}
		time.Sleep(200 * time.Millisecond)
	}
}
