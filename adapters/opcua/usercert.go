package opcua

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/ganlink/ganlink/internal/fsread"
)

// readFileLimit reads a regular file of at most limit bytes: a FIFO or a device such as
// /dev/zero named by mistake fails at once instead of blocking or filling memory. Errors
// leave out the path, which the caller names.
func readFileLimit(path string, limit int64) ([]byte, error) {
	b, err := fsread.ReadRegular(path, limit)
	return b, fsread.Reason(err)
}

const maxPEMBytes = fsread.MaxPEM

// LoadUserCertificate reads an OPC UA user certificate (PEM or DER) and its RSA key
// (PEM, PKCS#1 or PKCS#8) and checks that they belong together.
func LoadUserCertificate(certFile, keyFile string) (certDER []byte, key *rsa.PrivateKey, err error) {
	b, err := readFileLimit(certFile, maxPEMBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("read %q: %v", certFile, err)
	}
	certDER = b
	if blk, _ := pem.Decode(b); blk != nil {
		certDER = blk.Bytes
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, nil, fmt.Errorf("%q is not a PEM or DER certificate: %v", certFile, err)
	}
	kb, err := readFileLimit(keyFile, maxPEMBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("read %q: %v", keyFile, err)
	}
	blk, _ := pem.Decode(kb)
	if blk == nil {
		return nil, nil, fmt.Errorf("no PEM private key in %q", keyFile)
	}
	key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		k, err8 := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err8 != nil {
			if _, errEC := x509.ParseECPrivateKey(blk.Bytes); errEC == nil {
				return nil, nil, fmt.Errorf("%q holds an EC key: OPC UA security needs RSA", keyFile)
			}
			return nil, nil, fmt.Errorf("%q holds no RSA private key (PKCS#1 or PKCS#8)", keyFile)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			kind := "a non-RSA"
			if _, ec := k.(*ecdsa.PrivateKey); ec {
				kind = "an EC"
			}
			return nil, nil, fmt.Errorf("%q holds %s key: OPC UA security needs RSA", keyFile, kind)
		}
		key = rk
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil, fmt.Errorf("certificate %q does not belong to key %q", certFile, keyFile)
	}
	return certDER, key, nil
}
