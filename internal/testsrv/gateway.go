package testsrv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// The gateway binary is built once per test binary, on first use.
var gw struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// GatewayBinary builds cmd/gateway (without the race detector: the tests that run it as
// a child process measure or kill it) and returns its path. The binary is built once per
// test binary; RemoveGatewayBinary, from TestMain, deletes it.
func GatewayBinary(t TB) string {
	t.Helper()
	gw.once.Do(func() {
		if gw.dir, gw.err = os.MkdirTemp("", "ganlink-gateway-bin-"); gw.err != nil {
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			gw.err = fmt.Errorf("find go tool: %w", err)
			return
		}
		gw.path = filepath.Join(gw.dir, "gateway")
		out, err := exec.Command(goTool, "build", "-o", gw.path, "github.com/ganlink/ganlink/cmd/gateway").CombinedOutput()
		if err != nil {
			gw.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if gw.err != nil {
		t.Fatalf("build gateway binary: %v", gw.err)
	}
	return gw.path
}

// RemoveGatewayBinary deletes what GatewayBinary built.
func RemoveGatewayBinary() {
	if gw.dir != "" {
		os.RemoveAll(gw.dir)
	}
}
