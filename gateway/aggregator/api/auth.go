package api

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/internal/httpauth"
	"gopkg.in/yaml.v3"

	"github.com/ganlink/ganlink/internal/fsread"
)

// Token is one API client: a name for logs, the SHA-256 of its bearer token and the
// region subtree it may see.
type Token struct {
	Name   string `yaml:"name"`
	SHA256 string `yaml:"sha256"`
	Region string `yaml:"region"`
	// Corrections allows the token to record and revoke corrections (POST
	// /api/v1/corrections) for the workshops within its region; default false.
	Corrections bool `yaml:"corrections"`
}

type tokenFile struct {
	Tokens []Token `yaml:"tokens"`
}

// Tokens is the set of accepted bearer tokens, stored as SHA-256 hashes only and
// reloadable from their file. Safe for concurrent use.
type Tokens struct {
	path string
	mu   sync.Mutex
	set  atomic.Pointer[map[httpauth.Digest]Token]
}

// LoadTokens reads a tokens file:
//
//	tokens:
//	  - name: nanchang
//	    sha256: <64 hex digits: SHA-256 of the token>
//	    region: "360100"
func LoadTokens(path string) (*Tokens, error) {
	t := &Tokens{path: path}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Reload reads the file again; on error the previous tokens stay.
func (t *Tokens) Reload() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	data, err := fsread.ReadRegular(t.path, fsread.MaxTokens)
	if err != nil {
		return fmt.Errorf("read tokens: %w", err)
	}
	set, err := ParseTokens(data)
	if err != nil {
		return fmt.Errorf("load tokens %q: %w", t.path, err)
	}
	t.set.Store(&set)
	return nil
}

// ParseTokens validates a tokens file's content.
func ParseTokens(data []byte) (map[httpauth.Digest]Token, error) {
	var f tokenFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	set := map[httpauth.Digest]Token{}
	names := map[string]bool{}
	var errs []error
	for i, tok := range f.Tokens {
		switch {
		case tok.Name == "":
			errs = append(errs, fmt.Errorf("tokens[%d].name: required", i))
		case names[tok.Name]:
			errs = append(errs, fmt.Errorf("tokens[%d].name: duplicate %q", i, tok.Name))
		}
		names[tok.Name] = true
		h, ok := httpauth.ParseHex(tok.SHA256)
		if !ok {
			errs = append(errs, fmt.Errorf("tokens[%d].sha256: want 64 hex digits", i))
		} else {
			if _, dup := set[h]; dup {
				errs = append(errs, fmt.Errorf("tokens[%d].sha256: same hash as token %q", i, set[h].Name))
			}
		}
		if _, err := registry.CheckRegionCode(tok.Region); err != nil {
			errs = append(errs, fmt.Errorf("tokens[%d].region: %w", i, err))
		}
		set[h] = tok
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return set, nil
}

// Lookup returns the token entry for a presented bearer token. The map is keyed by
// digests: its timing depends on the digest of what was presented, not on the tokens.
func (t *Tokens) Lookup(bearer string) (Token, bool) {
	tok, ok := (*t.set.Load())[httpauth.Hash(bearer)]
	return tok, ok
}

// NewToken returns a random bearer token (32 bytes, hex) and its SHA-256 in hex, for
// the tokens file.
func NewToken() (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("new token: %w", err)
	}
	token = "glk_" + hex.EncodeToString(b[:])
	return token, HashToken(token), nil
}

// HashToken returns the hex SHA-256 of a token.
func HashToken(token string) string { return httpauth.Hash(token).Hex() }
