package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/ganlink/ganlink/adapters/dlt645"
	"github.com/ganlink/ganlink/adapters/modbus"
	"github.com/ganlink/ganlink/adapters/mqtt"
	"github.com/ganlink/ganlink/adapters/opcua"
	"github.com/ganlink/ganlink/adapters/opcua/pki"
	"github.com/ganlink/ganlink/gateway/admin"
	"github.com/ganlink/ganlink/gateway/commission"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
)

// mountCommission serves the commissioning API (gateway/commission) on the admin
// server, with the running configuration's sources, PKI directory and metrics registry.
func (a *App) mountCommission() {
	h := commission.New(&commissioner{a: a}, a.reg, a.log.With("component", "commission"), admin.Audit)
	for _, r := range h.Routes() {
		a.admin.Handle(r, h)
	}
}

// commissioner is the commissioning API's backend: the adapters' browse, sniff, scan
// and read-once functions, fed from the running configuration.
type commissioner struct{ a *App }

// source finds a configured source of a kind by name: 404 when there is none.
func (c *commissioner) source(kind, name string) (*config.Source, error) {
	var names []string
	for _, s := range c.a.cfg.Sources.Of(kind) {
		if s.Name() == name {
			return s, nil
		}
		names = append(names, fmt.Sprintf("%q", s.Name()))
	}
	list := "none"
	if len(names) > 0 {
		list = strings.Join(names, ", ")
	}
	return nil, commission.NotFound("unknown %s source %q: configured are %s", kind, name, list)
}

// sharedLine refuses an operation on the serial line (a local port, or a serial server
// in transparent mode) of a configured source the gateway runs: its requests would
// interleave with the source's polls on the bus, garbling both. A Modbus TCP endpoint
// takes several connections and is not refused.
func (c *commissioner) sharedLine(kind, name, endpoint string) error {
	for _, s := range c.a.sources {
		if s.name == name {
			return &commission.Error{Status: http.StatusConflict, Reason: commission.ResultBusy, Msg: fmt.Sprintf(
				"%s source %q polls the serial line %s: a second master would garble its frames; "+
					"see the running gateway's values on the status page, or remove the source's devices and reload first", kind, name, endpoint)}
		}
	}
	return nil
}

// problems turns configuration problems into a 400.
func problems(errs config.Errors) error {
	return commission.Errorf(http.StatusBadRequest, "%s", errs.Error())
}

// remaining is the time left before ctx's deadline (for the adapters' own timeouts).
func remaining(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return commission.DefaultTimeout
}

// pkiStore is the gateway's PKI directory and certificate: the running sources' when an
// OPC UA source uses them, else loaded (or generated) from pki.dir as at start.
func (c *commissioner) pkiStore() (*pki.Store, *pki.Own, error) {
	if c.a.pki != nil {
		return c.a.pki, c.a.own, nil
	}
	cfg := c.a.cfg
	store := &pki.Store{Dir: cfg.PKI.Dir}
	own, err := store.LoadOrCreate(pki.OwnOptions{ApplicationURI: cfg.PKI.ApplicationURI,
		CommonName: "Ganlink gateway " + cfg.Workshop.ID, KeyBits: cfg.PKI.KeyBits})
	return store, own, err
}

