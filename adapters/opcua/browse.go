package opcua

import (
	"context"
	"crypto/rsa"
	"fmt"
	"path"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/adapters/opcua/pki"
	"github.com/ganlink/ganlink/gateway/point"
)

// Defaults of BrowseOptions.
const (
	DefaultBrowseDepth    = 3
	DefaultBrowseMaxNodes = 5000
)

// Chunk sizes of the browse requests: small enough for servers that cannot send
// responses above about 64 KB.
const (
	browseChunk = 100
	readChunk   = 300
)

// BrowseOptions configures Browse. Zero values mean the documented default.
type BrowseOptions struct {
	// Endpoint is the server URL, opc.tcp://host:port/path.
	Endpoint string
	// SecurityPolicy, SecurityMode, PKI, Own, Username, Password, UserCertificate and
	// UserKey are as in Config.
	SecurityPolicy, SecurityMode string
	PKI                          *pki.Store
	Own                          *pki.Own
	Username, Password           string
	UserCertificate              []byte
	UserKey                      *rsa.PrivateKey
	// ConnectTimeout bounds the connection and each service call; default 10s.
	ConnectTimeout time.Duration
	// Start is the node id to browse from; default the Objects folder (i=85).
	Start string
	// Depth is how many levels below Start are browsed; 0 is Start alone. Browse turns
	// a negative depth into an error; the command line's default is DefaultBrowseDepth.
	Depth int
	// Match selects nodes by a glob on their browse name (path.Match syntax, e.g.
	// "Spindle*"); the tree then shows the matching nodes, their ancestors and their
	// descendants. Empty selects everything.
	Match string
	// MaxNodes stops the browse after this many nodes; default DefaultBrowseMaxNodes.
	MaxNodes int
	// Machines recognises OPC 40501 MachineTool and OPC 40001-1 machine objects among
	// the selected nodes and finds their standard signals (for WriteConfig), browsing
	// below Depth as needed.
	Machines bool
	// All keeps the Server object (ns=0 i=2253: server status, capabilities,
	// diagnostics, namespaces) and its subtree when met below Start; by default it is
	// left out, being the same on every server and most of a shallow tree. Starting at
	// it shows it whatever All says.
	All bool
	// ChildFlags sets HasChildren on the nodes of the deepest level too, with one more
	// round of browse requests (the commissioning page expands the tree lazily).
	ChildFlags bool
}

// BrowseNode is one Object or Variable of a browsed address space.
type BrowseNode struct {
	// BrowseName is the node's browse name; NamespaceURI the namespace of that name
	// ("" for namespace 0).
	BrowseName, NamespaceURI string
	// NodeID is the node id with the namespace as URI ("nsu=URI;s=Name"; namespace 0
	// ids have none: "i=85").
	NodeID string
	// Class is the node class: "Object" or "Variable".
	Class string
	// DataType, Value and Access are set for variables: the data type's name, the
	// current value (or the bad status of reading it) and the access level ("r", "rw",
	// "rwh", ... for read, write, history read; "-" for none).
	DataType, Value, Access string
	// Children are the nodes below it, in the server's order (empty below Depth).
	Children []*BrowseNode
	// DisplayName is the node's display name as the server's browse result gives it
	// (empty for the start node).
	DisplayName string
	// Status is the status of reading a variable's value ("Good", or e.g.
	// "BadNodeIdUnknown") and SourceTime its source timestamp (zero when the server
	// sent none).
	Status     string
	SourceTime time.Time
	// HasChildren reports whether the node has Objects or Variables below it (set only
	// with BrowseOptions.ChildFlags).
	HasChildren bool

	id       *ua.NodeID
	class    ua.NodeClass
	typeDef  string // type definition, formatted like NodeID
	nsIndex  uint16 // of the browse name
	value    any
	status   ua.StatusCode
	dataType *ua.NodeID
	parent   *BrowseNode
	selected bool // matches Match or lies below a match
	shown    bool // printed: selected, or an ancestor of a selected node
	repeated bool // already shown elsewhere in the tree; not expanded again
}

