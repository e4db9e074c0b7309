// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The user program tests/kernel/test_uprobes.py puts uprobes on: functions
 * with known arguments and results, each called by one command of argv, so
 * a test knows exactly which calls a run makes.
 *
 *   add A B          vigil_add(A, B), prints "add=<A+B>"
 *   greet NAME       vigil_greet(NAME, buf, 64): writes "hello, NAME" into
 *                    buf, prints "greet=<length>"
 *   fib N            vigil_fib(N), recursive, prints "fib=<value>"
 *   fd PATH          opens PATH, vigil_use_fd(fd), prints "fd=<fd>"
 *   threads          two threads inside vigil_slow(1) and vigil_slow(2) at
 *                    once (each waits for the other to enter), prints "threads"
 *   pid              prints "pid=<getpid()>" (a libc function to probe)
 *   semaphore        prints "semaphore=<vigil_semaphore>": the counter the
 *                    kernel raises while a probe names it in ref_ctr_offset
 *
 * Built by `make` (-O2, the functions kept out of line). vigil_add_inside is
 * a symbol at an instruction boundary inside vigil_add, for symbol+offset.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, used))

/* In a section of its own that the file holds (not .bss): the kernel raises
 * the counter only in a private writable mapping of the probed file. */
volatile unsigned short vigil_semaphore __attribute__((used, section(".probes"))) = 0;

NOINLINE long vigil_add(int a, long b)
{
	long r = (long)a + b;

	/* zero bytes: the next instruction starts at vigil_add_inside */
	__asm__ volatile(".globl vigil_add_inside\n.type vigil_add_inside, @function\n"
			 "vigil_add_inside:" ::: "memory");
	return r;
}

NOINLINE int vigil_greet(const char *name, char *buf, unsigned long len)
{
	int n = snprintf(buf, len, "hello, %s", name);

	__asm__ volatile("" ::: "memory");
	return n;
}

/* optnone: the calls as written (no recursion turned into a loop), so fib N
 * makes exactly 2 * fib(N + 1) - 1 calls, nested N deep */
NOINLINE __attribute__((optnone)) unsigned long vigil_fib(unsigned int n)
{
	if (n < 2)
		return n;
	return vigil_fib(n - 1) + vigil_fib(n - 2);
}

NOINLINE int vigil_use_fd(int fd)
{
	__asm__ volatile("" ::: "memory");
	return fd;
}

static pthread_barrier_t inside;

NOINLINE long vigil_slow(long id)
{
	/* both threads are in here before either returns */
	pthread_barrier_wait(&inside);
	return id * 10;
}

static void *thread_main(void *arg)
{
	vigil_slow((long)arg);
	return NULL;
}

int main(int argc, char **argv)
{
	char buf[64];

	if (argc >= 4 && !strcmp(argv[1], "add")) {
		printf("add=%ld\n", vigil_add(atoi(argv[2]), atol(argv[3])));
	} else if (argc >= 3 && !strcmp(argv[1], "greet")) {
		memset(buf, 0, sizeof(buf));
		printf("greet=%d\n", vigil_greet(argv[2], buf, sizeof(buf)));
	} else if (argc >= 3 && !strcmp(argv[1], "fib")) {
		printf("fib=%lu\n", vigil_fib(atoi(argv[2])));
	} else if (argc >= 3 && !strcmp(argv[1], "fd")) {
		int fd = open(argv[2], O_RDONLY);

		printf("fd=%d\n", vigil_use_fd(fd));
	} else if (argc >= 2 && !strcmp(argv[1], "threads")) {
		pthread_t t[2];

		pthread_barrier_init(&inside, NULL, 2);
		pthread_create(&t[0], NULL, thread_main, (void *)1L);
		pthread_create(&t[1], NULL, thread_main, (void *)2L);
		pthread_join(t[0], NULL);
		pthread_join(t[1], NULL);
		printf("threads\n");
	} else if (argc >= 2 && !strcmp(argv[1], "pid")) {
		printf("pid=%d\n", getpid());
	} else if (argc >= 2 && !strcmp(argv[1], "semaphore")) {
		printf("semaphore=%u\n", vigil_semaphore);
	} else {
		fprintf(stderr, "usage: %s add A B | greet NAME | fib N | fd PATH | threads | "
			"pid | semaphore\n", argv[0]);
		return 2;
	}
	return 0;
}
