package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// SchemaVersion is the version of the JSON output; it changes only when a field changes
// meaning or goes away (new fields and new codes may appear without it).
const SchemaVersion = 1

// Status names the outcome in the JSON output.
func (r Report) Status() string {
	switch r.ExitCode() {
	case ExitErrors:
		return "errors"
	case ExitWarnings:
		return "warnings"
	}
	return "ok"
}

// WriteText prints one line per problem, FILE:LINE: SEVERITY: NAME="VALUE": MESSAGE (the
// value quoted, so that no character of it can break the line or reach the terminal as
// a control sequence), then a summary line.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	errs, warns := 0, 0
	for _, p := range r.Problems {
		b.WriteString(r.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		fmt.Fprintf(&b, ": %s: ", p.Severity)
		if p.Variable != "" {
			b.WriteString(p.Variable)
			if p.Value != nil {
				fmt.Fprintf(&b, "=%q", *p.Value)
			}
			b.WriteString(": ")
		}
		b.WriteString(p.Message)
		b.WriteByte('\n')
		if p.Severity == Error {
			errs++
		} else {
			warns++
		}
	}
	if errs+warns == 0 {
		fmt.Fprintf(&b, "%s: no problems found\n", r.File)
	} else {
		fmt.Fprintf(&b, "%s: %s, %s\n", r.File, plural(errs, "error"), plural(warns, "warning"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// jsonReport is the documented JSON form (man memory-monitor, CHECK).
type jsonReport struct {
	SchemaVersion int       `json:"schema_version"`
	File          string    `json:"file"`
	Status        string    `json:"status"`
	ExitCode      int       `json:"exit_code"`
	Problems      []Problem `json:"problems"`
}

// WriteJSON writes the report as one JSON object followed by a newline.
func (r Report) WriteJSON(w io.Writer) error {
	problems := r.Problems
	if problems == nil {
		problems = []Problem{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonReport{
		SchemaVersion: SchemaVersion, File: r.File, Status: r.Status(), ExitCode: r.ExitCode(), Problems: problems,
	})
}
