package opcua

import (
	"bytes"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/adapters/opcua/pki"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/ganlink/ganlink/internal/testutil"
)

func ep(policy string, mode ua.MessageSecurityMode, level uint8, tokens ...ua.UserTokenType) *ua.EndpointDescription {
	e := &ua.EndpointDescription{SecurityPolicyURI: ua.SecurityPolicyURIPrefix + policy, SecurityMode: mode, SecurityLevel: level}
	for _, t := range tokens {
		e.UserIdentityTokens = append(e.UserIdentityTokens, &ua.UserTokenPolicy{TokenType: t})
	}
	return e
}

func TestSelectEndpoint(t *testing.T) {
	const (
		anon = ua.UserTokenTypeAnonymous
		user = ua.UserTokenTypeUserName
		cert = ua.UserTokenTypeCertificate
		none = ua.MessageSecurityModeNone
		sign = ua.MessageSecurityModeSign
		enc  = ua.MessageSecurityModeSignAndEncrypt
	)
	all := []*ua.EndpointDescription{
		ep("None", none, 0, anon, user),
		ep("Basic128Rsa15", enc, 9, anon, user),
		ep("Basic256Sha256", sign, 3, anon, user),
		ep("Basic256Sha256", enc, 4, anon, user),
		ep("Aes128_Sha256_RsaOaep", sign, 5, anon, user),
		ep("Aes128_Sha256_RsaOaep", enc, 6, anon, user),
		ep("Aes256_Sha256_RsaPss", sign, 7, user),
		ep("Aes256_Sha256_RsaPss", enc, 8, user),
	}
	tests := []struct {
		name         string
		eps          []*ua.EndpointDescription
		policy, mode string
		token        ua.UserTokenType
		want         string // policy/mode, or the error
	}{
		{"auto picks the strongest", all, Auto, Auto, user, "Aes256_Sha256_RsaPss/SignAndEncrypt"},
		{"auto skips endpoints without the login", all, Auto, Auto, anon, "Basic256Sha256/SignAndEncrypt"},
		{"auto policy, fixed mode", all, Auto, "Sign", user, "Aes256_Sha256_RsaPss/Sign"},
		{"fixed policy, auto mode", all, "Aes128_Sha256_RsaOaep", Auto, anon, "Aes128_Sha256_RsaOaep/SignAndEncrypt"},
		{"fixed", all, "Basic256Sha256", "Sign", anon, "Basic256Sha256/Sign"},
		{"none when asked", all, "None", "None", anon, "None/None"},
		{"encryption beats a stronger policy", []*ua.EndpointDescription{
			ep("Aes256_Sha256_RsaPss", sign, 9, anon), ep("Aes128_Sha256_RsaOaep", enc, 1, anon)},
			Auto, Auto, anon, "Aes128_Sha256_RsaOaep/SignAndEncrypt"},
		{"security level breaks ties", []*ua.EndpointDescription{
			ep("Basic256Sha256", enc, 1, anon), ep("Basic256Sha256", enc, 2, anon, user)},
			Auto, Auto, anon, "Basic256Sha256/SignAndEncrypt@2"},
		{"auto never picks None", all[:2], Auto, Auto, anon,
			`no endpoint fits security_policy "auto", security_mode "auto" and anonymous login; the server offers None/None (anonymous, user name and password), Basic128Rsa15/SignAndEncrypt (anonymous, user name and password); the server offers no security for this login: enable it on the server, or set security_policy: None to connect without (docs/security.md)`},
		{"no certificate login", all[:3], Auto, Auto, cert,
			`no endpoint fits security_policy "auto", security_mode "auto" and user certificate login; the server offers None/None (anonymous, user name and password), Basic128Rsa15/SignAndEncrypt (anonymous, user name and password), Basic256Sha256/Sign (anonymous, user name and password)`},
		{"no endpoints", nil, Auto, Auto, anon,
			`no endpoint fits security_policy "auto", security_mode "auto" and anonymous login; the server offers no endpoints`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := selectEndpoint(tt.eps, tt.policy, tt.mode, tt.token)
			var s string
			if err != nil {
				s = err.Error()
			} else {
				s = PolicyName(got.SecurityPolicyURI) + "/" + ModeName(got.SecurityMode)
				if strings.Contains(tt.want, "@") {
					s += "@" + string(rune('0'+got.SecurityLevel))
				}
			}
			if s != tt.want {
				t.Errorf("got  %s\nwant %s", s, tt.want)
			}
		})
	}
}

