// Patch test: Receive makes a buffer of the chunk's size, not of the receive buffer size.

package uacp

import (
	"net"
	"testing"
)

func TestReceiveBufferSize(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			return
		}
		defer c.Close()
		// A MSG chunk of 12 bytes, then one of the receive buffer size, then one larger.
		c.Write([]byte{'M', 'S', 'G', 'F', 12, 0, 0, 0, 1, 2, 3, 4})
		big := make([]byte, 0xffff)
		copy(big, []byte{'M', 'S', 'G', 'F', 0xff, 0xff, 0, 0})
		c.Write(big)
		c.Write([]byte{'M', 'S', 'G', 'F', 0, 0, 1, 0})
	}()
	nc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewConn(nc.(*net.TCPConn), &Acknowledge{ReceiveBufSize: 0xffff})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := c.Receive()
	if err != nil || string(b) != "MSGF\x0c\x00\x00\x00\x01\x02\x03\x04" || cap(b) != 12 {
		t.Fatalf("Receive = %q (capacity %d), %v; want the 12-byte chunk in a 12-byte buffer", b, cap(b), err)
	}
	if b, err = c.Receive(); err != nil || len(b) != 0xffff {
		t.Fatalf("Receive = %d bytes, %v; want the chunk of 65535 bytes", len(b), err)
	}
	if _, err = c.Receive(); err == nil || err.Error() != "opcua: uacp: message too large: 65536 > 65535 bytes. MsgType=MSG, ChunkType=F: The size of the message chunk specified in the header is too large. StatusBadTCPMessageTooLarge (0x80800000)" {
		t.Fatalf("Receive of a 65536-byte chunk: %v", err)
	}
}
