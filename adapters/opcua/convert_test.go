package opcua

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/gateway/point"
)

// newTestSession builds a session without a client whose n items are all monitored on
// subscription 1.
func newTestSession(tb testing.TB, n int, obs point.Observer) *session {
	tb.Helper()
	cfg := Config{Name: "cnc", Endpoint: "opc.tcp://127.0.0.1:4840"}
	for i := range n {
		cfg.Items = append(cfg.Items, Item{Device: fmt.Sprintf("m%d", i/10), Measurement: "cnc", Tags: testTags,
			Field: fmt.Sprintf("f%d", i%10), NodeID: fmt.Sprintf("ns=2;i=%d", 1000+i)})
	}
	s, err := New(cfg, obs, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ss := &session{s: s, state: make([]uint8, n), subOf: make([]uint32, n), miID: make([]uint32, n)}
	for i := range n {
		ss.state[i], ss.subOf[i], ss.miID[i] = itemMonitored, 1, uint32(i+1)
	}
	return ss
}

// publishResponse builds a publish response of subscription 1 with one data change per
// client handle: a Double with source and server timestamps.
func publishResponse(handles ...uint32) *ua.PublishResponse {
	dcn := &ua.DataChangeNotification{}
	for _, h := range handles {
		dcn.MonitoredItems = append(dcn.MonitoredItems, &ua.MonitoredItemNotification{
			ClientHandle: h,
			Value: &ua.DataValue{
				EncodingMask:    ua.DataValueValue | ua.DataValueSourceTimestamp | ua.DataValueServerTimestamp,
				Value:           ua.MustVariant(float64(h) + 0.5),
				SourceTimestamp: t0.Add(time.Duration(h) * time.Millisecond),
				ServerTimestamp: t0.Add(time.Hour),
			},
		})
	}
	return &ua.PublishResponse{
		ResponseHeader: &ua.ResponseHeader{Timestamp: t0, ServiceDiagnostics: &ua.DiagnosticInfo{}, AdditionalHeader: ua.NewExtensionObject(nil)},
		SubscriptionID: 1,
		NotificationMessage: &ua.NotificationMessage{
			SequenceNumber: 1,
			PublishTime:    t0,
			NotificationData: []*ua.ExtensionObject{
				ua.NewExtensionObject(dcn),
			},
		},
	}
}

func TestConvert(t *testing.T) {
	rec := &adaptertest.Recorder{}
	ss := newTestSession(t, 20, rec)
	ss.state[3] = itemRejected // stale: deleted monitored item
	ss.subOf[4] = 2            // stale: re-created on another subscription
	res := publishResponse(0, 3, 4, 19, 20, 7)
	// Handle 7 reports its node gone, with info bits.
	res.NotificationMessage.NotificationData[0].Value.(*ua.DataChangeNotification).MonitoredItems[5].Value = &ua.DataValue{
		EncodingMask: ua.DataValueStatusCode | ua.DataValueValue, Status: ua.StatusBadNodeIDUnknown | 0x0400, Value: ua.MustVariant(3.0),
	}
	res.NotificationMessage.NotificationData = append(res.NotificationMessage.NotificationData,
		ua.NewExtensionObject(&ua.StatusChangeNotification{Status: ua.StatusBadTimeout}))
	now := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	b, err := ss.convert(res, now)
	wantErr := `subscription 1 on "opc.tcp://127.0.0.1:4840": status change: ` + ua.StatusBadTimeout.Error()
	if err == nil || err.Error() != wantErr {
		t.Errorf("status change error %v, want %q", err, wantErr)
	}
	type pt struct {
		device, field string
		value         float64
		q             point.Quality
		time          int64
	}
	var got []pt
	for _, p := range b {
		got = append(got, pt{p.Device, p.Fields[0].Key, p.Fields[0].Value, p.Fields[0].Quality, p.Time})
	}
	want := []pt{
		{"m0", "f0", 0.5, point.Good, t0.UnixNano()},
		{"m1", "f9", 19.5, point.Good, t0.Add(19 * time.Millisecond).UnixNano()},
		{"m0", "f7", 0, point.Bad, now.UnixNano()},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("points %v\nwant   %v", got, want)
	}
	if len(ss.rebind) != 1 || ss.rebind[0].item != 7 || ss.state[7] != itemRejected {
		t.Errorf("rebind %+v state %d, want item 7 to be re-created", ss.rebind, ss.state[7])
	}
	if cap(b[0].Fields) != 1 {
		t.Errorf("point fields have capacity %d: appending would overwrite the next point's field", cap(b[0].Fields))
	}
}

func TestTimestampModes(t *testing.T) {
	now := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC).UnixNano()
	src, srv := t0, t0.Add(time.Hour)
	tests := []struct {
		mode     tsMode
		src, srv time.Time
		want     int64
	}{
		{tsSource, src, srv, src.UnixNano()},
		{tsSource, time.Time{}, srv, srv.UnixNano()},
		{tsSource, time.Time{}, time.Time{}, now},
		{tsSource, time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}, now},
		{tsServer, src, srv, srv.UnixNano()},
		{tsServer, src, time.Time{}, now},
		{tsGateway, src, srv, now},
	}
	for i, tt := range tests {
		s := &Source{ts: tt.mode}
		if got := s.timestamp(&ua.DataValue{SourceTimestamp: tt.src, ServerTimestamp: tt.srv}, now); got != tt.want {
			t.Errorf("%d: timestamp = %d, want %d", i, got, tt.want)
		}
	}
}

