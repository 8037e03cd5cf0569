package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func correctDir(t *testing.T) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	files := map[string]string{
		"registry.yaml": "regions:\n  - {code: \"360000\", name: 江西省}\n  - {code: \"360100\", name: 南昌市}\n" +
			"enterprises: [{id: 91360100MA35HT001T, name: 甲, region: \"360100\"}]\n" +
			"workshops:\n  - {id: w1, name: 一车间, enterprise: 91360100MA35HT001T}\n",
		"tokens.yaml": "tokens: []\n",
		"agg.yaml":    "registry: registry.yaml\ntokens_file: tokens.yaml\ndata_dir: state\nbackend: {type: promql, url: \"http://127.0.0.1:1\"}\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, filepath.Join(dir, "agg.yaml")
}

// TestCorrectCommand: add, list and revoke write the store in data_dir; refusals name
// the field and the value.
func TestCorrectCommand(t *testing.T) {
	dir, cfg := correctDir(t)
	now := time.Date(2024, 5, 2, 1, 0, 0, 0, time.UTC)
	runC := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := correct(args, now, &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, errs := runC("add", "-config", cfg, "-workshop", "w1", "-device", "m1", "-from", "2024-05-01T10:00",
		"-until", "2024-05-01T12:00", "-by", "li.wei", "-reason", "meter swap")
	if code != 0 {
		t.Fatalf("add: %d %s", code, errs)
	}
	m := regexp.MustCompile(`^recorded (c-[0-9a-f]{12}): workshop w1 device m1 from 2024-05-01T10:00:00\+08:00 until 2024-05-01T12:00:00\+08:00 \(in (.*)\)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("add output %q", out)
	}
	id := m[1]
	if want := filepath.Join(dir, "state", "corrections.jsonl"); m[2] != want {
		t.Errorf("store %s, want %s (data_dir)", m[2], want)
	}
	data, err := os.ReadFile(filepath.Join(dir, "state", "corrections.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"op":"add","id":"` + id + `","recorded":"2024-05-02T01:00:00Z","by":"li.wei","reason":"meter swap","workshop":"w1","device":"m1","from":"2024-05-01T02:00:00Z","until":"2024-05-01T04:00:00Z"}` + "\n"
	if string(data) != want {
		t.Errorf("store:\n%s\nwant\n%s", data, want)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "-config", cfg, "-workshop", "w9", "-from", "2024-05-01", "-until", "2024-05-02", "-by", "x", "-reason", "y"},
			`aggregator correct add: workshop: "w9" is not in the registry`},
		{[]string{"add", "-config", cfg, "-workshop", "w1", "-from", "2024-05-02", "-until", "2024-05-01", "-by", "x", "-reason", "y"},
			`aggregator correct add: from: 2024-05-02T00:00:00+08:00 is not before until 2024-05-01T00:00:00+08:00`},
		{[]string{"add", "-config", cfg, "-workshop", "w1", "-from", "2024-05-01", "-until", "2024-05-01", "-by", "x", "-reason", "y"},
			`aggregator correct add: from: 2024-05-01T00:00:00+08:00 is not before until 2024-05-01T00:00:00+08:00`},
		{[]string{"add", "-config", cfg, "-workshop", "w1", "-from", "2024-05-01", "-until", "2024-05-02", "-by", "x"},
			`aggregator correct add: reason: required: say why`},
		{[]string{"add", "-config", cfg, "-workshop", "w1", "-from", "2024-05-01", "-until", "2024-05-02", "-by", "x", "-reason", strings.Repeat("表", 201)},
			`aggregator correct add: reason: 201 characters, at most 200`},
		{[]string{"add", "-config", cfg, "-workshop", "w1", "-from", "yesterday", "-until", "2024-05-02", "-by", "x", "-reason", "y"},
			`aggregator correct add: from: invalid time "yesterday" (want 2006-01-02, 2006-01-02T15:04 or RFC 3339)`},
		{[]string{"add", "-config", cfg, "-workshop", "w1", "-from", "2024-05-01", "-until", "2024-05-02", "-reason", "y"},
			`aggregator correct add: by: required`},
		{[]string{"revoke", "-config", cfg, "-id", "c-000000000000", "-by", "x", "-reason", "y"},
			`aggregator correct revoke: correction "c-000000000000" not found`},
	} {
		code, _, errs := runC(tt.args...)
		if code != 1 || errs != tt.want+"\n" {
			t.Errorf("%v: %d %q, want 1 %q", tt.args, code, errs, tt.want)
		}
	}
	if code, out, errs := runC("revoke", "-config", cfg, "-id", id, "-by", "wang.fang", "-reason", "swap was on the 2nd"); code != 0 ||
		out != "revoked "+id+": workshop w1 device m1 from 2024-05-01T10:00:00+08:00 until 2024-05-01T12:00:00+08:00\n" {
		t.Errorf("revoke: %d %q %s", code, out, errs)
	}
	if code, _, errs := runC("revoke", "-config", cfg, "-id", id, "-by", "x", "-reason", "again"); code != 1 ||
		errs != `aggregator correct revoke: correction "`+id+`" is already revoked (by "wang.fang" at 2024-05-02T01:00:00Z)`+"\n" {
		t.Errorf("second revoke: %d %q", code, errs)
	}
	code, out, _ = runC("list", "-config", cfg)
	wantList := "ID              STATE                                                                WORKSHOP  DEVICE  FROM                       UNTIL                      BY      RECORDED                   REASON\n" +
		id + "  revoked 2024-05-02T09:00:00+08:00 by wang.fang: swap was on the 2nd  w1        m1      2024-05-01T10:00:00+08:00  2024-05-01T12:00:00+08:00  li.wei  2024-05-02T09:00:00+08:00  meter swap\n"
	if code != 0 || out != wantList {
		t.Errorf("list: %d\n%s\nwant\n%s", code, out, wantList)
	}
	// validate reads the store as the aggregator does at start.
	store := filepath.Join(dir, "state", "corrections.jsonl")
	if err := os.WriteFile(store, append(data, "{\"op\":\"add\"}\n{\"op\":\"add\",\"id\""...), 0o644); err != nil {
		t.Fatal(err)
	}
	var vout, verr bytes.Buffer
	if code := run([]string{"validate", cfg}, &vout, &verr); code != 1 ||
		verr.String() != `corrections store "`+store+`": line 2: id: required`+"\n" {
		t.Errorf("validate with a bad store: %d %q", code, verr.String())
	}
	if code, _, errs := runC("erase", "-config", cfg); code != 2 || !strings.HasPrefix(errs, "usage: aggregator correct add") {
		t.Errorf("unknown op: %d %q", code, errs)
	}
}
