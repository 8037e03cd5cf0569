package opcua

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/adapters/internal/reconnect"
	"github.com/ganlink/ganlink/gateway/point"
)

// Source monitors the configured items of one OPC UA server and hands their value
// changes to the pipeline. It is built by New and started by Run; Run must not be
// called concurrently with itself.
type Source struct {
	cfg      Config
	obs      point.Observer
	log      *slog.Logger
	items    []item
	ts       tsMode
	security atomic.Pointer[string] // "policy/mode" of the last connection attempt

	warnClearPassword sync.Once
	warnIdentity      sync.Once

	// Tuning knobs with production defaults; tests in this package shorten them.
	keepAliveTarget time.Duration // wanted keep-alive period of a quiet subscription
	retryEvery      time.Duration // period of re-creating rejected items while connected
	closeTimeout    time.Duration // bound on the graceful close of a session
	maxPublishers   int           // bound on outstanding publish requests

	// orphans are sessions that connections dropped during setup or before they could
	// be closed left on the server; the next connection attempt closes them, so they
	// do not hold the server's session slots until their timeout. Owned by Run's
	// goroutine.
	orphans []orphan

	// Counters for diagnostics and tests.
	releasedSessions atomic.Int64 // orphaned sessions closed
	monitorCalls     atomic.Int64 // CreateMonitoredItems requests sent
	translateCalls   atomic.Int64 // TranslateBrowsePathsToNodeIds requests sent
	subscriptions    atomic.Int64 // subscriptions created

	warn reconnect.Warner
}

// item is the runtime form of one configured Item: what the source needs of it after
// New, which does not keep the Config's Items (112 bytes an item with a namespace
// index, instead of the Item's 200 plus the former runtime form's 112: at 10 000
// items 2 MB less heap).
type item struct {
	dev      *itemDevice
	key      string // the field key
	nodeID   string // the configured node id; "" for a browse path
	conv     point.Conv
	node     *ua.NodeID // the node id, or the browse path's start node, built once when its namespace is an index
	id       *nodeID    // the same when its namespace is a URI (nsu=), resolved at every connect; else nil
	bp       *itemPath  // the browse path naming the item's node, or nil
	filter   *ua.ExtensionObject
	sampling float64 // requested sampling interval in ms; -1 = publishing interval
	queue    uint32  // the monitored item's queue size
}

// name is the item's node id or browse path as configured.
func (it *item) name() string {
	if it.bp != nil {
		return it.bp.path
	}
	return it.nodeID
}

// itemDevice is the device of items: shared by the items of one device.
type itemDevice struct {
	id, measurement string
	tags            []point.Tag
}

// itemPath is the browse path of an item that names its node by one.
type itemPath struct {
	path  string // as configured
	start string // the configured start node; "" for DefaultBrowseStart
	elems []pathElement
}

// orphan is a session left on the server, and when the server forgets it by itself.
type orphan struct {
	s       *opcua.Session
	expires time.Time
}

type tsMode uint8

const (
	tsSource tsMode = iota
	tsServer
	tsGateway
)

const (
	defaultKeepAliveTarget = 5 * time.Second
	defaultRetryEvery      = time.Minute
	defaultCloseTimeout    = 2 * time.Second
	defaultMaxPublishers   = 8
	// lifetimeFactor × keep-alive count is the requested subscription lifetime count.
	lifetimeFactor = 12
	// watchdogFactor × keep-alive period without any publish response declares the
	// subscription dead.
	watchdogFactor = 3
	// maxOrphans bounds the orphaned sessions remembered for closing; older ones are
	// left to the server's session timeout.
	maxOrphans = 16
	// sessionTimeout is the requested session timeout: how long a server keeps a
	// session whose connection is gone.
	sessionTimeout = 2 * time.Minute
)