// newPKI generates an application instance certificate in a fresh PKI directory.
func newPKI(t *testing.T, uri string) (*pki.Store, *pki.Own) {
	t.Helper()
	store := &pki.Store{Dir: filepath.Join(t.TempDir(), "pki")}
	own, err := store.LoadOrCreate(pki.OwnOptions{ApplicationURI: uri})
	if err != nil {
		t.Fatalf("LoadOrCreate: %v", err)
	}
	return store, own
}

// lastErr returns the error of the last down state rec was told, or nil.
func lastErr(rec *adaptertest.Recorder) error {
	errs := rec.DownErrors()
	if len(errs) == 0 {
		return nil
	}
	return errs[len(errs)-1]
}

// TestSecurityInterop runs the source against node-opcua, an independent OPC UA stack,
// offering Basic256Sha256, Aes128_Sha256_RsaOaep and Aes256_Sha256_RsaPss in Sign and
// SignAndEncrypt, with user-name and certificate logins and no anonymous access. The
// server trusts the gateway's certificate; the gateway learns to trust the server's.
func TestSecurityInterop(t *testing.T) {
	store, own := newPKI(t, "urn:ganlink:gateway:test")
	_, userCert := newPKI(t, "urn:ganlink:user:operator")
	srv := testsrv.StartMachineTool(t, testsrv.MachineToolOptions{
		Policies:       []string{"Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"},
		Users:          map[string]string{"operator": "s3cret"},
		TrustedClients: [][]byte{own.DER},
		TrustedUsers:   [][]byte{userCert.DER},
	})
	serverCert := srv.ServerCertificate()
	config := func(policy, mode string) Config {
		return Config{Name: "mt", Endpoint: srv.URL, SecurityPolicy: policy, SecurityMode: mode, PKI: store, Own: own,
			Username: "operator", Password: "s3cret",
			PublishingInterval: 50 * time.Millisecond, ConnectTimeout: 5 * time.Second,
			ReconnectMin: 50 * time.Millisecond, ReconnectMax: 300 * time.Millisecond, Timestamp: "gateway",
			Items: []Item{{Device: "m1", Measurement: "cnc", Tags: testTags, Field: "spindle_speed_rpm",
				NodeID: "nsu=" + nsuVendor + ";s=M1.Spindle.ActSpeed"}}}
	}
	speed := func(rec *adaptertest.Recorder) func() bool {
		return func() bool {
			p, ok := rec.LastField("m1", "spindle_speed_rpm")
			return ok && p.Fields[0].Value == 1200.5
		}
	}

	t.Run("untrusted server rejected, then trusted", func(t *testing.T) {
		rec := &adaptertest.Recorder{}
		src, _ := runSource(t, config(Auto, Auto), rec, nil)
		testutil.WaitFor(t, 15*time.Second, "the server certificate rejected", func() bool { return lastErr(rec) != nil })
		err := lastErr(rec)
		if !errors.Is(err, pki.ErrUntrusted) || FailureReason(err) != "untrusted_certificate" {
			t.Fatalf("error %v (%s), want pki.ErrUntrusted", err, FailureReason(err))
		}
		rejected := filepath.Join(store.Dir, "rejected", "*")
		files, _ := filepath.Glob(rejected)
		if len(files) != 1 {
			t.Fatalf("rejected/ holds %v, want the server certificate", files)
		}
		if b, _ := os.ReadFile(files[0]); !bytes.Equal(b, serverCert) {
			t.Fatalf("%s is not the server's certificate", files[0])
		}
		in := pki.Describe(mustParse(t, serverCert))
		want := `server certificate not trusted: server ` + srv.URL + ` certificate "` + in.Subject + `" (application URI "urn:ganlink:testsrv:machinetool", thumbprint ` +
			in.Thumbprint + `) was copied to ` + files[0] + `; after comparing the thumbprint with the server's, trust it with: gateway pki trust ` + files[0]
		if err.Error() != want {
			t.Errorf("error\n got %v\nwant %s", err, want)
		}
		if _, ok := rec.LastField("m1", "spindle_speed_rpm"); ok {
			t.Fatal("values arrived from an untrusted server")
		}
		if _, err := store.Trust(files[0]); err != nil {
			t.Fatal(err)
		}
		// The running source picks the trust up at its next attempt: no restart.
		testutil.WaitFor(t, 20*time.Second, "values after trusting the server", speed(rec))
		if got := src.Security(); got != "Aes256_Sha256_RsaPss/SignAndEncrypt" {
			t.Errorf("auto chose %s, want Aes256_Sha256_RsaPss/SignAndEncrypt", got)
		}
		if files, _ := filepath.Glob(rejected); len(files) != 0 {
			t.Errorf("rejected/ still holds %v after trust", files)
		}
	})

	for _, c := range []struct{ policy, mode string }{
		{"Basic256Sha256", "SignAndEncrypt"},
		{"Aes256_Sha256_RsaPss", "SignAndEncrypt"},
		{"Aes128_Sha256_RsaOaep", "SignAndEncrypt"},
		{"Basic256Sha256", "Sign"},
		{"Aes256_Sha256_RsaPss", "Sign"},
	} {
		t.Run(c.policy+"/"+c.mode, func(t *testing.T) {
			rec := &adaptertest.Recorder{}
			src, _ := runSource(t, config(c.policy, c.mode), rec, nil)
			testutil.WaitFor(t, 20*time.Second, "values", speed(rec))
			if got := src.Security(); got != c.policy+"/"+c.mode {
				t.Errorf("security %s", got)
			}
		})
	}

	t.Run("user certificate", func(t *testing.T) {
		cfg := config(Auto, Auto)
		cfg.Username, cfg.Password = "", ""
		cfg.UserCertificate, cfg.UserKey = userCert.DER, userCert.Key
		rec := &adaptertest.Recorder{}
		runSource(t, cfg, rec, nil)
		testutil.WaitFor(t, 20*time.Second, "values with a user certificate", speed(rec))
	})

	t.Run("wrong password", func(t *testing.T) {
		cfg := config("Basic256Sha256", "SignAndEncrypt")
		cfg.Password = "wrong"
		rec := &adaptertest.Recorder{}
		runSource(t, cfg, rec, nil)
		testutil.WaitFor(t, 20*time.Second, "the login refused", func() bool { return lastErr(rec) != nil })
		err := lastErr(rec).Error()
		want := `connect to "` + srv.URL + `" with security Basic256Sha256/SignAndEncrypt and user name and password login: User does not have permission to perform the requested operation. StatusBadUserAccessDenied (0x801F0000)`
		if err != want {
			t.Errorf("error\n got %s\nwant %s", err, want)
		}
		if r := FailureReason(lastErr(rec)); r != "login_refused" {
			t.Errorf("reason %q, want login_refused", r)
		}
		if strings.Contains(err, "wrong") {
			t.Errorf("error shows the password: %s", err)
		}
	})

	t.Run("gateway not trusted by the server", func(t *testing.T) {
		other, otherOwn := newPKI(t, "urn:ganlink:gateway:other")
		if _, err := other.Trust(writeTemp(t, serverCert)); err != nil {
			t.Fatal(err)
		}
		cfg := config("Basic256Sha256", "SignAndEncrypt")
		cfg.PKI, cfg.Own = other, otherOwn
		rec := &adaptertest.Recorder{}
		runSource(t, cfg, rec, nil)
		testutil.WaitFor(t, 20*time.Second, "the gateway refused", func() bool { return lastErr(rec) != nil })
		want := `connect to "` + srv.URL + `" with security Basic256Sha256/SignAndEncrypt and user name and password login: An error occurred verifying security. StatusBadSecurityChecksFailed (0x80130000)` +
			` (does the server trust the gateway's certificate ` + filepath.Join(other.Dir, "own", "cert.der") + `, thumbprint ` + pki.Thumbprint(otherOwn.DER) +
			`? OPC UA servers keep an unknown client certificate in their rejected list until an administrator trusts it)`
		if err := lastErr(rec).Error(); err != want {
			t.Errorf("error\n got %s\nwant %s", err, want)
		}
		if r := FailureReason(lastErr(rec)); r != "security_rejected" {
			t.Errorf("reason %q, want security_rejected", r)
		}
		testutil.WaitFor(t, 10*time.Second, "the server to reject the gateway's certificate", func() bool {
			for _, c := range srv.RejectedClients() {
				if bytes.Equal(c, otherOwn.DER) {
					return true
				}
			}
			return false
		})
	})
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cert.der")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
