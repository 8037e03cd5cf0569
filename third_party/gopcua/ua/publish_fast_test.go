// Copyright 2018-2020 opcua authors. All rights reserved.
// Use of this source code is governed by a MIT-style license that can be
// found in the LICENSE file.

// Patch (not in upstream v0.8.0): tests of the hand-written PublishResponse decoder
// (publish_fast.go).

package ua

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/gopcua/opcua/id"
)

var fastT0 = time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)

// fastItems is a DataChangeNotification's items carrying the given values, with the
// mask bits of the DataValue set as UpdateMask sets them plus extra.
func fastItems(extra byte, vals ...*Variant) []*MonitoredItemNotification {
	var out []*MonitoredItemNotification
	for i, v := range vals {
		dv := &DataValue{Value: v, SourceTimestamp: fastT0.Add(time.Duration(i) * time.Millisecond), ServerTimestamp: fastT0.Add(time.Second)}
		dv.UpdateMask()
		dv.EncodingMask |= extra
		if v == nil {
			dv.EncodingMask &^= DataValueValue
		}
		out = append(out, &MonitoredItemNotification{ClientHandle: uint32(i), Value: dv})
	}
	return out
}

// fastResponse is a publish response of one message carrying the given notifications.
func fastResponse(data ...interface{}) *PublishResponse {
	r := &PublishResponse{
		ResponseHeader: &ResponseHeader{Timestamp: fastT0, RequestHandle: 7, ServiceDiagnostics: &DiagnosticInfo{}, AdditionalHeader: NewExtensionObject(nil)},
		SubscriptionID: 3,
		NotificationMessage: &NotificationMessage{
			SequenceNumber: 11,
			PublishTime:    fastT0,
		},
	}
	for _, d := range data {
		r.NotificationMessage.NotificationData = append(r.NotificationMessage.NotificationData, NewExtensionObject(d))
	}
	return r
}

// fastSeeds are encoded publish responses (the bytes after the type id) of the shapes
// servers send: data changes of every scalar type the fast path decodes itself and of
// the ones it hands to Variant's decoder, keep-alives, status changes, events,
// diagnostics, string tables, acknowledgement results.
func fastSeeds(tb testing.TB) [][]byte {
	scalars := []*Variant{
		MustVariant(true), MustVariant(int8(-3)), MustVariant(byte(200)), MustVariant(int16(-300)),
		MustVariant(uint16(60000)), MustVariant(int32(-70000)), MustVariant(uint32(4e9)),
		MustVariant(int64(-1 << 40)), MustVariant(uint64(1 << 63)), MustVariant(float32(1.5)),
		MustVariant(float64(2.25)), MustVariant(math.NaN()), MustVariant(float32(math.NaN())),
		MustVariant("AUTO"), MustVariant(""), MustVariant(fastT0), MustVariant(time.Time{}),
		MustVariant([]byte{1, 2, 3}), MustVariant([]byte{}), MustVariant(XMLElement("<a/>")),
		MustVariant(StatusBadTimeout), &Variant{},
	}
	others := []*Variant{
		MustVariant([]int32{1, 2, 3}), MustVariant([]float64{}), MustVariant([][]int32{{1, 2}, {3, 4}}),
		MustVariant(NewNumericNodeID(2, 5)), MustVariant(NewLocalizedText("x")), MustVariant(NewGUID("1111AAAA-22BB-33CC-44DD-55EE77FF9900")),
		MustVariant(&QualifiedName{NamespaceIndex: 1, Name: "q"}), MustVariant(MustVariant(int32(5))),
		MustVariant(&DataValue{EncodingMask: DataValueValue, Value: MustVariant(1.0)}), MustVariant(NewExtensionObject(&StatusChangeNotification{Status: StatusBad, DiagnosticInfo: &DiagnosticInfo{}})),
	}
	double := make([]*Variant, 1000)
	for i := range double {
		double[i] = MustVariant(float64(i) + 0.5)
	}
	keepAlive := fastResponse()
	keepAlive.NotificationMessage.NotificationData = []*ExtensionObject{}
	full := fastResponse(&DataChangeNotification{MonitoredItems: fastItems(DataValueStatusCode|DataValueSourcePicoseconds|DataValueServerPicoseconds, scalars...), DiagnosticInfos: []*DiagnosticInfo{}})
	full.ResponseHeader.StringTable = []string{"a", ""}
	full.ResponseHeader.ServiceDiagnostics = &DiagnosticInfo{EncodingMask: DiagnosticInfoSymbolicID | DiagnosticInfoAdditionalInfo, SymbolicID: 4, AdditionalInfo: "why"}
	full.AvailableSequenceNumbers = []uint32{9, 10, 11}
	full.MoreNotifications = true
	full.Results = []StatusCode{StatusOK, StatusBadSequenceNumberUnknown}
	full.DiagnosticInfos = []*DiagnosticInfo{{}, {EncodingMask: DiagnosticInfoInnerStatusCode, InnerStatusCode: StatusBad}}
	diag := fastResponse(&DataChangeNotification{MonitoredItems: fastItems(0, scalars[:2]...), DiagnosticInfos: []*DiagnosticInfo{{EncodingMask: 0x40, InnerDiagnosticInfo: &DiagnosticInfo{}}}})
	mixed := fastResponse(
		&DataChangeNotification{MonitoredItems: fastItems(0, others...)},
		&StatusChangeNotification{Status: StatusBadTimeout, DiagnosticInfo: &DiagnosticInfo{}},
		&EventNotificationList{Events: []*EventFieldList{{ClientHandle: 4, EventFields: []*Variant{MustVariant("e"), MustVariant(int32(1))}}}},
		&DataChangeNotification{MonitoredItems: fastItems(0, nil, MustVariant(uint16(1)))},
		&DataChangeNotification{},
	)
	noMessage := &PublishResponse{ResponseHeader: &ResponseHeader{ServiceResult: StatusBadNoSubscription, ServiceDiagnostics: &DiagnosticInfo{}, AdditionalHeader: NewExtensionObject(nil)}, NotificationMessage: &NotificationMessage{}}

	var out [][]byte
	for _, r := range []*PublishResponse{fastResponse(&DataChangeNotification{MonitoredItems: fastItems(0, double...)}), keepAlive, full, diag, mixed, noMessage} {
		b, err := Encode(r)
		if err != nil {
			tb.Fatalf("encode: %v", err)
		}
		out = append(out, b)
	}
	return out
}

