/*
 * The Linux system-call shim for processes without a supervisor
 * (docs/LINUX_SHIM.md is the contract; keep the two in step).
 *
 * Native servers are C programs statically linked with musl. musl makes a
 * handful of Linux system calls for itself — memory mapping, stdout, exit,
 * futexes, the thread pointer, clocks — and this file answers exactly those,
 * with the semantics and error codes Linux x86_64 gives. Every other number
 * below ALDER_SYS_BASE returns -ENOSYS; numbers at or above it that are not
 * native calls are not Linux calls at all, and the dispatcher kills the
 * process for them (syscall.c).
 *
 * Not for: the Linux personality of POSIX programs. That is the POSIX
 * server's job, through observation: syscall_dispatch() hands a supervised
 * process's foreign system calls to its supervisor, never to this file.
 *
 * Also here: linux_build_initial_stack(), the argc/argv/envp/auxv block that
 * a Linux _start (musl's crt1) reads at process entry.
 *
 * The Linux constants below are Linux's ABI, not Alder's: user space takes
 * them from its libc's headers, so they are not in abi/.
 */
#include <kern/linux_shim.h>
#include <kern/clock.h>
#include <kern/elf.h>
#include <kern/futex.h>
#include <kern/heap.h>
#include <kern/log.h>
#include <kern/process.h>
#include <kern/random.h>
#include <kern/string.h>
#include <kern/thread.h>
#include <kern/uaccess.h>
#include <kern/vmspace.h>
#include <alder/errno.h>
#include <alder/syscall.h>
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/trap.h>

/* Linux x86_64 system-call numbers the shim answers. */
#define LNX_write 1
#define LNX_mmap 9
#define LNX_mprotect 10
#define LNX_munmap 11
#define LNX_brk 12
#define LNX_rt_sigaction 13
#define LNX_rt_sigprocmask 14
#define LNX_ioctl 16
#define LNX_writev 20
#define LNX_sched_yield 24
#define LNX_mremap 25
#define LNX_nanosleep 35
#define LNX_getpid 39
#define LNX_exit 60
#define LNX_arch_prctl 158
#define LNX_gettid 186
#define LNX_futex 202
#define LNX_set_tid_address 218
#define LNX_clock_gettime 228
#define LNX_clock_nanosleep 230
#define LNX_exit_group 231

/* mmap */
#define LNX_PROT_READ 0x1
#define LNX_PROT_WRITE 0x2
#define LNX_PROT_EXEC 0x4
#define LNX_PROT_SEM 0x8 /* accepted and ignored on x86, like Linux */
#define LNX_PROT_GROWSDOWN 0x01000000
#define LNX_PROT_GROWSUP 0x02000000
#define LNX_MAP_SHARED 0x01
#define LNX_MAP_PRIVATE 0x02
#define LNX_MAP_SHARED_VALIDATE 0x03
#define LNX_MAP_TYPE 0x0f
#define LNX_MAP_FIXED 0x10
#define LNX_MAP_ANONYMOUS 0x20
#define LNX_MAP_32BIT 0x40
#define LNX_MAP_HUGETLB 0x40000
#define LNX_MAP_FIXED_NOREPLACE 0x100000
#define LNX_MREMAP_MAYMOVE 1
#define LNX_MREMAP_FIXED 2
#define LNX_MREMAP_DONTUNMAP 4
/* Linux's TASK_SIZE_MAX: the last user page is never mapped. */
#define LNX_TASK_SIZE (USER_TOP - PAGE_SIZE)
/* vm.mmap_min_addr's usual value: MAP_FIXED below it is -EPERM. */
#define LNX_MMAP_MIN_ADDR 0x10000ull

/* futex */
#define LNX_FUTEX_WAIT 0
#define LNX_FUTEX_WAKE 1
#define LNX_FUTEX_PRIVATE_FLAG 128
#define LNX_FUTEX_CLOCK_REALTIME 256

/* arch_prctl */
#define LNX_ARCH_SET_FS 0x1002
#define LNX_ARCH_GET_FS 0x1003

/* clocks */
#define LNX_CLOCK_REALTIME 0
#define LNX_CLOCK_MONOTONIC 1
#define LNX_CLOCK_MONOTONIC_RAW 4
#define LNX_CLOCK_REALTIME_COARSE 5
#define LNX_CLOCK_MONOTONIC_COARSE 6
#define LNX_CLOCK_BOOTTIME 7
#define LNX_TIMER_ABSTIME 1

