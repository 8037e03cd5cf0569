package opcua

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/testutil"
)

// buildYAML loads a configuration with this adapter's Kind and builds its first OPC UA
// source's Config, as the gateway does.
func buildYAML(t *testing.T, yml string) (Config, error) {
	t.Helper()
	cfg, err := config.Load([]byte(yml), func(string) (string, bool) { return "", false }, config.Kinds{Kind})
	if err != nil {
		return Config{}, err
	}
	src := cfg.Sources.Of(Kind.Name())[0]
	c, errs := BuildConfig(src, cfg.DevicesOf(src.Name()), &cfg.Workshop)
	if errs != nil {
		return Config{}, errs
	}
	return c, nil
}

func maxMessageYAML(endpoint, node, size string) string {
	key := ""
	if size != "" {
		key = ", max_message_size: " + size
	}
	return fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
sources:
  opcua:
    - {name: cnc, endpoint: %q, security_policy: None, publishing_interval: 50ms%s}
devices:
  - id: m1
    kind: cnc
    source: cnc
    signals:
      note: {node: %q, map: {short: 1}}
`, endpoint, key, node)
}

// sources.opcua[].max_message_size bounds what the gateway accepts from the server: a
// 20 000-byte text value passes with the default (2MiB) and reaches the source as a
// value without a map entry (a signal error naming it), while with 8KiB the response
// carrying it ends the session, reported down with the decoder's refusal.
func TestMaxMessageSizeKey(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, 0, "note")
	ts.set("note", dv(strings.Repeat("x", 20000), ua.StatusOK, t0, time.Time{}))

	def, err := buildYAML(t, maxMessageYAML(ts.url, ts.node("note"), ""))
	if err != nil {
		t.Fatal(err)
	}
	rec := &adaptertest.Recorder{}
	runSource(t, def, rec, nil)
	testutil.WaitFor(t, 10*time.Second, "the long value's signal error", func() bool {
		for _, s := range rec.Signals() {
			if s.Signal == "note" && s.Reason == "type" {
				return true
			}
		}
		return false
	})

	small, err := buildYAML(t, maxMessageYAML(ts.url, ts.node("note"), "8KiB"))
	if err != nil {
		t.Fatal(err)
	}
	if small.MaxMessageSize != 8192 {
		t.Fatalf("MaxMessageSize %d, want 8192", small.MaxMessageSize)
	}
	rec2 := &adaptertest.Recorder{}
	runSource(t, small, rec2, nil)
	testutil.WaitFor(t, 10*time.Second, "the session refused", func() bool {
		for _, e := range rec2.DownErrors() {
			// The response is the value plus ~100 bytes of framing.
			if strings.Contains(e.Error(), "opcua: message too large: ") && strings.Contains(e.Error(), " > 8192: ") &&
				strings.Contains(e.Error(), "StatusBadEncodingLimitsExceeded") {
				return true
			}
		}
		return false
	})
	for _, s := range rec2.Signals() {
		if s.Signal == "note" {
			t.Fatalf("with 8KiB the value reached the source: %v", s)
		}
	}
	for _, b := range rec2.Batches() {
		for _, p := range b {
			for _, f := range p.Fields {
				if f.Key == "note" && f.Quality == point.Good {
					t.Fatalf("with 8KiB a good value arrived: %v", p)
				}
			}
		}
	}
}

func TestMaxMessageSizeKeyRange(t *testing.T) {
	for _, tc := range []struct{ size, want string }{
		{"4KiB", `sources.opcua[0].max_message_size: invalid value 4096: want 8192 to 1073741824 bytes`},
		{"2GiB", `sources.opcua[0].max_message_size: invalid value "2GiB": want 8192 to 1073741824 bytes`},
		{"64TiB", `sources.opcua[0].max_message_size: invalid value "64TiB": want 8192 to 1073741824 bytes`},
	} {
		_, err := buildYAML(t, maxMessageYAML("opc.tcp://127.0.0.1:4840", "ns=2;s=a", tc.size))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %s", tc.size, err, tc.want)
		}
	}
}