// BrowseOPCUA browses a configured or a new OPC UA server.
func (c *commissioner) BrowseOPCUA(ctx context.Context, req *commission.BrowseRequest) (*commission.BrowseResponse, error) {
	if req.Node != "" {
		if err := opcua.ValidateNodeID(req.Node); err != nil {
			return nil, commission.BadRequest("node", "%v", err)
		}
	}
	if err := opcua.ValidateMatch(req.Match); err != nil {
		return nil, commission.BadRequest("match", "%v", err)
	}
	o := opcua.BrowseOptions{Start: req.Node, Depth: *req.Depth, Match: req.Match, MaxNodes: req.MaxNodes,
		ChildFlags: true, ConnectTimeout: remaining(ctx)}
	if req.Source != "" {
		src, err := c.source(opcua.Kind.Name(), req.Source)
		if err != nil {
			return nil, err
		}
		oc, probs := opcua.BuildConfig(src, nil, &c.a.cfg.Workshop)
		if len(probs) > 0 {
			return nil, problems(c.a.cfg.Locate(probs))
		}
		o.Endpoint, o.SecurityPolicy, o.SecurityMode = oc.Endpoint, oc.SecurityPolicy, oc.SecurityMode
		o.Username, o.Password, o.UserCertificate, o.UserKey = oc.Username, oc.Password, oc.UserCertificate, oc.UserKey
		if oc.ConnectTimeout > 0 && oc.ConnectTimeout < o.ConnectTimeout {
			o.ConnectTimeout = oc.ConnectTimeout
		}
	} else {
		if err := opcua.ValidateEndpoint(req.Endpoint); err != nil {
			return nil, commission.BadRequest("endpoint", "%v", err)
		}
		o.Endpoint, o.SecurityPolicy, o.SecurityMode = req.Endpoint, req.SecurityPolicy, req.SecurityMode
		o.Username, o.Password = req.Username, req.Password
		if o.SecurityPolicy == "" {
			o.SecurityPolicy = "auto"
		}
	}
	if o.SecurityPolicy != "None" || o.Username != "" || o.UserCertificate != nil {
		var err error
		if o.PKI, o.Own, err = c.pkiStore(); err != nil {
			return nil, err
		}
	}
	res, err := opcua.Browse(ctx, o)
	if err != nil {
		return nil, c.opcuaError(o.PKI, err)
	}
	out := &commission.BrowseResponse{Start: res.Start, Security: res.Security, Truncated: res.Truncated, Nodes: []commission.BrowseNode{}}
	if !res.DefaultStart() {
		out.BrowseStart = res.Start
	}
	var visit func(n *opcua.BrowseNode)
	visit = func(n *opcua.BrowseNode) {
		for _, ch := range n.Children {
			if !ch.Shown() {
				continue
			}
			bn := commission.BrowseNode{NodeID: ch.NodeID, BrowseName: ch.BrowseName, DisplayName: ch.DisplayName,
				NodeClass: ch.Class, DataType: ch.DataType, Status: ch.Status, HasChildren: ch.HasChildren,
				BrowsePath: res.BrowsePath(ch), Parent: n.NodeID}
			if ch.Class == "Variable" {
				bn.Value = ch.Value
				if !ch.SourceTime.IsZero() {
					t := ch.SourceTime.UTC()
					bn.SourceTime = &t
				}
				if ch.Numeric() {
					bn.SuggestedRole = opcua.SuggestRole(opcua.SuggestField(ch.BrowseName), ch.Ancestry()...)
				}
			}
			out.Nodes = append(out.Nodes, bn)
			if !ch.Repeated() {
				visit(ch)
			}
		}
	}
	visit(res.Root)
	return out, nil
}

// opcuaError turns a failed connection into the API's answer: an untrusted server
// certificate is a 409 describing the certificate kept in rejected/.
func (c *commissioner) opcuaError(store *pki.Store, err error) error {
	if !errors.Is(err, pki.ErrUntrusted) || store == nil {
		return err
	}
	infos, _, lerr := store.List(pki.RejectedDir)
	if lerr != nil {
		return err
	}
	for _, in := range infos {
		// The error names the thumbprint of the certificate it copied to rejected/.
		if strings.Contains(err.Error(), "thumbprint "+in.Thumbprint) {
			return commission.Untrusted(err.Error(), &commission.Certificate{Thumbprint: in.Thumbprint, Subject: in.Subject,
				ApplicationURI: in.ApplicationURI, NotAfter: in.NotAfter.UTC(),
				File: pki.RejectedDir + "/" + filepath.Base(in.Path)})
		}
	}
	return commission.Untrusted(err.Error(), nil)
}