/* signals */
#define LNX_NSIG 64
#define LNX_SIGKILL 9
#define LNX_SIGSTOP 19
#define LNX_SIGSET_SIZE 8
#define LNX_SIG_BLOCK 0
#define LNX_SIG_SETMASK 2

/* write/writev */
#define LNX_UIO_MAXIOV 1024
/* Per call at most this much reaches the log; the rest is a short write,
 * which callers of write(2) must handle anyway (musl's stdio does). */
#define LNX_WRITE_MAX (64 * 1024)

/* Timeouts are cut to this (146 years), so deadlines never overflow. */
#define LNX_TIMEOUT_MAX_NS (1ull << 62)
#define NS_PER_SEC 1000000000ull

/* auxv tags (Linux include/uapi/linux/auxvec.h). */
#define AT_NULL 0
#define AT_PHDR 3
#define AT_PHENT 4
#define AT_PHNUM 5
#define AT_PAGESZ 6
#define AT_ENTRY 9
#define AT_UID 11
#define AT_EUID 12
#define AT_GID 13
#define AT_EGID 14
#define AT_HWCAP 16
#define AT_CLKTCK 17
#define AT_SECURE 23
#define AT_RANDOM 25
#define AT_EXECFN 31

struct lnx_timespec {
	int64_t tv_sec;
	int64_t tv_nsec;
};

struct lnx_iovec {
	uint64_t base;
	uint64_t len;
};

/* The kernel's struct sigaction for rt_sigaction (handler, flags, restorer, mask). */
struct lnx_sigaction {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};
_Static_assert(sizeof(struct lnx_sigaction) == 32, "Linux x86_64 struct sigaction is 32 bytes");

/* ---- helpers ---------------------------------------------------------- */

/* Copy in and check a timespec: -EFAULT, -EINVAL (negative, or tv_nsec out
 * of [0, 1e9)), else 0 with *ns (cut to LNX_TIMEOUT_MAX_NS). */
static int get_timespec(uint64_t uts, uint64_t *ns)
{
	struct lnx_timespec ts;
	if (copy_from_user(&ts, uts, sizeof(ts)))
		return -ALDER_EFAULT;
	if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= (int64_t)NS_PER_SEC)
		return -ALDER_EINVAL;
	if ((uint64_t)ts.tv_sec >= LNX_TIMEOUT_MAX_NS / NS_PER_SEC)
		*ns = LNX_TIMEOUT_MAX_NS;
	else
		*ns = (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
	return 0;
}

static int put_timespec(uint64_t uts, uint64_t ns)
{
	struct lnx_timespec ts = {(int64_t)(ns / NS_PER_SEC), (int64_t)(ns % NS_PER_SEC)};
	return copy_to_user(uts, &ts, sizeof(ts));
}

/*
 * Linux takes fds, clock ids, signal numbers and the like as 32-bit ints and
 * ignores the upper half of the register; so does the shim (the casts to
 * int32_t/uint32_t below).
 */
static bool fd_is_log(uint64_t fd)
{
	return (uint32_t)fd == 1 || (uint32_t)fd == 2;
}

/* ---- write, writev, ioctl --------------------------------------------- */

/*
 * Copy [ubuf, ubuf+len) to the log in chunks. Returns bytes written; a fault
 * part-way stops the copy (every byte before the faulting page has been
 * logged: chunks never cross a page), and *fault is set. Like a Linux tty,
 * not all-or-nothing.
 */
static uint64_t log_user_bytes(uint64_t ubuf, uint64_t len, bool *fault)
{
	char chunk[256];
	uint64_t done = 0;
	while (done < len) {
		uint64_t to_page_end = PAGE_SIZE - ((ubuf + done) & (PAGE_SIZE - 1));
		size_t n = MIN(MIN(sizeof(chunk), len - done), to_page_end);
		if (copy_from_user(chunk, ubuf + done, n)) {
			*fault = true;
			break;
		}
		klog_write(chunk, n);
		done += n;
	}
	return done;
}

static long lnx_write(uint64_t fd, uint64_t ubuf, uint64_t count)
{
	if (!fd_is_log(fd))
		return -ALDER_EBADF;
	if (!uaccess_range_ok(ubuf, count))
		return -ALDER_EFAULT; /* Linux's access_ok() */
	bool fault = false;
	uint64_t n = log_user_bytes(ubuf, MIN(count, LNX_WRITE_MAX), &fault);
	return n == 0 && fault ? -ALDER_EFAULT : (long)n;
}

