package cli

import (
	"bytes"
	"regexp"
	"slices"
	"strings"

	"github.com/alecthomas/kong"
)

// The parser's own messages are reworded to read like every other one:
// `OPTION="VALUE": what is wrong`, naming the variable when the value came from one.
var (
	// `--threshold: expected string value but got "EOL" (<EOL>)`: the flag ends the line.
	missingValue = regexp.MustCompile(`^(--[a-z0-9-]+): expected .* but got "EOL"`)
	// `--dry-run: bool value must be ... but got "maybe" (from envar MEMORY_MONITOR_DRY_RUN="maybe")`
	badFromEnv = regexp.MustCompile(`^--[a-z0-9-]+: (.*) but got "(.*)" \(from envar ([A-Z0-9_]+)=.*\)$`)
	// `--top: expected a valid 64 bit int but got "x"`
	badFlag = regexp.MustCompile(`^(--[a-z0-9-]+): (.*) but got "(.*)"$`)
	// `--format must be one of "text","json" but got "xml"`
	badEnum = regexp.MustCompile(`^(--[a-z0-9-]+) must be one of (.*) but got "(.*)"$`)
)

// reword turns one of kong's parse errors into the daemon's style; others pass as they are.
func reword(msg string) string {
	if m := missingValue.FindStringSubmatch(msg); m != nil {
		return m[1] + ": missing value (write " + m[1] + "=VALUE)"
	}
	if m := badEnum.FindStringSubmatch(msg); m != nil {
		return m[1] + "=" + quote(m[3]) + ": must be one of " + strings.ReplaceAll(m[2], `","`, `", "`)
	}
	if m := badFromEnv.FindStringSubmatch(msg); m != nil {
		return m[3] + "=" + quote(m[2]) + ": " + reason(m[1])
	}
	if m := badFlag.FindStringSubmatch(msg); m != nil {
		return m[1] + "=" + quote(m[3]) + ": " + reason(m[2])
	}
	return msg
}

func quote(s string) string { return `"` + s + `"` }

// reason words kong's expectation as a requirement.
func reason(kong string) string {
	switch {
	case strings.HasPrefix(kong, "bool value must be "):
		return "must be " + strings.TrimPrefix(kong, "bool value must be ")
	case strings.Contains(kong, "int"):
		return "must be a whole number"
	}
	return kong
}

// commandFlags are the root flags each command's --help shows: the others do not
// change what the command does, so listing them there only misleads.
var commandFlags = map[string][]string{
	"list":   {"threshold", "protect", "default-protect", "metric", "help"},
	"check":  {"help"},
	"reload": {"help"},
}

// printHelp is kong's help with the command shown as optional (run is the default)
// and, for a command, only the flags it uses.
func printHelp(options kong.HelpOptions, ctx *kong.Context) error {
	if sel := ctx.Selected(); sel != nil {
		if keep, ok := commandFlags[sel.Name]; ok {
			for _, f := range ctx.Model.Flags {
				if !f.Hidden && !slices.Contains(keep, f.Name) {
					f.Hidden = true
					defer func() { f.Hidden = false }()
				}
			}
		}
	}
	var buf bytes.Buffer
	out := ctx.Stdout
	ctx.Stdout = &buf
	err := kong.DefaultHelpPrinter(options, ctx)
	ctx.Stdout = out
	text := strings.Replace(buf.String(), "Usage: memory-monitor <command> [flags]", "Usage: memory-monitor [<command>] [flags]", 1)
	if _, werr := out.Write([]byte(text)); err == nil {
		err = werr
	}
	return err
}
