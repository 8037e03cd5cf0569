package devsim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/sync/errgroup"
)

// Run steps the simulation on the wall clock (Config.Now) at every multiple of
// Config.Rate until ctx is done, then returns nil. When it falls a step or more
// behind it skips to the latest multiple, so a step can cover several intervals.
func (s *Sim) Run(ctx context.Context) error {
	rate := s.cfg.Rate
	next := s.Now().Truncate(rate).Add(rate)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var lastSkipLog time.Time
	for {
		if d := next.Sub(s.cfg.Now()); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		now := s.cfg.Now()
		if lag := now.Sub(next); lag >= rate {
			skip := now.Truncate(rate)
			if now.Sub(lastSkipLog) >= time.Minute {
				lastSkipLog = now
				s.log.Warn("simulation behind the clock, skipping steps", "skipped", int(skip.Sub(next)/rate))
			}
			next = skip
		}
		s.Step(next)
		next = next.Add(rate)
	}
}

// ServeOptions selects what Serve runs besides the stepping; an empty address or
// file disables that part.
type ServeOptions struct {
	// OPCUAAddr is the OPC UA listen address, e.g. "127.0.0.1:4840".
	OPCUAAddr string
	// MQTTBroker is the broker URL, e.g. "tcp://127.0.0.1:1883".
	MQTTBroker string
	// HTTPAddr serves the ground truth and counters as JSON:
	//   GET /truth?window=1m[&since=RFC3339]  []WindowTruth
	//   GET /produced                          []Record (Config.RecordLimit)
	//   GET /stats                             Stats
	//   GET /faults                            []AppliedFault (Config.Faults applied so far)
	HTTPAddr string
	// DLT645Serial and DLT645Listen serve the energy meters as DL/T 645-2007 meters
	// (Sim.DLT645Bus) on a serial device (e.g. one end of a socat pty pair) and on a TCP
	// address (a serial server in transparent mode).
	DLT645Serial, DLT645Listen string
	// TruthFile receives every final truth window of Config.TruthWindow as one JSON
	// object per line (WindowTruth.MarshalJSON), appended.
	TruthFile string
	// RTUPort (a serial port or pty end) and RTUAddr (a TCP listen address, as a serial
	// server in transparent mode) serve the energy meters as Modbus RTU units (ServeRTU).
	RTUPort, RTUAddr string
}

// Serve runs Run and the enabled servers until ctx is done or one of them fails;
// it returns after all have stopped, with the first error.
func (s *Sim) Serve(ctx context.Context, o ServeOptions) error {
	var f *os.File
	if o.TruthFile != "" {
		var err error
		f, err = os.OpenFile(o.TruthFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("open truth file: %w", err)
		}
	}
	var l net.Listener
	if o.HTTPAddr != "" {
		var err error
		l, err = net.Listen("tcp", o.HTTPAddr)
		if err != nil {
			if f != nil {
				f.Close()
			}
			return fmt.Errorf("listen http on %q: %w", o.HTTPAddr, err)
		}
	}
	g, ctx := errgroup.WithContext(ctx)
	if l != nil {
		hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
		s.log.Info("serving truth over http", "url", "http://"+l.Addr().String()+"/truth?window="+s.cfg.TruthWindow.String())
		g.Go(func() error {
			if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve http on %q: %w", o.HTTPAddr, err)
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return hs.Shutdown(sctx)
		})
	}
	if f != nil {
		s.log.Info("writing truth", "file", o.TruthFile, "window", s.cfg.TruthWindow)
		g.Go(func() error { return s.writeTruth(ctx, f) })
	}
	if o.OPCUAAddr != "" {
		g.Go(func() error { return s.ServeOPCUA(ctx, o.OPCUAAddr) })
	}
	if o.MQTTBroker != "" {
		s.log.Info("publishing meters over mqtt", "broker", o.MQTTBroker,
			"topics", MeterTopic(s.cfg.Workshop, "+"), "meters", len(s.meters), "interval", s.cfg.MeterInterval)
		g.Go(func() error { return s.PublishMQTT(ctx, o.MQTTBroker) })
	}
	s.serveDLT645(ctx, g, o)
	if o.RTUPort != "" || o.RTUAddr != "" {
		g.Go(func() error { return s.ServeRTU(ctx, o.RTUPort, o.RTUAddr) })
	}
	g.Go(func() error { return s.Run(ctx) })
	return g.Wait()
}

// writeTruth appends final base windows to f every step until ctx is done, then
// once more, and closes f.
func (s *Sim) writeTruth(ctx context.Context, f *os.File) error {
	w := bufio.NewWriter(f)
	written := map[string]time.Time{} // device → start of the last window written
	var since time.Time
	flush := func() error {
		wins, err := s.TruthSince(s.cfg.TruthWindow, since)
		if err != nil {
			return err
		}
		pendingFrom := time.Time{}
		for _, wt := range wins {
			if !wt.Final {
				if pendingFrom.IsZero() || wt.Start.Before(pendingFrom) {
					pendingFrom = wt.Start
				}
				continue
			}
			if last, ok := written[wt.Device]; ok && !wt.Start.After(last) {
				continue
			}
			b, err := json.Marshal(wt)
			if err != nil {
				return err
			}
			w.Write(append(b, '\n'))
			written[wt.Device] = wt.Start
		}
		if !pendingFrom.IsZero() {
			since = pendingFrom
		} else if len(wins) > 0 {
			since = wins[len(wins)-1].Start
		}
		return w.Flush()
	}
	t := time.NewTicker(s.cfg.Rate)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			err := flush()
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("write truth file: %w", err)
			}
			return nil
		case <-t.C:
			if err := flush(); err != nil {
				f.Close()
				return fmt.Errorf("write truth file: %w", err)
			}
		}
	}
}

// MarshalJSON writes a record as {"device","signal","ts" (epoch ms),"value"}.
func (r Record) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Device string `json:"device"`
		Signal Signal `json:"signal"`
		TS     int64  `json:"ts"`
		Value  any    `json:"value"`
	}{r.Device, r.Signal, r.Time.UnixMilli(), r.Value})
}

// Handler serves /truth, /produced, /stats and /faults as JSON (see ServeOptions.HTTPAddr).
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		enc.Encode(v)
	}
	mux.HandleFunc("GET /truth", func(w http.ResponseWriter, r *http.Request) {
		win := s.cfg.TruthWindow
		if v := r.URL.Query().Get("window"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				http.Error(w, fmt.Sprintf("parse window %q: %v", v, err), http.StatusBadRequest)
				return
			}
			win = d
		}
		var since time.Time
		if v := r.URL.Query().Get("since"); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				http.Error(w, fmt.Sprintf("parse since %q: %v", v, err), http.StatusBadRequest)
				return
			}
			since = t
		}
		wins, err := s.TruthSince(win, since)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if wins == nil {
			wins = []WindowTruth{}
		}
		reply(w, wins)
	})
	mux.HandleFunc("GET /produced", func(w http.ResponseWriter, r *http.Request) {
		reply(w, s.Produced())
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		reply(w, s.Stats())
	})
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) {
		reply(w, append([]AppliedFault{}, s.AppliedFaults()...))
	})
	return mux
}

// WaitOPCUA waits until a ServeOPCUA on addr (as passed to it) is serving, or ctx
// is done.
func (s *Sim) WaitOPCUA(ctx context.Context, addr string) error {
	for {
		s.srvMu.Lock()
		up := false
		for u := range s.servers {
			up = up || u.addr == addr
		}
		s.srvMu.Unlock()
		if up {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for opc ua server on %q: %w", addr, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