static long lnx_writev(uint64_t fd, uint64_t uiov, uint64_t iovcnt)
{
	if (!fd_is_log(fd))
		return -ALDER_EBADF;
	/* iovcnt is an int: negative or above UIO_MAXIOV is -EINVAL. */
	if ((int64_t)(int32_t)iovcnt < 0 || (uint32_t)iovcnt > LNX_UIO_MAXIOV)
		return -ALDER_EINVAL;
	uint32_t cnt = (uint32_t)iovcnt;
	if (cnt == 0)
		return 0;
	if (!uaccess_range_ok(uiov, (uint64_t)cnt * sizeof(struct lnx_iovec)))
		return -ALDER_EFAULT;
	/* Check every vector before writing any (Linux's import_iovec). */
	for (uint32_t i = 0; i < cnt; i++) {
		struct lnx_iovec v;
		if (copy_from_user(&v, uiov + i * sizeof(v), sizeof(v)))
			return -ALDER_EFAULT;
		if ((int64_t)v.len < 0)
			return -ALDER_EINVAL;
		if (!uaccess_range_ok(v.base, v.len))
			return -ALDER_EFAULT;
	}
	/*
	 * --- point of no return: bytes reach the log ---
	 * Another thread may change the vectors meanwhile; they are re-read,
	 * and a fault now ends the write short, as on Linux.
	 */
	uint64_t done = 0;
	bool fault = false;
	for (uint32_t i = 0; i < cnt && !fault && done < LNX_WRITE_MAX; i++) {
		struct lnx_iovec v;
		if (copy_from_user(&v, uiov + i * sizeof(v), sizeof(v))) {
			fault = true;
			break;
		}
		done += log_user_bytes(v.base, MIN(v.len, LNX_WRITE_MAX - done), &fault);
	}
	return done == 0 && fault ? -ALDER_EFAULT : (long)done;
}

/* The log is not a terminal: every request on fds 1 and 2 is -ENOTTY
 * (musl asks TIOCGWINSZ to pick line buffering for stdout). */
static long lnx_ioctl(uint64_t fd, uint64_t req, uint64_t arg)
{
	return fd_is_log(fd) ? -ALDER_ENOTTY : -ALDER_EBADF;
}

/* ---- memory ----------------------------------------------------------- */

static bool prot_valid(uint64_t prot)
{
	return (prot & ~(uint64_t)(LNX_PROT_READ | LNX_PROT_WRITE | LNX_PROT_EXEC | LNX_PROT_SEM)) == 0;
}

static unsigned vm_prot(uint64_t prot)
{
	return ((prot & LNX_PROT_READ) ? VM_PROT_READ : 0) | ((prot & LNX_PROT_WRITE) ? VM_PROT_WRITE : 0) |
	       ((prot & LNX_PROT_EXEC) ? VM_PROT_EXEC : 0);
}

/* A page-rounded length, or 0 when len is 0 or rounding overflows. */
static uint64_t page_len(uint64_t len)
{
	if (len > UINT64_MAX - (PAGE_SIZE - 1))
		return 0;
	return ALIGN_UP(len, PAGE_SIZE);
}

