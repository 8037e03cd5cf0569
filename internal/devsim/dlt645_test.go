package devsim

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net"
	"os"
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/dlt645"
)

// ask sends a read of di to addr over c and returns the reply frame.
func ask(t *testing.T, c net.Conn, addr dlt645.Address, di dlt645.DI) (dlt645.Frame, error) {
	t.Helper()
	req := dlt645.ReadDataRequest(addr, di)
	if _, err := c.Write(req.Encode()); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	f, _, err := dlt645.ReadFrame(c, nil)
	return f, err
}

func dial(t *testing.T, bus *DLT645Bus) net.Conn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bus.ServeTCP(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeTCP: %v", err)
		}
	})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestDLT645SimMeters: the simulation's energy meters answer on a serial-server port
// with what they last reported (the register to 0.01 kWh), and keep counting as the
// simulation steps.
func TestDLT645SimMeters(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bus, err := s.DLT645Bus()
	if err != nil {
		t.Fatal(err)
	}
	if len(bus.Meters()) != cfg.EnergyMeters || bus.Meters()[1].Address().String() != "000000000002" {
		t.Fatalf("meters %d", len(bus.Meters()))
	}
	c := dial(t, bus)
	read := func(n int) (kwh, kw float64) {
		a, _ := dlt645.ParseAddress(DLT645Address(n))
		for i, di := range []dlt645.DI{0x00010000, 0x02030000} {
			f, err := ask(t, c, a, di)
			if err != nil {
				t.Fatal(err)
			}
			b, err := dlt645.ParseReadData(&f, a, di)
			if err != nil {
				t.Fatal(err)
			}
			v, err := dlt645.Items[di].Format.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				kwh = v
			} else {
				kw = v
			}
		}
		return kwh, kw
	}
	before, _ := read(1)
	s.StepUntil(cfg.Start.Add(10 * time.Minute))
	for n := 1; n <= cfg.EnergyMeters; n++ {
		m, _ := s.RTUMeter(EnergyMeterID(n))
		reg, rate := m.Values()
		kwh, kw := read(n)
		if kwh != math.Round(reg*100)/100 || kw != math.Round(rate*10000)/10000 {
			t.Fatalf("meter %d: %v kWh %v kW, simulation %v kWh %v kW", n, kwh, kw, reg, rate)
		}
	}
	if after, _ := read(1); after <= before {
		t.Fatalf("register did not count: %v then %v", before, after)
	}
}

// TestDLT645Faults: a bad checksum, an exception reply and silence on demand; a data
// item the meter does not have gets "no data requested"; the broadcast read-address
// request is answered.
func TestDLT645Faults(t *testing.T) {
	m, err := NewDLT645Meter(DLT645MeterConfig{Address: "123456789012", BaseKW: 2, EnergyKWh: 10})
	if err != nil {
		t.Fatal(err)
	}
	bus, err := NewDLT645Bus(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, bus)
	a := m.Address()
	var ce *dlt645.ChecksumError
	m.Inject(DLT645FaultChecksum, 1)
	if _, err := ask(t, c, a, 0x00010000); !errors.As(err, &ce) {
		t.Fatalf("checksum fault: %v", err)
	}
	m.Inject(DLT645FaultException, 1)
	f, err := ask(t, c, a, 0x00010000)
	if _, perr := dlt645.ParseReadData(&f, a, 0x00010000); err != nil || perr == nil ||
		perr.Error() != "meter exception (control 0xD1, error byte 0x02): no data requested" {
		t.Fatalf("exception fault: %v %v", err, perr)
	}
	m.Inject(DLT645FaultSilent, 1)
	if _, err := ask(t, c, a, 0x00010000); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("silent fault: %v", err)
	}
	f, err = ask(t, c, a, 0x00010000) // faults used up
	if v, perr := dlt645.ParseReadData(&f, a, 0x00010000); err != nil || perr != nil || !bytes.Equal(v, []byte{0, 0x10, 0, 0}) {
		t.Fatalf("good reply: % X %v %v", v, err, perr)
	}
	f, err = ask(t, c, a, 0x04000401) // not in the table
	if _, perr := dlt645.ParseReadData(&f, a, 0x04000401); err != nil || perr == nil ||
		perr.Error() != "meter exception (control 0xD1, error byte 0x02): no data requested" {
		t.Fatalf("unknown item: %v %v", err, perr)
	}
	req := dlt645.ReadAddressRequest()
	c.Write(req.Encode())
	c.SetReadDeadline(time.Now().Add(time.Second))
	f, _, err = dlt645.ReadFrame(c, nil)
	if got, perr := dlt645.ParseReadAddress(&f); err != nil || perr != nil || got != a {
		t.Fatalf("read address: %v %v %v", got, err, perr)
	}
	if _, err := NewDLT645Bus(nil, m, m); err == nil || err.Error() != "two simulated meters with address 123456789012" {
		t.Fatalf("duplicate: %v", err)
	}
}

// TestServeDLT645Listen: Serve with DLT645Listen answers as a serial server; an address
// that cannot be listened on ends Serve with an error naming it.
func TestServeDLT645Listen(t *testing.T) {
	cfg := DefaultConfig()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ServeOptions{DLT645Listen: addr}) }()
	var c net.Conn
	for i := 0; i < 100; i++ {
		if c, err = net.Dial("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	a, _ := dlt645.ParseAddress(DLT645Address(2))
	f, err := ask(t, c, a, 0x00010000)
	if _, perr := dlt645.ParseReadData(&f, a, 0x00010000); err != nil || perr != nil {
		t.Fatalf("%v %v", err, perr)
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	// The port is taken now.
	busy, _ := net.Listen("tcp", "127.0.0.1:0")
	defer busy.Close()
	err = s.Serve(context.Background(), ServeOptions{DLT645Listen: busy.Addr().String()})
	if err == nil || err.Error() != `listen dl/t 645 on "`+busy.Addr().String()+`": listen tcp `+busy.Addr().String()+`: bind: address already in use` {
		t.Fatalf("busy port: %v", err)
	}
}
