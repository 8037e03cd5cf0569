package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// TestReloadOnSIGHUP: a broken file sent with SIGHUP is rejected and logged while the
// gateway keeps running; a good file adding a device takes effect, and the data queued
// while the TSDB was down before the reload is all delivered afterwards.
func TestReloadOnSIGHUP(t *testing.T) {
	m := testsrv.StartMosquittoWith(t, brokerSettings...)
	vm := testsrv.StartVictoria(t)
	vm.Stop() // everything published before the reload waits in the queue
	cfg := defaultGWConfig(t, m.URL, vm.URL, 2)
	g := newGateway(t, cfg)
	g.Start()

	pub := newPublisher(t, m.URL, 2)
	pub.Start(200)
	time.Sleep(1500 * time.Millisecond)
	pub.Stop()
	n := pub.Published()
	waitMetric(t, g, `ganlink_queue_pending_points{sink="tsdb"}`, 20*time.Second, "points queued",
		func(v float64) bool { return v >= float64(n) })

	good, err := os.ReadFile(g.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	writeAndHUP := func(content []byte) {
		t.Helper()
		if err := os.WriteFile(g.cfgPath, content, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(g.Pid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	waitLog := func(what string) {
		t.Helper()
		if msg := testsrv.WaitFor(20*time.Second, func() string {
			if strings.Contains(g.logTail(1<<20), what) {
				return ""
			}
			return "not logged yet"
		}); msg != "" {
			t.Fatalf("%q %s", what, msg)
		}
	}

	// A broken file: rejected with its errors; the running gateway is untouched.
	writeAndHUP(append(append([]byte(nil), good...), []byte("bogus_key: 1\n")...))
	waitLog("configuration reload rejected")
	waitLog("bogus_key: unknown key")
	if !g.Running() {
		t.Fatal("gateway stopped after a rejected reload")
	}
	if code, body := g.get("/readyz"); code != 200 {
		t.Fatalf("/readyz after rejected reload: %d %s", code, body)
	}

	// A good file with a third device.
	cfg.Devices = 3
	var b bytes.Buffer
	if err := gwTemplate.Execute(&b, cfg); err != nil {
		t.Fatal(err)
	}
	writeAndHUP(b.Bytes())
	waitLog("configuration reloaded")
	if msg := testsrv.WaitFor(30*time.Second, func() string {
		if code, _ := g.get("/readyz"); code != 200 {
			return "not ready"
		}
		if code, body := g.get("/api/status"); code != 200 || !strings.Contains(body, `"fm02"`) {
			return "fm02 not in /api/status"
		}
		return ""
	}); msg != "" {
		t.Fatalf("after reload: %s", msg)
	}

	// The new device's data flows; the old queue is delivered once the TSDB is back.
	c := paho.NewClient(paho.NewClientOptions().AddBroker(m.URL).SetClientID("reload-publisher"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	ts := pub.ts(n) + 1000
	if tok := c.Publish("ft/fm02", 1, false, `{"ts":`+strconv.FormatInt(ts, 10)+`,"v":42.5}`); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	vm.Start()
	want := pub.expected(0, n)
	want["fm02 "+strconv.FormatInt(ts, 10)] = 42.5
	waitStored(t, vm, want, 60*time.Second)
	if !g.Running() {
		t.Fatal("gateway not running at the end")
	}
}

// TestReloadSpecialFiles: SIGHUP with a FIFO or a link to /dev/zero as a secret file or
// as the configuration file itself is rejected at once, naming the path and what it is;
// the gateway keeps forwarding and still stops on SIGTERM (a FIFO used to leave the main
// goroutine blocked in LoadFile, so that the process logged "gateway stopped" and never
// exited).
func TestReloadSpecialFiles(t *testing.T) {
	m := testsrv.StartMosquittoWith(t, brokerSettings...)
	vm := testsrv.StartVictoria(t)
	cfg := defaultGWConfig(t, m.URL, vm.URL, 1)
	g := newGateway(t, cfg)
	g.Start()
	good, err := os.ReadFile(g.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	fifo, zero := specialFiles(t)
	rejections := 0
	hupRejected := func(what string) {
		t.Helper()
		if err := syscall.Kill(g.Pid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		rejections++
		if msg := testsrv.WaitFor(20*time.Second, func() string {
			log := g.logTail(1 << 20)
			if n := strings.Count(log, "configuration reload rejected"); n < rejections {
				return fmt.Sprintf("%d rejections logged", n)
			}
			if !strings.Contains(log, what) {
				return "no " + what
			}
			return ""
		}); msg != "" {
			t.Fatalf("reload: %s", msg)
		}
		if !g.Running() {
			t.Fatal("gateway stopped after a rejected reload")
		}
		if code, body := g.get("/readyz"); code != 200 {
			t.Fatalf("/readyz after rejected reload: %d %s", code, body)
		}
	}
	replace := func(make func(path string) error) {
		t.Helper()
		if err := os.Remove(g.cfgPath); err != nil {
			t.Fatal(err)
		}
		if err := make(g.cfgPath); err != nil {
			t.Fatal(err)
		}
	}

	withToken := strings.Replace(string(good), "      bucket: ganlink\n", "      bucket: ganlink\n      token_file: "+fifo+"\n", 1)
	if err := os.WriteFile(g.cfgPath, []byte(withToken), 0o644); err != nil {
		t.Fatal(err)
	}
	hupRejected(`sinks.influx[0].token_file: read secret file \"` + fifo + `\": is a named pipe (FIFO), not a regular file`)
	withToken = strings.Replace(withToken, fifo, zero, 1)
	if err := os.WriteFile(g.cfgPath, []byte(withToken), 0o644); err != nil {
		t.Fatal(err)
	}
	hupRejected(`sinks.influx[0].token_file: read secret file \"` + zero + `\": is a character device, not a regular file`)
	replace(func(p string) error { return syscall.Mkfifo(p, 0o600) })
	hupRejected(`read config \"` + g.cfgPath + `\": is a named pipe (FIFO), not a regular file`)
	replace(func(p string) error { return os.Symlink("/dev/zero", p) })
	hupRejected(`read config \"` + g.cfgPath + `\": is a character device, not a regular file`)

	// Still forwarding with the configuration it started with.
	pub := newPublisher(t, m.URL, 1)
	pub.Start(50)
	time.Sleep(500 * time.Millisecond)
	pub.Stop()
	waitStored(t, vm, pub.expected(0, pub.Published()), 60*time.Second)

	start := time.Now()
	g.Stop() // fails the test unless the process exits with status 0 within 30 s
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stopped %s after SIGTERM", d)
	}
}
