package opcua

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/ganlink/ganlink/internal/testutil"
)

// msgBodyOffset is where the service body of a MSG chunk with security None starts:
// header (8), secure channel id (4), token id (4), sequence number (4), request id (4).
const msgBodyOffset = 24

// setEndpointsLength rewrites the Endpoints array length of a GetEndpointsResponse to n
// and leaves every other message alone.
func setEndpointsLength(n uint32, rewritten *atomic.Int64) func([]byte) []byte {
	return func(msg []byte) []byte {
		if len(msg) < msgBodyOffset+4 || string(msg[:4]) != "MSGF" {
			return msg
		}
		body := msg[msgBodyOffset:]
		// Four-byte node id encoding of the response type: 0x01, namespace 0, id.
		if body[0] != 0x01 || body[1] != 0 || binary.LittleEndian.Uint16(body[2:]) != id.GetEndpointsResponse_Encoding_DefaultBinary {
			return msg
		}
		hdrLen, err := ua.Decode(body[4:], new(ua.ResponseHeader))
		if err != nil || len(body) < 4+hdrLen+4 {
			return msg
		}
		binary.LittleEndian.PutUint32(body[4+hdrLen:], n)
		rewritten.Add(1)
		return msg
	}
}

// rssMiB is the process's resident set size in MiB (VmRSS in /proc/self/status), for
// the test log; 0 where unavailable.
func rssMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// A server (or anyone on the unsecured GetEndpoints exchange) announcing 2^31-1
// endpoints: gopcua v0.8.0 allocated 16 GiB for the array and the process died with
// "fatal error: out of memory". The patched decoder refuses the length; every attempt
// is a connection failure with reason malformed_message; the heap stays small; once the
// server's messages are intact again, values flow.
func TestHostileArrayLength(t *testing.T) {
	ts := startTestServer(t, 0, "speed")
	ts.set("speed", dv(1.5, ua.StatusOK, t0, time.Time{}))
	p := startProxy(t, fmt.Sprintf("127.0.0.1:%d", ts.port))
	var rewritten atomic.Int64
	p.setRewrite(setEndpointsLength(0x7fffffff, &rewritten))

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	watch := testsrv.WatchHeap()
	rec := &adaptertest.Recorder{}
	cfg := testConfig(p.url, ts, "speed")
	cfg.ReconnectMax = 100 * time.Millisecond
	runSource(t, cfg, rec, nil)
	const attempts = 5
	testutil.WaitFor(t, 10*time.Second, fmt.Sprintf("%d refused connection attempts", attempts), func() bool { return len(rec.DownErrors()) >= attempts })
	peak := watch()
	p.setRewrite(nil)

	errs := rec.DownErrors()
	if rewritten.Load() < attempts {
		t.Fatalf("rewrote %d responses, want at least %d", rewritten.Load(), attempts)
	}
	for _, err := range errs[:attempts] {
		if r := FailureReason(err); r != "malformed_message" {
			t.Errorf("failure reason %q for %v, want malformed_message", r, err)
		}
		if !strings.Contains(err.Error(), "array length 2147483647 exceeds the ") {
			t.Errorf("error %q does not name the array length", err)
		}
	}
	t.Logf("peak heap in use during %d hostile responses: %.1f MiB (%.1f MiB before)", rewritten.Load(), float64(peak)/(1<<20), float64(ms.HeapInuse)/(1<<20))
	if peak > 64<<20 {
		t.Errorf("peak heap in use %d bytes during the hostile responses, want under 64 MiB", peak)
	}
	// Intact messages again: the session comes up and values flow.
	testutil.WaitFor(t, 10*time.Second, "value after the rewriting stopped", func() bool { return hasLast(rec, want{"speed", 1.5, point.Good, t0}) })
}

