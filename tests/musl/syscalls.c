/*
 * musl syscalls: the rest of the shim's list and its edges — write/writev
 * to fds 1 and 2 (short writes at a fault, EBADF, EFAULT, EINVAL), ioctl,
 * getpid/gettid/set_tid_address, arch_prctl, futex wait/wake/timeout and
 * its errors, rt_sigprocmask/rt_sigaction (accepted, no signals), and
 * -ENOSYS (not death) for system calls outside the list.
 * Argument "alder" (as init runs it): also check what the shim answers
 * differently from Linux (read, getuid, madvise: -ENOSYS; the signal mask
 * reads back empty; a write that faults part-way is short). Without it the
 * program passes on the host's Linux with fds 1 and 2 on a pipe or tty.
 * Exit 0 when every check holds; else the line number of the failed check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c)                                                                                             \
	do {                                                                                                 \
		if (!(c)) {                                                                                  \
			fprintf(stderr, "musl syscalls: %s:%d: %s (errno %d)\n", __FILE__, __LINE__, #c,     \
				errno);                                                                      \
			return __LINE__;                                                                     \
		}                                                                                            \
	} while (0)
#define CHECK_ERR(call, err) CHECK((call) && errno == (err))

/* Linux's values (musl-gcc has no kernel headers). */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_WAIT_PRIVATE (FUTEX_WAIT | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_PRIVATE (FUTEX_WAKE | FUTEX_PRIVATE_FLAG)
#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
#define KERNEL_PTR ((void *)0xffffffff80000000ul)
#define PG 4096ul
#define MS 1000000ll

static long long mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000ll + t.tv_nsec;
}

/* arch_prctl(ARCH_SET_FS) without touching TLS in between (errno is TLS):
 * set fs to tmp, read it back, restore. Returns the value read back. */
static unsigned long swap_fs_and_back(unsigned long tmp, unsigned long orig)
{
	unsigned long seen = 0;
	long r1, r2, r3;
	__asm__ volatile("syscall"
			 : "=a"(r1)
			 : "a"(SYS_arch_prctl), "D"(ARCH_SET_FS), "S"(tmp)
			 : "rcx", "r11", "memory");
	__asm__ volatile("syscall"
			 : "=a"(r2)
			 : "a"(SYS_arch_prctl), "D"(ARCH_GET_FS), "S"(&seen)
			 : "rcx", "r11", "memory");
	__asm__ volatile("syscall"
			 : "=a"(r3)
			 : "a"(SYS_arch_prctl), "D"(ARCH_SET_FS), "S"(orig)
			 : "rcx", "r11", "memory");
	return r1 == 0 && r2 == 0 && r3 == 0 ? seen : 0;
}

