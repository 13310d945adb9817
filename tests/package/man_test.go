package pkgtest

import (
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func manSource(t *testing.T) string {
	return filepath.Join(repoRoot(t), "man", "memory-monitor.8")
}

// TestManPageLint: mandoc and groff find nothing to warn about, and neither does the
// check lintian runs on installed manual pages.
func TestManPageLint(t *testing.T) {
	src := manSource(t)
	t.Run("mandoc", func(t *testing.T) {
		mandoc := need(t, "mandoc")
		if r := run(mandoc, "-Tlint", "-W", "warning", src); r.err != nil || r.combined() != "" {
			t.Errorf("mandoc -Tlint -W warning: %v\n%s", r.err, r.combined())
		}
	})
	t.Run("groff", func(t *testing.T) {
		groff := need(t, "groff")
		if r := run(groff, "-man", "-ww", "-z", src); r.err != nil || r.combined() != "" {
			t.Errorf("groff -man -ww -z: %v\n%s", r.err, r.combined())
		}
	})
	t.Run("man", func(t *testing.T) {
		man := need(t, "man")
		// Compressed as the package ships it.
		var gz bytes.Buffer
		w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		if _, err := w.Write([]byte(readFile(t, src))); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		page := filepath.Join(t.TempDir(), "memory-monitor.8.gz")
		if err := os.WriteFile(page, gz.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(man, "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", page)
		cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "MANROFFSEQ=", "MANWIDTH=80")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil || stderr.Len() != 0 {
			t.Errorf("man --warnings: %v\n%s", err, stderr.String())
		}
	})
	t.Run("sections", func(t *testing.T) {
		text := readFile(t, src)
		for _, sh := range []string{"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS",
			"CONFIGURATION", "FILES", "LOGGING", "SIGNALS", "EXIT STATUS", "SECURITY",
			"EXAMPLES", "SEE ALSO"} {
			if !strings.Contains(text, "\n.SH "+sh+"\n") && !strings.Contains(text, "\n.SH \""+sh+"\"\n") {
				t.Errorf("man page has no section .SH %s", sh)
			}
		}
	})
}

// hiddenFlags are test-only flags that the man page must not document.
var hiddenFlags = map[string]bool{"--proc-root": true, "--cgroup-root": true}

// helpOption is one flag as --help prints it.
type helpOption struct {
	flag  string // --threshold
	short string // -h, or ""
	env   string // MEMORY_MONITOR_THRESHOLD, or ""
	def   string // 20G, or "" when --help shows no default
}

var (
	helpFlagLine = regexp.MustCompile(`^\s+(?:(-[a-zA-Z]), )?(--[a-z0-9][a-z0-9-]*)`)
	helpDefault  = regexp.MustCompile(`\(default: ([^)]*)\)`)
	helpEnv      = regexp.MustCompile(`\(\$(MEMORY_MONITOR_[A-Z0-9_]+)\)`)
	helpCommand  = regexp.MustCompile(`^\s{2}([a-z][a-z0-9-]*)\s{2,}`)
)

// parseHelp reads the flags (with their variable and default) and the commands from
// kong's --help output. A flag's description may wrap over several lines.
func parseHelp(out string) (opts []helpOption, commands []string) {
	section := ""
	var cur *helpOption
	var text strings.Builder
	flush := func() {
		if cur == nil {
			return
		}
		desc := strings.Join(strings.Fields(text.String()), " ")
		if m := helpDefault.FindStringSubmatch(desc); m != nil {
			cur.def = m[1]
		}
		if m := helpEnv.FindStringSubmatch(desc); m != nil {
			cur.env = m[1]
		}
		opts = append(opts, *cur)
		cur = nil
		text.Reset()
	}
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasSuffix(line, ":") && !strings.HasPrefix(line, " "):
			flush()
			section = strings.TrimSuffix(line, ":")
			continue
		case strings.TrimSpace(line) == "":
			flush()
			continue
		}
		switch section {
		case "Flags":
			if m := helpFlagLine.FindStringSubmatch(line); m != nil {
				flush()
				cur = &helpOption{flag: m[2], short: m[1]}
				line = line[len(m[0]):]
			}
			if cur != nil {
				text.WriteString(" " + line)
			}
		case "Commands":
			if m := helpCommand.FindStringSubmatch(line); m != nil {
				commands = append(commands, m[1])
			}
		}
	}
	flush()
	return opts, commands
}