// checkFast decodes b with the hand-written and the reflection decoder and through
// DecodeService: the same values, or an error from both.
func checkFast(t *testing.T, b []byte) (fast bool) {
	t.Helper()
	want := new(PublishResponse)
	_, werr := Decode(b, want)
	got := new(PublishResponse)
	ok := decodePublishResponse(b, got)
	switch {
	case ok && werr != nil:
		t.Fatalf("the fast decoder accepted what the reflection decoder refuses (%v)", werr)
	case !ok && werr == nil:
		t.Fatalf("the fast decoder refused what the reflection decoder accepts")
	case ok:
		if d := diffValues(reflect.ValueOf(got), reflect.ValueOf(want), "PublishResponse"); d != "" {
			t.Fatalf("fast and reflection decoders differ: %s", d)
		}
	}

	msg := append(binary.LittleEndian.AppendUint16([]byte{byte(NodeIDTypeFourByte), 0}, id.PublishResponse_Encoding_DefaultBinary), b...)
	_, v, err := DecodeService(msg)
	if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
		t.Fatalf("DecodeService: %v, reflection decoder: %v", err, werr)
	}
	if err == nil {
		if d := diffValues(reflect.ValueOf(v), reflect.ValueOf(want), "PublishResponse"); d != "" {
			t.Fatalf("DecodeService and the reflection decoder differ: %s", d)
		}
	}
	return ok
}

