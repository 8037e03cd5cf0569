package opcua

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/adapters/opcua/pki"
	"github.com/ganlink/ganlink/gateway/point"
)

// Auto, as SecurityPolicy or SecurityMode, selects the strongest security the server
// offers (see selectEndpoint).
const Auto = "auto"

// securityPolicies maps the accepted security policy names to their URIs. Basic128Rsa15
// and Basic256 (SHA-1, deprecated by OPC 10000-7 since 1.04) are refused.
var securityPolicies = map[string]string{
	"None":                  ua.SecurityPolicyURINone,
	"Basic256Sha256":        ua.SecurityPolicyURIBasic256Sha256,
	"Aes128_Sha256_RsaOaep": ua.SecurityPolicyURIAes128Sha256RsaOaep,
	"Aes256_Sha256_RsaPss":  ua.SecurityPolicyURIAes256Sha256RsaPss,
}

// deprecatedPolicies are recognised to give a precise error.
var deprecatedPolicies = map[string]bool{"Basic128Rsa15": true, "Basic256": true}

// policyRank orders the policies by strength. Aes256_Sha256_RsaPss (RSA-OAEP-SHA256,
// RSA-PSS, AES-256) beats Basic256Sha256 (RSA-OAEP-SHA1 key transport, AES-256), which
// beats Aes128_Sha256_RsaOaep (AES-128).
var policyRank = map[string]int{
	ua.SecurityPolicyURINone:                0,
	ua.SecurityPolicyURIAes128Sha256RsaOaep: 1,
	ua.SecurityPolicyURIBasic256Sha256:      2,
	ua.SecurityPolicyURIAes256Sha256RsaPss:  3,
}

// securityModes maps the accepted security mode names.
var securityModes = map[string]ua.MessageSecurityMode{
	"None":           ua.MessageSecurityModeNone,
	"Sign":           ua.MessageSecurityModeSign,
	"SignAndEncrypt": ua.MessageSecurityModeSignAndEncrypt,
}

// ErrNoEndpoint is wrapped by the error of a connection attempt that found no endpoint
// fitting the configured security and login.
var ErrNoEndpoint = errors.New("no endpoint")

// FailureReason classifies the error of a failed connection attempt for metrics:
// "untrusted_certificate" (the server's certificate is not trusted by the gateway),
// "security_rejected" (the server refused the gateway's certificate or security),
// "login_refused" (user name, password or user certificate refused), "no_endpoint"
// (nothing fits the configured security and login), "malformed_message" (the server
// sent a message the gateway refuses to decode: over MaxMessageSize, an array longer
// than the message, nesting deeper than ua.MaxNestingDepth, or undecodable), or "" for
// any other failure.
func FailureReason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, pki.ErrUntrusted):
		return point.FailureUntrustedCertificate
	case errors.Is(err, ErrNoEndpoint):
		return point.FailureNoEndpoint
	case errors.Is(err, ua.StatusBadUserAccessDenied), errors.Is(err, ua.StatusBadIdentityTokenRejected),
		errors.Is(err, ua.StatusBadIdentityTokenInvalid):
		return point.FailureLoginRefused
	case errors.Is(err, ua.StatusBadSecurityChecksFailed), errors.Is(err, ua.StatusBadCertificateUntrusted),
		errors.Is(err, ua.StatusBadCertificateInvalid), errors.Is(err, ua.StatusBadCertificateURIInvalid),
		errors.Is(err, ua.StatusBadCertificateTimeInvalid), errors.Is(err, ua.StatusBadSecurityPolicyRejected),
		errors.Is(err, ua.StatusBadCertificateUseNotAllowed):
		return point.FailureSecurityRejected
	case errors.Is(err, ua.StatusBadEncodingLimitsExceeded), errors.Is(err, ua.StatusBadDecodingError),
		errors.Is(err, ua.StatusBadTCPMessageTooLarge):
		return point.FailureMalformedMessage
	}
	return ""
}

// policyNames lists the accepted policy names for messages.
const policyNames = "auto, None, Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss"

// PolicyName returns the short name of a security policy URI ("Basic256Sha256").
func PolicyName(uri string) string {
	return strings.TrimPrefix(uri, ua.SecurityPolicyURIPrefix)
}

