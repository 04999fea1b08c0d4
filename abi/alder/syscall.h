/*
 * Alder native system-call numbers and calling convention.
 *
 * This header is the only definition shared by the kernel and user space.
 * Convention (native calls): rax = number, arguments in rdi, rsi, rdx, r10,
 * r8, r9; result in rax. A negative result in [-4095, -1] is -errno
 * (abi/alder/errno.h). rcx and r11 are clobbered by SYSCALL/SYSRET.
 *
 * Native numbers live at ALDER_SYS_BASE and above so that they never collide
 * with Linux x86_64 numbers (0..~460), which a later POSIX personality
 * reflects to a supervisor.
 */
#ifndef ALDER_ABI_SYSCALL_H
#define ALDER_ABI_SYSCALL_H

#define ALDER_SYS_BASE 0x40000000u

/* long sys_log(const char *buf, size_t len): write bytes to the kernel log. */
#define SYS_LOG (ALDER_SYS_BASE + 0)
/* noreturn sys_exit(int status): end the calling process. */
#define SYS_EXIT (ALDER_SYS_BASE + 1)
/* long sys_yield(void): give up the CPU. */
#define SYS_YIELD (ALDER_SYS_BASE + 2)
/* long sys_sleep(uint64_t ns): sleep for at least ns nanoseconds. */
#define SYS_SLEEP (ALDER_SYS_BASE + 3)
/* long sys_clock(uint64_t *ns_out): monotonic clock in nanoseconds. */
#define SYS_CLOCK (ALDER_SYS_BASE + 4)
/*
 * Bootstrap process calls, until the object model replaces them.
 * long sys_spawn(const char *path, size_t path_len, const char *arg, size_t arg_len):
 *   load a static ELF64 from the initramfs as a new process; returns its pid.
 *   path_len 1..255 (-EINVAL / -ENAMETOOLONG), arg_len at most 4000
 *   (-E2BIG); an embedded NUL in either is -EINVAL.
 *   A fifth argument, if not 0, is a handle (needing TRANSFER) that the
 *   child receives as ALDER_HANDLE_BOOTSTRAP with the same rights; the
 *   caller keeps its own. -EBADF/-EACCES as for any handle argument.
 *   The new process starts at the ELF entry with rsp 16-byte aligned inside
 *   a 64 KiB stack below 0x7fff00000000, rdi = the argument string (copied
 *   to the top of that stack, NUL-terminated), rsi = arg_len, every other
 *   general register zero.
 * long sys_wait(long pid, struct alder_exit_info *info): wait for the child
 *   pid (no "any child" value) to end; returns pid and fills *info, or
 *   -ECHILD (not a child, or already waited for), -EFAULT (info is checked
 *   before waiting), -EINTR (the caller is being killed).
 */
#define SYS_SPAWN (ALDER_SYS_BASE + 5)
#define SYS_WAIT (ALDER_SYS_BASE + 6)
/* long sys_info(unsigned what, uint64_t *out): kernel facts (ALDER_INFO_*). */
#define SYS_INFO (ALDER_SYS_BASE + 7)
/* long sys_thread_create(void (*entry)(void *), void *arg, void *stack_top):
 *   new thread in the calling process; returns its tid. stack_top must be
 *   16-byte aligned (-EINVAL); the thread starts at entry with rdi = arg and
 *   rsp = stack_top - 8, as if called. entry must not return (there is no
 *   return address): it ends with sys_thread_exit or sys_exit. */
#define SYS_THREAD_CREATE (ALDER_SYS_BASE + 8)
/* noreturn sys_thread_exit(void): end the calling thread (the process ends
 * when its last thread does, with status 0 — or when its last started
 * thread does: threads never started are then ended, abi/alder/thread.h). */
#define SYS_THREAD_EXIT (ALDER_SYS_BASE + 9)
/* long sys_shutdown(unsigned code): power off (test harness; needs the
 * initial process). */
#define SYS_SHUTDOWN (ALDER_SYS_BASE + 10)
/* long sys_console_read(char *buf, size_t len): read bytes typed on the
 * serial console; blocks until at least one byte arrives. */
#define SYS_CONSOLE_READ (ALDER_SYS_BASE + 11)

/*
 * Object model. Argument and error conventions for each group are given in
 * the header named; handles are alder_handle_t (abi/alder/handle.h).
 * Errors common to every call taking a handle: -EBADF (no such handle),
 * -EBADFD (a handle of the wrong type), -EACCES (the handle lacks a right).
 */
