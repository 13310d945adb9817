package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// SizeSpec is a memory size as the administrator wrote it: either an absolute number of
// bytes or a percentage of the machine's MemTotal, resolved once at start.
type SizeSpec struct {
	Bytes   uint64  // absolute size; zero when Percent is used
	Percent float64 // percentage of MemTotal, in (0, 100]; zero when Bytes is used
}

// Resolve returns the size in bytes, using memTotal for a percentage.
func (s SizeSpec) Resolve(memTotal uint64) uint64 {
	if s.Percent == 0 {
		return s.Bytes
	}
	return uint64(float64(memTotal) * s.Percent / 100)
}

// String gives the spec back in the form ParseSize accepts.
func (s SizeSpec) String() string {
	if s.Percent != 0 {
		return strconv.FormatFloat(s.Percent, 'f', -1, 64) + "%"
	}
	return FormatSize(s.Bytes)
}

// unitShift maps a size suffix (upper-cased) to a power of 1024. Decimal-looking suffixes
// (KB, MB...) are base 1024 as well, as in systemd, so "20GB" and "20G" mean the same.
var unitShift = map[string]uint{
	"B": 0,
	"K": 10, "KB": 10, "KIB": 10,
	"M": 20, "MB": 20, "MIB": 20,
	"G": 30, "GB": 30, "GIB": 30,
	"T": 40, "TB": 40, "TIB": 40,
}

// ParseSize parses a memory size. A plain number is GiB (the old script's unit), a number
// with a suffix K, M, G or T (also KiB/KB...) is a multiple of 1024, and "N%" is a
// percentage of MemTotal. Zero, negative and fractional-byte results are errors.
func ParseSize(s string) (SizeSpec, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return SizeSpec{}, errors.New("empty size")
	}
	if pct, ok := strings.CutSuffix(in, "%"); ok {
		v, err := parseNumber(pct)
		if err != nil {
			return SizeSpec{}, fmt.Errorf("invalid percentage: %w", err)
		}
		if v <= 0 || v > 100 {
			return SizeSpec{}, errors.New("percentage must be above 0 and at most 100")
		}
		return SizeSpec{Percent: v}, nil
	}
	i := strings.IndexFunc(in, func(r rune) bool {
		return (r < '0' || r > '9') && r != '.' && r != '-' && r != '+'
	})
	num, unit := in, "G"
	if i == 0 {
		return SizeSpec{}, fmt.Errorf("%q is not a size (use e.g. 20G, 512M or 50%%)", in)
	}
	if i > 0 {
		num, unit = strings.TrimSpace(in[:i]), strings.ToUpper(strings.TrimSpace(in[i:]))
	}
	shift, ok := unitShift[unit]
	if !ok {
		return SizeSpec{}, fmt.Errorf("unknown unit %q (use K, M, G, T or a %%)", in[i:])
	}
	v, err := parseNumber(num)
	if err != nil {
		return SizeSpec{}, err
	}
	if v <= 0 {
		return SizeSpec{}, errors.New("size must be greater than zero")
	}
	b := v * float64(uint64(1)<<shift)
	if b >= math.MaxInt64 {
		return SizeSpec{}, errors.New("size is too large")
	}
	if b < 1 {
		return SizeSpec{}, errors.New("size is less than one byte")
	}
	return SizeSpec{Bytes: uint64(b)}, nil
}

// parseNumber accepts a plain decimal number; unlike strconv.ParseFloat it refuses
// hexadecimal, exponents, "Inf" and "NaN", none of which an administrator means.
func parseNumber(s string) (float64, error) {
	if s == "" {
		return 0, errors.New("missing number")
	}
	for _, r := range s {
		if (r < '0' || r > '9') && r != '.' && r != '-' && r != '+' {
			return 0, fmt.Errorf("%q is not a number", s)
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return v, nil
}

// FormatSize renders bytes with a binary unit for humans, e.g. "20.0 GiB" or "512 B".
func FormatSize(b uint64) string {
	const units = "KMGTPE"
	if b < 1024 {
		return strconv.FormatUint(b, 10) + " B"
	}
	v, i := float64(b)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i:i+1] + "iB"
}
