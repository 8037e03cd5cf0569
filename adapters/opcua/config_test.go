package opcua

import (
	"crypto/rsa"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/adapters/opcua/pki"
	"github.com/ganlink/ganlink/gateway/point"
)

func TestValidateNodeID(t *testing.T) {
	tests := []struct {
		id, err string
		want    string // the protocol node id built in namespace 7 for nsu= ids
	}{
		{id: "ns=2;s=Name", want: "ns=2;s=Name"},
		{id: "ns=2;s=a;b=c", want: "ns=2;s=a;b=c"},
		{id: "ns=2;i=1001", want: "ns=2;i=1001"},
		{id: "i=2258", want: "i=2258"},
		{id: "s=Plain", want: "s=Plain"},
		{id: "ns=65535;i=4294967295", want: "ns=65535;i=4294967295"},
		{id: "ns=3;g=09087e75-8e5e-499b-954f-f2a9603db28a", want: "ns=3;g=09087E75-8E5E-499B-954F-F2A9603DB28A"},
		{id: "ns=3;b=YWJj", want: "ns=3;b=YWJj"},
		{id: "nsu=http://uri/;s=Name", want: "ns=7;s=Name"},
		{id: "nsu=urn:a:b;i=5", want: "ns=7;i=5"},
		{id: "ns=2;x=1", err: `invalid node id "ns=2;x=1"`},
		{id: "", err: `invalid node id ""`},
		{id: "ns=2", err: `invalid node id "ns=2"`},
		{id: "nsu=;s=a", err: `invalid node id "nsu=;s=a"`},
		{id: "nsu=urn:x", err: `invalid node id "nsu=urn:x"`},
		{id: "x", err: `invalid node id "x"`},
		{id: "2;i=1", err: `invalid node id "2;i=1"`},
		{id: "ns=abc;i=1", err: `invalid node id "ns=abc;i=1": namespace index "abc" is not 0..65535`},
		{id: "ns=70000;s=a", err: `invalid node id "ns=70000;s=a": namespace index "70000" is not 0..65535`},
		{id: "ns=-1;s=a", err: `invalid node id "ns=-1;s=a": namespace index "-1" is not 0..65535`},
		{id: "ns=2;i=abc", err: `invalid node id "ns=2;i=abc": numeric identifier "abc" is not 0..4294967295`},
		{id: "ns=2;i=4294967296", err: `invalid node id "ns=2;i=4294967296": numeric identifier "4294967296" is not 0..4294967295`},
		{id: "ns=2;i=", err: `invalid node id "ns=2;i=": numeric identifier "" is not 0..4294967295`},
		{id: "ns=2;s=", err: `invalid node id "ns=2;s=": empty string identifier`},
		{id: "ns=2;g=1234", err: `invalid node id "ns=2;g=1234": "1234" is not a GUID`},
		{id: "ns=2;g=09087e75-8e5e-499b-954f-f2a9603db28x", err: `invalid node id "ns=2;g=09087e75-8e5e-499b-954f-f2a9603db28x": "09087e75-8e5e-499b-954f-f2a9603db28x" is not a GUID`},
		{id: "ns=2;b=!!", err: `invalid node id "ns=2;b=!!": "!!" is not base64`},
		{id: "ns=2;b=", err: `invalid node id "ns=2;b=": "" is not base64`},
	}
	for _, tt := range tests {
		err := ValidateNodeID(tt.id)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ValidateNodeID(%q) = %v, want %q", tt.id, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ValidateNodeID(%q) = %v, want nil", tt.id, err)
			continue
		}
		n, _ := parseNodeID(tt.id)
		ns := n.ns
		if n.nsu != "" {
			ns = 7
		}
		if got := n.build(ns).String(); got != tt.want {
			t.Errorf("node id %q builds %q, want %q", tt.id, got, tt.want)
		}
	}
}

