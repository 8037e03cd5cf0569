package testsrv

import (
	"fmt"
	"path/filepath"
)

// VMAuth is a running vmauth (from the victoria-metrics Debian package) routing users
// by its configuration file.
type VMAuth struct {
	Port int
	URL  string
	p    *process
}

// StartVMAuth starts vmauth with the configuration file config and the extra flags, and
// stops it at the end of the test.
func StartVMAuth(t TB, config string, flags ...string) *VMAuth {
	t.Helper()
	bin := lookBinary(t, "vmauth", "/usr/bin/vmauth")
	dir := t.TempDir()
	port := FreePort(t)
	v := &VMAuth{Port: port, URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	v.p = &process{t: t, name: "vmauth", args: append([]string{bin, fmt.Sprintf("-httpListenAddr=127.0.0.1:%d", port),
		"-auth.config=" + config, "-loggerLevel=WARN"}, flags...), logPath: filepath.Join(dir, "vmauth.log"),
		ready: tcpReady(fmt.Sprintf("127.0.0.1:%d", port)), port: port}
	v.p.start()
	t.Cleanup(v.p.stop)
	return v
}
