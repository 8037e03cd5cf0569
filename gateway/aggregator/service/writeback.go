package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/rules"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
)

// WriterConfig configures the write-back writer (the TSDB write API v2, which
// InfluxDB 1.8+, 2.x, 3.x and VictoriaMetrics accept).
type WriterConfig struct {
	// URL is the server's base URL; points go to URL/api/v2/write.
	URL string
	// Org is the InfluxDB 2.x organisation (ignored by 1.8 and VictoriaMetrics).
	Org string
	// Bucket is the bucket (InfluxDB 1.8: "database" or "database/retention_policy").
	Bucket string
	// Token is sent as "Authorization: Token ..." when set.
	Token string
	// Timeout bounds one request; default 30s.
	Timeout time.Duration
}

// Writer posts line protocol to the write API v2.
type Writer struct {
	url    string
	token  string
	client *http.Client
}

// NewWriter builds a writer; it contacts nothing.
func NewWriter(cfg WriterConfig) (*Writer, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("new write-back writer: invalid url %q", cfg.URL)
	}
	if cfg.Bucket == "" {
		return nil, errors.New("new write-back writer: empty bucket")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	q := url.Values{"bucket": {cfg.Bucket}, "precision": {"ns"}}
	if cfg.Org != "" {
		q.Set("org", cfg.Org)
	}
	return &Writer{url: strings.TrimSuffix(cfg.URL, "/") + "/api/v2/write?" + q.Encode(), token: cfg.Token,
		client: &http.Client{Timeout: cfg.Timeout}}, nil
}

