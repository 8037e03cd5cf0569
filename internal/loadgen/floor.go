package loadgen

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"
)

// floorReady is the line the floor program writes to stderr once it has subscribed.
const floorReady = "floor: ready"

// Floor is the floor program (loadgen floor mqtt|opcua): the least a correct bridge
// from the workload's source to the TSDB does, as a yardstick for the gateway's and
// Telegraf's cost. MQTT: paho with QoS 1 and a persistent session, encoding/json into a
// struct, one line of line protocol a message. OPC UA: gopcua, the items spread over
// subscriptions of 1 000, one line a value. Lines are buffered and POSTed gzipped
// (BestSpeed) to /api/v2/write every flush interval or batch lines; a failed POST is
// retried with the same body until it succeeds. Nothing is queued on disk, nothing is
// validated, no KPI is computed. It returns on SIGTERM or SIGINT after a last flush.
func Floor(args []string, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "mqtt" && args[0] != "opcua") {
		fmt.Fprintln(stderr, "usage: loadgen floor mqtt|opcua -url SINK [flags]")
		return 2
	}
	fs := flag.NewFlagSet("loadgen floor "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	sink := fs.String("url", "", "base URL of the InfluxDB v2 write API")
	flush := fs.Duration("flush-interval", peerFlushInterval, "flush interval")
	batch := fs.Int("batch", peerBatchPoints, "lines that trigger a flush")
	broker := fs.String("broker", "", "MQTT broker URL")
	endpoint := fs.String("endpoint", "", "OPC UA endpoint")
	items := fs.Int("items", 0, "OPC UA items V1..Vn")
	sampling := fs.Duration("sampling", time.Second, "OPC UA sampling interval")
	publishing := fs.Duration("publishing", 500*time.Millisecond, "OPC UA publishing interval")
	if err := fs.Parse(args[1:]); err != nil || *sink == "" {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	w := &floorWriter{url: *sink + "/api/v2/write?org=ganlink&bucket=ganlink&precision=ms", batch: *batch,
		kick: make(chan struct{}, 1)}
	var err error
	done := make(chan struct{})
	go func() { defer close(done); w.run(ctx, *flush) }()
	if args[0] == "mqtt" {
		err = floorMQTT(ctx, *broker, w, stderr)
	} else {
		err = floorOPCUA(ctx, *endpoint, *items, *sampling, *publishing, w, stderr)
	}
	stop()
	<-done
	if err != nil {
		fmt.Fprintln(stderr, "floor:", err)
		return 1
	}
	return 0
}

// floorWriter buffers lines and POSTs them.
type floorWriter struct {
	url   string
	batch int
	kick  chan struct{}

	mu    sync.Mutex
	buf   []byte
	lines int
}

func (w *floorWriter) add(f func(b []byte) []byte) {
	w.mu.Lock()
	w.buf = f(w.buf)
	w.lines++
	full := w.lines >= w.batch
	w.mu.Unlock()
	if full {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

func (w *floorWriter) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var spare []byte
	var zbuf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zbuf, gzip.BestSpeed)
	for {
		select {
		case <-ctx.Done():
			spare = w.flush(spare, &zbuf, zw)
			return
		case <-t.C:
		case <-w.kick:
		}
		spare = w.flush(spare, &zbuf, zw)
	}
}

// flush takes the buffered lines and POSTs them until the TSDB accepts them; it
// returns the emptied buffer for reuse.
func (w *floorWriter) flush(spare []byte, zbuf *bytes.Buffer, zw *gzip.Writer) []byte {
	w.mu.Lock()
	body := w.buf
	w.buf, w.lines = spare[:0], 0
	w.mu.Unlock()
	if len(body) == 0 {
		return body
	}
	zbuf.Reset()
	zw.Reset(zbuf)
	_, _ = zw.Write(body)
	_ = zw.Close()
	for {
		req, _ := http.NewRequest("POST", w.url, bytes.NewReader(zbuf.Bytes()))
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return body
			}
		}
		time.Sleep(time.Second)
	}
}