// New validates cfg and builds a Source. It starts nothing. obs and log may be nil.
func New(cfg Config, obs point.Observer, log *slog.Logger) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validate config of opcua source %q: %w", cfg.Name, err)
	}
	cfg.Items = slices.Clone(cfg.Items)
	cfg.applyDefaults()
	items := cfg.Items
	cfg.Items = nil // the source keeps its items' runtime form only
	if obs == nil {
		obs = point.NopObserver{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Source{
		cfg:             cfg,
		obs:             obs,
		log:             log,
		items:           make([]item, len(items)),
		keepAliveTarget: defaultKeepAliveTarget,
		retryEvery:      defaultRetryEvery,
		warn:            reconnect.Warner{Log: log, Protocol: "opcua", Endpoint: cfg.Endpoint},
		closeTimeout:    defaultCloseTimeout,
		maxPublishers:   defaultMaxPublishers,
	}
	switch cfg.Timestamp {
	case "server":
		s.ts = tsServer
	case "gateway":
		s.ts = tsGateway
	}
	devs := map[string]*itemDevice{}
	for i := range items {
		ci := &items[i]
		it := &s.items[i]
		dev := devs[ci.Device]
		if dev == nil || dev.measurement != ci.Measurement || !slices.Equal(dev.tags, ci.Tags) {
			dev = &itemDevice{id: ci.Device, measurement: ci.Measurement, tags: ci.Tags}
			devs[ci.Device] = dev
		}
		it.dev, it.key, it.nodeID, it.conv, it.queue = dev, ci.Field, ci.NodeID, ci.Conv, ci.QueueSize
		raw := ci.NodeID
		if ci.BrowsePath != "" {
			raw = ci.BrowseStart
			if raw == "" {
				raw = DefaultBrowseStart
			}
			elems, err := parseBrowsePath(ci.BrowsePath)
			if err != nil { // unreachable after Validate
				return nil, fmt.Errorf("parse browse path of items[%d]: %w", i, err)
			}
			start, _ := parseNodeID(raw)
			it.bp = &itemPath{path: ci.BrowsePath, start: ci.BrowseStart, elems: bindPath(elems, start, ci.BrowseStart == "")}
		}
		id, err := parseNodeID(raw)
		if err != nil { // unreachable after Validate
			return nil, fmt.Errorf("parse node id of items[%d]: %w", i, err)
		}
		if id.nsu == "" {
			it.node = id.build(id.ns)
		} else {
			it.id = &id
		}
		it.sampling = -1
		if ci.SamplingInterval > 0 {
			it.sampling = ms(ci.SamplingInterval)
		}
		if ci.DeadbandType != "" {
			dt := ua.DeadbandTypeAbsolute
			if ci.DeadbandType == "percent" {
				dt = ua.DeadbandTypePercent
			}
			it.filter = ua.NewExtensionObject(&ua.DataChangeFilter{
				Trigger:       ua.DataChangeTriggerStatusValue,
				DeadbandType:  uint32(dt),
				DeadbandValue: ci.DeadbandValue,
			})
		}
	}
	return s, nil
}

// Security returns the security policy and mode of the current or last connection
// attempt, e.g. "Aes256_Sha256_RsaPss/SignAndEncrypt"; "" before the first.
func (s *Source) Security() string {
	if p := s.security.Load(); p != nil {
		return *p
	}
	return ""
}

// defaultApplicationURI is the client's application URI without an application instance
// certificate (security None).
const defaultApplicationURI = "urn:ganlink:gateway"

// Run connects, monitors the items and emits their value changes until ctx is done; it
// then closes the session and returns nil once every goroutine it started has exited.
// Connection, session and subscription failures never end Run: it closes the client,
// reports point.StateDown and reconnects with capped exponential backoff, re-creating
// every subscription and monitored item.
func (s *Source) Run(ctx context.Context, emit point.EmitFunc) error {
	bo := reconnect.Backoff{Min: s.cfg.ReconnectMin, Max: s.cfg.ReconnectMax}
	reconnect.Loop(ctx, &bo, &s.warn,
		func(st point.State, err error) { s.obs.State(s.cfg.Name, st, err) },
		func(ctx context.Context) (bool, error) {
			up, err := s.session(ctx, emit)
			return up, bound(err) // it may quote what the server sent
		})
	s.log.Info("opcua source stopped", "endpoint", s.cfg.Endpoint)
	return nil
}

// ms converts d to OPC UA milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
