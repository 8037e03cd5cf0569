package app

import (
	"runtime/debug"
	"testing"
)

// gcPercent reads the collector's GOGC.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestStartupGCPercent: while starting, the collector runs at startupGCPercent; a second
// BeginStartup does not lose the setting it replaced; endStartup restores it (here the
// environment's 100) and a second endStartup changes nothing.
func TestStartupGCPercent(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	BeginStartup()
	BeginStartup()
	if got := gcPercent(); got != startupGCPercent {
		t.Fatalf("GOGC while starting %d, want %d", got, startupGCPercent)
	}
	endStartup()
	if got := gcPercent(); got != 100 {
		t.Fatalf("GOGC after start %d, want 100", got)
	}
	debug.SetGCPercent(50)
	endStartup()
	if got := gcPercent(); got != 50 {
		t.Fatalf("GOGC after a second endStartup %d, want 50 (left alone)", got)
	}
}