// manText turns man page source into searchable text: escaped minus signs become '-'
// and font escapes disappear.
func manText(src string) string {
	r := strings.NewReplacer(`\-`, "-", `\fB`, "", `\fI`, "", `\fR`, "", `\fP`, "", `\(aq`, "'", `\&`, "")
	return r.Replace(src)
}

// manOptionBlock returns the text of the .TP entry whose tag names flag, or "".
func manOptionBlock(man, flag string) string {
	lines := strings.Split(man, "\n")
	tagRe := regexp.MustCompile(`(^|[^a-z0-9-])` + regexp.QuoteMeta(flag) + `($|[^a-z0-9-])`)
	for i := 0; i+1 < len(lines); i++ {
		if lines[i] != ".TP" || !tagRe.MatchString(lines[i+1]) {
			continue
		}
		var b strings.Builder
		for _, l := range lines[i+1:] {
			if l == ".TP" || strings.HasPrefix(l, ".SH") || strings.HasPrefix(l, ".SS") {
				break
			}
			b.WriteString(l + "\n")
		}
		return b.String()
	}
	return ""
}

// TestHelpMatchesManPage builds the daemon and checks that every flag, command and
// variable that --help shows is documented in the man page, with the same default, and
// that /etc/default/memory-monitor lists every variable commented out with that default.
func TestHelpMatchesManPage(t *testing.T) {
	goTool := need(t, "go")
	root := repoRoot(t)
	bin := filepath.Join(t.TempDir(), "memory-monitor")
	build := exec.Command(goTool, "build", "-o", bin, "./cmd/memory-monitor")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	help := mustRun(t, bin, "--help")
	opts, commands := parseHelp(help)
	if len(opts) < 6 || len(commands) == 0 {
		t.Fatalf("could not parse --help (%d flags, %d commands):\n%s", len(opts), len(commands), help)
	}
	seen := map[string]bool{}
	for _, o := range opts {
		seen[o.flag] = true
	}
	for _, c := range commands {
		sub, _ := parseHelp(mustRun(t, bin, c, "--help"))
		for _, o := range sub {
			if !seen[o.flag] {
				seen[o.flag] = true
				opts = append(opts, o)
			}
		}
	}

	man := manText(readFile(t, manSource(t)))
	defaults := readFile(t, filepath.Join(root, "debian", "memory-monitor.default"))
	for _, o := range opts {
		if hiddenFlags[o.flag] {
			if strings.Contains(man, o.flag) {
				t.Errorf("man page documents the hidden flag %s", o.flag)
			}
			continue
		}
		block := manOptionBlock(man, o.flag)
		if block == "" {
			t.Errorf("man page has no .TP entry for %s (from --help)", o.flag)
			continue
		}
		if o.short != "" && !strings.Contains(block, o.short+",") && !strings.Contains(block, o.short+" ") {
			t.Errorf("man page entry for %s does not mention %s", o.flag, o.short)
		}
		if o.env != "" && !strings.Contains(block, o.env) {
			t.Errorf("man page entry for %s does not name its variable %s", o.flag, o.env)
		}
		if o.def != "" && !strings.Contains(block, o.def) {
			t.Errorf("man page entry for %s does not give its default %q", o.flag, o.def)
		}
		if o.env != "" {
			line := regexp.MustCompile(`(?m)^#` + o.env + `=(.*)$`).FindStringSubmatch(defaults)
			switch {
			case line == nil:
				t.Errorf("/etc/default/memory-monitor has no commented-out %s= line", o.env)
			case o.def != "" && line[1] != o.def:
				t.Errorf("/etc/default/memory-monitor: #%s=%s, but --help says the default is %q", o.env, line[1], o.def)
			}
		}
	}
	for _, c := range commands {
		if manOptionBlock(man, c) == "" {
			t.Errorf("man page COMMANDS has no entry for the command %q", c)
		}
	}
	// Every variable set in the shipped defaults file is commented out.
	for _, l := range strings.Split(defaults, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "MEMORY_MONITOR_") {
			t.Errorf("/etc/default/memory-monitor sets a value (the shipped file must only hold comments): %s", l)
		}
	}
	t.Logf("checked %d flags and %d commands from --help", len(opts), len(commands))
}
