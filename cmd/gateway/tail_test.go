package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/devsim"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/ganlink/ganlink/internal/testutil"
)

// TestTail: `gateway tail` prints the values of the named device from a live OPC UA
// server, with times in the workshop's time zone, writes nothing to the configured
// sink and says nothing about sinks.
func TestTail(t *testing.T) {
	m := testsrv.StartMosquitto(t)
	vm := testsrv.StartVictoria(t)
	sim, err := devsim.New(devsim.Config{Machines: 2, EnergyMeters: 1, WaterMeters: 0, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testsrv.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- sim.ServeOPCUA(ctx, addr) }()
	t.Cleanup(func() { cancel(); <-served })
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	if err := sim.WaitOPCUA(wctx, addr); err != nil {
		t.Fatal(err)
	}
	opts := devsim.DefaultGatewayOptions()
	opts.OPCUAEndpoint, opts.MQTTBroker, opts.InfluxURL = "opc.tcp://"+addr, m.URL, vm.URL
	opts.QueueDir = filepath.Join(t.TempDir(), "queue")
	var yml bytes.Buffer
	if err := devsim.WriteGatewayConfig(&yml, sim.Config(), opts); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "ws.yaml")
	if err := os.WriteFile(cfgPath, yml.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	var out, errb testutil.LogBuffer
	cmd := exec.Command(testsrv.GatewayBinary(t), "tail", "-config", cfgPath, "m2")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Times in the workshop's zone (devsim's configuration: Asia/Shanghai).
	line := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00  m2 +spindle_speed_rpm +good +[0-9.e+]+$`)
	deadline := time.Now().Add(20 * time.Second)
	for !line.MatchString(out.String()) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tail exited with %v\nstderr:\n%s", err, errb.String())
	}
	got := out.String()
	if !line.MatchString(got) {
		t.Fatalf("no spindle line for m2 in:\n%s\nstderr:\n%s", got, errb.String())
	}
	if strings.Contains(got, " m1 ") || strings.Contains(got, " em1 ") {
		t.Fatalf("devices other than m2 printed:\n%s", got)
	}
	if strings.Contains(errb.String(), "sink") {
		t.Fatalf("tail said something about sinks:\n%s", errb.String())
	}
	if n := len(vm.Export(`{__name__=~".+"}`)); n != 0 {
		t.Fatalf("tail wrote %d samples to the sink", n)
	}
}