// BrowseResult is a browsed address space.
type BrowseResult struct {
	// Endpoint and Start are the browsed endpoint and start node (formatted like
	// BrowseNode.NodeID).
	Endpoint, Start string
	// Security is the policy and mode of the session, e.g. "Basic256Sha256/SignAndEncrypt".
	Security string
	// Root is the start node.
	Root *BrowseNode
	// Truncated reports that the browse stopped at MaxNodes.
	Truncated bool
	// ServerHidden reports that the Server object was met and left out (see
	// BrowseOptions.All).
	ServerHidden bool

	maxNodes     int
	match        string
	defaultStart bool
	machines     []*machine
}

// Browse connects to an OPC UA server and browses its address space from o.Start down
// to o.Depth levels along hierarchical references (Organizes, HasComponent,
// HasProperty, ...), reading every variable's data type, value and access level. It
// returns when the browse is done; ctx bounds it as a whole.
func Browse(ctx context.Context, o BrowseOptions) (*BrowseResult, error) {
	if o.Start == "" {
		o.Start = DefaultBrowseStart
	}
	if o.MaxNodes <= 0 {
		o.MaxNodes = DefaultBrowseMaxNodes
	}
	if o.Depth < 0 {
		return nil, fmt.Errorf("browse %q: negative depth %d", o.Endpoint, o.Depth)
	}
	start, err := parseNodeID(o.Start)
	if err != nil {
		return nil, fmt.Errorf("browse %q: start: %w", o.Endpoint, err)
	}
	if _, err := path.Match(o.Match, ""); err != nil {
		return nil, fmt.Errorf("browse %q: match pattern %q: %w", o.Endpoint, o.Match, err)
	}
	src, err := New(Config{Name: "browse", Endpoint: o.Endpoint, SecurityPolicy: o.SecurityPolicy,
		SecurityMode: o.SecurityMode, PKI: o.PKI, Own: o.Own, Username: o.Username, Password: o.Password,
		UserCertificate: o.UserCertificate, UserKey: o.UserKey, ConnectTimeout: o.ConnectTimeout}, nil, nil)
	if err != nil {
		return nil, err
	}
	c, err := src.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), src.closeTimeout)
		_ = c.Close(cctx)
		cancel()
	}()
	b := &browser{c: c, ns: c.Namespaces(), timeout: src.cfg.ConnectTimeout, endpoint: o.Endpoint,
		children: map[string][]*ua.ReferenceDescription{}, hideServer: !o.All}
	startID := start.build(start.ns)
	if start.nsu != "" {
		ns, ok := b.index(start.nsu)
		if !ok {
			return nil, fmt.Errorf("browse %q: start node %q: namespace %q is not in the server's namespace array", o.Endpoint, o.Start, start.nsu)
		}
		startID = start.build(ns)
	}
	res := &BrowseResult{Endpoint: o.Endpoint, Security: src.Security(), maxNodes: o.MaxNodes, match: o.Match, defaultStart: o.Start == DefaultBrowseStart}
	if res.Root, err = b.readStart(ctx, startID); err != nil {
		return nil, err
	}
	res.Start = res.Root.NodeID
	if res.Truncated, err = b.walk(ctx, res.Root, o.Depth, o.MaxNodes, o.ChildFlags); err != nil {
		return nil, err
	}
	res.ServerHidden = b.serverHidden
	if err := b.readVariables(ctx, res.Root); err != nil {
		return nil, err
	}
	selectNodes(res.Root, o.Match, false)
	if o.Machines {
		if res.machines, err = b.findMachines(ctx, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// browser is one browse session.
type browser struct {
	c        *opcua.Client
	ns       []string
	timeout  time.Duration
	endpoint string
	children map[string][]*ua.ReferenceDescription // forward hierarchical references by node id
	// hideServer leaves the Server object out of the walk; serverHidden records that
	// it was met.
	hideServer, serverHidden bool
}

// isServerObject reports whether n is ns=0 i=2253, the Server object.
func isServerObject(n *ua.NodeID) bool {
	return n.Namespace() == 0 && n.Type() <= ua.NodeIDTypeNumeric && n.IntID() == id.Server
}

func (b *browser) index(uri string) (uint16, bool) {
	for i, u := range b.ns {
		if u == uri && i <= 0xffff {
			return uint16(i), true
		}
	}
	return 0, false
}

// uri returns the namespace URI of index ns; "" for namespace 0.
func (b *browser) uri(ns uint16) string {
	if ns == 0 || int(ns) >= len(b.ns) {
		return ""
	}
	return b.ns[ns]
}

// format writes a node id with its namespace as URI.
func (b *browser) format(n *ua.NodeID) string {
	s := n.String()
	ns := n.Namespace()
	if ns == 0 || int(ns) >= len(b.ns) {
		return s
	}
	_, rest, _ := strings.Cut(s, ";")
	return "nsu=" + escapeNSU(b.ns[ns]) + ";" + rest
}

// local returns the node id of a reference target on this server, or nil.
func (b *browser) local(e *ua.ExpandedNodeID) *ua.NodeID {
	if e == nil || e.NodeID == nil || e.ServerIndex != 0 {
		return nil
	}
	n := ua.NewNodeIDFromExpandedNodeID(e)
	if e.NamespaceURI != "" {
		ns, ok := b.index(e.NamespaceURI)
		if !ok {
			return nil
		}
		n = withNamespace(n, ns)
	}
	return n
}

// readStart reads the start node's browse name and node class.
func (b *browser) readStart(ctx context.Context, n *ua.NodeID) (*BrowseNode, error) {
	cctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	res, err := b.c.Read(cctx, &ua.ReadRequest{
		NodesToRead: []*ua.ReadValueID{
			{NodeID: n, AttributeID: ua.AttributeIDBrowseName},
			{NodeID: n, AttributeID: ua.AttributeIDNodeClass},
		},
		TimestampsToReturn: ua.TimestampsToReturnNeither,
	})
	if err == nil && len(res.Results) != 2 {
		err = fmt.Errorf("got %d results for 2 attributes", len(res.Results))
	}
	if err != nil {
		return nil, fmt.Errorf("read start node %q on %q: %w", b.format(n), b.endpoint, err)
	}
	for _, r := range res.Results {
		if r.Status != ua.StatusOK {
			return nil, fmt.Errorf("read start node %q on %q: %w", b.format(n), b.endpoint, r.Status)
		}
	}
	node := &BrowseNode{id: n, NodeID: b.format(n), Class: "Object", class: ua.NodeClassObject}
	if qn, ok := res.Results[0].Value.Value().(*ua.QualifiedName); ok && qn != nil {
		node.BrowseName, node.nsIndex, node.NamespaceURI = qn.Name, qn.NamespaceIndex, b.uri(qn.NamespaceIndex)
	}
	switch v := res.Results[1].Value.Value().(type) {
	case int32:
		node.class = ua.NodeClass(v)
	case uint32:
		node.class = ua.NodeClass(v)
	}
	node.Class = className(node.class)
	return node, nil
}

func className(c ua.NodeClass) string {
	return strings.TrimPrefix(c.String(), "NodeClass")
}

// browseChildren fills b.children for the given nodes, in chunks.
func (b *browser) browseChildren(ctx context.Context, ids []*ua.NodeID) error {
	var todo []*ua.NodeID
	for _, n := range ids {
		if _, ok := b.children[n.String()]; !ok {
			todo = append(todo, n)
		}
	}
	for len(todo) > 0 {
		chunk := todo[:min(len(todo), browseChunk)]
		todo = todo[len(chunk):]
		req := &ua.BrowseRequest{View: &ua.ViewDescription{ViewID: ua.NewTwoByteNodeID(0)}}
		for _, n := range chunk {
			req.NodesToBrowse = append(req.NodesToBrowse, &ua.BrowseDescription{
				NodeID:          n,
				BrowseDirection: ua.BrowseDirectionForward,
				ReferenceTypeID: hierarchical,
				IncludeSubtypes: true,
				NodeClassMask:   uint32(ua.NodeClassObject | ua.NodeClassVariable),
				ResultMask:      uint32(ua.BrowseResultMaskAll),
			})
		}
		cctx, cancel := context.WithTimeout(ctx, b.timeout)
		res, err := b.c.Browse(cctx, req)
		cancel()
		if err == nil && len(res.Results) != len(chunk) {
			err = fmt.Errorf("got %d results for %d nodes", len(res.Results), len(chunk))
		}
		if err != nil {
			return fmt.Errorf("browse %q: %w", b.endpoint, err)
		}
		for i, r := range res.Results {
			refs, err := b.rest(ctx, r)
			if err != nil {
				return err
			}
			b.children[chunk[i].String()] = refs
		}
	}
	return nil
}

// rest returns the references of a browse result, following continuation points. A
// node the server cannot browse has no children.
func (b *browser) rest(ctx context.Context, r *ua.BrowseResult) ([]*ua.ReferenceDescription, error) {
	if r == nil || r.StatusCode != ua.StatusOK {
		return nil, nil
	}
	refs := r.References
	cp := r.ContinuationPoint
	for len(cp) > 0 {
		cctx, cancel := context.WithTimeout(ctx, b.timeout)
		res, err := b.c.BrowseNext(cctx, &ua.BrowseNextRequest{ContinuationPoints: [][]byte{cp}})
		cancel()
		if err == nil && len(res.Results) != 1 {
			err = fmt.Errorf("got %d results for 1 continuation point", len(res.Results))
		}
		if err != nil {
			return nil, fmt.Errorf("browse next on %q: %w", b.endpoint, err)
		}
		if res.Results[0].StatusCode != ua.StatusOK {
			break
		}
		refs = append(refs, res.Results[0].References...)
		cp = res.Results[0].ContinuationPoint
	}
	return refs, nil
}

// walk browses breadth first from root down to depth levels; it reports whether it
// stopped at maxNodes.
func (b *browser) walk(ctx context.Context, root *BrowseNode, depth, maxNodes int, childFlags bool) (bool, error) {
	seen := map[string]bool{root.id.String(): true}
	count := 1
	level := []*BrowseNode{root}
	truncated := false
levels:
	for d := 0; d < depth && len(level) > 0; d++ {
		ids := make([]*ua.NodeID, len(level))
		for i, n := range level {
			ids[i] = n.id
		}
		if err := b.browseChildren(ctx, ids); err != nil {
			return false, err
		}
		var next []*BrowseNode
		for _, parent := range level {
			for _, r := range b.children[parent.id.String()] {
				if !b.listed(r) {
					continue
				}
				nid := b.local(r.NodeID)
				if b.hideServer && isServerObject(nid) {
					b.serverHidden = true
					continue
				}
				if count >= maxNodes {
					truncated = true
					break levels
				}
				count++
				n := &BrowseNode{
					BrowseName: r.BrowseName.Name, NamespaceURI: b.uri(r.BrowseName.NamespaceIndex),
					nsIndex: r.BrowseName.NamespaceIndex, NodeID: b.format(nid), id: nid,
					class: r.NodeClass, Class: className(r.NodeClass), parent: parent,
				}
				if r.DisplayName != nil {
					n.DisplayName = r.DisplayName.Text
				}
				if td := b.local(r.TypeDefinition); td != nil {
					n.typeDef = b.format(td)
				}
				parent.Children = append(parent.Children, n)
				if seen[nid.String()] {
					n.repeated = true
					continue
				}
				seen[nid.String()] = true
				next = append(next, n)
			}
		}
		level = next
	}
	if childFlags {
		return truncated, b.childFlags(ctx, root)
	}
	return truncated, nil
}

// listed reports whether a reference is one walk lists: forward, to an Object or
// Variable on this server.
func (b *browser) listed(r *ua.ReferenceDescription) bool {
	return r != nil && r.IsForward && r.BrowseName != nil && b.local(r.NodeID) != nil &&
		(r.NodeClass == ua.NodeClassObject || r.NodeClass == ua.NodeClassVariable)
}

// childFlags sets HasChildren on every node of the tree that is not a repetition,
// browsing the nodes whose children were not browsed yet (the deepest level, and the
// rest of a level a truncation cut).
func (b *browser) childFlags(ctx context.Context, root *BrowseNode) error {
	var nodes []*BrowseNode
	var ids []*ua.NodeID
	var visit func(n *BrowseNode)
	visit = func(n *BrowseNode) {
		if n.repeated {
			return
		}
		nodes = append(nodes, n)
		if _, ok := b.children[n.id.String()]; !ok {
			ids = append(ids, n.id)
		}
		for _, c := range n.Children {
			visit(c)
		}
	}
	visit(root)
	if err := b.browseChildren(ctx, ids); err != nil {
		return err
	}
	for _, n := range nodes {
		for _, r := range b.children[n.id.String()] {
			if b.listed(r) && !(b.hideServer && isServerObject(b.local(r.NodeID))) {
				n.HasChildren = true
				break
			}
		}
	}
	return nil
}

// readVariables reads the data type, value and access level of every variable below
// and including root, and names the data types.
func (b *browser) readVariables(ctx context.Context, root *BrowseNode) error {
	var vars []*BrowseNode
	var visit func(n *BrowseNode)
	visit = func(n *BrowseNode) {
		if n.class == ua.NodeClassVariable && !n.repeated {
			vars = append(vars, n)
		}
		for _, c := range n.Children {
			visit(c)
		}
	}
	visit(root)
	attrs := []ua.AttributeID{ua.AttributeIDDataType, ua.AttributeIDValue, ua.AttributeIDAccessLevel}
	per := len(attrs)
	for len(vars) > 0 {
		chunk := vars[:min(len(vars), readChunk/per)]
		vars = vars[len(chunk):]
		req := &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnSource}
		for _, v := range chunk {
			for _, a := range attrs {
				req.NodesToRead = append(req.NodesToRead, &ua.ReadValueID{NodeID: v.id, AttributeID: a})
			}
		}
		res, err := b.read(ctx, req)
		if err != nil {
			return err
		}
		for i, v := range chunk {
			dt, val, al := res[i*per], res[i*per+1], res[i*per+2]
			if dt != nil && dt.Status == ua.StatusOK && dt.Value != nil {
				switch x := dt.Value.Value().(type) {
				case *ua.NodeID:
					v.dataType = x
				case *ua.ExpandedNodeID:
					v.dataType = b.local(x)
				}
			}
			switch {
			case val == nil:
				v.status = ua.StatusBadUnexpectedError
			case quality(val.Status) == point.Bad:
				v.status = val.Status
			case val.Value != nil:
				v.value = val.Value.Value()
			}
			v.Status = "Good"
			if v.status != ua.StatusOK {
				v.Status = statusName(v.status)
			}
			if val != nil && val.Status != ua.StatusOK && quality(val.Status) != point.Bad {
				v.Status = statusName(val.Status) // uncertain: the value is used
			}
			if val != nil && val.SourceTimestamp.Year() > 1601 {
				v.SourceTime = val.SourceTimestamp
			}
			v.Value = formatValue(v.value, v.status)
			v.Access = "-"
			if al != nil && al.Status == ua.StatusOK && al.Value != nil {
				if x, ok := al.Value.Value().(byte); ok {
					v.Access = accessString(x)
				}
			}
		}
	}
	return b.nameDataTypes(ctx, root)
}

// read sends one read request and checks the number of results.
func (b *browser) read(ctx context.Context, req *ua.ReadRequest) ([]*ua.DataValue, error) {
	cctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	res, err := b.c.Read(cctx, req)
	if err == nil && len(res.Results) != len(req.NodesToRead) {
		err = fmt.Errorf("got %d results for %d attributes", len(res.Results), len(req.NodesToRead))
	}
	if err != nil {
		return nil, fmt.Errorf("read attributes on %q: %w", b.endpoint, err)
	}
	return res.Results, nil
}

// nameDataTypes sets DataType: standard types by name, others by their browse name read
// from the server.
func (b *browser) nameDataTypes(ctx context.Context, root *BrowseNode) error {
	names := map[string]string{}
	var unknown []*ua.NodeID
	var visit func(n *BrowseNode)
	visit = func(n *BrowseNode) {
		if dt := n.dataType; dt != nil {
			k := dt.String()
			if _, ok := names[k]; !ok {
				names[k] = ""
				if dt.Namespace() == 0 && dt.Type() != ua.NodeIDTypeString && dt.Type() != ua.NodeIDTypeGUID && dt.Type() != ua.NodeIDTypeByteString {
					if s := id.Name(dt.IntID()); s != "" && s != strconv.Itoa(int(dt.IntID())) {
						names[k] = s
					}
				}
				if names[k] == "" {
					unknown = append(unknown, dt)
				}
			}
		}
		for _, c := range n.Children {
			visit(c)
		}
	}
	visit(root)
	for len(unknown) > 0 {
		chunk := unknown[:min(len(unknown), readChunk)]
		unknown = unknown[len(chunk):]
		req := &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnNeither}
		for _, dt := range chunk {
			req.NodesToRead = append(req.NodesToRead, &ua.ReadValueID{NodeID: dt, AttributeID: ua.AttributeIDBrowseName})
		}
		res, err := b.read(ctx, req)
		if err != nil {
			return err
		}
		for i, dt := range chunk {
			name := b.format(dt)
			if r := res[i]; r != nil && r.Status == ua.StatusOK && r.Value != nil {
				if qn, ok := r.Value.Value().(*ua.QualifiedName); ok && qn != nil && qn.Name != "" {
					name = qn.Name
				}
			}
			names[dt.String()] = name
		}
	}
	var set func(n *BrowseNode)
	set = func(n *BrowseNode) {
		if n.dataType != nil {
			n.DataType = names[n.dataType.String()]
		}
		for _, c := range n.Children {
			set(c)
		}
	}
	set(root)
	return nil
}