static long lnx_mmap(uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags, uint64_t fd, uint64_t off)
{
	/* Checks in the order Linux makes them (sys_mmap, ksys_mmap_pgoff, do_mmap). */
	if (off & (PAGE_SIZE - 1))
		return -ALDER_EINVAL;
	if (!(flags & LNX_MAP_ANONYMOUS))
		/* No file can be mapped: fds 1 and 2 are write-only (Linux:
		 * -EACCES), no other fd is open. */
		return fd_is_log(fd) ? -ALDER_EACCES : -ALDER_EBADF;
	if (len == 0)
		return -ALDER_EINVAL;
	uint64_t size = page_len(len);
	if (size == 0 || size > LNX_TASK_SIZE)
		return -ALDER_ENOMEM;
	switch (flags & LNX_MAP_TYPE) {
	case LNX_MAP_PRIVATE:
	case LNX_MAP_SHARED: /* no fork here: nobody else can see the pages */
	case LNX_MAP_SHARED_VALIDATE:
		break;
	default:
		return -ALDER_EINVAL;
	}
	/* Unlike mprotect, Linux's mmap ignores unknown prot bits: so does
	 * vm_prot() below. */
	if (flags & (LNX_MAP_32BIT | LNX_MAP_HUGETLB))
		return -ALDER_ENOMEM; /* no low-2-GiB allocator, no huge-page pool */

	struct vmspace *s = proc_current()->space;
	bool fixed = flags & (LNX_MAP_FIXED | LNX_MAP_FIXED_NOREPLACE);
	if (fixed) {
		if (addr & (PAGE_SIZE - 1))
			return -ALDER_EINVAL;
		if (addr > LNX_TASK_SIZE - size)
			return -ALDER_ENOMEM;
		if (addr < LNX_MMAP_MIN_ADDR)
			return -ALDER_EPERM;
	} else if (addr) {
		/* A hint: used when the range is free, else ignored. */
		addr = ALIGN_UP(MAX(addr, LNX_MMAP_MIN_ADDR), PAGE_SIZE);
		if (addr > LNX_TASK_SIZE - size)
			addr = 0;
	}

	struct memobj *m = memobj_create_anon(size);
	if (!m)
		return -ALDER_ENOMEM;
	/* MAP_FIXED replaces whatever is there. Not atomic with the map: like
	 * Linux, a failure after this leaves the range unmapped. */
	int64_t r = 0;
	if ((flags & LNX_MAP_FIXED) && !(flags & LNX_MAP_FIXED_NOREPLACE))
		r = vmspace_unmap(s, addr, size);
	if (!r)
		r = vmspace_map(s, m, 0, addr, size, vm_prot(prot));
	if (r == -ALDER_EEXIST && !fixed)
		r = vmspace_map(s, m, 0, 0, size, vm_prot(prot)); /* the hint was taken */
	/* The mapping holds its own reference. */
	kobj_put((struct kobj *)m);
	return r;
}

static long lnx_munmap(uint64_t addr, uint64_t len)
{
	if (addr & (PAGE_SIZE - 1))
		return -ALDER_EINVAL;
	uint64_t size = page_len(len);
	if (size == 0 || size > LNX_TASK_SIZE || addr > LNX_TASK_SIZE - size)
		return -ALDER_EINVAL;
	return vmspace_unmap(proc_current()->space, addr, size);
}

static long lnx_mprotect(uint64_t addr, uint64_t len, uint64_t prot)
{
	uint64_t grows = prot & (LNX_PROT_GROWSDOWN | LNX_PROT_GROWSUP);
	prot &= ~grows;
	if (grows == (LNX_PROT_GROWSDOWN | LNX_PROT_GROWSUP))
		return -ALDER_EINVAL;
	if (addr & (PAGE_SIZE - 1))
		return -ALDER_EINVAL;
	if (len == 0)
		return 0;
	uint64_t size = page_len(len);
	if (size == 0 || addr + size < addr)
		return -ALDER_ENOMEM;
	if (!prot_valid(prot))
		return -ALDER_EINVAL;
	if (grows)
		return -ALDER_EINVAL; /* no grows-down mappings exist */
	if (addr >= USER_TOP || size > USER_TOP - addr)
		return -ALDER_ENOMEM; /* nothing is mapped there */
	return vmspace_protect(proc_current()->space, addr, size, vm_prot(prot));
}

/* Not implemented: well-formed requests fail with -ENOMEM, which makes
 * musl's realloc fall back to malloc, copy, free. */
static long lnx_mremap(uint64_t old_addr, uint64_t old_len, uint64_t new_len, uint64_t flags)
{
	if (flags & ~(uint64_t)(LNX_MREMAP_MAYMOVE | LNX_MREMAP_FIXED | LNX_MREMAP_DONTUNMAP))
		return -ALDER_EINVAL;
	if ((flags & LNX_MREMAP_FIXED) && !(flags & LNX_MREMAP_MAYMOVE))
		return -ALDER_EINVAL;
	if (old_addr & (PAGE_SIZE - 1))
		return -ALDER_EINVAL;
	if (page_len(new_len) == 0)
		return -ALDER_EINVAL;
	return -ALDER_ENOMEM;
}

/* ---- process, thread, TLS --------------------------------------------- */

/*
 * Linux exit(): ends the calling thread; when it is the last one the
 * process ends with this status. Racy only between two threads exiting at
 * once (both see two threads): then the process ends with status 0. The
 * shim has no clone, so musl programs never have a second thread.
 */
