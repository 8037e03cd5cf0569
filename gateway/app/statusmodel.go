package app

import (
	"net/url"
	"time"

	"github.com/ganlink/ganlink/adapters/opcua/pki"
	"github.com/ganlink/ganlink/gateway/status"
)

// statusModel wires the status model to the gateway's components.
func (a *App) statusModel() *status.Model {
	return &status.Model{Config: a.cfg, Clock: a.clock, KPI: a.kpi, Values: a.values, Windows: a.windows,
		DeadLetters: a.obs.dead,
		Started:     func() time.Time { return a.started },
		Sources:     a.sourceStatus,
		Sinks:       a.sinkStatus,
		DeviceError: a.obs.deviceError,
		PKI:         a.pkiStatus,
		Instance:    a.instance,
	}
}

// Status returns the snapshot served at /api/status with its first page of devices.
func (a *App) Status() status.Status {
	return a.StatusPage(status.Query{DeviceLimit: status.DefaultDeviceLimit})
}

// StatusPage returns the snapshot with the devices of page q.
func (a *App) StatusPage(q status.Query) status.Status { return a.statusModel().Page(q) }

// statusQuery serves /api/status.
func (a *App) statusQuery(q url.Values) (any, error) {
	sq, err := status.ParseQuery(q)
	if err != nil {
		return nil, err
	}
	return a.StatusPage(sq), nil
}

// sourceStatus returns every source's connection state, in configuration order.
func (a *App) sourceStatus() []status.SourceStatus {
	snap := a.obs.snapshot()
	var out []status.SourceStatus
	for _, s := range a.sources {
		ss := snap[s.name]
		sec := ""
		if ws, ok := s.src.(interface{ Security() string }); ok {
			sec = ws.Security()
		}
		out = append(out, status.SourceStatus{Name: s.name, State: ss.State.String(), Security: sec, Since: ss.Since,
			Error: ss.Err, Errors: ss.Errors, LastError: ss.LastError})
	}
	return out
}

// sinkStatus returns every sink's delivery state and its queue's backlog.
func (a *App) sinkStatus() ([]status.SinkStatus, map[string]status.QueueStatus) {
	var sinks []status.SinkStatus
	for i, f := range a.forwarders {
		fs := f.State()
		name, kind, target := a.sinkInfo(i)
		sinks = append(sinks, status.SinkStatus{Name: name, Kind: kind, Target: target, Up: fs.Up,
			LastError: fs.LastError, LastWrite: fs.LastWrite})
	}
	queues := map[string]status.QueueStatus{}
	for i, q := range a.queues {
		qs := q.Stats()
		name, _, _ := a.sinkInfo(i)
		s := status.QueueStatus{PendingPoints: int64(qs.PendingPoints), PendingBytes: int64(qs.PendingBytes)}
		if !qs.OldestPending.IsZero() {
			s.OldestPending, s.OldestPendingAgeS = qs.OldestPending, status.Age(time.Now(), qs.OldestPending)
		}
		queues[name] = s
	}
	return sinks, queues
}

// pkiStatus returns the OPC UA certificate state; nil without OPC UA security.
func (a *App) pkiStatus() *status.PKIStatus {
	if a.pki == nil {
		return nil
	}
	ps := &status.PKIStatus{Dir: a.pki.Dir, Own: status.CertInfo(pki.Describe(a.own.Cert)), Rejected: []status.CertInfo{}}
	ps.Own.Path = a.own.Path
	if infos, _, err := a.pki.List(pki.RejectedDir); err == nil {
		for _, in := range infos {
			ps.Rejected = append(ps.Rejected, status.CertInfo(in))
		}
	}
	return ps
}