// accessString renders an AccessLevel: r (current read), w (current write), h
// (history read); "-" for none.
func accessString(a byte) string {
	var s string
	if a&byte(ua.AccessLevelTypeCurrentRead) != 0 {
		s += "r"
	}
	if a&byte(ua.AccessLevelTypeCurrentWrite) != 0 {
		s += "w"
	}
	if a&byte(ua.AccessLevelTypeHistoryRead) != 0 {
		s += "h"
	}
	if s == "" {
		return "-"
	}
	return s
}

// formatValue renders a value for the tree: numbers and booleans as they are, texts
// quoted and cut at 40 characters, arrays and structures by their size or type.
func formatValue(v any, status ua.StatusCode) string {
	if status != ua.StatusOK {
		return statusName(status)
	}
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x)
	case string:
		return quoteCut(x)
	case *ua.LocalizedText:
		if x == nil {
			return "null"
		}
		return quoteCut(x.Text)
	case *ua.QualifiedName:
		if x == nil {
			return "null"
		}
		return strconv.Itoa(int(x.NamespaceIndex)) + ":" + x.Name
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case *ua.NodeID:
		return x.String()
	case []byte:
		return fmt.Sprintf("(%d bytes)", len(x))
	case *ua.ExtensionObject:
		return "(structure)"
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice {
		return fmt.Sprintf("[%d values]", rv.Len())
	}
	return fmt.Sprintf("(%T)", v)
}

