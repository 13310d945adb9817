package envfile

import (
	"errors"
	"maps"
	"slices"
	"strconv"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		env     map[string]string
		dropped []string // Dropped.Text
	}{
		{name: "plain", in: "A=1\nB=2\n", env: map[string]string{"A": "1", "B": "2"}},
		{name: "no final newline", in: "A=1", env: map[string]string{"A": "1"}},
		{name: "blanks around", in: "  A  =   x y  \t\n", env: map[string]string{"A": "x y"}},
		{name: "empty value", in: "A=\nB=   \n", env: map[string]string{"A": "", "B": ""}},
		{name: "equals in value", in: "A=b=c\n", env: map[string]string{"A": "b=c"}},
		{name: "hash mid-line is data", in: "A=x # y\n", env: map[string]string{"A": "x # y"}},
		{name: "comments", in: "# A=1\n  ; B=1\n\t#C=1\nD=1\n", env: map[string]string{"D": "1"}},
		{name: "single quotes literal", in: `A='a \b $C "d"'` + "\n", env: map[string]string{"A": `a \b $C "d"`}},
		{name: "double quote escapes", in: `A="\" \\ \$ \` + "`" + ` \q \n"` + "\n", env: map[string]string{"A": `" \ $ ` + "`" + ` \q \n`}},
		{name: "quotes open only at a piece's start", in: `A="a"b'c'd` + "\n", env: map[string]string{"A": "ab'c'd"}},
		{name: "quoted pieces concatenate", in: `A="a" 'b'"c"` + "\n", env: map[string]string{"A": "abc"}},
		{name: "blank after quote skipped", in: `A="x"   y` + "\n", env: map[string]string{"A": "xy"}},
		{name: "quoted blanks kept", in: `A="  p  "` + "\n", env: map[string]string{"A": "  p  "}},
		{name: "newline in single quotes", in: "A='l1\nl2'\n", env: map[string]string{"A": "l1\nl2"}},
		{name: "unquoted escapes", in: `A=a\ b\\c\$d` + "\n", env: map[string]string{"A": `a b\c$d`}},
		{name: "continuation", in: "A=one \\\ntwo\n", env: map[string]string{"A": "one two"}},
		{name: "continuation in double quotes", in: "A=\"one \\\ntwo\"\n", env: map[string]string{"A": "one two"}},
		{name: "continuation swallows next assignment", in: "A=x\\\nB=y\n", env: map[string]string{"A": "xB=y"}},
		{name: "no expansion", in: "A=v\nB=$A\nC=${A}\nD=~\n", env: map[string]string{"A": "v", "B": "$A", "C": "${A}", "D": "~"}},
		{name: "export dropped", in: "export A=1\nB=2\n", env: map[string]string{"B": "2"}, dropped: []string{"export A"}},
		{name: "invalid names", in: "A-B=1\n1A=1\nA B=1\nA.B=1\n=x=y\n", env: map[string]string{}, dropped: []string{"A-B", "1A", "A B", "A.B", "=x"}},
		{name: "line without equals", in: "JUSTNAME\nA=1\n", env: map[string]string{"A": "1"}, dropped: []string{"JUSTNAME"}},
		{name: "duplicates last wins", in: "A=1\nA=2\n", env: map[string]string{"A": "2"}},
		{name: "crlf", in: "A=1\r\nB=\"2\"\r\nC=3  \r\n", env: map[string]string{"A": "1", "B": "2", "C": "3"}},
		{name: "lone cr", in: "A=1\rB=2\r", env: map[string]string{"A": "1", "B": "2"}},
		{name: "crlf continuation eats only the cr", in: "A=x\\\r\nB=y\r\n", env: map[string]string{"A": "x", "B": "y"}},
		{name: "unterminated double quote", in: "A=\"abc\n", env: map[string]string{"A": "abc\n"}},
		{name: "unterminated single quote", in: "A='abc", env: map[string]string{"A": "abc"}},
		{name: "comment backslash continues (252)", in: "# c \\\nA=1\nB=2\n", env: map[string]string{"B": "2"}},
		{name: "comment backslash mid-line", in: "# \\s x\nA=1\n", env: map[string]string{"A": "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(tc.in))
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if got := f.Env(); !maps.Equal(got, tc.env) {
				t.Errorf("Parse(%q) env = %q, want %q", tc.in, got, tc.env)
			}
			var dropped []string
			for _, d := range f.Dropped {
				dropped = append(dropped, d.Text)
			}
			if !slices.Equal(dropped, tc.dropped) {
				t.Errorf("Parse(%q) dropped = %q, want %q", tc.in, dropped, tc.dropped)
			}
		})
	}
}

func TestParseLines(t *testing.T) {
	in := "# head\nA=1\r\nB='x\ny'\nexport C=1\n# \\\nD=1\nE=\\\n2\nF=3\n"
	f, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range f.Assignments {
		got = append(got, a.Name+"@"+strconv.Itoa(a.Line))
	}
	if want := []string{"A@2", "B@3", "E@8", "F@10"}; !slices.Equal(got, want) {
		t.Errorf("assignment lines = %v, want %v", got, want)
	}
	if len(f.Dropped) != 1 || f.Dropped[0].Line != 5 {
		t.Errorf("dropped = %+v, want the export on line 5", f.Dropped)
	}
	if name, ok := f.Dropped[0].Exported(); !ok || name != "C" {
		t.Errorf("Exported() = %q, %v; want C, true", name, ok)
	}
	if !slices.Equal(f.ContinuedComments, []int{7}) {
		t.Errorf("ContinuedComments = %v, want [7] (D=1 swallowed by the comment on line 6)", f.ContinuedComments)
	}
	if a, ok := f.Last("E"); !ok || a.Value != "2" {
		t.Errorf("Last(E) = %+v, %v", a, ok)
	}
}

func TestExported(t *testing.T) {
	for text, want := range map[string]bool{
		"export A": true, "export\tA_1": true, "export  B": true,
		"exportA": false, "export": false, "export 1A": false, "export A B": false, "A B": false,
	} {
		if _, got := (Dropped{Text: text}).Exported(); got != want {
			t.Errorf("Exported(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestParseRefused(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want RefusedError
	}{
		{"A=1\nB=\xff\n", RefusedError{Line: 2, Name: "B"}},
		{"\xffA=1\n", RefusedError{Line: 1}},
		{"A=1\nB=2\x00C=3\n", RefusedError{Line: 2, NUL: true}},
	} {
		_, err := Parse([]byte(tc.in))
		var re *RefusedError
		if !errors.As(err, &re) || *re != tc.want {
			t.Errorf("Parse(%q) error = %v, want %+v", tc.in, err, tc.want)
		}
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"A": true, "_": true, "a_b9": true, "MEMORY_MONITOR_THRESHOLD": true,
		"": false, "9A": false, "A-B": false, "A B": false, "Ä": false,
	} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}
