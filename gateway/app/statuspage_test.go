package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/file"
	"github.com/ganlink/ganlink/adapters/opcua/pki"
	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/instance"
	"github.com/ganlink/ganlink/gateway/status"
	"github.com/ganlink/ganlink/internal/devsim"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/ganlink/ganlink/internal/testutil"
	"golang.org/x/net/html"
)

// pageDevice is one device card as the browser rendered it.
type pageDevice struct {
	State, Connection, Text string
}

// renderedPage is the DOM of the status page after its scripts ran.
type renderedPage struct {
	Lang    string
	Title   string
	Devices map[string]pageDevice
	Order   []string
	Fields  map[string]string // KPI table row text by data-field
	// PKIShown is true when the OPC UA certificate section is visible; OwnThumbprint and
	// Rejected (thumbprint → row text) are what it shows.
	PKIShown      bool
	OwnThumbprint string
	Rejected      map[string]string
	// DeadShown is true when the dead-letter section is visible; Dead holds its rows'
	// text and DeadOrder their "source|origin", in page order.
	DeadShown bool
	Dead      []string
	DeadOrder []string
	// Scripts counts script elements (the page has exactly one of its own).
	Scripts int
	// Ident is the text of the identity line (region, park, enterprise, workshop,
	// gateway instance).
	Ident string
	// CorrShown is true when the corrections section is visible; Corrections holds its
	// rows' text by correction id.
	CorrShown   bool
	Corrections map[string]string
}

// dumpStatusPage loads url in headless Chromium (profile dir shared between calls, so
// localStorage persists) and returns the DOM once the page has fetched its data.
func dumpStatusPage(t *testing.T, chromium, profile, url string) renderedPage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--user-data-dir="+profile, "--virtual-time-budget=3000", "--dump-dom", url)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium --dump-dom %s: %v\n%s", url, err, tail(errb.String(), 2000))
	}
	doc, err := html.Parse(&out)
	if err != nil {
		t.Fatalf("parse dumped DOM: %v", err)
	}
	p := renderedPage{Devices: map[string]pageDevice{}, Fields: map[string]string{}, Rejected: map[string]string{},
		Corrections: map[string]string{}}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attr := func(k string) string {
				for _, a := range n.Attr {
					if a.Key == k {
						return a.Val
					}
				}
				return ""
			}
			switch {
			case n.Data == "html":
				p.Lang = attr("lang")
			case n.Data == "h1":
				p.Title = textOf(n)
			case n.Data == "section" && attr("data-device") != "":
				id := attr("data-device")
				p.Order = append(p.Order, id)
				p.Devices[id] = pageDevice{State: attr("data-state"), Connection: attr("data-connection"), Text: textOf(n)}
			case n.Data == "tr" && attr("data-field") != "":
				p.Fields[attr("data-field")] = textOf(n)
			case attr("id") == "pkibox":
				p.PKIShown = true
				for _, a := range n.Attr {
					p.PKIShown = p.PKIShown && a.Key != "hidden"
				}
			case attr("data-own-thumbprint") != "":
				p.OwnThumbprint = attr("data-own-thumbprint")
			case n.Data == "tr" && attr("data-rejected") != "":
				p.Rejected[attr("data-rejected")] = textOf(n)
			case attr("id") == "deadbox":
				p.DeadShown = true
				for _, a := range n.Attr {
					p.DeadShown = p.DeadShown && a.Key != "hidden"
				}
			case n.Data == "tr" && attr("data-dead") != "":
				p.Dead = append(p.Dead, textOf(n))
				p.DeadOrder = append(p.DeadOrder, attr("data-dead"))
			case attr("id") == "corrbox":
				p.CorrShown = true
				for _, a := range n.Attr {
					p.CorrShown = p.CorrShown && a.Key != "hidden"
				}
			case n.Data == "tr" && attr("data-correction") != "":
				p.Corrections[attr("data-correction")] = textOf(n)
			case n.Data == "script":
				p.Scripts++
			case attr("id") == "ident":
				p.Ident = textOf(n)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return p
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var f func(*html.Node)
	f = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
			b.WriteByte(' ')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			f(c)
		}
	}
	f(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func getStatus(addr string) (status.Status, error) {
	resp, err := http.Get("http://" + addr + "/api/status")
	if err != nil {
		return status.Status{}, err
	}
	defer resp.Body.Close()
	var st status.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return status.Status{}, fmt.Errorf("decode /api/status: %w", err)
	}
	return st, nil
}

