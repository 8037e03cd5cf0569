package devsim

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/ganlink/ganlink/internal/testsrv"
)

func TestPublishMQTTDeliversExactPayloads(t *testing.T) {
	broker := testsrv.StartMosquitto(t)
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, shanghai)
	sim := mustNew(t, Config{Machines: 2, EnergyMeters: 2, WaterMeters: 1, Seed: 5, Start: start,
		MeterReplaceProb: 0.2, RecordLimit: 10000})

	received := make(chan mqtt.Message, 1000)
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL).SetClientID("devsim-test-sub"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect subscriber: %v", tok.Error())
	}
	t.Cleanup(func() { sub.Disconnect(100) })
	if tok := sub.Subscribe("plant/ws1/meter/#", 1, func(_ mqtt.Client, m mqtt.Message) { received <- m }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	// Reports made before PublishMQTT runs wait in the queue.
	sim.Step(start.Add(time.Second))
	sim.Step(start.Add(2 * time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- sim.PublishMQTT(ctx, broker.URL) }()
	for i := 3; i <= 20; i++ {
		sim.Step(start.Add(time.Duration(i) * time.Second))
	}

	// What the records say each topic must carry, in order.
	want := map[string][]string{}
	kwh := map[string]float64{}
	for _, r := range sim.Produced() {
		v, ok := r.Value.(float64)
		if r.Device[0] == 'm' || !ok {
			continue
		}
		ms := r.Time.UnixMilli()
		f := strconv.FormatFloat(v, 'f', -1, 64)
		topic := "plant/ws1/meter/" + r.Device
		switch r.Signal {
		case SigEnergyTotal:
			kwh[r.Device] = r.Value.(float64)
		case SigPower:
			want[topic] = append(want[topic], fmt.Sprintf(`{"ts":%d,"kwh":%s,"kw":%s}`, ms,
				strconv.FormatFloat(kwh[r.Device], 'f', -1, 64), f))
		case SigWaterTotal:
			want[topic] = append(want[topic], fmt.Sprintf(`{"ts":%d,"m3":%s}`, ms, f))
		}
	}
	got := map[string][]string{}
	deadline := time.After(15 * time.Second)
	for n := 0; n < 3*21; n++ {
		select {
		case m := <-received:
			if m.Qos() != 1 || m.Retained() {
				t.Errorf("message on %s with QoS %d retained %v, want QoS 1 not retained", m.Topic(), m.Qos(), m.Retained())
			}
			got[m.Topic()] = append(got[m.Topic()], string(m.Payload()))
		case <-deadline:
			t.Fatalf("received %d of %d messages: %v", n, 3*21, got)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("payloads\n got %q\nwant %q", got, want)
	}
	if first := got["plant/ws1/meter/em1"][0]; first != `{"ts":1772413200000,"kwh":44306.49,"kw":20.222}` {
		t.Errorf("first em1 payload %s", first)
	}
	// Every payload is JSON with the documented keys.
	for topic, ps := range got {
		for _, p := range ps {
			var v map[string]float64
			if err := json.Unmarshal([]byte(p), &v); err != nil || v["ts"] == 0 || len(v) < 2 {
				t.Errorf("%s payload %s: %v %v", topic, p, v, err)
			}
		}
	}
	for until := time.Now().Add(10 * time.Second); sim.Stats().MQTTPublished < 63 && time.Now().Before(until); {
		time.Sleep(10 * time.Millisecond) // PUBACKs may trail the subscriber's copies
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("PublishMQTT returned %v", err)
	}
	if st := sim.Stats(); st.MQTTProduced != 63 || st.MQTTPublished != 63 || st.MQTTDropped != 0 {
		t.Errorf("stats %+v, want 63 produced and published, none dropped", st)
	}
}

func TestPublishMQTTBadBroker(t *testing.T) {
	sim := mustNew(t, Config{EnergyMeters: 1})
	tests := []struct{ broker, want string }{
		{"localhost:1883", `parse mqtt broker "localhost:1883": unsupported scheme "localhost"`},
		{"http://127.0.0.1:1883", `parse mqtt broker "http://127.0.0.1:1883": unsupported scheme "http"`},
		{"tcp://[::1", `parse mqtt broker "tcp://[::1": parse "tcp://[::1": missing ']' in host`},
	}
	for _, tt := range tests {
		err := sim.PublishMQTT(context.Background(), tt.broker)
		if err == nil || err.Error() != tt.want {
			t.Errorf("PublishMQTT(%q) = %v, want %q", tt.broker, err, tt.want)
		}
	}
}

func TestMQTTQueue(t *testing.T) {
	var q mqttQueue
	q.init(3)
	msg := func(i int) mqttMsg { return mqttMsg{topic: strconv.Itoa(i)} }
	topics := func(ms []mqttMsg) (out []string) {
		for _, m := range ms {
			out = append(out, m.topic)
		}
		return out
	}
	var dropped []bool
	for i := 1; i <= 5; i++ {
		dropped = append(dropped, q.push(strconv.Itoa(i), nil))
	}
	if !reflect.DeepEqual(dropped, []bool{false, false, false, true, true}) {
		t.Errorf("push dropped %v", dropped)
	}
	got := q.take(2)
	if want := []string{"3", "4"}; !reflect.DeepEqual(topics(got), want) {
		t.Errorf("take(2) = %v, want %v", topics(got), want)
	}
	if n := q.requeue([]mqttMsg{msg(1), msg(2), msg(3)}); n != 1 {
		t.Errorf("requeue dropped %d, want 1", n)
	}
	if got, want := topics(q.take(10)), []string{"2", "3", "5"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after requeue take = %v, want %v", got, want)
	}
	if q.len() != 0 {
		t.Errorf("len %d after taking all", q.len())
	}
}
