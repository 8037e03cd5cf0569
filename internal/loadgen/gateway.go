package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// gatewayProc runs the gateway binary as a child process with JSON logs, copies its
// output to a log file and notes when chosen log messages first appear.
type gatewayProc struct {
	bin     string
	args    []string
	env     []string // nil: the harness's environment
	logPath string
	watch   []string // log messages whose first appearance is recorded
	// readyLog, when set, is a substring of a (plain-text) log line whose first
	// appearance closes ready.
	readyLog string
	ready    chan struct{}

	pid     chan int // receives the pid once started
	mu      sync.Mutex
	seen    map[string]logEvent
	warns   int
	lastErr string
}

// logEvent is the first appearance of a watched log message.
type logEvent struct {
	At    time.Time // when the harness read the line
	Attrs map[string]any
}

func newGatewayProc(bin string, args []string, logPath string, watch ...string) *gatewayProc {
	return &gatewayProc{bin: bin, args: args, logPath: logPath, watch: watch,
		pid: make(chan int, 1), seen: map[string]logEvent{}, ready: make(chan struct{})}
}

// gatewayStopTimeout bounds a graceful shutdown before the process is killed.
const gatewayStopTimeout = 30 * time.Second

// Run starts the gateway and returns when it has exited: after ctx is done it sends
// SIGTERM (SIGKILL after gatewayStopTimeout). An exit before ctx is done, or an
// unclean one, is an error carrying the end of the log.
func (g *gatewayProc) Run(ctx context.Context) error {
	logf, err := os.Create(g.logPath)
	if err != nil {
		return fmt.Errorf("create gateway log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(g.bin, g.args...)
	cmd.Env = g.env
	cmd.Stdout = logf
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("start gateway %q: %w", g.bin, err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start gateway %q: %w", g.bin, err)
	}
	g.pid <- cmd.Process.Pid
	exited := make(chan error, 1)
	go func() {
		g.scan(stderr, logf)
		exited <- cmd.Wait()
	}()
	select {
	case err := <-exited:
		return fmt.Errorf("gateway exited while running (%v):\n%s", err, g.tail())
	case <-ctx.Done():
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(gatewayStopTimeout)
	defer t.Stop()
	select {
	case err = <-exited:
	case <-t.C:
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		return fmt.Errorf("gateway did not stop within %s of SIGTERM; killed:\n%s", gatewayStopTimeout, g.tail())
	}
	if err != nil {
		return fmt.Errorf("gateway stopped with %v:\n%s", err, g.tail())
	}
	return nil
}

// scan copies the gateway's log to w and records watched messages and warnings.
func (g *gatewayProc) scan(r io.Reader, w io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	readyPending := g.readyLog != ""
	for sc.Scan() {
		line := sc.Bytes()
		now := time.Now()
		_, _ = w.Write(line)
		_, _ = w.Write(newline)
		if readyPending && bytes.Contains(line, []byte(g.readyLog)) {
			readyPending = false
			close(g.ready)
		}
		var rec map[string]any
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		msg, _ := rec["msg"].(string)
		level, _ := rec["level"].(string)
		g.mu.Lock()
		if level == "WARN" || level == "ERROR" {
			g.warns++
			g.lastErr = msg
			if e, ok := rec["err"].(string); ok {
				g.lastErr += ": " + e
			}
		}
		for _, m := range g.watch {
			if m == msg {
				if _, dup := g.seen[m]; !dup {
					g.seen[m] = logEvent{At: now, Attrs: rec}
				}
			}
		}
		g.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

var newline = []byte{'\n'}

// event returns the first appearance of a watched message.
func (g *gatewayProc) event(msg string) (logEvent, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.seen[msg]
	return e, ok
}

// warnings returns how many warnings and errors the gateway logged, and the last one.
func (g *gatewayProc) warnings() (int, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.warns, g.lastErr
}

func (g *gatewayProc) tail() string {
	b, err := os.ReadFile(g.logPath)
	if err != nil {
		return ""
	}
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// waitReady polls the gateway's /readyz until it answers 200, the gateway exits
// (runDone is closed) or the timeout passes.
func waitReady(ctx context.Context, adminURL string, timeout time.Duration, runDone <-chan struct{}) error {
	c := http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for {
		resp, err := c.Get(adminURL + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = strings.TrimSpace(string(b))
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("wait for gateway readiness: not ready after %s: %s", timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-runDone:
			return errors.New("wait for gateway readiness: gateway exited")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// scrapeCounter returns the sum of every sample of a counter on a /metrics page.
func scrapeCounter(adminURL, name string) (float64, error) {
	v, err := scrapeCounters(adminURL, name)
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

// scrapeCounters reads the /metrics page once and returns, for each name, the sum of
// its samples; a name not on the page is an error.
func scrapeCounters(adminURL string, names ...string) ([]float64, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(adminURL + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("scrape %q: %w", names, err)
	}
	defer resp.Body.Close()
	sums := make([]float64, len(names))
	found := make([]bool, len(names))
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		for i, name := range names {
			if !strings.HasPrefix(line, name) {
				continue
			}
			rest := line[len(name):]
			if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
				continue
			}
			var v float64
			if _, err := fmt.Sscan(rest[strings.LastIndexByte(rest, ' ')+1:], &v); err != nil {
				return nil, fmt.Errorf("scrape %q: parse %q: %w", name, line, err)
			}
			sums[i] += v
			found[i] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scrape %q: %w", names, err)
	}
	for i, ok := range found {
		if !ok {
			return nil, fmt.Errorf("scrape %q: not on the page", names[i])
		}
	}
	return sums, nil
}

// fetch writes the body of a GET of url to path.
func fetch(url, path string) error {
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", url, err)
	}
	return os.WriteFile(path, b, 0o644)
}
