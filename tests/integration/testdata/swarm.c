/* swarm N MIB HOLD [fork]: a parent that makes MIB MiB resident, then N children made
 * with clone(CLONE_VM), which share its memory (so each shows the same RSS at no extra
 * cost), all ignoring SIGTERM; with "fork", ordinary forked children instead, whose pages
 * are shared copy-on-write (each shows the whole RSS, but a PSS of RSS/(N+1)); then the
 * parent is named "keeper" and the children "worker", so a test can protect the parent. Prints
 * "ready <n>" when all exist; everything ends after HOLD seconds (or when killed). */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

static int child(void *arg) {
	unsigned hold = *(unsigned *)arg;
	sleep(hold);
	_exit(0);
}

int main(int argc, char **argv) {
	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: swarm N MIB HOLD [fork]\n");
		return 2;
	}
	int n = atoi(argv[1]);
	size_t size = (size_t)atoi(argv[2]) << 20;
	static unsigned hold;
	hold = (unsigned)atoi(argv[3]);
	signal(SIGTERM, SIG_IGN);
	if (argc == 5)
		prctl(PR_SET_NAME, "keeper", 0, 0, 0);
	char *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memset(mem, 1, size);
	const size_t stack = 64 << 10;
	int made = 0;
	if (argc == 5) {
		for (int i = 0; i < n; i++) {
			pid_t p = fork();
			if (p < 0) {
				perror("fork");
				break;
			}
			if (p == 0) {
				prctl(PR_SET_NAME, "worker", 0, 0, 0);
				sleep(hold);
				_exit(0);
			}
			made++;
		}
		n = 0;
	}
	for (int i = 0; i < n; i++) {
		char *s = mmap(NULL, stack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (s == MAP_FAILED)
			break;
		if (clone(child, s + stack, CLONE_VM | SIGCHLD, &hold) < 0) {
			perror("clone");
			break;
		}
		made++;
	}
	printf("ready %d\n", made);
	fflush(stdout);
	sleep(hold);
	return 0;
}
