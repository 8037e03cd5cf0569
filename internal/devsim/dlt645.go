package devsim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ganlink/ganlink/adapters/dlt645"
)

// DL/T 645-2007 meters on an RS-485 bus: a DLT645Bus holds several meters with
// distinct addresses and answers their read-data (11H) and read-address (13H)
// requests on a pseudo-terminal (the far end of a socat pair, as a meter on the
// gateway's serial port) or on a TCP port (a serial device server in transparent
// mode). Like the MQTT meters, a meter's energy register counts the integral of its
// load: power is a base load with 2 % noise, and every read adds the energy used since
// the previous one. Faults can be injected per meter: a bad checksum, an exception
// reply, or silence.

// DLT645Fault is an injected misbehaviour of a meter.
type DLT645Fault int

// Faults.
const (
	DLT645FaultNone      DLT645Fault = iota
	DLT645FaultChecksum              // replies carry a checksum off by one
	DLT645FaultException             // replies are exception replies "no data requested"
	DLT645FaultSilent                // no reply at all, like a meter without power
)

// DLT645MeterConfig describes one simulated meter.
type DLT645MeterConfig struct {
	// Address is the 12-digit meter address.
	Address string
	// BaseKW is the meter's load in kW; EnergyKWh its register at the start.
	BaseKW, EnergyKWh float64
	// Noise is the relative noise of power, current and voltage (0.02: 2 %); 0 keeps
	// every value fixed.
	Noise float64
	// Speed multiplies the wall time that the energy register integrates (1: real
	// time; 60: one hour per minute, for demos); 0 keeps the register fixed.
	Speed float64
	// Seed seeds the noise.
	Seed int64
}

// DLT645Meter is one simulated meter. Safe for concurrent use.
type DLT645Meter struct {
	addr dlt645.Address
	cfg  DLT645MeterConfig

	mu     sync.Mutex
	rnd    *rand.Rand
	energy float64 // kWh
	last   time.Time
	fixed  map[dlt645.DI]float64
	fault  DLT645Fault
	faults int // replies left with fault; < 0: until cleared
	served map[dlt645.DI]float64
	// sim, when set, gives the energy register (kWh) and the power (kW) instead of the
	// meter's own model: a meter of the simulation (Sim.DLT645Meter).
	sim func() (kwh, kw float64)
}

// NewDLT645Meter returns a meter; the address must be 12 decimal digits.
func NewDLT645Meter(c DLT645MeterConfig) (*DLT645Meter, error) {
	a, err := dlt645.ParseAddress(c.Address)
	if err != nil {
		return nil, err
	}
	return &DLT645Meter{addr: a, cfg: c, rnd: newRand(c.Seed, 5<<32), energy: c.EnergyKWh,
		fixed: map[dlt645.DI]float64{}, served: map[dlt645.DI]float64{}}, nil
}

// DLT645Meter returns energy meter id (EnergyMeterID(n)) of the simulation as a DL/T
// 645 meter at address: its energy register and power are what the meter last reported
// (Config.MeterInterval), as in its MQTT messages, so the ground truth is the same
// whichever way the meter is read (to the register's 0.01 kWh: XXXXXX.XX). Voltage 220 V
// and power factor 0.95 are fixed; the current follows the power.
func (s *Sim) DLT645Meter(id, address string) (*DLT645Meter, error) {
	for _, mt := range s.meters {
		if mt.id == id && mt.energy {
			m, err := NewDLT645Meter(DLT645MeterConfig{Address: address})
			if err != nil {
				return nil, err
			}
			m.sim = func() (float64, float64) {
				s.mu.Lock()
				defer s.mu.Unlock()
				return mt.reg, mt.rate
			}
			return m, nil
		}
	}
	return nil, fmt.Errorf("no energy meter %q: the simulation has %d", id, s.cfg.EnergyMeters)
}

// DLT645Address is the address devsim gives energy meter n (1-based) on a DL/T 645
// bus: n in 12 digits, e.g. "000000000001".
func DLT645Address(n int) string { return fmt.Sprintf("%012d", n) }

