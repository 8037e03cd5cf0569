package devsim

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

type mqttMsg struct {
	topic   string
	payload []byte
}

// mqttQueue holds meter messages until PublishMQTT sends them; beyond its limit the
// oldest are dropped.
type mqttQueue struct {
	mu    sync.Mutex
	msgs  []mqttMsg
	head  int
	limit int
	wake  chan struct{}
}

func (q *mqttQueue) init(limit int) {
	q.limit = limit
	q.wake = make(chan struct{}, 1)
}

// push appends a message and reports whether the oldest one was dropped for it.
func (q *mqttQueue) push(topic string, payload []byte) (dropped bool) {
	q.mu.Lock()
	if len(q.msgs)-q.head >= q.limit {
		if q.limit == 0 {
			q.mu.Unlock()
			return true
		}
		q.msgs[q.head] = mqttMsg{}
		q.head++
		dropped = true
	}
	q.msgs = append(q.msgs, mqttMsg{topic, payload})
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return dropped
}

// take removes and returns up to n messages, oldest first.
func (q *mqttQueue) take(n int) []mqttMsg {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.msgs)-q.head)
	out := make([]mqttMsg, n)
	copy(out, q.msgs[q.head:])
	clear(q.msgs[q.head : q.head+n])
	q.head += n
	if q.head == len(q.msgs) {
		q.msgs, q.head = q.msgs[:0], 0
	} else if q.head > 1024 && q.head > len(q.msgs)/2 {
		q.msgs = append(q.msgs[:0], q.msgs[q.head:]...)
		q.head = 0
	}
	return out
}

// requeue puts messages back in front, in order, and returns how many of them did not
// fit under the limit (the oldest, dropped).
func (q *mqttQueue) requeue(msgs []mqttMsg) (dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if room := q.limit - (len(q.msgs) - q.head); len(msgs) > room {
		dropped = len(msgs) - max(room, 0)
		msgs = msgs[dropped:]
	}
	rest := q.msgs[q.head:]
	q.msgs = append(append(make([]mqttMsg, 0, len(msgs)+len(rest)), msgs...), rest...)
	q.head = 0
	return dropped
}

func (q *mqttQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs) - q.head
}

// mqttAckTimeout bounds the wait for the broker's PUBACKs of one batch.
const mqttAckTimeout = 10 * time.Second

// PublishMQTT publishes the meter messages to the broker (tcp://host:port, also ssl://,
// ws://, wss://) with QoS 1 until ctx is done, then disconnects and returns nil.
// Messages made while it is not connected wait in a bounded queue (Config.MQTTQueue),
// including those made before it started; messages whose publish fails are queued
// again. It reconnects by itself; it returns an error only for an unusable broker URL.
func (s *Sim) PublishMQTT(ctx context.Context, broker string) error {
	u, err := url.Parse(broker)
	if err != nil {
		return fmt.Errorf("parse mqtt broker %q: %w", broker, err)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return fmt.Errorf("parse mqtt broker %q: unsupported scheme %q", broker, u.Scheme)
	}
	log := s.log.With("broker", broker)
	up := make(chan struct{}, 1)
	opts := mqtt.NewClientOptions().
		AddBroker(broker).
		SetClientID(s.cfg.MQTTClientID).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(500 * time.Millisecond).
		SetMaxReconnectInterval(2 * time.Second).
		SetConnectTimeout(5 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetOrderMatters(false).
		SetOnConnectHandler(func(mqtt.Client) {
			log.Info("mqtt connected")
			select {
			case up <- struct{}{}:
			default:
			}
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			log.Warn("mqtt connection lost", "err", err)
		})
	c := mqtt.NewClient(opts)
	c.Connect() // with ConnectRetry the token completes only once connected
	defer c.Disconnect(250)

	for {
		if !c.IsConnectionOpen() {
			select {
			case <-ctx.Done():
				return nil
			case <-up:
			case <-time.After(time.Second):
			}
			continue
		}
		batch := s.mq.take(512)
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-s.mq.wake:
			}
			continue
		}
		toks := make([]mqtt.Token, len(batch))
		for i, m := range batch {
			toks[i] = c.Publish(m.topic, 1, false, m.payload)
		}
		var failed []mqttMsg
		var lastErr error
		deadline := time.NewTimer(mqttAckTimeout)
	wait:
		for i, tok := range toks {
			select {
			case <-tok.Done():
				if err := tok.Error(); err != nil {
					failed, lastErr = append(failed, batch[i]), err
					continue
				}
				s.mqttPublished.Add(1)
			case <-deadline.C:
				// Unacknowledged: paho may still deliver them; do not send them twice.
				n := len(toks) - i
				s.mqttDropped.Add(uint64(n))
				log.Warn("mqtt publish not acknowledged in time", "messages", n, "timeout", mqttAckTimeout)
				break wait
			case <-ctx.Done():
				deadline.Stop()
				return nil
			}
		}
		deadline.Stop()
		if len(failed) > 0 {
			log.Warn("mqtt publish failed, queued again", "messages", len(failed), "err", lastErr)
			if n := s.mq.requeue(failed); n > 0 {
				s.mqttDropped.Add(uint64(n))
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}
