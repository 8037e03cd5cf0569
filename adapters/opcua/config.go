package opcua

import (
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/adapters/opcua/pki"
	"github.com/ganlink/ganlink/gateway/point"
)

// Defaults applied by New to zero Config and Item fields.
const (
	DefaultPublishingInterval      = time.Second
	DefaultConnectTimeout          = 10 * time.Second
	DefaultReconnectMin            = 500 * time.Millisecond
	DefaultReconnectMax            = 30 * time.Second
	DefaultMaxItemsPerCall         = 1000
	DefaultMaxItemsPerSubscription = 1000
	DefaultQueueSize               = 10
	// DefaultMaxMessageSize bounds a message the gateway accepts from a server
	// (announced in the OPC UA Hello; a server's larger figure is ignored). The
	// patched decoder refuses a message whose decoding would take more than
	// ua.AllocFactor (32) times its size, so a hostile message costs at most ~64 MiB
	// while it is decoded; a publish response of 1000 notifications is ~50 KB, and a
	// 1 MiB string value still fits.
	DefaultMaxMessageSize = 2 << 20
	// receiveChunkSize is the chunk size the gateway announces (gopcua's default).
	receiveChunkSize = 0xffff
)

// Config configures one OPC UA source: one server endpoint, one session, and the items
// monitored on it. Zero values mean the documented default.
type Config struct {
	// Name is the source name used in logs and Observer calls.
	Name string
	// Endpoint is the server URL, opc.tcp://host:port/path. It is dialled as given; the
	// endpoint URL the server advertises is only used to pick security settings.
	Endpoint string
	// SecurityPolicy is "None" (the zero value), "Basic256Sha256",
	// "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss" or "auto" (the strongest the server
	// offers; never None).
	SecurityPolicy string
	// SecurityMode is "None", "Sign", "SignAndEncrypt" or "auto" (SignAndEncrypt if
	// offered, else Sign); the zero value is None with policy None, else auto.
	SecurityMode string
	// PKI holds the trusted and rejected server certificates and Own the gateway's
	// application instance certificate; both are required unless SecurityPolicy is None
	// and no credentials are sent.
	PKI *pki.Store
	Own *pki.Own
	// Username and Password select user-name authentication; UserCertificate (DER) and
	// UserKey select X.509 user authentication; anonymous when neither is set.
	Username, Password string
	UserCertificate    []byte
	UserKey            *rsa.PrivateKey
	// PublishingInterval is the subscriptions' publishing interval; default 1s.
	PublishingInterval time.Duration
	// ConnectTimeout bounds each connection attempt and each service call; default 10s.
	ConnectTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the reconnect backoff (capped exponential with
	// jitter); defaults 500ms and 30s.
	ReconnectMin time.Duration
	ReconnectMax time.Duration
	// Timestamp selects the point time: "source" (default: the source timestamp, else the
	// server timestamp, else the gateway's clock), "server" (server timestamp, else the
	// gateway's clock) or "gateway" (the gateway's clock when the publish response arrives).
	Timestamp string
	// MaxItemsPerCall is the CreateMonitoredItems chunk size; default 1000. A server's
	// lower MaxMonitoredItemsPerCall operation limit wins.
	MaxItemsPerCall int
	// MaxItemsPerSubscription caps the items of one subscription; default 1000. More
	// items are spread over several subscriptions.
	MaxItemsPerSubscription int
	// MaxMessageSize bounds a message accepted from the server, in bytes; default
	// DefaultMaxMessageSize. A larger message fails the call (and the session) with
	// an error wrapping ua.StatusBadEncodingLimitsExceeded.
	MaxMessageSize int
	// Items are the values to monitor. A source without items still keeps its session
	// (and reports its state).
	Items []Item
}

// Item binds one OPC UA variable to one field of one device's points.
type Item struct {
	// Device is the device id; Measurement the device kind.
	Device, Measurement string
	// Tags are the device's identity tags, sorted; the slice is shared by every point of
	// the device and put on the points as is.
	Tags []point.Tag
	// Field is the field key, e.g. "spindle_speed_rpm".
	Field string
	// NodeID is "ns=2;s=Name", "ns=2;i=1001", "i=2258", "ns=3;g=GUID", "ns=3;b=BASE64" or
	// "nsu=http://uri/;s=Name"; a namespace URI is resolved against the server's
	// NamespaceArray at every connect. Exactly one of NodeID and BrowsePath is set.
	NodeID string
	// BrowsePath names the node by browse names from BrowseStart, e.g.
	// "Objects/nsu=http://opcfoundation.org/UA/Machinery/;Machines/nsu=urn:vendor;M1";
	// it is translated into a node id at every connect (see the package documentation
	// for the syntax and namespace rules).
	BrowsePath string
	// BrowseStart is the node id BrowsePath starts from; default the Objects folder
	// (DefaultBrowseStart). Only with BrowsePath.
	BrowseStart string
	// SamplingInterval is the requested sampling interval; 0 means the publishing interval.
	SamplingInterval time.Duration
	// QueueSize is the server-side queue size of the monitored item; default 10.
	QueueSize uint32
	// DeadbandType is "" (none), "absolute" or "percent" (of the EURange).
	DeadbandType string
	// DeadbandValue is the deadband in value units (absolute) or 0..100 (percent).
	DeadbandValue float64
	// Conv converts the raw value into the field value.
	Conv point.Conv
}

// DefaultConfig returns a Config with every default filled in and no name, endpoint or
// items.
func DefaultConfig() Config {
	var c Config
	c.applyDefaults()
	return c
}

func (c *Config) applyDefaults() {
	if c.SecurityPolicy == "" {
		c.SecurityPolicy = "None"
	}
	if c.SecurityMode == "" {
		c.SecurityMode = "None"
		if c.SecurityPolicy != "None" {
			c.SecurityMode = Auto
		}
	}
	if c.PublishingInterval == 0 {
		c.PublishingInterval = DefaultPublishingInterval
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = DefaultReconnectMin
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = DefaultReconnectMax
	}
	if c.Timestamp == "" {
		c.Timestamp = "source"
	}
	if c.MaxItemsPerCall == 0 {
		c.MaxItemsPerCall = DefaultMaxItemsPerCall
	}
	if c.MaxItemsPerSubscription == 0 {
		c.MaxItemsPerSubscription = DefaultMaxItemsPerSubscription
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	for i := range c.Items {
		if c.Items[i].QueueSize == 0 {
			c.Items[i].QueueSize = DefaultQueueSize
		}
	}
}

// Validate checks c without connecting anywhere. Zero values are valid (they mean the
// default). Every problem is reported, one per line, as "<field>: <problem>", e.g.
// `items[3].node_id: invalid node id "ns=2;x=1"`.
func (c *Config) Validate() error {
	var errs []error
	c.check(func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}, true)
	return errors.Join(errs...)
}

// check reports every problem of c to add; needPKI checks that a PKI is given where
// the security policy needs one (the configuration is checked before the gateway opens
// its PKI directory).
func (c *Config) check(add func(field, format string, a ...any), needPKI bool) {
	if c.Name == "" {
		add("name", "must not be empty")
	}
	if err := validateEndpoint(c.Endpoint); err != nil {
		add("endpoint", "%v", err)
	}
	policy := c.SecurityPolicy
	if policy == "" {
		policy = "None"
	}
	_, policyOK := securityPolicies[policy]
	switch {
	case policy == Auto || policyOK:
	case deprecatedPolicies[policy]:
		add("security_policy", "security policy %q is deprecated (SHA-1) and not supported: want %s", c.SecurityPolicy, policyNames)
		policyOK = true // no second error about the mode
	default:
		add("security_policy", "unsupported security policy %q: want %s", c.SecurityPolicy, policyNames)
	}
	mode := c.SecurityMode
	if mode == "" {
		mode = "None"
		if policy != "None" {
			mode = Auto
		}
	}
	if _, ok := securityModes[mode]; !ok && mode != Auto {
		add("security_mode", "invalid security mode %q: want auto, None, Sign or SignAndEncrypt", c.SecurityMode)
	} else if (policy == Auto || policyOK) && mode != Auto && (mode == "None") != (policy == "None") {
		add("security_mode", "security mode %q does not fit security policy %q: None goes with None only", mode, policy)
	} else if policy == "None" && mode == Auto {
		add("security_mode", "security mode %q does not fit security policy %q: None goes with None only", mode, policy)
	}
	if c.Password != "" && c.Username == "" {
		add("password", "set without a user name")
	}
	if (c.UserCertificate == nil) != (c.UserKey == nil) {
		add("user_certificate", "user certificate and user key go together")
	}
	if c.UserCertificate != nil && c.Username != "" {
		add("user_certificate", "set together with username: choose one login")
	}
	if needPKI && policy != "None" && (policy == Auto || policyOK) && (c.PKI == nil || c.Own == nil) {
		add("pki", "the application instance certificate and the PKI directory are required for security policy %q", policy)
	}
	durations := []struct {
		field string
		d     time.Duration
	}{
		{"publishing_interval", c.PublishingInterval},
		{"connect_timeout", c.ConnectTimeout},
		{"reconnect_min", c.ReconnectMin},
		{"reconnect_max", c.ReconnectMax},
	}
	for _, d := range durations {
		if d.d < 0 {
			add(d.field, "negative duration %s", d.d)
		}
	}
	if c.PublishingInterval > 0 && c.PublishingInterval < time.Millisecond {
		add("publishing_interval", "%s is below 1ms", c.PublishingInterval)
	}
	rmin, rmax := c.ReconnectMin, c.ReconnectMax
	if rmin == 0 {
		rmin = DefaultReconnectMin
	}
	if rmax == 0 {
		rmax = DefaultReconnectMax
	}
	if rmin > 0 && rmax > 0 && rmin > rmax {
		add("reconnect_min", "%s is above reconnect_max %s", rmin, rmax)
	}
	switch c.Timestamp {
	case "", "source", "server", "gateway":
	default:
		add("timestamp", "invalid timestamp %q: want source, server or gateway", c.Timestamp)
	}
	if c.MaxItemsPerCall < 0 {
		add("max_items_per_call", "negative value %d", c.MaxItemsPerCall)
	}
	if c.MaxItemsPerSubscription < 0 {
		add("max_items_per_subscription", "negative value %d", c.MaxItemsPerSubscription)
	}
	if c.MaxMessageSize != 0 && (c.MaxMessageSize < 8192 || c.MaxMessageSize > maxMessageSizeLimit) {
		add("max_message_size", "invalid value %d: want 8192 to 1073741824 bytes", c.MaxMessageSize)
	}
	type key struct{ device, field string }
	seen := make(map[key]int, len(c.Items))
	for i := range c.Items {
		it := &c.Items[i]
		p := fmt.Sprintf("items[%d]", i)
		if it.Device == "" {
			add(p+".device", "must not be empty")
		}
		if it.Measurement == "" {
			add(p+".measurement", "must not be empty")
		}
		if it.Field == "" {
			add(p+".field", "must not be empty")
		} else if j, dup := seen[key{it.Device, it.Field}]; dup {
			add(p+".field", "duplicate field %q of device %q (also items[%d])", it.Field, it.Device, j)
		} else {
			seen[key{it.Device, it.Field}] = i
		}
		for _, pr := range it.Conv.Problems() {
			add(p+"."+pr.Key, "%s", pr.Msg)
		}
		switch {
		case it.NodeID == "" && it.BrowsePath == "":
			add(p+".node_id", "required: set a node id or a browse path")
		case it.NodeID != "" && it.BrowsePath != "":
			add(p+".browse_path", "set together with a node id: set one of them")
		case it.NodeID != "":
			if err := ValidateNodeID(it.NodeID); err != nil {
				add(p+".node_id", "%v", err)
			}
			if it.BrowseStart != "" {
				add(p+".browse_start", "set without browse_path")
			}
		default:
			if err := ValidateBrowsePath(it.BrowsePath); err != nil {
				add(p+".browse_path", "%v", err)
			}
			if it.BrowseStart != "" {
				if err := ValidateNodeID(it.BrowseStart); err != nil {
					add(p+".browse_start", "%v", err)
				}
			}
		}
		if it.SamplingInterval < 0 {
			add(p+".sampling_interval", "negative duration %s", it.SamplingInterval)
		}
		switch it.DeadbandType {
		case "":
			if it.DeadbandValue != 0 {
				add(p+".deadband_value", "set without deadband_type")
			}
		case "absolute", "percent":
			switch {
			case math.IsNaN(it.DeadbandValue) || math.IsInf(it.DeadbandValue, 0) || it.DeadbandValue < 0:
				add(p+".deadband_value", "invalid deadband %v: want a finite value >= 0", it.DeadbandValue)
			case it.DeadbandType == "percent" && it.DeadbandValue > 100:
				add(p+".deadband_value", "percent deadband %v is above 100", it.DeadbandValue)
			}
		default:
			add(p+".deadband_type", "invalid deadband type %q: want absolute or percent", it.DeadbandType)
		}
	}
}

func validateEndpoint(s string) error {
	bad := func() error { return fmt.Errorf("invalid endpoint %q: want opc.tcp://host:port[/path]", redactURL(s)) }
	if !strings.HasPrefix(s, "opc.tcp://") {
		return bad()
	}
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" {
		return bad()
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("invalid endpoint %q: port %q is not 1..65535", redactURL(s), p)
		}
	}
	return nil
}

