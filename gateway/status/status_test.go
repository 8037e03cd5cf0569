package status

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/lastvalue"
	"github.com/ganlink/ganlink/gateway/point"
)

func TestParseQuery(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want Query
		err  string
	}{
		{"", Query{0, DefaultDeviceLimit}, ""},
		{"device_offset=20&device_limit=10", Query{20, 10}, ""},
		{"device_limit=0", Query{0, 0}, ""},
		{"device_limit=10001", Query{}, "parameter device_limit=10001: at most 10000"},
		{"device_offset=-1", Query{}, `parameter device_offset="-1": want a whole number from 0`},
		{"device_offset=1&device_offset=2", Query{}, `parameter "device_offset" given 2 times`},
		{"devices=all", Query{}, `unknown parameter "devices": want device_offset or device_limit`},
		{"device_limit=" + strings.Repeat("9", 40), Query{}, `parameter device_limit="99999999999999999999999999999999…": want a whole number from 0`},
	} {
		v, _ := url.ParseQuery(tc.q)
		got, err := ParseQuery(v)
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("%q: error %v, want %q", tc.q, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%q: %+v, %v; want %+v", tc.q, got, err, tc.want)
		}
	}
}

// TestModelPage: the model pages the inventory and counts all of it, takes each
// device's connection from its source's state ("connecting" for a source not reported
// yet, "none" without a source) and shows each signal's newest sample from the
// last-value store.
func TestModelPage(t *testing.T) {
	cfg := &config.Config{Workshop: config.Workshop{Region: "360100", Park: "p1", Enterprise: "e1", ID: "ws1"},
		Devices: []config.Device{
			{ID: "m1", Kind: "cnc", Source: "opc", Signals: map[string]config.Signal{"spindle_speed_rpm": {Unit: "rpm"}}},
			{ID: "m2", Kind: "cnc", Source: "late"},
			{ID: "legacy1", Kind: "machine"},
		}}
	var devs []kpi.Device
	for _, d := range cfg.Devices {
		devs = append(devs, kpi.Device{ID: d.ID, Kind: d.Kind, Source: d.Source})
	}
	eng, err := kpi.New(kpi.DefaultConfig(), devs)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	values := lastvalue.New(cfg)
	values.Process(point.Batch{{Measurement: "cnc", Device: "m1", Time: now.Add(-2 * time.Second).UnixNano(),
		Fields: []point.Field{{Key: "spindle_speed_rpm", Value: 1200}}}})
	m := &Model{Config: cfg, Clock: func() time.Time { return now }, KPI: eng, Values: values, Windows: lastvalue.NewWindows(),
		Started: func() time.Time { return now.Add(-time.Hour) },
		Sources: func() []SourceStatus { return []SourceStatus{{Name: "opc", State: "up"}} },
		Sinks: func() ([]SinkStatus, map[string]QueueStatus) {
			return []SinkStatus{{Name: "tsdb", Kind: "influx", Up: true}}, map[string]QueueStatus{"tsdb": {PendingPoints: 3}}
		},
		PKI: func() *PKIStatus { return nil },
	}
	st := m.Page(Query{DeviceOffset: 0, DeviceLimit: 3})
	var conns []string
	for _, d := range st.Devices {
		conns = append(conns, d.ID+"="+d.Connection)
	}
	if got := strings.Join(conns, " "); got != "m1=up m2=connecting legacy1=none" {
		t.Errorf("connections %q", got)
	}
	sig := st.Devices[0].Signals
	if len(sig) != 1 || sig[0].Value == nil || *sig[0].Value != 1200 || sig[0].Quality != "good" || sig[0].AgeS == nil || *sig[0].AgeS != 2 {
		t.Errorf("m1 signals %+v", sig)
	}
	if st.Summary.Devices != 3 || st.Summary.WithSource != 2 || !st.Started.Equal(now.Add(-time.Hour)) ||
		len(st.Sinks) != 1 || st.Queues["tsdb"].PendingPoints != 3 || st.PKI != nil || st.DeadLetters == nil {
		t.Errorf("status %+v", st)
	}
	if p := m.Page(Query{DeviceOffset: 2, DeviceLimit: 5}); len(p.Devices) != 1 || p.Devices[0].ID != "legacy1" || p.Summary.Devices != 3 {
		t.Errorf("page from 2: %+v", p.Devices)
	}
}
