package testsrv

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
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

// fatalTB records the first Fatalf and ends the start-up there.
type fatalTB struct {
	*testing.T
	msg string
}

type fatalStop struct{}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(fatalStop{})
}

// TestStartRefusesPortTakenByAnother: a port that another process took between FreePort
// and the server's bind answers a dial, but the server exits with "address in use"; the
// start fails with the server's log instead of returning a server that is not there.
func TestStartRefusesPortTakenByAnother(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	if !listensOn(os.Getpid(), port) {
		t.Fatalf("listensOn(own pid, %d) = false for this process's listener", port)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	writeFile(t, conf, fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nuser root\nlog_dest stderr\n", port))
	ftb := &fatalTB{T: t}
	p := &process{t: ftb, name: "mosquitto", args: []string{lookBinary(t, "mosquitto", "/usr/sbin/mosquitto"), "-c", conf},
		logPath: filepath.Join(dir, "mosquitto.log"), ready: tcpReady(fmt.Sprintf("127.0.0.1:%d", port)), port: port}
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(fatalStop); !ok {
					panic(r)
				}
			}
		}()
		p.start()
	}()
	defer p.stop()
	if !strings.HasPrefix(ftb.msg, "mosquitto exited during start-up:") || !strings.Contains(ftb.msg, "Address already in use") {
		t.Fatalf("start on a taken port: %q, want the exit with mosquitto's log", ftb.msg)
	}
}