// Trust moves a rejected server certificate into trusted/ with pki.Store.Trust, the
// code of `gateway pki trust`.
func (c *commissioner) Trust(_ context.Context, thumbprint string) (string, error) {
	store := &pki.Store{Dir: c.a.cfg.PKI.Dir}
	infos, _, err := store.List(pki.RejectedDir)
	if err != nil {
		return "", err
	}
	for _, in := range infos {
		if strings.EqualFold(in.Thumbprint, thumbprint) {
			p, err := store.Trust(in.Path)
			if err != nil {
				return "", commission.Errorf(http.StatusInternalServerError, "%v", err)
			}
			return pki.TrustedDir + "/" + filepath.Base(p), nil
		}
	}
	return "", commission.NotFound("no rejected certificate with thumbprint %s in %s", strings.ToUpper(thumbprint),
		filepath.Join(store.Dir, pki.RejectedDir))
}

// SniffMQTT listens to a configured or a new broker.
func (c *commissioner) SniffMQTT(ctx context.Context, req *commission.SniffRequest) (*commission.SniffResponse, error) {
	var mc mqtt.Config
	if req.Source != "" {
		src, err := c.source(mqtt.Kind.Name(), req.Source)
		if err != nil {
			return nil, err
		}
		var probs config.Errors
		if mc, probs = mqtt.BuildConfig(src, nil, &c.a.cfg.Workshop); len(probs) > 0 {
			return nil, problems(c.a.cfg.Locate(probs))
		}
	} else {
		mc = mqtt.Config{Name: "commission", Broker: req.Broker, Username: req.Username, Password: req.Password}
	}
	mc.ConnectTimeout = min(remaining(ctx), commission.DefaultTimeout)
	topics, dropped, err := mqtt.Sniff(ctx, mc, mqtt.SniffOptions{Filter: req.Filter, Listen: time.Duration(req.Seconds) * time.Second,
		MaxTopics: commission.MaxSniffTopics, MaxSample: commission.MaxSampleBytes, MaxPaths: commission.MaxPaths})
	if err != nil {
		if strings.HasPrefix(err.Error(), "filter: ") {
			return nil, commission.BadRequest("filter", "%s", strings.TrimPrefix(err.Error(), "filter: "))
		}
		if strings.HasPrefix(err.Error(), "configure mqtt source") {
			return nil, commission.BadRequest("broker", "%v", err)
		}
		return nil, err
	}
	out := &commission.SniffResponse{Topics: []commission.Topic{}, Truncated: dropped > 0}
	for _, t := range topics {
		ct := commission.Topic{Topic: t.Topic, Messages: t.Messages, LastSeen: t.LastSeen, Sample: sampleText(t.Sample),
			SampleTruncated: t.Truncated, Format: t.Format, Error: t.Err, Paths: []commission.PathValue{}}
		for _, p := range t.Paths {
			ct.Paths = append(ct.Paths, commission.PathValue{Path: p.Path, Type: p.Type, Value: p.Value})
		}
		out.Topics = append(out.Topics, ct)
	}
	return out, nil
}

// sampleText makes a payload JSON-safe text: invalid UTF-8 bytes become U+FFFD.
func sampleText(b []byte) string { return strings.ToValidUTF8(string(b), "\uFFFD") }

