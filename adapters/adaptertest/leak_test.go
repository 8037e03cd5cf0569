package adaptertest

import (
	"strings"
	"testing"
	"time"
)

//go:noinline
func parkedUntil(stop <-chan struct{}) { <-stop }

// The leak check finds a goroutine started after the baseline whose stack shows one of
// the frames, ignores goroutines of the baseline and those without the frames, and
// finds nothing once the goroutine has exited.
func TestLeaks(t *testing.T) {
	old := make(chan struct{})
	defer close(old)
	go parkedUntil(old) // before the baseline
	time.Sleep(10 * time.Millisecond)
	baseline := goroutineIDs()

	stop := make(chan struct{})
	go parkedUntil(stop)
	other := make(chan struct{})
	defer close(other)
	go func() { <-other }() // no matching frame
	time.Sleep(10 * time.Millisecond)
	frames := []string{"adaptertest.parkedUntil"}
	found := waitLeaks(baseline, frames, 0)
	if len(found) != 1 || !strings.Contains(found[0], "adaptertest.parkedUntil") {
		t.Fatalf("found %d leaks, want the one parked goroutine:\n%s", len(found), strings.Join(found, "\n\n"))
	}
	close(stop)
	if found := waitLeaks(baseline, frames, 2*time.Second); len(found) != 0 {
		t.Fatalf("still %d leaks after the goroutine exited:\n%s", len(found), strings.Join(found, "\n\n"))
	}
}
