package pki

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/fsread"
)

const uri = "urn:ganlink:gateway:ws1"

func TestOwnCertificateGeneratedOnceAndReused(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	own, err := s.LoadOrCreate(OwnOptions{ApplicationURI: uri, Hosts: []string{"edge-01", "192.168.1.20"}})
	if err != nil {
		t.Fatal(err)
	}
	if !own.Created {
		t.Error("first call did not report Created")
	}
	c := own.Cert
	if len(c.URIs) != 1 || c.URIs[0].String() != uri {
		t.Errorf("URIs %v, want [%s]", c.URIs, uri)
	}
	if len(c.DNSNames) != 1 || c.DNSNames[0] != "edge-01" || len(c.IPAddresses) != 1 || c.IPAddresses[0].String() != "192.168.1.20" {
		t.Errorf("DNS %v IP %v", c.DNSNames, c.IPAddresses)
	}
	if bits := own.Key.N.BitLen(); bits != 2048 {
		t.Errorf("key %d bits, want 2048", bits)
	}
	if c.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Errorf("signature %v, want SHA256-RSA", c.SignatureAlgorithm)
	}
	wantKU := x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment | x509.KeyUsageKeyEncipherment |
		x509.KeyUsageDataEncipherment | x509.KeyUsageCertSign
	if c.KeyUsage != wantKU {
		t.Errorf("key usage %b, want %b", c.KeyUsage, wantKU)
	}
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(s.Dir, OwnKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file %v, %v; want mode 0600", fi, err)
	}
	for _, d := range []string{TrustedDir, RejectedDir} {
		if fi, err := os.Stat(filepath.Join(s.Dir, d)); err != nil || !fi.IsDir() {
			t.Errorf("%s not created: %v", d, err)
		}
	}

	again, err := s.LoadOrCreate(OwnOptions{ApplicationURI: uri})
	if err != nil {
		t.Fatal(err)
	}
	if again.Created || !bytes.Equal(again.DER, own.DER) || !again.Key.Equal(own.Key) {
		t.Error("second call did not reuse the certificate and key")
	}

	_, err = s.LoadOrCreate(OwnOptions{ApplicationURI: "urn:other"})
	want := `pki: application instance certificate ` + filepath.Join(s.Dir, OwnCertFile) + ` has application URI "urn:ganlink:gateway:ws1", the configuration says "urn:other": set pki.application_uri to "urn:ganlink:gateway:ws1", or delete ` +
		filepath.Join(s.Dir, "own") + ` to generate a new certificate (every server must then trust the new one)`
	if err == nil || err.Error() != want {
		t.Errorf("URI mismatch: %v\nwant %s", err, want)
	}

	s.Now = func() time.Time { return time.Now().Add(Validity + 48*time.Hour) }
	if _, err := s.LoadOrCreate(OwnOptions{ApplicationURI: uri}); err == nil || !strings.Contains(err.Error(), "not now: delete") {
		t.Errorf("expired: %v", err)
	}
}

func TestOwnCertificateDamaged(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if _, err := s.LoadOrCreate(OwnOptions{ApplicationURI: uri}); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(s.Dir, OwnKeyFile)
	key, _ := os.ReadFile(keyPath)

	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)}), 0o600)
	_, err := s.LoadOrCreate(OwnOptions{ApplicationURI: uri})
	if want := "pki: " + filepath.Join(s.Dir, OwnCertFile) + " does not belong to the key in " + keyPath; err == nil || err.Error() != want {
		t.Errorf("wrong key: %v\nwant %s", err, want)
	}

	os.Remove(keyPath)
	_, err = s.LoadOrCreate(OwnOptions{ApplicationURI: uri})
	if want := "pki: " + filepath.Join(s.Dir, OwnCertFile) + " exists but " + keyPath + " does not: restore it, or delete " +
		filepath.Join(s.Dir, "own") + " to generate a new certificate (every server must then trust the new one)"; err == nil || err.Error() != want {
		t.Errorf("missing key: %v\nwant %s", err, want)
	}
	os.WriteFile(keyPath, key, 0o600)
	os.WriteFile(filepath.Join(s.Dir, OwnCertFile), []byte("garbage"), 0o644)
	if _, err := s.LoadOrCreate(OwnOptions{ApplicationURI: uri}); err == nil || !strings.Contains(err.Error(), "not a DER or PEM certificate") {
		t.Errorf("garbage certificate: %v", err)
	}
	if _, err := (&Store{Dir: t.TempDir()}).LoadOrCreate(OwnOptions{ApplicationURI: uri, KeyBits: 1024}); err == nil ||
		err.Error() != "pki: key size 1024: want 2048, 3072 or 4096" {
		t.Errorf("1024 bits: %v", err)
	}
	if _, err := (&Store{Dir: t.TempDir()}).LoadOrCreate(OwnOptions{ApplicationURI: "no scheme"}); err == nil ||
		err.Error() != `pki: application URI "no scheme": want an absolute URI such as urn:ganlink:gateway:ws1` {
		t.Errorf("bad URI: %v", err)
	}
}

