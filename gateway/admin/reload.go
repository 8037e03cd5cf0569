package admin

import (
	"net/http"
	"sync"
	"time"
)

// The states of a reload.
const (
	ReloadPending = "pending"
	ReloadApplied = "applied"
	ReloadFailed  = "failed"
)

// ReloadStatus is the outcome of a reload (GET /api/reload).
type ReloadStatus struct {
	// ID counts the reloads of the process from 1; 0: none yet.
	ID    int    `json:"id"`
	State string `json:"state,omitempty"`
	// Error says why a failed reload failed; the previous configuration runs on.
	Error string `json:"error,omitempty"`
	// SHA256 is the digest of the file the reload read (hex); empty while pending.
	SHA256 string `json:"sha256,omitempty"`
	// Trigger is "api" or "sighup".
	Trigger string    `json:"trigger,omitempty"`
	Time    time.Time `json:"time"`
}

// Reload triggers.
const (
	TriggerAPI    = "api"
	TriggerSIGHUP = "sighup"
)

// Reloads connects the admin API to the loop that runs the gateway (cmd/gateway's
// serve), which owns it, so a reload's outcome outlives the in-process restart it
// performs: the API requests a reload (Request) and the loop performs it exactly as it
// performs SIGHUP's (Begin, then Done), whoever asked.
type Reloads struct {
	c   chan struct{}
	now func() time.Time

	mu      sync.Mutex
	last    ReloadStatus
	pending bool // last is a request from the API not yet begun
}

// NewReloads returns a tracker without reloads.
func NewReloads() *Reloads { return &Reloads{c: make(chan struct{}, 1), now: time.Now} }

// C delivers a value when the API requested a reload.
func (rl *Reloads) C() <-chan struct{} { return rl.c }

// Request asks the loop for a reload and returns its pending status. Requests made
// before the loop takes one up are one reload (the file is read once, when it begins).
func (rl *Reloads) Request() ReloadStatus {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if !rl.pending {
		rl.last = ReloadStatus{ID: rl.last.ID + 1, State: ReloadPending, Trigger: TriggerAPI, Time: rl.now().UTC()}
		rl.pending = true
	}
	select {
	case rl.c <- struct{}{}:
	default:
	}
	return rl.last
}

// Begin starts a reload (trigger TriggerAPI or TriggerSIGHUP) and returns its id: the
// pending API request's, or a new one.
func (rl *Reloads) Begin(trigger string) int {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.pending {
		rl.pending = false
		return rl.last.ID
	}
	rl.last = ReloadStatus{ID: rl.last.ID + 1, State: ReloadPending, Trigger: trigger, Time: rl.now().UTC()}
	return rl.last.ID
}

// Done records the outcome of reload id: applied when err is nil, else failed with err.
// sha256 is the digest of the file read ("" when it could not be read).
func (rl *Reloads) Done(id int, sha256 string, err error) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if id != rl.last.ID {
		return
	}
	rl.last.State, rl.last.SHA256, rl.last.Time, rl.last.Error = ReloadApplied, sha256, rl.now().UTC(), ""
	if err != nil {
		rl.last.State, rl.last.Error = ReloadFailed, err.Error()
	}
}

// Latest returns the latest reload's status (ID 0: none yet).
func (rl *Reloads) Latest() ReloadStatus {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.last
}

// handleReload serves GET /api/reload: the latest reload's outcome.
func (s *Server) handleReload() {
	s.handleFunc("GET /api/reload", func(w http.ResponseWriter, _ *http.Request) {
		if s.state.Reloads == nil {
			writeError(w, http.StatusServiceUnavailable, "reloads are not available: the gateway does not run from a configuration file")
			return
		}
		writeJSON(w, http.StatusOK, s.state.Reloads.Latest())
	})
}
