package commission

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// blockingBackend answers browses after release is closed (or its context ends), and
// fails with err when set. It tests the handler's frame (bounds, slots, errors); the
// operations themselves are tested against real servers in gateway/app.
type blockingBackend struct {
	started chan string
	release chan struct{}
	err     error
}

func (b *blockingBackend) BrowseOPCUA(ctx context.Context, req *BrowseRequest) (*BrowseResponse, error) {
	b.started <- req.Source
	select {
	case <-b.release:
	case <-ctx.Done():
		return nil, fmt.Errorf("browse %q: %w", req.Source, ctx.Err())
	}
	if b.err != nil {
		return nil, b.err
	}
	return &BrowseResponse{Nodes: []BrowseNode{}}, nil
}
func (b *blockingBackend) Trust(context.Context, string) (string, error) { return "", b.err }
func (b *blockingBackend) SniffMQTT(context.Context, *SniffRequest) (*SniffResponse, error) {
	return nil, b.err
}
func (b *blockingBackend) ScanModbus(context.Context, *ScanRequest) (*ScanResponse, error) {
	return nil, b.err
}
func (b *blockingBackend) Read(context.Context, *ReadRequest) (*ReadResponse, error) {
	return nil, b.err
}
func (b *blockingBackend) Suggest(*SuggestRequest) (*SuggestResponse, error) { return nil, b.err }

func do(t *testing.T, h http.Handler, path, contentType, body string) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, Prefix+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Result().Body)
	return fmt.Sprintf("%d %s", w.Code, strings.TrimSpace(string(b)))
}

