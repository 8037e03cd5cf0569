// Package pki keeps the gateway's OPC UA certificates in one directory:
//
//	DIR/own/cert.der           the application instance certificate (DER; cert.pem also read)
//	DIR/own/private/key.pem    its RSA private key (PEM, mode 0600)
//	DIR/trusted/               server certificates (or CA certificates) the gateway trusts
//	DIR/rejected/              server certificates seen and not trusted
//
// The application instance certificate is generated once, on first use, with the
// configured application URI in its subject alternative name, and reused across
// restarts: OPC UA servers trust a client by its certificate, so regenerating it would
// lock the gateway out of every server that trusted the old one. A certificate issued by
// the plant's own CA can be put in own/ instead.
//
// A server certificate is trusted when trusted/ holds the same certificate, or a CA
// certificate that issued it. Anything else is rejected and copied to rejected/, where an
// engineer checks it (thumbprint against the machine's HMI) and trusts it with
// `gateway pki trust FILE` or by moving the file to trusted/. The directories are read at
// every connection attempt, so trusting needs no restart. Revocation lists are not
// checked.
package pki

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/ganlink/ganlink/internal/atomicfile"
	"github.com/ganlink/ganlink/internal/fsread"
)

// Sub-directories and files of a PKI directory.
const (
	OwnCertFile = "own/cert.der"
	OwnKeyFile  = "own/private/key.pem"
	TrustedDir  = "trusted"
	RejectedDir = "rejected"
)

// Validity is the lifetime of a generated application instance certificate.
const Validity = 5 * 365 * 24 * time.Hour

// Store is a PKI directory.
type Store struct {
	Dir string
	// Now is the clock for validity checks; time.Now when nil.
	Now func() time.Time
}

// Own is the application instance certificate and its key.
type Own struct {
	Cert *x509.Certificate
	DER  []byte
	Key  *rsa.PrivateKey
	// Path is the certificate's file: the one to give to the servers.
	Path string
	// Created is true when LoadOrCreate generated the certificate.
	Created bool
}

// Info describes a certificate for people: the fields an engineer compares with what a
// machine's HMI or a server's configuration tool shows.
type Info struct {
	Path           string    `json:"path,omitempty"`
	Subject        string    `json:"subject"`
	ApplicationURI string    `json:"application_uri,omitempty"`
	Thumbprint     string    `json:"thumbprint"` // SHA-1 of the DER, hex, as OPC UA tools show it
	NotBefore      time.Time `json:"not_before"`
	NotAfter       time.Time `json:"not_after"`
	IsCA           bool      `json:"is_ca,omitempty"`
	KeyBits        int       `json:"key_bits,omitempty"`
}

// Describe returns the Info of c.
func Describe(c *x509.Certificate) Info {
	in := Info{Subject: c.Subject.String(), Thumbprint: Thumbprint(c.Raw), NotBefore: c.NotBefore,
		NotAfter: c.NotAfter, IsCA: c.IsCA}
	if len(c.URIs) > 0 {
		in.ApplicationURI = c.URIs[0].String()
	}
	if k, ok := c.PublicKey.(*rsa.PublicKey); ok {
		in.KeyBits = k.N.BitLen()
	}
	return in
}

// Thumbprint is the SHA-1 hash of a DER certificate in upper-case hex, the form OPC UA
// configuration tools display.
func Thumbprint(der []byte) string {
	h := sha1.Sum(der)
	return strings.ToUpper(hex.EncodeToString(h[:]))
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Store) path(rel string) string { return filepath.Join(s.Dir, filepath.FromSlash(rel)) }

// Init creates the directory layout.
func (s *Store) Init() error {
	for _, d := range []string{"own/private", TrustedDir, RejectedDir} {
		if err := os.MkdirAll(s.path(d), 0o700); err != nil {
			return fmt.Errorf("pki: %w", err)
		}
	}
	return nil
}