int main(int argc, char **argv)
{
	int alder = argc > 1 && strcmp(argv[1], "alder") == 0;

	/* write: fds 1 and 2 only. */
	CHECK(write(1, "musl syscalls: write 1\n", 23) == 23);
	CHECK(write(2, "musl syscalls: write 2\n", 23) == 23);
	CHECK(write(1, "", 0) == 0);
	CHECK_ERR(write(5, "x", 1) == -1, EBADF);
	CHECK_ERR(write(-1, "x", 1) == -1, EBADF);
	CHECK_ERR(write(1, (void *)8, 1) == -1, EFAULT);
	CHECK_ERR(write(1, KERNEL_PTR, 1) == -1, EFAULT);
	char *two = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(two != MAP_FAILED);
	CHECK(munmap(two + PG, PG) == 0);
	CHECK_ERR(write(1, two + PG, 10) == -1, EFAULT);
	/* A buffer running into an unmapped page: the bytes before it are
	 * written (on Linux that depends on what fd 1 is). */
	memcpy(two + PG - 3, "ab\n", 3);
	if (alder)
		CHECK(write(1, two + PG - 3, 10) == 3);

	/* writev. */
	struct iovec iov[3] = {{"musl ", 5}, {"syscalls: ", 10}, {"writev\n", 7}};
	CHECK(writev(1, iov, 3) == 22);
	CHECK(writev(2, iov, 0) == 0);
	CHECK_ERR(writev(7, iov, 3) == -1, EBADF);
	CHECK_ERR(writev(1, iov, -1) == -1, EINVAL);
	CHECK_ERR(writev(1, iov, 1025) == -1, EINVAL);
	CHECK_ERR(writev(1, (void *)8, 1) == -1, EFAULT);
	struct iovec badbase[2] = {{"ok", 2}, {KERNEL_PTR, 1}};
	CHECK_ERR(writev(1, badbase, 2) == -1, EFAULT); /* checked before anything is written */
	struct iovec badlen[1] = {{"x", (size_t)-1}};
	CHECK_ERR(writev(1, badlen, 1) == -1, EINVAL);

	/* The log is not a terminal. */
	struct winsize ws;
	CHECK_ERR(ioctl(1, TIOCGWINSZ, &ws) == -1, ENOTTY);
	CHECK(!isatty(1) && !isatty(2));
	CHECK_ERR(ioctl(9, TIOCGWINSZ, &ws) == -1, EBADF);

	/* Identity. */
	pid_t pid = getpid();
	long tid = syscall(SYS_gettid);
	CHECK(pid > 0 && tid > 0);
	int ctid;
	CHECK(syscall(SYS_set_tid_address, &ctid) == tid);
	CHECK(syscall(SYS_gettid) == tid && getpid() == pid);

	/* arch_prctl: the thread pointer. */
	unsigned long fs = 0;
	CHECK(syscall(SYS_arch_prctl, ARCH_GET_FS, &fs) == 0);
	CHECK(fs == (unsigned long)(uintptr_t)pthread_self());
	static unsigned long scratch[8];
	CHECK(swap_fs_and_back((unsigned long)(uintptr_t)scratch, fs) == (unsigned long)(uintptr_t)scratch);
	unsigned long fs2 = 0;
	CHECK(syscall(SYS_arch_prctl, ARCH_GET_FS, &fs2) == 0 && fs2 == fs);
	CHECK_ERR(syscall(SYS_arch_prctl, ARCH_SET_FS, 0xffff800000000000ul) == -1, EPERM);
	CHECK_ERR(syscall(SYS_arch_prctl, ARCH_SET_FS, 0x8000000000000000ul) == -1, EPERM);
	CHECK_ERR(syscall(SYS_arch_prctl, ARCH_GET_FS, (void *)8) == -1, EFAULT);
	CHECK_ERR(syscall(SYS_arch_prctl, ARCH_GET_FS, KERNEL_PTR) == -1, EFAULT);
	CHECK_ERR(syscall(SYS_arch_prctl, 0x9999, 0) == -1, EINVAL);
	/* The thread pointer survives sleeping (context switches). */
	struct timespec ms5 = {0, 5 * MS};
	nanosleep(&ms5, NULL);
	CHECK(syscall(SYS_arch_prctl, ARCH_GET_FS, &fs2) == 0 && fs2 == fs);

	/* futex. */
	static uint32_t word = 5;
	CHECK_ERR(syscall(SYS_futex, &word, FUTEX_WAIT, 4, NULL) == -1, EAGAIN);
	CHECK_ERR(syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 4, NULL) == -1, EAGAIN);
	struct timespec to = {0, 20 * MS};
	long long t0 = mono_ns();
	CHECK_ERR(syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 5, &to) == -1, ETIMEDOUT);
	CHECK(mono_ns() - t0 >= 20 * MS);
	struct timespec zero = {0, 0};
	CHECK_ERR(syscall(SYS_futex, &word, FUTEX_WAIT, 5, &zero) == -1, ETIMEDOUT);
	CHECK(syscall(SYS_futex, &word, FUTEX_WAKE, 1) == 0);
	CHECK(syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 0x7fffffff) == 0);
	struct timespec badto = {0, 1000000000};
	CHECK_ERR(syscall(SYS_futex, &word, FUTEX_WAIT, 5, &badto) == -1, EINVAL);
	struct timespec negto = {-1, 0};
	CHECK_ERR(syscall(SYS_futex, &word, FUTEX_WAIT, 5, &negto) == -1, EINVAL);
	CHECK_ERR(syscall(SYS_futex, &word, FUTEX_WAIT, 5, (void *)8) == -1, EFAULT);
	CHECK_ERR(syscall(SYS_futex, (char *)&word + 1, FUTEX_WAIT, 5, NULL) == -1, EINVAL);
	CHECK_ERR(syscall(SYS_futex, KERNEL_PTR, FUTEX_WAIT, 5, NULL) == -1, EFAULT);
	CHECK_ERR(syscall(SYS_futex, (void *)8, FUTEX_WAIT, 5, NULL) == -1, EFAULT);
	CHECK_ERR(syscall(SYS_futex, &word, FUTEX_WAIT | FUTEX_CLOCK_REALTIME, 5, &to) == -1, ENOSYS);
	CHECK_ERR(syscall(SYS_futex, &word, 99, 5, NULL) == -1, ENOSYS);

	/* Signals: accepted, never delivered. */
	sigset_t set, old;
	sigfillset(&set);
	CHECK(sigprocmask(SIG_BLOCK, &set, &old) == 0);
	CHECK(sigprocmask(SIG_SETMASK, &old, NULL) == 0);
	CHECK(sigprocmask(SIG_UNBLOCK, NULL, &old) == 0);
	if (alder)
		CHECK(sigismember(&old, SIGINT) == 0);
	uint64_t kset = 0;
	CHECK_ERR(syscall(SYS_rt_sigprocmask, SIG_BLOCK, &kset, NULL, 4) == -1, EINVAL);
	CHECK_ERR(syscall(SYS_rt_sigprocmask, 7, &kset, NULL, 8) == -1, EINVAL);
	CHECK_ERR(syscall(SYS_rt_sigprocmask, SIG_BLOCK, (void *)8, NULL, 8) == -1, EFAULT);
	CHECK_ERR(syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, KERNEL_PTR, 8) == -1, EFAULT);
	struct sigaction sa, osa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	CHECK(sigaction(SIGPIPE, &sa, &osa) == 0);
	CHECK(sigaction(SIGPIPE, NULL, &osa) == 0);
	CHECK_ERR(sigaction(SIGKILL, &sa, NULL) == -1, EINVAL);
	CHECK(sigaction(SIGKILL, NULL, &osa) == 0);
	uint64_t kact[4] = {0, 0, 0, 0};
	CHECK_ERR(syscall(SYS_rt_sigaction, 0, kact, NULL, 8) == -1, EINVAL);
	CHECK_ERR(syscall(SYS_rt_sigaction, 65, kact, NULL, 8) == -1, EINVAL);
	CHECK_ERR(syscall(SYS_rt_sigaction, SIGINT, kact, NULL, 16) == -1, EINVAL);
	CHECK_ERR(syscall(SYS_rt_sigaction, SIGINT, (void *)8, NULL, 8) == -1, EFAULT);
	CHECK_ERR(syscall(SYS_rt_sigaction, SIGINT, NULL, KERNEL_PTR, 8) == -1, EFAULT);

	/* Outside the list: -ENOSYS, and the process lives on. */
	CHECK_ERR(syscall(400) == -1, ENOSYS); /* unassigned on Linux too */
	CHECK_ERR(syscall(511) == -1, ENOSYS);
	CHECK_ERR(syscall(0x3fffffff) == -1, ENOSYS);
	if (alder) {
		char c;
		CHECK_ERR(read(0, &c, 1) == -1, ENOSYS);
		CHECK_ERR(syscall(SYS_getuid) == -1, ENOSYS);
		CHECK_ERR(syscall(SYS_getppid) == -1, ENOSYS);
		CHECK_ERR(madvise(two, PG, MADV_DONTNEED) == -1, ENOSYS);
		CHECK_ERR(syscall(SYS_clone, 0, 0, 0, 0, 0) == -1, ENOSYS);
		/* No file descriptors: mapping fds 1 and 2 (write-only) is EACCES. */
		CHECK_ERR(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, 1, 0) == MAP_FAILED, EACCES);
	}
	CHECK(munmap(two, PG) == 0);

	printf("musl syscalls: all checks passed%s\n", alder ? " (with the shim's own)" : "");
	return 0;
}