// diffValues compares a and b as reflect.DeepEqual does (nil and empty slices differ;
// unexported fields count), except that two NaNs of the same bits are equal. It
// returns where they first differ, or "".
func diffValues(a, b reflect.Value, path string) string {
	if a.IsValid() != b.IsValid() {
		return path + ": one is invalid"
	}
	if !a.IsValid() {
		return ""
	}
	if a.Type() != b.Type() {
		return fmt.Sprintf("%s: type %v, want %v", path, a.Type(), b.Type())
	}
	switch a.Kind() {
	case reflect.Ptr, reflect.Interface:
		if a.IsNil() != b.IsNil() {
			return fmt.Sprintf("%s: nil %v, want %v", path, a.IsNil(), b.IsNil())
		}
		if a.IsNil() {
			return ""
		}
		return diffValues(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if d := diffValues(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); d != "" {
				return d
			}
		}
		return ""
	case reflect.Slice:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return fmt.Sprintf("%s: nil %v len %d, want nil %v len %d", path, a.IsNil(), a.Len(), b.IsNil(), b.Len())
		}
		fallthrough
	case reflect.Array:
		for i := 0; i < a.Len(); i++ {
			if d := diffValues(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Float32, reflect.Float64:
		x, y := a.Float(), b.Float()
		if x == y || math.IsNaN(x) && math.IsNaN(y) && math.Float64bits(x) == math.Float64bits(y) {
			return ""
		}
		return fmt.Sprintf("%s: %v, want %v", path, x, y)
	case reflect.Bool:
		if a.Bool() != b.Bool() {
			return fmt.Sprintf("%s: %v, want %v", path, a.Bool(), b.Bool())
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if a.Int() != b.Int() {
			return fmt.Sprintf("%s: %v, want %v", path, a.Int(), b.Int())
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if a.Uint() != b.Uint() {
			return fmt.Sprintf("%s: %v, want %v", path, a.Uint(), b.Uint())
		}
	case reflect.String:
		if a.String() != b.String() {
			return fmt.Sprintf("%s: %q, want %q", path, a.String(), b.String())
		}
	default:
		return fmt.Sprintf("%s: cannot compare a %v", path, a.Kind())
	}
	return ""
}

// The hand-written decoder decodes every seed itself, to the values the reflection
// decoder produces.
func TestPublishResponseFast(t *testing.T) {
	for i, b := range fastSeeds(t) {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if !checkFast(t, b) {
				t.Fatal("the fast decoder gave up")
			}
			// Truncated, it fails in both.
			for n := 0; n < len(b); n += 1 + n/64 {
				checkFast(t, b[:n])
			}
		})
	}
}

// One slice each of MonitoredItemNotifications, DataValues and Variants: a Double
// value costs its interface box, not nine allocations.
func TestPublishResponseFastAllocs(t *testing.T) {
	b := fastSeeds(t)[0] // 1000 Double values
	allocs := testing.AllocsPerRun(20, func() {
		if !decodePublishResponse(b, new(PublishResponse)) {
			t.Fatal("the fast decoder gave up")
		}
	})
	if allocs > 1100 {
		t.Errorf("%v allocations for 1000 values", allocs)
	}
}

// The bounds the reflection decoder keeps hold in the hand-written one: item counts
// beyond the bytes left or negative are refused by both decoders, and a message of
// 20 000 empty DataValues (5 bytes each on the wire) allocates no more in the
// hand-written decoder, whose slices are made up front, than in the reflection decoder.
func TestPublishResponseFastBounds(t *testing.T) {
	r := fastResponse(&DataChangeNotification{MonitoredItems: fastItems(0, MustVariant(1.0))})
	b, err := Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	// The item count (1) follows the DataChangeNotification's type id (4 bytes), its
	// encoding mask and its length.
	itemsAt := 0
	for i := 0; i+13 <= len(b); i++ {
		if b[i] == byte(NodeIDTypeFourByte) && binary.LittleEndian.Uint16(b[i+2:]) == id.DataChangeNotification_Encoding_DefaultBinary && b[i+4] == ExtensionObjectBinary {
			itemsAt = i + 9
		}
	}
	if itemsAt == 0 || binary.LittleEndian.Uint32(b[itemsAt:]) != 1 {
		t.Fatal("item count not found")
	}
	for _, n := range []uint32{0x7fffffff, 0xfffffffe, 2, 0, null} {
		c := append([]byte(nil), b...)
		binary.LittleEndian.PutUint32(c[itemsAt:], n)
		if fast := checkFast(t, c); fast != (n <= 1 || n == null) {
			t.Errorf("item count %#x: decoded %v", n, fast)
		}
	}

	const n = 20000
	items := binary.LittleEndian.AppendUint32(nil, n)
	items = append(items, make([]byte, 5*n)...)
	items = binary.LittleEndian.AppendUint32(items, null) // diagnostic infos
	var msg []byte
	msg = append(msg, make([]byte, 8+4+4)...)         // timestamp, request handle, service result
	msg = append(msg, 0)                              // service diagnostics
	msg = binary.LittleEndian.AppendUint32(msg, null) // string table
	msg = append(msg, 0, 0, 0)                        // additional header
	msg = append(msg, make([]byte, 4)...)             // subscription id
	msg = binary.LittleEndian.AppendUint32(msg, null) // available sequence numbers
	msg = append(msg, 0)                              // more notifications
	msg = append(msg, make([]byte, 4+8)...)           // sequence number, publish time
	msg = binary.LittleEndian.AppendUint32(msg, 1)    // notification data
	msg = append(msg, byte(NodeIDTypeFourByte), 0)
	msg = binary.LittleEndian.AppendUint16(msg, id.DataChangeNotification_Encoding_DefaultBinary)
	msg = append(msg, ExtensionObjectBinary)
	msg = binary.LittleEndian.AppendUint32(msg, uint32(len(items)))
	msg = append(msg, items...)
	msg = binary.LittleEndian.AppendUint32(msg, null) // results
	msg = binary.LittleEndian.AppendUint32(msg, null) // diagnostic infos
	if !checkFast(t, msg) {
		t.Fatal("the fast decoder gave up")
	}
	fast := allocated(func() { decodePublishResponse(msg, new(PublishResponse)) })
	slow := allocated(func() { Decode(msg, new(PublishResponse)) })
	if fast > slow {
		t.Errorf("the fast decoder allocated %d bytes, the reflection decoder %d", fast, slow)
	}
}

func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// FuzzDecodePublishResponse: on any input the hand-written decoder and the reflection
// decoder produce the same values or both fail, and DecodeService returns the
// reflection decoder's result. adapters/opcua's FuzzPublishResponseFast, which the
// gateway's scripts/test.sh runs, checks the same through DecodeService, seeded with
// responses captured from real servers.
func FuzzDecodePublishResponse(f *testing.F) {
	for _, b := range fastSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		checkFast(t, b)
	})
}

// BenchmarkDecodePublishResponse decodes a publish response of 1000 Double values
// with source and server timestamps, through DecodeService (the hand-written
// decoder) and through the reflection decoder.
func BenchmarkDecodePublishResponse(b *testing.B) {
	body := fastSeeds(b)[0]
	msg := append(binary.LittleEndian.AppendUint16([]byte{byte(NodeIDTypeFourByte), 0}, id.PublishResponse_Encoding_DefaultBinary), body...)
	b.Run("service", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, _, err := DecodeService(msg); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/value")
	})
	b.Run("reflection", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := Decode(body, new(PublishResponse)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/value")
	})
}
