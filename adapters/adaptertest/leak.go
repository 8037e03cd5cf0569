package adaptertest

import (
	"runtime"
	"strings"
	"time"
)

// goroutineStacks returns the stack of every goroutine, keyed by its id.
func goroutineStacks() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		// "goroutine 42 [select]:\n…"
		rest, ok := strings.CutPrefix(g, "goroutine ")
		if !ok {
			continue
		}
		id, _, _ := strings.Cut(rest, " ")
		out[id] = g
	}
	return out
}

// goroutineIDs returns the ids of the goroutines alive now.
func goroutineIDs() map[string]bool {
	out := map[string]bool{}
	for id := range goroutineStacks() {
		out[id] = true
	}
	return out
}

// leaks returns the stacks of the goroutines not in baseline whose stack shows one of
// frames.
func leaks(baseline map[string]bool, frames []string) []string {
	var out []string
	for id, g := range goroutineStacks() {
		if baseline[id] {
			continue
		}
		for _, f := range frames {
			if strings.Contains(g, f) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// waitLeaks polls Leaks until it finds none or d passes (goroutines that were told to
// stop may take a moment to exit), and returns the last finding.
func waitLeaks(baseline map[string]bool, frames []string, d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		found := leaks(baseline, frames)
		if len(found) == 0 || time.Now().After(deadline) {
			return found
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stacks returns the stacks of the goroutines whose stack shows one of frames, e.g. to
// check that a source's goroutines are gone.
func Stacks(frames ...string) []string { return leaks(nil, frames) }