static __noreturn void lnx_exit(uint64_t status)
{
	struct process *p = proc_current();
	if (__atomic_load_n(&p->nthreads, __ATOMIC_ACQUIRE) <= 1)
		process_exit(ALDER_EXIT_NORMAL, (int)(status & 0xff), 0);
	thread_exit();
}

static long lnx_arch_prctl(uint64_t code, uint64_t addr)
{
	struct thread *t = thread_current();
	switch ((int32_t)code) {
	case LNX_ARCH_SET_FS: {
		if (addr >= LNX_TASK_SIZE)
			return -ALDER_EPERM; /* also keeps wrmsr from faulting on a non-canonical value */
		/* With interrupts off, so that a switch cannot save the old MSR
		 * value over the new fs_base (sched.c saves it on switch-out). */
		unsigned long f = irq_save();
		t->fs_base = addr;
		wrmsr(MSR_FS_BASE, addr);
		irq_restore(f);
		return 0;
	}
	case LNX_ARCH_GET_FS: {
		unsigned long f = irq_save();
		uint64_t base = rdmsr(MSR_FS_BASE);
		irq_restore(f);
		return copy_to_user(addr, &base, sizeof(base));
	}
	default:
		return -ALDER_EINVAL; /* ARCH_SET_GS & co: GS belongs to the kernel */
	}
}

/*
 * The pointer is not kept: Linux uses it to clear the tid and wake a futex
 * when a clone()d thread exits, and the shim has no clone.
 */
static long lnx_set_tid_address(uint64_t tidptr)
{
	return thread_current()->tid;
}

/* ---- futex ------------------------------------------------------------ */

static long lnx_futex(uint64_t uaddr, uint64_t op, uint64_t val, uint64_t utimeout)
{
	uint32_t cmd = (uint32_t)op & ~(uint32_t)(LNX_FUTEX_PRIVATE_FLAG | LNX_FUTEX_CLOCK_REALTIME);
	/* Private and shared futexes are the same here: keyed by physical
	 * address, which is right for both. */
	if (op & LNX_FUTEX_CLOCK_REALTIME)
		return -ALDER_ENOSYS; /* Linux: only for the *_BITSET and PI commands */
	struct vmspace *s = proc_current()->space;
	switch (cmd) {
	case LNX_FUTEX_WAIT: {
		uint64_t deadline = 0; /* none */
		if (utimeout) {
			uint64_t ns;
			int r = get_timespec(utimeout, &ns);
			if (r)
				return r;
			deadline = clock_ns() + ns;
		}
		return futex_wait(s, uaddr, (uint32_t)val, deadline);
	}
	case LNX_FUTEX_WAKE: {
		/* val is an int; Linux wakes at least one for 0 and negatives. */
		int32_t n = (int32_t)val;
		return futex_wake(s, uaddr, n <= 0 ? 1u : (uint32_t)n);
	}
	default:
		return -ALDER_ENOSYS;
	}
}

/* ---- time ------------------------------------------------------------- */

/*
 * Every supported clock reads the monotonic clock (ns since boot). There is
 * no wall-clock time yet, so CLOCK_REALTIME is the monotonic clock too: it
 * starts near 1970-01-01 at boot. The CPU-time clocks are not supported.
 */
static bool clock_supported(uint64_t clk)
{
	switch ((int32_t)clk) {
	case LNX_CLOCK_REALTIME:
	case LNX_CLOCK_MONOTONIC:
	case LNX_CLOCK_MONOTONIC_RAW:
	case LNX_CLOCK_REALTIME_COARSE:
	case LNX_CLOCK_MONOTONIC_COARSE:
	case LNX_CLOCK_BOOTTIME:
		return true;
	default:
		return false;
	}
}

static long lnx_clock_gettime(uint64_t clk, uint64_t uts)
{
	if (!clock_supported(clk))
		return -ALDER_EINVAL;
	return put_timespec(uts, clock_ns());
}

/* Sleep until deadline; on -EINTR (the process is being killed) write the
 * time left to urem if given. */
static long sleep_until(uint64_t deadline, uint64_t urem)
{
	int r = thread_sleep_until(deadline);
	if (r == -ALDER_EINTR && urem) {
		uint64_t now = clock_ns();
		put_timespec(urem, deadline > now ? deadline - now : 0);
	}
	return r;
}

