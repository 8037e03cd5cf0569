package uasc

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uacp"
)

// Patch: an OpenSecureChannel response that arrives after the client gave up waiting
// (its context ended or the request timed out) used to meet open's clean-up of
// openingInstance on the dispatcher goroutine without synchronisation (a data race
// under -race, seen with a gateway stopping while it reconnected). The response must
// now be dropped as unexpected, and nothing else happens.
func TestOpenResponseAfterClientGaveUp(t *testing.T) {
	ep := "opc.tcp://127.0.0.1:0"
	ln, err := uacp.Listen(context.Background(), ep, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := "opc.tcp://" + ln.Addr().String()

	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept(context.Background())
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		srv, err := NewServerSecureChannel(addr, c, &Config{SecurityPolicyURI: ua.SecurityPolicyURINone,
			SecurityMode: ua.MessageSecurityModeNone, Lifetime: 60000, RequestTimeout: time.Second},
			make(chan error, 4), 7, 1, 1)
		if err != nil {
			served <- err
			return
		}
		// Answer only well after the client's deadline; no synchronisation with the
		// client on the way, as with a slow server.
		time.Sleep(400 * time.Millisecond)
		msg := srv.Receive(context.Background()) // reads the request and sends the response
		served <- msg.Err
	}()

	c, err := uacp.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	errCh := make(chan error, 8)
	sc, err := NewSecureChannel(addr, c, &Config{SecurityPolicyURI: ua.SecurityPolicyURINone,
		SecurityMode: ua.MessageSecurityModeNone, Lifetime: 60000, RequestTimeout: 5 * time.Second}, errCh)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := sc.Open(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Open = %v, want the context's deadline", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("server: %v", err)
	}
	// The late response reaches the dispatcher, which reports it as unexpected.
	select {
	case err := <-errCh:
		if err == nil || err.Error() != "opcua: sechan: invalid state. openingInstance is nil." {
			t.Fatalf("dispatcher error = %v, want the unexpected OPN response reported", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the late response never reached the dispatcher")
	}
	sc.Close()
}
