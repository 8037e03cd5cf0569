package app

import (
	"runtime/debug"
	"sync"
)

// startupGCPercent is the collector's GOGC while the gateway starts. Loading the
// configuration holds the file's whole YAML tree next to the values decoded from it,
// and building the gateway and restoring the KPI state allocate more on top: with the
// default 100 the heap grows to twice what is live at each step, which on an edge box
// is the process's peak for its whole life.
const startupGCPercent = 20

var startup struct {
	sync.Mutex
	on   bool
	prev int
}

// BeginStartup makes the collector run more often (GOGC startupGCPercent) until the
// first App.Run has loaded its state; the gateway command calls it before loading the
// configuration. The GOGC in force before (the environment's, or 100) comes back then.
func BeginStartup() {
	startup.Lock()
	defer startup.Unlock()
	if !startup.on {
		startup.prev = debug.SetGCPercent(startupGCPercent)
		startup.on = true
	}
}

// endStartup restores the collector's GOGC after BeginStartup and returns the pages
// freed while starting to the system now rather than over the next minutes.
func endStartup() {
	startup.Lock()
	if startup.on {
		debug.SetGCPercent(startup.prev)
		startup.on = false
	}
	startup.Unlock()
	debug.FreeOSMemory()
}
