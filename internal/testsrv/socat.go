package testsrv

import (
	"os"
	"path/filepath"
)

// PtyPair is a pair of connected pseudo-terminals made by socat: what is written to
// one end is read from the other, like two devices on one serial line. A and B are
// the paths of the two ends (symbolic links to /dev/pts/N).
type PtyPair struct {
	A, B string
	p    *process
}

// StartPtyPair starts `socat pty,raw,echo=0,link=A pty,raw,echo=0,link=B` and waits
// for both links; socat is stopped at the end of the test. Stop removes the pair like
// an unplugged USB adapter; Start makes it again at the same paths.
func StartPtyPair(t TB) *PtyPair {
	t.Helper()
	bin := lookBinary(t, "socat", "/usr/bin/socat")
	dir := t.TempDir()
	pp := &PtyPair{A: filepath.Join(dir, "a"), B: filepath.Join(dir, "b")}
	ready := func() bool {
		for _, l := range []string{pp.A, pp.B} {
			if _, err := os.Stat(l); err != nil { // follows the link: the pts exists
				return false
			}
		}
		return true
	}
	pp.p = &process{t: t, name: "socat", args: []string{bin, "-d", "-d",
		"pty,raw,echo=0,link=" + pp.A, "pty,raw,echo=0,link=" + pp.B},
		logPath: filepath.Join(dir, "socat.log"), ready: ready}
	pp.p.start()
	t.Cleanup(pp.p.stop)
	return pp
}

// Stop ends socat: both ends vanish and their readers get an error.
func (pp *PtyPair) Stop() {
	pp.p.stop()
	// socat removes its links on a clean exit; make sure a restart cannot find stale ones.
	os.Remove(pp.A)
	os.Remove(pp.B)
}

// Start starts a stopped pair again at the same paths.
func (pp *PtyPair) Start() { pp.p.start() }
