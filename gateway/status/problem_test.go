package status

import (
	"testing"
	"time"
)

// TestProblemCurrent: a device's error is shown while one of its signals is bad or
// older than the error, and hidden once every signal has a good sample after it.
func TestProblemCurrent(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	de := DeviceError{Reason: "timeout", Error: "no response", Time: t0}
	for _, tc := range []struct {
		name string
		sigs []SignalStatus
		want bool
	}{
		{"bad signal", []SignalStatus{{Quality: "good", Time: t0.Add(time.Second)}, {Quality: "bad", Time: t0.Add(time.Second)}}, true},
		{"sample older than the error", []SignalStatus{{Quality: "good", Time: t0.Add(-time.Second)}}, true},
		{"recovered", []SignalStatus{{Quality: "good", Time: t0.Add(time.Second)}, {Quality: "none"}}, false},
		{"no signals", nil, true},
	} {
		if got := problemCurrent(de, tc.sigs); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
