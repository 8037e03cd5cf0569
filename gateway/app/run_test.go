package app_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
)

// runGateway loads yml, builds the gateway with opts and runs it until the test ends,
// failing the test if Run returns an error. stop ends it earlier and waits for Run; it
// may be called more than once.
func runGateway(t *testing.T, yml string, opts app.Options) (a *app.App, stop func()) {
	t.Helper()
	cfg, err := config.Load([]byte(yml), func(string) (string, bool) { return "", false }, app.Kinds())
	if err != nil {
		t.Fatal(err)
	}
	return runGatewayConfig(t, cfg, opts)
}

// runGatewayConfig is runGateway for a loaded configuration.
func runGatewayConfig(t *testing.T, cfg *config.Config, opts app.Options) (a *app.App, stop func()) {
	t.Helper()
	a, err := app.Build(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("gateway Run: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return a, stop
}
