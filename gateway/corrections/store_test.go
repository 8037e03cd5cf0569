package corrections_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/corrections"
	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
)

var now = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

// engine is a real KPI engine with a press (parts_total) and an energy meter.
func engine(t testing.TB) *kpi.Engine {
	t.Helper()
	e, err := kpi.New(kpi.Config{Location: time.UTC}, []kpi.Device{
		{ID: "press-1", Kind: "machine", Source: "opc", Signals: []string{"machinery_item_state", "parts_total"}},
		{ID: "em1", Kind: "energy_meter", Source: "mqtt", Signals: []string{"energy_kwh_total", "power_kw"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func open(t *testing.T, path string) (*corrections.Store, []string) {
	t.Helper()
	s, probs, err := corrections.Open(path, engine(t), clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, probs
}

func TestStoreRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), corrections.FileName)
	s, probs := open(t, path)
	if len(probs) != 0 {
		t.Fatalf("problems on a new store: %v", probs)
	}
	inv, err := s.Add(corrections.Request{Kind: "invalid", Device: "press-1", From: now.Add(-2 * time.Hour),
		Until: now.Add(-time.Hour), By: "alice", Reason: "calibration run, 校准"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Add(corrections.Request{Kind: "replacement", Device: "em1", Signal: "energy_kwh_total",
		At: now.Add(-30*time.Minute + 300*time.Millisecond), By: "bob", Reason: "meter swapped"})
	if err != nil {
		t.Fatal(err)
	}
	shop, err := s.Add(corrections.Request{Kind: "invalid", From: now.Add(-5 * time.Hour), Until: now.Add(-4 * time.Hour),
		By: "alice", Reason: "test run"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(shop.ID, "carol", "was production after all"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkWritten(corrections.Unwritten{Correction: inv}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(inv.ID, "c-") || len(inv.ID) != 18 {
		t.Errorf("id %q, want c- and 16 hex digits", inv.ID)
	}
	if !rep.From.Equal(now.Add(-30*time.Minute)) || !rep.Until.Equal(rep.From) {
		t.Errorf("replacement span %s-%s, want both at the whole second %s", rep.From, rep.Until, now.Add(-30*time.Minute))
	}
	want := s.List()
	unwritten := s.Unwritten()
	s.Close()

	s2, probs := open(t, path)
	if len(probs) != 0 {
		t.Fatalf("problems on reopen: %v", probs)
	}
	got := s2.List()
	if js(got) != js(want) || len(got) != 3 {
		t.Errorf("reopened list\n%v\nwant\n%v", got, want)
	}
	if got[2].Revoked == nil || got[2].Revoked.By != "carol" || got[0].Revoked != nil {
		t.Errorf("revocations after reopen: %+v", got)
	}
	if js(s2.Unwritten()) != js(unwritten) || len(unwritten) != 3 {
		t.Errorf("unwritten after reopen %v, want %v (replacement, shop, shop's revocation)", s2.Unwritten(), unwritten)
	}
}

// A torn final line is reported, skipped and cut off, so the next record starts on its
// own line; a damaged line in the middle is reported and skipped.
func TestStoreTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), corrections.FileName)
	s, _ := open(t, path)
	c, err := s.Add(corrections.Request{Kind: "invalid", From: now.Add(-2 * time.Hour), Until: now.Add(-time.Hour), By: "a", Reason: "r"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	data, _ := os.ReadFile(path)
	good := len(data)
	damaged := append(append([]byte{}, data...), "{not json}\n"...)
	damaged = append(damaged, data...) // a second add of the same id: skipped
	torn := `{"op":"revoke","id":"` + c.ID + `","by":"x","rea`
	if err := os.WriteFile(path, append(damaged, torn...), 0o644); err != nil {
		t.Fatal(err)
	}
	s2, probs := open(t, path)
	want := []string{
		path + ":2: damaged line skipped: invalid character 'n' looking for beginning of object key string",
		path + ":3: record skipped: add without an id or with one already used \"" + c.ID + "\"",
		path + ":4: torn last line (" + fmt.Sprint(len(torn)) + " bytes without a line end) skipped and cut off",
	}
	if strings.Join(probs, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems\n%s\nwant\n%s", strings.Join(probs, "\n"), strings.Join(want, "\n"))
	}
	if l := s2.List(); len(l) != 1 || l[0].Revoked != nil {
		t.Errorf("list %+v, want the one correction in force", l)
	}
	if _, err := s2.Revoke(c.ID, "b", "again"); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	data, _ = os.ReadFile(path)
	if len(data) <= good || !strings.HasSuffix(string(data), "}\n") || strings.Contains(string(data), `"rea{`) {
		t.Errorf("file after the append:\n%s", data)
	}
	s3, probs := open(t, path)
	if len(probs) != 2 || s3.List()[0].Revoked == nil || s3.List()[0].Revoked.By != "b" {
		t.Errorf("after reopen: problems %v list %+v", probs, s3.List())
	}
}

// Every refusal names the field and the value, with a bounded reason.
func TestStoreRefusals(t *testing.T) {
	s, _ := open(t, filepath.Join(t.TempDir(), corrections.FileName))
	h := now.Add(-time.Hour)
	long := strings.Repeat("长", 201)
	for _, tc := range []struct {
		req          corrections.Request
		reason, want string
	}{
		{corrections.Request{Kind: "invalid", From: h, Until: now, By: "a"}, "missing", "reason: missing"},
		{corrections.Request{Kind: "invalid", From: h, Until: now, Reason: "r"}, "missing", "by: missing"},
		{corrections.Request{Kind: "invalid", From: h, Until: now, By: "a", Reason: long}, "too_long", "reason: 201 characters, at most 200"},
		{corrections.Request{Kind: "invalid", From: h, Until: now, By: strings.Repeat("b", 65), Reason: "r"}, "too_long", "by: 65 characters, at most 64"},
		{corrections.Request{Kind: "invalid", From: h, Until: now, By: "a", Reason: "line\nbreak"}, "bad_text", `reason: contains a control character (line break, tab): "line\nbreak"`},
		{corrections.Request{Kind: "nonsense", By: "a", Reason: "r"}, "bad_kind", `kind: unknown kind "nonsense": want invalid or replacement`},
		{corrections.Request{By: "a", Reason: "r"}, "missing", "kind: missing: want invalid or replacement"},
		{corrections.Request{Kind: "invalid", Device: "press-9", From: h, Until: now, By: "a", Reason: "r"}, "unknown_device", `device: unknown device "press-9"`},
		{corrections.Request{Kind: "invalid", Until: now, By: "a", Reason: "r"}, "missing", "from: missing: the start of the invalid span"},
		{corrections.Request{Kind: "invalid", From: h, By: "a", Reason: "r"}, "missing", "until: missing: the end of the invalid span (exclusive)"},
		{corrections.Request{Kind: "invalid", From: now, Until: h, By: "a", Reason: "r"}, "bad_span", "until: 2026-12-07T09:00:00Z is not after from 2026-12-07T10:00:00Z"},
		{corrections.Request{Kind: "invalid", From: h, Until: h, By: "a", Reason: "r"}, "bad_span", "until: 2026-12-07T09:00:00Z is not after from 2026-12-07T09:00:00Z"},
		{corrections.Request{Kind: "invalid", From: h, Until: now.Add(time.Second), By: "a", Reason: "r"}, "future",
			"until: 2026-12-07T10:00:01Z is in the future (now 2026-12-07T10:00:00Z): mark a span once it has ended"},
		{corrections.Request{Kind: "invalid", Signal: "parts_total", From: h, Until: now, By: "a", Reason: "r"}, "bad_request",
			`signal: "parts_total" given for an invalid span: only a replacement names a signal`},
		{corrections.Request{Kind: "replacement", Signal: "parts_total", At: h, By: "a", Reason: "r"}, "missing",
			"device: missing: a replacement names the device whose counter was replaced"},
		{corrections.Request{Kind: "replacement", Device: "press-1", At: h, By: "a", Reason: "r"}, "missing",
			"signal: missing: a replacement names the counter signal that was replaced"},
		{corrections.Request{Kind: "replacement", Device: "press-1", Signal: "parts_total", By: "a", Reason: "r"}, "missing",
			"at: missing: the time of the replacement"},
		{corrections.Request{Kind: "replacement", Device: "em1", Signal: "power_kw", At: h, By: "a", Reason: "r"}, "unknown_signal",
			`signal: unknown counter signal "power_kw" of device "em1" (its counters: energy_kwh_total)`},
		{corrections.Request{Kind: "replacement", Device: "press-1", Signal: "parts_total", From: h, At: h, By: "a", Reason: "r"}, "bad_request",
			"from: given for a replacement: it has one time, at"},
	} {
		_, err := s.Add(tc.req)
		var ce *corrections.Error
		if !errors.As(err, &ce) || err.Error() != tc.want || ce.Reason != tc.reason {
			t.Errorf("Add(%+v):\n got %v (%+v)\nwant %s (%s)", tc.req, err, ce, tc.want, tc.reason)
		}
	}
	c, err := s.Add(corrections.Request{Kind: "invalid", From: h, Until: now, By: "a", Reason: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(c.ID, "b", "r2"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ id, by, reason, want string }{
		{"c-0000000000000000", "b", "r", `id: unknown correction "c-0000000000000000"`},
		{"", "b", "r", "id: missing: the id of the correction to revoke"},
		{c.ID, "b", "", "reason: missing"},
		{c.ID, "b", "r", `id: correction "` + c.ID + `" was revoked already at 2026-12-07T10:00:00Z by b`},
	} {
		if _, err := s.Revoke(tc.id, tc.by, tc.reason); err == nil || err.Error() != tc.want {
			t.Errorf("Revoke(%q): %v, want %s", tc.id, err, tc.want)
		}
	}
	if l := s.List(); len(l) != 1 {
		t.Errorf("refused requests were recorded: %+v", l)
	}
}

// A second Open of a store in use fails (the command while the gateway runs).
func TestStoreLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), corrections.FileName)
	open(t, path)
	if _, _, err := corrections.Open(path, engine(t), clock); !errors.Is(err, corrections.ErrLocked) {
		t.Errorf("second Open: %v, want ErrLocked", err)
	}
}

func TestPoint(t *testing.T) {
	shop := []point.Tag{{Key: "enterprise", Value: "e1"}, {Key: "park", Value: "p1"}, {Key: "region", Value: "360100"}, {Key: "workshop", Value: "ws1"}}
	c := corrections.Correction{ID: "c-1", Kind: schema.CorrectionInvalid, Device: "press-1", From: now.Add(-time.Hour), Until: now,
		By: "alice", Reason: "calibration run", Revoked: &corrections.Revocation{By: "bob", Reason: "wrong"}}
	for _, tc := range []struct {
		revoke bool
		want   string
	}{
		{false, `kpi_correction,by=alice,correction=c-1,correction_kind=invalid,device=press-1,enterprise=e1,gateway_instance=0123456789abcdef,park=p1,reason=calibration\ run,region=360100,workshop=ws1 until_unix_s=1.7966376e+09,active=1 1796634000000000000` + "\n"},
		{true, `kpi_correction,by=bob,correction=c-1,correction_kind=invalid,device=press-1,enterprise=e1,gateway_instance=0123456789abcdef,park=p1,reason=wrong,region=360100,workshop=ws1 until_unix_s=1.7966376e+09,active=0 1796634000000000000` + "\n"},
	} {
		p := corrections.Point(c, tc.revoke, shop, "0123456789abcdef")
		line, _ := point.AppendLine(nil, &p)
		if string(line) != tc.want {
			t.Errorf("revoke=%v:\n got %s\nwant %s", tc.revoke, line, tc.want)
		}
	}
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestParseTime(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	for _, tc := range []struct{ in, want string }{
		{"2026-12-07T08:00:00+08:00", "2026-12-07T00:00:00Z"},
		{"2026-12-07 08:00:00", "2026-12-07T00:00:00Z"},
		{"2026-12-07 08:00", "2026-12-07T00:00:00Z"},
		{"2026-12-07", "2026-12-06T16:00:00Z"},
	} {
		got, err := corrections.ParseTime(tc.in, sh)
		if err != nil || got.UTC().Format(time.RFC3339) != tc.want {
			t.Errorf("ParseTime(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := corrections.ParseTime("yesterday", sh); err == nil || err.Error() !=
		`time "yesterday": want RFC 3339 (2006-01-02T15:04:05+08:00) or a local time in Asia/Shanghai (2006-01-02 15:04:05)` {
		t.Errorf("ParseTime(yesterday): %v", err)
	}
}
