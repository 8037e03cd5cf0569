package influx

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// wantInflux is what InfluxQL returns (epoch=ms) for testLines(workshop).
func wantInflux(workshop string) map[string]testsrv.Series {
	return map[string]testsrv.Series{
		"energy_meter": {
			Name: "energy_meter",
			Columns: []string{"time", "device", "energy_kwh_total", "enterprise", "kind", "park",
				"power_kw", "power_kw_quality", "region", "voltage_v_quality", "workshop"},
			Values: [][]any{{float64(1700000000123), "em 1,A", 12345.5, "Acme, Inc.", "energy_meter", "p=1",
				7.25, float64(1), "360100", float64(2), workshop}},
		},
		"cnc": {
			Name: "cnc",
			Columns: []string{"time", "device", "enterprise", "kind", "park", "region",
				"spindle_speed_rpm", "state", "workshop"},
			Values: [][]any{{float64(1700000001123), "cnc-07", "Acme, Inc.", "cnc", "p=1", "360100",
				float64(1200), float64(1), workshop}},
		},
	}
}

func checkInfluxRows(t *testing.T, in *testsrv.Influx, db, workshop string) {
	t.Helper()
	for m, want := range wantInflux(workshop) {
		got := in.Query(db, fmt.Sprintf(`SELECT * FROM %q WHERE workshop = '%s'`, m, workshop))
		if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Errorf("%s rows\n%#v\nwant\n%#v", m, got, want)
		}
	}
}

func TestInflux(t *testing.T) {
	in := testsrv.StartInflux(t, "ganlink")
	ctx := context.Background()

	t.Run("write", func(t *testing.T) {
		for _, tc := range []struct {
			bucket, token, workshop string
			gzip                    bool
		}{
			{bucket: "ganlink", workshop: "一车间 A", gzip: true},
			{bucket: "ganlink/autogen", token: "writer:secret", workshop: "ws 2,b=c", gzip: true},
			{bucket: "ganlink", workshop: "plain", gzip: false},
		} {
			t.Run(fmt.Sprintf("%s gzip=%v", tc.bucket, tc.gzip), func(t *testing.T) {
				cfg := config("influx", in.URL, tc.bucket)
				cfg.Token, cfg.Gzip = tc.token, tc.gzip
				s := newSink(t, cfg, nil)
				if err := s.Write(ctx, testLines(tc.workshop)); err != nil {
					t.Fatalf("Write: %v", err)
				}
				checkInfluxRows(t, in, "ganlink", tc.workshop)
			})
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name, bucket string
			lines        string
			want         string
			class        class
		}{
			{
				name: "unknown database", bucket: "nope", lines: string(testLines("x")),
				want:  `write sink "influx": permanent write error: status 404: database not found: "nope"`,
				class: class{Permanent: true, Status: 404},
			},
			{
				// The server answers 500: retried until the retention policy exists.
				name: "unknown retention policy", bucket: "ganlink/nope", lines: string(testLines("x")),
				want:  `write sink "influx": status 500: retention policy not found: nope`,
				class: class{Status: 500},
			},
			{
				name: "malformed line", bucket: "ganlink", lines: "cnc,device=m1 x=\n",
				want:  `write sink "influx": permanent write error: status 400: unable to parse 'cnc,device=m1 x=': missing field value`,
				class: class{Permanent: true, Status: 400},
			},
			{
				// The valid lines are stored; only the bad one is lost.
				name: "partial write", bucket: "ganlink", lines: "cnc x=\n" + string(testLines("partial")),
				want:  `write sink "influx": permanent write error: status 400: partial write: unable to parse 'cnc x=': missing field value dropped=0`,
				class: class{Permanent: true, Status: 400},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newSink(t, config("influx", in.URL, tc.bucket), nil)
				err := s.Write(ctx, []byte(tc.lines))
				if errString(err) != tc.want {
					t.Fatalf("Write = %v\nwant %s", err, tc.want)
				}
				if c := classOf(err); c != tc.class {
					t.Fatalf("classification %+v, want %+v", c, tc.class)
				}
			})
		}
		checkInfluxRows(t, in, "ganlink", "partial")
	})

	t.Run("ping", func(t *testing.T) {
		s := newSink(t, config("influx", in.URL, "ganlink"), nil)
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})

	// Runs last: the server stays stopped.
	t.Run("server stopped", func(t *testing.T) {
		s := newSink(t, config("influx", in.URL, "ganlink"), nil)
		in.Stop()
		err := s.Write(ctx, testLines("stopped"))
		want := fmt.Sprintf(`write sink "influx": Post "%s/api/v2/write?bucket=ganlink&org=&precision=ns": dial tcp 127.0.0.1:%d: connect: connection refused`, in.URL, in.Port)
		if errString(err) != want {
			t.Fatalf("Write = %v\nwant %s", err, want)
		}
		if c := classOf(err); c != (class{}) {
			t.Fatalf("classification %+v, want retryable without status", c)
		}
	})
}