// waitStatus polls /api/status until cond returns "" and fails the test with cond's last
// message after d.
func waitStatus(t *testing.T, addr string, d time.Duration, cond func(status.Status) string) status.Status {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, err := getStatus(addr)
		msg := ""
		if err != nil {
			msg = err.Error()
		} else {
			msg = cond(st)
		}
		if msg == "" {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestStatusPageInChromium runs a gateway against the simulator and checks what
// headless Chromium renders: every device with its state in Chinese by default, the
// workshop's CNC rate, and, after the OPC UA server stops, the machines offline (in
// English once asked for, and still in English on the next load).
func TestStatusPageInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is needed for this test (scripts/install-deps.sh installs it): %v", err)
	}
	broker := testsrv.StartMosquitto(t)
	sim, err := devsim.New(devsim.Config{Machines: 2, EnergyMeters: 1, WaterMeters: 1, Seed: 3, TimeScale: 0.05,
		Shifts: []devsim.Shift{{Start: 0, End: 24 * time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	opcAddr := fmt.Sprintf("127.0.0.1:%d", testsrv.FreePort(t))
	simCtx, stopSim := context.WithCancel(context.Background())
	opcCtx, stopOPC := context.WithCancel(simCtx)
	done := make(chan error, 3)
	go func() { done <- sim.Run(simCtx) }()
	go func() { done <- sim.ServeOPCUA(opcCtx, opcAddr) }()
	go func() { done <- sim.PublishMQTT(simCtx, broker.URL) }()
	t.Cleanup(func() {
		stopSim()
		for range 3 {
			if err := <-done; err != nil {
				t.Errorf("simulator: %v", err)
			}
		}
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer wcancel()
	if err := sim.WaitOPCUA(wctx, opcAddr); err != nil {
		t.Fatal(err)
	}

	gw := devsim.DefaultGatewayOptions()
	gw.AdminListen = "127.0.0.1:0"
	gw.QueueDir = filepath.Join(t.TempDir(), "queue")
	gw.OPCUAEndpoint = "opc.tcp://" + opcAddr
	gw.PublishingInterval = 200 * time.Millisecond
	gw.MQTTBroker = broker.URL
	gw.Legacy = 1
	var yml bytes.Buffer
	if err := devsim.WriteGatewayConfig(&yml, sim.Config(), gw); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(yml.Bytes(), func(string) (string, bool) { return "", false }, app.Kinds())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Sinks.Influx = nil
	linesPath := filepath.Join(t.TempDir(), "lines.lp")
	lines, err := file.New(file.Config{Name: "lines", Path: linesPath, NoSync: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.LogBuffer{}
	a, err := app.Build(cfg, slog.New(slog.NewTextHandler(io.MultiWriter(logs), nil)),
		app.Options{Sinks: []app.ExtraSink{{Name: "lines", Kind: "file", Target: linesPath, Sink: lines}}})
	if err != nil {
		t.Fatal(err)
	}
	appCtx, stopApp := context.WithCancel(context.Background())
	appDone := make(chan error, 1)
	go func() { appDone <- a.Run(appCtx) }()
	t.Cleanup(func() {
		stopApp()
		if err := <-appDone; err != nil {
			t.Errorf("gateway Run: %v", err)
		}
		if err := lines.Close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("gateway log:\n%s", tail(logs.String(), 6000))
		}
	})
	addr := a.AdminAddr()
	url := "http://" + addr + "/"

	sourced := []string{"m1", "m2", "em1", "wm1"}
	working := []string{"running", "idle", "setup", "alarm"}
	st := waitStatus(t, addr, 20*time.Second, func(st status.Status) string {
		for _, d := range st.Devices {
			if d.Source == "" {
				continue
			}
			if d.Connection != "up" || !slices.Contains(working, d.State) {
				return fmt.Sprintf("device %s: connection %s, state %s", d.ID, d.Connection, d.State)
			}
			for _, s := range d.Signals {
				if s.Value == nil || s.Quality != "good" || s.AgeS == nil {
					return fmt.Sprintf("device %s signal %s: value %v quality %s", d.ID, s.Name, s.Value, s.Quality)
				}
			}
		}
		if len(st.WorkshopKPI) == 0 || st.WorkshopKPI[0].Current == nil {
			return "no workshop KPIs"
		}
		return ""
	})
	// The JSON carries what the page shows.
	if got := st.WorkshopKPI[0].Current.Fields["cnc_rate"]; got != 2.0/3 {
		t.Errorf("cnc_rate %v, want %v", got, 2.0/3)
	}
	if st.Workshop.Name != "1号机加车间" || st.Workshop.ID != "ws1" || st.Workshop.Region != "360100" {
		t.Errorf("workshop %+v", st.Workshop)
	}
	if len(st.Sinks) != 1 || st.Sinks[0].Name != "lines" || st.Sinks[0].Kind != "file" {
		t.Errorf("sinks %+v", st.Sinks)
	}
	if _, ok := st.Queues["lines"]; !ok {
		t.Errorf("queues %+v: no queue of sink lines", st.Queues)
	}

	profile := t.TempDir()
	zhState := map[string]string{"running": "运行", "idle": "空闲", "setup": "调整", "alarm": "报警", "offline": "离线"}
	page := dumpStatusPage(t, chromium, profile, url)
	if want := []string{"m1", "m2", "em1", "wm1", "legacy1"}; !slices.Equal(page.Order, want) {
		t.Fatalf("page lists devices %v, want %v", page.Order, want)
	}
	if page.Lang != "zh-CN" || page.Title != "1号机加车间 · ws1" {
		t.Errorf("lang %q title %q, want zh-CN and 1号机加车间 · ws1", page.Lang, page.Title)
	}
	if !instance.Valid(st.Workshop.Instance) || !strings.HasSuffix(page.Ident, "网关实例: "+st.Workshop.Instance) {
		t.Errorf("identity line %q, want it to end with the instance %q", page.Ident, st.Workshop.Instance)
	}
	for _, id := range sourced {
		// The state may have moved on since the JSON was checked; it is shown in Chinese.
		d := page.Devices[id]
		if d.Connection != "up" || zhState[d.State] == "" || !strings.Contains(d.Text, zhState[d.State]) {
			t.Errorf("device %s rendered with state %q connection %q: %s", id, d.State, d.Connection, d.Text)
		}
	}
	if page.PKIShown {
		t.Error("the OPC UA certificate section is shown for a gateway without OPC UA security")
	}
	if d := page.Devices["legacy1"]; d.Connection != "none" || !strings.Contains(d.Text, "未联网") {
		t.Errorf("legacy1 rendered as %+v", d)
	}
	if !strings.Contains(page.Devices["m1"].Text, "spindle_speed_rpm") || !strings.Contains(page.Devices["m1"].Text, "rpm") {
		t.Errorf("m1 shows no spindle speed: %s", page.Devices["m1"].Text)
	}
	if got := page.Fields["cnc_rate"]; !strings.HasPrefix(got, "数控化率 66.7 %") {
		t.Errorf("CNC rate row %q, want it to start with %q", got, "数控化率 66.7 %")
	}

	// The machines' OPC UA server goes away: they must show as offline.
	stopOPC()
	waitStatus(t, addr, 20*time.Second, func(st status.Status) string {
		for _, d := range st.Devices {
			if (d.ID == "m1" || d.ID == "m2") && d.State != "offline" {
				return fmt.Sprintf("device %s state %s after the OPC UA server stopped", d.ID, d.State)
			}
		}
		return ""
	})
	for _, load := range []string{url + "?lang=en", url} { // the second load keeps English from localStorage
		page = dumpStatusPage(t, chromium, profile, load)
		if page.Lang != "en" {
			t.Errorf("%s: lang %q, want en", load, page.Lang)
		}
		for _, id := range []string{"m1", "m2"} {
			if d := page.Devices[id]; d.State != "offline" || !strings.Contains(d.Text, "Offline") {
				t.Errorf("%s: %s rendered with state %q: %s", load, id, d.State, d.Text)
			}
		}
		if d := page.Devices["em1"]; d.Connection != "up" {
			t.Errorf("%s: em1 rendered as %+v; its MQTT source is still up", load, d)
		}
	}
	if fi, err := os.Stat(linesPath); err != nil || fi.Size() == 0 {
		t.Errorf("line-protocol file: %v, %v", fi, err)
	}
}

// TestStatusPagePKIInChromium: a gateway whose OPC UA source uses security shows its
// own certificate and the server certificate it rejected, with the command that trusts it.
func TestStatusPagePKIInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is needed for this test (scripts/install-deps.sh installs it): %v", err)
	}
	srv := testsrv.StartMachineTool(t, testsrv.MachineToolOptions{Policies: []string{"Basic256Sha256"}})
	dir := t.TempDir()
	yml := fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws9}
admin: {listen: "127.0.0.1:0"}
queue: {dir: %q}
sources:
  opcua:
    - {name: mt, endpoint: %q, reconnect_max: 1s}
devices:
  - id: m1
    kind: cnc
    source: mt
    signals: {spindle_speed_rpm: {node: "nsu=urn:ganlink:testsrv:machines;s=M1.Spindle.ActSpeed"}}
`, filepath.Join(dir, "queue"), srv.URL)
	cfg, err := config.Load([]byte(yml), func(string) (string, bool) { return "", false }, app.Kinds())
	if err != nil {
		t.Fatal(err)
	}
	lines, err := file.New(file.Config{Name: "lines", Path: filepath.Join(dir, "lines.lp"), NoSync: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Build(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)),
		app.Options{Sinks: []app.ExtraSink{{Name: "lines", Kind: "file", Sink: lines}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("gateway Run: %v", err)
		}
		_ = lines.Close()
	})
	serverThumb := pki.Thumbprint(srv.ServerCertificate())
	st := waitStatus(t, a.AdminAddr(), 20*time.Second, func(st status.Status) string {
		if st.PKI == nil || len(st.PKI.Rejected) != 1 || st.PKI.Rejected[0].Thumbprint != serverThumb {
			return fmt.Sprintf("pki %+v: want the server's certificate rejected", st.PKI)
		}
		return ""
	})
	own, err := pki.ReadCertificate(filepath.Join(dir, "pki", "own", "cert.der"))
	if err != nil {
		t.Fatal(err)
	}
	if st.PKI.Own.Thumbprint != pki.Thumbprint(own.Raw) || st.PKI.Own.ApplicationURI != "urn:ganlink:gateway:ws9" {
		t.Errorf("own certificate %+v", st.PKI.Own)
	}
	page := dumpStatusPage(t, chromium, t.TempDir(), "http://"+a.AdminAddr()+"/")
	if !page.PKIShown || page.OwnThumbprint != pki.Thumbprint(own.Raw) {
		t.Errorf("certificate section shown %v with own thumbprint %q", page.PKIShown, page.OwnThumbprint)
	}
	row := page.Rejected[serverThumb]
	if want := "gateway pki trust " + st.PKI.Rejected[0].Path; !strings.Contains(row, want) || !strings.Contains(row, "待核对信任的服务器证书") {
		t.Errorf("rejected row %q, want the trust command %q", row, want)
	}
}

// TestStatusPageDeadLettersInChromium: messages a meter sent that could not be used
// appear in the dead-letter section, newest first, with their error and payload shown
// as text (a payload carrying markup stays text: no element is injected), and the
// device's card names the newest problem its source reported for it.
func TestStatusPageDeadLettersInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is needed for this test (scripts/install-deps.sh installs it): %v", err)
	}
	broker := testsrv.StartMosquitto(t)
	dir := t.TempDir()
	yml := fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws9}
admin: {listen: "127.0.0.1:0"}
queue: {dir: %q}
sources:
  mqtt:
    - {name: meters, broker: %q, client_id: deadpage}
devices:
  - {id: em1, kind: energy_meter, source: meters, topic: m/em1, timestamp_path: ts, signals: {energy_kwh_total: {path: kwh, counter: true}}}
`, filepath.Join(dir, "queue"), broker.URL)
	a, _ := runGateway(t, yml, app.Options{})
	waitStatus(t, a.AdminAddr(), 10*time.Second, func(st status.Status) string {
		if st.Sources[0].State != "up" {
			return "mqtt source not up"
		}
		return ""
	})
	pub := publisher(t, broker.URL)
	for _, m := range []string{`{"ts":0,"kwh":1}`, `{"kwh":"<script>alert(1)</script>"}`} {
		if tok := pub.Publish("m/em1", 1, false, m); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	waitStatus(t, a.AdminAddr(), 10*time.Second, func(st status.Status) string {
		if len(st.DeadLetters) != 2 {
			return fmt.Sprintf("%d dead letters, want 2", len(st.DeadLetters))
		}
		return ""
	})
	page := dumpStatusPage(t, chromium, t.TempDir(), "http://"+a.AdminAddr()+"/?lang=en")
	if !page.DeadShown || !slices.Equal(page.DeadOrder, []string{"meters|m/em1", "meters|m/em1"}) {
		t.Fatalf("dead-letter section shown %v, rows %q", page.DeadShown, page.DeadOrder)
	}
	if page.Scripts != 1 {
		t.Errorf("%d script elements: a payload was rendered as markup", page.Scripts)
	}
	newest := page.Dead[0]
	for _, want := range []string{"meters / em1", "m/em1", "type", `path "kwh": string value "<script>alert(1)</script>" without map`,
		`{"kwh":"<script>alert(1)</script>"}`} {
		if !strings.Contains(newest, want) {
			t.Errorf("row %q lacks %q", newest, want)
		}
	}
	if !strings.Contains(page.Dead[1], "value 0 (epoch_ms) is 1970-01-01T00:00:00Z, out of range 2000..2200") {
		t.Errorf("older row %q", page.Dead[1])
	}
	// The device's card names its source's newest problem with it, as text.
	if card := page.Devices["em1"].Text; !strings.Contains(card, `Source problem (type)`) ||
		!strings.Contains(card, `string value "<script>alert(1)</script>" without map`) {
		t.Errorf("em1's card does not show its problem: %q", card)
	}
}
