package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/status"
)

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
	var st status.Status
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
