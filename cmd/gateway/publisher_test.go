package main

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// publisher plays the flow meters: message n goes to device n mod devices, carries the
// timestamp base+n ms and the value n/4, so every message is one distinct sample of its
// device's series and the global publish order is the timestamp order.
type publisher struct {
	t       *testing.T
	c       paho.Client
	devices int
	baseMs  int64

	mu     sync.Mutex
	next   int          // index of the next message
	toks   []paho.Token // toks[n] is message n's publish token
	stop   chan struct{}
	done   chan struct{}
	rate   float64
	phases []phase
}

// phase is one period of publishing at a constant rate.
type phase struct {
	from, to     int // message indexes [from, to)
	start, end   time.Time
	wantPerSec   float64
	achievedRate float64
}

func newPublisher(t *testing.T, broker string, devices int) *publisher {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("ft-publisher").
		SetCleanSession(true).SetAutoReconnect(false).SetWriteTimeout(10 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect publisher to %s: %v", broker, tok.Error())
	}
	p := &publisher{t: t, c: c, devices: devices,
		baseMs: time.Now().Add(-time.Hour).Truncate(time.Second).UnixMilli()}
	t.Cleanup(func() {
		p.Stop()
		c.Disconnect(1000)
	})
	return p
}

func (p *publisher) topic(n int) string { return fmt.Sprintf("ft/fm%02d", n%p.devices) }
func (p *publisher) device(n int) string {
	return fmt.Sprintf("fm%02d", n%p.devices)
}
func (p *publisher) ts(n int) int64      { return p.baseMs + int64(n) }
func (p *publisher) value(n int) float64 { return float64(n) / 4 }

// Start publishes at perSec messages a second (QoS 1) until Stop.
func (p *publisher) Start(perSec float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop != nil {
		p.t.Fatalf("publisher already running")
	}
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	p.phases = append(p.phases, phase{from: p.next, start: time.Now(), wantPerSec: perSec})
	go p.loop(perSec, p.stop, p.done)
}

func (p *publisher) loop(perSec float64, stop, done chan struct{}) {
	defer close(done)
	start := time.Now()
	p.mu.Lock()
	first := p.next
	p.mu.Unlock()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		due := first + int(time.Since(start).Seconds()*perSec)
		p.mu.Lock()
		for p.next < due {
			n := p.next
			payload := `{"ts":` + strconv.FormatInt(p.ts(n), 10) + `,"v":` + strconv.FormatFloat(p.value(n), 'g', -1, 64) + `}`
			p.toks = append(p.toks, p.c.Publish(p.topic(n), 1, false, payload))
			p.next++
		}
		p.mu.Unlock()
	}
}

// Stop ends the current phase and waits until the broker has acknowledged every
// message published so far; a message it did not acknowledge fails the test.
func (p *publisher) Stop() {
	p.mu.Lock()
	stop, done := p.stop, p.done
	p.stop = nil
	p.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-done
	p.mu.Lock()
	ph := &p.phases[len(p.phases)-1]
	ph.to, ph.end = p.next, time.Now()
	ph.achievedRate = float64(ph.to-ph.from) / ph.end.Sub(ph.start).Seconds()
	toks := p.toks
	p.mu.Unlock()
	for n, tok := range toks {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			p.t.Fatalf("message %d not acknowledged by the broker: %v", n, tok.Error())
		}
	}
}

// Published returns the number of messages published so far.
func (p *publisher) Published() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.next
}

// sampleKey returns the comparison key of message n: "<device> <timestamp ms>".
func (p *publisher) sampleKey(n int) string {
	return p.device(n) + " " + strconv.FormatInt(p.ts(n), 10)
}

// expected returns every message in [from, to) as comparison key → value.
func (p *publisher) expected(from, to int) map[string]float64 {
	out := make(map[string]float64, to-from)
	for n := from; n < to; n++ {
		out[p.sampleKey(n)] = p.value(n)
	}
	return out
}

// indexOf maps comparison keys back to message indexes for [0, Published()).
func (p *publisher) indexOf() map[string]int {
	n := p.Published()
	out := make(map[string]int, n)
	for i := 0; i < n; i++ {
		out[p.sampleKey(i)] = i
	}
	return out
}

// identity is the label set every flow meter series must carry besides "device".
var identity = map[string]string{"__name__": "flow_meter_flow_m3h", "enterprise": "e1", "kind": "flow_meter",
	"park": "p1", "region": "360100", "workshop": "ws1"}

// stored returns the flow meter samples VictoriaMetrics holds, keyed like sampleKey;
// a sample whose labels differ from the device identity is keyed by its full export
// key, so that it shows up as unexpected.
func stored(vm *testsrv.Victoria) map[string]float64 {
	out := map[string]float64{}
	for _, s := range vm.Export(`{__name__="flow_meter_flow_m3h"}`) {
		ok := len(s.Labels) == len(identity)+1
		for k, v := range identity {
			ok = ok && s.Labels[k] == v
		}
		if ok {
			out[s.Labels["device"]+" "+strconv.FormatInt(s.Timestamp, 10)] = s.Value
			continue
		}
		v := s.Value
		s.Value = 0
		out[s.Key()] = v
	}
	return out
}
