package devsim

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// rtuRead sends a read request and returns the reply frame, read until its length.
func rtuRead(t *testing.T, c net.Conn, unit, fc byte, addr, qty uint16) []byte {
	t.Helper()
	req := []byte{unit, fc, byte(addr >> 8), byte(addr), byte(qty >> 8), byte(qty)}
	crc := crc16(req)
	req = append(req, byte(crc), byte(crc>>8))
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	h := make([]byte, 3)
	if _, err := io.ReadFull(c, h); err != nil {
		t.Fatalf("read reply header: %v", err)
	}
	n := 2
	if h[1]&0x80 == 0 {
		n += int(h[2])
	}
	rest := make([]byte, n)
	if _, err := io.ReadFull(c, rest); err != nil {
		t.Fatalf("read reply: %v", err)
	}
	f := append(h, rest...)
	if crc16(f[:len(f)-2]) != uint16(f[len(f)-2])|uint16(f[len(f)-1])<<8 {
		t.Fatalf("reply % x: bad CRC", f)
	}
	return f
}

// TestServeRTU serves the simulation's energy meters over a TCP serial-server port:
// the DTSU666 registers of em2 (unit 2) hold its energy and power exactly as float32,
// an address outside the map gets exception 2, and unit 3 (no third meter) is silent.
// The pty side is covered by the modbus adapter's tests (TestRTUTemplates).
func TestServeRTU(t *testing.T) {
	s, err := New(Config{Machines: 2, EnergyMeters: 2, Seed: 4, Start: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testsrv.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeRTU(ctx, "", addr) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeRTU: %v", err)
		}
	})
	var c net.Conn
	for i := 0; ; i++ {
		if c, err = net.Dial("tcp", addr); err == nil {
			break
		}
		if i > 100 {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer c.Close()
	em2, _ := s.RTUMeter("em2")
	kwh, kw := em2.Values()
	f32 := func(b []byte) float64 {
		return float64(math.Float32frombits(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])))
	}
	f := rtuRead(t, c, 2, 3, 0x101E, 2)
	if got, want := f32(f[3:]), float64(float32(kwh)); f[2] != 4 || got != want || kwh < 1000 {
		t.Fatalf("energy reply % x: %v, want %v", f, got, want)
	}
	f = rtuRead(t, c, 2, 3, 0x2012, 2)
	if got, want := f32(f[3:]), float64(float32(kw*10000)); got != want || kw <= 0 {
		t.Fatalf("power reply % x: %v, want %v", f, got, want)
	}
	if f = rtuRead(t, c, 2, 3, 0x3000, 2); fmt.Sprintf("% x", f[:3]) != "02 83 02" {
		t.Fatalf("reply to an unmapped address % x", f)
	}
	if f = rtuRead(t, c, 2, 1, 0, 8); fmt.Sprintf("% x", f[:3]) != "02 81 01" {
		t.Fatalf("reply to a coil read % x", f)
	}
	// Unit 3 does not answer.
	req := []byte{3, 3, 0x10, 0x1E, 0, 2}
	crc := crc16(req)
	c.Write(append(req, byte(crc), byte(crc>>8)))
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 16)); n != 0 || err == nil {
		t.Fatalf("unit 3 answered %d bytes (%v)", n, err)
	}
}
