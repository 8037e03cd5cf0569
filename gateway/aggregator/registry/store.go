package registry

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// Store holds the current Registry loaded from a file and replaces it on Reload. It is
// safe for concurrent use; readers never see a half-loaded registry.
type Store struct {
	path string
	log  *slog.Logger
	cur  atomic.Pointer[Registry]
	mu   sync.Mutex // serialises reloads
	// OnReload, when set before use, is called after every reload attempt with its
	// result.
	OnReload func(err error)
}

// Open loads the registry at path into a new Store.
func Open(path string, log *slog.Logger) (*Store, error) {
	r, err := Load(path)
	if err != nil {
		return nil, err
	}
	s := &Store{path: path, log: log}
	s.cur.Store(r)
	return s, nil
}

// NewStore wraps an already loaded registry; Reload reads path.
func NewStore(path string, r *Registry, log *slog.Logger) *Store {
	s := &Store{path: path, log: log}
	s.cur.Store(r)
	return s
}

// Get returns the current registry.
func (s *Store) Get() *Registry { return s.cur.Load() }

// Reload reads the file again. On success the new registry replaces the current one;
// on failure the current one stays and the error lists every problem.
func (s *Store) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := Load(s.path)
	if s.OnReload != nil {
		s.OnReload(err)
	}
	if err != nil {
		s.log.Error("registry reload failed; keeping the previous registry", "file", s.path, "err", err)
		return fmt.Errorf("reload registry %q: %w", s.path, err)
	}
	s.cur.Store(r)
	s.log.Info("registry reloaded", "file", s.path, "regions", len(r.regionList), "parks", len(r.parkList),
		"enterprises", len(r.enterpriseList), "workshops", len(r.workshopList))
	return nil
}