// cert makes a certificate signed by parent (self-signed when parent is nil).
func cert(t *testing.T, cn string, ca bool, parent *x509.Certificate, parentKey *rsa.PrivateKey, notAfter time.Time) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: notAfter, IsCA: ca, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

func TestVerifyTrustAndReject(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	year := time.Now().Add(365 * 24 * time.Hour)
	server, _ := cert(t, "M1 OPC UA server/Ø", false, nil, nil, year)

	err := s.Verify("opc.tcp://m1:4840", server.Raw)
	rejected := filepath.Join(s.Dir, RejectedDir, "M1_OPC_UA_server_"+Thumbprint(server.Raw)+".der")
	want := `server certificate not trusted: server opc.tcp://m1:4840 certificate "CN=M1 OPC UA server/Ø" (application URI "", thumbprint ` +
		Thumbprint(server.Raw) + `) was copied to ` + rejected + `; after comparing the thumbprint with the server's, trust it with: gateway pki trust ` + rejected
	if !errors.Is(err, ErrUntrusted) || err.Error() != want {
		t.Fatalf("untrusted: %v\nwant %s", err, want)
	}
	if b, _ := os.ReadFile(rejected); !bytes.Equal(b, server.Raw) {
		t.Fatal("rejected copy differs")
	}
	// Rejected again: the same file, no duplicates.
	_ = s.Verify("opc.tcp://m1:4840", server.Raw)
	if infos, _, _ := s.List(RejectedDir); len(infos) != 1 {
		t.Fatalf("rejected/ has %d certificates, want 1", len(infos))
	}

	trusted, err := s.Trust(rejected)
	if err != nil {
		t.Fatal(err)
	}
	if trusted != filepath.Join(s.Dir, TrustedDir, filepath.Base(rejected)) {
		t.Errorf("trusted as %s", trusted)
	}
	if _, err := os.Stat(rejected); !errors.Is(err, os.ErrNotExist) {
		t.Error("trust left the file in rejected/")
	}
	if err := s.Verify("opc.tcp://m1:4840", server.Raw); err != nil {
		t.Fatalf("trusted: %v", err)
	}

	// Untrust moves it back.
	back, err := s.Untrust(strings.ToLower(Thumbprint(server.Raw)))
	if err != nil || back != rejected {
		t.Fatalf("untrust: %s, %v", back, err)
	}
	if err := s.Verify("opc.tcp://m1:4840", server.Raw); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("after untrust: %v", err)
	}
	if _, err := s.Untrust("00"); err == nil || err.Error() != "pki untrust: no certificate with thumbprint 00 in "+filepath.Join(s.Dir, TrustedDir) {
		t.Errorf("untrust unknown: %v", err)
	}

	// A PEM file copied by hand into trusted/ counts.
	os.WriteFile(filepath.Join(s.Dir, TrustedDir, "m1.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: server.Raw}), 0o644)
	if err := s.Verify("opc.tcp://m1:4840", server.Raw); err != nil {
		t.Fatalf("PEM in trusted/: %v", err)
	}

	// A trusted but expired certificate is refused.
	old, _ := cert(t, "old", false, nil, nil, time.Now().Add(-time.Minute))
	os.WriteFile(filepath.Join(s.Dir, TrustedDir, "old.der"), old.Raw, 0o644)
	if err := s.Verify("opc.tcp://old:4840", old.Raw); err == nil || errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "not now") {
		t.Errorf("expired: %v", err)
	}

	// A CA in trusted/ trusts what it issued, and only that.
	ca, caKey := cert(t, "Plant CA", true, nil, nil, year)
	os.WriteFile(filepath.Join(s.Dir, TrustedDir, "plant-ca.der"), ca.Raw, 0o644)
	issued, _ := cert(t, "M2", false, ca, caKey, year)
	if err := s.Verify("opc.tcp://m2:4840", issued.Raw); err != nil {
		t.Errorf("issued by a trusted CA: %v", err)
	}
	stranger, _ := cert(t, "M3", false, nil, nil, year)
	if err := s.Verify("opc.tcp://m3:4840", stranger.Raw); !errors.Is(err, ErrUntrusted) {
		t.Errorf("stranger: %v", err)
	}

	if err := s.Verify("opc.tcp://m4:4840", []byte("junk")); err == nil || !strings.HasPrefix(err.Error(), "server opc.tcp://m4:4840 certificate: x509:") {
		t.Errorf("junk: %v", err)
	}
	if err := s.Verify("opc.tcp://m4:4840", nil); err == nil || err.Error() != "server opc.tcp://m4:4840 sent no certificate" {
		t.Errorf("none: %v", err)
	}

	// Files that are not certificates are listed as such, and ignored by Verify.
	os.WriteFile(filepath.Join(s.Dir, TrustedDir, "notes.txt"), []byte("hello"), 0o644)
	infos, bad, err := s.List(TrustedDir)
	if err != nil || len(infos) != 3 || len(bad) != 1 || !strings.Contains(bad[0], "notes.txt") {
		t.Errorf("list: %v %v %v", infos, bad, err)
	}
	if _, err := s.Trust(filepath.Join(s.Dir, TrustedDir, "notes.txt")); err == nil || !strings.HasPrefix(err.Error(), "pki trust: ") {
		t.Errorf("trust a text file: %v", err)
	}
}