// ScanModbus scans a configured or a new Modbus bus with modbus.Scan, the discovery of
// `gateway browse tcp://…|serial://…`.
func (c *commissioner) ScanModbus(ctx context.Context, req *commission.ScanRequest) (*commission.ScanResponse, error) {
	switch req.Protocol {
	case "", "modbus":
	case "dlt645":
		return c.discoverDLT645(ctx, req)
	default:
		return nil, commission.BadRequest("protocol", "%q: want modbus or dlt645", req.Protocol)
	}
	if len(req.Addresses) > 0 {
		return nil, commission.BadRequest("addresses", "only with protocol dlt645")
	}
	first, last, err := modbus.ParseUnits(req.Units)
	if err != nil {
		return nil, commission.BadRequest("units", "%q: %v", req.Units, err)
	}
	o := modbus.ScanOptions{First: first, Last: last}
	if req.Source != "" {
		src, err := c.source(modbus.Kind.Name(), req.Source)
		if err != nil {
			return nil, err
		}
		mc, probs := modbus.BuildConfig(src, nil, &c.a.cfg.Workshop)
		if len(probs) > 0 {
			return nil, problems(c.a.cfg.Locate(probs))
		}
		if mc.RTU() {
			if err := c.sharedLine(modbus.Kind.Name(), req.Source, mc.Endpoint); err != nil {
				return nil, err
			}
		}
		o.Endpoint, o.Framing, o.Line = mc.Endpoint, mc.Framing, mc.Line
	} else {
		o.Endpoint, o.Framing = req.Endpoint, req.Framing
		o.Line.BaudRate, o.Line.Parity, o.Line.DataBits, o.Line.StopBits = req.BaudRate, req.Parity, req.DataBits, req.StopBits
		if strings.HasPrefix(o.Endpoint, "serial://") {
			o.Line.BaudRate, o.Line.Parity = orInt(o.Line.BaudRate, modbus.DefaultScanBaudRate), orString(o.Line.Parity, modbus.DefaultScanParity)
			o.Line.DataBits, o.Line.StopBits = orInt(o.Line.DataBits, modbus.DefaultScanDataBits), orInt(o.Line.StopBits, modbus.DefaultScanStopBits)
		}
	}
	unit := modbus.DefaultScanTimeout
	if req.UnitTimeout != "" {
		unit, _ = time.ParseDuration(req.UnitTimeout) // checked by the handler
	}
	rtu := o.Framing == "rtu" || strings.HasPrefix(o.Endpoint, "serial://")
	if rtu {
		o.Line.ResponseTimeout = unit
	} else {
		o.Timeout = unit
	}
	found, err := modbus.Scan(ctx, o)
	if err != nil && !(errors.Is(err, context.DeadlineExceeded) && len(found) > 0) {
		if strings.Contains(err.Error(), "invalid unit range") || strings.Contains(err.Error(), "validate config") {
			return nil, commission.BadRequest("endpoint", "%v", err)
		}
		return nil, err
	}
	out := &commission.ScanResponse{Protocol: "modbus", Endpoint: o.Endpoint, First: first, Last: last, Units: []commission.ScanUnit{},
		Meters: []commission.Meter{}, Complete: err == nil}
	for _, r := range found {
		out.Units = append(out.Units, commission.ScanUnit{Unit: r.Unit, Answer: r.Answer, Garbled: r.Garbled,
			Template: r.Template, Voltage: r.Voltage})
	}
	return out, nil
}

