package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// Every gateway configuration shipped in configs/ and deployments/ validates.
func TestShippedConfigsValidate(t *testing.T) {
	var files []string
	for _, pattern := range []string{"../../configs/gateway*.yaml", "../../deployments/*/gateway*.yaml"} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	if len(files) < 2 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		var out, errb bytes.Buffer
		if code := run([]string{"validate", f}, &out, &errb); code != 0 {
			t.Errorf("%s: exit %d\n%s", f, code, errb.String())
		}
	}
}

// deployments/native/stack.sh starts broker, VictoriaMetrics, devsim and the gateway
// without Docker; data reaches VictoriaMetrics, and stop ends every process.
func TestNativeStack(t *testing.T) {
	dir := t.TempDir()
	env := append(os.Environ(),
		fmt.Sprintf("MQTT_PORT=%d", testsrv.FreePort(t)), fmt.Sprintf("OPCUA_PORT=%d", testsrv.FreePort(t)),
		fmt.Sprintf("VM_PORT=%d", testsrv.FreePort(t)), fmt.Sprintf("ADMIN_PORT=%d", testsrv.FreePort(t)),
		fmt.Sprintf("API_PORT=%d", testsrv.FreePort(t)))
	script, _ := filepath.Abs("../../deployments/native/stack.sh")
	sh := func(args ...string) string {
		cmd := exec.Command(script, append(args, dir)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				t.Logf("%s:\n%s", l, b)
			}
			t.Fatalf("stack.sh %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	t.Cleanup(func() { sh("stop") })
	sh("start")
	var vmPort, adminPort, apiPort string
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "VM_PORT="); ok {
			vmPort = v
		}
		if v, ok := strings.CutPrefix(e, "ADMIN_PORT="); ok {
			adminPort = v
		}
		if v, ok := strings.CutPrefix(e, "API_PORT="); ok {
			apiPort = v
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		http.Get("http://127.0.0.1:" + vmPort + "/internal/force_flush")
		resp, err := http.Get("http://127.0.0.1:" + vmPort + "/api/v1/series/count")
		body := ""
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
		}
		if strings.Contains(body, `"data":[`) && !strings.Contains(body, `"data":[0]`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no series in VictoriaMetrics after 30s: %s", body)
		}
		time.Sleep(500 * time.Millisecond)
	}
	resp, err := http.Get("http://127.0.0.1:" + adminPort + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("gateway not ready: %v", err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("GET", "http://127.0.0.1:"+apiPort+"/api/v1/programme", nil)
	req.Header.Set("Authorization", "Bearer example-province-token")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("aggregator API: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "smart_equipment") {
		t.Fatalf("aggregator API: %d %s", resp.StatusCode, body)
	}
	if st := sh("status"); strings.Count(st, ": running") != 5 {
		t.Fatalf("status:\n%s", st)
	}
	sh("stop")
	if st := sh("status"); strings.Contains(st, "running") {
		t.Fatalf("still running after stop:\n%s", st)
	}
}