// ModeName returns "None", "Sign" or "SignAndEncrypt".
func ModeName(m ua.MessageSecurityMode) string {
	switch m {
	case ua.MessageSecurityModeNone:
		return "None"
	case ua.MessageSecurityModeSign:
		return "Sign"
	case ua.MessageSecurityModeSignAndEncrypt:
		return "SignAndEncrypt"
	}
	return fmt.Sprintf("Invalid(%d)", m)
}

// tokenName names a user token type the way the configuration does.
func tokenName(t ua.UserTokenType) string {
	switch t {
	case ua.UserTokenTypeUserName:
		return "user name and password"
	case ua.UserTokenTypeCertificate:
		return "user certificate"
	}
	return "anonymous"
}

// selectEndpoint picks the endpoint to connect to among those the server lists:
// the configured policy and mode, or with "auto" the strongest the server offers, by mode
// first (SignAndEncrypt over Sign) and then by policy (policyRank); the server's
// SecurityLevel breaks ties. "auto" never picks security None: that has to be configured.
// The endpoint must accept the user token type the configuration authenticates with.
func selectEndpoint(eps []*ua.EndpointDescription, policy, mode string, token ua.UserTokenType) (*ua.EndpointDescription, error) {
	var fits []*ua.EndpointDescription
	for _, ep := range eps {
		if _, ok := policyRank[ep.SecurityPolicyURI]; !ok {
			continue
		}
		if policy == Auto {
			if ep.SecurityPolicyURI == ua.SecurityPolicyURINone {
				continue
			}
		} else if ep.SecurityPolicyURI != securityPolicies[policy] {
			continue
		}
		if mode != Auto && ep.SecurityMode != securityModes[mode] {
			continue
		}
		if ep.SecurityMode == ua.MessageSecurityModeNone && ep.SecurityPolicyURI != ua.SecurityPolicyURINone ||
			ep.SecurityMode != ua.MessageSecurityModeNone && ep.SecurityPolicyURI == ua.SecurityPolicyURINone {
			continue
		}
		if !acceptsToken(ep, token) {
			continue
		}
		fits = append(fits, ep)
	}
	if len(fits) == 0 {
		hint := ""
		if policy == Auto {
			for _, ep := range eps {
				if ep.SecurityPolicyURI == ua.SecurityPolicyURINone && acceptsToken(ep, token) {
					hint = "; the server offers no security for this login: enable it on the server, or set security_policy: None to connect without (docs/security.md)"
					break
				}
			}
		}
		return nil, fmt.Errorf("%w fits security_policy %q, security_mode %q and %s login; the server offers %s%s",
			ErrNoEndpoint, policy, mode, tokenName(token), describeEndpoints(eps), hint)
	}
	sort.SliceStable(fits, func(i, j int) bool {
		a, b := fits[i], fits[j]
		if a.SecurityMode != b.SecurityMode {
			return a.SecurityMode > b.SecurityMode
		}
		if ra, rb := policyRank[a.SecurityPolicyURI], policyRank[b.SecurityPolicyURI]; ra != rb {
			return ra > rb
		}
		return a.SecurityLevel > b.SecurityLevel
	})
	return fits[0], nil
}

func acceptsToken(ep *ua.EndpointDescription, t ua.UserTokenType) bool {
	for _, p := range ep.UserIdentityTokens {
		if p.TokenType == t {
			return true
		}
	}
	return false
}

// describeEndpoints lists the distinct policy/mode pairs of eps with their login types,
// e.g. "None/None (anonymous), Basic256Sha256/SignAndEncrypt (anonymous, user name and
// password)".
func describeEndpoints(eps []*ua.EndpointDescription) string {
	if len(eps) == 0 {
		return "no endpoints"
	}
	seen := map[string]bool{}
	var out []string
	for _, ep := range eps {
		var toks []string
		for _, p := range ep.UserIdentityTokens {
			toks = append(toks, tokenName(p.TokenType))
		}
		s := PolicyName(ep.SecurityPolicyURI) + "/" + ModeName(ep.SecurityMode) + " (" + strings.Join(toks, ", ") + ")"
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return strings.Join(out, ", ")
}

// tokenPolicyURI is the security policy that protects the user token on ep: the token
// policy's own, else the endpoint's.
func tokenPolicyURI(ep *ua.EndpointDescription, t ua.UserTokenType) string {
	for _, p := range ep.UserIdentityTokens {
		if p.TokenType == t && p.SecurityPolicyURI != "" {
			return p.SecurityPolicyURI
		}
	}
	return ep.SecurityPolicyURI
}
