package dlt645_test

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/adapters/dlt645"
	"github.com/ganlink/ganlink/adapters/internal/serialline"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/devsim"
	"github.com/ganlink/ganlink/internal/testutil"
	"golang.org/x/sys/unix"
)

const (
	addr1 = "000000000001"
	addr2 = "000000000002"
	addr3 = "000000000003"
	// want1 and want2 are the fields of the fixed meters: 3.3 kW and 1.2 kW at 220 V,
	// power factor 0.95, current per phase P/3/U/pf rounded to XXX.XXX.
	want1 = "energy_kwh_total=1234.56 voltage_l1_v=220 current_l1_a=5.263 power_kw=3.3 power_factor=0.95"
	want2 = "energy_kwh_total=50.25 voltage_l1_v=220 current_l1_a=1.914 power_kw=1.2 power_factor=0.95"
	bad3  = "energy_kwh_total=bad voltage_l1_v=bad current_l1_a=bad power_kw=bad power_factor=bad"
)

var testbeds = []struct {
	name string
	make func(t testing.TB, meters ...*devsim.DLT645Meter) *testbed
}{{"pty", ptyTestbed}, {"tcp", tcpTestbed}}

// TestMultiDropOneDead: three meters on one bus, the third without power. Every poll
// brings the other two meters' values; the dead one costs one response timeout per
// poll (its other requests are not sent), and is reported per signal and flagged Bad.
func TestMultiDropOneDead(t *testing.T) {
	for _, bed := range testbeds {
		t.Run(bed.name, func(t *testing.T) {
			dead := meterAt(t, addr3, 1, 1)
			dead.Inject(devsim.DLT645FaultSilent, -1)
			tb := bed.make(t, meterAt(t, addr1, 3.3, 1234.56), meterAt(t, addr2, 1.2, 50.25), dead)
			// The response timeout leaves the live meters' simulator a margin on a
			// loaded machine (a race-enabled build with other packages' tests running
			// answered a live meter after more than 500 ms).
			const poll = time.Second
			cfg := dlt645.Config{Line: lineOf(tb.endpoint, time.Second), Devices: []dlt645.Device{
				meterDevice("em1", addr1, poll), meterDevice("em2", addr2, poll), meterDevice("em3", addr3, poll)}}
			rec := &adaptertest.Recorder{}
			src := newSource(t, cfg, rec)
			var sentAt []int64 // requests sent when each batch was emitted
			rec.FailEmit = func(int) bool { sentAt = append(sentAt, src.Requests()); return false }
			stop := runSource(t, src, rec)
			testutil.WaitFor(t, 20*time.Second, "5 polls", func() bool { return rec.BatchCount() >= 5 })
			stop()
			// Every round brings both live meters, exactly. (A round that overran the
			// interval on a loaded machine skips the dead meter's missed slot, so it is
			// not in every round; when it is, all its fields are flagged.)
			deadPolls := 0
			for i, b := range rec.Batches() {
				var got []string
				for _, p := range b {
					got = append(got, p.Device+": "+fieldString(p.Fields))
				}
				want := []string{"em1: " + want1, "em2: " + want2}
				if len(got) == 3 {
					want = append(want, "em3: "+bad3)
					deadPolls++
				}
				if !slices.Equal(got, want) {
					t.Fatalf("batch %d:\n got %q\nwant %q", i, got, want)
				}
			}
			if deadPolls == 0 {
				t.Fatal("the dead meter was never polled")
			}
			errs := rec.Errors()
			wantErrs := []string{
				`bus1|em3|energy_kwh_total|timeout|read signal "energy_kwh_total" of device "em3" (meter 000000000003, DI 00010000 total forward active energy): no response within 1s`,
				`bus1|em3|voltage_l1_v|timeout|read signal "voltage_l1_v" of device "em3" (meter 000000000003, DI 02010100 phase A voltage): not sent: no response within 1s`,
				`bus1|em3|current_l1_a|timeout|read signal "current_l1_a" of device "em3" (meter 000000000003, DI 02020100 phase A current): not sent: no response within 1s`,
				`bus1|em3|power_kw|timeout|read signal "power_kw" of device "em3" (meter 000000000003, DI 02030000 total active power): not sent: no response within 1s`,
				`bus1|em3|power_factor|timeout|read signal "power_factor" of device "em3" (meter 000000000003, DI 02060000 total power factor): not sent: no response within 1s`,
			}
			if len(errs) < 5*deadPolls || len(errs) > 5*(deadPolls+1) {
				t.Fatalf("%d signal errors for %d polls of the dead meter, want 5 each:\n%s", len(errs), deadPolls, strings.Join(errs, "\n"))
			}
			for i, e := range errs {
				if e != wantErrs[i%5] {
					t.Fatalf("error %d:\n got %s\nwant %s", i, e, wantErrs[i%5])
				}
			}
			// One request per signal of the live meters, one per poll of the dead one,
			// counted when each round's batch is emitted (the stop may cut a round short).
			var want int64
			for i, b := range rec.Batches() {
				want += 10
				if len(b) == 3 {
					want++
				}
				if sentAt[i] != want {
					t.Fatalf("%d requests sent by the end of round %d, want %d (requests: %v)", sentAt[i], i+1, want, sentAt)
				}
			}
			if st := rec.StateStrings(); !slices.Equal(st, []string{"connecting", "up"}) {
				t.Fatalf("states %q: a dead meter is not a line failure", st)
			}
		})
	}
}

