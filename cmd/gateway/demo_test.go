//go:build !nodemo

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/status"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/ganlink/ganlink/internal/testutil"
)

// TestDemoBinary builds the gateway, runs `gateway -demo` in an empty directory for a
// few seconds and checks that it prints the URLs, that /api/status lists every simulated
// device with live values and the workshop's CNC rate, that every block lands in
// ganlink-data/demo-lines.lp, and that Ctrl-C stops it cleanly.
func TestDemoBinary(t *testing.T) {
	bin := testsrv.GatewayBinary(t)

	dir := t.TempDir()
	cmd := exec.Command(bin, "-demo", "-listen", "127.0.0.1:0")
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &testutil.LogBuffer{}
	cmd.Stderr = stderr
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// gone is closed once the process has exited; exitErr is its result then.
	gone := make(chan struct{})
	var exitErr error
	var banner testutil.LogBuffer
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(&banner, line)
			if f := strings.Fields(line); len(f) == 3 && f[0] == "status" && f[1] == "JSON" {
				urls <- f[2]
			}
		}
		exitErr = cmd.Wait()
		close(gone)
	}()
	t.Cleanup(func() {
		select {
		case <-gone:
		default:
			_ = cmd.Process.Kill()
			<-gone
		}
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", banner.String(), stderr.String())
		}
	})

	var statusURL string
	select {
	case statusURL = <-urls:
	case <-gone:
		t.Fatalf("demo exited before printing its URLs: %v", exitErr)
	case <-time.After(15 * time.Second):
		t.Fatal("demo printed no status URL within 15s")
	}
	simulated := []string{"m1", "m2", "m3", "m4", "em1", "em2", "wm1"}
	working := []string{"running", "idle", "setup", "alarm"}
	var st status.Status
	msg := demoWait(15*time.Second, func() string {
		resp, err := http.Get(statusURL)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		st = status.Status{}
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			return "decode status: " + err.Error()
		}
		var ids []string
		for _, d := range st.Devices {
			ids = append(ids, d.ID)
			if d.Source == "" {
				continue
			}
			if d.Connection != "up" || !slices.Contains(working, d.State) || d.LastSampleAgeS == nil {
				return fmt.Sprintf("device %s: connection %q state %q", d.ID, d.Connection, d.State)
			}
			if len(d.Signals) == 0 {
				return fmt.Sprintf("device %s: no signals", d.ID)
			}
			for _, s := range d.Signals {
				if s.Value == nil || s.Quality != "good" || s.AgeS == nil {
					return fmt.Sprintf("device %s signal %s: value %v quality %q", d.ID, s.Name, s.Value, s.Quality)
				}
			}
		}
		if want := append(slices.Clone(simulated), "legacy1", "legacy2"); !slices.Equal(ids, want) {
			return fmt.Sprintf("devices %v, want %v", ids, want)
		}
		if len(st.WorkshopKPI) == 0 || st.WorkshopKPI[0].Current == nil {
			return "no workshop KPIs"
		}
		if _, ok := st.WorkshopKPI[0].Current.Fields["cnc_rate"]; !ok {
			return "no cnc_rate yet"
		}
		return ""
	})
	if msg != "" {
		t.Fatalf("status after %v: %s", time.Since(started).Round(time.Millisecond), msg)
	}
	t.Logf("demo live %v after start", time.Since(started).Round(time.Millisecond))
	for _, want := range []string{"status page / 状态页  http://127.0.0.1:", "metrics              http://127.0.0.1:",
		"No TSDB given (-influx-url)", "ganlink-data/demo-lines.lp", "Press Ctrl-C to stop."} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("start-up message lacks %q:\n%s", want, banner.String())
		}
	}

	// 4 CNC machines of 6 key-process machines (2 legacy ones).
	if got, want := st.WorkshopKPI[0].Current.Fields["cnc_rate"], 4.0/6; got != want {
		t.Errorf("cnc_rate %v, want %v", got, want)
	}
	if st.Workshop.ID != "ws1" || st.Workshop.Region != "360111" {
		t.Errorf("workshop %+v", st.Workshop)
	}
	if len(st.Sinks) != 1 || st.Sinks[0].Name != "lines" || st.Sinks[0].Kind != "file" ||
		st.Sinks[0].Target != filepath.Join("ganlink-data", "demo-lines.lp") {
		t.Errorf("sinks %+v", st.Sinks)
	}

	// Every source's measurement reaches the line-protocol file.
	linesPath := filepath.Join(dir, "ganlink-data", "demo-lines.lp")
	if msg := demoWait(10*time.Second, func() string {
		b, err := os.ReadFile(linesPath)
		if err != nil {
			return err.Error()
		}
		for _, m := range []string{"cnc,", "energy_meter,", "water_meter,"} {
			if !bytes.HasPrefix(b, []byte(m)) && !bytes.Contains(b, []byte("\n"+m)) {
				return fmt.Sprintf("no %s line in %s", strings.TrimSuffix(m, ","), linesPath)
			}
		}
		return ""
	}); msg != "" {
		t.Error(msg)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gone:
		if exitErr != nil {
			t.Errorf("demo exit after Ctrl-C: %v", exitErr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("demo did not stop within 15s of Ctrl-C")
	}
	if strings.Contains(stderr.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", stderr.String())
	}
	for _, f := range []string{"kpi-state.json", "queue/lines"} {
		if _, err := os.Stat(filepath.Join(dir, "ganlink-data", f)); err != nil {
			t.Errorf("after stop: %v", err)
		}
	}
}

// demoWait polls cond every 200 ms until it returns "" or d has elapsed, and returns
// its last message.
func demoWait(d time.Duration, cond func() string) string {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		msg := cond()
		if msg == "" {
			return ""
		}
		select {
		case <-ctx.Done():
			return msg
		case <-time.After(200 * time.Millisecond):
		}
	}
}
