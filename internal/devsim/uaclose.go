package devsim

import (
	"fmt"
	"time"

	"github.com/gopcua/opcua/server"
)

// CloseOPCUAServer closes a gopcua server that other code started, the way
// ServeOPCUA closes its own: it calls srv.Close and, until Close returns, keeps
// dropping the TCP connections of the server's secure channels, which gopcua v0.8.0's
// Close leaves open and waits for. The server's start context should be cancelled
// after it returns.
func CloseOPCUAServer(srv *server.Server) error {
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var dropErr error
	for {
		if _, err := dropConnections(srv); err != nil && dropErr == nil {
			dropErr = err
		}
		select {
		case err := <-closed:
			if err != nil {
				return fmt.Errorf("close opc ua server: %w", err)
			}
			if dropErr != nil {
				return fmt.Errorf("close opc ua server: drop connections: %w", dropErr)
			}
			return nil
		case <-tick.C:
		}
	}
}