/* Handles (handle.h). */
#define SYS_HANDLE_CLOSE (ALDER_SYS_BASE + 12)   /* (h) */
#define SYS_HANDLE_DUP (ALDER_SYS_BASE + 13)     /* (h, rights_mask) -> new handle */
#define SYS_HANDLE_INFO (ALDER_SYS_BASE + 14)    /* (h, struct alder_handle_info *) */
/* Memory objects and address spaces (memory.h). */
#define SYS_MEM_CREATE (ALDER_SYS_BASE + 15)     /* (size, flags) -> memory handle */
#define SYS_MEM_CREATE_PHYS (ALDER_SYS_BASE + 16)/* (root, paddr, size, cache) -> memory handle */
#define SYS_MEM_CREATE_COW (ALDER_SYS_BASE + 17) /* (memory, offset, size) -> memory handle */
#define SYS_MEM_CREATE_SLICE (ALDER_SYS_BASE + 18) /* (memory, offset, size) -> memory handle */
#define SYS_SPACE_CREATE (ALDER_SYS_BASE + 19)   /* () -> space handle */
#define SYS_SPACE_MAP (ALDER_SYS_BASE + 20)      /* (space, memory, offset, addr, size, flags) -> addr */
#define SYS_SPACE_UNMAP (ALDER_SYS_BASE + 21)    /* (space, addr, size) */
#define SYS_SPACE_PROTECT (ALDER_SYS_BASE + 22)  /* (space, addr, size, prot) */
#define SYS_SPACE_RW (ALDER_SYS_BASE + 23)       /* (space, addr, buf, len, write) */
#define SYS_FUTEX_WAIT (ALDER_SYS_BASE + 24)     /* (uint32_t *addr, expected, timeout_ns) */
#define SYS_FUTEX_WAKE (ALDER_SYS_BASE + 25)     /* (uint32_t *addr, count) -> woken */
/* Queues, events (queue.h). */
#define SYS_QUEUE_CREATE (ALDER_SYS_BASE + 26)   /* (sq_entries, cq_entries, struct alder_queue_params *) -> queue */
#define SYS_QUEUE_ENTER (ALDER_SYS_BASE + 27)    /* (queue, to_submit, min_complete, timeout_ns) -> submitted */
#define SYS_EVENT_CREATE (ALDER_SYS_BASE + 28)   /* () -> event handle */
#define SYS_EVENT_SIGNAL (ALDER_SYS_BASE + 29)   /* (event) */
/* Streams (stream.h). */
#define SYS_STREAM_CREATE (ALDER_SYS_BASE + 30)  /* (alder_handle_t lanes[2]) */
/* Threads in any space, registers, observation (thread.h). */
#define SYS_THREAD_NEW (ALDER_SYS_BASE + 31)     /* (space, entry, stack, arg, flags) -> thread handle */
#define SYS_THREAD_CTL (ALDER_SYS_BASE + 32)     /* (thread, op, arg) start/stop/kill/resume */
#define SYS_THREAD_REGS (ALDER_SYS_BASE + 33)    /* (thread, struct alder_regs *, write) */
/* Hardware (hw.h): IRQ objects and I/O port ranges, from the root handle. */
#define SYS_IRQ_CREATE (ALDER_SYS_BASE + 34)     /* (root, gsi, flags) -> irq handle */
#define SYS_IRQ_ACK (ALDER_SYS_BASE + 35)        /* (irq, sequence, ack_or_nack) */
#define SYS_IOPORT_CREATE (ALDER_SYS_BASE + 36)  /* (root, base, count) -> ioport handle */
#define SYS_IOPORT_ENABLE (ALDER_SYS_BASE + 37)  /* (ioport): the calling thread may use the ports */
#define SYS_NATIVE_COUNT 38

/* sys_info selectors (the whole 64-bit register is compared); each writes
 * one uint64_t. */
#define ALDER_INFO_CPU_ID 0       /* CPU the caller runs on now */
#define ALDER_INFO_CPU_COUNT 1    /* CPUs online */
#define ALDER_INFO_FREE_FRAMES 2  /* free 4 KiB physical frames */
#define ALDER_INFO_PEAK_KIB 3     /* peak physical memory in use, KiB */
#define ALDER_INFO_TSC 4          /* raw time-stamp counter */
#define ALDER_INFO_BOOT_FLAGS 5   /* ALDER_BOOT_* bits from the command line */
#define ALDER_INFO_LIVE_OBJECTS 6 /* kernel objects alive, all types (leak checks) */
#define ALDER_INFO_HEAP_BYTES 7   /* bytes the kernel heap has handed out and not got back
                                     (leak checks: exact, unlike free frames, which the
                                     heap's caches of empty slabs blur) */
#define ALDER_INFO_COUNT 8

#define ALDER_BOOT_TEST 1u  /* "alder.mode=test": run the test suite */
#define ALDER_BOOT_BENCH 2u /* "alder.mode=bench": run the benchmarks */
#define ALDER_BOOT_FUZZ 4u  /* "alder.mode=fuzz": run the system-call fuzzer long */

/* How a process ended; written by the kernel in sys_wait. */
#define ALDER_EXIT_NORMAL 0 /* called sys_exit; status is its argument */
#define ALDER_EXIT_FAULT 1  /* killed by a CPU exception; status is the vector */
#define ALDER_EXIT_KILLED 3 /* killed through ALDER_THREAD_KILL or its supervisor ending */
#define ALDER_EXIT_BADSYS 2 /* killed for an unknown system call; status is
                               the low 32 bits of the number */

struct alder_exit_info {
	int how;    /* ALDER_EXIT_* */
	int status; /* exit status or exception vector */
	unsigned long long fault_addr; /* CR2 for page faults, else 0 */
};
_Static_assert(sizeof(struct alder_exit_info) == 16, "alder_exit_info layout");

#endif
