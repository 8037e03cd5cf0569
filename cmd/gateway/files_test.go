package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// specialFiles makes, in a fresh directory, a FIFO and a symbolic link to /dev/zero: the
// two files a configured path must never be read from.
func specialFiles(t *testing.T) (fifo, zero string) {
	t.Helper()
	dir := t.TempDir()
	fifo, zero = filepath.Join(dir, "fifo"), filepath.Join(dir, "zero")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	return fifo, zero
}

// runBinary runs the gateway binary with args and fails the test if it has not exited
// within 10 s (a FIFO opened for reading blocks until a writer comes).
func runBinary(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	bin := testsrv.GatewayBinary(t) // built once per test binary, before the clock starts
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("gateway %v did not return within 10s", args)
	}
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("gateway %v: %v", args, err)
	}
	return code, o.String(), e.String()
}

// TestValidateSpecialFiles: `gateway validate` with a FIFO or a link to /dev/zero as the
// configuration itself, a secret, a TLS file or a user certificate returns at once with
// the path and what it is.
func TestValidateSpecialFiles(t *testing.T) {
	fifo, zero := specialFiles(t)
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 16<<20+1); err != nil {
		t.Fatal(err)
	}
	const head = `workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
`
	for _, tc := range []struct {
		name, config string // config: the file's content, or "@path" to validate that path
		stderr       string // with CFG for the configuration's path
	}{
		{"configuration is a FIFO", "@" + fifo,
			fmt.Sprintf("%s: read config %q: is a named pipe (FIFO), not a regular file\n", fifo, fifo)},
		{"configuration links to /dev/zero", "@" + zero,
			fmt.Sprintf("%s: read config %q: is a character device, not a regular file\n", zero, zero)},
		{"configuration over 16 MiB", "@" + big,
			fmt.Sprintf("%s: read config %q: larger than 16 MiB\n", big, big)},
		{"password file is a FIFO", head + `sources:
  mqtt:
    - {name: meters, broker: "tcp://127.0.0.1:1883", username: u, password_file: ` + fifo + `}
`, fmt.Sprintf("CFG:4: sources.mqtt[0].password_file: read secret file %q: is a named pipe (FIFO), not a regular file\n1 error(s)\n", fifo)},
		{"admin token file links to /dev/zero", head + "admin: {token_file: " + zero + "}\n",
			fmt.Sprintf("CFG:2: admin.token_file: read secret file %q: is a character device, not a regular file\n1 error(s)\n", zero)},
		{"sink token file is a FIFO", head + `sinks:
  influx:
    - {name: tsdb, url: "http://127.0.0.1:8428", bucket: b, token_file: ` + fifo + `}
`, fmt.Sprintf("CFG:4: sinks.influx[0].token_file: read secret file %q: is a named pipe (FIFO), not a regular file\n1 error(s)\n", fifo)},
		{"TLS CA file is a FIFO", head + `sources:
  mqtt:
    - {name: meters, broker: "ssl://127.0.0.1:8883", tls: {ca_file: ` + fifo + `}}
`, fmt.Sprintf("CFG:4: sources.mqtt[0].tls.ca_file: read %q: is a named pipe (FIFO), not a regular file\n1 error(s)\n", fifo)},
		{"OPC UA user certificate links to /dev/zero", head + `sources:
  opcua:
    - {name: cnc, endpoint: "opc.tcp://127.0.0.1:4840", user_cert_file: ` + zero + `, user_key_file: ` + fifo + `}
`, fmt.Sprintf("CFG:4: sources.opcua[0].user_cert_file: read %q: is a character device, not a regular file\n1 error(s)\n", zero)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.config[min(1, len(tc.config)):]
			if tc.config == "" || tc.config[0] != '@' {
				path = filepath.Join(t.TempDir(), "gateway.yaml")
				// A one-machine inventory after the case's lines: an empty one is an error.
				if err := os.WriteFile(path, []byte(tc.config+"devices: [{id: m1, kind: machine}]\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			start := time.Now()
			code, stdout, stderr := runBinary(t, "validate", path)
			want := bytes.ReplaceAll([]byte(tc.stderr), []byte("CFG"), []byte(path))
			if code != 1 || stdout != "" || stderr != string(want) {
				t.Fatalf("exit %d, stdout %q, stderr\n%s\nwant\n%s", code, stdout, stderr, want)
			}
			t.Logf("returned in %s", time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestPKIListSpecialFiles: `gateway pki list` with a FIFO and a link to /dev/zero in
// rejected/ returns at once and names them.
func TestPKIListSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	rejected := filepath.Join(dir, "rejected")
	if err := os.MkdirAll(rejected, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(rejected, "m1.der"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(rejected, "m2.der")); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runBinary(t, "pki", "-dir", dir, "list")
	want := "PKI directory " + dir + "\n\nown (the gateway's application instance certificate):\n" +
		"  none yet: generated at the first start, or with `gateway pki -config FILE init`\n" +
		"\ntrusted (0):\n\nrejected (0):\n" +
		"  not a certificate: " + filepath.Join(rejected, "m1.der") + ": is a named pipe (FIFO), not a regular file\n" +
		"  not a certificate: " + filepath.Join(rejected, "m2.der") + ": is a character device, not a regular file\n"
	if code != 0 || stdout != want || stderr != "" {
		t.Fatalf("exit %d, stderr %q, stdout\n%s\nwant\n%s", code, stderr, stdout, want)
	}
}

// TestStatusWithSpecialFilesInRejected: a link to /dev/zero, a FIFO and a 2 MiB file in
// pki/rejected/ of a running gateway (its OPC UA source has security, so /api/status
// lists the rejected certificates): /api/status answers at once, lists the one real
// certificate, and the gateway stays up with its memory bounded; SIGTERM then stops it.
func TestStatusWithSpecialFilesInRejected(t *testing.T) {
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	admin := fmt.Sprintf("127.0.0.1:%d", testsrv.FreePort(t))
	cfgPath := filepath.Join(dir, "gateway.yaml")
	cfg := fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
admin: {listen: "%s"}
queue: {dir: %s}
pki: {dir: %s}
sources:
  opcua:
    - {name: cnc, endpoint: "opc.tcp://127.0.0.1:%d", connect_timeout: 1s, reconnect_max: 2s}
sinks:
  influx:
    - {name: tsdb, url: "http://127.0.0.1:%d", bucket: b}
devices:
  - id: m1
    kind: cnc
    source: cnc
    signals:
      state: {node: "ns=2;s=M1.State"}
`, admin, filepath.Join(dir, "queue"), pkiDir, testsrv.FreePort(t), testsrv.FreePort(t))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// A real rejected certificate, as `gateway pki` would have left it.
	if code, _, stderr := runBinary(t, "pki", "-config", cfgPath, "init"); code != 0 {
		t.Fatalf("pki init: %s", stderr)
	}
	rejected := filepath.Join(pkiDir, "rejected")
	own, err := os.ReadFile(filepath.Join(pkiDir, "own", "cert.der"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rejected, "m1.der"), own, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(rejected, "zero.der")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(rejected, "pipe.der"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rejected, "big.der"), make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}

	logf, err := os.Create(filepath.Join(dir, "gateway.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(testsrv.GatewayBinary(t), "-config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("gateway log:\n%s", b)
		}
	})
	g := &gateway{t: t, admin: admin}
	if msg := testsrv.WaitFor(60*time.Second, func() string {
		if code, _ := g.get("/healthz"); code != 200 {
			return "no /healthz"
		}
		return ""
	}); msg != "" {
		t.Fatal(msg)
	}
	for i := 0; i < 3; i++ {
		start := time.Now()
		code, body := g.get("/api/status")
		if d := time.Since(start); code != 200 || d > 2*time.Second {
			t.Fatalf("/api/status: %d after %s: %.300s", code, d, body)
		}
		var st struct {
			PKI struct {
				Rejected []struct{ Path string }
			}
		}
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatal(err)
		}
		if r := st.PKI.Rejected; len(r) != 1 || r[0].Path != filepath.Join(rejected, "m1.der") {
			t.Fatalf("/api/status lists rejected %+v, want m1.der only", r)
		}
	}
	if rss := testsrv.ProcMemory(t, cmd.Process.Pid, "VmRSS") >> 10; rss > 200<<10 {
		t.Errorf("RSS %d KiB after the polls", rss)
	}
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		if !cmd.ProcessState.Success() {
			t.Errorf("exit status %v", cmd.ProcessState)
		}
		t.Logf("stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not stop within 30s of SIGTERM")
	}
}
