package mqtt

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// BenchmarkRunMosquitto measures the whole source against a real mosquitto with its
// default limits: mosquitto_pub (a separate process) publishes 3-field JSON messages
// with QoS 1 and the source decodes, emits (to a counter) and acknowledges them. The
// CPU time is this process's (source, runtime), per message and per million fields.
// Flooding: as fast as mosquitto_pub goes (the broker drops what exceeds its queue);
// paced: a 100µs delay between publishes. b.N is ignored: run with -benchtime=1x.
func BenchmarkRunMosquitto(b *testing.B) {
	if _, err := exec.LookPath("mosquitto_pub"); err != nil {
		b.Fatalf("mosquitto_pub not found: run scripts/install-deps.sh")
	}
	for _, pace := range []string{"flood", "paced"} {
		b.Run(pace, func(b *testing.B) { benchRun(b, pace == "paced", false) })
	}
}

// BenchmarkRunMosquittoTLS is BenchmarkRunMosquitto over plain
// TCP and over TLS with a password, to show what TLS costs.
func BenchmarkRunMosquittoTLS(b *testing.B) {
	for _, pace := range []string{"flood", "paced"} {
		for _, tlsOn := range []bool{false, true} {
			name := pace + "/plain"
			if tlsOn {
				name = pace + "/tls"
			}
			b.Run(name, func(b *testing.B) { benchRun(b, pace == "paced", tlsOn) })
		}
	}
}

func benchRun(b *testing.B, paced, tlsOn bool) {
	const n = 50000
	cfg := benchConfig()
	var port int
	var tlsArgs []string
	if tlsOn {
		m := testsrv.StartMosquittoTLS(b, testsrv.MosquittoTLSOptions{Users: map[string]string{"gw": "bench-pw"}})
		cfg.Broker, port = m.URL, m.Port
		cfg.TLS.CAFile, cfg.Username, cfg.Password = m.CA.CertFile, "gw", "bench-pw"
		tlsArgs = []string{"--cafile", m.CA.CertFile, "-u", "gw", "-P", "bench-pw"}
	} else {
		m := testsrv.StartMosquitto(b)
		cfg.Broker, port = m.URL, m.Port
	}
	cfg.ClientID = fmt.Sprintf("gw-bench-%d", testClientSeq.Add(1))
	cfg.QoS = 1
	src, err := New(cfg, point.NopObserver{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var msgs, batches atomic.Int64
	emit := func(_ context.Context, batch point.Batch) error {
		msgs.Add(int64(len(batch)))
		batches.Add(1)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, emit) }()
	defer func() { cancel(); <-done }()
	time.Sleep(300 * time.Millisecond) // connected and subscribed

	args := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "meters/e1", "-q", "1",
		"-m", benchPayload, "--repeat", strconv.Itoa(n)}, tlsArgs...)
	if paced {
		args = append(args, "--repeat-delay", "0.0001")
	}
	var before syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	begin := time.Now()
	b.ResetTimer()
	if out, err := exec.Command("mosquitto_pub", args...).CombinedOutput(); err != nil {
		b.Fatalf("mosquitto_pub: %v: %s", err, out)
	}
	// Wait until everything arrived or nothing more arrives (the broker drops beyond
	// max_queued_messages when the publisher outruns the source).
	last, lastChange := int64(-1), time.Now()
	for msgs.Load() < n && time.Since(lastChange) < time.Second {
		if c := msgs.Load(); c != last {
			last, lastChange = c, time.Now()
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(begin)
	if msgs.Load() < n {
		elapsed -= time.Second
	}
	b.StopTimer()
	var after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	got := msgs.Load()
	b.ReportMetric(float64(got)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(got), "cpu-ns/msg")
	b.ReportMetric(cpu.Seconds()/float64(got*3)*1e6, "cpu-s/Mfields")
	b.ReportMetric(float64(got)/float64(batches.Load()), "msgs/batch")
	b.ReportMetric(float64(n-got), "dropped")
}

// BenchmarkReadPublish parses QoS 1 PUBLISH packets of the meter payload from a buffered
// stream as the session's reader does: one allocation a message (topic and payload).
func BenchmarkReadPublish(b *testing.B) {
	pkt := publishPacket("plant/ws1/meter/123", 1, 42, []byte(benchPayload))
	stream := bytes.Repeat(pkt, 1000)
	ss := &session{maxPayload: DefaultMaxPayloadBytes}
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	rd := bytes.NewReader(stream)
	ss.r = bufio.NewReaderSize(rd, readBufferSize)
	for i := 0; b.Loop(); i++ {
		if i%1000 == 0 {
			rd.Reset(stream)
			ss.r.Reset(rd)
		}
		first, n, err := readFixedHeader(ss.r)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ss.readPublish(first, n); err != nil {
			b.Fatal(err)
		}
	}
}
