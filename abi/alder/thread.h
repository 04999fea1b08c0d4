/*
 * Threads in any address space, their registers, and observation — the
 * mechanism a supervisor (the POSIX server) implements the Linux ABI with.
 *
 * SYS_THREAD_NEW(space, entry, stack, arg, flags) -> thread handle
 *   A new thread, created STOPPED (start it with ALDER_THREAD_START), with
 *   rip = entry, rsp = stack, rdi = arg, other registers zero. space needs
 *   MANAGE. If space is the caller's own (ALDER_HANDLE_SELF_SPACE or a
 *   handle to it) and flags has no ALDER_THREAD_NEW_PROCESS, the thread
 *   joins the caller's process. Otherwise it starts a new process in that
 *   space, a child of the caller (sys_wait works on its pid, which
 *   SYS_THREAD_CTL(ALDER_THREAD_GETPID) returns), with an empty handle
 *   table. ALDER_THREAD_SUPERVISED (implies a new
 *   process) makes the caller its supervisor: every fault and every system
 *   call whose number is not native stops the faulting thread and becomes
 *   an observation (below) instead of killing it or reaching the small
 *   Linux shim. Rights: all.
 *   A thread that was never started ends when nothing names it any more
 *   (its last handle is closed and no operation holds it): nobody can
 *   start it then. A new process it was made with ends with it
 *   (ALDER_EXIT_KILLED) and leaves the process table at once — SYS_WAIT on
 *   its pid returns -ECHILD, unless that wait had already begun.
 *
 * Process end. A process that has had a thread started ends when the last
 *   of its started threads ends; its threads that were never started are
 *   then ended too, wherever their handles are (they never run user code;
 *   ALDER_THREAD_START on them returns -ESRCH). When that last started
 *   thread left by SYS_THREAD_EXIT, the process ends with ALDER_EXIT_NORMAL
 *   and status 0, as when the last thread of all leaves. A process none of
 *   whose threads was ever started (a new one, before its creator's first
 *   START) is not ended by this: it waits for that START, for its thread
 *   to be dropped or killed, or for its creator to end (which kills it).
 *   A START and the end of the last started thread are ordered: either
 *   the START comes first (it returns 0, the thread runs and keeps the
 *   process alive) or the end does (the START returns -ESRCH).
 *
 * SYS_THREAD_CTL(thread, op, arg) (needs MANAGE):
 *   ALDER_THREAD_START   start a created thread (-EBUSY if already started;
 *                        -ESRCH if its process is ending or has ended:
 *                        killed, exited, or its last started thread has
 *                        left — the thread then never runs, see above)
 *   ALDER_THREAD_STOP    stop it at its next return to user mode; the stop
 *                        is reported as an ALDER_OBS_STOPPED observation
 *   ALDER_THREAD_RESUME  continue a stopped thread (-EBUSY if not stopped);
 *                        it goes on with its registers as they are now
 *   ALDER_THREAD_KILL    end the thread's whole process (how = ALDER_EXIT_KILLED)
 *   ALDER_THREAD_GETPID  returns the pid of the thread's process, also
 *                        after the thread has ended (so a parent can still
 *                        learn the pid to wait for)
 *   ALDER_THREAD_SET_CPU run the thread only on CPU arg (0 ..
 *                        ALDER_INFO_CPU_COUNT - 1), or again on any with
 *                        arg = ALDER_THREAD_ANY_CPU; -EINVAL for a CPU
 *                        that is not online. It moves at once: a thread
 *                        queued or running elsewhere goes to that CPU at
 *                        its next switch, which its CPU is asked to make
 *                        now; a blocked one when it wakes. A thread that
 *                        moves itself (ALDER_HANDLE_SELF_THREAD) is on the
 *                        new CPU when the call returns. Unset at creation:
 *                        a new thread may run anywhere.
 *   Every other operation on a thread that has ended returns -ESRCH.
 *
 * SYS_THREAD_REGS(thread, struct alder_regs *, write) (needs MANAGE): read
 *   or write a STOPPED thread's registers (-EBUSY otherwise). Writes are
 *   checked: rip, rsp, fs_base and gs_base must be canonical user addresses,
 *   rflags keeps only the arithmetic/direction/trap/alignment flags (IF is
 *   always set), the FXSAVE image's MXCSR reserved bits must be zero; else
 *   -EINVAL and nothing changes.
 *
 * Observation: submit ALDER_OP_OBSERVE on a queue with handle = a thread of
 *   a process you supervise (-EPERM otherwise; -EBUSY if an observe is
 *   already pending on that thread). It completes when the thread stops,
 *   at once if it is stopped with an observation not yet reported:
 *     result = ALDER_OBS_*, aux[0] = system-call number (SYSCALL) or
 *     exception vector (FAULT), aux[1] = faulting address (page faults).
 *   After SYSCALL, the arguments are in the registers (rax = number, rdi,
 *   rsi, rdx, r10, r8, r9) and rip is already past the syscall instruction:
 *   write the result to rax and RESUME. After FAULT, RESUME re-runs the
 *   faulting instruction (change rip or the memory first, or KILL).
 *   ALDER_OBS_EXITED reports that the thread ended.
 *   When a supervisor's process ends, the processes it supervises are
 *   killed.
 */
#ifndef ALDER_ABI_THREAD_H
#define ALDER_ABI_THREAD_H

#include <stdint.h>

#define ALDER_THREAD_NEW_PROCESS 1u
#define ALDER_THREAD_SUPERVISED 2u

#define ALDER_THREAD_START 1
#define ALDER_THREAD_STOP 2
#define ALDER_THREAD_RESUME 3
#define ALDER_THREAD_KILL 4
#define ALDER_THREAD_GETPID 5
#define ALDER_THREAD_SET_CPU 6
#define ALDER_THREAD_ANY_CPU UINT64_MAX /* SET_CPU: no restriction */

#define ALDER_OBS_SYSCALL 1
#define ALDER_OBS_FAULT 2
#define ALDER_OBS_STOPPED 3
#define ALDER_OBS_EXITED 4

struct alder_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags, fs_base, gs_base;
	uint8_t fxsave[512] __attribute__((aligned(16)));   /* FXSAVE64 image: x87, MXCSR, XMM0-15 */
};
_Static_assert(sizeof(struct alder_regs) == 672, "alder_regs layout");

#endif
