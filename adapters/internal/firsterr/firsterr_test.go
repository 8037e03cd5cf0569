package firsterr

import (
	"errors"
	"testing"
)

func TestRecorderKeepsTheFirst(t *testing.T) {
	var r Recorder
	if _, ok := r.Get("m1", "x"); ok {
		t.Fatal("an error before any was reported")
	}
	r.SignalError("src", "m1", "x", "timeout", errors.New("first"))
	r.SignalError("src", "m1", "x", "decode", errors.New("second"))
	r.SignalError("src", "m1", "", "decode", errors.New("message"))
	if e, ok := r.Get("m1", "x"); !ok || e.Err.Error() != "first" || e.Reason != "timeout" {
		t.Fatalf("m1/x: %+v %v", e, ok)
	}
	if e, ok := r.Get("m1", ""); !ok || e.Reason != "decode" {
		t.Fatalf("m1 message: %+v %v", e, ok)
	}
	r.Reset()
	if _, ok := r.Get("m1", "x"); ok {
		t.Fatal("kept after Reset")
	}
}
