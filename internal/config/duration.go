package config

import (
	"errors"
	"fmt"
	"math"
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
		return 0, fmt.Errorf("not a duration (use e.g. 30s, 500ms, 2m or a number of seconds)")
	}
	return d, nil
}
