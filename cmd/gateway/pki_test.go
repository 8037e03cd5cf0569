package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/opcua/pki"
)

func runCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestPKICommand(t *testing.T) {
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	cfg := filepath.Join(dir, "gw.yaml")
	os.WriteFile(cfg, []byte(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws7}
pki: {dir: `+pkiDir+`}
sources:
  opcua:
    - {name: cnc, endpoint: "opc.tcp://127.0.0.1:4840"}
devices: [{id: m1, kind: machine}]
`), 0o644)

	code, out, errOut := runCmd("pki", "-config", cfg, "init")
	if code != 0 {
		t.Fatalf("init: %d %s", code, errOut)
	}
	own, err := pki.ReadCertificate(filepath.Join(pkiDir, "own", "cert.der"))
	if err != nil {
		t.Fatal(err)
	}
	in := pki.Describe(own)
	day := func(t time.Time) string { return t.UTC().Format(time.DateOnly) }
	ownBlock := "    subject         CN=Ganlink gateway ws7,O=Ganlink\n    application URI urn:ganlink:gateway:ws7\n    thumbprint      " +
		in.Thumbprint + "\n    valid           " + day(in.NotBefore) + " to " + day(in.NotAfter) + "\n"
	want := "generated application instance certificate " + filepath.Join(pkiDir, "own", "cert.der") + "\n" + ownBlock
	if out != want {
		t.Errorf("init:\n%s\nwant\n%s", out, want)
	}
	if _, out, _ := runCmd("pki", "-config", cfg, "init"); !strings.HasPrefix(out, "existing application instance certificate ") {
		t.Errorf("second init: %s", out)
	}

	// A server certificate as the gateway rejects it.
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "M1"},
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	store := &pki.Store{Dir: pkiDir}
	verr := store.Verify("opc.tcp://m1:4840", der)
	rejected := filepath.Join(pkiDir, "rejected", "M1_"+pki.Thumbprint(der)+".der")
	if verr == nil {
		t.Fatal("an unknown certificate was trusted")
	}
	m1Block := "    subject         CN=M1\n    thumbprint      " + pki.Thumbprint(der) + "\n    valid           2026-01-01 to 2031-01-01\n"

	_, out, _ = runCmd("pki", "-dir", pkiDir, "list")
	want = "PKI directory " + pkiDir + "\n\nown (the gateway's application instance certificate):\n  " +
		filepath.Join(pkiDir, "own", "cert.der") + "\n" + ownBlock +
		"\ntrusted (0):\n\nrejected (1):\n  " + rejected + "\n" + m1Block
	if out != want {
		t.Errorf("list:\n%s\nwant\n%s", out, want)
	}

	code, out, errOut = runCmd("pki", "-config", cfg, "trust", rejected)
	trusted := filepath.Join(pkiDir, "trusted", filepath.Base(rejected))
	if code != 0 || out != "trusted "+trusted+"\n  subject CN=M1\n  application URI \n  thumbprint "+pki.Thumbprint(der)+"\n" {
		t.Errorf("trust: %d %q %q", code, out, errOut)
	}
	if err := store.Verify("opc.tcp://m1:4840", der); err != nil {
		t.Errorf("after trust: %v", err)
	}
	_, out, _ = runCmd("pki", "-dir", pkiDir, "list")
	if !strings.Contains(out, "\ntrusted (1):\n  "+trusted+"\n"+m1Block+"\nrejected (0):\n") {
		t.Errorf("list after trust:\n%s", out)
	}

	if code, out, _ := runCmd("pki", "-dir", pkiDir, "untrust", pki.Thumbprint(der)); code != 0 || out != "moved to "+rejected+"\n" {
		t.Errorf("untrust: %d %q", code, out)
	}

	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"pki", "-dir", pkiDir, "untrust", "ABCD"}, 1,
			"gateway pki untrust: no certificate with thumbprint ABCD in " + filepath.Join(pkiDir, "trusted") + "\n"},
		{[]string{"pki", "-dir", pkiDir, "trust", cfg}, 1,
			"gateway pki trust: " + cfg + ": not a DER or PEM certificate: x509: malformed certificate\n"},
		{[]string{"pki", "-dir", pkiDir, "trust"}, 2, "gateway pki trust: want 1 argument(s), got 0\n"},
		{[]string{"pki", "-dir", pkiDir, "revoke", "x"}, 2, "gateway pki: unknown command \"revoke\": want list, trust, untrust or init\n"},
		{[]string{"pki", "-dir", pkiDir, "-config", cfg, "list"}, 2, "gateway pki: set -config or -dir, not both\n"},
		{[]string{"pki", "-dir", t.TempDir(), "init"}, 2, "gateway pki init: needs -config FILE: the certificate carries the configured application URI\n"},
	} {
		code, _, errOut := runCmd(tc.args...)
		if code != tc.code || errOut != tc.stderr {
			t.Errorf("%v: %d %q\nwant %d %q", tc.args, code, errOut, tc.code, tc.stderr)
		}
	}
}