static long lnx_nanosleep(uint64_t ureq, uint64_t urem)
{
	uint64_t ns;
	int r = get_timespec(ureq, &ns);
	if (r)
		return r;
	return sleep_until(clock_ns() + ns, urem);
}

static long lnx_clock_nanosleep(uint64_t clk, uint64_t flags, uint64_t ureq, uint64_t urem)
{
	switch ((int32_t)clk) {
	case LNX_CLOCK_REALTIME:
	case LNX_CLOCK_MONOTONIC:
	case LNX_CLOCK_BOOTTIME:
		break;
	case LNX_CLOCK_MONOTONIC_RAW:
	case LNX_CLOCK_REALTIME_COARSE:
	case LNX_CLOCK_MONOTONIC_COARSE:
		return -ALDER_ENOTSUP; /* Linux cannot sleep on these either */
	default:
		return -ALDER_EINVAL;
	}
	uint64_t ns;
	int r = get_timespec(ureq, &ns);
	if (r)
		return r;
	if ((uint32_t)flags & LNX_TIMER_ABSTIME)
		return sleep_until(ns, 0); /* Linux writes no remainder for absolute sleeps */
	return sleep_until(clock_ns() + ns, urem);
}

/* ---- signals (there are none) ----------------------------------------- */

/* Accepted and forgotten: no signal is ever delivered. The old mask reads
 * back empty. */
static long lnx_rt_sigprocmask(uint64_t how, uint64_t uset, uint64_t uold, uint64_t sigsetsize)
{
	if (sigsetsize != LNX_SIGSET_SIZE)
		return -ALDER_EINVAL;
	if (uset) {
		uint64_t set;
		if (copy_from_user(&set, uset, sizeof(set)))
			return -ALDER_EFAULT;
		if ((uint32_t)how > LNX_SIG_SETMASK)
			return -ALDER_EINVAL;
	}
	if (uold) {
		uint64_t none = 0;
		if (copy_to_user(uold, &none, sizeof(none)))
			return -ALDER_EFAULT;
	}
	return 0;
}

/* Accepted and forgotten; the old action reads back as SIG_DFL. */
static long lnx_rt_sigaction(uint64_t sig, uint64_t uact, uint64_t uold, uint64_t sigsetsize)
{
	if (sigsetsize != LNX_SIGSET_SIZE)
		return -ALDER_EINVAL;
	int32_t signo = (int32_t)sig;
	if (signo < 1 || signo > LNX_NSIG)
		return -ALDER_EINVAL;
	if (uact) {
		struct lnx_sigaction act;
		if (copy_from_user(&act, uact, sizeof(act)))
			return -ALDER_EFAULT;
		if (signo == LNX_SIGKILL || signo == LNX_SIGSTOP)
			return -ALDER_EINVAL;
	}
	if (uold) {
		struct lnx_sigaction dfl = {0, 0, 0, 0};
		if (copy_to_user(uold, &dfl, sizeof(dfl)))
			return -ALDER_EFAULT;
	}
	return 0;
}

/* ---- dispatch --------------------------------------------------------- */

/*
 * Called by syscall_dispatch for every number outside the native table.
 * Numbers below ALDER_SYS_BASE are Linux's: answered here (-ENOSYS when not
 * in the list). Anything else returns false: the process is killed for a
 * bad system call.
 */
