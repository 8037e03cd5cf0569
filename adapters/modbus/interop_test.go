package modbus

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/internal/serialline"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// ModbusSerialVersion is the npm modbus-serial release the interoperability test runs;
// scripts/install-deps.sh installs it (with serialport) under the cache directory.
const ModbusSerialVersion = "8.0.25"

// TestRTUInteropModbusSerial reads every register type and word/byte order over RTU
// from an independent implementation, npm modbus-serial's ServerSerial, on a socat pty
// at 9600 baud, and checks the exact values.
func TestRTUInteropModbusSerial(t *testing.T) {
	cache := os.Getenv("GANLINK_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "ganlink")
	}
	modules := filepath.Join(cache, "modbus-serial-"+ModbusSerialVersion, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "modbus-serial")); err != nil {
		t.Fatalf("modbus-serial %s not found in %s: run scripts/install-deps.sh", ModbusSerialVersion, modules)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found: run scripts/install-deps.sh")
	}
	vt := newValueTypes()
	regs := map[string]map[string]any{"holding": {}, "input": {}, "coil": {}, "discrete": {}}
	for a, v := range vt.holding {
		regs["holding"][strconv.Itoa(int(a))] = v
	}
	for a, v := range vt.input {
		regs["input"][strconv.Itoa(int(a))] = v
	}
	for a, v := range vt.coil {
		regs["coil"][strconv.Itoa(int(a))] = v
	}
	for a, v := range vt.discrete {
		regs["discrete"][strconv.Itoa(int(a))] = v
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "regs.json")
	b, _ := json.Marshal(regs)
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	pp := testsrv.StartPtyPair(t)
	script, _ := filepath.Abs("testdata/modbusserial/server.js")
	cmd := exec.Command(node, script, pp.B, file)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := sc.Scan() && sc.Text() == "ready"
		ready <- ok
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("modbus-serial server did not start: %s", stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("modbus-serial server not ready after 30s: %s", stderr.String())
	}
	cfg := rtuConfig("serial://"+pp.A, vt.dev)
	cfg.Line = serialline.Line{BaudRate: 9600, ResponseTimeout: 500 * time.Millisecond}
	checkValueTypes(t, cfg, vt.want)
}
