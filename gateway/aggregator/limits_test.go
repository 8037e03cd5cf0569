package aggregator

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/httplimit"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/prometheus/client_golang/prometheus"
)

// metric returns the value of a gauge or counter (with the given label pairs) from reg.
func metric(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

// gate is a TCP relay to a real server that holds every connection until opened: a
// TSDB that stops answering for a while.
type gate struct {
	ln   net.Listener
	open chan struct{}
	once sync.Once
}

func newGate(t *testing.T, target string) *gate {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, open: make(chan struct{})}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	t.Cleanup(func() {
		g.release()
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			track(c)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				<-g.open
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				track(u)
				defer u.Close()
				go func() { _, _ = io.Copy(u, c) }()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
	return g
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

func (g *gate) url() string { return "http://" + g.ln.Addr().String() }

// getAsync runs c.get in a goroutine.
type reply struct {
	code int
	h    http.Header
	body []byte
}

func getAsync(c *client, token, path string) chan reply {
	ch := make(chan reply, 1)
	go func() {
		req, _ := http.NewRequest("GET", c.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			ch <- reply{code: -1, body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		ch <- reply{resp.StatusCode, resp.Header, b}
	}()
	return ch
}

func waitMetric(t *testing.T, reg *prometheus.Registry, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for metric(t, reg, name) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", name, metric(t, reg, name), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestConcurrencyKeys shows what server.max_in_flight, server.max_queued and
// server.queue_timeout change, with the TSDB (VictoriaMetrics behind a gate) holding
// the first request.
func TestConcurrencyKeys(t *testing.T) {
	dir := t.TempDir()
	writeProvince(t, dir)
	vm := testsrv.StartVictoria(t)
	post(t, vm.URL+"/api/v2/write?bucket=ganlink", provinceLines())
	vm.Flush()
	const path = "/api/v1/kpi/regions?level=city&" + period
	for _, tc := range []struct {
		name, server string
		second       int    // status of the second request while the first is held
		reason       string // its rejection reason
		wait         time.Duration
		retryAfter   string
	}{
		{"max_in_flight 1, no queue", "{max_in_flight: 1, max_queued: 0}", 503, "queue_full", 0, "5"},
		{"max_in_flight 2", "{max_in_flight: 2, max_queued: 0}", 200, "", 0, ""},
		{"max_queued 1, queue_timeout 300ms", "{max_in_flight: 1, max_queued: 1, queue_timeout: 300ms}", 503, "queue_timeout", 300 * time.Millisecond, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGate(t, strings.TrimPrefix(vm.URL, "http://"))
			_, c, reg := startApp(t, dir, fmt.Sprintf("cache_ttl: 0s\nbackend: {type: promql, url: %q}\nserver: %s\n", g.url(), tc.server))
			first := getAsync(c, "tok-province", path)
			waitMetric(t, reg, "ganlink_aggregator_requests_in_flight", 1)
			start := time.Now()
			second := getAsync(c, "tok-province", path)
			if tc.second == 200 {
				waitMetric(t, reg, "ganlink_aggregator_requests_in_flight", 2)
				g.release()
			}
			r := <-second
			waited := time.Since(start)
			g.release()
			if r.code != tc.second || r.h.Get("Retry-After") != tc.retryAfter {
				t.Fatalf("second request: %d Retry-After %q %s, want %d %q", r.code, r.h.Get("Retry-After"), r.body, tc.second, tc.retryAfter)
			}
			if tc.reason != "" {
				want := map[string]string{
					"queue_full":    `{"error":"the aggregator is busy (1 requests in progress, 0 waiting): retry after 5 s"}`,
					"queue_timeout": `{"error":"the aggregator is busy (no request slot free within 300ms): retry after 1 s"}`,
				}[tc.reason]
				if strings.TrimSpace(string(r.body)) != want {
					t.Errorf("body %s, want %s", r.body, want)
				}
				if waited < tc.wait || waited > tc.wait+2*time.Second {
					t.Errorf("refused after %s, want about %s", waited, tc.wait)
				}
				if got := metric(t, reg, "ganlink_aggregator_requests_rejected_total", "reason", tc.reason); got != 1 {
					t.Errorf("rejected{%s} = %v, want 1", tc.reason, got)
				}
			}
			if r := <-first; r.code != 200 {
				t.Fatalf("first request: %d %s", r.code, r.body)
			}
			if r := <-getAsync(c, "tok-province", path); r.code != 200 {
				t.Fatalf("later request: %d %s", r.code, r.body)
			}
			if metric(t, reg, "ganlink_aggregator_requests_in_flight") != 0 || metric(t, reg, "ganlink_aggregator_requests_queued") != 0 {
				t.Error("gauges not back to 0")
			}
		})
	}
}

// TestSizeKeys shows what max_rows and max_points change: the same request is
// answered under the defaults and refused with 400 and an exact message under small
// limits, before the TSDB is asked; the refusals are counted.
func TestSizeKeys(t *testing.T) {
	dir := t.TempDir()
	writeProvince(t, dir)
	vm := testsrv.StartVictoria(t)
	post(t, vm.URL+"/api/v2/write?bucket=ganlink", provinceLines())
	vm.Flush()
	be := fmt.Sprintf("backend: {type: promql, url: %q}\n", vm.URL)
	const regions = "/api/v1/kpi/regions?step=1h&" + period // 7 regions × 24 buckets = 168 rows
	const shops = "/api/v1/workshops?" + period             // 36 workshops, 1 bucket
	_, c, _ := startApp(t, dir, be)
	for _, p := range []string{regions, shops} {
		if code, _, body := c.get("tok-province", p); code != 200 {
			t.Fatalf("defaults: %s: %d %s", p, code, body)
		}
	}
	for _, tc := range []struct {
		keys, path, reason, want string
	}{
		{"max_rows: 167\n", regions, "too_many_rows",
			`{"error":"the response would have 168 rows (7 regions × 24 buckets), at most 167: narrow the selection, raise step or shorten the period"}`},
		{"max_rows: 35\n", shops, "too_many_rows",
			`{"error":"the response would have 36 rows (36 workshops × 1 buckets), at most 35: narrow the selection, raise step or shorten the period"}`},
		{"max_points: 863\n", regions, "too_many_points",
			`{"error":"the period would read 864 points from the time-series database (36 registered workshops × 24 buckets), at most 863: raise step or shorten the period"}`},
	} {
		t.Run(strings.TrimSpace(tc.keys), func(t *testing.T) {
			_, c, reg := startApp(t, dir, be+tc.keys)
			code, _, body := c.get("tok-province", tc.path)
			if code != 400 || strings.TrimSpace(string(body)) != tc.want {
				t.Errorf("%d %s\nwant 400 %s", code, body, tc.want)
			}
			if got := metric(t, reg, "ganlink_aggregator_requests_rejected_total", "reason", tc.reason); got != 1 {
				t.Errorf("rejected{%s} = %v, want 1", tc.reason, got)
			}
			if got := metric(t, reg, "ganlink_aggregator_cache_misses_total"); got != 0 {
				t.Errorf("the TSDB was asked (%v cache misses)", got)
			}
		})
	}
}

// TestHeadLimitKey: the API reads a request head of exactly server.max_header_bytes
// and answers 431 to one byte more (the default 16 KiB, and 8 KiB when set).
func TestHeadLimitKey(t *testing.T) {
	dir := t.TempDir()
	writeProvince(t, dir)
	for _, tc := range []struct {
		keys  string
		limit int
	}{{"", 16 << 10}, {"server: {max_header_bytes: 8192}\n", 8 << 10}} {
		a, c, _ := startApp(t, dir, "backend: {type: promql, url: \"http://127.0.0.1:1\"}\n"+tc.keys)
		for _, p := range []struct{ size, code int }{{200, 200}, {tc.limit, 200}, {tc.limit + 1, 431}, {tc.limit + 4096, 431}} {
			code, err := httplimit.ProbeHead(a.Addr().String(), "/healthz", p.size)
			if err != nil || code != p.code {
				t.Errorf("limit %d: head of %d bytes: %d %v, want %d", tc.limit, p.size, code, err, p.code)
			}
		}
		if code, _, body := c.get("tok-province", "/api/v1/regions?region=360100"); code != 200 {
			t.Errorf("normal request: %d %s", code, body)
		}
	}
}

// countWriter counts the occurrences of pattern in what is written to it.
type countWriter struct {
	pattern, tail []byte
	n             int
	bytes         atomic.Int64
}

func (w *countWriter) Write(p []byte) (int, error) {
	w.bytes.Add(int64(len(p)))
	buf := append(w.tail, p...)
	w.n += bytes.Count(buf, w.pattern)
	keep := min(len(buf), len(w.pattern)-1)
	w.tail = append([]byte(nil), buf[len(buf)-keep:]...)
	return len(p), nil
}

// TestOverload fires 100 concurrent 40-day step=1h requests (6 720 rows each, the
// request that took an unbounded aggregator from 14 MB to 3.9 GB) at the aggregator
// with its default limits and VictoriaMetrics holding a day of data: the heap stays
// bounded, the requests beyond the queue get 503 with Retry-After and are counted,
// every other one is answered in full, and a later request succeeds.
func TestOverload(t *testing.T) {
	dir := t.TempDir()
	writeProvince(t, dir)
	vm := testsrv.StartVictoria(t)
	post(t, vm.URL+"/api/v2/write?bucket=ganlink", provinceLines())
	vm.Flush()
	_, c, reg := startApp(t, dir, fmt.Sprintf("backend: {type: promql, url: %q}\n", vm.URL))
	const path = "/api/v1/kpi/regions?step=1h&from=2024-03-23&to=2024-05-02"
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset VmHWM (Linux ≥ 4.0)
	rssBase := testsrv.ProcMemory(t, 0, "VmHWM")
	watch := testsrv.WatchHeap()
	start := time.Now()
	replies := make([]reply, 100)
	var respBytes atomic.Int64
	var wg sync.WaitGroup
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", c.base+path, nil)
			req.Header.Set("Authorization", "Bearer tok-province")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				replies[i] = reply{code: -1, body: []byte(err.Error())}
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				b, _ := io.ReadAll(resp.Body)
				replies[i] = reply{resp.StatusCode, resp.Header, b}
				return
			}
			// Count the rows without holding the body (the client's memory is not the
			// aggregator's).
			cw := &countWriter{pattern: []byte(`"workshops_reporting":`)}
			if _, err := io.Copy(cw, resp.Body); err != nil || !bytes.HasSuffix(cw.tail, []byte("]}\n")) {
				replies[i] = reply{code: -2, body: []byte(fmt.Sprint("incomplete body: ", err))}
				return
			}
			respBytes.Store(cw.bytes.Load())
			replies[i] = reply{code: 200, body: []byte(strconv.Itoa(cw.n))}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	peak := watch()
	rssPeak := testsrv.ProcMemory(t, 0, "VmHWM")
	ok, busy := 0, 0
	for _, r := range replies {
		switch r.code {
		case 200:
			ok++
			if string(r.body) != "6720" {
				t.Errorf("200 with %s rows, want 6720", r.body)
			}
		case 503:
			busy++
			if r.h.Get("Retry-After") != "5" || !strings.HasPrefix(string(r.body), `{"error":"the aggregator is busy (`) {
				t.Errorf("503: Retry-After %q %s", r.h.Get("Retry-After"), r.body)
			}
		default:
			t.Errorf("status %d: %s", r.code, r.body)
		}
	}
	growth := int64(peak) - int64(base)
	t.Logf("100 requests in %s: %d answered (%d bytes each), %d refused; heap in use %d MB → peak %d MB (+%d MB); peak RSS %d MB → %d MB",
		elapsed.Round(time.Millisecond), ok, respBytes.Load(), busy, base>>20, peak>>20, growth>>20, rssBase>>20, rssPeak>>20)
	if busy == 0 || ok == 0 {
		t.Errorf("%d answered, %d refused: want both", ok, busy)
	}
	rejected := metric(t, reg, "ganlink_aggregator_requests_rejected_total", "reason", "queue_full") +
		metric(t, reg, "ganlink_aggregator_requests_rejected_total", "reason", "queue_timeout")
	if rejected != float64(busy) {
		t.Errorf("rejected_total %v, want %d", rejected, busy)
	}
	// Four in flight, each a few MB: far below the 40 MB per request (4.3 GB for 100)
	// measured without the limits.
	if growth > 64<<20 {
		t.Errorf("heap grew by %d MB, want at most 64 MB", growth>>20)
	}
	if code, _, body := c.get("tok-province", path); code != 200 {
		t.Errorf("later request: %d %.200s", code, body)
	}
	if metric(t, reg, "ganlink_aggregator_requests_in_flight") != 0 || metric(t, reg, "ganlink_aggregator_requests_queued") != 0 {
		t.Error("gauges not back to 0")
	}
}
