package admin

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/fsread"
)

// Configuration versions: before a write or a rollback replaces the file, the file as it
// was is kept in <data dir>/config-versions/<id>.yaml (with <id>.json: its digest, when
// it was saved, who replaced it, its size); the newest KeepVersions are kept.
const (
	VersionsDir  = "config-versions"
	KeepVersions = 20
	// maxConfigBody bounds a request that carries a whole file (JSON-escaped).
	maxConfigBody = 2*fsread.MaxConfig + 64<<10
)

// Version describes one kept configuration.
type Version struct {
	ID     string    `json:"id"`
	SHA256 string    `json:"sha256"`
	Saved  time.Time `json:"saved"`
	User   string    `json:"user"`
	Bytes  int       `json:"bytes"`
}

var versionIDRE = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$`)

// SetConfig serves the configuration API over the file at path (docs/admin-api.openapi.yaml):
// kinds are the source kinds (sources.<kind>) the gateway runs, validate checks a
// configuration's text as `gateway validate` does. Writes keep the
// previous file as a version (SetDataDir), are written atomically, audited, and start
// a reload through the State's Reloads. Call it before Run.
func (s *Server) SetConfig(path string, kinds []string, validate func([]byte) Validation) {
	s.configPath, s.validate = path, validate
	s.handleFunc("GET /api/config", s.getConfig)
	s.handleFunc("POST /api/config/validate", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			YAML string `json:"yaml"`
		}
		if !decodeBody(w, r, maxConfigBody, &req) {
			return
		}
		writeJSON(w, http.StatusOK, s.validate([]byte(req.YAML)))
	})
	s.handleFunc("PUT /api/config", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Base   string `json:"base_sha256"`
			YAML   string `json:"yaml"`
			DryRun bool   `json:"dry_run"`
		}
		if !decodeBody(w, r, maxConfigBody, &req) {
			return
		}
		s.writeConfig(w, r, req.Base, req.DryRun, ActionConfigWrite, "file", func([]byte) ([]byte, error) { return []byte(req.YAML), nil })
	})
	s.handleFunc("PUT /api/config/devices/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.upsert(w, r, []string{"devices"}, "id", r.PathValue("id"), "devices/"+r.PathValue("id"), "device")
	})
	s.handleFunc("PUT /api/config/sources/{kind}/{name}", func(w http.ResponseWriter, r *http.Request) {
		kind := r.PathValue("kind")
		if !slices.Contains(kinds, kind) {
			writeError(w, http.StatusNotFound, fmt.Sprintf("unknown source kind %q: want one of %s", point.Truncate(kind, 32), strings.Join(kinds, ", ")))
			return
		}
		s.upsert(w, r, []string{"sources", kind}, "name", r.PathValue("name"), "sources/"+kind+"/"+r.PathValue("name"), "source")
	})
	s.handleFunc("GET /api/config/versions", func(w http.ResponseWriter, _ *http.Request) {
		list, err := s.versions()
		if err != nil {
			writeError(w, http.StatusInternalServerError, "list configuration versions: "+err.Error())
			return
		}
		writeJSON(w, http.StatusOK, list)
	})
	s.handleFunc("POST /api/config/rollback", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID   string `json:"id"`
			Base string `json:"base_sha256"`
		}
		if !decodeBody(w, r, 4<<10, &req) {
			return
		}
		if !versionIDRE.MatchString(req.ID) {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no configuration version %q", point.Truncate(req.ID, 64)))
			return
		}
		s.writeConfig(w, r, req.Base, false, ActionConfigRollback, req.ID, func([]byte) ([]byte, error) {
			data, err := fsread.ReadRegular(filepath.Join(s.dataDir, VersionsDir, req.ID+".yaml"), fsread.MaxConfig)
			if errors.Is(err, fs.ErrNotExist) {
				return nil, &httpError{http.StatusNotFound, fmt.Sprintf("no configuration version %q", req.ID)}
			}
			return data, err
		})
	})
}

// httpError is a refusal with its status.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

// upsert serves PUT /api/config/devices/{id} and /api/config/sources/{kind}/{name}.
func (s *Server) upsert(w http.ResponseWriter, r *http.Request, path []string, key, value, target, field string) {
	var req struct {
		Base   string          `json:"base_sha256"`
		Device json.RawMessage `json:"device"`
		Source json.RawMessage `json:"source"`
		DryRun bool            `json:"dry_run"`
	}
	if !decodeBody(w, r, maxConfigBody, &req) {
		return
	}
	item := req.Device
	if field == "source" {
		item = req.Source
	}
	if len(item) == 0 {
		writeError(w, http.StatusBadRequest, field+": missing")
		return
	}
	s.writeConfig(w, r, req.Base, req.DryRun, ActionConfigWrite, target, func(cur []byte) ([]byte, error) {
		out, err := config.Upsert(cur, path, key, value, item)
		var ee *config.EditError
		if errors.As(err, &ee) {
			return nil, &httpError{http.StatusBadRequest, field + ": " + ee.Msg}
		}
		return out, err
	})
}

// getConfig serves GET /api/config: the file as it is.
func (s *Server) getConfig(w http.ResponseWriter, _ *http.Request) {
	data, err := fsread.ReadRegular(s.configPath, fsread.MaxConfig)
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("read %q: %v", s.configPath, fsread.Reason(err)))
		return
	}
	var mod time.Time
	if fi, err := os.Stat(s.configPath); err == nil {
		mod = fi.ModTime().UTC()
	}
	writeJSON(w, http.StatusOK, map[string]any{"path": s.configPath, "sha256": Digest(data), "yaml": string(data), "modified": mod})
}

// Digest is the SHA-256 of a file, hex: the sha256 and base_sha256 of the configuration API.
func Digest(b []byte) string {
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}

// MsgStale is the 409 answer to a write based on a file that changed since.
const MsgStale = "the configuration file changed since you loaded it (sha256 %s); reload the page"

// writeConfig is every change of the file: under the state's lock it reads the file,
// refuses a stale base (409), makes the new text (edit), validates all of it (422 with
// the validation), answers a dry run (200 with the validation and the text), else keeps
// the current file as a version, writes the new one atomically, audits the change and
// requests a reload (202).
func (s *Server) writeConfig(w http.ResponseWriter, r *http.Request, base string, dryRun bool, action, target string,
	edit func(cur []byte) ([]byte, error)) {
	s.state.configMu.Lock()
	defer s.state.configMu.Unlock()
	cur, err := fsread.ReadRegular(s.configPath, fsread.MaxConfig)
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("read %q: %v", s.configPath, fsread.Reason(err)))
		return
	}
	if sum := Digest(cur); base != sum {
		if !dryRun {
			Audit(r, action, target, "", "refused: stale base "+point.Truncate(base, 64))
		}
		writeError(w, http.StatusConflict, fmt.Sprintf(MsgStale, sum))
		return
	}
	next, err := edit(cur)
	if err != nil {
		var he *httpError
		if errors.As(err, &he) {
			writeError(w, he.code, he.msg)
			return
		}
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	v := s.validate(next)
	if dryRun {
		writeJSON(w, http.StatusOK, struct {
			Validation
			YAML string `json:"yaml"`
		}{v, string(next)})
		return
	}
	if !v.OK {
		Audit(r, action, target, lineDiff(string(cur), string(next)), fmt.Sprintf("refused: %d validation error(s)", len(v.Errors)))
		writeJSON(w, http.StatusUnprocessableEntity, v)
		return
	}
	user, _ := UserFrom(r)
	id, err := s.saveVersion(cur, user)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "keep the current configuration as a version: "+err.Error())
		return
	}
	file := s.configPath
	if real, err := filepath.EvalSymlinks(file); err == nil {
		file = real // a linked file is written where the link points, the link kept
	}
	if err := writeAtomic(file, next); err != nil {
		writeError(w, http.StatusInternalServerError, "write the configuration: "+err.Error())
		return
	}
	Audit(r, action, target, lineDiff(string(cur), string(next)), "ok: "+Digest(next)+", previous kept as version "+id)
	var reload *ReloadStatus
	if s.state.Reloads != nil {
		st := s.state.Reloads.Request()
		reload = &st
		Audit(r, ActionReload, s.configPath, "", fmt.Sprintf("requested: reload %d", st.ID))
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"sha256": Digest(next), "version": id, "reload": reload})
}

// saveVersion keeps data as a version and drops all but the newest KeepVersions.
func (s *Server) saveVersion(data []byte, user string) (string, error) {
	if s.dataDir == "" {
		return "", errors.New("the data directory is not set")
	}
	dir := filepath.Join(s.dataDir, VersionsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	now := s.now().UTC()
	sum := Digest(data)
	id := now.Format("20060102T150405Z") + "-" + sum[:8]
	meta, _ := json.Marshal(Version{ID: id, SHA256: sum, Saved: now, User: user, Bytes: len(data)})
	if err := writeAtomic(filepath.Join(dir, id+".yaml"), data); err != nil {
		return "", err
	}
	if err := writeAtomic(filepath.Join(dir, id+".json"), meta); err != nil {
		return "", err
	}
	list, err := s.versions()
	if err != nil {
		return id, nil
	}
	for _, v := range list[min(len(list), KeepVersions):] {
		_ = os.Remove(filepath.Join(dir, v.ID+".yaml"))
		_ = os.Remove(filepath.Join(dir, v.ID+".json"))
	}
	return id, nil
}

// versions lists the kept versions, newest first.
func (s *Server) versions() ([]Version, error) {
	out := []Version{}
	if s.dataDir == "" {
		return out, nil
	}
	dir := filepath.Join(s.dataDir, VersionsDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !versionIDRE.MatchString(id) {
			continue
		}
		b, err := fsread.ReadRegular(filepath.Join(dir, e.Name()), 64<<10)
		var v Version
		if err != nil || json.Unmarshal(b, &v) != nil || v.ID != id {
			continue
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b Version) int {
		if c := b.Saved.Compare(a.Saved); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out, nil
}

// writeAtomic replaces path with data: a temporary file in the same directory, synced,
// with path's mode (0600 for a new file), renamed over it, and the directory synced.
func writeAtomic(path string, data []byte) error {
	mode := fs.FileMode(0o600)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename: nothing
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// decodeBody decodes r's JSON body (at most limit bytes, no unknown fields) into v; it
// answers 400 and returns false when it cannot.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := err.Error()
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			msg = "larger than " + fsread.FormatSize(limit)
		}
		writeError(w, http.StatusBadRequest, "body: "+point.Truncate(msg, 200))
		return false
	}
	return true
}
