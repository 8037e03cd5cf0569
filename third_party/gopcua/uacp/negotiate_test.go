// Patch test: the server's ACK can only lower the client's receive limits.

package uacp

import "testing"

func TestNegotiate(t *testing.T) {
	hel := &Acknowledge{ReceiveBufSize: 0xffff, SendBufSize: 0xffff, MaxMessageSize: 4 << 20, MaxChunkCount: 64}
	for _, tc := range []struct {
		name string
		ack  *Acknowledge
		want Acknowledge
	}{
		{"hostile", &Acknowledge{ReceiveBufSize: 0xffffffff, SendBufSize: 0xffffffff, MaxMessageSize: 0, MaxChunkCount: 0},
			Acknowledge{ReceiveBufSize: 0xffff, SendBufSize: 0xffff, MaxMessageSize: 4 << 20, MaxChunkCount: 64}},
		{"smaller", &Acknowledge{ReceiveBufSize: 8192, SendBufSize: 16384, MaxMessageSize: 1 << 30, MaxChunkCount: 1 << 20},
			Acknowledge{ReceiveBufSize: 16384, SendBufSize: 8192, MaxMessageSize: 4 << 20, MaxChunkCount: 64}},
	} {
		if got := negotiate(hel, tc.ack); *got != tc.want {
			t.Errorf("%s: negotiate = %+v, want %+v", tc.name, *got, tc.want)
		}
	}
	// A hello without message size or chunk limits falls back to the defaults.
	got := negotiate(&Acknowledge{}, &Acknowledge{})
	want := Acknowledge{ReceiveBufSize: DefaultReceiveBufSize, SendBufSize: DefaultSendBufSize, MaxMessageSize: DefaultMaxMessageSize, MaxChunkCount: DefaultMaxChunkCount}
	if *got != want {
		t.Errorf("defaults: negotiate = %+v, want %+v", *got, want)
	}
}
