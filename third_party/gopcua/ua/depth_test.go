// Patch tests: bounds on what a peer can make the decoder allocate or recurse into.

package ua

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
	"time"
)

// getEndpointsResponse encodes a GetEndpointsResponse with one endpoint and returns
// the encoding and the offset of the Endpoints array length.
func getEndpointsResponse(t *testing.T) ([]byte, int) {
	t.Helper()
	res := &GetEndpointsResponse{
		ResponseHeader: &ResponseHeader{
			ServiceDiagnostics: &DiagnosticInfo{},
			StringTable:        []string{},
			AdditionalHeader:   NewExtensionObject(nil),
		},
		Endpoints: []*EndpointDescription{{
			EndpointURL:         "opc.tcp://127.0.0.1:4840",
			Server:              &ApplicationDescription{ApplicationURI: "urn:x", ApplicationName: &LocalizedText{}},
			SecurityPolicyURI:   SecurityPolicyURINone,
			UserIdentityTokens:  []*UserTokenPolicy{{PolicyID: "anon"}},
			TransportProfileURI: "http://opcfoundation.org/UA-Profile/Transport/uatcp-uasc-uabinary",
		}},
	}
	b, err := Encode(res)
	if err != nil {
		t.Fatal(err)
	}
	// The Endpoints array follows the response header: find the length 1 that
	// precedes the endpoint URL.
	url := []byte("opc.tcp://127.0.0.1:4840")
	i := bytes.Index(b, url)
	if i < 8 {
		t.Fatalf("endpoint url not found in %x", b)
	}
	return b, i - 8
}

func TestDecodeArrayLengthBound(t *testing.T) {
	b, off := getEndpointsResponse(t)
	if got := binary.LittleEndian.Uint32(b[off:]); got != 1 {
		t.Fatalf("array length at %d = %d, want 1", off, got)
	}
	if _, err := Decode(b, new(GetEndpointsResponse)); err != nil {
		t.Fatalf("decode unchanged response: %v", err)
	}
	for _, n := range []uint32{1 << 31, 0x7fffffff, uint32(len(b))} {
		bad := bytes.Clone(b)
		binary.LittleEndian.PutUint32(bad[off:], n)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Decode(bad, new(GetEndpointsResponse))
		runtime.ReadMemStats(&after)
		if !errors.Is(err, StatusBadEncodingLimitsExceeded) {
			t.Errorf("length %d: err = %v, want StatusBadEncodingLimitsExceeded", n, err)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
			t.Errorf("length %d: decoding allocated %d bytes", n, d)
		}
	}
}

func TestVariantArrayBounds(t *testing.T) {
	le := binary.LittleEndian
	cases := map[string][]byte{
		// Int32 array, length -2: MakeSlice used to panic.
		"negative length": le.AppendUint32([]byte{byte(TypeIDInt32) | 0x80}, 0xfffffffe),
		// Boolean array of 60000 elements with 3 bytes left.
		"length beyond message": append(le.AppendUint32([]byte{byte(TypeIDBoolean) | 0x80}, 60000), 1, 1, 1),
		// Dimensions count beyond the message.
		"dimensions beyond message": le.AppendUint32(le.AppendUint32([]byte{byte(TypeIDBoolean) | 0xc0}, 0), 1<<30),
		// 0 elements and dimensions 65536 x 65536 x 1: the int32 product wrapped to 0.
		"dimension product overflow": le.AppendUint32(le.AppendUint32(le.AppendUint32(le.AppendUint32(
			le.AppendUint32([]byte{byte(TypeIDBoolean) | 0xc0}, 0), 3), 65536), 65536), 1),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			var v Variant
			if _, err := v.Decode(b); err == nil {
				t.Fatalf("decode %x: no error, value %v", b, v.Value())
			}
		})
	}
}

