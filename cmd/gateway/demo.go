//go:build !nodemo

package main

import (
	"context"
	"flag"
	"io"
	stdlog "log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ganlink/ganlink/internal/demo"
)

// demoAvailable reports whether this binary links the demo (built without the nodemo
// tag; demo_off.go is the other side).
const demoAvailable = true

// demoFlagNames are the flags that only -demo reads.
var demoFlagNames = map[string]bool{"listen": true, "opcua-listen": true, "mqtt-listen": true, "data-dir": true,
	"influx-url": true, "influx-token": true, "influx-bucket": true, "influx-org": true,
	"workshop": true, "region": true, "park": true, "enterprise": true, "seed": true}

// demoFlags registers the flags of -demo.
func demoFlags(fs *flag.FlagSet) *demo.Config {
	dc := &demo.Config{}
	fs.StringVar(&dc.Listen, "listen", "127.0.0.1:9273", "demo: address of the status page, /metrics and /api/status")
	fs.StringVar(&dc.OPCUAListen, "opcua-listen", "", "demo: address of the simulated OPC UA server (default a free loopback port)")
	fs.StringVar(&dc.MQTTListen, "mqtt-listen", "", "demo: address of the embedded MQTT broker (default a free loopback port)")
	fs.StringVar(&dc.DataDir, "data-dir", "ganlink-data", "demo: directory of the queue, the KPI state and the line-protocol file")
	fs.StringVar(&dc.InfluxURL, "influx-url", "", "demo: forward to this InfluxDB v2 write API (InfluxDB, VictoriaMetrics) instead of a file")
	fs.StringVar(&dc.InfluxToken, "influx-token", "", "demo: TSDB token (default $INFLUX_TOKEN)")
	fs.StringVar(&dc.InfluxBucket, "influx-bucket", "ganlink", "demo: TSDB bucket (InfluxDB 1.8: database)")
	fs.StringVar(&dc.InfluxOrg, "influx-org", "", "demo: TSDB organisation (InfluxDB 2.x)")
	fs.StringVar(&dc.Workshop, "workshop", demo.DefaultWorkshop, "demo: the simulated workshop's id (run several demos with their own -workshop, -listen and -data-dir)")
	fs.StringVar(&dc.Region, "region", demo.DefaultRegion, "demo: the workshop's region code (GB/T 2260)")
	fs.StringVar(&dc.Park, "park", demo.DefaultPark, "demo: the workshop's park id")
	fs.StringVar(&dc.Enterprise, "enterprise", demo.DefaultEnterprise, "demo: the workshop's enterprise (unified social credit code)")
	fs.Int64Var(&dc.Seed, "seed", 1, "demo: simulation seed; demos with different seeds produce different data")
	return dc
}

// demoFlagProblem reports -demo combined with -config, or a demo flag without -demo.
func demoFlagProblem(fs *flag.FlagSet, demo, config bool) string {
	if demo && config {
		return "-demo and -config exclude each other"
	}
	msg := ""
	fs.Visit(func(f *flag.Flag) {
		if !demo && demoFlagNames[f.Name] && msg == "" {
			msg = "-" + f.Name + " needs -demo"
		}
	})
	return msg
}

// runDemo runs the one-process demo until SIGINT or SIGTERM.
func runDemo(dc *demo.Config, log *slog.Logger, stdout io.Writer) int {
	if dc.InfluxToken == "" {
		dc.InfluxToken = os.Getenv("INFLUX_TOKEN")
	}
	d, err := demo.New(*dc, log)
	if err != nil {
		log.Error("start demo", "err", err)
		return 1
	}
	// The simulated OPC UA server's library logs through the standard logger.
	stdlog.SetOutput(slog.NewLogLogger(log.Handler(), slog.LevelDebug).Writer())
	stdlog.SetFlags(0)
	d.Banner(stdout)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := d.Run(ctx); err != nil {
		log.Error("demo failed", "err", err)
		return 1
	}
	return 0
}
