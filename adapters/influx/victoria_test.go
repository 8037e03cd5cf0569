package influx

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/ganlink/ganlink/internal/testsrv"
)

func TestVictoria(t *testing.T) {
	v := testsrv.StartVictoria(t)
	ctx := context.Background()

	t.Run("write", func(t *testing.T) {
		for _, tc := range []struct {
			workshop string
			gzip     bool
			org      string
			bucket   string
			token    string
		}{
			{workshop: "一车间 A", gzip: true, bucket: "ganlink"},
			{workshop: "ws 2,b=c", gzip: false, org: "acme", bucket: "ganlink/autogen", token: "any-token"},
		} {
			t.Run(fmt.Sprintf("gzip=%v", tc.gzip), func(t *testing.T) {
				cfg := config("vm", v.URL, tc.bucket)
				cfg.Gzip, cfg.Org, cfg.Token = tc.gzip, tc.org, tc.token
				s := newSink(t, cfg, nil)
				if err := s.Write(ctx, testLines(tc.workshop)); err != nil {
					t.Fatalf("Write: %v", err)
				}
				got := exportKeys(v, `{workshop=`+strconv.Quote(tc.workshop)+`}`)
				if want := wantVictoria(tc.workshop); !slices.Equal(got, want) {
					t.Fatalf("exported\n%q\nwant\n%q", got, want)
				}
			})
		}
	})

	// VictoriaMetrics skips lines it cannot parse, logs them and answers 204: the block
	// counts as written and its valid lines are stored.
	t.Run("malformed line skipped", func(t *testing.T) {
		s := newSink(t, config("vm", v.URL, "ganlink"), nil)
		block := append([]byte("cnc,workshop=bad x=\n"), testLines("malformed")...)
		if err := s.Write(ctx, block); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if got, want := exportKeys(v, `{workshop="malformed"}`), wantVictoria("malformed"); !slices.Equal(got, want) {
			t.Fatalf("exported\n%q\nwant\n%q", got, want)
		}
	})

	t.Run("ping", func(t *testing.T) {
		s := newSink(t, config("vm", v.URL, "ganlink"), nil)
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})

	t.Run("request on the wire", func(t *testing.T) {
		for _, gz := range []bool{true, false} {
			t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
				workshop := fmt.Sprintf("wire-%v", gz)
				rec := newRecordingProxy(t, v.URL)
				cfg := config("vm", rec.URL, "db/rp")
				cfg.Org, cfg.Token, cfg.Gzip = "acme", "user:pass", gz
				s := newSink(t, cfg, nil)
				lines := testLines(workshop)
				if err := s.Write(ctx, lines); err != nil {
					t.Fatalf("Write: %v", err)
				}
				r := rec.last()
				if r.path != "/api/v2/write" || r.query != "bucket=db%2Frp&org=acme&precision=ns" {
					t.Errorf("request %s?%s", r.path, r.query)
				}
				if r.auth != "Token user:pass" {
					t.Errorf("Authorization %q", r.auth)
				}
				if r.contentLength != int64(len(r.body)) {
					t.Errorf("Content-Length %d, body %d bytes", r.contentLength, len(r.body))
				}
				plain := r.body
				if gz {
					if r.encoding != "gzip" {
						t.Fatalf("Content-Encoding %q, want gzip", r.encoding)
					}
					zr, err := gzip.NewReader(bytes.NewReader(r.body))
					if err != nil {
						t.Fatalf("body is not gzip: %v", err)
					}
					if plain, err = io.ReadAll(zr); err != nil {
						t.Fatalf("gunzip: %v", err)
					}
				} else if r.encoding != "" {
					t.Fatalf("Content-Encoding %q, want none", r.encoding)
				}
				if !bytes.Equal(plain, lines) {
					t.Fatalf("body\n%q\nwant\n%q", plain, lines)
				}
				if got, want := exportKeys(v, `{workshop=`+strconv.Quote(workshop)+`}`), wantVictoria(workshop); !slices.Equal(got, want) {
					t.Fatalf("exported\n%q\nwant\n%q", got, want)
				}
			})
		}
	})

	// Concurrent writers that overwrite their buffer as soon as Write returns: the race
	// detector fails the test if the transport still reads it.
	t.Run("concurrent writes reuse buffers", func(t *testing.T) {
		for _, gz := range []bool{true, false} {
			t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
				cfg := config("vm", v.URL, "ganlink")
				cfg.Gzip = gz
				s := newSink(t, cfg, nil)
				const writers, writes = 4, 10
				var wg sync.WaitGroup
				errs := make(chan error, writers*writes)
				for w := range writers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						var buf []byte
						for i := range writes {
							buf = append(buf[:0], testLines(fmt.Sprintf("conc-%v-%d-%d", gz, w, i))...)
							errs <- s.Write(ctx, buf)
							for j := range buf {
								buf[j] = 'x'
							}
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Fatalf("Write: %v", err)
					}
				}
				got := v.Export(fmt.Sprintf(`{workshop=~"conc-%v-.*"}`, gz))
				if len(got) != writers*writes*6 {
					t.Fatalf("exported %d samples, want %d", len(got), writers*writes*6)
				}
			})
		}
	})

	// Runs last: stops the server, then starts it again.
	t.Run("server stopped", func(t *testing.T) {
		s := newSink(t, config("vm", v.URL, "ganlink"), nil)
		v.Stop()
		err := s.Write(ctx, testLines("restart"))
		want := fmt.Sprintf(`write sink "vm": Post "%s/api/v2/write?bucket=ganlink&org=&precision=ns": dial tcp 127.0.0.1:%d: connect: connection refused`, v.URL, v.Port)
		if errString(err) != want {
			t.Fatalf("Write = %v\nwant %s", err, want)
		}
		if c := classOf(err); c != (class{}) {
			t.Fatalf("classification %+v, want retryable without status", c)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("error does not wrap ECONNREFUSED: %v", err)
		}
		pingWant := fmt.Sprintf(`ping sink "vm": Get "%s/ping": dial tcp 127.0.0.1:%d: connect: connection refused`, v.URL, v.Port)
		if err := s.Ping(ctx); errString(err) != pingWant {
			t.Fatalf("Ping = %v\nwant %s", err, pingWant)
		}
		v.Start()
		if err := s.Write(ctx, testLines("restart")); err != nil {
			t.Fatalf("Write after restart: %v", err)
		}
		if got, want := exportKeys(v, `{workshop="restart"}`), wantVictoria("restart"); !slices.Equal(got, want) {
			t.Fatalf("exported\n%q\nwant\n%q", got, want)
		}
	})
}

// recordingProxy forwards to a real server and records each request as it arrived.
type recordingProxy struct {
	URL  string
	mu   sync.Mutex
	reqs []recordedRequest
}

type recordedRequest struct {
	path, query, auth, encoding string
	contentLength               int64
	body                        []byte
}

func newRecordingProxy(t *testing.T, target string) *recordingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &recordingProxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.reqs = append(p.reqs, recordedRequest{path: r.URL.Path, query: r.URL.RawQuery,
			auth: r.Header.Get("Authorization"), encoding: r.Header.Get("Content-Encoding"),
			contentLength: r.ContentLength, body: body})
		p.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *recordingProxy) last() recordedRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.reqs) == 0 {
		return recordedRequest{}
	}
	return p.reqs[len(p.reqs)-1]
}
