/* leaderexit: main starts a thread that holds MIB mebibytes (argv[1]) and then ends with
 * pthread_exit, leaving a zombie thread-group leader whose statm reads zero while the
 * process lives on. The thread prints "ready" once the memory is touched, then sleeps
 * until killed (at most 60 s, so a failed test leaves nothing behind for long). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static size_t bytes;

static void *hold(void *arg) {
	(void)arg;
	/* volatile: the stores must happen although nothing reads them. */
	volatile char *p = malloc(bytes);
	if (p == NULL)
		exit(2);
	for (size_t i = 0; i < bytes; i += 4096)
		p[i] = 1;
	/* Give the leader time to exit before saying so. */
	usleep(100 * 1000);
	printf("ready\n");
	fflush(stdout);
	sleep(60);
	exit(0);
}

int main(int argc, char **argv) {
	pthread_t t;
	bytes = (size_t)(argc > 1 ? atoi(argv[1]) : 64) << 20;
	if (pthread_create(&t, NULL, hold, NULL) != 0)
		return 1;
	pthread_exit(NULL);
}
