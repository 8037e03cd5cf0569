package admin

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

// The audit log (docs/security.md): every state-changing request, one JSON object a
// line, appended and fsync'd before the request is answered, in
// <data dir>/audit/audit.jsonl. It is bounded: when an entry would take the file past
// MaxAuditBytes, the file becomes audit.1.jsonl (replacing the one before) and a new
// file starts, so at most twice MaxAuditBytes is kept; an entry's diff is cut at
// MaxAuditDiff and its other fields at MaxAuditField bytes.
const (
	AuditDir      = "audit"
	AuditFile     = "audit.jsonl"
	AuditOldFile  = "audit.1.jsonl"
	MaxAuditBytes = 4 << 20
	MaxAuditDiff  = 64 << 10
	MaxAuditField = 512
	// DefaultAuditLimit and MaxAuditLimit bound GET /api/audit?limit=N.
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// The actions of audit entries written by this package (other packages add theirs,
// e.g. "pki.trust").
const (
	ActionSignIn           = "session.sign_in"
	ActionSignOut          = "session.sign_out"
	ActionRefused          = "request.refused" // a state-changing request refused with 403
	ActionConfigWrite      = "config.write"
	ActionConfigRollback   = "config.rollback"
	ActionReload           = "config.reload"
	ActionCorrectionAdd    = "correction.add"
	ActionCorrectionRevoke = "correction.revoke"
)

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	User   string    `json:"user"`
	Role   string    `json:"role"`
	Remote string    `json:"remote"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Diff   string    `json:"diff"`
	Result string    `json:"result"`
}

// SetDataDir keeps the audit log and the configuration versions under dir (the data
// directory: the parent of queue.dir); call it before Run. Without it nothing is audited
// and GET /api/audit answers 503.
func (s *Server) SetDataDir(dir string) { s.dataDir = dir }

// Audit records what r did in the audit log of the server that serves r: action (e.g.
// "pki.trust"), its target (a file, a device id), a diff (may be empty) and the result
// ("ok", or why it failed). The user, role, remote address and time come from r. It
// returns after the entry is on disk; a failure is logged and counted
// (ganlink_admin_audit_errors_total), never returned: the request has happened.
func Audit(r *http.Request, action, target, diff, result string) {
	if ri := infoOf(r); ri != nil {
		ri.s.audit(r, ri.id, action, target, diff, result)
	}
}

func (s *Server) audit(r *http.Request, id identity, action, target, diff, result string) {
	if s.dataDir == "" {
		return
	}
	e := AuditEntry{Time: s.now().UTC(), User: point.Truncate(id.name, MaxAuditField), Role: id.role,
		Remote: point.Truncate(r.RemoteAddr, MaxAuditField), Action: point.Truncate(action, MaxAuditField),
		Target: point.Truncate(target, MaxAuditField), Diff: truncateDiff(diff), Result: point.Truncate(result, MaxAuditField)}
	if err := s.state.appendAudit(filepath.Join(s.dataDir, AuditDir), e); err != nil {
		s.metrics.auditErrors.Inc()
		s.log.Error("audit log: entry not written", "action", action, "target", target, "err", err)
	}
}

func truncateDiff(d string) string {
	if len(d) <= MaxAuditDiff {
		return d
	}
	cut := MaxAuditDiff
	for cut > 0 && d[cut]&0xC0 == 0x80 {
		cut--
	}
	return d[:cut] + fmt.Sprintf("\n… (%d more bytes)\n", len(d)-cut)
}

// appendAudit appends e to the log in dir and syncs it, rotating first when needed.
func (st *State) appendAudit(dir string, e AuditEntry) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	st.auditMu.Lock()
	defer st.auditMu.Unlock()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(dir, AuditFile)
	if fi, err := os.Stat(path); err == nil && fi.Size()+int64(len(line)) > MaxAuditBytes {
		if err := os.Rename(path, filepath.Join(dir, AuditOldFile)); err != nil {
			return err
		}
		syncDir(dir)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readAudit returns up to limit entries, newest first; lines that do not parse (a
// torn last line after a crash) are skipped.
func (st *State) readAudit(dir string, limit int) ([]AuditEntry, error) {
	st.auditMu.Lock()
	defer st.auditMu.Unlock()
	out := []AuditEntry{}
	for _, name := range []string{AuditFile, AuditOldFile} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var entries []AuditEntry
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 0, 64<<10), MaxAuditBytes)
		for sc.Scan() {
			var e AuditEntry
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				entries = append(entries, e)
			}
		}
		for i := len(entries) - 1; i >= 0 && len(out) < limit; i-- {
			out = append(out, entries[i])
		}
		if len(out) >= limit {
			break
		}
	}
	return out, nil
}

// handleAudit serves GET /api/audit?limit=N: the newest N entries (default 100, at most
// 1000), newest first.
func (s *Server) handleAudit() {
	s.handleFunc("GET /api/audit", func(w http.ResponseWriter, r *http.Request) {
		limit := DefaultAuditLimit
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxAuditLimit {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: %q is not a number from 1 to %d", point.Truncate(v, 32), MaxAuditLimit))
				return
			}
			limit = n
		}
		if s.dataDir == "" {
			writeError(w, http.StatusServiceUnavailable, "no audit log: the data directory is not set")
			return
		}
		entries, err := s.state.readAudit(filepath.Join(s.dataDir, AuditDir), limit)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "read audit log: "+err.Error())
			return
		}
		writeJSON(w, http.StatusOK, entries)
	})
}

// lineDiff is a unified-style diff of two texts, linear in their size: the common
// leading and trailing lines are left out, the lines between shown as removed and added
// (with their line numbers in the hunk header). "" when they are equal.
func lineDiff(oldText, newText string) string {
	if oldText == newText {
		return ""
	}
	a, b := strings.SplitAfter(oldText, "\n"), strings.SplitAfter(newText, "\n")
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	sfx := 0
	for sfx < len(a)-p && sfx < len(b)-p && a[len(a)-1-sfx] == b[len(b)-1-sfx] {
		sfx++
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "@@ -%d,%d +%d,%d @@\n", p+1, len(a)-p-sfx, p+1, len(b)-p-sfx)
	for _, l := range a[p : len(a)-sfx] {
		sb.WriteString("-" + redact(strings.TrimSuffix(l, "\n")) + "\n")
	}
	for _, l := range b[p : len(b)-sfx] {
		sb.WriteString("+" + redact(strings.TrimSuffix(l, "\n")) + "\n")
	}
	return sb.String()
}

// secretRE matches the value of a key naming a secret (password, token, secret, and
// keys ending so; not password_file and the like, which name files), in block or flow
// style.
var secretRE = regexp.MustCompile(`(?i)(\b[a-z_]*(?:password|token|secret)\s*:\s*)("[^"]*"|'[^']*'|[^\s,}#]+)`)

// redact hides secret values in a line of the diff: the audit log keeps who changed
// what, not the passwords written inline.
func redact(line string) string { return secretRE.ReplaceAllString(line, "${1}<redacted>") }

// syncDir fsyncs a directory so a rename in it is durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