// Random byte flips in everything the server sends (a broken or hostile peer, or a
// corrupting middlebox): no crash, the heap stays bounded, and values flow once the
// traffic is intact again. Before the patched decoder and receive limits, 100 s of
// this took the gateway from 23 MB to 625 MB RSS.
func TestMutatedServerTraffic(t *testing.T) {
	ts := startTestServer(t, 0, "speed")
	ts.set("speed", dv(2.5, ua.StatusOK, t0, time.Time{}))
	p := startProxy(t, fmt.Sprintf("127.0.0.1:%d", ts.port))
	rng := rand.New(rand.NewPCG(1, 2))
	var mu sync.Mutex
	var mutated atomic.Int64
	p.setRewrite(func(msg []byte) []byte {
		mu.Lock()
		defer mu.Unlock()
		for range 1 + rng.IntN(3) {
			i := rng.IntN(len(msg))
			if i < 8 && rng.IntN(4) != 0 {
				continue // mostly keep the framing, so that the decoder sees the flips
			}
			msg[i] ^= byte(1 << rng.IntN(8))
		}
		mutated.Add(1)
		return msg
	})

	runtime.GC()
	rssBefore := rssMiB()
	watch := testsrv.WatchHeap()
	rec := &adaptertest.Recorder{}
	cfg := testConfig(p.url, ts, "speed")
	cfg.ReconnectMin, cfg.ReconnectMax = 5*time.Millisecond, 20*time.Millisecond
	cfg.ConnectTimeout = 300 * time.Millisecond
	runSource(t, cfg, rec, nil)
	const messages = 150
	testutil.WaitFor(t, 60*time.Second, fmt.Sprintf("%d mutated messages", messages), func() bool { return mutated.Load() >= messages })
	peak := watch()
	p.setRewrite(nil)
	t.Logf("%d mutated messages, %d failed sessions, peak heap in use %.1f MiB, RSS %.1f MiB before, %.1f MiB after",
		mutated.Load(), len(rec.DownErrors()), float64(peak)/(1<<20), rssBefore, rssMiB())
	if peak > 64<<20 {
		t.Errorf("peak heap in use %d bytes, want under 64 MiB", peak)
	}
	// Sessions that survived a flip in a value may have emitted odd values; after the
	// traffic is intact, the next change arrives.
	ts.set("speed", dv(3.5, ua.StatusOK, t0.Add(time.Minute), time.Time{}))
	testutil.WaitFor(t, 10*time.Second, "value after the mutation stopped", func() bool {
		return hasLast(rec, want{"speed", 3.5, point.Good, t0.Add(time.Minute)})
	})
}

// responseSeeds are encodings of the responses the gateway's client decodes: the
// discovery, session, subscription, monitored item, read, translate and browse
// responses, and publish responses carrying data changes of every value kind.
func responseSeeds(tb testing.TB) [][]byte {
	hdr := func() *ua.ResponseHeader {
		return &ua.ResponseHeader{Timestamp: t0, RequestHandle: 7, ServiceDiagnostics: &ua.DiagnosticInfo{},
			StringTable: []string{"a"}, AdditionalHeader: ua.NewExtensionObject(nil)}
	}
	variants := []any{1.5, float32(2), int32(-3), uint16(4), true, "RUNNING", []float64{1, 2}, []string{"a", "b"},
		ua.NewLocalizedText("x"), ua.NewStringNodeID(2, "n"), &ua.DataValue{EncodingMask: ua.DataValueValue, Value: ua.MustVariant(1.0)},
		ua.MustVariant(int64(5)), t0, []byte{1, 2, 3}}
	var items []*ua.MonitoredItemNotification
	for i, v := range variants {
		items = append(items, &ua.MonitoredItemNotification{ClientHandle: uint32(i), Value: &ua.DataValue{
			EncodingMask: ua.DataValueValue | ua.DataValueStatusCode | ua.DataValueSourceTimestamp,
			Value:        ua.MustVariant(v), Status: ua.StatusUncertain, SourceTimestamp: t0,
		}})
	}
	items = append(items, &ua.MonitoredItemNotification{ClientHandle: 99, Value: &ua.DataValue{EncodingMask: ua.DataValueStatusCode, Status: ua.StatusUncertain}})
	msgs := []any{
		&ua.GetEndpointsResponse{ResponseHeader: hdr(), Endpoints: []*ua.EndpointDescription{{
			EndpointURL: "opc.tcp://127.0.0.1:4840", Server: &ua.ApplicationDescription{ApplicationURI: "urn:x", ApplicationName: ua.NewLocalizedText("x")},
			SecurityPolicyURI: ua.SecurityPolicyURINone, SecurityMode: ua.MessageSecurityModeNone,
			UserIdentityTokens: []*ua.UserTokenPolicy{{PolicyID: "anonymous", TokenType: ua.UserTokenTypeAnonymous}},
		}}},
		&ua.CreateSubscriptionResponse{ResponseHeader: hdr(), SubscriptionID: 1, RevisedPublishingInterval: 50, RevisedLifetimeCount: 120, RevisedMaxKeepAliveCount: 10},
		&ua.CreateMonitoredItemsResponse{ResponseHeader: hdr(), Results: []*ua.MonitoredItemCreateResult{{StatusCode: ua.StatusOK, MonitoredItemID: 1, RevisedSamplingInterval: 50, RevisedQueueSize: 10, FilterResult: ua.NewExtensionObject(nil)}}},
		&ua.ReadResponse{ResponseHeader: hdr(), Results: []*ua.DataValue{{EncodingMask: ua.DataValueValue, Value: ua.MustVariant([]string{"http://opcfoundation.org/UA/", "urn:x"})}}},
		&ua.TranslateBrowsePathsToNodeIDsResponse{ResponseHeader: hdr(), Results: []*ua.BrowsePathResult{{StatusCode: ua.StatusOK, Targets: []*ua.BrowsePathTarget{{TargetID: ua.NewExpandedNodeID(ua.NewStringNodeID(2, "n"), "", 0), RemainingPathIndex: 0xffffffff}}}}},
		&ua.BrowseResponse{ResponseHeader: hdr(), Results: []*ua.BrowseResult{{StatusCode: ua.StatusOK, ContinuationPoint: []byte{1}, References: []*ua.ReferenceDescription{{
			ReferenceTypeID: ua.NewNumericNodeID(0, id.Organizes), IsForward: true, NodeID: ua.NewExpandedNodeID(ua.NewStringNodeID(2, "M1"), "", 0),
			BrowseName: &ua.QualifiedName{NamespaceIndex: 2, Name: "M1"}, DisplayName: ua.NewLocalizedText("M1"), NodeClass: ua.NodeClassObject,
			TypeDefinition: ua.NewExpandedNodeID(ua.NewNumericNodeID(0, 58), "", 0),
		}}}}},
		&ua.PublishResponse{ResponseHeader: hdr(), SubscriptionID: 1, AvailableSequenceNumbers: []uint32{1}, Results: []ua.StatusCode{ua.StatusOK},
			NotificationMessage: &ua.NotificationMessage{SequenceNumber: 1, PublishTime: t0, NotificationData: []*ua.ExtensionObject{
				ua.NewExtensionObject(&ua.DataChangeNotification{MonitoredItems: items, DiagnosticInfos: []*ua.DiagnosticInfo{{EncodingMask: 0x40, InnerDiagnosticInfo: &ua.DiagnosticInfo{}}}}),
				ua.NewExtensionObject(&ua.StatusChangeNotification{Status: ua.StatusBadTimeout, DiagnosticInfo: &ua.DiagnosticInfo{}}),
			}}},
	}
	var out [][]byte
	for _, m := range msgs {
		typeID := ua.ServiceTypeID(m)
		if typeID == 0 {
			tb.Fatalf("no type id for %T", m)
		}
		body, err := ua.Encode(m)
		if err != nil {
			tb.Fatalf("encode %T: %v", m, err)
		}
		nid, err := ua.NewFourByteNodeID(0, typeID).Encode()
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, append(nid, body...))
	}
	return out
}

