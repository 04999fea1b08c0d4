/*
 * ulib: the minimal freestanding runtime for native Alder user programs
 * until a libc exists. Provides the process entry (crt0.S), raw system-call
 * stubs and typed wrappers for abi/alder/syscall.h, string functions, a small
 * printf, TSC/atomic helpers, and helpers to run a child program.
 *
 * Not a libc: no heap, no stdio buffering, no errno variable. Every call
 * returns the kernel's result directly (>= 0, or -ALDER_E* on error).
 * Thread safety: everything here is reentrant (no hidden global state), so
 * any thread may call anything.
 */
#ifndef ULIB_H
#define ULIB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

#include <alder/errno.h>
#include <alder/handle.h>
#include <alder/syscall.h>

/* Where user.ld puts the text segment; the first byte of .text. */
#define ULIB_TEXT_BASE ((uint64_t)0x400000)
/* First address the user may not use (kernel half starts here). */
#define ULIB_USER_END ((uint64_t)0x800000000000)
/* The kernel places the 64 KiB initial stack with its top below this. */
#define ULIB_STACK_CEILING ((uint64_t)0x7fff00000000)

/* Symbols defined by lib/ulib/user.ld. */
extern char __text_start[], __text_end[];
extern char __rodata_start[], __rodata_end[];
extern char __data_start[], __bss_start[], __bss_end[], _end[];

/*
 * Program entry: crt0's _start calls main(arg, arg_len) with the argument
 * string given to sys_spawn (NUL-terminated, possibly "") and passes main's
 * result to sys_exit. Every program defines it.
 */
int main(const char *arg, size_t arg_len);

/*
 * Registers as the kernel left them at process entry, saved by _start before
 * it touches anything (index by ULIB_REG_*). The entry contract says all are
 * zero except rdi/rsi (argument) and rsp (16-byte aligned). tests/user/hello
 * checks this.
 */
enum {
	ULIB_REG_RAX,
	ULIB_REG_RBX,
	ULIB_REG_RCX,
	ULIB_REG_RDX,
	ULIB_REG_RSI,
	ULIB_REG_RDI,
	ULIB_REG_RBP,
	ULIB_REG_RSP,
	ULIB_REG_R8,
	ULIB_REG_R9,
	ULIB_REG_R10,
	ULIB_REG_R11,
	ULIB_REG_R12,
	ULIB_REG_R13,
	ULIB_REG_R14,
	ULIB_REG_R15,
	ULIB_REG_COUNT
};
extern uint64_t u_entry_regs[ULIB_REG_COUNT];

/* ---- Raw system calls ------------------------------------------------- */
/*
 * rax = number; arguments in rdi, rsi, rdx, r10, r8, r9; result in rax.
 * SYSCALL clobbers rcx and r11. "memory" because the kernel may read or
 * write any buffer we passed. Numbers are taken as full 64-bit values so
 * that tests can pass anything.
 */
static inline long u_syscall0(uint64_t nr)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr) : "rcx", "r11", "memory");
	return ret;
}

static inline long u_syscall1(uint64_t nr, uint64_t a1)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a1) : "rcx", "r11", "memory");
	return ret;
}

static inline long u_syscall2(uint64_t nr, uint64_t a1, uint64_t a2)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a1), "S"(a2) : "rcx", "r11", "memory");
	return ret;
}

static inline long u_syscall3(uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a1), "S"(a2), "d"(a3) : "rcx", "r11", "memory");
	return ret;
}

