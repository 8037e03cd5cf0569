// Package testsrv starts the real servers the integration tests run against —
// mosquitto, VictoriaMetrics and InfluxDB 1.8.10 — on free loopback ports, and stops them
// in t.Cleanup. Servers can be stopped and started again on the same port and data
// directory to test outages.
//
// A missing server binary fails the test (never skips it): scripts/install-deps.sh
// installs them all.
package testsrv

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// startTimeout bounds how long a server may take to become ready.
const startTimeout = 90 * time.Second

// TB is the part of testing.TB the helpers need; testing.T satisfies it, and so can a
// load harness outside tests.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func lookBinary(t TB, candidates ...string) string {
	t.Helper()
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if filepath.IsAbs(c) {
			if _, err := os.Stat(c); err == nil {
				return c
			}
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	t.Fatalf("none of %q found: run scripts/install-deps.sh", candidates)
	return ""
}

// process is a restartable server process.
type process struct {
	t       TB
	name    string
	args    []string
	logPath string
	ready   func() bool

	mu  sync.Mutex
	cmd *exec.Cmd
}

func (p *process) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatalf("open log %s: %v", p.logPath, err)
	}
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	p.cmd = cmd
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	// Generous: node-opcua generates a certificate at every start and influxd opens its
	// stores, which took over 30 s on a 2-core machine running other tests.
	deadline := time.Now().Add(startTimeout)
	for !p.ready() {
		select {
		case <-exited:
			log, _ := os.ReadFile(p.logPath)
			p.cmd = nil
			p.t.Fatalf("%s exited during start-up:\n%s", p.name, tail(log, 3000))
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(p.logPath)
			p.t.Fatalf("%s not ready after %s:\n%s", p.name, startTimeout, tail(log, 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the process: SIGTERM, then SIGKILL after 10 s.
func (p *process) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	cmd := p.cmd
	p.cmd = nil
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for {
			if err := syscall.Kill(cmd.Process.Pid, 0); err != nil {
				close(done)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func tcpReady(addr string) func() bool {
	return func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
}

func httpReady(url string, want int) func() bool {
	return func() bool {
		c := http.Client{Timeout: time.Second}
		resp, err := c.Get(url)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == want
	}
}

func httpDo(method, url, contentType string, body []byte) ([]byte, int, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return b, resp.StatusCode, err
}

func writeFile(t TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }
