package rules

import "math"

// Coverage is a workshop's data coverage over a period: the share of the period for
// which its gateway delivered data (docs/aggregator.md, "Data coverage").
//
//	coverage = windows ÷ expected × (1 − unknown_s ÷ state_s)
//
// windows ÷ expected is the share of the period's KPI windows the workshop reported;
// unknown_s ÷ state_s is the share of its devices' time within those windows that was
// not observed (device_kpi unknown_s over all state seconds). A workshop observed 36
// of 60 minutes, reported in one 1h window, has window coverage 1 and coverage 0.6. A
// workshop without device state seconds (a writer of workshop_kpi only) has coverage
// windows ÷ expected.
func (s *WorkshopStats) Coverage(expected int) float64 {
	if expected <= 0 {
		return math.NaN()
	}
	return Round9(s.Windows / float64(expected) * (1 - s.UnobservedShare()))
}

// WindowCoverage is the share of the period's KPI windows the workshop reported.
func (s *WorkshopStats) WindowCoverage(expected int) float64 {
	if expected <= 0 {
		return math.NaN()
	}
	return Round9(s.Windows / float64(expected))
}

// UnobservedShare is unknown_s ÷ state_s of the workshop's devices (0 without device
// state seconds).
func (s *WorkshopStats) UnobservedShare() float64 {
	if math.IsNaN(s.UnknownS) || math.IsNaN(s.StateS) || s.StateS <= 0 {
		return 0
	}
	return math.Min(1, math.Max(0, s.UnknownS/s.StateS))
}