func validConfig() Config {
	return Config{
		Name:     "cnc",
		Endpoint: "opc.tcp://127.0.0.1:4840/ua",
		Items: []Item{
			{Device: "m1", Measurement: "cnc", Field: "state", NodeID: "ns=2;s=M1.State"},
			{Device: "m1", Measurement: "cnc", Field: "speed", NodeID: "nsu=urn:x;i=7", DeadbandType: "absolute", DeadbandValue: 5},
		},
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		err    string
	}{
		{"valid", func(*Config) {}, ""},
		{"all set", func(c *Config) {
			c.SecurityPolicy, c.SecurityMode, c.Username, c.Password = "None", "None", "u", "p"
			c.PublishingInterval, c.ConnectTimeout, c.ReconnectMin, c.ReconnectMax = time.Second, time.Second, time.Second, time.Minute
			c.Timestamp, c.MaxItemsPerCall, c.MaxItemsPerSubscription = "gateway", 10, 20
			c.Items[0].DeadbandType, c.Items[0].DeadbandValue = "percent", 100
		}, ""},
		{"no name", func(c *Config) { c.Name = "" }, "name: must not be empty"},
		{"bad endpoint scheme", func(c *Config) { c.Endpoint = "http://x:4840" },
			`endpoint: invalid endpoint "http://x:4840": want opc.tcp://host:port[/path]`},
		{"no host", func(c *Config) { c.Endpoint = "opc.tcp://:4840" },
			`endpoint: invalid endpoint "opc.tcp://:4840": want opc.tcp://host:port[/path]`},
		{"bad port", func(c *Config) { c.Endpoint = "opc.tcp://h:99999" },
			`endpoint: invalid endpoint "opc.tcp://h:99999": port "99999" is not 1..65535`},
		{"secure without pki", func(c *Config) { c.SecurityPolicy = "Basic256Sha256"; c.SecurityMode = "SignAndEncrypt" },
			`pki: the application instance certificate and the PKI directory are required for security policy "Basic256Sha256"`},
		{"secure", func(c *Config) {
			c.SecurityPolicy, c.SecurityMode, c.PKI, c.Own = "Aes256_Sha256_RsaPss", "Sign", &pki.Store{}, &pki.Own{}
		}, ""},
		{"auto", func(c *Config) { c.SecurityPolicy, c.SecurityMode, c.PKI, c.Own = Auto, Auto, &pki.Store{}, &pki.Own{} }, ""},
		{"unknown policy", func(c *Config) { c.SecurityPolicy = "Basic512" },
			`security_policy: unsupported security policy "Basic512": want auto, None, Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss`},
		{"deprecated policy", func(c *Config) {
			c.SecurityPolicy, c.SecurityMode, c.PKI, c.Own = "Basic256", "Sign", &pki.Store{}, &pki.Own{}
		},
			`security_policy: security policy "Basic256" is deprecated (SHA-1) and not supported: want auto, None, Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss`},
		{"mode", func(c *Config) { c.SecurityMode = "Encrypt" },
			`security_mode: invalid security mode "Encrypt": want auto, None, Sign or SignAndEncrypt`},
		{"mode without policy", func(c *Config) { c.SecurityMode = "Sign" },
			`security_mode: security mode "Sign" does not fit security policy "None": None goes with None only`},
		{"auto mode without policy", func(c *Config) { c.SecurityMode = Auto },
			`security_mode: security mode "auto" does not fit security policy "None": None goes with None only`},
		{"policy without mode", func(c *Config) {
			c.SecurityPolicy, c.SecurityMode, c.PKI, c.Own = Auto, "None", &pki.Store{}, &pki.Own{}
		}, `security_mode: security mode "None" does not fit security policy "auto": None goes with None only`},
		{"user certificate alone", func(c *Config) { c.UserCertificate = []byte{1} },
			"user_certificate: user certificate and user key go together"},
		{"user certificate and name", func(c *Config) {
			c.UserCertificate, c.UserKey, c.Username = []byte{1}, &rsa.PrivateKey{}, "u"
		}, "user_certificate: set together with username: choose one login"},
		{"password alone", func(c *Config) { c.Password = "p" }, "password: set without a user name"},
		{"negative interval", func(c *Config) { c.PublishingInterval = -time.Second },
			"publishing_interval: negative duration -1s"},
		{"tiny interval", func(c *Config) { c.PublishingInterval = time.Microsecond },
			"publishing_interval: 1µs is below 1ms"},
		{"negative timeout", func(c *Config) { c.ConnectTimeout = -1 }, "connect_timeout: negative duration -1ns"},
		{"min above max", func(c *Config) { c.ReconnectMin = time.Minute },
			"reconnect_min: 1m0s is above reconnect_max 30s"},
		{"timestamp", func(c *Config) { c.Timestamp = "device" },
			`timestamp: invalid timestamp "device": want source, server or gateway`},
		{"call size", func(c *Config) { c.MaxItemsPerCall = -1 }, "max_items_per_call: negative value -1"},
		{"subscription size", func(c *Config) { c.MaxItemsPerSubscription = -5 }, "max_items_per_subscription: negative value -5"},
		{"no items", func(c *Config) { c.Items = nil }, ""},
		{"bad node", func(c *Config) { c.Items[1].NodeID = "ns=2;x=1" }, `items[1].node_id: invalid node id "ns=2;x=1"`},
		{"browse path", func(c *Config) {
			c.Items[0].NodeID, c.Items[0].BrowsePath = "", "Objects/nsu=urn:x;M1/Speed"
			c.Items[1].NodeID, c.Items[1].BrowsePath, c.Items[1].BrowseStart = "", "2:Speed", "nsu=urn:x;s=M1"
		}, ""},
		{"no node", func(c *Config) { c.Items[0].NodeID = "" },
			"items[0].node_id: required: set a node id or a browse path"},
		{"node and browse path", func(c *Config) { c.Items[0].BrowsePath = "Objects/A" },
			"items[0].browse_path: set together with a node id: set one of them"},
		{"browse start without path", func(c *Config) { c.Items[0].BrowseStart = "i=85" },
			"items[0].browse_start: set without browse_path"},
		{"bad browse path", func(c *Config) { c.Items[0].NodeID, c.Items[0].BrowsePath = "", "Objects//A" },
			`items[0].browse_path: invalid browse path "Objects//A": element 2: empty name`},
		{"bad browse start", func(c *Config) {
			c.Items[0].NodeID, c.Items[0].BrowsePath, c.Items[0].BrowseStart = "", "A", "ns=x;i=1"
		},
			`items[0].browse_start: invalid node id "ns=x;i=1": namespace index "x" is not 0..65535`},
		{"item identity", func(c *Config) { c.Items[0].Device, c.Items[0].Measurement, c.Items[0].Field = "", "", "" },
			"items[0].device: must not be empty\nitems[0].measurement: must not be empty\nitems[0].field: must not be empty"},
		{"duplicate field", func(c *Config) { c.Items[1].Field = "state" },
			`items[1].field: duplicate field "state" of device "m1" (also items[0])`},
		{"sampling", func(c *Config) { c.Items[0].SamplingInterval = -time.Millisecond },
			"items[0].sampling_interval: negative duration -1ms"},
		{"deadband type", func(c *Config) { c.Items[1].DeadbandType = "relative" },
			`items[1].deadband_type: invalid deadband type "relative": want absolute or percent`},
		{"deadband without type", func(c *Config) { c.Items[0].DeadbandValue = 1 },
			"items[0].deadband_value: set without deadband_type"},
		{"negative deadband", func(c *Config) { c.Items[1].DeadbandValue = -1 },
			"items[1].deadband_value: invalid deadband -1: want a finite value >= 0"},
		{"NaN deadband", func(c *Config) { c.Items[1].DeadbandValue = math.NaN() },
			"items[1].deadband_value: invalid deadband NaN: want a finite value >= 0"},
		{"percent above 100", func(c *Config) { c.Items[1].DeadbandType, c.Items[1].DeadbandValue = "percent", 101 },
			"items[1].deadband_value: percent deadband 101 is above 100"},
		{"several", func(c *Config) { c.Name = ""; c.Items[0].NodeID = "ns=2;s=" },
			"name: must not be empty\nitems[0].node_id: invalid node id \"ns=2;s=\": empty string identifier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.modify(&c)
			err := c.Validate()
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.err {
				t.Fatalf("Validate() = %v\nwant %s", err, tt.err)
			}
		})
	}
}

