package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ganlink/ganlink/gateway/config"
)

func TestParseStatusQuery(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want StatusQuery
		err  string
	}{
		{"", StatusQuery{0, DefaultDeviceLimit}, ""},
		{"device_offset=20&device_limit=10", StatusQuery{20, 10}, ""},
		{"device_limit=0", StatusQuery{0, 0}, ""},
		{"device_limit=10001", StatusQuery{}, "parameter device_limit=10001: at most 10000"},
		{"device_offset=-1", StatusQuery{}, `parameter device_offset="-1": want a whole number from 0`},
		{"device_offset=1&device_offset=2", StatusQuery{}, `parameter "device_offset" given 2 times`},
		{"devices=all", StatusQuery{}, `unknown parameter "devices": want device_offset or device_limit`},
		{"device_limit=" + strings.Repeat("9", 40), StatusQuery{}, `parameter device_limit="99999999999999999999999999999999…": want a whole number from 0`},
	} {
		v, _ := url.ParseQuery(tc.q)
		got, err := ParseStatusQuery(v)
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("%q: error %v, want %q", tc.q, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%q: %+v, %v; want %+v", tc.q, got, err, tc.want)
		}
	}
}

// TestStatusPages: /api/status pages the inventory (device_offset, device_limit) while
// its summary counts every device; a bad query is answered 400 with the reason.
func TestStatusPages(t *testing.T) {
	dir := t.TempDir()
	var devs strings.Builder
	for i := range 5 {
		fmt.Fprintf(&devs, "  - {id: m%d, kind: machine}\n", i)
	}
	cfg, err := config.Load([]byte(fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
admin: {listen: "127.0.0.1:0"}
queue: {dir: %s}
devices:
%s`, filepath.Join(dir, "queue"), devs.String())), nil, Kinds())
	if err != nil {
		t.Fatal(err)
	}
	a, err := Build(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.admin.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = a.closeQueues() })
	get := func(q string) (int, string) {
		resp, err := http.Get("http://" + a.AdminAddr() + "/api/status" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("?device_offset=1&device_limit=2")
	var st Status
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
		t.Fatalf("%d %v: %s", code, err, body)
	}
	var ids []string
	for _, d := range st.Devices {
		ids = append(ids, d.ID)
	}
	if !slices.Equal(ids, []string{"m1", "m2"}) || st.DeviceOffset != 1 || st.Summary.Devices != 5 || st.Summary.WithSource != 0 {
		t.Errorf("page: devices %q offset %d summary %+v", ids, st.DeviceOffset, st.Summary)
	}
	if code, body := get("?device_limit=x"); code != 400 || body != "parameter device_limit=\"x\": want a whole number from 0\n" {
		t.Errorf("bad query: %d %q", code, body)
	}
}
