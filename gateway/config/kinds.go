package config

import (
	"fmt"
	"github.com/ganlink/ganlink/gateway/point"
	"maps"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// A Kind is one southbound adapter's share of the configuration: its list of sources
// under sources.<name>, and the keys it adds to the devices bound to one of those
// sources and to their signals. Each adapter (adapters/opcua, adapters/mqtt,
// adapters/modbus) implements it next to its own types; the composition root passes
// the kinds to Load, so this package imports no adapter.
//
// Load decodes a kind's sections strictly (unknown keys and wrong types are errors with
// their line), fills their defaults and then calls Check, which is the same code the
// gateway runs at start to build the adapter's runtime configuration: a configuration
// that loads also builds.
type Kind interface {
	// Name is the key of the kind's list under sources ("opcua"), and the kind named
	// in messages.
	Name() string
	// NewSource returns a pointer to a new, zero source section (a struct with yaml
	// tags) for one element of sources.<name>.
	NewSource() SourceSpec
	// NewDevice and NewSignal return pointers to new, zero device- and signal-level
	// bindings (structs with yaml tags), or nil when the kind adds no key there. The
	// keys of a device (or signal) that are not common keys are decoded into them by
	// the kind of the source the device names.
	NewDevice() any
	NewSignal() any
	// Check checks a source section together with the devices bound to it (defaults
	// applied, common keys valid) and returns every problem with its YAML path. It
	// reads the files the section names but connects nowhere and writes nothing.
	Check(src *Source, devices []BoundDevice, w *Workshop) Errors
}

// Kinds are the adapters a configuration may use, in the order their sources are
// built.
type Kinds []Kind

func (ks Kinds) byName(name string) Kind {
	for _, k := range ks {
		if k.Name() == name {
			return k
		}
	}
	return nil
}

// SourceSpec is one decoded element of sources.<kind>.
type SourceSpec interface {
	// SourceName returns the source's name key.
	SourceName() string
	// ApplyDefaults fills the section's absent keys; w is the workshop (a default may
	// name it).
	ApplyDefaults(w *Workshop)
	// Secrets lists the section's secrets that a *_file key may fill.
	Secrets() []SecretRef
}

// SecretRef is one secret of a section: its key (e.g. "password", read from
// "password_file"), where it is stored and the file named for it, if any. A nil Value
// names a private key file the adapter reads itself (Key is then the whole key, e.g.
// "tls.key_file"): the loader only warns when group or others can read it.
type SecretRef struct {
	Key   string
	Value *Secret
	File  string
}

// Defaulter is implemented by device and signal bindings with defaults.
type Defaulter interface{ ApplyDefaults() }

// Periodic is implemented by device bindings of sources that deliver at a known period
// (a polled Modbus unit): the device's interval defaults to it.
type Periodic interface{ Period() Duration }

// Source is one configured source of any kind.
type Source struct {
	// Kind is the kind's name, e.g. "mqtt".
	Kind string
	// Path is the section's YAML path, e.g. "sources.mqtt[0]".
	Path string
	// Spec is the decoded section (the adapter's type).
	Spec SourceSpec
}

// Name returns the source's name.
func (s *Source) Name() string { return s.Spec.SourceName() }

// BoundDevice is a device bound to a source, with its YAML path ("devices[3]").
type BoundDevice struct {
	Path string
	*Device
}

// SignalPath returns the YAML path of the device's signal name.
func (d BoundDevice) SignalPath(name string) string { return d.Path + ".signals." + name }

// DevicesOf returns the devices bound to the source named name, in file order.
func (c *Config) DevicesOf(name string) []BoundDevice {
	var out []BoundDevice
	for i := range c.Devices {
		if d := &c.Devices[i]; d.Source == name && name != "" {
			out = append(out, BoundDevice{Path: fmt.Sprintf("devices[%d]", i), Device: d})
		}
	}
	return out
}

// Locate sets the line of every problem from the file the configuration was loaded
// from (when it was), so problems found after loading read like those of Load.
func (c *Config) Locate(errs Errors) Errors {
	if c.index == nil {
		return errs
	}
	out := make(Errors, len(errs))
	var child map[childKey]int32 // built on the first problem without a line
	for i, p := range errs {
		if p.Line == 0 {
			if child == nil {
				child = c.index.children()
			}
			p.Line = c.index.lineIn(child, p.Path)
		}
		out[i] = p
	}
	sortProblems(out)
	return out
}

// yamlKeys returns the yaml keys of the struct v points to (nil for nil).
func yamlKeys(v any) map[string]bool {
	if v == nil {
		return nil
	}
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	keys := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}

// adapterNodes are the parts of a document that the kinds decode, taken out of the
// tree before the common schema decodes the rest.
type adapterNodes struct {
	sources []sourceNode
	devices map[int]*bindingNode            // by device index
	signals map[int]map[string]*bindingNode // by device index and signal name
}

type sourceNode struct {
	kind Kind
	path string
	node *yaml.Node
}

type bindingNode struct {
	kind Kind
	node *yaml.Node // a mapping of the kind's keys
}

// mappingValue returns the value of key in mapping n and its index in n.Content.
func mappingValue(n *yaml.Node, key string) (*yaml.Node, int) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, -1
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1], i
		}
	}
	return nil, -1
}

