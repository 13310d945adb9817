// benchhelper: the C side of `make bench` (test code, never part of the daemon).
//
//   benchhelper spawn N            fork N idle children (pause), print "ready", wait for
//                                  stdin to close, then kill them all
//   benchhelper floor ITER [ROOT]  the raw floor reader: getdents64 + openat/read/close of
//                                  ROOT/PID/statm into a stack buffer, ITER full scans;
//                                  prints "cpu_ns_per_scan procs_per_scan"
//   benchhelper ps ITER            fork+exec `ps -eo pid,rss,comm` ITER times (output to
//                                  /dev/null); prints "cpu_ns_per_run 0", CPU of parent
//                                  and children together
//   benchhelper hog RATE_MIB CAP_MIB THRESHOLD_MIB [LEAD_MIB]
//                                  grow anonymous memory at RATE_MIB/s (0: as fast as one
//                                  thread can) up to CAP_MIB, then hold; with LEAD_MIB, the
//                                  first THRESHOLD_MIB - LEAD_MIB are touched unpaced and
//                                  only the rest at the rate. On SIGTERM print
//                                  "overshoot_mib latency_ms capped crossed_ns rate_mib pid"
//                                  (RSS past the threshold at the signal; time since the
//                                  RSS crossed it; capped=1 if growth had stopped at the
//                                  cap; the crossing as CLOCK_REALTIME ns, 0 if none; the
//                                  rate achieved after the lead-in; its PID) and exit. Bound it with
//                                  timeout and prlimit.
//   benchhelper freer SIZE_MIB RATE_MIB
//                                  touch SIZE_MIB of anonymous memory, print "ready PID", and on
//                                  SIGUSR1 give it back with madvise(MADV_DONTNEED) at
//                                  RATE_MIB/s, 1 MiB at a time; print "freed" and hold
//                                  until SIGTERM.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t ru_ns(int who) {
	struct rusage ru;
	getrusage(who, &ru);
	return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
	       (int64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

static int64_t mono_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static int spawn(int n) {
	pid_t *pids = calloc(n, sizeof *pids);
	for (int i = 0; i < n; i++) {
		pid_t p = fork();
		if (p < 0) {
			perror("fork");
			n = i;
			break;
		}
		if (p == 0) {
			for (;;) pause();
		}
		pids[i] = p;
	}
	printf("ready %d\n", n);
	fflush(stdout);
	char c;
	while (read(0, &c, 1) > 0) {
	}
	for (int i = 0; i < n; i++) kill(pids[i], SIGKILL);
	for (int i = 0; i < n; i++) waitpid(pids[i], NULL, 0);
	return 0;
}

static long scan_once(int dirfd, long page) {
	char dents[32768], path[64], buf[256];
	long procs = 0;
	lseek(dirfd, 0, SEEK_SET);
	for (;;) {
		long n = syscall(SYS_getdents64, dirfd, dents, sizeof dents);
		if (n <= 0) break;
		for (long off = 0; off < n;) {
			struct linux_dirent64 *d = (struct linux_dirent64 *)(dents + off);
			off += d->d_reclen;
			if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
			size_t len = strlen(d->d_name);
			memcpy(path, d->d_name, len);
			memcpy(path + len, "/statm", 7);
			int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
			if (fd < 0) continue;
			long r = read(fd, buf, sizeof buf - 1);
			close(fd);
			if (r <= 0) continue;
			buf[r] = 0;
			char *sp = strchr(buf, ' ');
			if (sp) {
				volatile unsigned long rss = strtoul(sp + 1, NULL, 10) * page;
				(void)rss;
			}
			procs++;
		}
	}
	return procs;
}

static int floor_reader(int iter, const char *root) {
	int dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		perror(root);
		return 1;
	}
	long page = sysconf(_SC_PAGESIZE);
	scan_once(dirfd, page);
	long procs = 0;
	int64_t before = ru_ns(RUSAGE_SELF);
	for (int i = 0; i < iter; i++) procs += scan_once(dirfd, page);
	int64_t cpu = ru_ns(RUSAGE_SELF) - before;
	printf("%lld %ld\n", (long long)(cpu / iter), procs / iter);
	return 0;
}

static int ps_runs(int iter) {
	int64_t before = ru_ns(RUSAGE_SELF) + ru_ns(RUSAGE_CHILDREN);
	for (int i = 0; i < iter; i++) {
		pid_t p = fork();
		if (p == 0) {
			int null = open("/dev/null", O_WRONLY);
			dup2(null, 1);
			execlp("ps", "ps", "-eo", "pid,rss,comm", (char *)NULL);
			_exit(127);
		}
		int st;
		waitpid(p, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "ps failed\n");
			return 1;
		}
	}
	int64_t cpu = ru_ns(RUSAGE_SELF) + ru_ns(RUSAGE_CHILDREN) - before;
	printf("%lld 0\n", (long long)(cpu / iter));
	return 0;
}

