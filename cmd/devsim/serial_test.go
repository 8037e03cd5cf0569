package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/dlt645"
	"github.com/ganlink/ganlink/adapters/modbus"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// TestSerialMeterFlags: devsim run -rtu-serial, -rtu-listen, -dlt645-serial and
// -dlt645-listen each serve the simulated energy meter: it answers a Modbus RTU read of
// unit 1 and a DL/T 645 broadcast address read on the pty and the TCP port named.
func TestSerialMeterFlags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "devsim")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	rtuPty, dltPty := testsrv.StartPtyPair(t), testsrv.StartPtyPair(t)
	rtuAddr := fmt.Sprintf("127.0.0.1:%d", testsrv.FreePort(t))
	dltAddr := fmt.Sprintf("127.0.0.1:%d", testsrv.FreePort(t))
	cmd := exec.Command(bin, "run", "-machines", "0", "-energy-meters", "1", "-water-meters", "0", "-opcua-addr", "",
		"-mqtt-broker", "", "-log-level", "error", "-rtu-serial", rtuPty.A, "-rtu-listen", rtuAddr,
		"-dlt645-serial", dltPty.A, "-dlt645-listen", dltAddr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })

	// A Modbus RTU read of 2 holding registers at 0 from unit 1.
	req := []byte{1, 3, 0, 0, 0, 2}
	crc := modbus.CRC16(req)
	req = append(req, byte(crc), byte(crc>>8))
	rtuOK := func(b []byte) bool { return len(b) >= 5 && b[0] == 1 && (b[1] == 3 || b[1] == 0x83) }
	// A DL/T 645 broadcast read of the meter's address.
	dreq := dlt645.ReadAddressRequest()
	dltOK := func(b []byte) bool {
		f, err := dlt645.Decode(bytes.TrimLeft(b, "\xfe"))
		if err != nil {
			return false
		}
		_, err = dlt645.ParseReadAddress(&f)
		return err == nil
	}
	ask := func(open func() (io.ReadWriteCloser, error), req []byte, ok func([]byte) bool) string {
		deadline := time.Now().Add(20 * time.Second)
		last := ""
		for time.Now().Before(deadline) {
			c, err := open()
			if err != nil {
				last = err.Error()
				time.Sleep(200 * time.Millisecond)
				continue
			}
			c.Write(req)
			buf, got := make([]byte, 256), []byte{}
			if d, ok := c.(interface{ SetReadDeadline(time.Time) error }); ok {
				d.SetReadDeadline(time.Now().Add(time.Second))
			}
			for end := time.Now().Add(time.Second); time.Now().Before(end) && !ok(got); {
				n, err := c.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil && n == 0 {
					break
				}
			}
			c.Close()
			if ok(got) {
				return ""
			}
			last = fmt.Sprintf("answer % x", got)
			time.Sleep(200 * time.Millisecond)
		}
		return last + "; devsim: " + stderr.String()
	}
	tcp := func(addr string) func() (io.ReadWriteCloser, error) {
		return func() (io.ReadWriteCloser, error) { return net.DialTimeout("tcp", addr, time.Second) }
	}
	pty := func(path string) func() (io.ReadWriteCloser, error) {
		return func() (io.ReadWriteCloser, error) { return os.OpenFile(path, os.O_RDWR, 0) }
	}
	for name, msg := range map[string]string{
		"-rtu-listen":    ask(tcp(rtuAddr), req, rtuOK),
		"-rtu-serial":    ask(pty(rtuPty.B), req, rtuOK),
		"-dlt645-listen": ask(tcp(dltAddr), dreq.Encode(), dltOK),
		"-dlt645-serial": ask(pty(dltPty.B), dreq.Encode(), dltOK),
	} {
		if msg != "" {
			t.Errorf("%s: no answer: %s", name, msg)
		}
	}
}