static inline long u_syscall4(uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4)
{
	long ret;
	register uint64_t r10 __asm__("r10") = a4;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long u_syscall5(uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	long ret;
	register uint64_t r10 __asm__("r10") = a4;
	register uint64_t r8 __asm__("r8") = a5;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long u_syscall6(uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
			      uint64_t a6)
{
	long ret;
	register uint64_t r10 __asm__("r10") = a4;
	register uint64_t r8 __asm__("r8") = a5;
	register uint64_t r9 __asm__("r9") = a6;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/* ---- Typed wrappers (lib/ulib/syscall.c); see abi/alder/syscall.h ------ */
long sys_log(const char *buf, size_t len);
noreturn void sys_exit(int status);
long sys_yield(void);
long sys_sleep(uint64_t ns);
long sys_clock(uint64_t *ns_out);
long sys_spawn(const char *path, size_t path_len, const char *arg, size_t arg_len);
/* sys_spawn, and the child receives give as its handle 1 (ALDER_HANDLE_BOOTSTRAP). */
long sys_spawn_with(const char *path, size_t path_len, const char *arg, size_t arg_len, alder_handle_t give);
long sys_wait(long pid, struct alder_exit_info *info);
long sys_info(unsigned what, uint64_t *out);
long sys_thread_create(void (*entry)(void *), void *arg, void *stack_top);
noreturn void sys_thread_exit(void);
long sys_shutdown(unsigned code);
long sys_console_read(char *buf, size_t len);

/* ---- Convenience on top of the wrappers (lib/ulib/proc.c) ------------ */
#define U_NS_PER_MS ((uint64_t)1000000)
#define U_NS_PER_SEC ((uint64_t)1000000000)

/* sys_info for one value; returns the value, or fallback if the call failed. */
uint64_t u_info(unsigned what, uint64_t fallback);
/* Monotonic nanoseconds; 0 if sys_clock failed. */
uint64_t u_now_ns(void);

/*
 * Spawn path with arg (both NUL-terminated) and wait for it to end.
 * Returns 0 with *info filled, or a negative errno; *failed_call then names
 * the call that failed ("spawn" or "wait"). failed_call may be NULL.
 */
long u_run(const char *path, const char *arg, struct alder_exit_info *info, const char **failed_call);

/*
 * Start fn(arg) on a new thread of this process, running on the caller-owned
 * stack [stack, stack + size). The stack must stay valid until the thread has
 * ended. The thread ends with sys_thread_exit when fn returns. Returns the tid
 * or a negative errno. Uses a trampoline (u_thread_entry) so that fn gets a
 * correctly aligned C stack whatever the kernel's exact rsp convention.
 */
long u_thread_start(void (*fn)(void *), void *arg, void *stack, size_t size);
/* The same through SYS_THREAD_NEW + ALDER_THREAD_START: returns a handle to
 * the thread (all rights; for SYS_THREAD_CTL) or a negative errno. */
long u_thread_start_handle(void (*fn)(void *), void *arg, void *stack, size_t size);
/* Assembly trampoline in crt0.S; not callable from C. */
void u_thread_entry(void *block);

/* Name of an errno value ("EFAULT"); accepts e or -e; "E?" if unknown. */
const char *u_errname(long err);
/* Name of an exception vector ("#PF"); "#?" if unknown. */
const char *u_vector_name(int vector);
/* Describe how a process ended, e.g. "fault #PF (vector 14) at 0x0". */
int u_format_exit(char *buf, size_t size, const struct alder_exit_info *info);

/* ---- Strings and memory (lib/ulib/string.c) -------------------------- */
/* gcc emits calls to memcpy/memset/memmove/memcmp on its own, even with
 * -fno-builtin, so these keep their standard names and semantics. */
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
/* True if s starts with prefix. */
bool u_starts_with(const char *s, const char *prefix);
/* Parse a decimal integer with optional '-'; returns false on junk/overflow. */
bool u_parse_long(const char *s, long *out);

/* ---- Formatted output (lib/ulib/printf.c) ---------------------------- */
/*
 * Conversions: %d %i %u %x %X %p %s %c %%; length modifiers hh h l ll z;
 * flags '-' and '0'; width and precision as digits or '*'. Precision on %s
 * limits the bytes read. Returns the length the full output would have
 * (like C's snprintf); buf is always NUL-terminated when size > 0.
 */
int u_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int u_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/*
 * Format into a stack buffer (U_PRINTF_MAX bytes, longer output is cut and
 * ends in "...\n") and write it with exactly one sys_log call, so lines from
 * different threads and processes do not interleave mid-line.
 * Returns sys_log's result.
 */
#define U_PRINTF_MAX 512
long u_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
long u_puts(const char *s); /* s as is, one sys_log call, no newline added */

/* ---- CPU helpers ------------------------------------------------------- */
static inline uint64_t u_rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline void u_cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

/*
 * Atomics: thin names over the __atomic builtins. Plain loads/stores of
 * shared data between threads must use these (or be otherwise ordered).
 * _acq/_rel give acquire/release ordering; the rest are sequentially
 * consistent.
 */
#define u_atomic_load(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define u_atomic_load_acq(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define u_atomic_store(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define u_atomic_store_rel(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define u_atomic_fetch_add(p, v) __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define u_atomic_exchange(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
/* Strong CAS; on failure *expected is updated to the current value. */
#define u_atomic_cas(p, expected, desired)                                                                   \
	__atomic_compare_exchange_n((p), (expected), (desired), false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)

#define U_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
