/*
 * musl startup: checks the initial process state a Linux program expects
 * and musl's startup built from it: argc/argv/envp, the auxiliary vector
 * (AT_PAGESZ, AT_RANDOM, AT_PHDR/AT_PHNUM/AT_PHENT with the PT_TLS segment,
 * AT_ENTRY, AT_EXECFN), thread-local storage (initialised data and zeroed
 * bss, which musl sets up only when AT_PHDR is right), the thread pointer
 * (arch_prctl ARCH_GET_FS == pthread_self()) and errno.
 * Argument: none (argc must be 1) or "arg-check" (argc 2, argv[1] checked).
 * Exit 0 when everything holds; else the line number of the failed check.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CHECK(c)                                                                                             \
	do {                                                                                                 \
		if (!(c)) {                                                                                  \
			fprintf(stderr, "musl startup: %s:%d: %s\n", __FILE__, __LINE__, #c);                \
			return __LINE__;                                                                     \
		}                                                                                            \
	} while (0)

#define ARCH_GET_FS 0x1003

extern char **environ;
extern void _start(void);

static _Thread_local int tls_data = 1234;
static _Thread_local long tls_bss[4];

int main(int argc, char **argv)
{
	CHECK(argc == 1 || argc == 2);
	CHECK(argv[0] != NULL && strstr(argv[0], "startup") != NULL);
	CHECK(argv[argc] == NULL);
	if (argc == 2)
		CHECK(strcmp(argv[1], "arg-check") == 0);
	CHECK(environ != NULL && environ == argv + argc + 1);

	CHECK(getauxval(AT_PAGESZ) == 4096);
	CHECK(sysconf(_SC_PAGESIZE) == 4096);
	unsigned char *rnd = (unsigned char *)getauxval(AT_RANDOM);
	CHECK(rnd != NULL);
	unsigned char zero[16] = {0};
	CHECK(memcmp(rnd, zero, 16) != 0);
	CHECK(getauxval(AT_ENTRY) == (unsigned long)(uintptr_t)_start);
	const char *execfn = (const char *)getauxval(AT_EXECFN);
	CHECK(execfn != NULL && strcmp(execfn, argv[0]) == 0);
	CHECK(getauxval(AT_SECURE) == 0);

	/* Program headers: mapped, and they describe this program. */
	const Elf64_Phdr *ph = (const Elf64_Phdr *)getauxval(AT_PHDR);
	unsigned long phnum = getauxval(AT_PHNUM);
	CHECK(ph != NULL && phnum > 0 && phnum < 64);
	CHECK(getauxval(AT_PHENT) == sizeof(Elf64_Phdr));
	int have_tls = 0, have_text = 0;
	for (unsigned long i = 0; i < phnum; i++) {
		if (ph[i].p_type == PT_TLS)
			have_tls = 1;
		if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_X) && (uintptr_t)_start >= ph[i].p_vaddr &&
		    (uintptr_t)_start < ph[i].p_vaddr + ph[i].p_memsz)
			have_text = 1;
	}
	CHECK(have_tls);
	CHECK(have_text);

	/* TLS: the initial image was copied, bss is zero, both writable. */
	CHECK(tls_data == 1234);
	for (int i = 0; i < 4; i++)
		CHECK(tls_bss[i] == 0);
	tls_data++;
	tls_bss[3] = -7;
	CHECK(tls_data == 1235 && tls_bss[3] == -7);

	/* The thread pointer is musl's thread descriptor, and the kernel says so. */
	unsigned long fs = 0;
	CHECK(syscall(SYS_arch_prctl, ARCH_GET_FS, &fs) == 0);
	CHECK(fs == (unsigned long)(uintptr_t)pthread_self());
	CHECK(fs != 0);
	/* The TLS block lies just below the thread pointer (x86_64 variant II). */
	uintptr_t td = (uintptr_t)&tls_data;
	CHECK(td < fs && fs - td < 4096);

	/* errno lives in the thread descriptor. */
	errno = 0;
	CHECK(write(99, "x", 1) == -1 && errno == EBADF);

	/* The stack: argv strings above argv[], everything in one mapping. */
	int local;
	CHECK((uintptr_t)argv > (uintptr_t)&local);
	CHECK((uintptr_t)argv[0] > (uintptr_t)argv);

	printf("musl startup: argc %d argv[0] %s, %lu program headers, TLS ok\n", argc, argv[0], phnum);
	return 0;
}