// TestHandlerBounds: oversized, mistyped and trailing bodies, a deadline that passes,
// a device that fails and the bound on concurrent operations each get their status and
// message, and the counter counts each under its bounded result label.
func TestHandlerBounds(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := &blockingBackend{started: make(chan string, 10), release: make(chan struct{})}
	h := New(b, reg, nil, nil)
	for _, c := range []struct{ path, ct, body, want string }{
		{"opcua/browse", "application/json", `{"source":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, `413 {"error":"request body larger than 1048576 bytes"}`},
		{"opcua/browse", "text/plain", `{"source":"a"}`, `415 {"error":"content type \"text/plain\": want application/json"}`},
		{"opcua/browse", "application/json", `{"source":"a"} {}`, `400 {"error":"body: invalid JSON: more than one value"}`},
		{"opcua/browse", "application/json", `{"source":"a"`, `400 {"error":"body: invalid JSON: unexpected EOF"}`},
		{"opcua/browse", "application/json", `{"source":"a","endpoint":"opc.tcp://x:1"}`, `400 {"error":"source: set source (a configured source) or endpoint (a new one), not both"}`},
		{"mqtt/sniff", "application/json", `{"broker":"tcp://u:secret@h:1883","seconds":-1}`, `400 {"error":"seconds: -1: want 1 to 30"}`},
		{"modbus/scan", "application/json", `{"endpoint":"tcp://h:502","unit_timeout":"6s"}`, `400 {"error":"unit_timeout: invalid duration \"6s\": want e.g. \"100ms\", at most 5s"}`},
		{"read", "application/json", `{"device":{"id":"m1"}}`, `400 {"error":"device.source: required: the name of the device's source"}`},
		{"read", "application/json", `{}`, `400 {"error":"device: required: the device as in the configuration"}`},
		{"suggest", "application/json", `{"nodes":[{"data_type":"Double"}]}`, `400 {"error":"nodes[0].browse_name: required (or browse_path)"}`},
		{"nothing", "application/json", `{}`, `404 404 page not found`},
	} {
		if got := do(t, h, c.path, c.ct, c.body); got != c.want {
			t.Errorf("%s %.60s:\n got %.300s\nwant %s", c.path, c.body, got, c.want)
		}
	}

	// A deadline that passes: 504 naming the operation and the source.
	go func() { <-b.started }()
	if got, want := do(t, h, "opcua/browse", "", `{"source":"slow","timeout":"50ms"}`),
		`504 {"error":"opcua_browse source \"slow\": no answer within the deadline: browse \"slow\": context deadline exceeded"}`; got != want {
		t.Errorf("deadline:\n got %s\nwant %s", got, want)
	}

	// MaxConcurrent operations on different sources run; one more waits for none.
	var wg sync.WaitGroup
	results := make(chan string, MaxConcurrent)
	for i := range MaxConcurrent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- do(t, h, "opcua/browse", "", fmt.Sprintf(`{"source":"s%d"}`, i))
		}()
	}
	for range MaxConcurrent {
		<-b.started
	}
	if got, want := do(t, h, "opcua/browse", "", `{"source":"s0"}`),
		`429 {"error":"a commissioning operation on source \"s0\" is running: one at a time per source; retry when it ends"}`; got != want {
		t.Errorf("same source:\n got %s\nwant %s", got, want)
	}
	if got, want := do(t, h, "opcua/browse", "", `{"endpoint":"opc.tcp://other:4840"}`),
		`429 {"error":"4 commissioning operations are running: at most 4 at a time; retry when one ends"}`; got != want {
		t.Errorf("one too many:\n got %s\nwant %s", got, want)
	}
	close(b.release)
	wg.Wait()
	close(results)
	for r := range results {
		if r != `200 {"start":"","browse_start":"","security":"","nodes":[],"truncated":false}` {
			t.Errorf("concurrent browse: %s", r)
		}
	}

	// A device that fails: 502 with its error.
	b.err = errors.New(`read start node "i=85" on "opc.tcp://h:4840": EOF`)
	go func() { <-b.started }()
	if got, want := do(t, h, "opcua/browse", "", `{"source":"m"}`), `502 {"error":"read start node \"i=85\" on \"opc.tcp://h:4840\": EOF"}`; got != want {
		t.Errorf("device failed:\n got %s\nwant %s", got, want)
	}

	for _, c := range []struct {
		op, result string
		want       float64
	}{
		{OpBrowse, ResultBadRequest, 5}, {OpBrowse, ResultTimeout, 1}, {OpBrowse, ResultBusy, 2}, {OpBrowse, ResultOK, 4},
		{OpBrowse, ResultDeviceFailed, 1}, {OpSniff, ResultBadRequest, 1}, {OpScan, ResultBadRequest, 1},
		{OpRead, ResultBadRequest, 2}, {OpSuggest, ResultBadRequest, 1}, {OpTrust, ResultOK, 0},
	} {
		if got := testutil.ToFloat64(h.reqs.WithLabelValues(c.op, c.result)); got != c.want {
			t.Errorf("requests{%s,%s} = %v, want %v", c.op, c.result, got, c.want)
		}
	}
	if probs, err := testutil.CollectAndLint(h.reqs); err != nil || len(probs) > 0 {
		t.Errorf("lint: %v %v", probs, err)
	}
	if n := testutil.CollectAndCount(h.reqs); n != len(Operations)*len(Results) {
		t.Errorf("%d series, want every operation × result (%d) from the start", n, len(Operations)*len(Results))
	}
}

// slowReader answers a read after delay.
type slowReader struct {
	blockingBackend
	delay time.Duration
}

func (b *slowReader) Read(ctx context.Context, req *ReadRequest) (*ReadResponse, error) {
	select {
	case <-time.After(b.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &ReadResponse{Device: "em2", Signals: []SignalRead{}}, nil
}

// TestLongCallOutlivesWriteTimeout: an operation allowed to run longer than the HTTP
// server's write timeout (the admin server's is 30 s, a commissioning timeout may be 60 s)
// still gets its answer: the handler extends the response's write deadline to match.
func TestLongCallOutlivesWriteTimeout(t *testing.T) {
	h := New(&slowReader{delay: 1500 * time.Millisecond}, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.WriteTimeout = 500 * time.Millisecond
	srv.Start()
	defer srv.Close()
	start := time.Now()
	resp, err := http.Post(srv.URL+Prefix+"read", "application/json",
		strings.NewReader(`{"timeout":"3s","device":{"id":"em2","source":"meters"}}`))
	if err != nil {
		t.Fatalf("after %s: %v (the write deadline was not extended)", time.Since(start), err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"device":"em2","signals":[]}` + "\n"; resp.StatusCode != 200 || string(body) != want {
		t.Fatalf("%d %q, want 200 %q", resp.StatusCode, body, want)
	}
	if took := time.Since(start); took < srv.Config.WriteTimeout {
		t.Fatalf("the read took %s, less than the write timeout: the test proves nothing", took)
	}
}