static volatile sig_atomic_t termed, go;
static void on_term(int sig) { (void)sig; termed = 1; }
static void on_usr1(int sig) { (void)sig; go = 1; }

static int64_t real_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t self_rss(void) {
	char buf[256];
	int fd = open("/proc/self/statm", O_RDONLY);
	long n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0) return 0;
	buf[n] = 0;
	char *sp = strchr(buf, ' ');
	return sp ? strtoull(sp + 1, NULL, 10) * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

static void sleep_until(int64_t due) {
	int64_t now = mono_ns();
	if (due > now) {
		struct timespec ts = {(due - now) / 1000000000LL, (due - now) % 1000000000LL};
		nanosleep(&ts, NULL);
	}
}

static int hog(long rate_mib, long cap_mib, long threshold_mib, long lead_mib) {
	struct sigaction sa = {0};
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	size_t cap = (size_t)cap_mib << 20, threshold = (size_t)threshold_mib << 20;
	char *mem = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	madvise(mem, cap, MADV_NOHUGEPAGE); // 4 KiB pages: growth as a typical job's
	const size_t chunk = 1 << 20;
	long page = sysconf(_SC_PAGESIZE);
	// The crossing is computed from what was touched, not read from statm at every MiB
	// (that would slow the unpaced writer): RSS = the RSS before growing + touched.
	uint64_t base = self_rss();
	size_t touched = 0, lead = 0;
	if (lead_mib > 0 && lead_mib < threshold_mib) lead = (size_t)(threshold_mib - lead_mib) << 20;
	lead = lead > cap ? cap : lead;
	for (; touched < lead && !termed; touched += chunk)
		for (size_t o = 0; o < chunk; o += page) mem[touched + o] = 1;
	int64_t start = mono_ns(), crossed = 0, crossed_real = 0, grown_at = 0;
	size_t from = touched;
	int capped = 0;
	while (!termed) {
		if (touched < cap) {
			for (size_t o = 0; o < chunk; o += page) mem[touched + o] = 1;
			touched += chunk;
			if (touched >= cap) grown_at = mono_ns();
		} else {
			capped = 1;
		}
		if (!crossed && base + touched > threshold) {
			crossed = mono_ns();
			crossed_real = real_ns();
		}
		if (capped) {
			sleep_until(mono_ns() + 1000000); // hold, polling the flag every millisecond
		} else if (rate_mib > 0) {
			// Pace: chunk k after the lead-in is due at start + k MiB / rate.
			sleep_until(start + (int64_t)((touched - from) >> 20) * 1000000000LL / rate_mib);
		}
	}
	int64_t at = mono_ns();
	uint64_t rss = self_rss();
	double secs = (double)((grown_at ? grown_at : at) - start) / 1e9;
	printf("%.1f %.1f %d %lld %.0f %d\n", ((double)rss - (double)threshold) / 1048576.0,
	       crossed ? (double)(at - crossed) / 1e6 : -1.0, capped, (long long)crossed_real,
	       secs > 0 ? (double)((touched - from) >> 20) / secs : 0.0, (int)getpid());
	fflush(stdout);
	return 0;
}

static int freer(long size_mib, long rate_mib) {
	struct sigaction sa = {0};
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	size_t size = (size_t)size_mib << 20;
	const size_t chunk = 1 << 20;
	char *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	madvise(mem, size, MADV_NOHUGEPAGE);
	long page = sysconf(_SC_PAGESIZE);
	for (size_t o = 0; o < size; o += page) mem[o] = 1;
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	while (!go && !termed) pause();
	int64_t start = mono_ns();
	for (size_t k = 0; k < size / chunk && !termed; k++) {
		madvise(mem + k * chunk, chunk, MADV_DONTNEED);
		sleep_until(start + (int64_t)(k + 1) * 1000000000LL / rate_mib);
	}
	printf("freed\n");
	fflush(stdout);
	while (!termed) pause();
	return 0;
}

int main(int argc, char **argv) {
	if (argc >= 3 && strcmp(argv[1], "spawn") == 0) return spawn(atoi(argv[2]));
	if (argc >= 3 && strcmp(argv[1], "floor") == 0)
		return floor_reader(atoi(argv[2]), argc > 3 ? argv[3] : "/proc");
	if (argc >= 3 && strcmp(argv[1], "ps") == 0) return ps_runs(atoi(argv[2]));
	if (argc >= 5 && strcmp(argv[1], "hog") == 0)
		return hog(atol(argv[2]), atol(argv[3]), atol(argv[4]), argc > 5 ? atol(argv[5]) : 0);
	if (argc >= 4 && strcmp(argv[1], "freer") == 0) return freer(atol(argv[2]), atol(argv[3]));
	fprintf(stderr, "usage: benchhelper spawn N | floor ITER [ROOT] | ps ITER | hog RATE CAP THRESHOLD [LEAD] | freer SIZE RATE (MiB)\n");
	return 2;
}
