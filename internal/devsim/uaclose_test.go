package devsim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// TestCloseOPCUAServer: with a client connected, CloseOPCUAServer returns promptly,
// the client's connection is closed and the port refuses new connections.
func TestCloseOPCUAServer(t *testing.T) {
	port := testsrv.FreePort(t)
	srv := server.New(
		server.EndPoint("127.0.0.1", port),
		server.EnableSecurity("None", ua.MessageSecurityModeNone),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		server.SetLogger(uaLogger{slog.New(slog.NewTextHandler(io.Discard, nil))}),
	)
	sctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := srv.Start(sctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	c := connectOPCUA(t, ctx, addr)
	if got := readValues(t, ctx, c, []string{"i=2256"}); len(got) != 1 || got[0].Status != ua.StatusOK {
		t.Fatalf("read server status before close: %+v", got)
	}

	done := make(chan error, 1)
	go func() { done <- CloseOPCUAServer(srv) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("CloseOPCUAServer: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("CloseOPCUAServer did not return within 15s")
	}
	cancel()
	rctx, rcancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer rcancel()
	if _, err := c.Read(rctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{NodeID: ua.MustParseNodeID("i=2256"), AttributeID: ua.AttributeIDValue}}}); err == nil {
		t.Fatal("read after close succeeded")
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("port %d still accepts connections after close", port)
	}
}
