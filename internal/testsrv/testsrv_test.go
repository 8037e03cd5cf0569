package testsrv

import (
	"net/http"
	"strings"
	"testing"
)

func TestServersStartAndRestart(t *testing.T) {
	m := StartMosquitto(t)
	m.Stop()
	m.Start()
	v := StartVictoria(t)
	body, code, err := httpDo("POST", v.URL+"/api/v2/write?bucket=b", "text/plain", []byte("cnc,device=m1 spindle=1200 1700000000000000000\n"))
	if err != nil || code != 204 {
		t.Fatalf("write: %d %v %s", code, err, body)
	}
	v.Stop()
	v.Start()
	got := v.Export(`{__name__="cnc_spindle"}`)
	if len(got) != 1 || got[0].Key() != "cnc_spindle{device=m1} 1700000000000=1200" {
		t.Fatalf("export after restart: %+v", got)
	}
	in := StartInflux(t, "ganlink")
	body, code, err = httpDo("POST", in.URL+"/api/v2/write?bucket=ganlink&org=x", "text/plain", []byte("cnc,device=m1 spindle=1200 1700000000000000000\n"))
	if err != nil || code != 204 {
		t.Fatalf("influx write: %d %v %s", code, err, body)
	}
	s := in.Query("ganlink", `SELECT spindle FROM cnc`)
	if len(s) != 1 || len(s[0].Values) != 1 || s[0].Values[0][1].(float64) != 1200 {
		t.Fatalf("influx query: %+v", s)
	}
}

func TestInfluxAuthAndMosquittoTLS(t *testing.T) {
	in := StartInfluxAuth(t, "admin", "Adm1n'pw", "ganlink")
	for _, tc := range []struct {
		auth string
		code int
	}{{"", 401}, {"Token admin:wrong", 401}, {"Token admin:Adm1n'pw", 204}} {
		req, _ := http.NewRequest("POST", in.URL+"/api/v2/write?bucket=ganlink", strings.NewReader("m f=1 1700000000000000000\n"))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("write with %q: %d, want %d", tc.auth, resp.StatusCode, tc.code)
		}
	}
	m := StartMosquittoTLS(t, MosquittoTLSOptions{Users: map[string]string{"gw": "pw"}})
	if !strings.HasPrefix(m.URL, "ssl://127.0.0.1:") {
		t.Fatalf("URL %q", m.URL)
	}
	m.Stop()
	m.Start()
}