func deref(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// extractAdapterNodes takes the kinds' lists out of sources and the adapter keys out of
// each device and signal, choosing the kind by the source the device names. A key of
// another kind, or an adapter key on a device without a source, is a problem.
func (ix *index) extractAdapterNodes(doc *yaml.Node, kinds Kinds, probs *Errors) adapterNodes {
	out := adapterNodes{devices: map[int]*bindingNode{}, signals: map[int]map[string]*bindingNode{}}
	sources, _ := mappingValue(doc, "sources")
	sources = deref(sources)
	sourceKind := map[string]Kind{}
	if sources != nil && sources.Kind == yaml.MappingNode {
		kept := sources.Content[:0]
		for i := 0; i+1 < len(sources.Content); i += 2 {
			k, v := sources.Content[i], sources.Content[i+1]
			kind := kinds.byName(k.Value)
			if kind == nil {
				kept = append(kept, k, v)
				continue
			}
			out.sources = append(out.sources, sourceNode{kind: kind, path: "sources." + k.Value, node: v})
			if v = deref(v); v.Kind == yaml.SequenceNode {
				for _, e := range v.Content {
					if name, _ := mappingValue(deref(e), "name"); name != nil && name.Kind == yaml.ScalarNode {
						if _, dup := sourceKind[name.Value]; !dup {
							sourceKind[name.Value] = kind
						}
					}
				}
			}
		}
		clear(sources.Content[len(kept):])
		sources.Content = kept
		for _, k := range kinds {
			ix.extra[sources] = append(ix.extra[sources], k.Name())
		}
	}

	common := yamlKeys(&Device{})
	commonSignal := yamlKeys(&Signal{})
	devKeys := map[string]Kind{} // adapter device keys, for messages: the first kind having it
	sigKeys := map[string]Kind{}
	for _, k := range kinds {
		for key := range yamlKeys(k.NewDevice()) {
			if devKeys[key] == nil {
				devKeys[key] = k
			}
		}
		for key := range yamlKeys(k.NewSignal()) {
			if sigKeys[key] == nil {
				sigKeys[key] = k
			}
		}
	}
	devices, _ := mappingValue(doc, "devices")
	devices = deref(devices)
	if devices == nil || devices.Kind != yaml.SequenceNode {
		return out
	}
	// The split builds new nodes and puts them in place of the old ones, which stay as
	// they are: a device or signal written once with an anchor and used again through
	// an alias is split again, each time by the kind of the device using it.
	for i := range devices.Content {
		dn := deref(devices.Content[i])
		if dn.Kind != yaml.MappingNode {
			continue
		}
		p := fmt.Sprintf("devices[%d]", i)
		src := ""
		if s, _ := mappingValue(dn, "source"); s != nil && s.Kind == yaml.ScalarNode {
			src = s.Value
		}
		kind, known := sourceKind[src]
		// split returns n's common keys and the kind's keys as two new mappings.
		split := func(n *yaml.Node, path, what string, common map[string]bool, adapter map[string]Kind, own map[string]bool) (*yaml.Node, *yaml.Node) {
			c, b := *n, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
			c.Anchor, c.Content = "", nil
			for j := 0; j+1 < len(n.Content); j += 2 {
				k, v := n.Content[j], n.Content[j+1]
				switch {
				case common[k.Value]:
					c.Content = append(c.Content, k, v)
				case own[k.Value]:
					b.Content = append(b.Content, k, v)
				case adapter[k.Value] != nil && src == "" && what == "signals":
					// A device with signals and no source is reported as such.
				case adapter[k.Value] != nil && src == "":
					*probs = append(*probs, Problem{Path: path + "." + k.Value, Line: ix.line(path + "." + k.Value),
						Msg: fmt.Sprintf("a key of %s %s: set the device's source", adapter[k.Value].Name(), what)})
				case adapter[k.Value] != nil && !known:
					// The unknown source is reported; its keys cannot be checked.
				case adapter[k.Value] != nil:
					*probs = append(*probs, Problem{Path: path + "." + k.Value, Line: ix.line(path + "." + k.Value),
						Msg: fmt.Sprintf("a key of %s %s, not of %s %s (source %q)", adapter[k.Value].Name(), what, kind.Name(), what, src)})
				default:
					c.Content = append(c.Content, k, v) // unknown: reported by the strict decoding
				}
			}
			return &c, b
		}
		var ownDev, ownSig map[string]bool
		if known {
			ownDev, ownSig = yamlKeys(kind.NewDevice()), yamlKeys(kind.NewSignal())
		}
		dc, b := split(dn, p, "devices", common, devKeys, ownDev)
		devices.Content[i] = dc
		// A typo of an adapter key is matched against the keys of the device's kind,
		// or of every kind when the device names no known source.
		if known {
			ix.extra[dc] = slices.Collect(maps.Keys(ownDev))
		} else {
			ix.extra[dc] = slices.Collect(maps.Keys(devKeys))
		}
		if known {
			out.devices[i] = &bindingNode{kind: kind, node: b}
		}
		sv, at := mappingValue(dc, "signals")
		sigs := deref(sv)
		if sigs == nil || sigs.Kind != yaml.MappingNode {
			continue
		}
		sc := *sigs
		sc.Anchor, sc.Content = "", slices.Clone(sigs.Content)
		dc.Content[at+1] = &sc
		for j := 0; j+1 < len(sc.Content); j += 2 {
			name, sn := sc.Content[j].Value, deref(sc.Content[j+1])
			if sn.Kind != yaml.MappingNode {
				continue
			}
			c, b := split(sn, p+".signals."+name, "signals", commonSignal, sigKeys, ownSig)
			sc.Content[j+1] = c
			if known {
				ix.extra[c] = slices.Collect(maps.Keys(ownSig))
			} else {
				ix.extra[c] = slices.Collect(maps.Keys(sigKeys))
			}
			if known {
				if out.signals[i] == nil {
					out.signals[i] = map[string]*bindingNode{}
				}
				if _, dup := out.signals[i][name]; !dup {
					out.signals[i][name] = &bindingNode{kind: kind, node: b}
				}
			}
		}
	}
	return out
}

// decodeStrict decodes n into v (a pointer), reporting unknown keys to unknown and
// type errors to probs, with their lines.
func (ix *index) decodeStrict(n *yaml.Node, v any, path string, unknown, probs *Errors) {
	checkKnown(n, reflect.TypeOf(v), path, ix.extra, unknown)
	if err := n.Decode(v); err != nil {
		if te, ok := err.(*yaml.TypeError); ok {
			for _, msg := range te.Errors {
				*probs = append(*probs, ix.typeProblem(msg))
			}
			return
		}
		*probs = append(*probs, yamlSyntaxProblem(err))
	}
}

// decodeAdapters decodes the nodes the kinds own into cfg.
func (ix *index) decodeAdapters(an adapterNodes, cfg *Config, unknown, probs *Errors) {
	for _, sn := range an.sources {
		n := deref(sn.node)
		if n.Kind != yaml.SequenceNode {
			if !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
				*probs = append(*probs, Problem{Path: sn.path, Line: n.Line, Msg: "invalid value: want a list"})
			}
			continue
		}
		for i, e := range n.Content {
			spec := sn.kind.NewSource()
			path := fmt.Sprintf("%s[%d]", sn.path, i)
			ix.decodeStrict(e, spec, path, unknown, probs)
			cfg.Sources.List = append(cfg.Sources.List, Source{Kind: sn.kind.Name(), Path: path, Spec: spec})
		}
	}
	for i := range cfg.Devices {
		d := &cfg.Devices[i]
		if bn := an.devices[i]; bn != nil {
			if b := bn.kind.NewDevice(); b != nil {
				ix.decodeStrict(bn.node, b, fmt.Sprintf("devices[%d]", i), unknown, probs)
				d.Binding = b
			}
		}
		for name, bn := range an.signals[i] {
			s, ok := d.Signals[name]
			if !ok {
				continue
			}
			if b := bn.kind.NewSignal(); b != nil {
				ix.decodeStrict(bn.node, b, fmt.Sprintf("devices[%d].signals.%s", i, name), unknown, probs)
				s.Binding = b
				d.Signals[name] = s
			}
		}
	}
}