func floorMQTT(ctx context.Context, broker string, w *floorWriter, stderr io.Writer) error {
	var msg struct {
		TS  int64   `json:"ts"`
		KWh float64 `json:"kwh"`
		KW  float64 `json:"kw"`
		M3  float64 `json:"m3"`
	}
	handler := func(_ mqtt.Client, m mqtt.Message) {
		// Handlers run one at a time (paho's default, order matters).
		if err := json.Unmarshal(m.Payload(), &msg); err != nil {
			return
		}
		meter := m.Topic()[strings.LastIndexByte(m.Topic(), '/')+1:]
		w.add(func(b []byte) []byte {
			b = append(b, meterMeasurement+",meter="...)
			b = append(b, meter...)
			b = append(b, " energy_kwh_total="...)
			b = strconv.AppendFloat(b, msg.KWh, 'g', -1, 64)
			b = append(b, ",power_kw="...)
			b = strconv.AppendFloat(b, msg.KW, 'g', -1, 64)
			b = append(b, ",water_m3_total="...)
			b = strconv.AppendFloat(b, msg.M3, 'g', -1, 64)
			b = append(b, ' ')
			b = strconv.AppendInt(b, msg.TS, 10)
			return append(b, '\n')
		})
	}
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID("floor-loadgen").
		SetCleanSession(false).SetAutoReconnect(true).SetConnectTimeout(10 * time.Second)
	opts.SetDefaultPublishHandler(handler) // messages of the persistent session
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("connect to %s: %v", broker, tok.Error())
	}
	if tok := c.Subscribe("plant/ws1/meter/+", 1, handler); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("subscribe: %v", tok.Error())
	}
	fmt.Fprintln(stderr, floorReady)
	<-ctx.Done()
	c.Disconnect(250)
	return nil
}

func floorOPCUA(ctx context.Context, endpoint string, items int, sampling, publishing time.Duration, w *floorWriter, stderr io.Writer) error {
	c, err := opcua.NewClient(endpoint, opcua.SecurityMode(ua.MessageSecurityModeNone), opcua.AutoReconnect(false))
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.Connect(cctx); err != nil {
		return fmt.Errorf("connect to %s: %w", endpoint, err)
	}
	defer c.Close(context.Background())
	ns, err := c.FindNamespace(cctx, uaNamespace)
	if err != nil {
		return err
	}
	// Client handle i+1 is variable V(i+1): device plc(i/10+1), field value_(i%10+1).
	fields := make([]string, items)
	devices := make([]string, items)
	for i := range items {
		fields[i], devices[i] = uaField(i%uaPerDevice), "plc"+strconv.Itoa(i/uaPerDevice+1)
	}
	notes := make(chan *opcua.PublishNotificationData, 64)
	const perSub = 1000
	for first := 0; first < items; first += perSub {
		sub, err := c.Subscribe(cctx, &opcua.SubscriptionParameters{Interval: publishing}, notes)
		if err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		var reqs []*ua.MonitoredItemCreateRequest
		for i := first; i < min(first+perSub, items); i++ {
			r := opcua.NewMonitoredItemCreateRequestWithDefaults(ua.NewStringNodeID(ns, uaNodeName(i+1)), ua.AttributeIDValue, uint32(i+1))
			r.RequestedParameters.SamplingInterval = float64(sampling) / float64(time.Millisecond)
			reqs = append(reqs, r)
		}
		if _, err := sub.Monitor(cctx, ua.TimestampsToReturnBoth, reqs...); err != nil {
			return fmt.Errorf("monitor: %w", err)
		}
	}
	fmt.Fprintln(stderr, floorReady)
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-notes:
			dc, ok := n.Value.(*ua.DataChangeNotification)
			if n.Error != nil || !ok {
				continue
			}
			for _, it := range dc.MonitoredItems {
				h := int(it.ClientHandle) - 1
				if h < 0 || h >= items || it.Value == nil || it.Value.Value == nil {
					continue
				}
				v, ok := it.Value.Value.Value().(float64)
				if !ok {
					continue
				}
				ts := it.Value.SourceTimestamp.UnixMilli()
				w.add(func(b []byte) []byte {
					b = append(b, uaMeasurement+",device="...)
					b = append(b, devices[h]...)
					b = append(b, ' ')
					b = append(b, fields[h]...)
					b = append(b, '=')
					b = strconv.AppendFloat(b, v, 'g', -1, 64)
					b = append(b, ' ')
					b = strconv.AppendInt(b, ts, 10)
					return append(b, '\n')
				})
			}
		}
	}
}
