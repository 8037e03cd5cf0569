package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// buildMinimal builds a gateway without sources from the extra YAML lines given.
func buildMinimal(t *testing.T, extra string, opts Options) *App {
	t.Helper()
	cfg, err := config.Load([]byte(fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
admin: {listen: "127.0.0.1:0"}
queue: {dir: %s}
kpi: {state_file: %s}
devices:
  - {id: m1, kind: machine}
%s`, filepath.Join(t.TempDir(), "queue"), filepath.Join(t.TempDir(), "kpi.json"), extra)), nil, Kinds())
	if err != nil {
		t.Fatal(err)
	}
	a, err := Build(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// failingSource fails at once; blockingSource runs until ctx ends.
type failingSource struct {
	n    int
	done *atomic.Int32
}

func (s failingSource) Run(context.Context, point.EmitFunc) error {
	defer s.done.Add(1)
	return fmt.Errorf("connect refused %d", s.n)
}

type blockingSource struct{ done *atomic.Int32 }

func (s blockingSource) Run(ctx context.Context, _ point.EmitFunc) error {
	defer s.done.Add(1)
	<-ctx.Done()
	return nil
}

// TestRunManyFailingComponents: twelve sources failing at once (more than the old
// fixed error channel of 8 could take, which blocked Run for ever) make Run return the
// first failure after stopping the healthy source and every background component.
func TestRunManyFailingComponents(t *testing.T) {
	before := runtime.NumGoroutine()
	a := buildMinimal(t, "", Options{})
	var done atomic.Int32
	for i := range 12 {
		a.addSource(fmt.Sprintf("bad%d", i), failingSource{n: i, done: &done})
	}
	a.addSource("good", blockingSource{done: &done})
	errc := make(chan error, 1)
	go func() { errc <- a.Run(context.Background()) }()
	select {
	case err := <-errc:
		if err == nil || !regexp.MustCompile(`^source bad(\d+): connect refused \d+$`).MatchString(err.Error()) {
			t.Fatalf("Run: %v, want the first source failure", err)
		}
		if m := regexp.MustCompile(`^source bad(\d+): connect refused (\d+)$`).FindStringSubmatch(err.Error()); m[1] != m[2] {
			t.Fatalf("Run: %v: name and error of different sources", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return with 12 failing sources")
	}
	if n := done.Load(); n != 13 {
		t.Fatalf("%d of 13 sources returned before Run did", n)
	}
	if a.queues != nil {
		t.Fatal("queues not closed")
	}
	// Every goroutine Run started has exited (a moment is left for the runtime to
	// retire those that just returned).
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after Run, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// recordingSink fails every write and records when.
type recordingSink struct {
	mu    sync.Mutex
	calls []time.Time
}

func (s *recordingSink) Write(context.Context, []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, time.Now())
	return fmt.Errorf("disk full")
}

func (s *recordingSink) gaps() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(s.calls); i++ {
		out = append(out, s.calls[i].Sub(s.calls[i-1]))
	}
	return out
}

// TestExtraSinkBackoff: an extra sink retries with the first configured sink's capped
// exponential backoff (retry_min 50ms, retry_max 400ms here): gaps of about 50, 100,
// 200 and then 400ms between attempts, where it used to retry every 500ms.
func TestExtraSinkBackoff(t *testing.T) {
	rs := &recordingSink{}
	a := buildMinimal(t, fmt.Sprintf(`sinks:
  influx:
    - {name: tsdb, url: "http://127.0.0.1:%d", bucket: b, retry_min: 50ms, retry_max: 400ms}
`, testsrv.FreePort(t)), Options{Sinks: []ExtraSink{{Name: "lines", Kind: "file", Target: "x", Sink: rs}}})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	if err := a.pipe.Appender("test")(ctx, point.Batch{{Measurement: "m", Device: "m1",
		Fields: []point.Field{{Key: "v", Value: 1}}, Time: 1e18}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(rs.gaps()) < 6 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	g := rs.gaps()
	if len(g) < 6 {
		t.Fatalf("gaps %v: want 6", g)
	}
	// Nominal 50, 100, 200, 400, 400, 400ms, each ±20 % jitter.
	nominal := []time.Duration{50, 100, 200, 400, 400, 400}
	for i, n := range nominal {
		n *= time.Millisecond
		if g[i] < n*8/10-5*time.Millisecond || g[i] > n*12/10+100*time.Millisecond {
			t.Fatalf("gap %d is %s, want about %s (gaps %v)", i, g[i], n, g[:6])
		}
	}
}
