package metrics

// SetThresholds changes the exported thresholds after a reload; the counters carry on.
func (m *Metrics) SetThresholds(threshold, warnThreshold uint64) {
	m.inc(func() { m.threshold, m.warnThreshold = threshold, warnThreshold })
}
