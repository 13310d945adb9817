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
function maxof(s,    a, n, i, hi) {
	n = split(s, a, " "); hi = a[1]
	for (i = 2; i <= n; i++) if (a[i] + 0 > hi + 0) hi = a[i]
	return hi
}
function add(arr, k, v) { arr[k] = (k in arr) ? arr[k] " " v : v }
$1 == "go"    { add(gocpu, $2, $3); add(goalloc, $2, $4); add(gob, $2, $5); add(procs, $2, $6); ns[$2] = 1 }
$1 == "floor" { add(flcpu, $2, $3) }
$1 == "ps"    { add(pscpu, $2, $3) }
$1 == "budget" { add(bcpu, $2 " " $3, $4); bn[$2] = 1 }
$1 == "rss"   { rss[$2] = $0 }
$1 == "idle"  { idle[$2] = $0 }
$1 == "earlyoom" { eover = $2; eargs = $3; for (i = 4; i <= NF; i++) eargs = eargs " " $i }
$1 == "react" {
	k = $2 SUBSEP $3; rk[k] = 1; rn[k]++
	if ($4 == "miss") { rmiss[k]++; next }
	add(rover, k, $4); if ($5 >= 0) add(rlat, k, $5); add(rrate, k, $7)
}
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
		h = 3600 / (r[3] / 1e9); tck = r[13]
		print ""
		printf "Idle CPU, default settings (60 s interval), %d processes, side by side over the same %.0f s\n", n, r[3] / 1e9
		print "| program                         | CPU-s per hour | (from stat ticks) | wakeups per hour | vs earlyoom |"
		print "|---------------------------------|----------------|-------------------|------------------|-------------|"
		eo = (r[10] != "-" && r[10] > 0) ? r[10] : 0
		printf "| memory-monitor                  | %14.2f | %17.2f | %16.0f | %10s |\n", r[4] / 1e9 * h, r[5] / tck * h, r[6] * h, eo ? sprintf("%.2fx", r[4] / eo) : "-"
		printf "| memory-monitor --no-fast-path   | %14.2f | %17.2f | %16.0f | %10s |\n", r[7] / 1e9 * h, r[8] / tck * h, r[9] * h, eo ? sprintf("%.2fx", r[7] / eo) : "-"
		if (r[10] != "-") printf "| earlyoom %-22s | %14.2f | %17.2f | %16.0f | %10s |\n", eargs, r[10] / 1e9 * h, r[11] / tck * h, r[12] * h, "1x"
		else print "| earlyoom                        | not available (no package: neither installed nor fetched)       |"
		if (n in pscpu) printf "| ps every 60 s (old script)      | %14.2f | %17s | %16s | %10s |\n", median(pscpu[n]) / 1e9 * 60, "-", "-", eo ? sprintf("%.2fx", median(pscpu[n]) * 60 / eo / h) : "-"
	}
	if (eover) printf "(earlyoom %s, arguments from its Debian package's /etc/default/earlyoom; CPU from schedstat, exact; stat ticks as a cross-check)\n", eover
	nr = 0
	for (k in rk) nr++
	if (!nr) exit
	print ""
	print "Reaction, default settings but the threshold: overshoot past the threshold in the daemon's SIGTERM log line (rss_bytes - threshold), and its time= less the hog's crossing"
	print "| hog                                 | threshold | trials | overshoot median | max      | target   | crossing to SIGTERM median | max     | hog's rate |"
	print "|-------------------------------------|-----------|--------|------------------|----------|----------|----------------------------|---------|------------|"
	split("rate200 rate1024 rate0 masked after", keys, " ")
	name["rate200"] = "200 MiB/s"; tgt["rate200"] = 100
	name["rate1024"] = "1 GiB/s"; tgt["rate1024"] = 256
	name["rate0"] = "unpaced single writer"; tgt["rate0"] = 512
	name["masked"] = "200 MiB/s, 2 others free 125 MiB/s"; tgt["masked"] = 100
	name["after"] = "1.5 GiB/s, right after a kill"; tgt["after"] = 256
	for (i = 1; i <= 5; i++) for (t = 1; t <= 100000; t *= 2) {
		k = keys[i] SUBSEP t
		if (!(k in rk)) continue
		ok = (k in rover)
		m = ok ? median(rover[k]) : 0; x = ok ? maxof(rover[k]) : 0
		verdict = !ok ? "MISS" : (m <= tgt[keys[i]] && x <= 1024 && !rmiss[k]) ? "ok" : "MISS"
		printf "| %-35s | %5d MiB | %2d%-4s | %12.0f MiB | %4.0f MiB | <=%3d %-4s | %22.0f ms | %4.0f ms | %4.0f MiB/s |\n",
			name[keys[i]], t, rn[k], rmiss[k] ? sprintf(" (%d not stopped)", rmiss[k]) : "", m, x, tgt[keys[i]], verdict,
			(k in rlat) ? median(rlat[k]) : -1, (k in rlat) ? maxof(rlat[k]) : -1, ok ? median(rrate[k]) : 0
	}
	print "(targets: the median; and no trial above 1 GiB. Above 2 GiB, the 200 MiB/s and 1 GiB/s hogs touch all but the last 2 GiB (4 GiB at 1 GiB/s) unpaced first, to keep the bench short."
	print " masked: the two others hold 1.5 GiB each, under the threshold, and free it as the hog grows. after: started the moment the previous, unpaced hog got its SIGTERM.)"
}
