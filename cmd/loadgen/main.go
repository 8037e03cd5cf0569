// Command loadgen is the gateway's load harness: it runs the reference workloads of
// issue 9 against real mosquitto and VictoriaMetrics with the gateway binary as a
// child process, and prints CPU per million fields, peak RSS, loss and latency.
//
//	loadgen all -duration 30s
//	loadgen mqtt -rate 2000 -duration 5s -assert-zero-loss
//
// scripts/loadtest.sh builds everything and runs it; docs/benchmarks.md has the method.
package main

import (
	"context"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/ganlink/ganlink/internal/loadgen"
)

func main() {
	log.SetOutput(io.Discard) // the OPC UA server library logs through the standard logger
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := loadgen.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
