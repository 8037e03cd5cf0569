package loadgen

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// WriteTable writes results as a Markdown table: workload, rate, fields/s, CPU-s per
// million fields, peak RSS, loss, p50/p99 latency and the load average around the run.
func WriteTable(w io.Writer, results []Result) error {
	var b strings.Builder
	b.WriteString("| workload | rate | fields/s | CPU-s per 1M fields | peak RSS MB | loss (of produced) | p50 / p99 latency | load avg before → after |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		rate := fmt.Sprintf("%s %s", thousands(r.Rate), r.RateUnit)
		if r.AchievedRate > 0 && math.Abs(r.AchievedRate-r.Rate) > 0.02*r.Rate {
			rate += fmt.Sprintf(" (achieved %s)", thousands(r.AchievedRate))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.1f | %s (of %s) | %s / %s | %s → %s |\n",
			r.Workload, rate, thousands(r.FieldsPerSecond()), cpuText(r.CPUPerMillion()),
			float64(r.PeakRSS)/(1<<20), thousands(float64(r.Loss)), thousands(float64(r.Produced)),
			ms(r.P50), ms(r.P99), r.LoadBefore, r.LoadAfter)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteDetails writes the figures the table leaves out, one line a run.
func WriteDetails(w io.Writer, results []Result) error {
	var b strings.Builder
	for _, r := range results {
		fmt.Fprintf(&b, "- %s at %s %s: produced %d fields in %s, stored %d distinct samples, accepted %d (duplicates included); "+
			"the gateway received %d fields over its whole run; CPU %.2f s over %s, Go heap in use %.1f MB of %.1f MB from the OS; max latency %s",
			r.Workload, thousands(r.Rate), r.RateUnit, r.Produced, r.Duration, r.Stored, r.Accepted,
			r.Received, r.CPUSeconds, r.Interval.Round(time.Millisecond),
			float64(r.HeapInuse)/(1<<20), float64(r.GoSys)/(1<<20), ms(r.Max))
		if r.PublishFailures > 0 {
			fmt.Fprintf(&b, "; %d publishes not acknowledged", r.PublishFailures)
		}
		if r.BrokerDropped > 0 {
			fmt.Fprintf(&b, "; the broker dropped %d messages, the first reported %s into the load",
				r.BrokerDropped, r.FirstDrop.Round(time.Second))
		}
		if r.ServerDropped > 0 {
			fmt.Fprintf(&b, "; %d notifications dropped by the server", r.ServerDropped)
		}
		if r.StartToMonitored > 0 {
			fmt.Fprintf(&b, "; all items monitored %s after the first subscription (%s after process start; \"opcua connected\" logged at %s)",
				ms(r.MonitoredAfter), ms(r.StartToMonitored), ms(r.Connected))
		}
		if dr := r.Drain; dr.Took > 0 {
			sec := dr.Took.Seconds()
			fmt.Fprintf(&b, "; after the outage a backlog of %d points drained in %s: %s points/s written while %s points/s arrived (%.0f×)",
				dr.Backlog, dr.Took.Round(time.Millisecond), thousands(float64(dr.Written)/sec), thousands(float64(dr.Appended)/sec),
				float64(dr.Written)/math.Max(float64(dr.Appended), 1))
		}
		if r.GatewayWarnings > 0 {
			fmt.Fprintf(&b, "; %d gateway warnings, last: %s", r.GatewayWarnings, r.LastWarning)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func cpuText(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", v)
}

// ms formats a duration in whole milliseconds, or seconds with two decimals from 10 s.
func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// thousands formats a number rounded to an integer, digits grouped by three with
// spaces: 12345 → "12 345".
func thousands(v float64) string {
	n := int64(math.Round(v))
	neg := n < 0
	if neg {
		n = -n
	}
	s := fmt.Sprint(n)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ' ')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
