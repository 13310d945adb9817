package config

import (
	"errors"
	"fmt"
	"strings"
)

// Notify says which channels carry the owner's message when a process is warned about
// or stopped: its own standard error and the terminals of its owner's login sessions.
type Notify struct {
	Stderr bool
	TTY    bool
}

// DefaultNotify is the channel set used when the option is not given: stderr only.
const DefaultNotify = "stderr"

// Off reports whether no channel is on.
func (n Notify) Off() bool { return !n.Stderr && !n.TTY }

// String gives the set back in the form ParseNotify accepts.
func (n Notify) String() string {
	var c []string
	if n.Stderr {
		c = append(c, "stderr")
	}
	if n.TTY {
		c = append(c, "tty")
	}
	if len(c) == 0 {
		return "none"
	}
	return strings.Join(c, ",")
}

// ParseNotify parses a comma-separated list of channels: "stderr", "tty", or "none" on
// its own to turn the message off. Case and spaces around names are ignored; an empty
// value is the default (stderr).
func ParseNotify(s string) (Notify, error) {
	if strings.TrimSpace(s) == "" {
		s = DefaultNotify
	}
	var n Notify
	none := false
	for i, part := range strings.Split(s, ",") {
		switch strings.ToLower(strings.TrimSpace(part)) {
		case "stderr":
			n.Stderr = true
		case "tty":
			n.TTY = true
		case "none":
			none = true
		case "":
			return Notify{}, fmt.Errorf("empty channel name at position %d (use stderr, tty or none, separated by commas)", i+1)
		default:
			return Notify{}, fmt.Errorf("unknown channel %q (use stderr, tty or none)", strings.TrimSpace(part))
		}
	}
	if none && !n.Off() {
		return Notify{}, errors.New("none cannot be combined with other channels")
	}
	return n, nil
}

// LoadNotify validates the --notify value; the error is an *Error naming the option as
// the user gave it (flag or variable).
func LoadNotify(raw string, name Namer) (Notify, error) {
	n, err := ParseNotify(raw)
	if err != nil {
		return Notify{}, &Error{Option: name("notify"), Value: raw, Err: err}
	}
	return n, nil
}