func TestNestingDepthBound(t *testing.T) {
	nested := func(prefix []byte, depth int, leaf []byte) []byte {
		var b []byte
		for range depth {
			b = append(b, prefix...)
		}
		return append(b, leaf...)
	}
	// Variant of type Variant, nested; the innermost is a null Variant.
	variant := []byte{byte(TypeIDVariant)}
	// DiagnosticInfo with only an inner DiagnosticInfo; the innermost is empty.
	diag := []byte{0x40}
	// Variant of a DataValue holding a Variant of a DataValue ...
	dataValue := []byte{byte(TypeIDDataValue), 0x01}
	for _, tc := range []struct {
		name string
		b    func(depth int) []byte
		v    func() BinaryDecoder
	}{
		{"variant", func(d int) []byte { return nested(variant, d-1, []byte{0}) }, func() BinaryDecoder { return new(Variant) }},
		{"diagnostic info", func(d int) []byte { return nested(diag, d-1, []byte{0}) }, func() BinaryDecoder { return new(DiagnosticInfo) }},
		{"data value", func(d int) []byte { return nested(dataValue, (d-1)/2, []byte{0}) }, func() BinaryDecoder { return new(Variant) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.v().Decode(tc.b(MaxNestingDepth)); err != nil {
				t.Errorf("depth %d: %v", MaxNestingDepth, err)
			}
			// A million levels used to exhaust the stack (a fatal error).
			for _, d := range []int{MaxNestingDepth + 2, 1 << 20} {
				if _, err := tc.v().Decode(tc.b(d)); !errors.Is(err, StatusBadEncodingLimitsExceeded) {
					t.Errorf("depth %d: err = %v, want StatusBadEncodingLimitsExceeded", d, err)
				}
			}
		})
	}
}

func TestReadNNegative(t *testing.T) {
	b := NewBuffer([]byte{1, 2, 3})
	if got := b.ReadN(-1 << 31); got != nil || b.Error() == nil {
		t.Fatalf("ReadN(-2^31) = %v, err %v; want nil and an error", got, b.Error())
	}
}

// A message that announces many tiny elements: every element is there, but each byte
// would become 150 bytes of Go values. The budget refuses it; a real read response of
// the same element count passes.
func TestAllocationBudget(t *testing.T) {
	le := binary.LittleEndian
	hdr, err := Encode(&ResponseHeader{ServiceDiagnostics: &DiagnosticInfo{}, AdditionalHeader: NewExtensionObject(nil)})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1 << 20
	empty := append(le.AppendUint32(bytes.Clone(hdr), n), make([]byte, n)...) // n DataValues with mask 0
	empty = le.AppendUint32(empty, 0)                                         // no DiagnosticInfos
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = Decode(empty, new(ReadResponse))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, StatusBadEncodingLimitsExceeded) {
		t.Errorf("%d empty data values: err = %v, want StatusBadEncodingLimitsExceeded", n, err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > AllocFactor*uint64(len(empty))+64<<10 {
		t.Errorf("decoding allocated %d bytes for %d", d, len(empty))
	}

	res := &ReadResponse{ResponseHeader: &ResponseHeader{ServiceDiagnostics: &DiagnosticInfo{}, AdditionalHeader: NewExtensionObject(nil)}}
	for i := range 100000 {
		res.Results = append(res.Results, &DataValue{EncodingMask: DataValueValue | DataValueSourceTimestamp, Value: MustVariant(float64(i)), SourceTimestamp: time.Now()})
	}
	b, err := Encode(res)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(b, new(ReadResponse)); err != nil {
		t.Errorf("read response of 100000 values: %v", err)
	}
	arr := &ReadResponse{ResponseHeader: res.ResponseHeader, Results: []*DataValue{{EncodingMask: DataValueValue, Value: MustVariant(make([]bool, 65535))}}}
	if b, err = Encode(arr); err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(b, new(ReadResponse)); err != nil {
		t.Errorf("read response of a Boolean array: %v", err)
	}
}
