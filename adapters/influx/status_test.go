package influx

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestStatusClassification covers statuses the real servers cannot be made to return
// (rate limiting, overload, proxies, auth failures), served by a stub that answers one
// canned response per URL path prefix.
func TestStatusClassification(t *testing.T) {
	long := strings.Repeat("abcdefghij", 100) // 1000 bytes
	type response struct {
		status      int
		contentType string
		header      map[string]string
		body        string
	}
	for _, tc := range []struct {
		name  string
		resp  response
		want  string
		class class
	}{
		{
			name: "429 retry-after seconds",
			resp: response{status: 429, contentType: "application/json", header: map[string]string{"Retry-After": "7"},
				body: `{"code":"too many requests","message":"org 1 has exceeded limited_write plan limit"}`},
			want:  `write sink "stub": status 429: org 1 has exceeded limited_write plan limit (retry after 7s)`,
			class: class{Status: 429, RetryAfter: 7 * time.Second},
		},
		{
			name:  "429 bare",
			resp:  response{status: 429},
			want:  `write sink "stub": status 429: too many requests`,
			class: class{Status: 429},
		},
		{
			name: "503 retry-after with text body",
			resp: response{status: 503, contentType: "text/plain; charset=utf-8", header: map[string]string{"Retry-After": "30"},
				body: "storage is read-only\n"},
			want:  `write sink "stub": status 503: storage is read-only (retry after 30s)`,
			class: class{Status: 503, RetryAfter: 30 * time.Second},
		},
		{
			name:  "503 malformed retry-after",
			resp:  response{status: 503, header: map[string]string{"Retry-After": "soon"}},
			want:  `write sink "stub": status 503: service unavailable`,
			class: class{Status: 503},
		},
		{
			name:  "503 zero retry-after",
			resp:  response{status: 503, header: map[string]string{"Retry-After": "0"}},
			want:  `write sink "stub": status 503: service unavailable`,
			class: class{Status: 503},
		},
		{
			name:  "500 influx json",
			resp:  response{status: 500, contentType: "application/json", body: `{"error":"engine: cache-max-memory-size exceeded: (1073741824/1073741824)"}`},
			want:  `write sink "stub": status 500: engine: cache-max-memory-size exceeded: (1073741824/1073741824)`,
			class: class{Status: 500},
		},
		{
			name:  "502 proxy html",
			resp:  response{status: 502, contentType: "text/html", body: "<html>\r\n  <body>Bad Gateway</body>\n</html>\n"},
			want:  `write sink "stub": status 502: <html> <body>Bad Gateway</body> </html>`,
			class: class{Status: 502},
		},
		{
			name:  "408 retryable",
			resp:  response{status: 408},
			want:  `write sink "stub": status 408: request timeout`,
			class: class{Status: 408},
		},
		{
			name:  "401 permanent",
			resp:  response{status: 401, contentType: "application/json", body: `{"code":"unauthorized","message":"unauthorized access"}`},
			want:  `write sink "stub": permanent write error: status 401: unauthorized access`,
			class: class{Permanent: true, Status: 401},
		},
		{
			name:  "413 message from header",
			resp:  response{status: 413, header: map[string]string{"X-Influxdb-Error": "Request Entity Too Large"}},
			want:  `write sink "stub": permanent write error: status 413: Request Entity Too Large`,
			class: class{Permanent: true, Status: 413},
		},
		{
			name:  "404 empty",
			resp:  response{status: 404},
			want:  `write sink "stub": permanent write error: status 404: not found`,
			class: class{Permanent: true, Status: 404},
		},
		{
			name:  "400 ignores retry-after",
			resp:  response{status: 400, header: map[string]string{"Retry-After": "5"}, body: "bad"},
			want:  `write sink "stub": permanent write error: status 400: bad`,
			class: class{Permanent: true, Status: 400},
		},
		{
			name:  "400 long message truncated",
			resp:  response{status: 400, body: long},
			want:  `write sink "stub": permanent write error: status 400: ` + long[:509] + "…",
			class: class{Permanent: true, Status: 400},
		},
		{
			name:  "400 long multibyte message truncated at a character",
			resp:  response{status: 400, body: strings.Repeat("数", 200)},
			want:  `write sink "stub": permanent write error: status 400: ` + strings.Repeat("数", 169) + "…",
			class: class{Permanent: true, Status: 400},
		},
		{
			name:  "204",
			resp:  response{status: 204},
			want:  `<nil>`,
			class: class{},
		},
		{
			name:  "200 with body",
			resp:  response{status: 200, body: "ok"},
			want:  `<nil>`,
			class: class{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if r.URL.Path != "/prefix/api/v2/write" {
					http.Error(w, "unexpected path "+r.URL.Path, http.StatusTeapot)
					return
				}
				for k, v := range tc.resp.header {
					w.Header().Set(k, v)
				}
				if tc.resp.contentType != "" {
					w.Header().Set("Content-Type", tc.resp.contentType)
				}
				w.WriteHeader(tc.resp.status)
				_, _ = w.Write([]byte(tc.resp.body))
			}))
			defer srv.Close()
			s := newSink(t, config("stub", srv.URL+"/prefix", "b"), nil)
			err := s.Write(context.Background(), testLines("w"))
			if errString(err) != tc.want {
				t.Fatalf("Write = %s\nwant   %s", errString(err), tc.want)
			}
			if c := classOf(err); c != tc.class {
				t.Fatalf("classification %+v, want %+v", c, tc.class)
			}
			if n := hits.Load(); n != 1 {
				t.Fatalf("%d requests, want exactly 1 (the sink must not retry)", n)
			}
			var se *StatusError
			if err != nil && (!errors.As(err, &se) || len(se.Message) > MaxMessageBytes) {
				t.Fatalf("message longer than %d bytes: %d", MaxMessageBytes, len(se.Message))
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"7", 7 * time.Second, true},
		{" 120 ", 120 * time.Second, true},
		{"Fri, 27 Nov 2026 08:01:30 GMT", 90 * time.Second, true},
		{"Fri, 27 Nov 2026 07:59:00 GMT", -60 * time.Second, false},
		{"0", 0, false},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"", 0, false},
		{"99999999999", 0, false},
	} {
		h := http.Header{}
		if tc.value != "" {
			h.Set("Retry-After", tc.value)
		}
		d, ok := retryAfter(h, now)
		if d != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tc.value, d, ok, tc.want, tc.ok)
		}
	}
}

func TestEmptyBlockAndClose(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	s := newSink(t, config("stub", srv.URL, "b"), nil)
	ctx := context.Background()
	if err := s.Write(ctx, nil); err != nil {
		t.Fatalf("Write(nil) = %v", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("empty block sent %d requests", n)
	}
	s.Close()
	s.Close()
	if err := s.Write(ctx, testLines("w")); errString(err) != `write sink "stub": sink closed` {
		t.Fatalf("Write after Close = %v", err)
	}
	if err := s.Ping(ctx); errString(err) != `ping sink "stub": sink closed` {
		t.Fatalf("Ping after Close = %v", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("closed sink sent %d requests", n)
	}
}