// FuzzDecodeResponse decodes arbitrary bytes the way the client decodes every message
// body (ua.DecodeService, in the patched gopcua), and hands a decoded publish response
// to the source's conversion. Neither may panic, and a length in the message must not
// allocate beyond the message: an input announcing 2^31 elements would end the fuzz
// run with an out-of-memory error.
func FuzzDecodeResponse(f *testing.F) {
	for _, b := range responseSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		_, v, err := ua.DecodeService(b)
		if err != nil {
			return
		}
		if res, ok := v.(*ua.PublishResponse); ok && res.NotificationMessage != nil {
			ss := fuzzSession(t, point.NopObserver{})
			batch, _ := ss.convert(res, time.Unix(1e9, 0))
			checkBatch(t, batch)
		}
	})
}

// The bounds of the patched gopcua decoder (third_party/gopcua/PATCHES.md), checked
// here so that dropping the replace directive fails this package's tests cleanly: a
// Variant array of negative length (upstream: a panic on the client's dispatcher
// goroutine, which ends the process), Variants nested a million deep (upstream: a
// fatal stack overflow), and a GetEndpointsResponse announcing 2^31-1 endpoints
// (upstream: a 16 GiB allocation).
func TestPatchedDecoderBounds(t *testing.T) {
	le := binary.LittleEndian
	negative := le.AppendUint32([]byte{byte(ua.TypeIDInt32) | 0x80}, 0xfffffffe)
	if _, err := new(ua.Variant).Decode(negative); !errors.Is(err, ua.StatusBadEncodingLimitsExceeded) {
		t.Errorf("negative array length: %v, want StatusBadEncodingLimitsExceeded", err)
	}
	nested := append(bytes.Repeat([]byte{byte(ua.TypeIDVariant)}, 1<<20), 0)
	if _, err := new(ua.Variant).Decode(nested); !errors.Is(err, ua.StatusBadEncodingLimitsExceeded) {
		t.Errorf("nesting 2^20 deep: %v, want StatusBadEncodingLimitsExceeded", err)
	}
	seed := responseSeeds(t)[0] // the GetEndpointsResponse
	var n atomic.Int64
	msg := append(make([]byte, msgBodyOffset), seed...)
	copy(msg, "MSGF")
	msg = setEndpointsLength(0x7fffffff, &n)(msg)
	if n.Load() != 1 {
		t.Fatal("the endpoints array length was not found")
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := ua.DecodeService(msg[msgBodyOffset:])
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ua.StatusBadEncodingLimitsExceeded) || !strings.Contains(err.Error(), "array length 2147483647 exceeds the ") {
		t.Errorf("2^31-1 endpoints: %v, want an array length error wrapping StatusBadEncodingLimitsExceeded", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("decoding allocated %d bytes", d)
	}
}
