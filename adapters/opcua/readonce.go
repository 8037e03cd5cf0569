package opcua

import (
	"context"
	"fmt"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/gateway/point"
)

// ReadResult is one signal read once by ReadOnce.
type ReadResult struct {
	Device, Field string
	// Field is the converted value and its quality, as the running source would emit
	// it; Value is meaningful only when OK.
	Value  point.Field
	OK     bool
	Status string    // the OPC UA status name ("Good", "BadNodeIdUnknown", ...)
	Time   time.Time // the point time the running source would give it
	Err    error     // why the signal has no value: unresolved node, wrong type, bad status
	Reason string    // the observer reason of Err
	NodeID string    // the node read, with its namespace index
}

// ReadOnce connects as the source of cfg would (endpoint, security, certificates,
// credentials), resolves every item (node ids; browse paths with
// TranslateBrowsePathsToNodeIds), reads their values once and converts each through
// the same code the running source uses for its data changes. A signal that cannot be
// resolved, read or converted gets its own error; the error returned is the
// connection's (or ctx's).
func ReadOnce(ctx context.Context, cfg Config) ([]ReadResult, error) {
	s, err := New(cfg, nil, nil)
	if err != nil {
		return nil, err
	}
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.closeTimeout)
		_ = c.Close(cctx)
		cancel()
	}()
	n := len(s.items)
	ss := &session{s: s, c: c, ns: c.Namespaces(), state: make([]uint8, n), callLimit: s.cfg.MaxItemsPerCall,
		translateLimit: s.cfg.MaxItemsPerCall}
	out := make([]ReadResult, n)
	nodes := make([]*ua.NodeID, n)
	var paths []int
	for i := range s.items {
		it := &s.items[i]
		out[i] = ReadResult{Device: it.dev.id, Field: it.key}
		if it.bp != nil {
			paths = append(paths, i)
			continue
		}
		if nodes[i], err = ss.resolve(i); err != nil {
			out[i].Err, out[i].Reason = err, "namespace"
		}
	}
	if len(paths) > 0 {
		got, err := ss.translate(ctx, paths, func(i int, _ uint8, reason string, err error) {
			out[i].Err, out[i].Reason = err, reason
		})
		if err != nil {
			return nil, err
		}
		for i, id := range got {
			nodes[i] = id
		}
	}
	var idx []int
	for i := range nodes {
		if nodes[i] != nil && out[i].Err == nil {
			idx = append(idx, i)
		}
	}
	now := time.Now().UnixNano()
	for len(idx) > 0 {
		chunk := idx[:min(len(idx), readChunk)]
		idx = idx[len(chunk):]
		req := &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnBoth}
		for _, i := range chunk {
			req.NodesToRead = append(req.NodesToRead, &ua.ReadValueID{NodeID: nodes[i], AttributeID: ua.AttributeIDValue})
		}
		cctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
		res, err := c.Read(cctx, req)
		cancel()
		if err == nil && len(res.Results) != len(chunk) {
			err = fmt.Errorf("got %d results for %d nodes", len(res.Results), len(chunk))
		}
		if err != nil {
			return nil, fmt.Errorf("read %d values on %q: %w", len(chunk), s.cfg.Endpoint, err)
		}
		for k, i := range chunk {
			it, dv, r := &s.items[i], res.Results[k], &out[i]
			r.NodeID = nodes[i].String()
			if dv == nil {
				dv = &ua.DataValue{Status: ua.StatusBadUnexpectedError}
			}
			r.Status = "Good"
			if dv.Status != ua.StatusOK {
				r.Status = statusName(dv.Status)
			}
			r.Time = time.Unix(0, s.timestamp(dv, now)).UTC()
			f, reason, err := it.field(dv)
			r.Value = f
			switch {
			case err != nil:
				r.Err, r.Reason = err, reason
			case f.Quality == point.Bad:
				r.Err, r.Reason = fmt.Errorf("read node %q of signal %q on %q: %w", it.name(), it.key, s.cfg.Endpoint, dv.Status), "status"
			default:
				r.OK = true
			}
		}
	}
	return out, nil
}
