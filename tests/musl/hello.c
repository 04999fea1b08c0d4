/*
 * musl hello: the smallest musl program, through stdio to fds 1 and 2.
 * Argument (argv[1]) chooses how it ends:
 *   (none)      return 0 from main
 *   N           return N from main (the parent sees N & 0xff: 300 -> 44)
 *   sysexit:N   the Linux exit system call (one thread: ends the process)
 * Startup issues arch_prctl(ARCH_SET_FS) and set_tid_address; printf ends
 * in ioctl(TIOCGWINSZ) and writev; exit in exit_group.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	printf("musl hello: printf %d %s %.3f\n", 42, "works", 1.5);
	fprintf(stderr, "musl hello: stderr works\n");
	if (fflush(stdout) != 0 || ferror(stdout) || ferror(stderr))
		return 1;
	if (argc < 2)
		return 0;
	if (strncmp(argv[1], "sysexit:", 8) == 0) {
		syscall(SYS_exit, atoi(argv[1] + 8));
		return 2; /* not reached */
	}
	return atoi(argv[1]);
}
