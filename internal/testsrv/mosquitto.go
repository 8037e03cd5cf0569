package testsrv

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Mosquitto is a running mosquitto broker on 127.0.0.1.
type Mosquitto struct {
	Port int
	// URL is "tcp://127.0.0.1:PORT", as paho expects.
	URL string
	p   *process
}

// StartMosquitto starts an anonymous, non-persistent mosquitto with default limits,
// and stops it at the end of the test.
func StartMosquitto(t TB) *Mosquitto {
	t.Helper()
	return StartMosquittoWith(t)
}

// StartMosquittoWith is StartMosquitto with extra lines appended to the broker's
// configuration file, e.g. "max_queued_messages 1000000" to lift the per-client queue
// limit that would otherwise drop messages for an offline persistent session.
func StartMosquittoWith(t TB, extraConfigLines ...string) *Mosquitto {
	t.Helper()
	bin := lookBinary(t, "mosquitto", "/usr/sbin/mosquitto")
	dir := t.TempDir()
	port := FreePort(t)
	conf := filepath.Join(dir, "mosquitto.conf")
	extra := ""
	if len(extraConfigLines) > 0 {
		extra = strings.Join(extraConfigLines, "\n") + "\n"
	}
	writeFile(t, conf, fmt.Sprintf(`per_listener_settings false
listener %d 127.0.0.1
allow_anonymous true
persistence false
user root
log_dest stderr
log_type error
log_type warning
`, port)+extra)
	m := &Mosquitto{Port: port, URL: fmt.Sprintf("tcp://127.0.0.1:%d", port)}
	m.p = &process{t: t, name: "mosquitto", args: []string{bin, "-c", conf},
		logPath: filepath.Join(dir, "mosquitto.log"), ready: tcpReady(fmt.Sprintf("127.0.0.1:%d", port)), port: port}
	m.p.start()
	t.Cleanup(m.p.stop)
	return m
}

// Stop stops the broker; Start starts it again on the same port.
func (m *Mosquitto) Stop() { m.p.stop() }

// Start starts a stopped broker again on the same port.
func (m *Mosquitto) Start() { m.p.start() }