// BenchmarkNotificationToPoint converts a publish response carrying one data change
// notification with 1000 Double values into a Batch.
func BenchmarkNotificationToPoint(b *testing.B) {
	const n = 1000
	ss := newTestSession(b, n, point.NopObserver{})
	handles := make([]uint32, n)
	for i := range handles {
		handles[i] = uint32(i)
	}
	res := publishResponse(handles...)
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		batch, _ := ss.convert(res, now)
		if len(batch) != n {
			b.Fatalf("%d points", len(batch))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/value")
}

// BenchmarkDecodeAndConvert adds gopcua's decoding of the same publish response, the
// other per-value cost a source pays: ua.DecodeService, as the client decodes every
// message body (the patched gopcua's hand-written publish response decoder).
func BenchmarkDecodeAndConvert(b *testing.B) {
	const n = 1000
	ss := newTestSession(b, n, point.NopObserver{})
	handles := make([]uint32, n)
	for i := range handles {
		handles[i] = uint32(i)
	}
	body, err := ua.Encode(publishResponse(handles...))
	if err != nil {
		b.Fatal(err)
	}
	raw, err := ua.NewFourByteNodeID(0, ua.ServiceTypeID(new(ua.PublishResponse))).Encode()
	if err != nil {
		b.Fatal(err)
	}
	raw = append(raw, body...)
	now := time.Now()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_, v, err := ua.DecodeService(raw)
		if err != nil {
			b.Fatal(err)
		}
		batch, _ := ss.convert(v.(*ua.PublishResponse), now)
		if len(batch) != n {
			b.Fatalf("%d points", len(batch))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/value")
}

// dataChange builds a publish response of subscription 1 with one data value for client
// handle 0.
func dataChange(dv *ua.DataValue) *ua.PublishResponse {
	res := publishResponse(0)
	dcn := res.NotificationMessage.NotificationData[0].Value.(*ua.DataChangeNotification)
	dcn.MonitoredItems[0].Value = dv
	return res
}

// A string value of 1 MiB that is not in the signal's map: the signal error names the
// device, field and node and quotes the start of the value; its text is bounded.
func TestConvertLongStringErrorIsBounded(t *testing.T) {
	rec := &adaptertest.Recorder{}
	ss := newTestSession(t, 1, rec)
	ss.s.items[0].conv = point.Conv{Map: map[string]float64{"AUTO": 1}}
	long := strings.Repeat("é", 1<<19) // 1 MiB of two-byte characters
	b, err := ss.convert(dataChange(&ua.DataValue{EncodingMask: ua.DataValueValue, Value: ua.MustVariant(long)}), time.Unix(1e9, 0))
	if err != nil || len(b) != 0 {
		t.Fatalf("convert: %d points, err %v; want none, nil", len(b), err)
	}
	sig := rec.Signals()
	if len(sig) != 1 || sig[0].Reason != "type" || !errors.Is(sig[0].Err, point.ErrType) {
		t.Fatalf("signals %+v, want one type error", sig)
	}
	// The value is cut where the conversion quotes it (64 bytes), whatever the source.
	want := `convert String value of device "m0" field "f0" (node "ns=2;i=1000"): value "` + strings.Repeat("é", 32) +
		`…" not in map: unsupported value type`
	if msg := sig[0].Err.Error(); msg != want {
		t.Errorf("error %.200q, want %q", msg, want)
	}
}

// An Uncertain status with a null value is a quality problem, not a type error: the
// field is bad (its value is not written) and no signal error is reported. A Good status
// with a null value stays a type error: the server vouches for a value it does not send.
func TestConvertUncertainNull(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dv       *ua.DataValue
		wantQ    point.Quality
		wantErrs int
	}{
		{"uncertain null variant", &ua.DataValue{EncodingMask: ua.DataValueValue | ua.DataValueStatusCode, Value: &ua.Variant{}, Status: ua.StatusUncertainNoCommunicationLastUsableValue}, point.Bad, 0},
		{"uncertain without value", &ua.DataValue{EncodingMask: ua.DataValueStatusCode, Status: ua.StatusUncertain}, point.Bad, 0},
		{"uncertain with value", &ua.DataValue{EncodingMask: ua.DataValueValue | ua.DataValueStatusCode, Value: ua.MustVariant(2.5), Status: ua.StatusUncertain}, point.Uncertain, 0},
		{"good null", &ua.DataValue{EncodingMask: ua.DataValueValue, Value: &ua.Variant{}}, point.Good, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &adaptertest.Recorder{}
			ss := newTestSession(t, 1, rec)
			b, _ := ss.convert(dataChange(tc.dv), time.Unix(1e9, 0))
			if n := len(rec.Signals()); n != tc.wantErrs {
				t.Fatalf("%d signal errors %+v, want %d", n, rec.Signals(), tc.wantErrs)
			}
			if tc.wantErrs > 0 {
				if len(b) != 0 {
					t.Fatalf("points %+v, want none", b)
				}
				if got, want := rec.Signals()[0].Err.Error(), `convert Null value of device "m0" field "f0" (node "ns=2;i=1000"): null value: unsupported value type`; got != want {
					t.Errorf("error %q, want %q", got, want)
				}
				return
			}
			if len(b) != 1 || b[0].Fields[0].Quality != tc.wantQ {
				t.Fatalf("points %+v, want one with quality %s", b, tc.wantQ)
			}
			if tc.wantQ == point.Bad && b[0].Fields[0].Value != 0 {
				t.Errorf("bad field carries value %v", b[0].Fields[0].Value)
			}
		})
	}
}

