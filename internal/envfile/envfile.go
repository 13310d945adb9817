// Package envfile reads a file the way systemd reads an EnvironmentFile= (as systemd 252,
// Debian 12's version, does), so that `memory-monitor check` sees exactly the variables
// the service will get, and can name the lines systemd would drop without a word to the
// administrator.
//
// The rules, as systemd's parser applies them:
//   - '#' or ';' as the first non-blank character of a line makes it a comment; elsewhere
//     they are ordinary characters. A backslash at the end of a comment line continues
//     the comment onto the next line (systemd 252; 254 and later stopped doing that).
//   - A line is NAME=VALUE. Blanks around the name and at the start of the value are
//     dropped, and so are trailing blanks of an unquoted value. A line without '=' is
//     ignored.
//   - 'single quotes' keep everything literally, newlines included. "double quotes" keep
//     everything except that a backslash before " \ ` $ stands for that character, a
//     backslash before a newline joins the lines, and before any other character stays.
//     Outside quotes a backslash takes the next character literally, and before a
//     newline joins the lines. A quote opens quoting only at the start of the value or
//     right after a closing quote (blanks between are dropped): "a" 'b' is ab, but in
//     a"b" the quotes are kept.
//   - Nothing is expanded: $X, ${X}, ~ and * are kept as written.
//   - Both "\n" and "\r" end a line, so CRLF files read like LF files.
//   - A name that is not a shell variable name ([A-Za-z_][A-Za-z0-9_]*), such as
//     "export X", is dropped; systemd logs "Ignoring invalid environment assignment".
//   - A later assignment replaces an earlier one.
//   - Invalid UTF-8 in a name or value, or a NUL byte anywhere, makes systemd refuse the
//     whole file: the unit does not start.
package envfile

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"
)

// Assignment is one NAME=VALUE that systemd would pass on.
type Assignment struct {
	Name  string
	Value string
	Line  int // where the name starts, 1-based
}

// Why systemd drops a line.
const (
	ReasonInvalidName = "not a valid variable name" // logged by systemd as an invalid assignment
	ReasonNoEquals    = "no '=' on the line"        // dropped without a word
)

// Dropped is a line that systemd reads but does not pass on, with the reason.
type Dropped struct {
	Line   int
	Text   string // the name, or the start of the line, as systemd saw it
	Reason string // ReasonInvalidName or ReasonNoEquals
}

// File is the result of reading an environment file.
type File struct {
	// Assignments in file order, duplicates included (the last one wins; see Env).
	Assignments []Assignment
	// Dropped lists assignments systemd ignores: invalid names, lines without '='.
	Dropped []Dropped
	// ContinuedComments lists the lines that systemd 252 swallows because the comment
	// line before them ends in a backslash (later versions read them).
	ContinuedComments []int
}

// Env returns the variables as the service sees them: the last assignment of each name.
func (f *File) Env() map[string]string {
	env := make(map[string]string, len(f.Assignments))
	for _, a := range f.Assignments {
		env[a.Name] = a.Value
	}
	return env
}

// Last returns the assignment of name that wins, and whether there is one.
func (f *File) Last(name string) (Assignment, bool) {
	for i := len(f.Assignments) - 1; i >= 0; i-- {
		if f.Assignments[i].Name == name {
			return f.Assignments[i], true
		}
	}
	return Assignment{}, false
}

// RefusedError is a file systemd refuses as a whole ("Failed to load environment
// files"): the unit does not start.
type RefusedError struct {
	Line int
	Name string // the variable whose value is bad, if known
	NUL  bool   // a NUL byte; otherwise invalid UTF-8
}

func (e *RefusedError) Error() string {
	switch {
	case e.NUL:
		return fmt.Sprintf("line %d: a NUL byte (systemd refuses the whole file)", e.Line)
	case e.Name == "":
		return fmt.Sprintf("line %d: invalid UTF-8 in a variable name (systemd refuses the whole file)", e.Line)
	}
	return fmt.Sprintf("line %d: invalid UTF-8 in the value of %s (systemd refuses the whole file)", e.Line, e.Name)
}

// ReadFile reads and parses the file at path.
func ReadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the environment file: %w", err)
	}
	return Parse(data)
}

type state int

const (
	preKey state = iota
	inKey
	preValue
	inValue
	valueEscape
	singleQuote
	doubleQuote
	doubleQuoteEscape
	comment
	commentEscape
)

func isNewline(c byte) bool { return c == '\n' || c == '\r' }

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// needsEscape are the characters a backslash stands for inside double quotes.
func needsEscape(c byte) bool { return c == '"' || c == '\\' || c == '`' || c == '$' }

