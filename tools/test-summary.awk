# test-summary.awk: reads `go test -json` and prints what a person needs: the package
# result lines, the whole output of every failed test, build errors, then every skipped
# test with the reason it gave, the first messages of every failed test again, and last
# one line "N passed, N failed, N skipped"
# (tests and subtests). Exits 1 if a test failed.

# The value of a JSON string field in one test2json line (test2json writes one object per
# line, keys in a fixed order, no nesting).
function str(line, key,    i, s, out, c, n) {
	i = index(line, "\"" key "\":\"")
	if (i == 0) return ""
	s = substr(line, i + length(key) + 4)
	out = ""
	n = length(s)
	for (i = 1; i <= n; i++) {
		c = substr(s, i, 1)
		if (c == "\"") break
		if (c == "\\") {
			i++
			c = substr(s, i, 1)
			if (c == "n") c = "\n"
			else if (c == "t") c = "\t"
			else if (c == "r") c = ""
			else if (c == "u") {
				c = substr(s, i + 1, 4); i += 4
				c = (c == "003c") ? "<" : (c == "003e") ? ">" : (c == "0026") ? "&" : "?"
			}
		}
		out = out c
	}
	return out
}

{
	action = str($0, "Action")
	pkg = str($0, "Package")
	test = str($0, "Test")
	key = pkg " " test
}
action == "build-output" { printf "%s", str($0, "Output"); next }
action == "output" && test == "" {
	o = str($0, "Output")
	if (o ~ /^(ok|FAIL|\?) / || o ~ /^(ok|FAIL|\?)\t/ || o ~ /^(panic|fatal error)/ || failedpkg[pkg]) printf "%s", o
	if (o ~ /^FAIL$/ || o ~ /^--- FAIL/) failedpkg[pkg] = 1
	next
}
action == "output" {
	o = str($0, "Output")
	buf[key] = buf[key] o
	if (o !~ /^ *(=== (RUN|PAUSE|CONT|NAME)|--- (SKIP|PASS|FAIL))/) reason[key] = reason[key] o
	next
}
action == "pass" && test != "" { passed++; delete buf[key]; delete reason[key]; next }
action == "fail" && test != "" {
	failed++
	printf "%s", buf[key]
	# The test's own first messages, repeated at the end: a failed test's whole output
	# (a daemon log, say) can be long, and the end is the part a CI summary shows.
	nmsg = split(buf[key], msgs, "\n")
	said = 0
	for (i = 1; i <= nmsg && said < 3; i++) {
		if (msgs[i] !~ /^ +[A-Za-z0-9_]+\.go:[0-9]+: / || msgs[i] ~ /: daemon log:$/) continue
		m = msgs[i]; sub(/^ +/, "", m)
		if (length(m) > 600) m = substr(m, 1, 600) "..."
		fails[++nfails] = test ": " m
		said++
	}
	delete buf[key]
	next
}
action == "skip" && test != "" {
	skipped++
	r = reason[key]
	gsub(/^[ \t]+|[ \t\n]+$/, "", r)
	gsub(/\n[ \t]*/, " / ", r)
	sub(/^[^ :]+\.go:[0-9]+: /, "", r)
	p = pkg; sub(/^github\.com\/memory-monitor\/memory-monitor\//, "./", p)
	skips[skipped] = p " " test ": " (r == "" ? "(no reason given)" : r)
	delete buf[key]; delete reason[key]
	next
}
action == "fail" { pkgfail = 1 }
END {
	if (skipped) {
		print ""
		print "Skipped (" skipped "): these ran no checks; see the reasons to make them run"
		for (i = 1; i <= skipped; i++) print "  SKIP " skips[i]
	}
	if (nfails) {
		print ""
		print "Failed: the first messages of each failed test (its whole output is above)"
		for (i = 1; i <= nfails; i++) print "  FAIL " fails[i]
	}
	print ""
	printf "%d passed, %d failed, %d skipped\n", passed, failed, skipped
	exit (failed || pkgfail) ? 1 : 0
}
