package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mb "github.com/simonvetter/modbus"

	"github.com/ganlink/ganlink/adapters/dlt645"
	"github.com/ganlink/ganlink/adapters/opcua/pki"
	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/commission"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/internal/devsim"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// commissionGateway builds and runs a gateway from the YAML after the workshop,
// admin and queue sections, and returns its admin URL and registry-backed /metrics.
func commissionGateway(t *testing.T, rest string) string {
	t.Helper()
	dir := t.TempDir()
	if !strings.Contains(rest, "devices:") {
		rest += "devices:\n  - {id: old1, kind: machine}\n" // the inventory may not be empty
	}
	yml := fmt.Sprintf("workshop: {region: \"360100\", park: p1, enterprise: e1, workshop: ws1}\nadmin: {listen: \"127.0.0.1:0\", token: \""+commissionToken+"\"}\nqueue: {dir: %q}\npki: {dir: %q, application_uri: \"urn:ganlink:test:commission\"}\n%s",
		filepath.Join(dir, "queue"), filepath.Join(dir, "pki"), rest)
	cfg, err := config.Load([]byte(yml), func(string) (string, bool) { return "", false }, app.Kinds())
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Build(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + a.AdminAddr()
}

// commissionToken is the admin bearer token of the test gateways: an engineer's, and
// exempt from CSRF tokens.
const commissionToken = "commission-test-token-0123456789"

// post sends a JSON body as the engineer of commissionToken and returns the status and
// the body.
func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+commissionToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// canon re-indents a JSON text, for comparisons that show a readable diff.
func canon(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, s)
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// dropTimes sets every "source_time" and "last_seen" that is set to "T", after checking
// that it is a time within the last minute.
func dropTimes(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, s)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if (k == "source_time" || k == "last_seen") && e != nil {
					tm, err := time.Parse(time.RFC3339Nano, e.(string))
					if err != nil || time.Since(tm) > time.Hour || time.Since(tm) < -time.Minute {
						t.Errorf("%s %v: want a time of the last hour", k, e)
					}
					x[k] = "T"
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func metric(t *testing.T, base, name string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+commissionToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name+"{") && !strings.HasSuffix(l, " 0") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

const (
	vendorNS = "urn:ganlink:testsrv:machines"
	mtNS     = "http://opcfoundation.org/UA/MachineTool/"
)

// TestCommissionOPCUABrowseReadSuggest: against the node-opcua MachineTool server, a
// configured source is browsed by name (values, types, statuses, source times, browse
// paths and suggested roles of M1's spindle), a device mapped from those browse paths
// is read once with one bad signal among good ones, the suggestion for the machine's
// standard nodes is the one `gateway browse -emit-config` makes, and the request
// counter counts each call.
func TestCommissionOPCUABrowseReadSuggest(t *testing.T) {
	srv := testsrv.StartMachineTool(t, testsrv.MachineToolOptions{Parts: 40})
	base := commissionGateway(t, fmt.Sprintf(`sources:
  opcua:
    - {name: cnc, endpoint: %q, security_policy: None}
`, srv.URL))

	st, body := post(t, base+"/api/commission/opcua/browse", `{"source":"cnc","node":"nsu=`+mtNS+`;s=M1.Spindle"}`)
	if st != 200 {
		t.Fatalf("browse: %d %s", st, body)
	}
	want := `{
  "browse_start": "nsu=http://opcfoundation.org/UA/MachineTool/;s=M1.Spindle",
  "nodes": [
    {
      "browse_name": "IsRotating",
      "browse_path": "IsRotating",
      "data_type": "Boolean",
      "display_name": "IsRotating",
      "has_children": false,
      "node_class": "Variable",
      "node_id": "nsu=http://opcfoundation.org/UA/MachineTool/;s=M1.Spindle.IsRotating",
      "parent": "nsu=http://opcfoundation.org/UA/MachineTool/;s=M1.Spindle",
      "source_time": "T",
      "status": "Good",
      "suggested_role": "",
      "value": "true"
    },
    {
      "browse_name": "Override",
      "browse_path": "Override",
      "data_type": "Double",
      "display_name": "Override",
      "has_children": false,
      "node_class": "Variable",
      "node_id": "nsu=http://opcfoundation.org/UA/MachineTool/;s=M1.Spindle.Override",
      "parent": "nsu=http://opcfoundation.org/UA/MachineTool/;s=M1.Spindle",
      "source_time": "T",
      "status": "Good",
      "suggested_role": "",
      "value": "100"
    },
    {
      "browse_name": "ActSpeed",
      "browse_path": "nsu=urn:ganlink:testsrv:machines;ActSpeed",
      "data_type": "Double",
      "display_name": "ActSpeed",
      "has_children": false,
      "node_class": "Variable",
      "node_id": "nsu=urn:ganlink:testsrv:machines;s=M1.Spindle.ActSpeed",
      "parent": "nsu=http://opcfoundation.org/UA/MachineTool/;s=M1.Spindle",
      "source_time": "T",
      "status": "Good",
      "suggested_role": "spindle_speed_rpm",
      "value": "1200.5"
    }
  ],
  "security": "None/None",
  "start": "nsu=http://opcfoundation.org/UA/MachineTool/;s=M1.Spindle",
  "truncated": false
}`
	if got := dropTimes(t, body); got != want {
		t.Errorf("browse answer:\n%s\nwant:\n%s", got, want)
	}

	// One level below Machines: has_children tells the page which nodes expand.
	st, body = post(t, base+"/api/commission/opcua/browse", `{"source":"cnc","node":"nsu=http://opcfoundation.org/UA/Machinery/;i=1001","max_nodes":2}`)
	if st != 200 || !strings.Contains(body, `"browse_name":"M1","display_name":"M1","node_class":"Object","data_type":"","value":"","status":"","source_time":null,"has_children":true`) ||
		!strings.Contains(body, `"truncated":true`) {
		t.Errorf("browse of Machines with max_nodes 2: %d %s", st, body)
	}

	// The whole tree below Objects, with a glob: the matching nodes and their ancestors.
	start := time.Now()
	st, body = post(t, base+"/api/commission/opcua/browse", `{"source":"cnc","depth":6,"match":"ActSpeed"}`)
	took := time.Since(start)
	var full commission.BrowseResponse
	if err := json.Unmarshal([]byte(body), &full); err != nil || st != 200 || full.Truncated {
		t.Fatalf("browse with match: %d %.300s", st, body)
	}
	var paths []string
	for _, n := range full.Nodes {
		if n.NodeClass == "Variable" {
			paths = append(paths, n.BrowsePath+" "+n.Value+" "+n.SuggestedRole)
		}
	}
	if got, want := strings.Join(paths, "\n"), "Objects/nsu=http://opcfoundation.org/UA/Machinery/;Machines/nsu=urn:ganlink:testsrv:machines;M1/nsu=http://opcfoundation.org/UA/MachineTool/;Monitoring/Spindle/nsu=urn:ganlink:testsrv:machines;ActSpeed 1200.5 spindle_speed_rpm\n"+
		"Objects/nsu=http://opcfoundation.org/UA/Machinery/;Machines/nsu=urn:ganlink:testsrv:machines;M2/nsu=http://opcfoundation.org/UA/MachineTool/;Monitoring/Spindle/nsu=urn:ganlink:testsrv:machines;ActSpeed 0 spindle_speed_rpm"; got != want {
		t.Errorf("variables matching ActSpeed:\n%s\nwant:\n%s", got, want)
	}
	t.Logf("browse of Objects 6 levels deep with match: %s, %d nodes shown", took.Round(time.Millisecond), len(full.Nodes))

	// Read once: the device as the page maps it, with a node that does not exist.
	dev := `{"device":{"id":"m1","kind":"cnc","source":"cnc","signals":{
	  "spindle_speed_rpm":{"browse_path":"Objects/nsu=http://opcfoundation.org/UA/Machinery/;Machines/nsu=` + vendorNS + `;M1/nsu=http://opcfoundation.org/UA/MachineTool/;Monitoring/Spindle/nsu=` + vendorNS + `;ActSpeed","scale":2},
	  "parts_total":{"node":"nsu=` + mtNS + `;s=M1.PartsProducedInLifetime","counter":true},
	  "override":{"node":"nsu=` + vendorNS + `;s=M1.Nothing"}}}}`
	st, body = post(t, base+"/api/commission/read", dev)
	if st != 200 {
		t.Fatalf("read: %d %s", st, body)
	}
	// In the configuration's order of signals (by name).
	want = `{
  "device": "m1",
  "signals": [
    {
      "error": "read node \"nsu=urn:ganlink:testsrv:machines;s=M1.Nothing\" of signal \"override\" on \"` + srv.URL + `\": The node id refers to a node that does not exist in the server address space. StatusBadNodeIDUnknown (0x80340000)",
      "field": "override",
      "quality": "bad",
      "source_time": null,
      "status": "BadNodeIDUnknown",
      "value": null
    },
    {
      "error": "",
      "field": "parts_total",
      "quality": "good",
      "source_time": "T",
      "status": "Good",
      "value": 40
    },
    {
      "error": "",
      "field": "spindle_speed_rpm",
      "quality": "good",
      "source_time": "T",
      "status": "Good",
      "value": 2401
    }
  ]
}`
	if got := dropTimes(t, body); got != want {
		t.Errorf("read answer:\n%s\nwant:\n%s", got, want)
	}

	// An invalid mapping is refused with the configuration's message.
	st, body = post(t, base+"/api/commission/read", `{"device":{"id":"m1","kind":"cnc","source":"cnc","signals":{"x":{"node":"ns=2;x=1"},"parts_total":{"node":"ns=2;s=P"}}}}`)
	if want := `{"error":"device.signals.x.node: invalid node id \"ns=2;x=1\""}` + "\n"; st != 400 || body != want {
		t.Errorf("read of an invalid device: %d %s\nwant 400 %s", st, body, want)
	}

	st, body = post(t, base+"/api/commission/suggest", `{"nodes":[
	  {"browse_name":"PartsProducedInLifetime","browse_path":"Objects/Machines/M1/Monitoring/MachineTool/OperationCounters/PartsProducedInLifetime","data_type":"UInt64"},
	  {"browse_path":"Objects/Machines/M1/Monitoring/Spindle/ActSpeed","data_type":"Double"},
	  {"browse_path":"Objects/Machines/M1/Monitoring/Channel1/ChannelState","data_type":"Int32"},
	  {"browse_path":"Objects/Machines/M1/Monitoring/Spindle/Override","data_type":"Double"},
	  {"browse_name":"MachineryItemState","data_type":"LocalizedText"},
	  {"browse_path":"Objects/Machines/M2/Monitoring/MachineTool/OperationCounters/PartsProducedInLifetime","data_type":"UInt64"}]}`)
	want = `{"signals":[{"field":"parts_total","role":"parts_total","counter":true,"unit":"","browse_path":"Objects/Machines/M1/Monitoring/MachineTool/OperationCounters/PartsProducedInLifetime"},` +
		`{"field":"spindle_speed_rpm","role":"spindle_speed_rpm","counter":false,"unit":"","browse_path":"Objects/Machines/M1/Monitoring/Spindle/ActSpeed"},` +
		`{"field":"channel_state","role":"channel_state","counter":false,"unit":"","browse_path":"Objects/Machines/M1/Monitoring/Channel1/ChannelState"},` +
		`{"field":"override","role":"","counter":false,"unit":"","browse_path":"Objects/Machines/M1/Monitoring/Spindle/Override"},` +
		`{"field":"machinery_item_state","role":"","counter":false,"unit":"","browse_path":""},` +
		`{"field":"parts_produced_in_lifetime","role":"","counter":false,"unit":"","browse_path":"Objects/Machines/M2/Monitoring/MachineTool/OperationCounters/PartsProducedInLifetime"}],"class":"equipment"}` + "\n"
	if st != 200 || body != want {
		t.Errorf("suggest: %d %s\nwant %s", st, body, want)
	}

	for _, c := range []struct{ path, body, want string }{
		{"opcua/browse", `{"source":"nope"}`, `404 {"error":"unknown opcua source \"nope\": configured are \"cnc\""}`},
		{"opcua/browse", `{"source":"cnc","depth":11}`, `400 {"error":"depth: 11: want 0 to 10"}`},
		{"opcua/browse", `{"source":"cnc","max_nodes":5001}`, `400 {"error":"max_nodes: 5001: want 1 to 5000"}`},
		{"opcua/browse", `{"source":"cnc","node":"ns=2;x=1"}`, `400 {"error":"node: invalid node id \"ns=2;x=1\""}`},
		{"opcua/browse", `{"source":"cnc","timeout":"61s"}`, `400 {"error":"timeout: invalid duration \"61s\": want e.g. \"10s\", at most 1m0s"}`},
		{"opcua/browse", `{"source":"cnc","depth":"x"}`, `400 {"error":"depth: want a int, got a JSON string"}`},
		{"opcua/browse", `{"sauce":"cnc"}`, `400 {"error":"sauce: unknown field"}`},
		{"opcua/browse", `{}`, `400 {"error":"source: required: the name of a configured source, or endpoint"}`},
		{"opcua/browse", `{"endpoint":"opc.tcp://127.0.0.1:1","security_policy":"None","timeout":"2s"}`, ``},
		{"pki/trust", `{"thumbprint":"abc"}`, `400 {"error":"thumbprint: \"abc\": want the 40 hex digits of a SHA-1 thumbprint"}`},
	} {
		st, body := post(t, base+"/api/commission/"+c.path, c.body)
		got := fmt.Sprintf("%d %s", st, strings.TrimSpace(body))
		if c.want == "" { // a server that is not there: 502 naming the endpoint
			if st != 502 || !strings.Contains(body, "opc.tcp://127.0.0.1:1") {
				t.Errorf("%s %s: %s, want 502 naming the endpoint", c.path, c.body, got)
			}
			continue
		}
		if got != c.want {
			t.Errorf("%s %s:\n got %s\nwant %s", c.path, c.body, got, c.want)
		}
	}
	wantMetrics := `ganlink_commission_requests_total{operation="opcua_browse",result="bad_request"} 7
ganlink_commission_requests_total{operation="opcua_browse",result="device_failed"} 1
ganlink_commission_requests_total{operation="opcua_browse",result="not_found"} 1
ganlink_commission_requests_total{operation="opcua_browse",result="ok"} 3
ganlink_commission_requests_total{operation="pki_trust",result="bad_request"} 1
ganlink_commission_requests_total{operation="read",result="bad_request"} 1
ganlink_commission_requests_total{operation="read",result="ok"} 1
ganlink_commission_requests_total{operation="suggest",result="ok"} 1`
	if got := metric(t, base, "ganlink_commission_requests_total"); got != wantMetrics {
		t.Errorf("metrics:\n%s\nwant:\n%s", got, wantMetrics)
	}
}

// TestCommissionOPCUAUntrustedThenTrust: a server whose certificate the gateway does
// not trust is refused with 409 and the certificate's thumbprint, subject, expiry and
// file in rejected/; trusting that thumbprint moves it to trusted/ and the same browse
// then succeeds over Basic256Sha256.
func TestCommissionOPCUAUntrustedThenTrust(t *testing.T) {
	dir := t.TempDir()
	store := &pki.Store{Dir: filepath.Join(dir, "pki")}
	own, err := store.LoadOrCreate(pki.OwnOptions{ApplicationURI: "urn:ganlink:test:commission", CommonName: "Ganlink gateway ws1"})
	if err != nil {
		t.Fatal(err)
	}
	srv := testsrv.StartMachineTool(t, testsrv.MachineToolOptions{Policies: []string{"Basic256Sha256"}, NoNone: true,
		TrustedClients: [][]byte{own.DER}})
	yml := fmt.Sprintf("workshop: {region: \"360100\", park: p1, enterprise: e1, workshop: ws1}\nadmin: {listen: \"127.0.0.1:0\", token: \""+commissionToken+"\"}\nqueue: {dir: %q}\npki: {dir: %q, application_uri: \"urn:ganlink:test:commission\"}\ndevices:\n  - {id: old1, kind: machine}\n",
		filepath.Join(dir, "queue"), store.Dir)
	cfg, err := config.Load([]byte(yml), func(string) (string, bool) { return "", false }, app.Kinds())
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Build(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	base := "http://" + a.AdminAddr()

	req := `{"endpoint":"` + srv.URL + `","security_policy":"Basic256Sha256","security_mode":"SignAndEncrypt","node":"nsu=` + mtNS + `;s=M1.Spindle"}`
	st, body := post(t, base+"/api/commission/opcua/browse", req)
	der := srv.ServerCertificate()
	thumb := pki.Thumbprint(der)
	var got struct {
		Error       string `json:"error"`
		Certificate struct {
			Thumbprint, Subject, File string
			NotAfter                  time.Time `json:"not_after"`
		} `json:"certificate"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || st != 409 {
		t.Fatalf("browse of an untrusted server: %d %s", st, body)
	}
	files, _ := filepath.Glob(filepath.Join(store.Dir, "rejected", "*.der"))
	if len(files) != 1 {
		t.Fatalf("rejected/: %v", files)
	}
	c, _ := pki.ReadCertificate(files[0])
	in := pki.Describe(c)
	if got.Certificate.Thumbprint != thumb || got.Certificate.File != "rejected/"+filepath.Base(files[0]) ||
		got.Certificate.Subject != in.Subject || !got.Certificate.NotAfter.Equal(in.NotAfter) {
		t.Errorf("409 certificate %+v, want thumbprint %s file rejected/%s subject %s not_after %s", got.Certificate, thumb,
			filepath.Base(files[0]), in.Subject, in.NotAfter)
	}
	wantErr := fmt.Sprintf("server certificate not trusted: server %s certificate %q (application URI %q, thumbprint %s) was copied to %s; after comparing the thumbprint with the server's, trust it with: gateway pki trust %s",
		srv.URL, in.Subject, in.ApplicationURI, thumb, files[0], files[0])
	if got.Error != wantErr {
		t.Errorf("409 error:\n%s\nwant\n%s", got.Error, wantErr)
	}

	// The read of a device on that server is refused the same way.
	readReq := `{"source":{"kind":"opcua","endpoint":"` + srv.URL + `","security_policy":"Basic256Sha256","security_mode":"SignAndEncrypt"},` +
		`"device":{"id":"m1","kind":"cnc","source":"new","signals":{"spindle_speed_rpm":{"node":"nsu=` + vendorNS + `;s=M1.Spindle.ActSpeed"}}}}`
	st, body = post(t, base+"/api/commission/read", readReq)
	if st != 409 || !strings.Contains(body, `"thumbprint":"`+thumb+`"`) {
		t.Errorf("read from an untrusted server: %d %s, want 409 with thumbprint %s", st, body, thumb)
	}

	st, body = post(t, base+"/api/commission/pki/trust", `{"thumbprint":"`+strings.ToLower(thumb)+`"}`)
	if want := `{"trusted":"trusted/` + filepath.Base(files[0]) + `"}` + "\n"; st != 200 || body != want {
		t.Fatalf("trust: %d %s, want 200 %s", st, body, want)
	}
	if _, err := os.Stat(files[0]); !os.IsNotExist(err) {
		t.Errorf("%s still in rejected/: %v", files[0], err)
	}
	// The trust is in the audit log: who (the token's engineer), what, which file.
	areq, _ := http.NewRequest(http.MethodGet, base+"/api/audit?limit=1", nil)
	areq.Header.Set("Authorization", "Bearer "+commissionToken)
	ares, err := http.DefaultClient.Do(areq)
	if err != nil {
		t.Fatal(err)
	}
	ab, _ := io.ReadAll(ares.Body)
	ares.Body.Close()
	var audit []map[string]any
	if err := json.Unmarshal(ab, &audit); err != nil || len(audit) != 1 {
		t.Fatalf("audit: %d %s", ares.StatusCode, ab)
	}
	if e := audit[0]; e["action"] != "pki.trust" || e["target"] != thumb || e["diff"] != "trusted/"+filepath.Base(files[0]) ||
		e["result"] != "ok" || e["role"] != "engineer" {
		t.Errorf("audit entry %v, want action pki.trust, target %s, diff trusted/%s, result ok, role engineer", e, thumb, filepath.Base(files[0]))
	}
	// Without credentials the admin server refuses the trust (and every commissioning call).
	if res, err := http.Post(base+"/api/commission/pki/trust", "application/json", strings.NewReader(`{"thumbprint":"`+thumb+`"}`)); err != nil {
		t.Fatal(err)
	} else if res.Body.Close(); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("trust without credentials: %d, want 401", res.StatusCode)
	}
	st, body = post(t, base+"/api/commission/pki/trust", `{"thumbprint":"`+thumb+`"}`)
	if want := fmt.Sprintf(`{"error":"no rejected certificate with thumbprint %s in %s"}`+"\n", thumb, filepath.Join(store.Dir, "rejected")); st != 404 || body != want {
		t.Errorf("second trust: %d %s, want 404 %s", st, body, want)
	}

	st, body = post(t, base+"/api/commission/opcua/browse", req)
	if st != 200 || !strings.Contains(body, `"security":"Basic256Sha256/SignAndEncrypt"`) || !strings.Contains(body, `"value":"1200.5"`) {
		t.Errorf("browse after trust: %d %s", st, body)
	}
	st, body = post(t, base+"/api/commission/read", readReq)
	if st != 200 || !strings.Contains(body, `{"field":"spindle_speed_rpm","value":1200.5,"quality":"good","status":"Good"`) {
		t.Errorf("read after trust: %d %s", st, body)
	}
}

// TestCommissionMQTTSniff: topics published on mosquitto while the sniff listens come
// back with their message counts, newest payload and its paths with types and values;
// a non-JSON payload is text, a bare number "number", a payload above 4 KiB is cut.
func TestCommissionMQTTSniff(t *testing.T) {
	broker := testsrv.StartMosquitto(t)
	base := commissionGateway(t, fmt.Sprintf("sources:\n  mqtt:\n    - {name: meters, broker: %q}\n", broker.URL))

	pub := paho.NewClient(paho.NewClientOptions().AddBroker(broker.URL).SetClientID("commission-test-pub"))
	if tok := pub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(700 * time.Millisecond) // the sniff subscribes first
		for _, m := range []struct{ topic, payload string }{
			{"plant/em1", `{"kwh": 12.5, "v": [230.1, 231], "meta": {"id": "em-1", "ok": true, "x": null}, "a.b": 1}`},
			{"plant/em1", `{"kwh": 12.75, "v": [230.1, 231], "meta": {"id": "em-1", "ok": true, "x": null}, "a.b": 1}`},
			{"plant/flow", `3.25`},
			{"plant/text", `{"broken": `},
			{"plant/big", `{"s":"` + strings.Repeat("x", 5000) + `"}`},
			{"other/x", `1`},
		} {
			pub.Publish(m.topic, 0, false, m.payload).Wait()
		}
	}()
	st, body := post(t, base+"/api/commission/mqtt/sniff", `{"source":"meters","filter":"plant/#","seconds":2}`)
	wg.Wait()
	if st != 200 {
		t.Fatalf("sniff: %d %s", st, body)
	}
	var res struct {
		Topics []map[string]any `json:"topics"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	for _, tp := range res.Topics {
		if tp["topic"] == "plant/big" {
			s := tp["sample"].(string)
			if len(s) != 4096 || tp["sample_truncated"] != true {
				t.Errorf("plant/big sample of %d bytes, truncated %v: want 4096, true", len(s), tp["sample_truncated"])
			}
			tp["sample"] = "(4096 bytes)"
		}
	}
	b, _ := json.Marshal(res)
	want := `{
  "topics": [
    {
      "format": "json",
      "last_seen": "T",
      "messages": 1,
      "paths": [
        {
          "path": "s",
          "type": "string",
          "value": "` + strings.Repeat("x", 200) + `…"
        }
      ],
      "sample": "(4096 bytes)",
      "sample_truncated": true,
      "topic": "plant/big"
    },
    {
      "format": "json",
      "last_seen": "T",
      "messages": 2,
      "paths": [
        {
          "path": "kwh",
          "type": "number",
          "value": 12.5
        },
        {
          "path": "v.0",
          "type": "number",
          "value": 230.1
        },
        {
          "path": "v.1",
          "type": "number",
          "value": 231
        },
        {
          "path": "meta.id",
          "type": "string",
          "value": "em-1"
        },
        {
          "path": "meta.ok",
          "type": "boolean",
          "value": true
        },
        {
          "path": "meta.x",
          "type": "null",
          "value": null
        }
      ],
      "sample": "{\"kwh\": 12.75, \"v\": [230.1, 231], \"meta\": {\"id\": \"em-1\", \"ok\": true, \"x\": null}, \"a.b\": 1}",
      "sample_truncated": false,
      "topic": "plant/em1"
    },
    {
      "format": "number",
      "last_seen": "T",
      "messages": 1,
      "paths": [],
      "sample": "3.25",
      "sample_truncated": false,
      "topic": "plant/flow"
    },
    {
      "error": "not JSON: unexpected end of JSON input",
      "format": "text",
      "last_seen": "T",
      "messages": 1,
      "paths": [],
      "sample": "{\"broken\": ",
      "sample_truncated": false,
      "topic": "plant/text"
    }
  ]
}`
	if got := dropTimes(t, string(b)); got != want {
		t.Errorf("sniff answer:\n%s\nwant:\n%s", got, want)
	}
	for _, c := range []struct{ body, want string }{
		{`{"source":"meters","seconds":31}`, `400 {"error":"seconds: 31: want 1 to 30"}`},
		{`{"source":"meters","filter":"a/#/b","seconds":1}`, `400 {"error":"filter: invalid topic \"a/#/b\": '+' and '#' must fill a whole level, '#' only last"}`},
		{`{"source":"nope"}`, `404 {"error":"unknown mqtt source \"nope\": configured are \"meters\""}`},
	} {
		st, body := post(t, base+"/api/commission/mqtt/sniff", c.body)
		if got := fmt.Sprintf("%d %s", st, strings.TrimSpace(body)); got != c.want {
			t.Errorf("sniff %s:\n got %s\nwant %s", c.body, got, c.want)
		}
	}
}

// unitBank is a meterBank whose other units are absent behind a Modbus TCP gateway.
type unitBank struct{ meterBank }

func (b *unitBank) HandleHoldingRegisters(req *mb.HoldingRegistersRequest) ([]uint16, error) {
	if req.UnitId != 1 {
		return nil, mb.ErrGWTargetFailedToRespond
	}
	return nil, mb.ErrIllegalFunction
}

// TestCommissionModbusScanRead: a Modbus TCP server with a meter on unit 1 is found by
// the scan of a new endpoint (with its template), and a device mapped on it reads once
// through the source's decoding and scaling, with an unreadable register as its own
// error line.
func TestCommissionModbusScanRead(t *testing.T) {
	bank := &unitBank{meterBank{regs: map[uint16]uint16{}}}
	bank.setFloat(0x0000, 230.5)
	bank.setFloat(0x0034, 12345)
	port := testsrv.FreePort(t)
	srv, err := mb.NewServer(&mb.ServerConfiguration{URL: fmt.Sprintf("tcp://127.0.0.1:%d", port),
		Timeout: 30 * time.Second, MaxClients: 4}, bank)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	endpoint := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	base := commissionGateway(t, fmt.Sprintf("sources:\n  modbus:\n    - {name: rs485, endpoint: %q, timeout: 1s}\n", endpoint))

	st, body := post(t, base+"/api/commission/modbus/scan", `{"endpoint":"`+endpoint+`","units":"1-3"}`)
	want := `{"protocol":"modbus","endpoint":"` + endpoint + `","first":1,"last":3,"units":[{"unit":1,"answer":"modbus exception 1 (illegal function)","garbled":false,"template":"sdm630","voltage":230.5}],"meters":[],"complete":true}` + "\n"
	if st != 200 || body != want {
		t.Errorf("scan: %d %s\nwant %s", st, body, want)
	}
	st, body = post(t, base+"/api/commission/modbus/scan", `{"source":"rs485","units":"300"}`)
	if want := `{"error":"units: \"300\": want FIRST-LAST within 0..255, e.g. 1-247"}` + "\n"; st != 400 || body != want {
		t.Errorf("scan with bad units: %d %s\nwant %s", st, body, want)
	}

	st, body = post(t, base+"/api/commission/read", `{"device":{"id":"em1","kind":"energy_meter","source":"rs485","unit_id":1,"signals":{
	  "voltage_l1_v":{"register":{"area":"input","address":0,"type":"float32"}},
	  "power_kw":{"register":{"area":"input","address":52,"type":"float32"},"scale":0.001},
	  "energy_kwh_total":{"register":{"area":"input","address":200,"type":"float32"},"counter":true}}}}`)
	if st != 200 {
		t.Fatalf("read: %d %s", st, body)
	}
	var res struct {
		Signals []struct {
			Field, Quality, Status, Error string
			Value                         *float64
		}
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, s := range res.Signals {
		v := "null"
		if s.Value != nil {
			v = fmt.Sprint(math.Round(*s.Value*1e6) / 1e6)
		}
		lines = append(lines, fmt.Sprintf("%s=%s %s %s %q", s.Field, v, s.Quality, s.Status, s.Error))
	}
	// In the configuration's order of signals (by name).
	wantLines := `energy_kwh_total=null bad modbus_exception "read signal \"energy_kwh_total\" of device \"em1\" at input register 200 (unit 1, read 200..201): modbus exception 2 (illegal data address)"
power_kw=12.345 good Good ""
voltage_l1_v=230.5 good Good ""`
	if got := strings.Join(lines, "\n"); got != wantLines {
		t.Errorf("read:\n%s\nwant:\n%s", got, wantLines)
	}
}

// TestCommissionBusy: a second operation on the same source while one runs is refused
// with 429 and counted as busy; another source is not held up.
func TestCommissionBusy(t *testing.T) {
	broker := testsrv.StartMosquitto(t)
	base := commissionGateway(t, fmt.Sprintf("sources:\n  mqtt:\n    - {name: meters, broker: %q}\n    - {name: water, broker: %q}\n", broker.URL, broker.URL))
	done := make(chan string, 1)
	go func() {
		st, body := post(t, base+"/api/commission/mqtt/sniff", `{"source":"meters","seconds":2}`)
		done <- fmt.Sprintf("%d %s", st, body)
	}()
	time.Sleep(500 * time.Millisecond)
	st, body := post(t, base+"/api/commission/mqtt/sniff", `{"source":"meters","seconds":1}`)
	if want := `{"error":"a commissioning operation on source \"meters\" is running: one at a time per source; retry when it ends"}` + "\n"; st != 429 || body != want {
		t.Errorf("second sniff: %d %s\nwant 429 %s", st, body, want)
	}
	if st, body := post(t, base+"/api/commission/mqtt/sniff", `{"source":"water","seconds":1}`); st != 200 {
		t.Errorf("sniff of another source: %d %s", st, body)
	}
	if got := <-done; !strings.HasPrefix(got, "200 ") {
		t.Errorf("first sniff: %s", got)
	}
	if got, want := metric(t, base, "ganlink_commission_requests_total"), `ganlink_commission_requests_total{operation="mqtt_sniff",result="busy"} 1
ganlink_commission_requests_total{operation="mqtt_sniff",result="ok"} 2`; got != want {
		t.Errorf("metrics:\n%s\nwant:\n%s", got, want)
	}
	_ = bytes.MinRead
}

// TestCommissionGopcuaMachineReadEqualsEmit: against the simulator's machine tools on
// gopcua's in-process server, the browse of a machine suggests the roles
// `gateway browse -emit-config` gives, and the values the read-once API returns for a
// configured device equal the ones the running gateway emits for it (the same
// conversion, scale included); a text variable without a map is its own error line.
func TestCommissionGopcuaMachineReadEqualsEmit(t *testing.T) {
	sim, err := devsim.New(devsim.Config{Machines: 1, Seed: 5, Start: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testsrv.FreePort(t))
	sctx, scancel := context.WithCancel(context.Background())
	serr := make(chan error, 1)
	go func() { serr <- sim.ServeOPCUA(sctx, addr) }()
	t.Cleanup(func() { scancel(); <-serr })
	wctx, wcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer wcancel()
	if err := sim.WaitOPCUA(wctx, addr); err != nil {
		t.Fatal(err)
	}
	node := func(name string) string { return fmt.Sprintf("nsu=%s;s=M1.%s", devsim.Namespace, name) }
	device := fmt.Sprintf(`{"id":"m1","kind":"cnc","source":"sim","signals":{
	  "machinery_item_state":{"node":%q},
	  "parts_total":{"node":%q,"counter":true},
	  "spindle_speed_rpm":{"node":%q,"scale":0.5},
	  "alarm":{"node":%q},
	  "program":{"node":%q}}}`, node("MachineryItemState"), node("PartsProducedInLifetime"), node("SpindleSpeed"), node("Alarm"), node("ActiveProgram"))
	var dev map[string]any
	if err := json.Unmarshal([]byte(device), &dev); err != nil {
		t.Fatal(err)
	}
	devYAML, _ := json.Marshal([]any{dev}) // JSON is YAML
	dir := t.TempDir()
	yml := fmt.Sprintf("workshop: {region: \"360100\", park: p1, enterprise: e1, workshop: ws1}\nadmin: {listen: \"127.0.0.1:0\", token: \""+commissionToken+"\"}\nqueue: {dir: %q}\n"+
		"sources:\n  opcua:\n    - {name: sim, endpoint: \"opc.tcp://%s\", security_policy: None}\ndevices: %s\n", filepath.Join(dir, "queue"), addr, devYAML)
	cfg, err := config.Load([]byte(yml), func(string) (string, bool) { return "", false }, app.Kinds())
	if err != nil {
		t.Fatal(err)
	}
	emitted := &lastValues{vals: map[string]float64{}}
	a, err := app.Build(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{Processors: []app.Processor{emitted}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	base := "http://" + a.AdminAddr()

	st, body := post(t, base+"/api/commission/opcua/browse", `{"source":"sim","node":"nsu=`+devsim.Namespace+`;s=M1"}`)
	if st != 200 {
		t.Fatalf("browse: %d %s", st, body)
	}
	var br struct {
		Nodes []struct {
			BrowseName    string `json:"browse_name"`
			DataType      string `json:"data_type"`
			BrowsePath    string `json:"browse_path"`
			SuggestedRole string `json:"suggested_role"`
		}
	}
	if err := json.Unmarshal([]byte(body), &br); err != nil {
		t.Fatal(err)
	}
	var got []string
	var nodes []map[string]string
	for _, n := range br.Nodes {
		got = append(got, fmt.Sprintf("%s %s %s %q", n.BrowseName, n.DataType, n.BrowsePath, n.SuggestedRole))
		nodes = append(nodes, map[string]string{"browse_name": n.BrowseName, "browse_path": n.BrowsePath, "data_type": n.DataType})
	}
	want := `MachineryItemState UInt32 MachineryItemState "machinery_item_state"
MachineryOperationMode UInt32 MachineryOperationMode "operation_mode"
ChannelState Int32 ChannelState "channel_state"
PartsProducedInLifetime UInt32 PartsProducedInLifetime "parts_total"
SpindleSpeed Double SpindleSpeed "spindle_speed_rpm"
FeedOverride Double FeedOverride ""
ActiveProgram String ActiveProgram ""
Alarm Boolean Alarm "alarm"`
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("browse of M1:\n%s\nwant:\n%s", g, want)
	}
	sb, _ := json.Marshal(map[string]any{"nodes": nodes})
	st, body = post(t, base+"/api/commission/suggest", string(sb))
	if want := `{"signals":[{"field":"machinery_item_state","role":"machinery_item_state","counter":false,"unit":"","browse_path":"MachineryItemState"},` +
		`{"field":"operation_mode","role":"operation_mode","counter":false,"unit":"","browse_path":"MachineryOperationMode"},` +
		`{"field":"channel_state","role":"channel_state","counter":false,"unit":"","browse_path":"ChannelState"},` +
		`{"field":"parts_total","role":"parts_total","counter":true,"unit":"","browse_path":"PartsProducedInLifetime"},` +
		`{"field":"spindle_speed_rpm","role":"spindle_speed_rpm","counter":false,"unit":"","browse_path":"SpindleSpeed"},` +
		`{"field":"feed_override","role":"","counter":false,"unit":"","browse_path":"FeedOverride"},` +
		`{"field":"active_program","role":"","counter":false,"unit":"","browse_path":"ActiveProgram"},` +
		`{"field":"alarm","role":"alarm","counter":false,"unit":"","browse_path":"Alarm"}],"class":"equipment"}` + "\n"; st != 200 || body != want {
		t.Errorf("suggest: %d %s\nwant %s", st, body, want)
	}

	fields := []string{"alarm", "machinery_item_state", "parts_total", "spindle_speed_rpm"}
	if msg := testsrv.WaitFor(20*time.Second, func() string {
		emitted.mu.Lock()
		defer emitted.mu.Unlock()
		for _, f := range fields {
			if _, ok := emitted.vals["m1."+f]; !ok {
				return "the gateway has not emitted m1." + f
			}
		}
		return ""
	}); msg != "" {
		t.Fatal(msg)
	}
	st, body = post(t, base+"/api/commission/read", `{"device":`+device+`}`)
	if st != 200 {
		t.Fatalf("read: %d %s", st, body)
	}
	var rr struct {
		Signals []struct {
			Field, Quality, Error string
			Value                 *float64
		}
	}
	if err := json.Unmarshal([]byte(body), &rr); err != nil {
		t.Fatal(err)
	}
	emitted.mu.Lock()
	defer emitted.mu.Unlock()
	got = nil
	for _, s := range rr.Signals {
		if s.Value == nil {
			got = append(got, fmt.Sprintf("%s %s %s", s.Field, s.Quality, s.Error))
			continue
		}
		if e := emitted.vals["m1."+s.Field]; e != *s.Value || s.Quality != "good" || s.Error != "" {
			t.Errorf("%s: read %v %s %q, the gateway emitted %v", s.Field, *s.Value, s.Quality, s.Error, e)
		}
		got = append(got, s.Field)
	}
	want = `alarm
machinery_item_state
parts_total
program bad convert String value of device "m1" field "program" (node "nsu=urn:ganlink:devsim;s=M1.ActiveProgram"): string value "O1012" without map: unsupported value type
spindle_speed_rpm`
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("read:\n%s\nwant:\n%s", g, want)
	}
}

// TestCommissionMQTTRead: a device on a topic with a retained message reads at once
// through the source's decoder (scale applied; a path that is missing and a text
// without a map each get their own error); a device whose topic stays silent gets,
// per signal, the error that no message came within the wait.
func TestCommissionMQTTRead(t *testing.T) {
	broker := testsrv.StartMosquitto(t)
	base := commissionGateway(t, fmt.Sprintf("sources:\n  mqtt:\n    - {name: meters, broker: %q}\n", broker.URL))
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(broker.URL).SetClientID("commission-test-pub2"))
	if tok := pub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	if tok := pub.Publish("plant/em1", 1, true, `{"kwh": 1234.5, "w": 5000, "mode": "run"}`); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	st, body := post(t, base+"/api/commission/read", `{"device":{"id":"em1","kind":"energy_meter","class":"meter","source":"meters","topic":"plant/em1","signals":{
	  "energy_kwh_total":{"path":"kwh","counter":true},
	  "power_kw":{"path":"w","scale":0.001},
	  "voltage_v":{"path":"v"},
	  "mode":{"path":"mode"}}}}`)
	if st != 200 {
		t.Fatalf("read: %d %s", st, body)
	}
	want := `{
  "device": "em1",
  "signals": [
    {
      "error": "",
      "field": "energy_kwh_total",
      "quality": "good",
      "source_time": "T",
      "status": "Good",
      "value": 1234.5
    },
    {
      "error": "decode topic \"plant/em1\" device \"em1\" field \"mode\": path \"mode\": string value \"run\" without map: unsupported value type",
      "field": "mode",
      "quality": "bad",
      "source_time": null,
      "status": "type",
      "value": null
    },
    {
      "error": "",
      "field": "power_kw",
      "quality": "good",
      "source_time": "T",
      "status": "Good",
      "value": 5
    },
    {
      "error": "decode topic \"plant/em1\" device \"em1\" field \"voltage_v\": path \"v\" not found",
      "field": "voltage_v",
      "quality": "bad",
      "source_time": null,
      "status": "missing",
      "value": null
    }
  ]
}`
	if got := dropTimes(t, body); got != want {
		t.Errorf("read:\n%s\nwant:\n%s", got, want)
	}
	st, body = post(t, base+"/api/commission/read", `{"timeout":"2s","device":{"id":"em2","kind":"energy_meter","source":"meters","topic":"plant/silent","signals":{"energy_kwh_total":{"path":"kwh"}}}}`)
	if want := `{"device":"em2","signals":[{"field":"energy_kwh_total","value":null,"quality":"bad","status":"no_message","source_time":null,"error":"no message on topic \"plant/silent\" within 1.5s"}]}` + "\n"; st != 200 || body != want {
		t.Errorf("read of a silent topic: %d %s\nwant %s", st, body, want)
	}
}

// TestCommissionDLT645Scan: the DL/T 645 discovery of `gateway browse -protocol dlt645`
// through the scan endpoint, on simulated meters behind a serial server in transparent
// mode (TCP): the meters given that answer are listed with their data items; an absent
// address is not; a bad address names its index. A meter read once through a source
// sent with the request gives its values and, for an item it refuses, that error.
func TestCommissionDLT645Scan(t *testing.T) {
	var meters []*devsim.DLT645Meter
	for _, a := range []string{"000000000001", "000000000002"} {
		m, err := devsim.NewDLT645Meter(devsim.DLT645MeterConfig{Address: a, BaseKW: 2, EnergyKWh: 1500.25})
		if err != nil {
			t.Fatal(err)
		}
		meters = append(meters, m)
	}
	bus, err := devsim.NewDLT645Bus(nil, meters...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	sdone := make(chan struct{})
	go func() { _ = bus.ServeTCP(sctx, ln); close(sdone) }()
	t.Cleanup(func() { scancel(); <-sdone })
	base := commissionGateway(t, "")
	endpoint := "tcp://" + ln.Addr().String()

	st, body := post(t, base+"/api/commission/modbus/scan", `{"protocol":"dlt645","endpoint":"`+endpoint+`","addresses":["000000000001","000000000002","000000000009"],"unit_timeout":"300ms","timeout":"20s"}`)
	if st != 200 {
		t.Fatalf("scan: %d %s", st, body)
	}
	var res commission.ScanResponse
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range res.Meters {
		var dis []string
		for _, v := range m.Values {
			dis = append(dis, v.DI)
			if v.DI == "00010000" && (math.Abs(v.Value-1500.25) > 0.1 || v.Unit != "kWh") {
				t.Errorf("meter %s total active energy %v %s, want about 1500.25 kWh", m.Address, v.Value, v.Unit)
			}
		}
		got = append(got, fmt.Sprintf("%s %v %s refused %v", m.Address, m.Broadcast, strings.Join(dis, ","), m.Refused))
	}
	want := "000000000001 false 00010000,02010100,02010200,02010300,02020100,02020200,02020300,02030000,02060000,02800002 refused []\n" +
		"000000000002 false 00010000,02010100,02010200,02010300,02020100,02020200,02020300,02030000,02060000,02800002 refused []"
	if g := strings.Join(got, "\n"); g != want || res.Protocol != "dlt645" || res.Endpoint != endpoint || !res.Complete {
		t.Errorf("meters:\n%s\nwant:\n%s\n(%s)", g, want, body)
	}
	// Read once: a new source sent with the device; a data item the meter refuses is
	// its own error line.
	st, body = post(t, base+"/api/commission/read", `{"source":{"kind":"dlt645","endpoint":"`+endpoint+`","response_timeout":"300ms"},
	  "device":{"id":"em-645-1","kind":"energy_meter","class":"meter","source":"m645","address":"000000000001","signals":{
	    "energy_kwh_total":{"di":"00010000","counter":true},"voltage_l1_v":{"di":"02010100"},"reverse_kwh":{"di":"00020000"}}}}`)
	var rr commission.ReadResponse
	if err := json.Unmarshal([]byte(body), &rr); err != nil || st != 200 || len(rr.Signals) != 3 {
		t.Fatalf("read: %d %s", st, body)
	}
	if s := rr.Signals[0]; s.Field != "energy_kwh_total" || s.Value == nil || math.Abs(*s.Value-1500.25) > 0.1 || s.Quality != "good" || s.SourceTime == nil {
		t.Errorf("energy: %+v, want about 1500.25 kWh, good", s)
	}
	wantErr := `read signal "reverse_kwh" of device "em-645-1" (meter 000000000001, DI 00020000 total reverse active energy): ` +
		`meter exception (control 0xD1, error byte 0x02): no data requested; reply FE FE FE FE 68 01 00 00 00 00 00 68 D1 01 35 D8 16`
	if s := rr.Signals[1]; s.Field != "reverse_kwh" || s.Value != nil || s.Quality != "bad" || s.Status != "exception" || s.Error != wantErr {
		t.Errorf("refused item: %+v, want error %s", s, wantErr)
	}
	if s := rr.Signals[2]; s.Field != "voltage_l1_v" || s.Value == nil || *s.Value != 220 || s.Quality != "good" {
		t.Errorf("voltage: %+v, want 220, good", s)
	}
	st, body = post(t, base+"/api/commission/modbus/scan", `{"protocol":"dlt645","endpoint":"`+endpoint+`","addresses":["12345"]}`)
	if want := `{"error":"addresses[0]: ` + dlt645AddressError(t, "12345") + `"}` + "\n"; st != 400 || body != want {
		t.Errorf("scan with a bad address: %d %s\nwant 400 %s", st, body, want)
	}
	st, body = post(t, base+"/api/commission/modbus/scan", `{"protocol":"iec104","endpoint":"`+endpoint+`"}`)
	if want := `{"error":"protocol: \"iec104\": want modbus or dlt645"}` + "\n"; st != 400 || body != want {
		t.Errorf("scan with another protocol: %d %s\nwant 400 %s", st, body, want)
	}
}

func dlt645AddressError(t *testing.T, s string) string {
	t.Helper()
	_, err := dlt645.ParseAddress(s)
	if err == nil {
		t.Fatalf("address %q parses", s)
	}
	b, _ := json.Marshal(err.Error())
	return strings.Trim(string(b), `"`)
}

// TestCommissionModbusRTUScan: the scan of a serial line (a socat pty pair) finds the
// simulator's DTSU666-like meters on units 1 and 2 (they refuse holding register 0 with
// an exception, which shows they are there) with their template and voltage, and not
// the silent unit 3, as `gateway browse serial://…` does.
func TestCommissionModbusRTUScan(t *testing.T) {
	sim, err := devsim.New(devsim.Config{Machines: 1, EnergyMeters: 2, Seed: 9, Start: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	em1, _ := sim.RTUMeter("em1")
	em2, _ := sim.RTUMeter("em2")
	pp := testsrv.StartPtyPair(t)
	sl := devsim.NewRTUSlave(map[byte]devsim.RTUUnit{1: em1, 2: em2})
	sctx, scancel := context.WithCancel(context.Background())
	sdone := make(chan struct{})
	go func() { sl.ServePort(sctx, pp.B); close(sdone) }()
	t.Cleanup(func() { scancel(); <-sdone })
	other := filepath.Join(t.TempDir(), "ttyNone")
	base := commissionGateway(t, fmt.Sprintf(`sources:
  modbus:
    - {name: bus2, endpoint: "serial://%s"}
devices:
  - {id: em9, kind: energy_meter, source: bus2, unit_id: 9, signals: {power_kw: {register: {area: holding, address: 0}}}}
`, other))
	// The gateway polls bus2: a scan or read there would interleave with its polls.
	st, body := post(t, base+"/api/commission/modbus/scan", `{"source":"bus2"}`)
	if want := `{"error":"modbus source \"bus2\" polls the serial line serial://` + other + `: a second master would garble its frames; ` +
		`see the running gateway's values on the status page, or remove the source's devices and reload first"}` + "\n"; st != 409 || body != want {
		t.Errorf("scan of a polled line: %d %s\nwant 409 %s", st, body, want)
	}

	st, body = post(t, base+"/api/commission/modbus/scan", `{"endpoint":"serial://`+pp.A+`","baud_rate":115200,"units":"1-3","unit_timeout":"200ms"}`)
	want := `{"protocol":"modbus","endpoint":"serial://` + pp.A + `","first":1,"last":3,"units":[` +
		`{"unit":1,"answer":"modbus exception 2 (illegal data address)","garbled":false,"template":"dtsu666","voltage":230},` +
		`{"unit":2,"answer":"modbus exception 2 (illegal data address)","garbled":false,"template":"dtsu666","voltage":230}],"meters":[],"complete":true}` + "\n"
	if st != 200 || body != want {
		t.Errorf("scan: %d %s\nwant %s", st, body, want)
	}
}

// TestCommissionSniffBounds: a broker with more topics than MaxSniffTopics gives
// exactly that many, in order, and says the answer is truncated.
func TestCommissionSniffBounds(t *testing.T) {
	broker := testsrv.StartMosquitto(t)
	base := commissionGateway(t, "")
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(broker.URL).SetClientID("commission-test-pub3"))
	if tok := pub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	payload := `{"kwh": 1, "pad": "` + strings.Repeat("p", 6000) + `"}`
	for i := range commission.MaxSniffTopics + 200 {
		// Retained: delivered to the sniff's subscription at once.
		pub.Publish(fmt.Sprintf("many/t%04d", i), 0, true, payload)
	}
	if tok := pub.Publish("many/last", 1, true, "1"); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	st, body := post(t, base+"/api/commission/mqtt/sniff", `{"broker":"`+broker.URL+`","filter":"many/#","seconds":2}`)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if st != 200 {
		t.Fatalf("sniff: %d %.300s", st, body)
	}
	var res commission.SniffResponse
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Topics) != commission.MaxSniffTopics || !res.Truncated {
		t.Errorf("%d topics, truncated %v: want %d, true", len(res.Topics), res.Truncated, commission.MaxSniffTopics)
	}
	for _, tp := range res.Topics {
		if len(tp.Sample) > commission.MaxSampleBytes || !tp.SampleTruncated {
			t.Errorf("topic %s: sample of %d bytes, truncated %v", tp.Topic, len(tp.Sample), tp.SampleTruncated)
			break
		}
	}
	t.Logf("sniff of %d retained topics: %s, answer %d bytes, %d MiB allocated during the call (gateway and test client together)",
		commission.MaxSniffTopics+201, took.Round(time.Millisecond), len(body), (after.TotalAlloc-before.TotalAlloc)>>20)
}
