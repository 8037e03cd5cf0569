//go:build !unix

package fsread

// openFlags: no named pipes to guard against here beyond the Stat check.
const openFlags = 0
