package main

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/api"
)

func TestValidate(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"validate", "../../configs/aggregator.example.yaml"}, &out, &errb); code != 0 {
		t.Fatalf("validate: %d %s", code, errb.String())
	}
	if out.String() != "../../configs/aggregator.example.yaml: ok\n" {
		t.Errorf("stdout %q", out.String())
	}
	out.Reset()
	if code := run([]string{"validate-registry", "../../configs/registry.example.yaml"}, &out, &errb); code != 0 {
		t.Fatalf("validate-registry: %d %s", code, errb.String())
	}
	if out.String() != "../../configs/registry.example.yaml: ok: 6 regions, 2 parks, 3 enterprises, 4 workshops\n" {
		t.Errorf("stdout %q", out.String())
	}
}

func TestValidateRegistryErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.yaml")
	if err := os.WriteFile(path, []byte("regions:\n  - {code: \"360100\", name: x}\nworkshops_csv: w.csv\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"validate-registry", path}, &out, &errb); code != 1 {
		t.Fatalf("exit %d", code)
	}
	want := path + `:2: regions[0].code: unknown parent region "360000"` + "\n" +
		path + `:3: workshops_csv: file "w.csv" does not exist` + "\n2 error(s)\n"
	if errb.String() != want {
		t.Errorf("stderr:\n%s\nwant\n%s", errb.String(), want)
	}
}

func TestToken(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"token", "-name", "nanchang", "-region", "360100"}, &out, &errb); code != 0 {
		t.Fatalf("token: %d %s", code, errb.String())
	}
	lines := strings.Split(out.String(), "\n")
	tok := strings.TrimSpace(strings.TrimPrefix(lines[1], "#"))
	entry := strings.Join(lines[3:], "\n")
	set, err := api.ParseTokens([]byte("tokens:\n" + entry))
	if err != nil {
		t.Fatalf("entry %q: %v", entry, err)
	}
	for h, e := range set {
		if e.Name != "nanchang" || e.Region != "360100" || api.HashToken(tok) != strings.ToLower(hexOf(h)) {
			t.Errorf("entry %+v for token %q", e, tok)
		}
	}
	errb.Reset()
	if code := run([]string{"token", "-name", "x", "-region", "99"}, &out, &errb); code != 2 ||
		errb.String() != "aggregator token: -region: invalid region code \"99\": want 6 digits\n" {
		t.Errorf("bad region: %d %q", code, errb.String())
	}
}

func hexOf(b [32]byte) string {
	const digits = "0123456789abcdef"
	var s strings.Builder
	for _, c := range b {
		s.WriteByte(digits[c>>4])
		s.WriteByte(digits[c&15])
	}
	return s.String()
}

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(nil, &out, &errb); code != 2 || !strings.HasPrefix(errb.String(), "usage: aggregator -config FILE") {
		t.Errorf("no args: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"-config", "/nonexistent.yaml"}, &out, &errb); code != 1 ||
		errb.String() != "read config \"/nonexistent.yaml\": no such file or directory\n" {
		t.Errorf("missing config: %d %q", code, errb.String())
	}
}

func TestVersionFlag(t *testing.T) {
	var out, errb bytes.Buffer
	version = "v1.0.0"
	defer func() { version = "" }()
	if code := run([]string{"-version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "ganlink aggregator v1.0.0 ") {
		t.Fatalf("exit %d, output %q, stderr %q", code, out.String(), errb.String())
	}
}

// runGuarded runs the command in the process and fails the test if it has not returned
// within 10 s (reading a FIFO blocks until a writer comes).
func runGuarded(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(args, &out, &errb) }()
	select {
	case code = <-done:
		return code, out.String(), errb.String()
	case <-time.After(10 * time.Second):
		t.Fatalf("aggregator %v did not return within 10s", args)
		return 0, "", ""
	}
}

// TestValidateSpecialFiles: `aggregator validate-registry` and `aggregator validate` with
// a FIFO or a link to /dev/zero as the registry, an imported CSV file, the configuration
// or the tokens file return at once, naming the path and what it is.
func TestValidateSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo, zero := filepath.Join(dir, "fifo"), filepath.Join(dir, "zero")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	csvFIFO := write("r-fifo.yaml", "regions:\n  - {code: \"360000\", name: x}\nworkshops_csv: fifo\n")
	csvZero := write("r-zero.yaml", "regions:\n  - {code: \"360000\", name: x}\nenterprises_csv: [zero]\n")
	example, err := filepath.Abs("../../configs/aggregator.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	regPath, _ := filepath.Abs("../../configs/registry.example.yaml")
	cfgTokensFIFO := write("agg.yaml", strings.NewReplacer(
		"registry: registry.example.yaml", "registry: "+regPath,
		"tokens_file: aggregator.tokens.example.yaml", "tokens_file: "+fifo).Replace(string(b)))
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"validate-registry", fifo}, fmt.Sprintf("read registry %q: is a named pipe (FIFO), not a regular file\n", fifo)},
		{[]string{"validate-registry", zero}, fmt.Sprintf("read registry %q: is a character device, not a regular file\n", zero)},
		{[]string{"validate-registry", csvFIFO}, csvFIFO + `:3: workshops_csv: read "fifo": is a named pipe (FIFO), not a regular file` + "\n1 error(s)\n"},
		{[]string{"validate-registry", csvZero}, csvZero + `:3: enterprises_csv[0]: read "zero": is a character device, not a regular file` + "\n1 error(s)\n"},
		{[]string{"validate", fifo}, fmt.Sprintf("read config %q: is a named pipe (FIFO), not a regular file\n", fifo)},
		{[]string{"validate", cfgTokensFIFO}, fmt.Sprintf("read tokens: read %s: is a named pipe (FIFO), not a regular file\n", fifo)},
		{[]string{"-config", zero}, fmt.Sprintf("read config %q: is a character device, not a regular file\n", zero)},
	} {
		code, stdout, stderr := runGuarded(t, tc.args...)
		if code != 1 || stdout != "" || stderr != tc.stderr {
			t.Errorf("%v: exit %d, stdout %q, stderr\n%s\nwant\n%s", tc.args, code, stdout, stderr, tc.stderr)
		}
	}
}