// Parse parses the contents of an environment file. The only error is a *RefusedError.
func Parse(data []byte) (*File, error) {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return nil, &RefusedError{Line: 1 + bytes.Count(data[:i], []byte{'\n'}), NUL: true}
	}
	f := &File{}
	var (
		st        = preKey
		key, val  []byte
		line      = 1 // of the current character
		keyLine   = 1
		keyTrim   = -1 // length of key without its trailing blanks, -1: none seen
		valTrim   = -1 // same for an unquoted value
		utf8Error error
	)
	push := func() {
		if keyTrim >= 0 {
			key = key[:keyTrim]
		}
		name, value := string(key), string(val)
		switch {
		case !utf8.ValidString(name):
			utf8Error = &RefusedError{Line: keyLine}
		case !utf8.ValidString(value):
			utf8Error = &RefusedError{Line: keyLine, Name: name}
		case !ValidName(name):
			f.Dropped = append(f.Dropped, Dropped{Line: keyLine, Text: name, Reason: ReasonInvalidName})
		default:
			f.Assignments = append(f.Assignments, Assignment{Name: name, Value: value, Line: keyLine})
		}
		key, val, keyTrim, valTrim = key[:0], nil, -1, -1
	}
	dropKey := func() {
		if keyTrim >= 0 {
			key = key[:keyTrim]
		}
		f.Dropped = append(f.Dropped, Dropped{Line: keyLine, Text: string(key), Reason: ReasonNoEquals})
		key, keyTrim = key[:0], -1
	}
	for i := 0; i < len(data) && utf8Error == nil; i++ {
		c := data[i]
		switch st {
		case preKey:
			switch {
			case c == '#' || c == ';':
				st = comment
			case !isBlank(c):
				st, keyLine, keyTrim = inKey, line, -1
				key = append(key, c)
			}
		case inKey:
			switch {
			case isNewline(c):
				st = preKey
				dropKey()
			case c == '=':
				st, valTrim = preValue, -1
			default:
				if !isBlank(c) {
					keyTrim = -1
				} else if keyTrim < 0 {
					keyTrim = len(key)
				}
				key = append(key, c)
			}
		case preValue:
			switch {
			case isNewline(c):
				st = preKey
				push()
			case c == '\'':
				st = singleQuote
			case c == '"':
				st = doubleQuote
			case c == '\\':
				st = valueEscape
			case !isBlank(c):
				st = inValue
				val = append(val, c)
			}
		case inValue:
			switch {
			case isNewline(c):
				st = preKey
				if valTrim >= 0 {
					val = val[:valTrim]
				}
				push()
			case c == '\\':
				st, valTrim = valueEscape, -1
			default:
				if !isBlank(c) {
					valTrim = -1
				} else if valTrim < 0 {
					valTrim = len(val)
				}
				val = append(val, c)
			}
		case valueEscape:
			st = inValue
			if !isNewline(c) {
				val = append(val, c)
			}
		case singleQuote:
			if c == '\'' {
				st = preValue
			} else {
				val = append(val, c)
			}
		case doubleQuote:
			switch c {
			case '"':
				st = preValue
			case '\\':
				st = doubleQuoteEscape
			default:
				val = append(val, c)
			}
		case doubleQuoteEscape:
			st = doubleQuote
			switch {
			case needsEscape(c):
				val = append(val, c)
			case c != '\n':
				val = append(val, '\\', c)
			}
		case comment:
			switch {
			case c == '\\':
				st = commentEscape
			case isNewline(c):
				st = preKey
			}
		case commentEscape:
			// systemd 252 goes back to the comment whatever follows the backslash, a
			// newline included: the next line is then part of the comment. (With CRLF
			// the backslash eats only the CR, and the LF ends the comment.)
			st = comment
			if isNewline(c) && !(c == '\r' && i+1 < len(data) && data[i+1] == '\n') && !blankLine(data[i+1:]) {
				f.ContinuedComments = append(f.ContinuedComments, line+1)
			}
		}
		// Line numbers as an editor shows them: LF, CRLF or a lone CR end a line.
		if c == '\n' || (c == '\r' && (i+1 == len(data) || data[i+1] != '\n')) {
			line++
		}
	}
	if utf8Error != nil {
		return nil, utf8Error
	}
	switch st {
	case preValue, inValue, valueEscape, singleQuote, doubleQuote, doubleQuoteEscape:
		if st == inValue && valTrim >= 0 {
			val = val[:valTrim]
		}
		push()
		if utf8Error != nil {
			return nil, utf8Error
		}
	case inKey:
		dropKey()
	}
	return f, nil
}

// blankLine reports whether the line that data starts with holds only blanks.
func blankLine(data []byte) bool {
	for _, c := range data {
		switch {
		case isNewline(c):
			return true
		case !isBlank(c):
			return false
		}
	}
	return true
}

// ValidName reports whether name is a variable name systemd accepts: letters, digits and
// underscores, not starting with a digit.
func ValidName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// Exported reports whether a dropped name looks like a shell "export NAME": such a line
// works when the file is sourced by a shell, and systemd silently drops it.
func (d Dropped) Exported() (string, bool) {
	rest, ok := strings.CutPrefix(d.Text, "export")
	if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '\t') {
		return "", false
	}
	name := strings.TrimLeft(rest, " \t")
	return name, ValidName(name)
}
