package testsrv

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// NodeOPCUAVersion is the node-opcua release scripts/install-deps.sh installs.
const NodeOPCUAVersion = "2.186.4"

//go:embed nodeopcua/server.js
var machineToolJS []byte

// MachineTool is a node-opcua OPC UA server on 127.0.0.1 (security None, anonymous)
// whose address space is shaped like an OPC 40501 MachineTool server: two machines M1
// and M2 under Objects/Machines with the Machinery, DI and MachineTool namespaces
// (nodeopcua/server.js describes the nodes). Unlike gopcua's server it implements
// TranslateBrowsePathsToNodeIds. It can be stopped and started again on the same port,
// with other options, to test restarts in which namespace indexes change.
type MachineTool struct {
	Port int
	// URL is "opc.tcp://127.0.0.1:PORT".
	URL string

	t       TB
	dir     string
	script  string
	node    string
	modules string
	p       *process
}

// MachineToolOptions selects what a MachineTool run serves.
type MachineToolOptions struct {
	// ExtraNamespaces registers this many namespaces before the companion-specification
	// and vendor ones, so their indexes differ between runs with different values.
	ExtraNamespaces int
	// Parts is the PartsProducedInLifetime of M1; M2 has Parts+1000.
	Parts uint64
}

// StartMachineTool starts the server (about 3 s) and stops it at the end of the test.
// node-opcua must be installed by scripts/install-deps.sh.
func StartMachineTool(t TB, o MachineToolOptions) *MachineTool {
	t.Helper()
	node := lookBinary(t, "node", "nodejs")
	modules := filepath.Join(cacheDir(), "node-opcua-"+NodeOPCUAVersion, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "node-opcua")); err != nil {
		t.Fatalf("node-opcua %s not found in %s: run scripts/install-deps.sh", NodeOPCUAVersion, modules)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "server.js")
	if err := os.WriteFile(script, machineToolJS, 0o644); err != nil {
		t.Fatalf("write %s: %v", script, err)
	}
	port := FreePort(t)
	m := &MachineTool{Port: port, URL: fmt.Sprintf("opc.tcp://127.0.0.1:%d", port), t: t, dir: dir, script: script,
		node: node, modules: modules}
	m.p = &process{t: t, name: "node-opcua machine tool server", logPath: filepath.Join(dir, "server.log"),
		ready: tcpReady(fmt.Sprintf("127.0.0.1:%d", port))}
	t.Cleanup(m.p.stop)
	m.StartWith(o)
	return m
}

// cacheDir is where scripts/install-deps.sh keeps what it builds and downloads.
func cacheDir() string {
	if d := os.Getenv("GANLINK_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "ganlink")
}

// Stop stops the server.
func (m *MachineTool) Stop() { m.p.stop() }

// StartWith starts a stopped server again on the same port with options o.
func (m *MachineTool) StartWith(o MachineToolOptions) {
	m.t.Helper()
	m.p.mu.Lock()
	m.p.args = []string{m.node, m.script, "--port=" + strconv.Itoa(m.Port), "--modules=" + m.modules, "--pki=" + filepath.Join(m.dir, "pki"),
		"--pad=" + strconv.Itoa(o.ExtraNamespaces), "--parts=" + strconv.FormatUint(o.Parts, 10)}
	m.p.mu.Unlock()
	m.p.start()
}