// discoverDLT645 finds DL/T 645 meters with dlt645.Discover, the discovery of
// `gateway browse -protocol dlt645`.
func (c *commissioner) discoverDLT645(ctx context.Context, req *commission.ScanRequest) (*commission.ScanResponse, error) {
	var spec dlt645.SourceSpec
	if req.Source != "" {
		src, err := c.source(dlt645.Kind.Name(), req.Source)
		if err != nil {
			return nil, err
		}
		spec = *src.Spec.(*dlt645.SourceSpec)
		if err := c.sharedLine(dlt645.Kind.Name(), req.Source, spec.Endpoint); err != nil {
			return nil, err
		}
	} else {
		spec.Endpoint, spec.BaudRate, spec.Parity = req.Endpoint, req.BaudRate, req.Parity
		spec.DataBits, spec.StopBits = req.DataBits, req.StopBits
	}
	if req.UnitTimeout != "" {
		d, _ := time.ParseDuration(req.UnitTimeout) // checked by the handler
		spec.ResponseTimeout = config.Dur(d)
	}
	if len(req.Addresses) > commission.MaxScanUnits {
		return nil, commission.BadRequest("addresses", "%d addresses: at most %d", len(req.Addresses), commission.MaxScanUnits)
	}
	var addrs []dlt645.Address
	for i, s := range req.Addresses {
		a, err := dlt645.ParseAddress(strings.TrimSpace(s))
		if err != nil {
			return nil, commission.BadRequest(fmt.Sprintf("addresses[%d]", i), "%v", err)
		}
		addrs = append(addrs, a)
	}
	if _, err := dlt645.LineOf(spec); err != nil {
		return nil, commission.BadRequest("endpoint", "%v", err)
	}
	found, err := dlt645.Discover(ctx, spec, addrs)
	if err != nil && !(errors.Is(err, context.DeadlineExceeded) && len(found) > 0) {
		return nil, err
	}
	out := &commission.ScanResponse{Protocol: "dlt645", Endpoint: spec.Endpoint, Units: []commission.ScanUnit{},
		Meters: []commission.Meter{}, Complete: err == nil}
	for _, f := range found {
		m := commission.Meter{Address: f.Address.String(), Broadcast: f.Broadcast, Values: []commission.MeterItem{}, Refused: []string{}}
		for _, di := range dlt645.Probe {
			if v, ok := f.Values[di]; ok {
				it := dlt645.Items[di]
				m.Values = append(m.Values, commission.MeterItem{DI: di.String(), Name: it.Name, Unit: it.Unit, Value: v})
			}
		}
		for _, di := range f.Refused {
			m.Refused = append(m.Refused, di.String())
		}
		out.Meters = append(out.Meters, m)
	}
	return out, nil
}

// orInt is v, or def when v is 0.
func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// orString is v, or def when v is "".
func orString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Suggest suggests roles for OPC UA nodes with opcua.SuggestRole, the suggestion of
// `gateway browse -emit-config`: each role once (later nodes with a role already given
// get none, as in the emitted YAML), a node with a role named after it.
func (c *commissioner) Suggest(req *commission.SuggestRequest) (*commission.SuggestResponse, error) {
	out := &commission.SuggestResponse{Signals: []commission.SuggestedSignal{}, Class: schemaClass(nil)}
	taken, names := map[string]bool{}, map[string]int{}
	var roles []string
	for i, n := range req.Nodes {
		path, err := opcua.PathNames(n.BrowsePath)
		if err != nil {
			return nil, commission.BadRequest(fmt.Sprintf("nodes[%d].browse_path", i), "%v", err)
		}
		if n.BrowseName != "" {
			if len(path) == 0 {
				path = []string{""}
			}
			path[0] = n.BrowseName
		}
		field := opcua.SuggestField(path[0])
		role := ""
		if numericType(n.DataType) {
			role = opcua.SuggestRole(field, path...)
		}
		if taken[role] {
			role = ""
		}
		if role != "" {
			taken[role], field = true, role
			roles = append(roles, role)
		}
		names[field]++
		if k := names[field]; k > 1 {
			field = fmt.Sprintf("%s_%d", field, k)
		}
		out.Signals = append(out.Signals, commission.SuggestedSignal{Field: field, Role: role, Counter: isCounterRole(role),
			BrowsePath: n.BrowsePath})
	}
	out.Class = schemaClass(roles)
	return out, nil
}

// numericType reports whether a data type name (as browse answers it) is a number or a
// Boolean, or unknown ("").
func numericType(t string) bool {
	switch t {
	case "", "Boolean", "SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64", "Float", "Double",
		"Number", "Integer", "UInteger":
		return true
	}
	return false
}

