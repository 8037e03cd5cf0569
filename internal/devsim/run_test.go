package devsim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/testsrv"
)

func TestRunStepsOnTheGrid(t *testing.T) {
	rate := 20 * time.Millisecond
	s := mustNew(t, Config{Machines: 1, EnergyMeters: 1, Rate: rate, MeterInterval: 40 * time.Millisecond,
		Shifts: []Shift{{0, 24 * time.Hour}}, RecordLimit: 100000})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Steps < 5 {
		t.Errorf("%d steps in 300ms at %v", st.Steps, rate)
	}
	var lastReport time.Time
	reports := 0
	for _, r := range s.Produced() {
		if r.Time.UnixNano()%int64(rate) != 0 {
			t.Errorf("%s %s at %v: not a multiple of %v", r.Device, r.Signal, r.Time, rate)
		}
		if r.Signal == SigEnergyTotal {
			// After the initial report (at the first step run, which is later than the start
			// when a loaded machine made Run skip steps), reports are due at multiples of 40ms.
			reports++
			if d := r.Time.Sub(lastReport); reports > 2 && d < 40*time.Millisecond {
				t.Errorf("meter reports at %v and %v: closer than the 40ms interval", lastReport, r.Time)
			}
			lastReport = r.Time
		}
	}
}

func TestRunSkipsWhenBehind(t *testing.T) {
	ahead := func() time.Time { return time.Now().Add(time.Hour) }
	start := time.Now().Truncate(time.Second)
	s := mustNew(t, Config{Machines: 1, Start: start, Now: ahead})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Steps < 1 || st.Steps > 2 {
		t.Errorf("%d steps, want 1 or 2 after skipping an hour", st.Steps)
	}
	if lag := ahead().Sub(s.Now()); lag < 0 || lag > 2*time.Second {
		t.Errorf("simulation at %v, %v behind the clock", s.Now(), lag)
	}
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("decode %s: %v\n%s", url, err, b)
		}
	} else if p, ok := v.(*string); ok {
		*p = string(b)
	}
	return resp.StatusCode
}

func TestServeHTTPAndTruthFile(t *testing.T) {
	s := mustNew(t, Config{Machines: 2, EnergyMeters: 1, Rate: 50 * time.Millisecond, TruthWindow: time.Second,
		TimeScale: 0.01, Shifts: []Shift{{0, 24 * time.Hour}}, RecordLimit: 10})
	addr := fmt.Sprintf("127.0.0.1:%d", testsrv.FreePort(t))
	file := filepath.Join(t.TempDir(), "truth.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ServeOptions{HTTPAddr: addr, TruthFile: file}) }()

	// Wait for two final windows of every device in the file.
	type line struct {
		Device string  `json:"device"`
		Start  string  `json:"start"`
		Window float64 `json:"window_s"`
		Cover  float64 `json:"covered_s"`
		Final  bool    `json:"final"`
	}
	var lines []line
	for deadline := time.Now().Add(10 * time.Second); len(lines) < 6; {
		if time.Now().After(deadline) {
			t.Fatalf("truth file has %d lines after 10s", len(lines))
		}
		time.Sleep(100 * time.Millisecond)
		lines = nil
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var l line
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("truth line %q: %v", sc.Text(), err)
			}
			lines = append(lines, l)
		}
		f.Close()
	}
	seen := map[string]bool{}
	for _, l := range lines {
		key := l.Device + " " + l.Start
		if seen[key] || !l.Final || l.Window != 1 {
			t.Errorf("truth line %+v: repeated, not final or not 1s", l)
		}
		seen[key] = true
	}

	var wins []map[string]any
	if code := getJSON(t, "http://"+addr+"/truth?window=1s", &wins); code != 200 || len(wins) < 6 || wins[0]["device"] != "m1" {
		t.Errorf("GET /truth: %d %v", code, wins)
	}
	var stats Stats
	if code := getJSON(t, "http://"+addr+"/stats", &stats); code != 200 || stats.Steps == 0 || stats.MQTTProduced == 0 {
		t.Errorf("GET /stats: %d %+v", code, stats)
	}
	var recs []map[string]any
	if code := getJSON(t, "http://"+addr+"/produced", &recs); code != 200 || len(recs) != 10 || recs[0]["ts"] == nil {
		t.Errorf("GET /produced: %d %v", code, recs)
	}
	var msg string
	if code := getJSON(t, "http://"+addr+"/truth?window=7s", &msg); code != 400 ||
		msg != "aggregate truth into 7s windows: want a multiple of 1s that divides a day\n" {
		t.Errorf("GET /truth?window=7s: %d %q", code, msg)
	}
	if code := getJSON(t, "http://"+addr+"/truth?since=yesterday", &msg); code != 400 || !strings.HasPrefix(msg, `parse since "yesterday": `) {
		t.Errorf("GET /truth?since=yesterday: %d %q", code, msg)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Serve returned %v", err)
	}
}

func TestServeFailsOnBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := mustNew(t, Config{Machines: 1})
	err = s.Serve(context.Background(), ServeOptions{OPCUAAddr: l.Addr().String()})
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) || !strings.HasPrefix(err.Error(), fmt.Sprintf("start opc ua server on %q: ", l.Addr())) {
		t.Errorf("Serve on a busy port: %v", err)
	}
	err = s.Serve(context.Background(), ServeOptions{HTTPAddr: l.Addr().String()})
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) || !strings.HasPrefix(err.Error(), fmt.Sprintf("listen http on %q: ", l.Addr())) {
		t.Errorf("Serve http on a busy port: %v", err)
	}
}