// redactURL hides the password of a URL in a message, also in one that does not parse.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return userinfoRE.ReplaceAllString(s, "://xxxxx@")
}

var userinfoRE = regexp.MustCompile(`://[^/@]*@`)

// nodeID is a parsed node id. The namespace is either an index (nsu == "") or a URI
// resolved against the server's NamespaceArray.
type nodeID struct {
	ns   uint16
	nsu  string
	kind byte // 'i', 's', 'g' or 'b'
	num  uint32
	str  string // string identifier, GUID text or decoded opaque bytes
}

// ValidateNodeID checks the syntax of an OPC UA node id without a connection:
// [ns=N;|nsu=URI;](i=N|s=TEXT|g=GUID|b=BASE64). The error names the node id and, where
// it can, the offending part.
func ValidateNodeID(s string) error {
	_, err := parseNodeID(s)
	return err
}

func parseNodeID(s string) (nodeID, error) {
	var n nodeID
	bad := func() (nodeID, error) { return nodeID{}, fmt.Errorf("invalid node id %q", s) }
	rest := s
	switch {
	case strings.HasPrefix(rest, "ns="):
		i := strings.IndexByte(rest, ';')
		if i < 0 {
			return bad()
		}
		v, err := strconv.ParseUint(rest[3:i], 10, 16)
		if err != nil {
			return nodeID{}, fmt.Errorf("invalid node id %q: namespace index %q is not 0..65535", s, rest[3:i])
		}
		n.ns = uint16(v)
		rest = rest[i+1:]
	case strings.HasPrefix(rest, "nsu="):
		i := strings.IndexByte(rest, ';')
		if i <= len("nsu=") {
			return bad()
		}
		n.nsu = unescapeNSU(rest[len("nsu="):i])
		rest = rest[i+1:]
	}
	if len(rest) < 2 || rest[1] != '=' {
		return bad()
	}
	v := rest[2:]
	n.kind = rest[0]
	switch n.kind {
	case 'i':
		x, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nodeID{}, fmt.Errorf("invalid node id %q: numeric identifier %q is not 0..4294967295", s, v)
		}
		n.num = uint32(x)
	case 's':
		if v == "" {
			return nodeID{}, fmt.Errorf("invalid node id %q: empty string identifier", s)
		}
		n.str = v
	case 'g':
		if !isGUID(v) {
			return nodeID{}, fmt.Errorf("invalid node id %q: %q is not a GUID", s, v)
		}
		n.str = v
	case 'b':
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || v == "" {
			return nodeID{}, fmt.Errorf("invalid node id %q: %q is not base64", s, v)
		}
		n.str = string(b)
	default:
		return bad()
	}
	return n, nil
}

// isGUID reports whether s is xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx in hex digits.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// build returns the protocol node id in namespace ns.
func (n *nodeID) build(ns uint16) *ua.NodeID {
	switch n.kind {
	case 'i':
		return ua.NewNumericNodeID(ns, n.num)
	case 'g':
		return ua.NewGUIDNodeID(ns, n.str)
	case 'b':
		return ua.NewByteStringNodeID(ns, []byte(n.str))
	default:
		return ua.NewStringNodeID(ns, n.str)
	}
}
