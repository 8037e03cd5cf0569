package opcua

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"

	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/gateway/point"
)

// translate resolves the browse paths of the items idx with
// TranslateBrowsePathsToNodeIds, at most translateLimit paths per call. Items whose path
// does not resolve (or that the server refuses to translate at all) are rejected with
// reason "browse_path" and state itemUnresolved; only failures of the session are
// returned.
func (ss *session) translate(ctx context.Context, idx []int, reject func(int, uint8, string, error)) (map[int]*ua.NodeID, error) {
	s := ss.s
	out := make(map[int]*ua.NodeID, len(idx))
	todo := make([]int, 0, len(idx))
	reqs := make([]*ua.BrowsePath, 0, len(idx))
	for _, i := range idx {
		bp, err := ss.browsePath(i)
		if err != nil {
			reject(i, itemUnresolved, "browse_path", ss.pathError(i, err))
			continue
		}
		if len(bp.RelativePath.Elements) == 0 { // "Objects": the start node itself
			out[i] = bp.StartingNode
			continue
		}
		todo = append(todo, i)
		reqs = append(reqs, bp)
	}
	for len(todo) > 0 {
		n := min(len(todo), max(ss.translateLimit, 1))
		s.translateCalls.Add(1)
		res, err := call[*ua.TranslateBrowsePathsToNodeIDsResponse](ctx, ss, &ua.TranslateBrowsePathsToNodeIDsRequest{
			BrowsePaths: reqs[:n],
		})
		if n > 1 && (errors.Is(err, ua.StatusBadTooManyOperations) || errors.Is(err, ua.StatusBadResponseTooLarge) ||
			errors.Is(err, ua.StatusBadRequestTooLarge)) {
			ss.translateLimit = n / 2
			s.log.Warn("server refused the browse path chunk size, halving it", "endpoint", s.cfg.Endpoint, "paths_per_call", ss.translateLimit)
			continue
		}
		if err == nil && len(res.Results) != n {
			err = fmt.Errorf("got %d results for %d browse paths", len(res.Results), n)
		}
		var st ua.StatusCode
		if err != nil && errors.As(err, &st) && refusedTranslate(st) {
			// The server cannot translate these paths (e.g. it does not implement the
			// service): the paths stay unresolved, everything else keeps flowing.
			for _, i := range todo[:n] {
				reject(i, itemUnresolved, "browse_path", ss.pathError(i, st))
			}
			todo, reqs = todo[n:], reqs[n:]
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("translate browse paths on %q: %w", s.cfg.Endpoint, err)
		}
		for j, r := range res.Results {
			i := todo[j]
			node, err := ss.target(r)
			if err != nil {
				reject(i, itemUnresolved, "browse_path", ss.pathError(i, err))
				continue
			}
			out[i] = node
		}
		todo, reqs = todo[n:], reqs[n:]
	}
	return out, nil
}

// refusedTranslate reports whether a service result refuses the request rather than
// indicating a broken session.
func refusedTranslate(st ua.StatusCode) bool {
	switch st &^ 0xffff {
	case ua.StatusBadServiceUnsupported, ua.StatusBadNotSupported, ua.StatusBadNotImplemented,
		ua.StatusBadNothingToDo, ua.StatusBadTooManyOperations, ua.StatusBadBrowseNameInvalid,
		ua.StatusBadNodeIDInvalid, ua.StatusBadNodeIDUnknown, ua.StatusBadRequestTooLarge,
		ua.StatusBadResponseTooLarge, ua.StatusBadUserAccessDenied:
		return true
	}
	return false
}

// browsePath builds the protocol browse path of item i with this server's namespace
// indexes.
func (ss *session) browsePath(i int) (*ua.BrowsePath, error) {
	it := &ss.s.items[i]
	start := it.node
	if start == nil {
		ns, ok := ss.nsIndex(it.id.nsu)
		if !ok {
			return nil, fmt.Errorf("namespace %q is not in the server's namespace array", it.id.nsu)
		}
		start = it.id.build(ns)
	}
	elems := make([]*ua.RelativePathElement, len(it.bp.elems))
	for j, e := range it.bp.elems {
		ns := e.ns
		if e.nsu != "" {
			var ok bool
			if ns, ok = ss.nsIndex(e.nsu); !ok {
				return nil, fmt.Errorf("namespace %q is not in the server's namespace array", e.nsu)
			}
		}
		elems[j] = &ua.RelativePathElement{
			ReferenceTypeID: hierarchical,
			IncludeSubtypes: true,
			TargetName:      &ua.QualifiedName{NamespaceIndex: ns, Name: e.name},
		}
	}
	return &ua.BrowsePath{StartingNode: start, RelativePath: &ua.RelativePath{Elements: elems}}, nil
}

// nsIndex returns the index of a namespace URI in the server's NamespaceArray.
func (ss *session) nsIndex(uri string) (uint16, bool) {
	for j, u := range ss.ns {
		if u == uri && j <= math.MaxUint16 {
			return uint16(j), true
		}
	}
	return 0, false
}

// target picks the node a browse path result leads to: the first target the whole path
// reached, on this server.
func (ss *session) target(r *ua.BrowsePathResult) (*ua.NodeID, error) {
	if r == nil {
		return nil, ua.StatusBadUnexpectedError
	}
	if quality(r.StatusCode) == point.Bad {
		return nil, r.StatusCode
	}
	for _, t := range r.Targets {
		if t == nil || t.TargetID == nil || t.TargetID.NodeID == nil || t.RemainingPathIndex != math.MaxUint32 ||
			t.TargetID.ServerIndex != 0 {
			continue
		}
		n := ua.NewNodeIDFromExpandedNodeID(t.TargetID)
		if u := t.TargetID.NamespaceURI; u != "" {
			ns, ok := ss.nsIndex(u)
			if !ok {
				continue
			}
			n = withNamespace(n, ns)
		}
		return n, nil
	}
	return nil, ua.StatusBadNoMatch
}

// withNamespace returns n in namespace ns.
func withNamespace(n *ua.NodeID, ns uint16) *ua.NodeID {
	switch n.Type() {
	case ua.NodeIDTypeString:
		return ua.NewStringNodeID(ns, n.StringID())
	case ua.NodeIDTypeGUID:
		return ua.NewGUIDNodeID(ns, n.StringID())
	case ua.NodeIDTypeByteString:
		b, _ := base64.StdEncoding.DecodeString(n.StringID())
		return ua.NewByteStringNodeID(ns, b)
	default:
		return ua.NewNumericNodeID(ns, n.IntID())
	}
}

// pathError describes a browse path that did not resolve.
func (ss *session) pathError(i int, err error) error {
	bp := ss.s.items[i].bp
	start := bp.start
	if start == "" {
		start = DefaultBrowseStart
	}
	return fmt.Errorf("resolve browse path %q from %q on %q: %w", bp.path, start, ss.s.cfg.Endpoint, err)
}