func TestNewAppliesDefaultsAndValidates(t *testing.T) {
	c := validConfig()
	s, err := New(c, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultConfig()
	got := s.cfg
	if got.SecurityPolicy != "None" || got.SecurityMode != "None" || got.PublishingInterval != d.PublishingInterval ||
		got.ConnectTimeout != 10*time.Second || got.ReconnectMin != 500*time.Millisecond || got.ReconnectMax != 30*time.Second ||
		got.Timestamp != "source" || got.MaxItemsPerCall != 1000 || got.MaxItemsPerSubscription != 1000 ||
		s.items[0].queue != 10 || c.Items[0].QueueSize != 0 || got.Items != nil {
		t.Errorf("defaults not applied (or applied to the caller's items, or the items kept): %+v", got)
	}
	if s.items[0].sampling != -1 || s.items[0].filter != nil || s.items[0].node.String() != "ns=2;s=M1.State" || s.items[1].node != nil {
		t.Errorf("item 0: %+v", s.items[0])
	}
	f, ok := s.items[1].filter.Value.(*ua.DataChangeFilter)
	if !ok || f.DeadbandType != uint32(ua.DeadbandTypeAbsolute) || f.DeadbandValue != 5 || f.Trigger != ua.DataChangeTriggerStatusValue {
		t.Errorf("item 1 filter: %+v", s.items[1].filter)
	}

	c.Items[0].NodeID = "ns=2;x=1"
	_, err = New(c, nil, nil)
	if want := `validate config of opcua source "cnc": items[0].node_id: invalid node id "ns=2;x=1"`; err == nil || err.Error() != want {
		t.Errorf("New = %v, want %q", err, want)
	}
}

func TestQualityAndReason(t *testing.T) {
	qs := []struct {
		st   ua.StatusCode
		want point.Quality
	}{
		{ua.StatusOK, point.Good},
		{0x00A20000, point.Good}, // GoodClamped
		{ua.StatusUncertainLastUsableValue, point.Uncertain},
		{ua.StatusBadSensorFailure, point.Bad},
		{0xC0000000, point.Bad}, // reserved severity counts as bad
	}
	for _, q := range qs {
		if got := quality(q.st); got != q.want {
			t.Errorf("quality(%#x) = %s, want %s", uint32(q.st), got, q.want)
		}
	}
	rs := []struct {
		st   ua.StatusCode
		want string
	}{
		{ua.StatusBadNodeIDUnknown, "node_unknown"},
		{ua.StatusBadNodeIDInvalid | 0x0400, "node_unknown"},
		{ua.StatusBadAttributeIDInvalid, "not_readable"},
		{ua.StatusBadUserAccessDenied, "access"},
		{ua.StatusBadDeadbandFilterInvalid, "filter"},
		{ua.StatusBadTooManyMonitoredItems, "limit"},
		{ua.StatusBadInternalError, "rejected"},
	}
	for _, r := range rs {
		if got := reason(r.st); got != r.want {
			t.Errorf("reason(%#x) = %q, want %q", uint32(r.st), got, r.want)
		}
	}
}

func TestKeepAliveCount(t *testing.T) {
	for _, tt := range []struct {
		pi, target time.Duration
		want       uint32
		timeout    time.Duration
	}{
		{time.Second, 5 * time.Second, 5, time.Minute},
		{50 * time.Millisecond, 5 * time.Second, 100, time.Minute},
		{10 * time.Second, 5 * time.Second, 1, 100 * time.Second},
		{3 * time.Second, 5 * time.Second, 2, time.Minute},
	} {
		s := &Source{cfg: Config{PublishingInterval: tt.pi, ConnectTimeout: 10 * time.Second}, keepAliveTarget: tt.target}
		if got := s.keepAliveCount(); got != tt.want {
			t.Errorf("keepAliveCount(%s) = %d, want %d", tt.pi, got, tt.want)
		}
		if got := s.requestTimeout(); got != tt.timeout {
			t.Errorf("requestTimeout(%s) = %s, want %s", tt.pi, got, tt.timeout)
		}
	}
}

func TestTypeName(t *testing.T) {
	got := []string{typeName(ua.TypeIDUint16), typeName(ua.TypeIDDouble), typeName(ua.TypeIDExtensionObject)}
	if strings.Join(got, ",") != "UInt16,Double,ExtensionObject" {
		t.Errorf("type names %v", got)
	}
}