// ReadOnce reads every signal of a device once through its adapter.
func (c *commissioner) Read(ctx context.Context, req *commission.ReadRequest) (*commission.ReadResponse, error) {
	name, _ := req.Device["source"].(string)
	kind, _ := req.Source["kind"].(string)
	var src *config.Source
	if req.Source == nil {
		for _, k := range Kinds() {
			for _, s := range c.a.cfg.Sources.Of(k.Name()) {
				if s.Name() == name {
					src, kind = s, k.Name()
				}
			}
		}
		if src == nil {
			return nil, commission.NotFound("unknown source %q of device %v: configure it, or send it as \"source\" with its \"kind\"", name, jsonText(req.Device["id"]))
		}
	}
	doc, err := readDocument(kind, name, req)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(doc, func(string) (string, bool) { return "", false }, Kinds())
	if err != nil {
		var probs config.Errors
		if !errors.As(err, &probs) {
			return nil, commission.Errorf(http.StatusBadRequest, "%v", err)
		}
		return nil, readProblems(kind, probs)
	}
	if src == nil {
		src = cfg.Sources.Of(kind)[0]
	}
	devs := cfg.DevicesOf(name)
	if len(devs) != 1 {
		return nil, commission.BadRequest("device.source", "the device is not bound to source %q", name)
	}
	out := &commission.ReadResponse{Device: devs[0].ID, Signals: []commission.SignalRead{}}
	add := func(field string, f point.Field, ok bool, status string, t time.Time, err error) {
		sr := commission.SignalRead{Field: field, Quality: f.Quality.String(), Status: status}
		if ok {
			v := f.Value
			sr.Value = &v
			if !t.IsZero() {
				tt := t.UTC()
				sr.SourceTime = &tt
			}
		}
		if err != nil {
			sr.Error = err.Error()
			if !ok {
				sr.Quality = "bad"
			}
		}
		out.Signals = append(out.Signals, sr)
	}
	switch kind {
	case opcua.Kind.Name():
		oc, probs := opcua.BuildConfig(src, devs, &c.a.cfg.Workshop)
		if len(probs) > 0 {
			return nil, readProblems(kind, probs)
		}
		oc.ConnectTimeout = min(remaining(ctx), max(oc.ConnectTimeout, time.Second))
		if oc.SecurityPolicy != "None" || oc.Username != "" || oc.UserCertificate != nil {
			if oc.PKI, oc.Own, err = c.pkiStore(); err != nil {
				return nil, err
			}
		}
		res, err := opcua.ReadOnce(ctx, oc)
		if err != nil {
			return nil, c.opcuaError(oc.PKI, err)
		}
		for _, r := range res {
			add(r.Field, r.Value, r.OK, r.Status, r.Time, r.Err)
		}
	case modbus.Kind.Name():
		mc, probs := modbus.BuildConfig(src, devs, &c.a.cfg.Workshop)
		if len(probs) > 0 {
			return nil, readProblems(kind, probs)
		}
		if mc.RTU() && req.Source == nil {
			if err := c.sharedLine(kind, name, mc.Endpoint); err != nil {
				return nil, err
			}
		}
		res, err := modbus.ReadOnce(ctx, mc)
		if err != nil {
			return nil, err
		}
		for _, r := range res {
			add(r.Field, r.Value, r.OK, readStatus(r.OK, r.Reason), r.Time, r.Err)
		}
	case mqtt.Kind.Name():
		mc, probs := mqtt.BuildConfig(src, devs, &c.a.cfg.Workshop)
		if len(probs) > 0 {
			return nil, readProblems(kind, probs)
		}
		mc.ConnectTimeout = min(remaining(ctx), commission.DefaultTimeout)
		// Wait for messages until shortly before the deadline, so that the answer
		// (with the signals that had none) still goes out in time.
		res, err := mqtt.ReadOnce(ctx, mc, max(remaining(ctx)-500*time.Millisecond, 100*time.Millisecond))
		if err != nil {
			return nil, err
		}
		for _, r := range res {
			add(r.Field, point.Field{Value: r.Value}, r.OK, readStatus(r.OK, r.Reason), r.Time, r.Err)
		}
	case dlt645.Kind.Name():
		dc, probs := dlt645.BuildConfig(src, devs, &c.a.cfg.Workshop)
		if len(probs) > 0 {
			return nil, readProblems(kind, probs)
		}
		if req.Source == nil {
			if err := c.sharedLine(kind, name, dc.Line.Endpoint); err != nil {
				return nil, err
			}
		}
		res, err := dlt645.ReadOnce(ctx, dc)
		if err != nil {
			return nil, err
		}
		for _, r := range res {
			add(r.Field, point.Field{Value: r.Value}, r.OK, readStatus(r.OK, r.Reason), r.Time, r.Err)
		}
	default:
		return nil, commission.BadRequest("source.kind", "%q: want opcua, modbus, mqtt or dlt645", kind)
	}
	return out, nil
}