// DLT645Bus returns a bus of the simulation's energy meters at DLT645Address(1..n).
func (s *Sim) DLT645Bus() (*DLT645Bus, error) {
	var ms []*DLT645Meter
	for i := 1; i <= s.cfg.EnergyMeters; i++ {
		m, err := s.DLT645Meter(EnergyMeterID(i), DLT645Address(i))
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return NewDLT645Bus(s.log, ms...)
}

// Address returns the meter's address.
func (m *DLT645Meter) Address() dlt645.Address { return m.addr }

// Set fixes the value the meter answers for di (the energy register for 00010000:
// from then on it counts up from v).
func (m *DLT645Meter) Set(di dlt645.DI, v float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if di == 0x00010000 {
		m.energy, m.last = v, time.Time{}
		return
	}
	m.fixed[di] = v
}

// Inject makes the next n replies misbehave as f (n < 0: until Inject(None, 0)).
func (m *DLT645Meter) Inject(f DLT645Fault, n int) {
	m.mu.Lock()
	m.fault, m.faults = f, n
	m.mu.Unlock()
}

// Served returns the last value answered for di and whether one was.
func (m *DLT645Meter) Served(di dlt645.DI) (float64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.served[di]
	return v, ok
}

// takeFault returns the fault of the next reply.
func (m *DLT645Meter) takeFault() DLT645Fault {
	if m.faults == 0 {
		return DLT645FaultNone
	}
	if m.faults > 0 {
		m.faults--
	}
	return m.fault
}

// value returns the meter's value of di at now, and false for a data item it does
// not have.
func (m *DLT645Meter) value(di dlt645.DI, now time.Time) (float64, bool) {
	if v, ok := m.fixed[di]; ok {
		return v, true
	}
	noise := func() float64 { return 1 + m.rnd.NormFloat64()*m.cfg.Noise }
	if m.cfg.Noise == 0 {
		noise = func() float64 { return 1 }
	}
	power := m.cfg.BaseKW * noise()
	const pf, volts = 0.95, 220.0
	if m.sim != nil {
		var kwh float64
		kwh, power = m.sim()
		if di == 0x00010000 {
			return kwh, true
		}
	}
	switch {
	case di == 0x00010000:
		if !m.last.IsZero() && m.cfg.Speed > 0 {
			m.energy += max(power, 0) * now.Sub(m.last).Hours() * m.cfg.Speed
		}
		m.last = now
		return m.energy, true
	case di == 0x02030000:
		return power, true
	case di >= 0x02030100 && di <= 0x02030300 && di&0xFF == 0:
		return power / 3, true
	case di >= 0x02010100 && di <= 0x02010300 && di&0xFF == 0:
		return volts * (1 + (noise()-1)/4), true
	case di >= 0x02020100 && di <= 0x02020300 && di&0xFF == 0:
		return power * 1000 / 3 / volts / pf * noise(), true
	case di == 0x02060000:
		return pf, true
	case di == 0x02800002:
		return 50, true
	}
	return 0, false
}

// reply builds the meter's answer to f, or nil for silence.
func (m *DLT645Meter) reply(f *dlt645.Frame, now time.Time) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	fault := m.takeFault()
	if fault == DLT645FaultSilent {
		return nil
	}
	var out dlt645.Frame
	switch f.Control {
	case dlt645.CtrlReadAddress:
		out = dlt645.Frame{Preamble: 4, Addr: m.addr, Control: 0x93, Data: m.addr[:]}
	case dlt645.CtrlReadData:
		if len(f.Data) != 4 {
			out = dlt645.Frame{Preamble: 4, Addr: m.addr, Control: 0xD1, Data: []byte{byte(dlt645.BitOther)}}
			break
		}
		di := dlt645.DI(uint32(f.Data[0]) | uint32(f.Data[1])<<8 | uint32(f.Data[2])<<16 | uint32(f.Data[3])<<24)
		v, ok := m.value(di, now)
		it, known := dlt645.Items[di]
		if !ok || !known || fault == DLT645FaultException {
			out = dlt645.Frame{Preamble: 4, Addr: m.addr, Control: 0xD1, Data: []byte{byte(dlt645.BitNoData)}}
			break
		}
		val := it.Format.Encode(v)
		x, _ := it.Format.Decode(val)
		m.served[di] = x
		out = dlt645.Frame{Preamble: 4, Addr: m.addr, Control: 0x91, Data: append(slicesClone(f.Data), val...)}
	default:
		return nil // functions a reading master does not use: no answer
	}
	b := out.Encode()
	if fault == DLT645FaultChecksum {
		b[len(b)-2]++
	}
	return b
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }

// DLT645Bus is an RS-485 bus of simulated meters. Safe for concurrent use.
type DLT645Bus struct {
	log    *slog.Logger
	meters []*DLT645Meter
	baud   atomic.Int64 // wire emulation (SetWireSpeed)

	Requests atomic.Int64 // frames received
	Replies  atomic.Int64 // frames answered
}

