package uasc

import "testing"

// Patch: signing appended the nonce into the certificate's spare capacity, which the
// clients of one application certificate share.
func TestConcatLeavesInputsAlone(t *testing.T) {
	cert := make([]byte, 3, 10)
	copy(cert, "abc")
	if out := concat(cert, []byte("xyz")); string(out) != "abcxyz" {
		t.Fatalf("concat = %q", out)
	}
	if spare := cert[:6]; string(spare) != "abc\x00\x00\x00" {
		t.Fatalf("certificate's backing array now %q", spare)
	}
}
