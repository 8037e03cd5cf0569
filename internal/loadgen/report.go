package loadgen

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
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
			r.label(), rate, thousands(r.FieldsPerSecond()), cpuText(r.CPUPerMillion()),
			float64(r.PeakRSS)/(1<<20), thousands(float64(r.Loss)), thousands(float64(r.Produced)),
			ms(r.P50), ms(r.P99), r.LoadBefore, r.LoadAfter)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// label is the workload's name, followed by the peer unless it is the gateway.
func (r Result) label() string {
	if r.Peer == "" || r.Peer == PeerGanlink {
		return r.Workload
	}
	return r.Workload + " — " + string(r.Peer)
}

// WriteDetails writes the figures the table leaves out, one line a run.
func WriteDetails(w io.Writer, results []Result) error {
	var b strings.Builder
	for _, r := range results {
		fmt.Fprintf(&b, "- %s at %s %s: produced %d fields in %s, stored %d distinct samples, accepted %d (duplicates included); ",
			r.label(), thousands(r.Rate), r.RateUnit, r.Produced, r.Duration, r.Stored, r.Accepted)
		if r.Peer == "" || r.Peer == PeerGanlink {
			fmt.Fprintf(&b, "the gateway received %d fields over its whole run; CPU %.2f s over %s, Go heap in use %.1f MB of %.1f MB from the OS; max latency %s",
				r.Received, r.CPUSeconds, r.Interval.Round(time.Millisecond),
				float64(r.HeapInuse)/(1<<20), float64(r.GoSys)/(1<<20), ms(r.Max))
		} else {
			fmt.Fprintf(&b, "CPU %.2f s over %s; max latency %s", r.CPUSeconds, r.Interval.Round(time.Millisecond), ms(r.Max))
		}
		if r.LoadRSS > 0 {
			fmt.Fprintf(&b, "; RSS under load at most %.1f MB (peak RSS %.1f MB includes the start-up)", float64(r.LoadRSS)/(1<<20), float64(r.PeakRSS)/(1<<20))
		}
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
			fmt.Fprintf(&b, "; all items monitored %s after the first subscription (%s after process start",
				ms(r.MonitoredAfter), ms(r.StartToMonitored))
			if r.Connected > 0 {
				fmt.Fprintf(&b, "; \"opcua connected\" logged at %s", ms(r.Connected))
			}
			b.WriteString(")")
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
		if r.CPUSeconds < 1 && r.CPUSeconds > 0 {
			b.WriteString("; under 1 CPU-s: the 10 ms tick of /proc/PID/stat makes the CPU figure coarse, run longer")
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

// WriteSideBySide writes one row a workload with each peer's CPU-s per million fields
// delivered, peak RSS and loss (medians of CPU and RSS over repeated runs, every run's
// loss) and the ratios of the gateway's figures to Telegraf's and the floor program's,
// all from the same invocation. The load average is the highest seen around any run
// of the row.
func WriteSideBySide(w io.Writer, results []Result) error {
	type key struct {
		workload string
		rate     float64
	}
	var order []key
	byKey := map[key]map[Peer][]Result{}
	for _, r := range results {
		k := key{r.Workload, r.Rate}
		if byKey[k] == nil {
			byKey[k] = map[Peer][]Result{}
			order = append(order, k)
		}
		byKey[k][r.Peer] = append(byKey[k][r.Peer], r)
	}
	peers := []Peer{PeerGanlink, PeerTelegraf, PeerFloor}
	var b strings.Builder
	b.WriteString("| workload | Ganlink: CPU-s/1M, RSS, loss | Telegraf 1.39.3 | floor | CPU Ganlink ÷ Telegraf | CPU Ganlink ÷ floor | RSS Ganlink ÷ Telegraf | load avg (1 min, highest) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, k := range order {
		cpu := map[Peer]float64{}
		rss := map[Peer]float64{}
		load := -1.0
		unit := ""
		for _, rs := range byKey[k] {
			unit = rs[0].RateUnit
		}
		fmt.Fprintf(&b, "| %s, %s %s |", k.workload, thousands(k.rate), unit)
		for _, p := range peers {
			rs := byKey[k][p]
			if len(rs) == 0 {
				b.WriteString(" — |")
				cpu[p], rss[p] = math.NaN(), math.NaN()
				continue
			}
			var cs, ms []float64
			var losses []string
			for _, r := range rs {
				cs = append(cs, r.CPUPerMillion())
				ms = append(ms, float64(r.PeakRSS)/(1<<20))
				losses = append(losses, thousands(float64(r.Loss)))
				for _, l := range []float64{load1(r.LoadBefore), load1(r.LoadAfter)} {
					if !math.IsNaN(l) {
						load = math.Max(load, l)
					}
				}
			}
			cpu[p], rss[p] = median(cs), median(ms)
			fmt.Fprintf(&b, " %s, %.1f MB, lost %s |", cpuText(cpu[p]), rss[p], strings.Join(losses, "/"))
		}
		ratio := func(a, b float64) string {
			if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
				return "—"
			}
			return fmt.Sprintf("%.2f", a/b)
		}
		loadText := "—"
		if load >= 0 {
			loadText = fmt.Sprintf("%.2f", load)
		}
		fmt.Fprintf(&b, " %s | %s | %s | %s |\n", ratio(cpu[PeerGanlink], cpu[PeerTelegraf]), ratio(cpu[PeerGanlink], cpu[PeerFloor]),
			ratio(rss[PeerGanlink], rss[PeerTelegraf]), loadText)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// median returns the median of vs (the mean of the middle two for an even count);
// NaN values sort first.
func median(vs []float64) float64 {
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// load1 is the 1-minute figure of a "1.00 0.50 0.25" load average, NaN if absent.
func load1(s string) float64 {
	f := strings.Fields(s)
	if len(f) == 0 {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return math.NaN()
	}
	return v
}
