// Package spell suggests the name an administrator probably meant when a variable name
// is unknown, so that a typo in /etc/default/memory-monitor is pointed out, not ignored.
package spell

// maxDistance is the largest edit distance still offered as a suggestion: beyond it the
// "did you mean" names something unrelated.
const maxDistance = 3

// Closest returns the candidate nearest to name, within an edit distance of 3, or "" if
// none is that near. Ties go to the candidate that sorts first, so the answer does not
// depend on the order of candidates.
func Closest(name string, candidates []string) string {
	best, bestD := "", maxDistance+1
	for _, c := range candidates {
		if d := Distance(name, c); d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	return best
}

// Distance is the Levenshtein distance between a and b, counted in bytes (variable names
// are ASCII).
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
