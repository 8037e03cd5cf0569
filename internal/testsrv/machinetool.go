package testsrv

import (
	_ "embed"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// NodeOPCUAVersion is the node-opcua release scripts/install-deps.sh installs.
const NodeOPCUAVersion = "2.186.4"

//go:embed nodeopcua/server.js
var machineToolJS []byte

// MachineTool is a node-opcua OPC UA server on 127.0.0.1 (by default security None and
// anonymous; MachineToolOptions adds security policies, users and trusted certificates)
// whose address space is shaped like an OPC 40501 MachineTool server: two machine tools
// M1 and M2 and an OPC 40001-1 machine P1 under Objects/Machines with the Machinery, DI and MachineTool namespaces
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
	// Policies are the security policies offered besides None, each in Sign and
	// SignAndEncrypt, e.g. "Basic256Sha256", "Aes128_Sha256_RsaOaep",
	// "Aes256_Sha256_RsaPss". With any, only TrustedClients may open a secure channel.
	Policies []string
	// NoNone removes the None endpoint.
	NoNone bool
	// Users are the accepted user names and passwords; when set, anonymous login is
	// refused.
	Users map[string]string
	// TrustedClients are the DER application instance certificates the server trusts.
	TrustedClients [][]byte
	// TrustedUsers are the DER certificates accepted for X.509 user login.
	TrustedUsers [][]byte
	// MaxSessions is the server's session limit; 0 leaves node-opcua's default.
	MaxSessions int
	// Hostile adds machine M3 and object Panel whose names and node ids try to inject
	// into the output of gateway browse (nodeopcua/server.js, hostile()).
	Hostile bool
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
		ready: tcpReady(fmt.Sprintf("127.0.0.1:%d", port)), port: port}
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
	pkiDir := filepath.Join(m.dir, "pki")
	writeCerts(m.t, filepath.Join(pkiDir, "trusted", "certs"), "client", o.TrustedClients)
	args := []string{m.node, m.script, "--port=" + strconv.Itoa(m.Port), "--modules=" + m.modules, "--pki=" + pkiDir,
		"--pad=" + strconv.Itoa(o.ExtraNamespaces), "--parts=" + strconv.FormatUint(o.Parts, 10),
		"--policies=" + strings.Join(o.Policies, ","), "--certout=" + filepath.Join(m.dir, "server.der")}
	if o.NoNone {
		args = append(args, "--nonone=1")
	}
	if o.Hostile {
		args = append(args, "--hostile=1")
	}
	if o.MaxSessions > 0 {
		args = append(args, "--maxsessions="+strconv.Itoa(o.MaxSessions))
	}
	if len(o.Users) > 0 {
		var us []string
		for u, p := range o.Users {
			us = append(us, u+":"+p)
		}
		sort.Strings(us)
		args = append(args, "--users="+strings.Join(us, ","))
	}
	if len(o.TrustedUsers) > 0 {
		userPKI := filepath.Join(m.dir, "userpki")
		writeCerts(m.t, filepath.Join(userPKI, "trusted", "certs"), "user", o.TrustedUsers)
		args = append(args, "--userpki="+userPKI)
	}
	m.p.mu.Lock()
	m.p.args = args
	m.p.mu.Unlock()
	m.p.start()
}

// ServerCertificate returns the DER application instance certificate of the running
// server (node-opcua generates it at the first start and keeps it across restarts).
func (m *MachineTool) ServerCertificate() []byte {
	m.t.Helper()
	b, err := os.ReadFile(filepath.Join(m.dir, "server.der"))
	if err != nil {
		m.t.Fatalf("server certificate: %v", err)
	}
	return b
}

// RejectedClients returns the DER certificates the server has rejected.
func (m *MachineTool) RejectedClients() [][]byte {
	m.t.Helper()
	var out [][]byte
	files, _ := filepath.Glob(filepath.Join(m.dir, "pki", "rejected", "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			m.t.Fatalf("rejected certificate: %v", err)
		}
		if blk, _ := pem.Decode(b); blk != nil {
			b = blk.Bytes
		}
		out = append(out, b)
	}
	return out
}

// writeCerts writes DER certificates into dir as prefix-N.der.
func writeCerts(t TB, dir, prefix string, certs [][]byte) {
	t.Helper()
	if len(certs) == 0 {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("%v", err)
	}
	for i, c := range certs {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.der", prefix, i)), c, 0o644); err != nil {
			t.Fatalf("%v", err)
		}
	}
}
