package admin

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/corrections"
	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/point"
)

// correctionService is a real correction service over a real KPI engine; the points it
// queues are collected.
func correctionService(t *testing.T) (*corrections.Service, func() []point.Point) {
	t.Helper()
	eng, err := kpi.New(kpi.Config{Location: time.UTC}, []kpi.Device{{ID: "em1", Kind: "energy_meter", Source: "mqtt",
		Signals: []string{"energy_kwh_total"}}})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu  sync.Mutex
		pts []point.Point
	)
	svc := corrections.NewService(corrections.ServiceConfig{Path: filepath.Join(t.TempDir(), corrections.FileName),
		Engine: eng, Log: slog.New(slog.DiscardHandler),
		Emit: func(_ context.Context, b point.Batch) error {
			mu.Lock()
			defer mu.Unlock()
			pts = append(pts, b...)
			return nil
		}})
	if err := svc.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc, func() []point.Point {
		mu.Lock()
		defer mu.Unlock()
		return append([]point.Point(nil), pts...)
	}
}

// doJSON sends a request with the Authorization header auth; a state-changing one with
// basic authentication also carries the user's CSRF token, which GET /api/session gives.
func doJSON(t *testing.T, method, url, auth, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if method != "GET" && strings.HasPrefix(auth, "Basic ") {
		req.Header.Set(CSRFHeader, csrfOf(t, url, auth))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The recorder is the authenticated user: the basic user name, or the body's "by"
// without authentication (where it is required).
func TestCorrectionsRecorder(t *testing.T) {
	span := `"kind":"invalid","device":"em1","from":"2026-01-01T09:00:00Z","until":"2026-01-01T10:00:00Z","reason":"test run"`
	for _, tc := range []struct {
		name       string
		auth       Auth
		header     string
		body       string
		code       int
		by, answer string
	}{
		{"basic", Auth{Username: "ops", Password: "pw"}, basic("ops", "pw"), `{` + span + `}`, 201, "ops", ""},
		{"token as basic password", Auth{Token: "tok"}, basic("alice", "tok"), `{` + span + `}`, 201, "alice", ""},
		{"bearer", Auth{Token: "tok"}, "Bearer tok", `{` + span + `}`, 201, TokenUser, ""},
		{"open", Auth{}, "", `{` + span + `,"by":"bob"}`, 201, "bob", ""},
		{"open without by", Auth{}, "", `{` + span + `}`, 400, "", `{"error":"by: missing","reason":"missing"}`},
		{"basic, another by", Auth{Username: "ops", Password: "pw"}, basic("ops", "pw"), `{` + span + `,"by":"eve"}`, 400, "",
			`{"error":"by: \"eve\" given, but the request is authenticated as \"ops\", who records it","reason":"bad_request"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, points := correctionService(t)
			s, _ := startServer(t, "127.0.0.1:0", func(s *Server) {
				if err := s.SetAuth(tc.auth); err != nil {
					t.Fatal(err)
				}
				s.SetCorrections(svc)
			})
			code, body := doJSON(t, "POST", "http://"+s.Addr()+"/api/corrections", tc.header, tc.body)
			if code != tc.code {
				t.Fatalf("POST: %d %s, want %d", code, body, tc.code)
			}
			if tc.code != 201 {
				var got map[string]string
				if err := json.Unmarshal([]byte(body), &got); err != nil || mustJSON(got) != tc.answer {
					t.Errorf("answer %s, want %s", body, tc.answer)
				}
				if len(svc.List()) != 0 || len(points()) != 0 {
					t.Errorf("a refused request was recorded")
				}
				return
			}
			var res corrections.Result
			if err := json.Unmarshal([]byte(body), &res); err != nil || res.Correction.By != tc.by || !res.Queued {
				t.Errorf("answer %s, want recorded by %s and queued", body, tc.by)
			}
			code, body = doJSON(t, "GET", "http://"+s.Addr()+"/api/corrections", tc.header, "")
			var l struct{ Corrections []corrections.Correction }
			if err := json.Unmarshal([]byte(body), &l); code != 200 || err != nil || len(l.Corrections) != 1 || l.Corrections[0].By != tc.by {
				t.Errorf("GET: %d %s", code, body)
			}
			if p := points(); len(p) != 1 || p[0].Measurement != "kpi_correction" {
				t.Errorf("points queued %+v", p)
			}
		})
	}
}

// csrfOf returns the CSRF token of the credentials auth from GET /api/session on the
// server of url.
func csrfOf(t *testing.T, url, auth string) string {
	t.Helper()
	base := url[:strings.Index(url, "/api/")]
	code, body := doJSON(t, "GET", base+"/api/session", auth, "")
	var sb sessionBody
	if err := json.Unmarshal([]byte(body), &sb); code != 200 || err != nil || sb.CSRFToken == "" {
		t.Fatalf("GET /api/session: %d %s", code, body)
	}
	return sb.CSRFToken
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
