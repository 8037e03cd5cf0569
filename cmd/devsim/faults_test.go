package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestFaultFlags: -faults and -meter-reading reach the model (the truth counts the
// scripted faults in their windows), -energy-max-rate the generated configuration, and
// a bad schedule is refused with the item and the reason.
func TestFaultFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"truth", "-machines", "0", "-energy-meters", "1", "-water-meters", "1", "-rate", "1m",
		"-meter-interval", "1m", "-meter-reading", "999.5", "-start", "2026-03-02T09:00:00+08:00", "-duration", "4m",
		"-faults", "em1@1m:stepback=0.005,em1@2m:replace=0.3,wm1@3m:jump=2", "-log-level", "error"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var w struct {
			Device       string `json:"device"`
			Start        string `json:"start"`
			StepBacks    int    `json:"step_backs"`
			Replacements int    `json:"replacements"`
			Jumps        int    `json:"jumps"`
		}
		if err := json.Unmarshal([]byte(l), &w); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if w.StepBacks+w.Replacements+w.Jumps > 0 {
			got = append(got, w.Device+" "+w.Start[11:16]+" "+strings.Repeat("s", w.StepBacks)+
				strings.Repeat("r", w.Replacements)+strings.Repeat("j", w.Jumps))
		}
	}
	want := []string{"em1 09:01 s", "em1 09:02 r", "wm1 09:03 j"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("faults in the truth:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	out.Reset()
	if code := run([]string{"config", "-machines", "0", "-energy-meters", "1", "-water-meters", "1",
		"-energy-max-rate", "30", "-water-max-rate", "2.5"}, &out, &errOut); code != 0 {
		t.Fatalf("config: exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"energy_kwh_total: {path: kwh, counter: true, unit: kWh, max_rate: 30}",
		"water_m3_total: {path: m3, counter: true, unit: m3, max_rate: 2.5}"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("config lacks %q", want)
		}
	}

	for args, msg := range map[string]string{
		"-faults em1@1m:stepback":   `devsim truth: parse fault "em1@1m:stepback": want KIND=VALUE after the time` + "\n",
		"-faults em2@1m:jump=1":     `devsim truth: faults[0] "em2@1m0s:jump=1": no meter "em2" (energy meters em1, water meters wm1)` + "\n",
		"-meter-reading -3":         "devsim truth: meter reading: -3 is not a finite number >= 0\n",
		"-faults em1@1m:stepback=2": `devsim truth: faults[0] "em1@1m0s:stepback=2": step back 2 is not a fraction in (0, 1)` + "\n",
	} {
		errOut.Reset()
		a := append([]string{"truth", "-energy-meters", "1", "-water-meters", "1"}, strings.Fields(args)...)
		if code := run(a, &out, &errOut); code != 2 || errOut.String() != msg {
			t.Errorf("%s: exit %d, stderr %q; want 2, %q", args, code, errOut.String(), msg)
		}
	}
}