// OwnOptions are the contents of a generated application instance certificate.
type OwnOptions struct {
	// ApplicationURI goes into the subject alternative name; required.
	ApplicationURI string
	// CommonName is the subject's CN; default "Ganlink gateway".
	CommonName string
	// Hosts are DNS names or IP addresses for the subject alternative name; default the
	// host name.
	Hosts []string
	// KeyBits is the RSA key size: 2048 (default), 3072 or 4096.
	KeyBits int
}

// HasOwn reports whether the directory holds an application instance certificate.
func (s *Store) HasOwn() bool { return fileExists(s.OwnCertPath()) }

// OwnCertPath is own/cert.der, or own/cert.pem when only that exists.
func (s *Store) OwnCertPath() string {
	p := s.path(OwnCertFile)
	if pemPath := strings.TrimSuffix(p, ".der") + ".pem"; !fileExists(p) && fileExists(pemPath) {
		return pemPath
	}
	return p
}

// LoadOrCreate returns the application instance certificate, generating it when the
// directory has none, and makes sure the directory layout exists. An existing certificate
// must carry o.ApplicationURI (any URI when it is empty), match its key, have a key of at
// least 2048 bits and be valid now; otherwise the error says what to do.
func (s *Store) LoadOrCreate(o OwnOptions) (*Own, error) {
	if err := s.Init(); err != nil {
		return nil, err
	}
	certPath := s.OwnCertPath()
	keyPath := s.path(OwnKeyFile)
	certExists, keyExists := fileExists(certPath), fileExists(keyPath)
	switch {
	case !certExists && !keyExists:
		return s.create(o)
	case certExists != keyExists:
		have, missing := certPath, keyPath
		if !certExists {
			have, missing = keyPath, certPath
		}
		return nil, fmt.Errorf("pki: %s exists but %s does not: restore it, or delete %s to generate a new certificate (every server must then trust the new one)",
			have, missing, filepath.Join(s.Dir, "own"))
	}
	cert, err := ReadCertificate(certPath)
	if err != nil {
		return nil, fmt.Errorf("pki: application instance certificate: %w", err)
	}
	key, err := readKey(keyPath)
	if err != nil {
		return nil, fmt.Errorf("pki: application instance key: %w", err)
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, fmt.Errorf("pki: %s does not belong to the key in %s", certPath, keyPath)
	}
	if bits := key.N.BitLen(); bits < 2048 {
		return nil, fmt.Errorf("pki: the key in %s has %d bits; OPC UA security policies need at least 2048", keyPath, bits)
	}
	uri := ""
	if len(cert.URIs) > 0 {
		uri = cert.URIs[0].String()
	}
	if o.ApplicationURI != "" && uri != o.ApplicationURI {
		return nil, fmt.Errorf("pki: application instance certificate %s has application URI %q, the configuration says %q: set pki.application_uri to %q, or delete %s to generate a new certificate (every server must then trust the new one)",
			certPath, uri, o.ApplicationURI, uri, filepath.Join(s.Dir, "own"))
	}
	if now := s.now(); now.After(cert.NotAfter) || now.Before(cert.NotBefore) {
		return nil, fmt.Errorf("pki: application instance certificate %s is valid from %s to %s, not now: delete %s to generate a new one (every server must then trust it)",
			certPath, cert.NotBefore.UTC().Format(time.DateOnly), cert.NotAfter.UTC().Format(time.DateOnly), filepath.Join(s.Dir, "own"))
	}
	return &Own{Cert: cert, DER: cert.Raw, Key: key, Path: certPath}, nil
}

