# Turns the "key value..." lines of inner.sh into the bench table. Medians throughout.
function median(s,    a, n, i, j, t) {
	n = split(s, a, " ")
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
	if (n == 0) return 0
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function range(s,    a, n, i, lo, hi) {
	n = split(s, a, " "); lo = hi = a[1]
	for (i = 2; i <= n; i++) { if (a[i] + 0 < lo + 0) lo = a[i]; if (a[i] + 0 > hi + 0) hi = a[i] }
	return sprintf("%.0f-%.0f", lo, hi)
}
function add(arr, k, v) { arr[k] = (k in arr) ? arr[k] " " v : v }
$1 == "go"    { add(gocpu, $2, $3); add(goalloc, $2, $4); add(gob, $2, $5); add(procs, $2, $6); ns[$2] = 1 }
$1 == "floor" { add(flcpu, $2, $3) }
$1 == "ps"    { add(pscpu, $2, $3) }
$1 == "budget" { add(bcpu, $2 " " $3, $4); bn[$2] = 1 }
$1 == "rss"   { rss[$2] = $0 }
$1 == "idle"  { idle[$2] = $0 }
$1 == "fast" && NF == 4 { add(fover, "x", $2); add(flat, "x", $3); fn++ }
$1 == "slow" && NF == 4 { add(sover, "x", $2); add(slat, "x", $3); sn++; if ($4 == 1) scap++ }
END {
	print ""
	print "CPU per full scan (user+system; median of the rounds, each round the three side by side)"
	printf "| %-5s | %-5s | %-16s | %-12s | %-16s | %-14s | %-13s | %-10s |\n", "N", "seen", "daemon scanner", "allocs/scan", "floor (C statm)", "ps -eo pid,rss", "scanner/floor", "ps/scanner"
	print "|-------|-------|------------------|--------------|------------------|----------------|---------------|------------|"
	for (n = 1; n <= 100000; n++) {
		if (!(n in ns)) continue
		g = median(gocpu[n]); f = median(flcpu[n]); p = median(pscpu[n])
		printf "| %-5d | %-5.0f | %10.3f ms    | %-12s | %10.3f ms    | %9.2f ms   | %9.2fx    | %7.1fx   |\n",
			n, median(procs[n]), g / 1e6, median(goalloc[n]) " (" median(gob[n]) " B)", f / 1e6, p / 1e6, g / f, p / g
	}
	print "(floor: getdents64 + openat/read/close of PID/statm into a stack buffer, in C: no heap at all."
	print " ps: fork+exec of ps -eo pid,rss,comm, the old script's way, CPU of parent and child.)"
	print ""
	print "CPU per full scan with --budget (median of the rounds; steady state: no new processes, no PSS read)"
	print "| N     | no budget    | user budgets        | unit budgets        | both                |"
	print "|-------|--------------|---------------------|---------------------|---------------------|"
	for (n = 1; n <= 100000; n++) {
		if (!(n in bn)) continue
		b0 = median(bcpu[n " none"])
		printf "| %-5d | %9.3f ms | %9.3f ms %5.2fx | %9.3f ms %5.2fx | %9.3f ms %5.2fx |\n", n, b0 / 1e6,
			median(bcpu[n " user"]) / 1e6, median(bcpu[n " user"]) / b0, median(bcpu[n " unit"]) / 1e6, median(bcpu[n " unit"]) / b0,
			median(bcpu[n " both"]) / 1e6, median(bcpu[n " both"]) / b0
	}
	print ""
	print "Daemon footprint (default settings but --interval=1s: one full scan a second)"
	print "| N     | VmRSS after start | VmRSS at end | VmHWM    | open fds start/end | duration |"
	print "|-------|-------------------|--------------|----------|--------------------|----------|"
	for (n = 1; n <= 100000; n++) {
		if (!(n in rss)) continue
		split(rss[n], r, " ")
		printf "| %-5d | %10.1f MiB    | %8.1f MiB | %5.1f MiB | %8d/%-9d | %6d s |\n", n, r[3] / 1024, r[4] / 1024, r[8] / 1024, r[5], r[6], r[7]
	}
	for (n = 1; n <= 100000; n++) {
		if (!(n in idle)) continue
		split(idle[n], r, " ")
		h = 3600 / (r[4] / 1e9)
		print ""
		printf "Idle CPU, default settings (60 s interval), %d processes, both daemons over the same %.0f s\n", n, r[4] / 1e9
		print "| daemon              | CPU-s per hour | wakeups per hour |"
		print "|---------------------|----------------|------------------|"
		printf "| fast path on        | %14.2f | %16.0f |\n", r[3] / 1e9 * h, r[5] * h
		printf "| fast path off       | %14.2f | %16.0f |\n", r[6] / 1e9 * h, r[7] * h
		if (n in pscpu) printf "| ps every 60 s (old) | %14.2f | %16s |\n", median(pscpu[n]) / 1e9 * 60, "-"
	}
	print ""
	print "Reaction: hog growing at 200 MiB/s, threshold 128 MiB, otherwise default settings (60 s interval)"
	print "| path             | trials | overshoot at SIGTERM, median (range) | crossing to SIGTERM, median (range) |"
	print "|------------------|--------|--------------------------------------|-------------------------------------|"
	if (fn) printf "| fast path on     | %-6d | %8.1f MiB (%s)               | %8.0f ms (%s)               |\n",
		fn, median(fover["x"]), range(fover["x"]), median(flat["x"]), range(flat["x"])
	if (sn) printf "| fast path off    | %-6d | %8.1f MiB (%s), %d capped   | %8.0f ms (%s)          |\n",
		sn, median(sover["x"]), range(sover["x"]), scap, median(slat["x"]), range(slat["x"])
	if (sn) printf "(without the fast path the hogs stop growing 256 MiB past the threshold; at 200 MiB/s the median latency means %.0f MiB)\n",
		median(slat["x"]) / 1000 * 200
}