// NewDLT645Bus returns a bus of the meters; their addresses must differ. log may be nil.
func NewDLT645Bus(log *slog.Logger, meters ...*DLT645Meter) (*DLT645Bus, error) {
	seen := map[dlt645.Address]bool{}
	for _, m := range meters {
		if seen[m.addr] {
			return nil, fmt.Errorf("two simulated meters with address %s", m.addr)
		}
		seen[m.addr] = true
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DLT645Bus{log: log, meters: meters}, nil
}

// SetWireSpeed makes the meters answer as late as on a real RS-485 line at baud with
// DL/T 645's 8E1 characters (11 bits): a pty or a TCP port carries bytes at once, so each
// reply is written after the wire time of the request and of the reply. 0 answers at
// once.
func (b *DLT645Bus) SetWireSpeed(baud int) { b.baud.Store(int64(baud)) }

// wireTime is the time n characters of 11 bits take at baud.
func wireTime(baud int64, n int) time.Duration {
	if baud <= 0 {
		return 0
	}
	return time.Duration(n*11) * time.Second / time.Duration(baud)
}

// Meters returns the bus's meters.
func (b *DLT645Bus) Meters() []*DLT645Meter { return b.meters }

// Serve answers the requests read from rw until reading fails (the error is returned)
// or ctx is done (nil). A request to the broadcast address is answered by every meter,
// one after the other, as on a real bus where they would collide.
func (b *DLT645Bus) Serve(ctx context.Context, rw io.ReadWriter) error {
	r := bufio.NewReader(rw)
	buf := make([]byte, 0, dlt645.MaxFrame+64)
	for ctx.Err() == nil {
		f, raw, err := dlt645.ReadFrame(r, buf)
		received := time.Now()
		if err != nil {
			if errors.Is(err, dlt645.ErrFrame) {
				continue // noise or a garbled request: a meter stays silent
			}
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if f.IsReply() {
			continue
		}
		b.Requests.Add(1)
		now := time.Now()
		for _, m := range b.meters {
			if f.Addr != m.addr && f.Addr != dlt645.Broadcast {
				continue
			}
			if out := m.reply(&f, now); out != nil {
				if d := time.Until(received.Add(wireTime(b.baud.Load(), len(raw)+len(out)))); d > 0 && !sleepCtx(ctx, d) {
					return nil
				}
				if _, err := rw.Write(out); err != nil {
					return err
				}
				b.Replies.Add(1)
			}
		}
	}
	return nil
}

// ServeSerial answers on the serial device path (e.g. one end of a socat pty pair;
// socat's "raw,echo=0" sets the line discipline) until ctx is done, reopening the
// device while it is missing or failing (the pair was stopped and started again). It
// returns nil when ctx is done.
func (b *DLT645Bus) ServeSerial(ctx context.Context, path string) error {
	for ctx.Err() == nil {
		f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
		if err != nil {
			if !sleepCtx(ctx, 50*time.Millisecond) {
				return nil
			}
			continue
		}
		stop := context.AfterFunc(ctx, func() { f.Close() })
		err = b.Serve(ctx, f)
		stop()
		f.Close()
		if ctx.Err() == nil {
			b.log.Debug("dlt645 simulator: serial device failed, reopening", "path", path, "err", err)
			sleepCtx(ctx, 50*time.Millisecond)
		}
	}
	return nil
}

// ServeTCP answers as a serial device server in transparent mode on the listener
// until ctx is done (then it closes l and every connection and returns nil). Each
// connection sees the whole bus.
func (b *DLT645Bus) ServeTCP(ctx context.Context, l net.Listener) error {
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	for {
		c, err := l.Accept()
		if err != nil {
			wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cstop := context.AfterFunc(ctx, func() { c.Close() })
			defer cstop()
			defer c.Close()
			_ = b.Serve(ctx, c)
		}()
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// serveDLT645 starts the DL/T 645 servers ServeOptions asks for in g; their errors
// (an address that cannot be listened on) end g.
func (s *Sim) serveDLT645(ctx context.Context, g *errgroup.Group, o ServeOptions) {
	if o.DLT645Serial == "" && o.DLT645Listen == "" {
		return
	}
	g.Go(func() error {
		bus, err := s.DLT645Bus()
		if err != nil {
			return err
		}
		var l net.Listener
		if o.DLT645Listen != "" {
			if l, err = net.Listen("tcp", o.DLT645Listen); err != nil {
				return fmt.Errorf("listen dl/t 645 on %q: %w", o.DLT645Listen, err)
			}
			s.log.Info("serving energy meters as dl/t 645 meters", "listen", l.Addr().String(), "meters", len(bus.meters))
		}
		sg, ctx := errgroup.WithContext(ctx)
		if l != nil {
			sg.Go(func() error { return bus.ServeTCP(ctx, l) })
		}
		if o.DLT645Serial != "" {
			s.log.Info("serving energy meters as dl/t 645 meters", "serial", o.DLT645Serial, "meters", len(bus.meters))
			sg.Go(func() error { return bus.ServeSerial(ctx, o.DLT645Serial) })
		}
		return sg.Wait()
	})
}
