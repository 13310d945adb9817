package logging

import (
	"context"
	"log/slog"
	"strings"

	"github.com/coreos/go-systemd/v22/journal"
)

// Identifier is the SYSLOG_IDENTIFIER of every entry.
const Identifier = "memory-monitor"

// journalNames maps slog keys to journal field names where the plain upper-cased key
// would be ambiguous: in the journal, PID fields without a prefix belong to the logger.
var journalNames = map[string]string{
	"pid":  "TARGET_PID",
	"comm": "TARGET_COMM",
	"uid":  "TARGET_UID",
	"user": "TARGET_USER",
	"cmd":  "TARGET_CMDLINE",
	// Where the process came from (notify.Origin): a bare UNIT belongs to messages
	// from systemd itself about a unit.
	"cwd":   "TARGET_CWD",
	"unit":  "TARGET_UNIT",
	"slice": "TARGET_SLICE",
}

// FieldName is the journal field an slog key becomes: a mapped name or the key upper-cased,
// with anything but letters, digits and underscores replaced by underscores.
func FieldName(key string) string {
	if n, ok := journalNames[key]; ok {
		return n
	}
	b := []byte(strings.ToUpper(key))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	n := strings.TrimLeft(string(b), "_0123456789")
	if n == "" {
		return "FIELD"
	}
	return n
}

// SendFunc sends one journal entry; journal.Send in production.
type SendFunc func(msg string, pri journal.Priority, vars map[string]string) error

// JournalHandler is an slog.Handler that writes native journal entries, one field per
// attribute, so `journalctl TARGET_COMM=...` filters work.
type JournalHandler struct {
	send   SendFunc
	level  slog.Leveler
	attrs  []slog.Attr
	prefix string // from WithGroup, "GROUP_"
}

// NewJournalHandler returns a handler that sends entries at or above level.
func NewJournalHandler(send SendFunc, level slog.Leveler) *JournalHandler {
	if level == nil {
		level = slog.LevelInfo
	}
	return &JournalHandler{send: send, level: level}
}

// Enabled implements slog.Handler.
func (h *JournalHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

// Handle implements slog.Handler.
func (h *JournalHandler) Handle(_ context.Context, r slog.Record) error {
	vars := make(map[string]string, len(h.attrs)+r.NumAttrs()+2)
	vars["SYSLOG_IDENTIFIER"] = Identifier
	for _, a := range h.attrs {
		addField(vars, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		addField(vars, h.prefix, a)
		return true
	})
	return h.send(r.Message, priority(r.Level), vars)
}

// WithAttrs implements slog.Handler.
func (h *JournalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), prefixed(h.prefix, as)...)
	c.prefix = h.prefix
	return &c
}

// WithGroup implements slog.Handler.
func (h *JournalHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + name + "_"
	return &c
}

func prefixed(prefix string, as []slog.Attr) []slog.Attr {
	if prefix == "" {
		return as
	}
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = slog.Attr{Key: prefix + a.Key, Value: a.Value}
	}
	return out
}

func addField(vars map[string]string, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if a.Key == "" && v.Kind() != slog.KindGroup {
		return
	}
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "_"
		}
		for _, g := range v.Group() {
			addField(vars, p, g)
		}
		return
	}
	vars[FieldName(prefix+a.Key)] = v.String()
}

func priority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	}
	return journal.PriDebug
}
