//go:build nodemo

package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// Built with -tags nodemo (edge-box builds): the demo — the simulated workshop, the
// OPC UA simulator and the embedded MQTT broker — is not linked (docs/benchmarks.md,
// "Binary size"). -demo and its flags are still parsed, so that using them gives this
// message instead of an unknown-flag error.

// demoAvailable reports whether this binary links the demo.
const demoAvailable = false

// noDemoMessage is what -demo answers in a build without the demo.
const noDemoMessage = "-demo is not available: this gateway was built with -tags nodemo (the edge-box build, without the simulator and the embedded MQTT broker); run the demo from a default build, e.g. go run ./cmd/gateway -demo"

// demoFlagNames are the flags that only -demo reads.
var demoFlagNames = map[string]bool{"listen": true, "opcua-listen": true, "mqtt-listen": true, "data-dir": true,
	"influx-url": true, "influx-token": true, "influx-bucket": true, "influx-org": true,
	"workshop": true, "region": true, "park": true, "enterprise": true, "seed": true}

// demoSettings stands for the demo's configuration.
type demoSettings struct{}

// demoFlags registers the demo's flags (their values are never used).
func demoFlags(fs *flag.FlagSet) *demoSettings {
	for name := range demoFlagNames {
		if name == "seed" {
			fs.Int64(name, 1, "demo (not in this build)")
			continue
		}
		fs.String(name, "", "demo (not in this build)")
	}
	return &demoSettings{}
}

// demoFlagProblem reports -demo combined with -config, or a demo flag without -demo.
func demoFlagProblem(fs *flag.FlagSet, demo, config bool) string {
	if demo {
		return noDemoMessage
	}
	msg := ""
	fs.Visit(func(f *flag.Flag) {
		if demoFlagNames[f.Name] && msg == "" {
			msg = "-" + f.Name + " needs -demo, which " + noDemoMessage[len("-demo "):]
		}
	})
	return msg
}

// runDemo is never reached: demoFlagProblem refuses -demo first.
func runDemo(_ *demoSettings, log *slog.Logger, stderr io.Writer) int {
	fmt.Fprintln(stderr, "gateway:", noDemoMessage)
	return 2
}