bool linux_shim_dispatch(struct trap_frame *f)
{
	uint64_t nr = f->rax;
	uint64_t a0 = f->rdi, a1 = f->rsi, a2 = f->rdx, a3 = f->r10, a4 = f->r8, a5 = f->r9;
	struct process *p = proc_current();
	long r;

	if (nr >= ALDER_SYS_BASE || !p)
		return false;
	switch (nr) {
	case LNX_write:
		r = lnx_write(a0, a1, a2);
		break;
	case LNX_writev:
		r = lnx_writev(a0, a1, a2);
		break;
	case LNX_ioctl:
		r = lnx_ioctl(a0, a1, a2);
		break;
	case LNX_mmap:
		r = lnx_mmap(a0, a1, a2, a3, a4, a5);
		break;
	case LNX_munmap:
		r = lnx_munmap(a0, a1);
		break;
	case LNX_mprotect:
		r = lnx_mprotect(a0, a1, a2);
		break;
	case LNX_mremap:
		r = lnx_mremap(a0, a1, a2, a3);
		break;
	case LNX_brk:
		r = 0; /* no heap segment: the break stays at 0, malloc uses mmap */
		break;
	case LNX_exit:
		lnx_exit(a0);
	case LNX_exit_group:
		process_exit(ALDER_EXIT_NORMAL, (int)(a0 & 0xff), 0);
	case LNX_futex:
		r = lnx_futex(a0, a1, a2, a3);
		break;
	case LNX_arch_prctl:
		r = lnx_arch_prctl(a0, a1);
		break;
	case LNX_set_tid_address:
		r = lnx_set_tid_address(a0);
		break;
	case LNX_getpid:
		r = p->pid;
		break;
	case LNX_gettid:
		r = thread_current()->tid;
		break;
	case LNX_sched_yield:
		sched_yield();
		r = 0;
		break;
	case LNX_clock_gettime:
		r = lnx_clock_gettime(a0, a1);
		break;
	case LNX_nanosleep:
		r = lnx_nanosleep(a0, a1);
		break;
	case LNX_clock_nanosleep:
		r = lnx_clock_nanosleep(a0, a1, a2, a3);
		break;
	case LNX_rt_sigprocmask:
		r = lnx_rt_sigprocmask(a0, a1, a2, a3);
		break;
	case LNX_rt_sigaction:
		r = lnx_rt_sigaction(a0, a1, a2, a3);
		break;
	default:
		log_debug("linux shim: system call %lu from process %u (%s): ENOSYS", nr, p->pid, p->name);
		r = -ALDER_ENOSYS;
		break;
	}
	f->rax = (uint64_t)r;
	return true;
}

/* ---- the initial stack ------------------------------------------------ */

/* ELF64 header fields musl needs through the auxiliary vector. */
#define EH_PHOFF 32
#define EH_PHENTSIZE 54
#define EH_PHNUM 56
#define EH_SIZE 64
#define PHDR_SIZE 56
/* At most this many program-header bytes are copied onto the stack when no
 * segment maps them. */
#define PHDR_COPY_MAX 1024

/* Most bytes the block below can take (stack strings and vectors). */
#define LINUX_STACK_BLOCK_MAX (2 * PAGE_SIZE + PHDR_COPY_MAX)

/*
 * Lay out, from stack_top down (Linux x86_64 process entry, as musl's
 * _start_c reads it; the System V ABI AMD64 supplement, "Initial Stack"):
 *
 *   stack_top ->  16 bytes of zero
 *                 path\0, arg\0, 16 random bytes, [program headers copy]
 *                 (padding to 16)
 *                 AT_NULL pair, ..., first auxv pair
 *                 NULL                (end of envp: the environment is empty)
 *                 NULL                (argv[argc])
 *                 argv[1] -> arg      (only when arg_len > 0)
 *                 argv[0] -> path
 *   rsp ->        argc                (rsp is 16-byte aligned)
 *
 * Native ulib programs ignore the block: they take rdi = *arg_out (the
 * NUL-terminated arg string) and rsi = arg_len as before.
 *
 * s: the new process's space, with a writable stack mapped below stack_top
 * (at least LINUX_STACK_BLOCK_MAX bytes). path: NUL-terminated, at most 255
 * bytes; arg: arg_len bytes (at most 4000), no NUL inside. elf/elf_len: the
 * file that elf_parse() accepted as img (its program headers are found from
 * the file's header: musl walks them for PT_TLS, so AT_PHDR must point at
 * them in the new process's memory).
 *
 * Returns 0 with *rsp_out and *arg_out set; -ALDER_E2BIG when the strings
 * are too long, -ALDER_EINVAL when stack_top is not 16-byte aligned user
 * space, -ALDER_ENOMEM, or vmspace_rw()'s error when the top of the stack
 * is not mapped writable.
 */
