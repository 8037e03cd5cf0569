//go:build unix

package fsread

import "syscall"

// openFlags keeps the open of a named pipe from blocking until a writer appears.
const openFlags = syscall.O_NONBLOCK
