package testsrv

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"
)

// TestPtyPairCarriesBytes writes through one end of the pair and reads the same bytes,
// all 256 values (raw mode: no echo, no newline or control-character translation), from
// the other, in both directions; after Stop the ends are gone and Start makes them again.
func TestPtyPairCarriesBytes(t *testing.T) {
	pp := StartPtyPair(t)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	check := func(from, to string) {
		t.Helper()
		w, err := os.OpenFile(from, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		r, err := os.OpenFile(to, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if _, err := w.Write(all); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(all))
		r.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(r, got); err != nil {
			t.Fatalf("read %s: %v (got % x)", to, err, got)
		}
		if !bytes.Equal(got, all) {
			t.Fatalf("%s -> %s: got % x", from, to, got)
		}
	}
	check(pp.A, pp.B)
	check(pp.B, pp.A)
	pp.Stop()
	if _, err := os.Stat(pp.A); err == nil {
		t.Fatalf("%s still exists after Stop", pp.A)
	}
	pp.Start()
	check(pp.A, pp.B)
}
