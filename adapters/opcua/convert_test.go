package opcua

import (
	"fmt"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"

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
	rec := &recorder{}
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
// other per-value cost a source pays.
func BenchmarkDecodeAndConvert(b *testing.B) {
	const n = 1000
	ss := newTestSession(b, n, point.NopObserver{})
	handles := make([]uint32, n)
	for i := range handles {
		handles[i] = uint32(i)
	}
	raw, err := ua.Encode(publishResponse(handles...))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res := new(ua.PublishResponse)
		if _, err := ua.Decode(raw, res); err != nil {
			b.Fatal(err)
		}
		batch, _ := ss.convert(res, now)
		if len(batch) != n {
			b.Fatalf("%d points", len(batch))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/value")
}
