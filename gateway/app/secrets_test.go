package app_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"gopkg.in/yaml.v3"

	"github.com/ganlink/ganlink/adapters/opcua/pki"
	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/status"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/ganlink/ganlink/internal/testutil"
)

// Distinctive secret values: none may appear in anything the gateway writes or serves.
const (
	secretMQTT        = "Mq77-Secret-Corr3ct-7f3a" // accepted by the broker
	secretMQTTWrong   = "Mq77-Secret-Wr0ng-91c2"   // refused by the broker
	secretVMToken     = "Vm-T0ken-Secret-5e8d"     // sent to VictoriaMetrics (which ignores it)
	secretInfluxWrong = "Infl-Secret-Wr0ng-2b6c"   // refused by InfluxDB ("gw:<this>")
	secretOPCUA       = "0pcua-Secret-Pw-44d1"     // accepted by the OPC UA server (Aes256_Sha256_RsaPss)
	secretOPCUAWrong  = "0pcua-Secret-Wr0ng-3e7b"  // refused by the OPC UA server
	secretAdmin       = "Adm1n-Secret-Pw-8a0e"     // the admin endpoint's basic-auth password
)

var allSecrets = []string{secretMQTT, secretMQTTWrong, secretVMToken, secretInfluxWrong, secretOPCUA, secretOPCUAWrong, secretAdmin}

// leaks returns the secrets (or their base64 forms in Authorization headers) found in s.
func leaks(s string) []string {
	var found []string
	for _, sec := range allSecrets {
		forms := []string{sec, base64.StdEncoding.EncodeToString([]byte("gw:" + sec)),
			base64.StdEncoding.EncodeToString([]byte("ops:" + sec))}
		for _, f := range forms {
			if strings.Contains(s, f) {
				found = append(found, f)
			}
		}
	}
	return found
}

