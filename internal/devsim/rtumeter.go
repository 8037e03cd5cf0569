package devsim

import (
	"context"
	"fmt"
	"math"
	"net"

	"golang.org/x/sync/errgroup"
)

// RS-485 energy meters: the simulation's energy meters, read over Modbus RTU with the
// register map of a CHINT DTSU666 (configs/modbus-dtsu666.example.yaml): float32
// holding registers, high word first, in the meter's raw units. They hold what the
// meter last reported (Config.MeterInterval), as its MQTT messages do, so the ground
// truth is the same whichever way a meter is read.

// DTSU666 holding-register addresses and the raw unit of each value (the template's
// scale is its inverse).
const (
	dtsuVoltageL1 = 0x2006 // 0.1 V; L2, L3 follow every 2 registers
	dtsuCurrentL1 = 0x200C // 0.001 A
	dtsuPower     = 0x2012 // 0.1 W (total), then L1..L3
	dtsuPF        = 0x202A // 0.001
	dtsuFrequency = 0x2044 // 0.01 Hz
	dtsuEnergy    = 0x101E // kWh, total forward active energy
)

// Fixed electrical values of a simulated meter: the power follows the simulation.
const (
	simVoltage = 230.0
	simPF      = 0.95
	simFreq    = 50.0
)

// RTUMeter is one simulated energy meter on an RS-485 bus.
type RTUMeter struct {
	s  *Sim
	mt *meter
}

// RTUMeter returns energy meter id (EnergyMeterID(n)) as an RTU unit.
func (s *Sim) RTUMeter(id string) (*RTUMeter, error) {
	for _, mt := range s.meters {
		if mt.id == id && mt.energy {
			return &RTUMeter{s: s, mt: mt}, nil
		}
	}
	return nil, fmt.Errorf("no energy meter %q: the simulation has %d", id, s.cfg.EnergyMeters)
}

// Values returns what the meter's registers hold now, in engineering units: energy
// kWh, power kW.
func (m *RTUMeter) Values() (kwh, kw float64) {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	return m.mt.reg, m.mt.rate
}

// registers returns the meter's register image: address → register.
func (m *RTUMeter) registers() map[uint16]uint16 {
	kwh, kw := m.Values()
	regs := make(map[uint16]uint16, 64)
	put := func(addr uint16, v float64) {
		u := math.Float32bits(float32(v))
		regs[addr], regs[addr+1] = uint16(u>>16), uint16(u)
	}
	amps := kw * 1000 / (3 * simVoltage * simPF)
	for i := range uint16(3) {
		put(dtsuVoltageL1+2*i, simVoltage*10)
		put(dtsuCurrentL1+2*i, amps*1000)
		put(dtsuPower+2+2*i, kw*10000/3)
	}
	put(dtsuPower, kw*10000)
	put(dtsuPF, simPF*1000)
	put(dtsuFrequency, simFreq*100)
	put(dtsuEnergy, kwh)
	// The DTSU666 answers the whole 0x2000..0x2045 block; unused registers read 0.
	for a := uint16(0x2000); a <= 0x2045; a++ {
		if _, ok := regs[a]; !ok {
			regs[a] = 0
		}
	}
	return regs
}

// ReadRegisters implements RTUUnit: holding registers of the DTSU666 map; any read
// touching an address outside it gets exception 2 (illegal data address).
func (m *RTUMeter) ReadRegisters(fc byte, addr, qty uint16) ([]uint16, byte) {
	if fc != 3 {
		return nil, 2
	}
	regs := m.registers()
	out := make([]uint16, qty)
	for i := range out {
		v, ok := regs[addr+uint16(i)]
		if !ok {
			return nil, 2
		}
		out[i] = v
	}
	return out, 0
}

// ReadBits implements RTUUnit: a meter has no coils (exception 1, illegal function).
func (m *RTUMeter) ReadBits(byte, uint16, uint16) ([]bool, byte) { return nil, 1 }

// RTUSlave returns a slave serving the simulation's energy meters em1..emN as units
// 1..N of one bus.
func (s *Sim) RTUSlave() *RTUSlave {
	units := map[byte]RTUUnit{}
	for _, mt := range s.meters {
		if mt.energy && len(units) < 247 {
			units[byte(len(units)+1)] = &RTUMeter{s: s, mt: mt}
		}
	}
	return NewRTUSlave(units)
}

// ServeRTU serves the energy meters as Modbus RTU units 1..N (em1 is unit 1) on the
// serial port or pty end at port, and on a TCP listener at addr standing for a serial
// server in transparent mode; either may be empty. It returns when ctx is done, or
// with the error of the listener.
func (s *Sim) ServeRTU(ctx context.Context, port, addr string) error {
	sl := s.RTUSlave()
	g, ctx := errgroup.WithContext(ctx)
	if addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen rtu on %q: %w", addr, err)
		}
		s.log.Info("serving energy meters over modbus rtu (serial server)", "addr", l.Addr().String())
		g.Go(func() error { return sl.ServeTCP(ctx, l) })
	}
	if port != "" {
		s.log.Info("serving energy meters over modbus rtu", "port", port)
		g.Go(func() error { return sl.ServePort(ctx, port) })
	}
	return g.Wait()
}
