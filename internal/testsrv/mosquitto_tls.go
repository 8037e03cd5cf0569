package testsrv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// MosquittoTLSOptions configures StartMosquittoTLS.
type MosquittoTLSOptions struct {
	// Users maps user names to passwords, written to the broker's password_file with
	// mosquitto_passwd. With users (or UseIdentityAsUsername) anonymous clients are
	// refused.
	Users map[string]string
	// RequireCertificate makes the broker demand a client certificate signed by the
	// broker's CA (require_certificate true).
	RequireCertificate bool
	// UseIdentityAsUsername takes the client certificate's common name as the user name
	// (use_identity_as_username true), so a certificate alone authenticates.
	UseIdentityAsUsername bool
	// ExtraConfigLines are appended to the configuration file.
	ExtraConfigLines []string
}

// MosquittoTLS is a running mosquitto with a TLS listener on 127.0.0.1. Its server
// certificate is issued by CA for 127.0.0.1 and localhost.
type MosquittoTLS struct {
	// Mosquitto holds the port, Stop and Start; its URL is "ssl://127.0.0.1:PORT".
	*Mosquitto
	// CA signs the server certificate and is the broker's cafile: client certificates
	// for RequireCertificate are issued with CA.IssueClient.
	CA *CA
}

// StartMosquittoTLS starts a non-persistent mosquitto that accepts only TLS, with a
// fresh CA and server certificate, and stops it at the end of the test.
func StartMosquittoTLS(t TB, opts MosquittoTLSOptions) *MosquittoTLS {
	t.Helper()
	bin := lookBinary(t, "mosquitto", "/usr/sbin/mosquitto")
	dir := t.TempDir()
	port := FreePort(t)
	ca := NewCA(t, "ganlink test broker CA")
	certFile, keyFile := ca.IssueServer(t, "broker", "127.0.0.1", "localhost")

	var b strings.Builder
	fmt.Fprintf(&b, `per_listener_settings false
listener %d 127.0.0.1
cafile %s
certfile %s
keyfile %s
require_certificate %t
use_identity_as_username %t
persistence false
user root
log_dest stderr
log_type error
log_type warning
`, port, ca.CertFile, certFile, keyFile, opts.RequireCertificate, opts.UseIdentityAsUsername)
	if len(opts.Users) > 0 {
		pwFile := filepath.Join(dir, "passwd")
		writePasswords(t, pwFile, opts.Users)
		fmt.Fprintf(&b, "password_file %s\n", pwFile)
	}
	fmt.Fprintf(&b, "allow_anonymous %t\n", len(opts.Users) == 0 && !opts.UseIdentityAsUsername)
	for _, l := range opts.ExtraConfigLines {
		b.WriteString(l + "\n")
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	writeFile(t, conf, b.String())

	m := &Mosquitto{Port: port, URL: fmt.Sprintf("ssl://127.0.0.1:%d", port)}
	m.p = &process{t: t, name: "mosquitto", args: []string{bin, "-c", conf},
		logPath: filepath.Join(dir, "mosquitto.log"), ready: tcpReady(fmt.Sprintf("127.0.0.1:%d", port)), port: port}
	m.p.start()
	t.Cleanup(m.p.stop)
	return &MosquittoTLS{Mosquitto: m, CA: ca}
}

// writePasswords creates a mosquitto password file with mosquitto_passwd.
func writePasswords(t TB, path string, users map[string]string) {
	t.Helper()
	bin := lookBinary(t, "mosquitto_passwd", "/usr/bin/mosquitto_passwd")
	writeFile(t, path, "")
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatalf("chmod %s: %v", path, err)
	}
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	for _, u := range names {
		out, err := exec.Command(bin, "-b", path, u, users[u]).CombinedOutput()
		if err != nil {
			t.Fatalf("mosquitto_passwd %s: %v: %s", u, err, out)
		}
	}
}