// fuzzConvs are the conversions of the items of fuzzSession, by client handle modulo 4.
var fuzzConvs = []point.Conv{
	{},
	{Scale: 1e300, Offset: -1},
	{Map: map[string]float64{"": 0, "AUTO": 1, "MDI": 2, "é": 3}},
	{Scale: -0.001, Offset: 1e10},
}

// fuzzSession is a session of 16 monitored items on subscription 1, with the
// conversions of fuzzConvs.
func fuzzSession(tb testing.TB, obs point.Observer) *session {
	ss := newTestSession(tb, 16, obs)
	for i := range ss.s.items {
		ss.s.items[i].conv = fuzzConvs[i%len(fuzzConvs)]
	}
	return ss
}

// checkBatch fails unless every point is one a sink may write: one field, a finite
// value, zero for a bad field, a time after 1970.
func checkBatch(t *testing.T, b point.Batch) {
	t.Helper()
	for _, p := range b {
		if len(p.Fields) != 1 || p.Time <= 0 {
			t.Fatalf("point %+v: want one field and a time after 1970", p)
		}
		f := p.Fields[0]
		if math.IsNaN(f.Value) || math.IsInf(f.Value, 0) || (f.Quality == point.Bad && f.Value != 0) || f.Quality > point.Bad {
			t.Fatalf("field %+v", f)
		}
	}
}

// signalChecker is an observer that fails the test for a signal error that does not
// wrap point.ErrType or point.ErrNotFinite, has an unknown reason, or a text longer than
// the bound.
type signalChecker struct {
	point.NopObserver
	t *testing.T
}