func quoteCut(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		r := []rune(s)
		return strconv.Quote(string(r[:40])) + "…"
	}
	return strconv.Quote(s)
}

// statusName is the short name of a status code, e.g. "BadUserAccessDenied".
func statusName(st ua.StatusCode) string {
	if d, ok := ua.StatusCodes[st&^0xffff]; ok {
		return strings.TrimPrefix(d.Name, "Status")
	}
	return fmt.Sprintf("0x%08X", uint32(st))
}

// selectNodes marks the nodes Match selects and the ones the tree shows; it returns
// whether anything in n's subtree is selected.
func selectNodes(n *BrowseNode, match string, below bool) bool {
	if below || match == "" {
		n.selected = true
	} else if ok, _ := path.Match(match, n.BrowseName); ok {
		n.selected = true
	}
	any := n.selected
	for _, c := range n.Children {
		if selectNodes(c, match, n.selected) {
			any = true
		}
	}
	n.shown = any
	return any
}

// ValidateMatch checks a browse's Match pattern (path.Match syntax).
func ValidateMatch(pattern string) error {
	if _, err := path.Match(pattern, ""); err != nil {
		return fmt.Errorf("match pattern %q: %w", pattern, err)
	}
	return nil
}

// ValidateEndpoint checks an endpoint URL as the configuration does.
func ValidateEndpoint(endpoint string) error { return validateEndpoint(endpoint) }