// IdentityTags returns the sorted identity tags of a device's points.
func IdentityTags(w *Workshop, d *Device) []point.Tag {
	return []point.Tag{
		{Key: "device", Value: d.ID},
		{Key: "enterprise", Value: w.Enterprise},
		{Key: "kind", Value: d.Kind},
		{Key: "park", Value: w.Park},
		{Key: "region", Value: w.Region},
		{Key: "workshop", Value: w.ID},
	}
}

// MapPath turns a field named by an adapter's runtime Validate ("items[3].node_id")
// into a YAML path. The longest prefix of field (at a '.') found in elems is replaced
// by its YAML path (base when none is found), and the rest is looked up in keys
// (runtime key → YAML key; "" for the element itself) or kept as it is.
func MapPath(field, base string, elems, keys map[string]string) string {
	rest := field
	for i := len(field); i > 0; i = strings.LastIndexByte(field[:i], '.') {
		if p, ok := elems[field[:i]]; ok {
			base, rest = p, strings.TrimPrefix(field[i:], ".")
			break
		}
	}
	if rest == "" {
		return base
	}
	if k, ok := keys[rest]; ok {
		if k == "" {
			return base
		}
		return base + "." + k
	}
	return base + "." + rest
}

// AdapterKind is a Kind assembled from an adapter's section types and its check; an
// adapter declares one as its Kind.
type AdapterKind struct {
	// Kind is the name (Kind.Name).
	Kind string
	// Source returns a new source section; Device and Signal a new device- and
	// signal-level binding, nil (the func or its result) when the kind has none.
	Source         func() SourceSpec
	Device, Signal func() any
	// Checks is Kind.Check, usually CheckWith(the adapter's BuildConfig).
	Checks func(src *Source, devices []BoundDevice, w *Workshop) Errors
}

