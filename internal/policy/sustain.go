package policy

import "time"

// Re-check steps while a process waits out --sustain: often enough that a process that
// drops back below is seen doing so, rarely enough to cost nothing.
const (
	MinRecheck = 100 * time.Millisecond
	MaxRecheck = time.Second
)

// SustainVerdict is what the sustain rule says about one observation of a process.
type SustainVerdict int

const (
	// SustainClear means the process is not over the threshold: forget any clock.
	SustainClear SustainVerdict = iota
	// SustainWait means it is over, but not for long enough yet: look again at Next.
	SustainWait
	// SustainAct means it has been over for the whole sustain period (or the period is
	// zero): act on it now.
	SustainAct
)

func (v SustainVerdict) String() string {
	switch v {
	case SustainClear:
		return "clear"
	case SustainWait:
		return "wait"
	case SustainAct:
		return "act"
	}
	return "unknown"
}

// SustainState is what the sustain rule remembers about a process over the threshold.
type SustainState struct {
	Since time.Time // first observation over the threshold of the current run; zero: none
}

// SustainResult is the outcome of Sustain.
type SustainResult struct {
	Verdict SustainVerdict
	State   SustainState // to keep for the next observation (zero for Clear)
	Next    time.Time    // for Wait: when to observe the process again
}

// Sustain applies --sustain=period to one observation at now of a process that is over
// the threshold (over) or not. A process must be seen over at every observation for the
// whole period before it is acted on; a single observation below starts the count again.
// While it waits, it is observed every RecheckStep(period) and once more exactly when the
// period ends, independently of the full scans.
func Sustain(st SustainState, over bool, now time.Time, period time.Duration) SustainResult {
	switch {
	case !over:
		return SustainResult{Verdict: SustainClear}
	case period <= 0:
		return SustainResult{Verdict: SustainAct}
	case st.Since.IsZero() || st.Since.After(now):
		st.Since = now
	case now.Sub(st.Since) >= period:
		return SustainResult{Verdict: SustainAct, State: st}
	}
	deadline := st.Since.Add(period)
	next := now.Add(RecheckStep(period))
	if next.After(deadline) {
		next = deadline
	}
	return SustainResult{Verdict: SustainWait, State: st, Next: next}
}

// RecheckStep is the time between observations of a process waiting out a sustain
// period: a fifth of the period, at least MinRecheck and at most MaxRecheck.
func RecheckStep(period time.Duration) time.Duration {
	return min(max(period/5, MinRecheck), MaxRecheck)
}

// Warn applies --warn-threshold to one observation of a process whose memory is value:
// it returns whether to log a warning now, and whether the process counts as warned
// afterwards (warned is that flag from the previous observation). A warning is logged
// once when the process crosses the threshold, and again only after it has dropped back
// to or below it. A zero threshold turns warnings off.
func Warn(value, threshold uint64, warned bool) (log, nowWarned bool) {
	if threshold == 0 || value <= threshold {
		return false, false
	}
	return !warned, true
}