func (c signalChecker) SignalError(source, device, signal, reason string, err error) {
	if reason != "type" && reason != "nan" {
		c.t.Fatalf("reason %q for %v", reason, err)
	}
	if !errors.Is(err, point.ErrType) && !errors.Is(err, point.ErrNotFinite) {
		c.t.Fatalf("error %v wraps neither ErrType nor ErrNotFinite", err)
	}
	if n := len(err.Error()); n > maxErrorText+32 || !utf8.ValidString(err.Error()) {
		c.t.Fatalf("error text of %d bytes (valid UTF-8: %v)", n, utf8.ValidString(err.Error()))
	}
}

// FuzzConvertValue decodes a Variant (the value of a data change as the server encodes
// it) and converts it for items with each of fuzzConvs, under each status severity.
// Seeds cover the edges: zero, one, minus one, the extremes of every integer type,
// NaN and infinities, empty and long strings, escapes, invalid UTF-8, arrays,
// ExtensionObjects, LocalizedText, nested Variants and DataValues, and Null.
func FuzzConvertValue(f *testing.F) {
	long := strings.Repeat("x", 1<<16)
	for _, v := range []any{0.0, 1.0, -1.0, math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64,
		float32(0), float32(math.Inf(1)), int8(-128), byte(255), int16(-32768), uint16(65535), int32(math.MinInt32),
		uint32(math.MaxUint32), int64(math.MinInt64), uint64(math.MaxUint64), true, false,
		"", "AUTO", "MDI", "é", "\x00\n\x1b[31m", "\xff\xfe", long, []float64{1, 2}, []string{"AUTO"}, []byte{1},
		ua.NewLocalizedText("AUTO"), ua.NewStringNodeID(2, "x"), t0, ua.MustVariant(1.0),
		&ua.DataValue{EncodingMask: ua.DataValueValue, Value: ua.MustVariant("AUTO")},
		ua.NewExtensionObject(&ua.Range{Low: 0, High: 1}), ua.StatusBad,
	} {
		b, err := ua.MustVariant(v).Encode()
		if err != nil {
			f.Fatalf("encode %T: %v", v, err)
		}
		for _, st := range []uint8{0, 1, 2} {
			f.Add(b, st, uint8(0))
		}
	}
	f.Add([]byte{0}, uint8(1), uint8(0))    // Null, uncertain
	f.Add([]byte{0}, uint8(0), uint8(2))    // Null, good, map
	f.Add([]byte{0x8b}, uint8(0), uint8(1)) // truncated Double array
	f.Fuzz(func(t *testing.T, b []byte, severity, handle uint8) {
		if len(b) > 1<<17 {
			return
		}
		v := new(ua.Variant)
		if _, err := v.Decode(b); err != nil {
			return
		}
		ss := fuzzSession(t, signalChecker{t: t})
		h := uint32(handle) % 16
		res := dataChange(&ua.DataValue{EncodingMask: ua.DataValueValue | ua.DataValueStatusCode, Value: v,
			Status: ua.StatusCode(uint32(severity%4) << 30)})
		res.NotificationMessage.NotificationData[0].Value.(*ua.DataChangeNotification).MonitoredItems[0].ClientHandle = h
		batch, err := ss.convert(res, time.Unix(1e9, 0))
		if err != nil {
			t.Fatalf("convert: %v", err)
		}
		checkBatch(t, batch)
	})
}

// BenchmarkItemsMemory is the heap a Source keeps for 10 000 items (1 000 devices of
// 10 signals with numeric node ids and shared identity tags, as the configuration
// builds them) once New has returned: B/item, the live heap per configured item.
func BenchmarkItemsMemory(b *testing.B) {
	const n = 10000
	cfg := Config{Name: "cnc", Endpoint: "opc.tcp://127.0.0.1:4840"}
	for d := range n / 10 {
		dev := fmt.Sprintf("m%d", d)
		tags := []point.Tag{{Key: "device", Value: dev}, {Key: "kind", Value: "cnc"}, {Key: "workshop", Value: "ws1"}}
		for f := range 10 {
			cfg.Items = append(cfg.Items, Item{Device: dev, Measurement: "cnc", Tags: tags,
				Field: fmt.Sprintf("f%d", f), NodeID: fmt.Sprintf("ns=2;s=M%d.F%d", d, f)})
		}
	}
	var live uint64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s, err := New(cfg, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		live = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(s)
	}
	b.ReportMetric(float64(live)/n, "B/item")
}