// Name implements Kind.
func (k AdapterKind) Name() string { return k.Kind }

// NewSource implements Kind.
func (k AdapterKind) NewSource() SourceSpec { return k.Source() }

// NewDevice implements Kind.
func (k AdapterKind) NewDevice() any {
	if k.Device == nil {
		return nil
	}
	return k.Device()
}

// NewSignal implements Kind.
func (k AdapterKind) NewSignal() any {
	if k.Signal == nil {
		return nil
	}
	return k.Signal()
}

// Check implements Kind.
func (k AdapterKind) Check(src *Source, devices []BoundDevice, w *Workshop) Errors {
	return k.Checks(src, devices, w)
}

// CheckWith makes a Kind's check of an adapter's build function: the problems of the
// build, its result discarded.
func CheckWith[C any](build func(*Source, []BoundDevice, *Workshop) (C, Errors)) func(*Source, []BoundDevice, *Workshop) Errors {
	return func(src *Source, devices []BoundDevice, w *Workshop) Errors {
		_, errs := build(src, devices, w)
		return errs
	}
}

// SpecOf returns the section of src as the adapter's type T.
func SpecOf[T SourceSpec](src *Source) (T, Errors) {
	s, ok := src.Spec.(T)
	if !ok {
		return s, Errors{{Path: src.Path, Msg: fmt.Sprintf("not a %s source section (%T)", src.Kind, src.Spec)}}
	}
	return s, nil
}

// Mapped returns an add function for an adapter's runtime Validate: each field it
// names is turned into a YAML path with MapPath(field, base, elems, keys) and
// reported unless a problem was reported at that path already.
func (ck *Checker) Mapped(base string, elems, keys map[string]string) func(field, format string, a ...any) {
	return func(field, format string, a ...any) {
		if path := MapPath(field, base, elems, keys); !ck.Has(path) {
			ck.Add(path, format, a...)
		}
	}
}