func (s *Store) create(o OwnOptions) (*Own, error) {
	bits := o.KeyBits
	if bits == 0 {
		bits = 2048
	}
	if bits != 2048 && bits != 3072 && bits != 4096 {
		return nil, fmt.Errorf("pki: key size %d: want 2048, 3072 or 4096", bits)
	}
	uri, err := parseURI(o.ApplicationURI)
	if err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("pki: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("pki: serial number: %w", err)
	}
	cn := o.CommonName
	if cn == "" {
		cn = "Ganlink gateway"
	}
	hosts := o.Hosts
	if len(hosts) == 0 {
		if h, err := os.Hostname(); err == nil && h != "" {
			hosts = []string{h}
		}
	}
	now := s.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Ganlink"}},
		NotBefore:    now.Add(-time.Hour).UTC().Truncate(time.Second),
		NotAfter:     now.Add(Validity).UTC().Truncate(time.Second),
		// OPC 10000-6 §6.2.2: an application instance certificate is used to sign and to
		// encrypt; a self-signed one also signs itself.
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment | x509.KeyUsageKeyEncipherment |
			x509.KeyUsageDataEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{uri},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse created certificate: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	// The key first: a certificate without its key is refused at the next start, a key
	// without its certificate is replaced.
	if err := writeFileAtomic(s.path(OwnKeyFile), keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(s.path(OwnCertFile), der, 0o644); err != nil {
		return nil, err
	}
	return &Own{Cert: cert, DER: der, Key: key, Path: s.path(OwnCertFile), Created: true}, nil
}

// ErrUntrusted is wrapped by Verify's error for a certificate that is not trusted.
var ErrUntrusted = errors.New("server certificate not trusted")

// Verify checks a server certificate (DER): trusted (the same certificate, or one issued
// by a CA certificate, in trusted/) and valid now. An untrusted certificate is copied to
// rejected/ and the error, wrapping ErrUntrusted, names the file and the command that
// trusts it. server names the server in messages.
func (s *Store) Verify(server string, der []byte) error {
	if len(der) == 0 {
		return fmt.Errorf("server %s sent no certificate", server)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("server %s certificate: %w", server, err)
	}
	trusted, _, err := s.read(TrustedDir)
	if err != nil {
		return err
	}
	ok := false
	roots := x509.NewCertPool()
	hasCA := false
	for _, t := range trusted {
		if bytes.Equal(t.cert.Raw, der) {
			ok = true
			break
		}
		if t.cert.IsCA {
			roots.AddCert(t.cert)
			hasCA = true
		}
	}
	if !ok && hasCA && !bytes.Equal(cert.RawIssuer, cert.RawSubject) {
		_, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: s.now(),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		ok = err == nil
	}
	in := Describe(cert)
	if !ok {
		path, err := s.reject(cert)
		if err != nil {
			return fmt.Errorf("%w: server %s certificate %q (thumbprint %s); it could not be copied to %s: %v",
				ErrUntrusted, server, in.Subject, in.Thumbprint, s.path(RejectedDir), err)
		}
		return fmt.Errorf("%w: server %s certificate %q (application URI %q, thumbprint %s) was copied to %s; after comparing the thumbprint with the server's, trust it with: gateway pki trust %s",
			ErrUntrusted, server, in.Subject, in.ApplicationURI, in.Thumbprint, path, path)
	}
	if now := s.now(); now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return fmt.Errorf("server %s certificate %q (thumbprint %s) is valid from %s to %s, not now",
			server, in.Subject, in.Thumbprint, cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// reject copies cert to rejected/ (once) and returns its path.
func (s *Store) reject(cert *x509.Certificate) (string, error) {
	if err := os.MkdirAll(s.path(RejectedDir), 0o700); err != nil {
		return "", err
	}
	p := filepath.Join(s.path(RejectedDir), FileName(cert))
	if fileExists(p) {
		return p, nil
	}
	return p, writeFileAtomic(p, cert.Raw, 0o644)
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// FileName is the file name a certificate gets in trusted/ or rejected/: its common name
// made safe for file systems and shells, then its thumbprint:
// "M1_server_0123…CDEF.der".
func FileName(c *x509.Certificate) string {
	cn := strings.Trim(unsafeChars.ReplaceAllString(c.Subject.CommonName, "_"), "_.")
	if len(cn) > 64 {
		cn = cn[:64]
	}
	if cn == "" {
		cn = "certificate"
	}
	return cn + "_" + Thumbprint(c.Raw) + ".der"
}

type fileCert struct {
	path string
	cert *x509.Certificate
}

// read reads every file of a sub-directory: the certificates, and "path: error" for the
// files that are not certificates.
func (s *Store) read(dir string) (certs []fileCert, bad []string, err error) {
	ents, err := os.ReadDir(s.path(dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %w", err)
	}
	for _, e := range ents {
		if e.IsDir() || atomicfile.IsTemp(e.Name()) { // a certificate being written
			continue
		}
		p := filepath.Join(s.path(dir), e.Name())
		c, err := ReadCertificate(p)
		if err != nil {
			bad = append(bad, err.Error()) // "path: problem"
			continue
		}
		certs = append(certs, fileCert{p, c})
	}
	return certs, bad, nil
}

// List describes the certificates of a sub-directory (TrustedDir or RejectedDir), sorted
// by path, and names the files that are not certificates.
func (s *Store) List(dir string) (infos []Info, bad []string, err error) {
	certs, bad, err := s.read(dir)
	for _, c := range certs {
		in := Describe(c.cert)
		in.Path = c.path
		infos = append(infos, in)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Path < infos[j].Path })
	return infos, bad, err
}

// Trust puts the certificate in file (DER or PEM) into trusted/. A file in rejected/ is
// moved; any other file is copied. It returns the trusted file's path.
func (s *Store) Trust(file string) (string, error) {
	cert, err := ReadCertificate(file)
	if err != nil {
		return "", fmt.Errorf("pki trust: %w", err)
	}
	if err := s.Init(); err != nil {
		return "", err
	}
	dst := filepath.Join(s.path(TrustedDir), FileName(cert))
	if err := writeFileAtomic(dst, cert.Raw, 0o644); err != nil {
		return "", err
	}
	if abs, err := filepath.Abs(file); err == nil {
		if rej, err := filepath.Abs(s.path(RejectedDir)); err == nil && filepath.Dir(abs) == rej {
			if err := os.Remove(abs); err != nil {
				return dst, fmt.Errorf("pki trust: trusted as %s, but %s could not be removed: %w", dst, file, err)
			}
		}
	}
	return dst, nil
}

// Untrust moves the trusted certificate with the given thumbprint (case-insensitive) to
// rejected/ and returns its new path.
func (s *Store) Untrust(thumbprint string) (string, error) {
	certs, _, err := s.read(TrustedDir)
	if err != nil {
		return "", err
	}
	for _, c := range certs {
		if strings.EqualFold(Thumbprint(c.cert.Raw), thumbprint) {
			p, err := s.reject(c.cert)
			if err != nil {
				return "", fmt.Errorf("pki untrust: %w", err)
			}
			if err := os.Remove(c.path); err != nil {
				return "", fmt.Errorf("pki untrust: %w", err)
			}
			return p, nil
		}
	}
	return "", fmt.Errorf("pki untrust: no certificate with thumbprint %s in %s", strings.ToUpper(thumbprint), s.path(TrustedDir))
}

// ReadCertificate reads a DER or PEM certificate file: a regular file of at most
// fsread.MaxPEM bytes (a FIFO, a device or a huge file dropped into rejected/ is refused
// without being read). Every error starts with the path.
func ReadCertificate(path string) (*x509.Certificate, error) {
	b, err := fsread.ReadRegular(path, fsread.MaxPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, fsread.Reason(err))
	}
	der := b
	if blk, _ := pem.Decode(b); blk != nil {
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s: PEM block %q, want CERTIFICATE", path, blk.Type)
		}
		der = blk.Bytes
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%s: not a DER or PEM certificate: %w", path, err)
	}
	return c, nil
}

// readKey reads an RSA private key from a PEM file (PKCS#1 or PKCS#8).
func readKey(path string) (*rsa.PrivateKey, error) {
	b, err := fsread.ReadRegular(path, fsread.MaxPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, fsread.Reason(err))
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: not a PKCS#1 or PKCS#8 private key", path)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: %T key, OPC UA needs RSA", path, k)
	}
	return rk, nil
}

func parseURI(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("pki: application URI %q: want an absolute URI such as urn:ganlink:gateway:ws1", s)
	}
	return u, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// writeFileAtomic writes path so that a crash leaves the old file or the new one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err := atomicfile.Write(path, data, mode); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	return nil
}
