// Package httpauth is the bearer-token handling shared by the gateway's admin endpoint
// and the aggregator's API: reading the token from the request, keeping only SHA-256
// digests of secrets, comparing them in constant time, and the RFC 6750 challenge.
package httpauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
)

// Digest is the SHA-256 of a secret. Secrets are kept only as digests, so a comparison
// takes the same time whatever the length or content of the presented value.
type Digest [32]byte

// Hash returns the digest of a secret.
func Hash(secret string) Digest { return sha256.Sum256([]byte(secret)) }

// Hex is the digest in lower-case hex, the form kept in token files.
func (d Digest) Hex() string { return hex.EncodeToString(d[:]) }

// ParseHex reads a 64-digit hex digest.
func ParseHex(s string) (Digest, bool) {
	var d Digest
	b, err := hex.DecodeString(strings.ToLower(s))
	if err != nil || len(b) != len(d) {
		return d, false
	}
	copy(d[:], b)
	return d, true
}

// Equal compares two digests in constant time.
func Equal(a, b Digest) bool { return subtle.ConstantTimeCompare(a[:], b[:]) == 1 }

// Bearer returns the token of an "Authorization: Bearer <token>" header (scheme
// case-insensitive, surrounding spaces removed); ok is false without one.
func Bearer(r *http.Request) (token string, ok bool) {
	scheme, tok, found := strings.Cut(r.Header.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// Challenge is the WWW-Authenticate value for a refused bearer request (RFC 6750 §3):
// with invalid, the request presented a token that is wrong.
func Challenge(realm string, invalid bool) string {
	c := `Bearer realm="` + realm + `"`
	if invalid {
		c += `, error="invalid_token"`
	}
	return c
}
