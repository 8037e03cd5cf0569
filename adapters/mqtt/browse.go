package mqtt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ganlink/ganlink/gateway/point"
)

// SniffOptions configures Sniff.
type SniffOptions struct {
	// Filter is the topic filter to subscribe to (QoS 0, clean session); default "#".
	Filter string
	// Listen is how long to listen after the subscription was granted.
	Listen time.Duration
	// MaxTopics bounds the topics kept; later new topics are counted in Dropped only.
	MaxTopics int
	// MaxSample cuts the sample payload kept of each topic (the newest message's).
	MaxSample int
	// MaxPaths bounds the paths listed per sample.
	MaxPaths int
}

// SniffTopic is one topic seen by Sniff.
type SniffTopic struct {
	Topic    string
	Messages int
	LastSeen time.Time
	// Sample is the newest payload, cut at MaxSample bytes (Truncated says so).
	Sample    []byte
	Truncated bool
	// Paths, Format, More and Err are PayloadPaths of the newest payload (re-read at
	// most once a second per topic); a payload above the source's max_payload_bytes is
	// not read (Err says so).
	Paths  []PathValue
	Format string
	More   bool
	Err    string

	parsed time.Time
}

// Sniff connects to the broker of cfg (its URL, credentials and TLS settings; the
// client id is made unique and the session clean, so the running source's session is
// not disturbed), subscribes to o.Filter with QoS 0 and records, for o.Listen, every
// topic that carries a message: how many messages, when the last arrived and its
// payload. Topics come back sorted; dropped counts the topics beyond o.MaxTopics.
func Sniff(ctx context.Context, cfg Config, o SniffOptions) (topics []SniffTopic, dropped int, err error) {
	if o.Filter == "" {
		o.Filter = "#"
	}
	if err := validateFilter(o.Filter); err != nil {
		return nil, 0, fmt.Errorf("filter: %w", err)
	}
	cfg.Subscribe, cfg.Bindings = []string{o.Filter}, nil
	cfg = cfg.withDefaults()
	var mu sync.Mutex
	seen := map[string]*SniffTopic{}
	ss, err := connectOnce(ctx, cfg, func(m inbound) {
		now := time.Now().UTC()
		mu.Lock()
		defer mu.Unlock()
		t := seen[m.topic]
		if t == nil {
			if len(seen) >= o.MaxTopics && o.MaxTopics > 0 {
				dropped++
				return
			}
			topic := strings.Clone(m.topic) // m.topic shares the message's buffer
			t = &SniffTopic{Topic: topic}
			seen[topic] = t
		}
		t.Messages++
		t.LastSeen = now
		p := m.payload
		t.Truncated = o.MaxSample > 0 && m.size > o.MaxSample
		if o.MaxSample > 0 && len(p) > o.MaxSample {
			p = p[:o.MaxSample]
		}
		t.Sample = append(t.Sample[:0], p...)
		if now.Sub(t.parsed) < time.Second {
			return
		}
		t.parsed = now
		full := m.payload
		if m.size > cfg.MaxPayloadBytes {
			t.Paths, t.Format, t.More = nil, "text", false
			t.Err = fmt.Sprintf("payload of %d bytes: larger than max_payload_bytes %d, the source drops it", m.size, cfg.MaxPayloadBytes)
			return
		}
		var perr error
		t.Paths, t.Format, t.More, perr = PayloadPaths(full, o.MaxPaths)
		t.Err = ""
		if perr != nil {
			t.Err = perr.Error()
		}
	})
	if err != nil {
		return nil, 0, err
	}
	defer ss.close(true)
	t := time.NewTimer(o.Listen)
	defer t.Stop()
	select {
	case <-t.C:
	case err := <-ss.lost:
		return nil, 0, fmt.Errorf("lose connection to broker %q: %w", cfg.Broker, err)
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	mu.Lock()
	defer mu.Unlock()
	for _, t := range seen {
		topics = append(topics, *t)
	}
	sort.Slice(topics, func(i, j int) bool { return topics[i].Topic < topics[j].Topic })
	return topics, dropped, nil
}

// PathValue is one value of a JSON payload at a path of the source's grammar.
type PathValue struct {
	// Path is the payload path (ValidatePath): object keys and array indices joined by
	// dots, usable as a signal's path as it is.
	Path string
	// Type is "number", "string", "boolean" or "null".
	Type string
	// Value is the value: a float64, a string (cut at 200 characters), a bool or nil.
	Value any
}

// maxSampleString bounds, in characters, a string value listed by PayloadPaths.
const maxSampleString = 200

// PayloadPaths lists the scalar values of a JSON payload with their paths in document
// order (an object's keys in their order; a repeated key once, with the last value as
// the source's decoder takes it), at most max of them (more sets more). Values that
// no path of the grammar can name are left out: those under a key that is empty or
// holds a dot, and those deeper than the grammar's 32 segments. format is "json",
// "number" (a bare number: the "number" payload format) or "text"; err says why a
// payload that starts like JSON is not valid JSON.
func PayloadPaths(payload []byte, max int) (paths []PathValue, format string, more bool, err error) {
	p := trimSpace(payload) // the whitespace the source's decoder skips (JSON's: not \v or \f)
	if len(p) > 0 && (p[0] == '{' || p[0] == '[') {
		if !json.Valid(p) {
			var v any
			err := json.Unmarshal(p, &v)
			return nil, "text", false, fmt.Errorf("not JSON: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(p))
		dec.UseNumber()
		w := pathWalker{dec: dec, max: max}
		root, err := w.read()
		if err != nil {
			return nil, "text", false, fmt.Errorf("not JSON: %w", err)
		}
		w.walk(root, nil)
		return w.out, "json", w.more, nil
	}
	if validNumber(p) && !isNonFinite(p) {
		return nil, "number", false, nil
	}
	return nil, "text", false, nil
}

// jsonNode is a decoded JSON value that keeps the order of an object's keys: a
// repeated key keeps its first position and its last value, as the decoder takes it.
type jsonNode struct {
	keys  []string
	vals  map[string]*jsonNode
	elems []*jsonNode
	typ   string // "object", "array", or the scalar's type
	value any
}

// pathWalker lists the scalars of a JSON document.
type pathWalker struct {
	dec  *json.Decoder
	max  int
	out  []PathValue
	more bool
}

// read decodes one value from the tokens.
func (w *pathWalker) read() (*jsonNode, error) {
	tok, err := w.dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &jsonNode{typ: "array"}
		if t == '{' {
			n.typ, n.vals = "object", map[string]*jsonNode{}
		}
		for w.dec.More() {
			if n.vals != nil {
				kt, err := w.dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := w.read()
				if err != nil {
					return nil, err
				}
				if _, dup := n.vals[k]; !dup {
					n.keys = append(n.keys, k)
				}
				n.vals[k] = v
				continue
			}
			v, err := w.read()
			if err != nil {
				return nil, err
			}
			n.elems = append(n.elems, v)
		}
		_, err := w.dec.Token() // the closing delimiter
		return n, err
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil || math.IsInf(f, 0) {
			return &jsonNode{typ: "number", value: string(t)}, nil // beyond float64: shown as written
		}
		return &jsonNode{typ: "number", value: f}, nil
	case string:
		if utf8.RuneCountInString(t) > maxSampleString {
			t = string([]rune(t)[:maxSampleString]) + "…"
		}
		return &jsonNode{typ: "string", value: t}, nil
	case bool:
		return &jsonNode{typ: "boolean", value: t}, nil
	}
	return &jsonNode{typ: "null"}, nil
}

// walk lists the scalars below n, whose path is path.
func (w *pathWalker) walk(n *jsonNode, path []string) {
	if w.more {
		return
	}
	switch n.typ {
	case "object":
		for _, k := range n.keys {
			if k == "" || strings.Contains(k, ".") || len(path) >= maxPathSegments {
				continue // no path of the grammar names it
			}
			w.walk(n.vals[k], append(path[:len(path):len(path)], k))
		}
	case "array":
		for i, e := range n.elems {
			if len(path) >= maxPathSegments {
				break
			}
			w.walk(e, append(path[:len(path):len(path)], strconv.Itoa(i)))
		}
	default:
		if len(path) == 0 {
			return // a bare scalar is not JSON with paths
		}
		if w.max > 0 && len(w.out) >= w.max {
			w.more = true
			return
		}
		w.out = append(w.out, PathValue{Path: strings.Join(path, "."), Type: n.typ, Value: n.value})
	}
}

// connectOnce connects to the broker of cfg for a one-off look (a sniff, a read once):
// a unique client id and a clean session, so the running source's persistent session
// is not touched, and QoS 0 (nothing to acknowledge). It checks cfg as the source
// does, but for the bindings (a sniff has none), subscribes to cfg.Subscribe and hands
// every message to handle (on the session's reading goroutine). The caller closes the
// session; its lost channel reports a lost connection.
func connectOnce(ctx context.Context, cfg Config, handle func(inbound)) (*session, error) {
	cfg.ClientID = fmt.Sprintf("ganlink-commission-%d", time.Now().UnixNano())
	cfg.CleanSession, cfg.QoS = true, 0
	if cfg.Name == "" {
		cfg.Name = "commission"
	}
	var errs []error
	cfg.check(func(field, format string, a ...any) {
		if !strings.HasPrefix(field, "bindings") {
			errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
		}
	})
	if len(errs) > 0 {
		return nil, fmt.Errorf("configure mqtt source %q: %w", cfg.Name, errors.Join(errs...))
	}
	tc, err := buildTLS(&cfg)
	if err != nil {
		return nil, fmt.Errorf("configure mqtt source %q: %w", cfg.Name, err)
	}
	s := &Source{cfg: cfg.withDefaults(), tls: tc, obs: point.NopObserver{}, log: slog.New(slog.DiscardHandler)}
	guard := &dialGuard{}
	ss, _, err := s.connect(ctx, guard, func(m inbound) bool { handle(m); return true })
	dialErr := guard.established()
	if err != nil {
		return nil, s.connectError(err, dialErr, guard.certRequested())
	}
	if err := ss.subscribe(ctx, s.cfg); err != nil {
		ss.close(true)
		return nil, err
	}
	return ss, nil
}
