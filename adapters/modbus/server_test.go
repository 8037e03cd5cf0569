package modbus

import (
	"fmt"
	"io"
	"log"
	"slices"
	"sync"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// bank is the register bank the test server serves: per unit id, the mapped addresses of
// each area. Reads touching an unmapped address get exception 2 (illegal data address);
// reads for a unit id without registers get exception 11 (gateway target device failed
// to respond), as a Modbus TCP gateway answers for a silent RS-485 device.
type bank struct {
	mu       sync.Mutex
	holding  map[uint32]uint16 // unit<<16 | address
	input    map[uint32]uint16
	coils    map[uint32]bool
	discrete map[uint32]bool
	units    map[uint8]bool
	delay    time.Duration // sleep before answering (a hung device)
	reads    []string      // "holding u1 0+76", in arrival order
}

func newBank() *bank {
	return &bank{holding: map[uint32]uint16{}, input: map[uint32]uint16{}, coils: map[uint32]bool{},
		discrete: map[uint32]bool{}, units: map[uint8]bool{}}
}

func key(unit uint8, addr uint16) uint32 { return uint32(unit)<<16 | uint32(addr) }

// setRegs stores consecutive register values of area ("holding" or "input") at addr.
func (b *bank) setRegs(unit uint8, areaName string, addr uint16, regs ...uint16) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.units[unit] = true
	m := b.holding
	if areaName == "input" {
		m = b.input
	}
	for i, r := range regs {
		m[key(unit, addr+uint16(i))] = r
	}
}

// setBits stores consecutive coil or discrete-input values at addr.
func (b *bank) setBits(unit uint8, areaName string, addr uint16, bits ...bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.units[unit] = true
	m := b.coils
	if areaName == "discrete" {
		m = b.discrete
	}
	for i, v := range bits {
		m[key(unit, addr+uint16(i))] = v
	}
}

func (b *bank) setDelay(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.delay = d
}

// readLog returns the reads served so far.
func (b *bank) readLog() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.reads)
}

func (b *bank) readCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.reads)
}

func (b *bank) regs(areaName string, m map[uint32]uint16, unit uint8, addr, qty uint16) ([]uint16, error) {
	b.mu.Lock()
	b.reads = append(b.reads, fmt.Sprintf("%s u%d %d+%d", areaName, unit, addr, qty))
	delay, known := b.delay, b.units[unit]
	out := make([]uint16, qty)
	var err error
	for i := range out {
		v, ok := m[key(unit, addr+uint16(i))]
		if !ok {
			err = mb.ErrIllegalDataAddress
			break
		}
		out[i] = v
	}
	b.mu.Unlock()
	time.Sleep(delay)
	if !known {
		return nil, mb.ErrGWTargetFailedToRespond
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (b *bank) bits(areaName string, m map[uint32]bool, unit uint8, addr, qty uint16) ([]bool, error) {
	b.mu.Lock()
	b.reads = append(b.reads, fmt.Sprintf("%s u%d %d+%d", areaName, unit, addr, qty))
	delay, known := b.delay, b.units[unit]
	out := make([]bool, qty)
	var err error
	for i := range out {
		v, ok := m[key(unit, addr+uint16(i))]
		if !ok {
			err = mb.ErrIllegalDataAddress
			break
		}
		out[i] = v
	}
	b.mu.Unlock()
	time.Sleep(delay)
	if !known {
		return nil, mb.ErrGWTargetFailedToRespond
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// HandleCoils implements mb.RequestHandler (reads only).
func (b *bank) HandleCoils(req *mb.CoilsRequest) ([]bool, error) {
	if req.IsWrite {
		return nil, mb.ErrIllegalFunction
	}
	return b.bits("coil", b.coils, req.UnitId, req.Addr, req.Quantity)
}

// HandleDiscreteInputs implements mb.RequestHandler.
func (b *bank) HandleDiscreteInputs(req *mb.DiscreteInputsRequest) ([]bool, error) {
	return b.bits("discrete", b.discrete, req.UnitId, req.Addr, req.Quantity)
}

// HandleHoldingRegisters implements mb.RequestHandler (reads only).
func (b *bank) HandleHoldingRegisters(req *mb.HoldingRegistersRequest) ([]uint16, error) {
	if req.IsWrite {
		return nil, mb.ErrIllegalFunction
	}
	return b.regs("holding", b.holding, req.UnitId, req.Addr, req.Quantity)
}

// HandleInputRegisters implements mb.RequestHandler.
func (b *bank) HandleInputRegisters(req *mb.InputRegistersRequest) ([]uint16, error) {
	return b.regs("input", b.input, req.UnitId, req.Addr, req.Quantity)
}

// testServer is a real Modbus TCP server (the client library's server) on a free
// loopback port, serving a bank. It can be stopped and started again on the same port.
type testServer struct {
	t    testing.TB
	url  string
	bank *bank
	srv  *mb.ModbusServer
}

func startServer(t testing.TB, b *bank) *testServer {
	t.Helper()
	ts := &testServer{t: t, url: fmt.Sprintf("tcp://127.0.0.1:%d", testsrv.FreePort(t)), bank: b}
	ts.start()
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) start() {
	ts.t.Helper()
	srv, err := mb.NewServer(&mb.ServerConfiguration{URL: ts.url, Timeout: 30 * time.Second, MaxClients: 4,
		Logger: log.New(io.Discard, "", 0)}, ts.bank)
	if err != nil {
		ts.t.Fatalf("create modbus server: %v", err)
	}
	if err := srv.Start(); err != nil {
		ts.t.Fatalf("start modbus server on %s: %v", ts.url, err)
	}
	ts.srv = srv
}

func (ts *testServer) stop() {
	if ts.srv != nil {
		ts.srv.Stop()
		ts.srv = nil
	}
}