// TestBadReplies injects a bad checksum and an exception reply: each is reported with
// its reason and an error naming the device, the meter, the data identifier and the
// reply's bytes, kept as a dead letter, and flags that one field Bad; the next poll
// reads good values again.
func TestBadReplies(t *testing.T) {
	for _, bed := range testbeds {
		t.Run(bed.name, func(t *testing.T) {
			m1, m2 := meterAt(t, addr1, 3.3, 1234.56), meterAt(t, addr2, 1.2, 50.25)
			tb := bed.make(t, m1, m2)
			const poll = 200 * time.Millisecond
			dev1 := meterDevice("em1", addr1, poll, "energy_kwh_total=00010000")
			dev2 := meterDevice("em2", addr2, poll, "energy_kwh_total=00010000", "power_kw=02030000")
			rec := &adaptertest.Recorder{}
			runSource(t, newSource(t, dlt645.Config{Line: lineOf(tb.endpoint, time.Second),
				Devices: []dlt645.Device{dev1, dev2}}, rec), rec)
			testutil.WaitFor(t, 10*time.Second, "first poll", func() bool { return rec.BatchCount() >= 1 })
			m1.Inject(devsim.DLT645FaultChecksum, 1)
			m2.Inject(devsim.DLT645FaultException, 1)
			testutil.WaitFor(t, 10*time.Second, "both reported", func() bool { return len(rec.Errors()) >= 2 })
			n := rec.BatchCount()
			testutil.WaitFor(t, 10*time.Second, "two more polls", func() bool { return rec.BatchCount() >= n+2 })

			// The checksum the meter sent is one above the right one.
			good := dlt645.Frame{Preamble: 4, Addr: m1.Address(), Control: 0x91,
				Data: append([]byte{0, 0, 1, 0}, dlt645.Items[0x00010000].Format.Encode(1234.56)...)}
			wire := good.Encode()
			cs := wire[len(wire)-2]
			wire[len(wire)-2]++
			want := []string{
				fmt.Sprintf(`bus1|em1|energy_kwh_total|checksum|read signal "energy_kwh_total" of device "em1" (meter 000000000001, DI 00010000 total forward active energy): bad checksum: frame carries 0x%02X, bytes sum to 0x%02X; reply % X`, cs+1, cs, wire),
				`bus1|em2|energy_kwh_total|exception|read signal "energy_kwh_total" of device "em2" (meter 000000000002, DI 00010000 total forward active energy): meter exception (control 0xD1, error byte 0x02): no data requested; reply FE FE FE FE 68 02 00 00 00 00 00 68 D1 01 35 D9 16`,
			}
			if got := rec.Errors(); !slices.Equal(got, want) {
				t.Fatalf("errors:\n got %s\nwant %s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if dl := rec.DeadLetters(); len(dl) != 2 || !strings.HasPrefix(dl[0], "bus1|em1|meter 000000000001 di 00010000|checksum|") ||
				!strings.HasPrefix(dl[1], "bus1|em2|meter 000000000002 di 00010000|exception|") {
				t.Fatalf("dead letters %q", dl)
			}
			// The faulty polls flag only the field concerned; the other meter's and
			// the other signal's values arrived in the same poll.
			var seen []string
			for _, b := range rec.Batches() {
				for _, p := range b {
					seen = append(seen, p.Device+": "+fieldString(p.Fields))
				}
			}
			for _, w := range []string{"em1: energy_kwh_total=bad", "em2: energy_kwh_total=bad power_kw=1.2",
				"em1: energy_kwh_total=1234.56", "em2: energy_kwh_total=50.25 power_kw=1.2"} {
				if !slices.Contains(seen, w) {
					t.Fatalf("no point %q in %q", w, seen)
				}
			}
			last1, _ := rec.Last("em1")
			last2, _ := rec.Last("em2")
			if fieldString(last1.Fields) != "energy_kwh_total=1234.56" || fieldString(last2.Fields) != "energy_kwh_total=50.25 power_kw=1.2" {
				t.Fatalf("after the faults: %v %v", last1.Fields, last2.Fields)
			}
		})
	}
}

// TestBusGoneAndBack takes the bus away (socat stopped: the serial port vanishes; the
// serial server closes its port) and brings it back: the source reports down with the
// line's error, keeps trying, and reads again once the bus is back.
func TestBusGoneAndBack(t *testing.T) {
	for _, bed := range testbeds {
		t.Run(bed.name, func(t *testing.T) {
			m1 := meterAt(t, addr1, 3.3, 1234.56)
			tb := bed.make(t, m1)
			rec := &adaptertest.Recorder{}
			runSource(t, newSource(t, dlt645.Config{Line: lineOf(tb.endpoint, 200*time.Millisecond),
				Devices: []dlt645.Device{meterDevice("em1", addr1, 100*time.Millisecond, "energy_kwh_total=00010000")}}, rec), rec)
			testutil.WaitFor(t, 10*time.Second, "first value", func() bool { return rec.BatchCount() >= 1 })
			tb.stop()
			testutil.WaitFor(t, 10*time.Second, "down", func() bool { return slices.Contains(rec.StateList(), point.StateDown) })
			down := rec.DownErrors()[0].Error()
			if !strings.HasPrefix(down, "line "+tb.endpoint+": ") {
				t.Fatalf("down error %q does not name the line", down)
			}
			m1.Set(0x00010000, 1300)
			tb.start()
			testutil.WaitFor(t, 10*time.Second, "value after the bus returned", func() bool {
				p, ok := rec.Last("em1")
				return ok && fieldString(p.Fields) == "energy_kwh_total=1300"
			})
			st := rec.StateStrings()
			if st[0] != "connecting" || st[1] != "up" || !strings.HasPrefix(st[2], "down: line ") || st[len(st)-1] != "up" {
				t.Fatalf("states %q", st)
			}
		})
	}
}

// TestReadAddressOverPty reads the address of the only meter on a bus with the
// broadcast request, as discovery does.
func TestReadAddressOverPty(t *testing.T) {
	tb := ptyTestbed(t, meterAt(t, "123456789012", 1, 1))
	var spec dlt645.SourceSpec
	spec.Endpoint = tb.endpoint
	got, err := dlt645.Discover(t.Context(), spec, nil)
	if err != nil || len(got) != 1 || got[0].Address.String() != "123456789012" || got[0].Broadcast != true {
		t.Fatalf("%+v %v", got, err)
	}
}

// TestTemplateReadsMeter runs configs/dlt645-meter.example.yaml, its endpoint and poll
// interval replaced, against a simulated meter at the template's address over a pty:
// every signal arrives with the meter's value in the standard's format.
func TestTemplateReadsMeter(t *testing.T) {
	raw, err := os.ReadFile("../../configs/dlt645-meter.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := append([]byte(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}`+"\n"), raw...)
	cfg, err := config.Load(doc, func(string) (string, bool) { return "", false }, config.Kinds{dlt645.Kind})
	if err != nil {
		t.Fatal(err)
	}
	src := cfg.Sources.Of("dlt645")[0]
	c, errs := dlt645.BuildConfig(src, cfg.DevicesOf(src.Name()), &cfg.Workshop)
	if errs != nil {
		t.Fatal(errs)
	}
	tb := ptyTestbed(t, meterAt(t, "000012345678", 6.6, 98765.43))
	c.Line.Endpoint = tb.endpoint
	c.Line.Network, c.Line.Address, _ = serialline.ParseEndpoint(tb.endpoint)
	c.Devices[0].PollInterval = 200 * time.Millisecond
	rec := &adaptertest.Recorder{}
	runSource(t, newSource(t, c, rec), rec)
	testutil.WaitFor(t, 10*time.Second, "a poll", func() bool { return rec.BatchCount() >= 1 })
	p, _ := rec.Last("em-645-1")
	want := "current_l1_a=10.526 current_l2_a=10.526 current_l3_a=10.526 energy_kwh_total=98765.43 frequency_hz=50 " +
		"power_factor=0.95 power_kw=6.6 voltage_l1_v=220 voltage_l2_v=220 voltage_l3_v=220"
	if got := fieldString(p.Fields); got != want {
		t.Fatalf("fields\n got %s\nwant %s", got, want)
	}
	if p.Measurement != "energy_meter" || len(rec.Errors()) != 0 {
		t.Fatalf("measurement %q, errors %q", p.Measurement, rec.Errors())
	}
	// The template's baud_rate (and the data and stop bits' defaults) are what the port
	// was set to: a tty's settings are the device's, whoever opened it. (Its parity
	// cannot be seen here: Linux's pty driver clears PARENB and forces CS8 on every
	// change; TestTemplate checks the line's parity is even.)
	f, err := os.OpenFile(strings.TrimPrefix(tb.endpoint, "serial://"), os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if got := tio.Cflag & (unix.CBAUD | unix.CSIZE | unix.CSTOPB); got != unix.B2400|unix.CS8 {
		t.Fatalf("c_cflag line bits %#o, want B2400|CS8 = %#o", got, unix.B2400|unix.CS8)
	}
}

// TestDecodePanicContained: a panic while a reply is decoded fails that read with
// reason "internal"; the source keeps polling and the other meter's values arrive.
func TestDecodePanicContained(t *testing.T) {
	tb := ptyTestbed(t, meterAt(t, addr1, 3.3, 1234.56), meterAt(t, addr2, 1.2, 50.25))
	var mu sync.Mutex
	panics := 1
	dlt645.SetTestHookDecode(func(device string) {
		mu.Lock()
		defer mu.Unlock()
		if device == "em1" && panics > 0 {
			panics--
			panic("decoder bug")
		}
	})
	t.Cleanup(func() { dlt645.SetTestHookDecode(nil) })
	rec := &adaptertest.Recorder{}
	runSource(t, newSource(t, dlt645.Config{Line: lineOf(tb.endpoint, time.Second), Devices: []dlt645.Device{
		meterDevice("em1", addr1, 100*time.Millisecond, "energy_kwh_total=00010000"),
		meterDevice("em2", addr2, 100*time.Millisecond, "energy_kwh_total=00010000")}}, rec), rec)
	testutil.WaitFor(t, 10*time.Second, "3 polls", func() bool { return rec.BatchCount() >= 3 })
	errs := rec.Errors()
	if len(errs) != 1 || !strings.HasPrefix(errs[0], `bus1|em1|energy_kwh_total|internal|read signal "energy_kwh_total" of device "em1" (meter 000000000001, DI 00010000 total forward active energy): internal error while decoding the reply: decoder bug; reply FE FE FE FE 68 01`) {
		t.Fatalf("errors %q", errs)
	}
	b := rec.Batches()
	if got := fieldString(b[0][0].Fields) + " | " + fieldString(b[0][1].Fields); got != "energy_kwh_total=bad | energy_kwh_total=50.25" {
		t.Fatalf("first poll %s", got)
	}
	if p, _ := rec.Last("em1"); fieldString(p.Fields) != "energy_kwh_total=1234.56" {
		t.Fatalf("after the panic: %v", p.Fields)
	}
	if st := rec.StateStrings(); !slices.Equal(st, []string{"connecting", "up"}) {
		t.Fatalf("states %q", st)
	}
}

// TestEchoSkipped: a two-wire adapter that hears its own request hands it back before
// the meter's reply; the source skips the echo and reads the reply.
func TestEchoSkipped(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		for {
			req, raw, err := dlt645.ReadFrame(c, nil)
			if err != nil {
				return
			}
			reply := dlt645.Frame{Addr: req.Addr, Control: 0x91,
				Data: append(slices.Clone(req.Data), dlt645.Items[0x00010000].Format.Encode(42.5)...)}
			c.Write(append(slices.Clone(raw), reply.Encode()...))
		}
	}()
	rec := &adaptertest.Recorder{}
	runSource(t, newSource(t, dlt645.Config{Line: lineOf("tcp://"+l.Addr().String(), time.Second),
		Devices: []dlt645.Device{meterDevice("em1", addr1, 100*time.Millisecond, "energy_kwh_total=00010000")}}, rec), rec)
	testutil.WaitFor(t, 10*time.Second, "2 polls", func() bool { return rec.BatchCount() >= 2 })
	if p, _ := rec.Last("em1"); fieldString(p.Fields) != "energy_kwh_total=42.5" || len(rec.Errors()) != 0 {
		t.Fatalf("%v, errors %q", p.Fields, rec.Errors())
	}
}
