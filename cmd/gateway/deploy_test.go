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

// deployments/native/stack.sh starts two demo workshops, VictoriaMetrics behind vmauth,
// vmalert with Alertmanager and the aggregator without Docker, with secrets generated at
// the first start: both workshops' data reaches VictoriaMetrics; the park reader sees
// them through vmauth and another park's reader does not; vmalert has loaded the shipped
// rules; the aggregator answers the generated token (and not the example one) and lists
// both workshops; a second start keeps the secrets; stop ends every process.
func TestNativeStack(t *testing.T) {
	dir := t.TempDir()
	ports := map[string]int{}
	env := os.Environ()
	for _, k := range []string{"VM_PORT", "VMAUTH_PORT", "VMALERT_PORT", "AM_PORT", "ADMIN_PORT", "ADMIN2_PORT", "API_PORT"} {
		ports[k] = testsrv.FreePort(t)
		env = append(env, fmt.Sprintf("%s=%d", k, ports[k]))
	}
	url := func(k, path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", ports[k], path) }
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
	get := func(u, user, password, bearer string) (int, string) {
		req, _ := http.NewRequest("GET", u, nil)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	t.Cleanup(func() { sh("stop") })
	out := sh("start")
	for _, want := range []string{"workshop ws1 status:", "workshop ws2 status:", "TSDB for Grafana:", "alerts:", "aggregator API:"} {
		if !strings.Contains(out, want) {
			t.Errorf("start output lacks %q:\n%s", want, out)
		}
	}
	secret := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, "access", name))
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(filepath.Join(dir, "access", name)); fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is readable by others: %v", name, fi.Mode())
		}
		return string(b)
	}
	users := map[string]string{}
	for _, line := range strings.Split(secret("tsdb-users.txt"), "\n") {
		if f := strings.Fields(line); len(f) == 2 && !strings.HasPrefix(line, "#") {
			users[f[0]] = f[1]
		}
	}
	token := strings.TrimSpace(secret("api-token"))
	if len(token) < 32 || token == "example-province-token" {
		t.Fatalf("api token %q", token)
	}

	series := `/api/v1/label/workshop/values`
	if msg := testsrv.WaitFor(60*time.Second, func() string {
		http.Get(url("VM_PORT", "/internal/force_flush"))
		code, body := get(url("VMAUTH_PORT", series), "park-nc-hitech", users["park-nc-hitech"], "")
		if code != 200 || !strings.Contains(body, `"ws1"`) || !strings.Contains(body, `"ws2"`) {
			return fmt.Sprintf("park-nc-hitech reads %d %s", code, body)
		}
		return ""
	}); msg != "" {
		t.Fatal(msg)
	}
	// Another park's reader sees its own registered workshop (the aggregator's
	// workshop_info) and nothing of ws1 and ws2.
	if code, body := get(url("VMAUTH_PORT", series), "park-jdz-ceramics", users["park-jdz-ceramics"], ""); code != 200 ||
		strings.Contains(body, `"ws1"`) || strings.Contains(body, `"ws2"`) {
		t.Errorf("park-jdz-ceramics reads %d %s; want neither ws1 nor ws2", code, body)
	}
	if code, _ := get(url("VMAUTH_PORT", series), "", "", ""); code != http.StatusUnauthorized {
		t.Errorf("vmauth without credentials: %d", code)
	}
	for _, k := range []string{"ADMIN_PORT", "ADMIN2_PORT"} {
		if msg := testsrv.WaitFor(30*time.Second, func() string {
			if code, body := get(url(k, "/readyz"), "", "", ""); code != 200 {
				return fmt.Sprintf("gateway on %s not ready: %d %s", k, code, body)
			}
			return ""
		}); msg != "" {
			t.Error(msg)
		}
	}
	if code, body := get(url("VMALERT_PORT", "/api/v1/rules"), "", "", ""); code != 200 || !strings.Contains(body, "GanlinkGatewaySilent") {
		t.Errorf("vmalert rules: %d %.300s", code, body)
	}
	if code, _ := get(url("API_PORT", "/api/v1/programme"), "", "", "example-province-token"); code != http.StatusUnauthorized {
		t.Errorf("the example token was accepted: %d", code)
	}
	code, body := get(url("API_PORT", "/api/v1/workshops"), "", "", token)
	if code != 200 || !strings.Contains(body, `"workshop":"ws1"`) || !strings.Contains(body, `"workshop":"ws2"`) {
		t.Fatalf("aggregator API: %d %.500s", code, body)
	}
	if st := sh("status"); strings.Count(st, ": running") != 7 {
		t.Fatalf("status:\n%s", st)
	}
	sh("stop")
	if st := sh("status"); strings.Contains(st, "running") {
		t.Fatalf("still running after stop:\n%s", st)
	}
	// A second start keeps the generated secrets.
	before := secret("tsdb-users.txt") + secret("api-token")
	sh("start")
	if after := secret("tsdb-users.txt") + secret("api-token"); after != before {
		t.Error("a second start changed the generated secrets")
	}
}
