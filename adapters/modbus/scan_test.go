package modbus

import (
	"context"
	"fmt"
	"math"
	"testing"
)

// TestScanModbusTCP scans the unit ids behind a Modbus TCP gateway: unit 1 holds SDM630
// input registers (a plausible voltage at input 0) and a value at holding 0, unit 4
// only a holding register; the gateway answers exception 11 for the others, which count
// as silent.
func TestScanModbusTCP(t *testing.T) {
	b := newBank()
	u := math.Float32bits(229.96)
	b.setRegs(1, "input", 0, uint16(u>>16), uint16(u))
	b.setRegs(1, "holding", 0, 7)
	b.setRegs(4, "holding", 0, 0xBEEF)
	ts := startServer(t, b)
	var progress []int
	found, err := Scan(context.Background(), ScanOptions{Endpoint: ts.url, First: 1, Last: 5,
		Progress: func(unit int, _ *ScanResult) { progress = append(progress, unit) }})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%+v", found); got != "[{Unit:1 Answer:0x0007 Garbled:false Template:sdm630 Voltage:230} {Unit:4 Answer:0xBEEF Garbled:false Template: Voltage:0}]" {
		t.Fatalf("found %s", got)
	}
	if fmt.Sprint(progress) != "[1 2 3 4 5]" {
		t.Fatalf("progress %v", progress)
	}
	if _, err := Scan(context.Background(), ScanOptions{Endpoint: ts.url, First: 5, Last: 1}); err == nil ||
		err.Error() != "scan "+ts.url+": invalid unit range 5..1: want 0..255, first <= last" {
		t.Fatalf("range: %v", err)
	}
}
