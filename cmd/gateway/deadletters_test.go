package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/deadletter"
)

func TestDeadLettersCommand(t *testing.T) {
	dir := t.TempDir()
	s, err := deadletter.Open(deadletter.Config{Dir: dir, Keep: 5, MaxPayload: 16})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	s.Add(deadletter.Entry{Time: t0, Source: "meters", Device: "em1", Origin: "plant/ws1/meter/em1", Reason: "timestamp",
		Error: `timestamp path "ts": value 0 (epoch_ms) is 1970-01-01T00:00:00Z, out of range 2000..2200`, Problems: 1}, []byte(`{"ts":0,"kwh":1}`))
	s.Add(deadletter.Entry{Time: t0.Add(time.Second), Source: "plc", Device: "pm1", Origin: "unit 1 holding registers 0..1",
		Reason: "nan", Error: "value NaN", Problems: 2}, []byte("7FC0 0000 0000 0001"))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	local := func(d time.Duration) string { return t0.Add(d).Local().Format(time.DateTime) }
	want := fmt.Sprintf(`%s  meters/em1  "plant/ws1/meter/em1"  timestamp
  error:   timestamp path "ts": value 0 (epoch_ms) is 1970-01-01T00:00:00Z, out of range 2000..2200
  payload: "{\"ts\":0,\"kwh\":1}"
%s  plc/pm1  "unit 1 holding registers 0..1"  nan (+1 more problems)
  error:   value NaN
  payload: "7FC0 0000 0000 0" (first bytes of 19)
`, local(0), local(time.Second))
	var out, errb bytes.Buffer
	if code := run([]string{"dead-letters", "-dir", dir}, &out, &errb); code != 0 || out.String() != want {
		t.Errorf("exit %d, stderr %q, output:\n%s\nwant:\n%s", code, errb.String(), out.String(), want)
	}
	out.Reset()
	if code := run([]string{"dead-letters", "-dir", dir, "-source", "plc", "-json"}, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), `"origin": "unit 1 holding registers 0..1"`) || strings.Contains(out.String(), "meters") {
		t.Errorf("-source plc -json: exit %d:\n%s", code, out.String())
	}

	// With -config, the configuration's dead_letters.dir is read.
	cfg := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
dead_letters: {dir: %s}
devices: [{id: m1, kind: machine}]
`, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"dead-letters", "-config", cfg, "-source", "meters"}, &out, &errb); code != 0 ||
		!strings.HasPrefix(out.String(), local(0)+"  meters/em1") {
		t.Errorf("-config: exit %d, stderr %q:\n%s", code, errb.String(), out.String())
	}
	out.Reset()
	empty := t.TempDir()
	if code := run([]string{"dead-letters", "-dir", empty}, &out, &errb); code != 0 || out.String() != "no dead letters in "+empty+"\n" {
		t.Errorf("empty: exit %d: %q", code, out.String())
	}
}
