package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
