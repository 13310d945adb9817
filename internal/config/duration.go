package config

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// ParseDuration parses a duration: a plain number is seconds (the old script's unit,
// "120" or "0.5"), anything else is a Go duration such as "500ms" or "2m".
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, errors.New("empty duration")
	}
	if v, err := parseNumber(in); err == nil {
		if math.Abs(v) > float64(math.MaxInt64/int64(time.Second)) {
			return 0, errors.New("duration is too long")
		}
		return time.Duration(v * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(in)
	if err != nil {
		if durationSyntax.MatchString(in) {
			// Well formed, so it can only have overflowed.
			return 0, fmt.Errorf("duration is too long (at most %v)", time.Duration(math.MaxInt64).Truncate(time.Hour))
		}
		return 0, fmt.Errorf("not a duration (use e.g. 30s, 500ms, 2m or a number of seconds)")
	}
	return d, nil
}

// durationSyntax is what time.ParseDuration accepts, whatever the size.
var durationSyntax = regexp.MustCompile(`^[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`)
