package modbus

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/ganlink/ganlink/gateway/point"
)

// fixedReader answers every register read with the same bytes; it stands in for the
// network so that the benchmarks measure the source's own work.
type fixedReader struct{ data []byte }

func (r *fixedReader) SetUnitId(uint8) error { return nil }
func (r *fixedReader) ReadRawBytes(addr, quantity uint16, _ mb.RegType) ([]byte, error) {
	return r.data[:quantity], nil
}
func (r *fixedReader) ReadCoils(addr, quantity uint16) ([]bool, error)          { return nil, nil }
func (r *fixedReader) ReadDiscreteInputs(addr, quantity uint16) ([]bool, error) { return nil, nil }

// group60 builds a source with one device of 30 float32 input signals at 0..59 (one
// read of 60 registers) and the wire bytes of that read.
func group60(b *testing.B) (*Source, []byte) {
	var sigs []Signal
	data := make([]byte, 0, 120)
	for i := 0; i < 30; i++ {
		sigs = append(sigs, Signal{Field: fmt.Sprintf("value_%02d", i), Area: "input", Address: 2 * i, Type: "float32",
			Conv: point.Conv{Scale: 0.001}})
		u := math.Float32bits(230 + float32(i)/4)
		data = append(data, byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
	}
	cfg := Config{Name: "meters", Endpoint: "tcp://127.0.0.1:502", MaxGap: DefaultMaxGap, Devices: []Device{{
		Device: "em1", Measurement: "energy_meter", Tags: meterTags, UnitID: 1, Signals: sigs}}}
	s, err := New(cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	if n := len(s.devices[0].reqs); n != 1 {
		b.Fatalf("%d reads, want 1", n)
	}
	return s, data
}

// BenchmarkDecode60Registers decodes one read of 60 registers into 30 fields.
func BenchmarkDecode60Registers(b *testing.B) {
	s, data := group60(b)
	d := &s.devices[0]
	r := &d.reqs[0]
	fields := make([]point.Field, len(d.sigs))
	omit := make([]bool, len(d.sigs))
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s.decodeRegisters(d, r.sigs, r.start, data, fields, omit)
	}
	if fields[29].Value != float64(float32(230+29.0/4))*0.001 {
		b.Fatalf("field 29 = %v", fields[29].Value)
	}
}

// BenchmarkPoll60Registers is one whole poll of that device without the network: the
// read, decoding, and the point with its 30 fields.
func BenchmarkPoll60Registers(b *testing.B) {
	s, data := group60(b)
	d := &s.devices[0]
	c := &fixedReader{data: data}
	st := &pollState{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p, ok, err := s.poll(ctx, c, d, st)
		if err != nil || !ok || len(p.Fields) != 30 {
			b.Fatalf("poll: %v %v %d", ok, err, len(p.Fields))
		}
	}
}

// BenchmarkPollServer60Registers polls the same device through the client library and a
// real Modbus TCP server on loopback: one read of 60 registers a poll.
func BenchmarkPollServer60Registers(b *testing.B) {
	s, data := group60(b)
	bk := newBank()
	for i := 0; i < len(data); i += 2 {
		bk.setRegs(1, "input", uint16(i/2), uint16(data[i])<<8|uint16(data[i+1]))
	}
	ts := startServer(b, bk)
	c, err := mb.NewClient(&mb.ClientConfiguration{URL: ts.url, Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Open(); err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	d := &s.devices[0]
	st := &pollState{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p, ok, err := s.poll(ctx, c, d, st)
		if err != nil || !ok || len(p.Fields) != 30 {
			b.Fatalf("poll: %v %v %d", ok, err, len(p.Fields))
		}
	}
}
