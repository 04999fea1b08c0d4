/*
 * Threads as objects: creation into any address space, start/stop/resume/
 * kill, register access, and observation by a supervisor
 * (abi/alder/thread.h).
 *
 * A stopped thread sleeps on its own t->obs wait queue, in its own kernel
 * context, with its user registers in the trap frame at the top of its
 * kernel stack and its FPU/segment-base state in struct thread (saved when
 * it was switched out). t->obs.lock protects the control fields; holding
 * it with t->gone false guarantees the thread (and its process) are alive.
 */
#include <kern/assert.h>
#include <kern/heap.h>
#include <kern/kqueue.h>
#include <kern/log.h>
#include <kern/observe.h>
#include <kern/process.h>
#include <kern/string.h>
#include <kern/syscall.h>
#include <kern/thread.h>
#include <kern/uaccess.h>
#include <kern/vmspace.h>
#include <alder/errno.h>
#include <alder/syscall.h>
#include <alder/thread.h>
#include <arch/apic.h>
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/trap.h>

#define ARGS uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5

/* An ALDER_OP_OBSERVE in flight. */
struct observe_op {
	struct kop kop;
	struct thread *thread;   /* holds a reference (t->obj) */
};

static struct trap_frame *user_frame(struct thread *t)
{
	return (struct trap_frame *)(uintptr_t)(t->kstack_top - sizeof(struct trap_frame));
}

bool observe_supervised(void)
{
	struct process *p = proc_current();
	return p && p->supervisor_pid != 0;
}

/* Report the pending observation of t to its OBSERVE op, if both exist.
 * t->obs.lock held. */
static void report_locked(struct thread *t)
{
	if (!t->obs_op || !t->unreported)
		return;
	struct kop *op = t->obs_op;
	t->obs_op = NULL;
	t->unreported = false;
	kop_complete(op, t->obs_cause, t->obs_code, t->obs_addr);
}

void observe_stop(uint32_t cause, uint32_t code, uint64_t addr)
{
	struct thread *t = thread_current();
	unsigned long f = spin_lock_irqsave(&t->obs.lock);
	t->stopped = true;
	t->stop_requested = false;
	t->unreported = true;
	t->obs_cause = cause;
	t->obs_code = code;
	t->obs_addr = addr;
	report_locked(t);
	while (t->stopped) {
		if (waitq_sleep_locked(&t->obs, f, 0) == WAKE_KILL) {
			f = spin_lock_irqsave(&t->obs.lock);
			break;
		}
		f = spin_lock_irqsave(&t->obs.lock);
	}
	t->stopped = false;
	t->unreported = false;
	spin_unlock_irqrestore(&t->obs.lock, f);
}

void observe_thread_exit(struct thread *t)
{
	unsigned long f = spin_lock_irqsave(&t->obs.lock);
	t->gone = true;
	t->stopped = false;
	if (t->obs_op) {
		struct kop *op = t->obs_op;
		t->obs_op = NULL;
		kop_complete(op, ALDER_OBS_EXITED, 0, 0);
	}
	spin_unlock_irqrestore(&t->obs.lock, f);
}

/* ---- handles ---- */

static int get_thread(uint64_t h, struct thread **out)
{
	if ((int64_t)h == ALDER_HANDLE_SELF_THREAD) {
		struct thread *me = thread_current();
		kobj_get(&me->obj);
		*out = me;
		return 0;
	}
	if ((int64_t)h <= 0 || (int64_t)h > INT32_MAX)
		return -ALDER_EBADF;
	struct kobj *o;
	int r = handle_get(&proc_current()->handles, (alder_handle_t)h, ALDER_OBJ_THREAD, ALDER_RIGHT_MANAGE, &o,
			   NULL);
	if (!r)
		*out = container_of(o, struct thread, obj);
	return r;
}

static bool user_addr(uint64_t a) { return a < USER_TOP; }