// Write posts the batch as one request.
func (w *Writer) Write(ctx context.Context, b point.Batch) error {
	body, n := point.AppendBatch(nil, b)
	if n == 0 {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("write back: %w", err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	if w.token != "" {
		req.Header.Set("Authorization", "Token "+w.token)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("write back: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("write back: status %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return nil
}

type fields []point.Field

func (f *fields) add(key string, v float64) {
	if !math.IsNaN(v) && !math.IsInf(v, 0) {
		*f = append(*f, point.Field{Key: key, Value: v})
	}
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// KPIFields returns the region_kpi fields of k (absent figures are left out).
func KPIFields(k *rules.KPI) []point.Field {
	var f fields
	f.add(schema.FieldWorkshops, float64(k.Workshops))
	f.add(schema.FieldWorkshopsReporting, float64(k.Reporting))
	f.add(schema.FieldEquipmentTotal, k.EquipmentTotal)
	f.add(schema.FieldEquipmentKey, k.EquipmentKey)
	f.add(schema.FieldEquipmentCNCKey, k.EquipmentCNCKey)
	f.add(schema.FieldEquipmentDigital, k.EquipmentDigital)
	f.add(schema.FieldCNCRate, k.CNCRate)
	f.add(schema.FieldNetworkedRate, k.NetworkedRate)
	f.add(schema.FieldSmartEquipmentInService, k.SmartEquipmentInService)
	f.add(schema.FieldParts, k.Parts)
	f.add(schema.FieldOutputValueYuan, k.OutputValueYuan)
	f.add(schema.FieldEnergyKWh, k.EnergyKWh)
	f.add(schema.FieldEnergyTce, k.EnergyTce)
	f.add(schema.FieldWaterM3, k.WaterM3)
	f.add(schema.FieldEnergyKgcePer10kYuan, k.EnergyKgcePer10kYuan)
	f.add(schema.FieldWaterM3Per10kYuan, k.WaterM3Per10kYuan)
	f.add(schema.FieldValueAddedYuan, k.ValueAddedYuan)
	f.add(schema.FieldEnergyKgcePer10kYuanValueAdded, k.EnergyKgcePer10kYuanValueAdded)
	f.add(schema.FieldWaterM3Per10kYuanValueAdded, k.WaterM3Per10kYuanValueAdded)
	f.add(schema.FieldSuspect, k.SuspectSteps)
	if k.Baseline != nil {
		f.add(schema.FieldEnergyIntensityChange, k.EnergyChange)
		f.add(schema.FieldEnergyIntensityChangeTarget, k.EnergyTarget)
		f.add(schema.FieldWaterIntensityChange, k.WaterChange)
		f.add(schema.FieldWaterIntensityChangeTarget, k.WaterTarget)
		if !math.IsNaN(k.EnergyChange) {
			f.add(schema.FieldEnergyTargetMet, boolf(k.EnergyMet))
		}
		if !math.IsNaN(k.WaterChange) {
			f.add(schema.FieldWaterTargetMet, boolf(k.WaterMet))
		}
	}
	return f
}

// WriteBackPoints computes the programme and the region roll-ups over p and returns
// one programme_progress and one region_kpi point per region, one workshop_info
// point per registered workshop and the efficiency-leader benchmarks (BenchmarkPoints),
// stamped with p.To. It also compares the registry with
// the telemetry placement (Consistency), setting the metrics and logging disagreements.
func (s *Service) WriteBackPoints(ctx context.Context, p Period) (point.Batch, error) {
	ev, reg, snap, err := s.programme(ctx, p)
	if err != nil {
		return nil, err
	}
	if err := s.checkConsistency(ctx, p, reg); err != nil {
		return nil, err
	}
	s.m.conflicts.set(reg, snap.Conflicts)
	kpis := s.Rollups(reg, snap, ByRegion, nil)
	ts := p.To.UnixNano()
	var b point.Batch
	for _, r := range reg.Regions() {
		tags := []point.Tag{{Key: schema.TagLevel, Value: r.Level.String()}, {Key: schema.TagRegion, Value: r.Code}}
		c := ev.ByRegion[r.Code]
		var f fields
		f.add(schema.FieldSmartEquipment, c.SmartEquipment)
		f.add(schema.FieldDigitalWorkshops, float64(c.DigitalWorkshops))
		f.add(schema.FieldSmartEquipmentMakers, float64(c.SmartEquipmentMakers))
		f.add(schema.FieldSmartBases, float64(c.SmartBases))
		if t := s.rules.TargetsFor(r); t != nil {
			f.add(schema.FieldSmartEquipmentTarget, t.SmartEquipment)
			f.add(schema.FieldDigitalWorkshopsTarget, t.DigitalWorkshops)
			f.add(schema.FieldSmartEquipmentMakersTarget, t.SmartEquipmentMakers)
			f.add(schema.FieldSmartBasesTarget, t.SmartBases)
		}
		b = append(b, point.Point{Measurement: schema.ProgrammeProgress, Tags: tags, Fields: f, Time: ts})
		k := kpis[r.Code][0]
		b = append(b, point.Point{Measurement: schema.RegionKPI, Tags: tags, Fields: KPIFields(&k), Time: ts})
	}
	b = append(b, InfoPoints(reg, ts)...)
	return append(b, s.BenchmarkPoints(reg, snap, ts)...), nil
}

// WriteBackOnce writes the roll-ups over the period of length period ending at the
// start of the window containing now − Settle.
func (s *Service) WriteBackOnce(ctx context.Context, w *Writer, period time.Duration) error {
	p := s.DefaultPeriod(period)
	b, err := s.WriteBackPoints(ctx, p)
	if err == nil {
		err = w.Write(ctx, b)
	}
	if err != nil {
		s.m.wbErrors.Inc()
		return err
	}
	s.m.wbPoints.Add(float64(len(b)))
	s.m.wbLast.Set(float64(s.opt.Now().UnixNano()) / 1e9)
	return nil
}

// RunWriteBack writes back at once and then every interval until ctx ends; failures
// are logged and retried at the next interval. It returns nil when ctx ends.
func (s *Service) RunWriteBack(ctx context.Context, w *Writer, interval, period time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.WriteBackOnce(ctx, w, period); err != nil && ctx.Err() == nil {
			s.log.Warn("write back roll-ups", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