// readProblems is the 400 of a device (and source) that does not validate: the
// messages of `gateway validate`, with the paths of the request body ("device.…",
// "source.…") instead of those of the document the read decoded.
func readProblems(kind string, probs config.Errors) error {
	msgs := make([]string, len(probs))
	for i, p := range probs {
		path := p.Path
		switch {
		case strings.HasPrefix(path, "devices[0]"):
			path = "device" + strings.TrimPrefix(path, "devices[0]")
		case strings.HasPrefix(path, "sources."+kind+"[0]"):
			path = "source" + strings.TrimPrefix(path, "sources."+kind+"[0]")
		}
		msgs[i] = path + ": " + p.Msg
	}
	return commission.Errorf(http.StatusBadRequest, "%s", strings.Join(msgs, "; "))
}

// placeholders are source sections that let a device of a configured source be
// decoded and checked on its own (the configured source itself is used to read).
var placeholders = map[string]map[string]any{
	"opcua":  {"endpoint": "opc.tcp://127.0.0.1:4840", "security_policy": "None"},
	"modbus": {"endpoint": "tcp://127.0.0.1:502"},
	"mqtt":   {"broker": "tcp://127.0.0.1:1883"},
	"dlt645": {"endpoint": "tcp://127.0.0.1:4001"},
}

// readDocument is the configuration a read decodes and checks the device with, through
// config.Load and the adapters' kinds like `gateway validate`: the device, its source
// (the one sent, or a placeholder for a configured one) and a workshop.
func readDocument(kind, name string, req *commission.ReadRequest) ([]byte, error) {
	src := req.Source
	if src == nil {
		src = map[string]any{}
		for k, v := range placeholders[kind] {
			src[k] = v
		}
	} else {
		src = copyMap(src)
		delete(src, "kind")
		if placeholders[kind] == nil {
			return nil, commission.BadRequest("source.kind", "%q: want opcua, modbus, mqtt or dlt645", kind)
		}
	}
	src["name"] = name
	doc := map[string]any{
		"workshop": map[string]any{"region": "110000", "park": "commission", "enterprise": "commission", "workshop": "commission"},
		"sources":  map[string]any{kind: []any{src}},
		"devices":  []any{req.Device},
	}
	return json.Marshal(doc)
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// schemaClass is the class suggested for a device with these roles: meter when every
// role is a meter's, else equipment.
func schemaClass(roles []string) string {
	for _, r := range roles {
		if !schema.IsMeterRole(r) {
			return schema.ClassEquipment
		}
	}
	if len(roles) > 0 {
		return schema.ClassMeter
	}
	return schema.ClassEquipment
}

func isCounterRole(r string) bool { return r != "" && schema.IsCounterRole(r) }

// readStatus is a read-once signal's status for the adapters without OPC UA's status
// codes: "Good", or the reason it has no value.
func readStatus(ok bool, reason string) string {
	if ok {
		return "Good"
	}
	return reason
}