long linux_build_initial_stack(struct vmspace *s, uint64_t stack_top, const char *path, const char *arg,
			       size_t arg_len, const void *elf, size_t elf_len, const struct elf_image *img,
			       uint64_t *rsp_out, uint64_t *arg_out)
{
	size_t path_len = strnlen(path, 256);
	if (path_len > 255 || arg_len > 4000)
		return -ALDER_E2BIG;
	if ((stack_top & 15) || stack_top < LINUX_STACK_BLOCK_MAX || stack_top > USER_TOP)
		return -ALDER_EINVAL;

	/* Program headers: in memory if a PT_LOAD maps them (the usual case:
	 * the first segment starts at file offset 0), else copied. */
	const uint8_t *file = elf;
	uint64_t phoff = 0, phent = 0, phnum = 0, phdr_addr = 0;
	if (elf_len >= EH_SIZE) {
		uint16_t e, n;
		memcpy(&phoff, file + EH_PHOFF, 8);
		memcpy(&e, file + EH_PHENTSIZE, 2);
		memcpy(&n, file + EH_PHNUM, 2);
		phent = e;
		phnum = n;
		if (phent != PHDR_SIZE || phoff > elf_len || phnum * phent > elf_len - phoff)
			phnum = 0; /* elf_parse would not have accepted it; be safe anyway */
	}
	uint64_t phsize = phnum * phent;
	for (size_t i = 0; i < img->nsegments && phnum && !phdr_addr; i++) {
		const struct elf_segment *seg = &img->segments[i];
		if (phoff >= seg->offset && phoff - seg->offset <= seg->filesz &&
		    phsize <= seg->filesz - (phoff - seg->offset))
			phdr_addr = seg->vaddr + (phoff - seg->offset);
	}
	bool copy_phdrs = phnum && !phdr_addr && phsize <= PHDR_COPY_MAX;
	if (phnum && !phdr_addr && !copy_phdrs)
		phnum = 0; /* AT_PHNUM 0: musl then finds no TLS segment */

	uint8_t *buf = kzalloc(LINUX_STACK_BLOCK_MAX);
	if (!buf)
		return -ALDER_ENOMEM;
	/* buf[i] will be at user address base + i; fill from the end. */
	uint64_t base = stack_top - LINUX_STACK_BLOCK_MAX;
	size_t at = LINUX_STACK_BLOCK_MAX - 16;
#define PUSH_BYTES(src, n) (at -= (n), memcpy(buf + at, (src), (n)), base + at)
	uint64_t u_path = PUSH_BYTES(path, path_len + 1);
	at--; /* the arg's NUL */
	uint64_t u_arg = PUSH_BYTES(arg, arg_len);
	uint8_t rnd[16]; /* AT_RANDOM: musl's stack canary seed */
	random_bytes(rnd, sizeof(rnd));
	uint64_t u_random = PUSH_BYTES(rnd, sizeof(rnd));
	if (copy_phdrs) {
		at = ALIGN_DOWN(at, 8);
		phdr_addr = PUSH_BYTES(file + phoff, phsize);
	}
#undef PUSH_BYTES

	uint32_t hwcap, unused_b, unused_c, unused_a;
	cpuid(1, 0, &unused_a, &unused_b, &unused_c, &hwcap);
	/* clang-format off */
	const uint64_t auxv[][2] = {
		{ AT_PHDR, phdr_addr },
		{ AT_PHENT, phent },
		{ AT_PHNUM, phnum },
		{ AT_PAGESZ, PAGE_SIZE },
		{ AT_ENTRY, img->entry },
		{ AT_UID, 0 },
		{ AT_EUID, 0 },
		{ AT_GID, 0 },
		{ AT_EGID, 0 },
		{ AT_SECURE, 0 },
		{ AT_HWCAP, hwcap },
		{ AT_CLKTCK, 100 },
		{ AT_RANDOM, u_random },
		{ AT_EXECFN, u_path },
		{ AT_NULL, 0 },
	};
	/* clang-format on */
	uint64_t argc = arg_len ? 2 : 1;
	/* argc, argv[0..argc-1], NULL, envp NULL, then the auxv pairs. */
	size_t words = 1 + argc + 1 + 1 + 2 * ARRAY_SIZE(auxv);
	at = ALIGN_DOWN(at - words * 8, 16);
	uint64_t *w = (uint64_t *)(buf + at);
	size_t k = 0;
	w[k++] = argc;
	w[k++] = u_path;
	if (arg_len)
		w[k++] = u_arg;
	w[k++] = 0;
	w[k++] = 0;
	for (size_t i = 0; i < ARRAY_SIZE(auxv); i++) {
		w[k++] = auxv[i][0];
		w[k++] = auxv[i][1];
	}

	size_t used = LINUX_STACK_BLOCK_MAX - at;
	int r = vmspace_rw(s, base + at, buf + at, used, true);
	kfree(buf);
	if (r)
		return r;
	*rsp_out = base + at;
	*arg_out = u_arg;
	return 0;
}