// TestSecretsNeverLeak runs a gateway whose every secret is used against a real
// server (MQTT password, VictoriaMetrics token, OPC UA password, admin password) or
// refused by one (a second MQTT password, an InfluxDB token), and searches every log line, /metrics, /api/status, the
// status page, the probes, the returned errors and the printed configuration for the
// secret values.
func TestSecretsNeverLeak(t *testing.T) {
	broker := testsrv.StartMosquittoTLS(t, testsrv.MosquittoTLSOptions{Users: map[string]string{"gw": secretMQTT}})
	vm := testsrv.StartVictoria(t)
	influx := testsrv.StartInfluxAuth(t, "gw", "the-real-influx-password", "ganlink")

	// The gateway's PKI as its first start leaves it, so that the OPC UA server can be
	// told to trust the gateway's certificate before it starts.
	dir := t.TempDir()
	store := &pki.Store{Dir: filepath.Join(dir, "pki")}
	own, err := store.LoadOrCreate(pki.OwnOptions{ApplicationURI: "urn:ganlink:gateway:ws1"})
	if err != nil {
		t.Fatal(err)
	}
	opc := testsrv.StartMachineTool(t, testsrv.MachineToolOptions{Policies: []string{"Aes256_Sha256_RsaPss"}, NoNone: true,
		Users: map[string]string{"operator": secretOPCUA}, TrustedClients: [][]byte{own.DER}})
	serverCert := filepath.Join(dir, "server.der")
	if err := os.WriteFile(serverCert, opc.ServerCertificate(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Trust(serverCert); err != nil {
		t.Fatal(err)
	}

	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mqttPassFile := write("mqtt.pw", secretMQTT)
	vmTokenFile := write("vm.token", secretVMToken)
	adminPassFile := write("admin.pw", secretAdmin)
	env := map[string]string{"MQTT2_PASSWORD": secretMQTTWrong, "INFLUX_TOKEN": "gw:" + secretInfluxWrong, "OPCUA2_PASSWORD": secretOPCUAWrong}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	yml := fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
admin:
  listen: "127.0.0.1:0"
  basic_auth: {username: ops, password_file: %[1]s}
  protect_metrics: true
queue: {dir: %[2]s}
sources:
  opcua:
    - {name: cnc, endpoint: "%[3]s", username: operator, password: %[4]s, reconnect_max: 1s}
    - {name: cnc2, endpoint: "%[3]s", username: operator, password: "${OPCUA2_PASSWORD}", reconnect_max: 1s}
  mqtt:
    - name: meters
      broker: %[5]s
      username: gw
      password_file: %[6]s
      tls: {ca_file: %[7]s}
    - name: meters2
      broker: %[5]s
      username: gw
      password: "${MQTT2_PASSWORD}"
      tls: {ca_file: %[7]s}
sinks:
  influx:
    - {name: vm, url: %[8]s, bucket: ganlink, token_file: %[9]s, flush_interval: 100ms}
    - {name: influx18, url: %[10]s, bucket: ganlink, token: "${INFLUX_TOKEN}", flush_interval: 100ms, retry_min: 100ms, retry_max: 300ms}
devices:
  - id: m1
    kind: cnc
    source: cnc
    signals: {spindle_speed_rpm: {node: "nsu=urn:ganlink:testsrv:machines;s=M1.Spindle.ActSpeed"}}
  - id: m2
    kind: cnc
    source: cnc2
    signals: {spindle_speed_rpm: {node: "nsu=urn:ganlink:testsrv:machines;s=M2.Spindle.ActSpeed"}}
  - id: em1
    kind: energy_meter
    source: meters
    topic: plant/ws1/meter/em1
    signals: {energy_kwh_total: {path: kwh, counter: true}}
  - id: em2
    kind: energy_meter
    source: meters2
    topic: plant/ws1/meter/em2
    signals: {energy_kwh_total: {path: kwh, counter: true}}
`, adminPassFile, filepath.Join(dir, "queue"), opc.URL, secretOPCUA, broker.URL, mqttPassFile, broker.CA.CertFile,
		vm.URL, vmTokenFile, influx.URL)
	cfg, err := config.Load([]byte(yml), lookup, app.Kinds())
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	var outputs []string // everything the gateway printed, served or returned
	printed, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(printed), fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg))

	logs := &testutil.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.Build(cfg, log, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			stop()
			<-runErr
		}
	})

	base := "http://" + a.AdminAddr()
	get := func(path string, auth bool) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		if auth {
			req.SetBasicAuth("ops", secretAdmin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var hdr strings.Builder
		_ = resp.Header.Write(&hdr)
		return resp.StatusCode, hdr.String() + "\r\n" + string(b)
	}
	getStatus := func() status.Status {
		t.Helper()
		code, body := get("/api/status", true)
		if code != 200 {
			t.Fatalf("/api/status: %d %s", code, body)
		}
		var st status.Status
		if err := json.Unmarshal([]byte(body[strings.Index(body, "\r\n\r\n")+4:]), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}

	// Let the accepted password carry a message through to VictoriaMetrics (which
	// receives the token), and wait until every refused secret has been refused.
	pub := tlsPublisher(t, broker.URL, broker.CA.CertFile, "gw", secretMQTT)
	deadline := time.Now().Add(30 * time.Second)
	for kwh := 1; ; kwh++ {
		tok := pub.Publish("plant/ws1/meter/em1", 1, false, fmt.Sprintf(`{"kwh":%d}`, kwh))
		tok.WaitTimeout(2 * time.Second)
		st := getStatus()
		src := map[string]status.SourceStatus{}
		for _, s := range st.Sources {
			src[s.Name] = s
		}
		sink := map[string]status.SinkStatus{}
		for _, s := range st.Sinks {
			sink[s.Name] = s
		}
		if src["meters"].State == "up" && strings.Contains(src["meters2"].Error, `login refused for user "gw"`) &&
			src["cnc"].State == "up" && strings.Contains(src["cnc2"].Error, "StatusBadUserAccessDenied") && sink["vm"].Up && strings.Contains(sink["influx18"].LastError, "401") {
			t.Logf("meters2: %s\ninflux18: %s\ncnc2: %s", src["meters2"].Error, sink["influx18"].LastError, src["cnc2"].Error)
			if _, m := get("/metrics", true); !strings.Contains(m, `ganlink_source_connect_failures_total{reason="login_refused",source="cnc2"}`) {
				t.Errorf("/metrics does not count the refused OPC UA login")
			}
			if _, m := get("/metrics", true); !strings.Contains(m, `ganlink_source_connect_failures_total{reason="login_refused",source="meters2"}`) {
				t.Errorf("/metrics does not count the refused MQTT login")
			}
			if src["cnc"].Security != "Aes256_Sha256_RsaPss/SignAndEncrypt" {
				t.Errorf("cnc security %q, want Aes256_Sha256_RsaPss/SignAndEncrypt", src["cnc"].Security)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway did not reach the expected state: %+v %+v\n%s", st.Sources, st.Sinks, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}

	for _, p := range []string{"/", "/api/status", "/metrics", "/healthz", "/readyz", "/nope"} {
		for _, auth := range []bool{true, false} {
			code, body := get(p, auth)
			outputs = append(outputs, fmt.Sprintf("GET %s (auth %v): %d\n%s", p, auth, code, body))
			if !auth && code != http.StatusUnauthorized {
				t.Errorf("GET %s without credentials: %d, want 401", p, code)
			}
		}
	}
	stat, _ := json.Marshal(a.Status())
	outputs = append(outputs, string(stat))

	stop()
	stopped = true
	err = <-runErr
	outputs = append(outputs, fmt.Sprint(err), logs.String())

	// A configuration whose URLs carry the secrets is refused without showing them.
	bad := strings.Replace(yml, "broker: "+broker.URL, "broker: ssl://gw:"+secretMQTT+"@127.0.0.1:1", 1)
	bad = strings.Replace(bad, "url: "+vm.URL, "url: ftp://gw:"+secretVMToken+"@127.0.0.1:1", 1)
	if _, err := config.Load([]byte(bad), lookup, app.Kinds()); err == nil {
		t.Fatal("configuration with credentials in URLs accepted")
	} else {
		outputs = append(outputs, err.Error())
	}
	// Building with a sink that cannot be built returns an error without its token.
	cfg2, err := config.Load([]byte(yml), lookup, app.Kinds())
	if err != nil {
		t.Fatal(err)
	}
	cfg2.Sinks.Influx[1].URL = "http://gw:" + secretInfluxWrong + "@127.0.0.1:1/%zz"
	if _, err := app.Build(cfg2, log, app.Options{}); err == nil {
		t.Fatal("Build accepted a broken sink URL")
	} else {
		outputs = append(outputs, err.Error())
	}

	for i, out := range outputs {
		if found := leaks(out); len(found) > 0 {
			t.Errorf("output %d contains secrets %q:\n%s", i, found, tail(out, 4000))
		}
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"source down\" source=meters2") {
		t.Errorf("no warning for the refused login:\n%s", tail(logs.String(), 4000))
	}
}

// tlsPublisher connects a paho client to a TLS broker.
func tlsPublisher(t *testing.T, broker, caFile, user, pass string) paho.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	o := paho.NewClientOptions().AddBroker(broker).SetTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}).
		SetUsername(user).SetPassword(pass).SetClientID("secrets-test-publisher").SetCleanSession(true).
		SetAutoReconnect(false).SetProtocolVersion(4)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect publisher: %v", errors.Join(tok.Error()))
	}
	t.Cleanup(func() { c.Disconnect(250) })
	return c
}
