package influx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// TestPingClusterInsertURL: the reachability check works against a VictoriaMetrics
// cluster insert URL (http://vminsert:8480/insert/0/influx). vminsert answers 400
// "unsupported path requested" to /insert/0/influx/ping and serves /health at its
// root, as every VictoriaMetrics component does (lib/httpserver); the single-node
// VictoriaMetrics answers those two paths the same way, which the test checks first,
// so it stands for vminsert here (no vminsert binary is packaged). Ping then falls
// back to /health and succeeds: no false "sink not reachable". A server answering
// neither still fails the check, with the /ping status.
func TestPingClusterInsertURL(t *testing.T) {
	v := testsrv.StartVictoria(t)
	ctx := context.Background()
	for path, want := range map[string]int{"/insert/0/influx/ping": 400, "/health": 200} {
		resp, err := http.Get(v.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %s: status %d, want %d as vminsert answers", path, resp.StatusCode, want)
		}
	}
	for _, u := range []string{v.URL + "/insert/0/influx", v.URL + "/insert/0/influx/", v.URL} {
		s := newSink(t, config("vm", u, "ganlink"), nil)
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping %s: %v", u, err)
		}
	}

	// A web server that is no TSDB (a stub: no real one answers 404 to both) fails
	// the check with the /ping status.
	stub := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(stub.Close)
	s := newSink(t, config("stub", stub.URL+"/insert/0/influx", "ganlink"), nil)
	want := `ping sink "stub": status 404: 404 page not found`
	if err := s.Ping(ctx); errString(err) != want {
		t.Fatalf("Ping = %v\nwant %s", err, want)
	}
}