// TestTSDBAccess: tsdb-access writes one reader per region and park of the example
// registry plus the province, keeps the passwords on a second run, and refuses a
// missing directory or a backend URL with a query.
func TestTSDBAccess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "access")
	var out, errb bytes.Buffer
	args := []string{"tsdb-access", "-registry", "../../configs/registry.example.yaml", "-backend", "http://127.0.0.1:8428", "-dir", dir}
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	first, _ := os.ReadFile(filepath.Join(dir, "tsdb-users.txt"))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !strings.HasPrefix(lines[0], "9 TSDB readers (9 added, 0 dropped) in "+dir) ||
		lines[1] != "added: province region-360000 region-360100 region-360111 region-360200 region-360203 region-360400 park-jdz-ceramics park-nc-hitech" {
		t.Errorf("first run:\n%s", out.String())
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, "vmauth.yml"))
	if !strings.Contains(string(cfg), `url_prefix: "http://127.0.0.1:8428?extra_label=park=jdz-ceramics"`) {
		t.Errorf("vmauth.yml:\n%s", cfg)
	}
	for _, f := range []string{"tsdb-users.txt", "vmauth.yml", "vmauth.key"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v; want mode 0600", f, fi, err)
		}
	}
	out.Reset()
	if code := run(args, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "9 TSDB readers (0 added, 0 dropped)") {
		t.Fatalf("second run: %d %s %s", code, out.String(), errb.String())
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "tsdb-users.txt")); string(again) != string(first) {
		t.Error("the second run changed the passwords")
	}
	errb.Reset()
	if code := run([]string{"tsdb-access", "-registry", "x.yaml", "-backend", "http://vm:8428?extra_label=a=b", "-dir", dir}, &out, &errb); code != 2 ||
		errb.String() != "aggregator tsdb-access: -backend \"http://vm:8428?extra_label=a=b\": want http(s)://host:port of VictoriaMetrics, without a query\n" {
		t.Errorf("backend with a query: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"tsdb-access", "-registry", "x.yaml"}, &out, &errb); code != 2 ||
		errb.String() != "aggregator tsdb-access: -registry and -dir are required\n" {
		t.Errorf("no -dir: %d %q", code, errb.String())
	}
}

// TestInitSecrets: init-secrets makes the readers, the province reader's password file
// and an API token the aggregator accepts (its hash in tokens.yaml), all 0600; a second
// run keeps every one of them.
func TestInitSecrets(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "access")
	args := []string{"init-secrets", "-registry", "../../configs/registry.example.yaml", "-backend", "http://127.0.0.1:8428", "-dir", dir}
	var out, errb bytes.Buffer
	if code := run(args, &out, &errb); code != 0 || !strings.Contains(out.String(), "API token made: "+filepath.Join(dir, "api-token")) {
		t.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
	}
	read := func() map[string]string {
		m := map[string]string{}
		for _, f := range []string{"tsdb-users.txt", "vmauth.yml", "vmauth.key", "province.password", "api-token", "tokens.yaml"} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			fi, _ := os.Stat(filepath.Join(dir, f))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %v, mode %v", f, err, fi)
			}
			m[f] = string(b)
		}
		return m
	}
	first := read()
	toks, err := api.LoadTokens(filepath.Join(dir, "tokens.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if tok := strings.TrimSpace(first["api-token"]); !strings.HasPrefix(tok, "glk_") || !strings.Contains(first["tokens.yaml"], api.HashToken(tok)) || toks == nil {
		t.Errorf("api-token %q does not match tokens.yaml:\n%s", tok, first["tokens.yaml"])
	}
	if !strings.Contains(first["tsdb-users.txt"], "province "+first["province.password"]+"\n") {
		t.Errorf("province.password is not the province reader's password")
	}
	out.Reset()
	if code := run(args, &out, &errb); code != 0 || !strings.Contains(out.String(), "API token kept in ") {
		t.Fatalf("second run: %d %s", code, out.String())
	}
	if second := read(); !maps.Equal(first, second) {
		t.Error("a second run changed the secrets")
	}
}