// TestSpecialFilesRefused puts a FIFO, a link to /dev/zero and a file over the limit in
// rejected/ and trusted/: listing and verifying read none of them (a FIFO used to block
// `gateway pki list`, /dev/zero to fill memory at the next /api/status) and name each
// with what it is; the good certificate next to them is still listed and trusted.
func TestSpecialFilesRefused(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	good, _ := cert(t, "M1", false, nil, nil, time.Now().Add(365*24*time.Hour))
	for _, d := range []string{RejectedDir, TrustedDir} {
		dir := filepath.Join(s.Dir, d)
		if err := syscall.Mkfifo(filepath.Join(dir, "a.fifo"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/dev/zero", filepath.Join(dir, "b.der")); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "c.der"), make([]byte, fsread.MaxPEM+1), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "m1.der"), good.Raw, 0o644); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		infos, bad, err := s.List(d)
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("%s: list took %s", d, el)
		}
		want := []string{
			filepath.Join(dir, "a.fifo") + ": is a named pipe (FIFO), not a regular file",
			filepath.Join(dir, "b.der") + ": is a character device, not a regular file",
			filepath.Join(dir, "c.der") + ": larger than 1 MiB",
		}
		if err != nil || len(infos) != 1 || infos[0].Path != filepath.Join(dir, "m1.der") || strings.Join(bad, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%s: list %v\n%s\n%v", d, infos, strings.Join(bad, "\n"), err)
		}
	}
	if err := s.Verify("opc.tcp://m1:4840", good.Raw); err != nil {
		t.Fatalf("verify next to special files: %v", err)
	}
	if _, err := s.Trust(filepath.Join(s.Dir, RejectedDir, "a.fifo")); err == nil ||
		err.Error() != "pki trust: "+filepath.Join(s.Dir, RejectedDir, "a.fifo")+": is a named pipe (FIFO), not a regular file" {
		t.Fatalf("trust a FIFO: %v", err)
	}
	// The gateway's own certificate and key are read the same way.
	if err := os.MkdirAll(filepath.Join(s.Dir, "own", "private"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(s.Dir, OwnCertFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(s.Dir, OwnKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadOrCreate(OwnOptions{ApplicationURI: uri}); err == nil ||
		err.Error() != "pki: application instance certificate: "+filepath.Join(s.Dir, OwnCertFile)+": is a named pipe (FIFO), not a regular file" {
		t.Fatalf("own certificate is a FIFO: %v", err)
	}
}

// TestListSkipsFilesBeingWritten: a certificate being written (atomicfile's temporary
// file) is neither listed nor reported as "not a certificate".
func TestListSkipsFilesBeingWritten(t *testing.T) {
	store := &Store{Dir: t.TempDir()}
	own, err := store.LoadOrCreate(OwnOptions{ApplicationURI: "urn:x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store.Dir, RejectedDir, ".peer.der.tmp-1873671010"), own.DER, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store.Dir, RejectedDir, ".peer2.der.tmp-5"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	infos, bad, err := store.List(RejectedDir)
	if err != nil || len(infos) != 0 || len(bad) != 0 {
		t.Fatalf("List: %v %v %v; want nothing", infos, bad, err)
	}
}