static long sys_thread_new(ARGS)
{
	uint64_t entry = a1, stack = a2, arg = a3, flags = a4;
	if (flags & ~(uint64_t)(ALDER_THREAD_NEW_PROCESS | ALDER_THREAD_SUPERVISED))
		return -ALDER_EINVAL;
	if (!user_addr(entry) || !user_addr(stack))
		return -ALDER_EFAULT;
	struct vmspace *s;
	int r = space_from_handle(a0, ALDER_RIGHT_MANAGE, &s);
	if (r)
		return r;
	struct process *me = proc_current();
	struct process *p = me;
	bool fresh = (flags & (ALDER_THREAD_NEW_PROCESS | ALDER_THREAD_SUPERVISED)) || s != me->space;
	if (fresh) {
		p = process_create(s, me->pid, (flags & ALDER_THREAD_SUPERVISED) ? me->pid : 0, "child");
		if (!p) {
			kobj_put((struct kobj *)s);
			return -ALDER_ENOMEM;
		}
	}
	kobj_put((struct kobj *)s);
	int err = 0;
	struct thread *t = process_add_thread_stopped(p, entry, stack, arg, &err);
	if (!t) {
		if (fresh)
			process_discard(p);
		return err;
	}
	long h = handle_install(&me->handles, &t->obj, ALDER_RIGHTS_ALL);
	if (h < 0)
		kobj_put(&t->obj); /* the only outside reference: t ends (and a fresh p with it) */
	return h;
}

static long thread_ctl(struct thread *t, uint64_t op, uint64_t arg)
{
	if (op == ALDER_THREAD_GETPID)
		return t->pid; /* set before the handle existed; kept after the thread ends */
	if (op == ALDER_THREAD_START)
		return process_start_thread(t); /* decided under its process's lock */
	long r = 0;
	unsigned long f = spin_lock_irqsave(&t->obs.lock);
	if (t->gone) {
		spin_unlock_irqrestore(&t->obs.lock, f);
		return -ALDER_ESRCH;
	}
	struct process *p = t->proc;
	switch (op) {
	case ALDER_THREAD_STOP:
		if (t->stopped || t->stop_requested)
			break;
		t->stop_requested = true;
		ipi_send(t->cpu, VEC_IPI_RESCHED);
		break;
	case ALDER_THREAD_RESUME:
		if (!t->stopped) {
			r = -ALDER_EBUSY;
			break;
		}
		t->stopped = false;
		spin_unlock_irqrestore(&t->obs.lock, f);
		waitq_wake_all(&t->obs);
		return 0;
	case ALDER_THREAD_SET_CPU:
		if (arg == ALDER_THREAD_ANY_CPU)
			sched_set_pin(t, 0);
		else if (arg < cpu_count && cpus[arg].online)
			sched_set_pin(t, (uint32_t)arg + 1);
		else
			r = -ALDER_EINVAL;
		break;
	case ALDER_THREAD_KILL:
		/* t holds p only until t is freed, which may be as soon as
		 * obs.lock goes (t may be on its way out, and the last other
		 * reference to p with it): hold p ourselves for the kill. */
		process_get(p);
		spin_unlock_irqrestore(&t->obs.lock, f);
		process_kill(p);
		process_put(p);
		return 0;
	default:
		r = -ALDER_EINVAL;
	}
	spin_unlock_irqrestore(&t->obs.lock, f);
	return r;
}

static long sys_thread_ctl(ARGS)
{
	struct thread *t;
	int r = get_thread(a0, &t);
	if (r)
		return r;
	long ret = thread_ctl(t, a1, a2);
	kobj_put(&t->obj);
	return ret;
}

#define RFLAGS_USER_MASK 0x40dd5ull /* CF PF AF ZF SF TF DF OF AC */

static long regs_access(struct thread *t, uint64_t uptr, bool write)
{
	if (!uaccess_range_ok(uptr, sizeof(struct alder_regs)))
		return -ALDER_EFAULT;
	struct alder_regs *r = kmalloc(sizeof(*r));
	if (!r)
		return -ALDER_ENOMEM;
	long ret = 0;
	if (write && copy_from_user(r, uptr, sizeof(*r))) {
		kfree(r);
		return -ALDER_EFAULT;
	}
	if (write) {
		uint32_t mxcsr;
		memcpy(&mxcsr, r->fxsave + 24, 4);
		if (!user_addr(r->rip) || !user_addr(r->rsp) || !user_addr(r->fs_base) || !user_addr(r->gs_base) ||
		    (mxcsr & ~0xffbfu)) {
			kfree(r);
			return -ALDER_EINVAL;
		}
	}
	unsigned long f = spin_lock_irqsave(&t->obs.lock);
	if (t->gone)
		ret = -ALDER_ESRCH;
	else if (!t->stopped && !t->created)
		ret = -ALDER_EBUSY;
	else {
		struct trap_frame *tf = user_frame(t);
		if (write) {
			tf->rax = r->rax, tf->rbx = r->rbx, tf->rcx = r->rcx, tf->rdx = r->rdx;
			tf->rsi = r->rsi, tf->rdi = r->rdi, tf->rbp = r->rbp, tf->rsp = r->rsp;
			tf->r8 = r->r8, tf->r9 = r->r9, tf->r10 = r->r10, tf->r11 = r->r11;
			tf->r12 = r->r12, tf->r13 = r->r13, tf->r14 = r->r14, tf->r15 = r->r15;
			tf->rip = r->rip;
			tf->rflags = (r->rflags & RFLAGS_USER_MASK) | RFLAGS_IF | 2;
			t->fs_base = r->fs_base;
			t->gs_base = r->gs_base;
			memcpy(t->fpu, r->fxsave, sizeof(t->fpu));
		} else {
			r->rax = tf->rax, r->rbx = tf->rbx, r->rcx = tf->rcx, r->rdx = tf->rdx;
			r->rsi = tf->rsi, r->rdi = tf->rdi, r->rbp = tf->rbp, r->rsp = tf->rsp;
			r->r8 = tf->r8, r->r9 = tf->r9, r->r10 = tf->r10, r->r11 = tf->r11;
			r->r12 = tf->r12, r->r13 = tf->r13, r->r14 = tf->r14, r->r15 = tf->r15;
			r->rip = tf->rip;
			r->rflags = tf->rflags;
			r->fs_base = t->fs_base;
			r->gs_base = t->gs_base;
			memcpy(r->fxsave, t->fpu, sizeof(t->fpu));
		}
	}
	spin_unlock_irqrestore(&t->obs.lock, f);
	if (!ret && !write && copy_to_user(uptr, r, sizeof(*r)))
		ret = -ALDER_EFAULT;
	kfree(r);
	return ret;
}

static long sys_thread_regs(ARGS)
{
	if (a2 > 1)
		return -ALDER_EINVAL;
	struct thread *t;
	int r = get_thread(a0, &t);
	if (r)
		return r;
	long ret = regs_access(t, a1, a2 == 1);
	kobj_put(&t->obj);
	return ret;
}

SYSCALL_REGISTER(SYS_THREAD_NEW, sys_thread_new);
SYSCALL_REGISTER(SYS_THREAD_CTL, sys_thread_ctl);
SYSCALL_REGISTER(SYS_THREAD_REGS, sys_thread_regs);

/* ---- ALDER_OP_OBSERVE ---- */

static void observe_cancel(struct kop *op)
{
	struct observe_op *o = container_of(op, struct observe_op, kop);
	struct thread *t = o->thread;
	unsigned long f = spin_lock_irqsave(&t->obs.lock);
	bool mine = t->obs_op == op;
	if (mine)
		t->obs_op = NULL;
	spin_unlock_irqrestore(&t->obs.lock, f);
	/* Outside the lock: release may drop the last reference to t. */
	if (mine)
		kop_complete(op, -ALDER_ECANCELED, 0, 0);
}

static void observe_release(struct kop *op)
{
	struct observe_op *o = container_of(op, struct observe_op, kop);
	kobj_put(&o->thread->obj);
	kfree(o);
}

static const struct kop_ops observe_ops = { observe_cancel, observe_release };

static int64_t op_observe(struct kop_submit *sub)
{
	struct thread *t;
	int r = get_thread((uint64_t)(int64_t)sub->sqe.handle, &t);
	if (r)
		return r;
	struct observe_op *o = kzalloc(sizeof(*o));
	if (!o) {
		kobj_put(&t->obj);
		return -ALDER_ENOMEM;
	}
	o->thread = t; /* our reference moves into the op */
	unsigned long f = spin_lock_irqsave(&t->obs.lock);
	int64_t ret = 0;
	if (t->gone)
		ret = -ALDER_ESRCH;
	else if (t->proc->supervisor_pid != sub->proc->pid)
		ret = -ALDER_EPERM;
	else if (t->obs_op)
		ret = -ALDER_EBUSY;
	else if (kop_begin(&o->kop, sub, &observe_ops) != 0)
		ret = -ALDER_ECANCELED;
	else {
		t->obs_op = &o->kop;
		report_locked(t); /* at once if it is already stopped */
		ret = KOP_STARTED;
	}
	spin_unlock_irqrestore(&t->obs.lock, f);
	if (ret != KOP_STARTED) {
		kobj_put(&t->obj);
		kfree(o);
	}
	return ret;
}

QUEUE_OP_REGISTER(ALDER_OP_OBSERVE, op_observe);
