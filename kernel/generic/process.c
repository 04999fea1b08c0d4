/*
 * Bootstrap processes: load a static ELF from the initramfs into a new
 * address space, run it, collect its exit status. Lifetime: the process
 * table holds one reference until the parent waits (or, for orphans, until
 * the process has ended); each thread holds one until it is freed. The
 * address space goes when the last reference does, so no CPU can still be
 * running on it.
 */
#include <kern/assert.h>
#include <kern/cpio.h>
#include <kern/elf.h>
#include <kern/heap.h>
#include <kern/linux_shim.h>
#include <kern/log.h>
#include <kern/pmm.h>
#include <kern/process.h>
#include <kern/random.h>
#include <kern/stream.h>
#include <kern/string.h>
#include <alder/memory.h>
#include <kern/thread.h>
#include <kern/observe.h>
#include <kern/uaccess.h>
#include <kern/vm.h>
#include <kern/vmspace.h>
#include <alder/errno.h>
#include <arch/apic.h>
#include <arch/paging.h>
#include <arch/trap.h>

#define MAX_PROCS 256

static const void *initramfs;
static size_t initramfs_len;
static spinlock_t table_lock = SPINLOCK_INIT; /* procs[], next_pid */
static struct process *procs[MAX_PROCS];
static uint32_t next_pid = 1;

static bool table_insert(struct process *p);

void process_init(const void *data, size_t len)
{
	initramfs = data;
	initramfs_len = len;
}

uint32_t process_count(void)
{
	uint32_t n = 0;
	unsigned long f = spin_lock_irqsave(&table_lock);
	for (int i = 0; i < MAX_PROCS; i++)
		n += procs[i] != NULL;
	spin_unlock_irqrestore(&table_lock, f);
	return n;
}

struct process *proc_current(void) { return thread_current()->proc; }

static void process_free(struct process *p)
{
	handle_table_destroy(&p->handles); /* normally empty already (process_ended) */
	if (p->space)
		kobj_put((struct kobj *)p->space);
	kfree(p);
}

struct process *process_get(struct process *p)
{
	__atomic_add_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);
	return p;
}

void process_put(struct process *p)
{
	if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	process_free(p);
}

/* Each segment becomes an anonymous memory object holding the file bytes
 * (the rest zero), mapped with the segment's permissions. */
static int load_segment(struct process *p, const uint8_t *file, const struct elf_segment *s)
{
	uint64_t start = ALIGN_DOWN(s->vaddr, PAGE_SIZE);
	uint64_t end = ALIGN_UP(s->vaddr + s->memsz, PAGE_SIZE);
	unsigned prot = VM_PROT_READ | ((s->flags & ELF_SEG_W) ? VM_PROT_WRITE : 0) |
			((s->flags & ELF_SEG_X) ? VM_PROT_EXEC : 0);
	struct memobj *m = memobj_create_anon(end - start);
	if (!m)
		return -ALDER_ENOMEM;
	int r = 0;
	for (uint64_t va = start; va < end && !r; va += PAGE_SIZE) {
		uint64_t lo = MAX(va, s->vaddr), hi = MIN(va + PAGE_SIZE, s->vaddr + s->filesz);
		if (lo >= hi)
			continue; /* all zero: stays untouched until used */
		bool shared;
		paddr_t frame = memobj_frame(m, (va - start) / PAGE_SIZE, true, &shared);
		if (!frame)
			r = -ALDER_ENOMEM;
		else
			memcpy((uint8_t *)phys_to_virt(frame) + (lo - va), file + s->offset + (lo - s->vaddr), hi - lo);
	}
	if (!r) {
		int64_t a = vmspace_map(p->space, m, 0, start, end - start, prot);
		if (a < 0)
			r = (int)a;
	}
	kobj_put((struct kobj *)m);
	return r;
}

/* The stack, with the Linux initial-stack block on top (argc, argv, envp,
 * auxv: what musl's start code reads); native programs use rdi/rsi. */
static int setup_stack(struct process *p, const char *path, const char *arg, size_t arg_len,
		       const struct cpio_entry *file, const struct elf_image *img, uint64_t *rsp, uint64_t *argp)
{
	struct memobj *m = memobj_create_anon(USER_STACK_SIZE);
	if (!m)
		return -ALDER_ENOMEM;
	int64_t a = vmspace_map(p->space, m, 0, USER_STACK_TOP - USER_STACK_SIZE, USER_STACK_SIZE,
				VM_PROT_READ | VM_PROT_WRITE);
	kobj_put((struct kobj *)m);
	if (a < 0)
		return (int)a;
	return (int)linux_build_initial_stack(p->space, USER_STACK_TOP, path, arg, arg_len, file->data, file->size,
					      img, rsp, argp);
}

long process_spawn(const char *path, const char *arg, size_t arg_len, uint32_t parent, struct kobj *give,
		   uint32_t give_rights)
{
	struct cpio_entry file;
	int r = cpio_find(initramfs, initramfs_len, path, &file);
	if (r)
		return r;
	struct elf_image img;
	r = elf_parse(file.data, file.size, USER_STACK_TOP - USER_STACK_SIZE - PAGE_SIZE, &img);
	if (r)
		return r;

	struct process *p = kzalloc(sizeof(*p));
	if (!p)
		return -ALDER_ENOMEM;
	waitq_init(&p->exited);
	list_init(&p->threads);
	p->parent_pid = parent;
	p->refs = 1;
	const char *base = strchr(path, '/') ? path + strlen(path) : path;
	while (base > path && base[-1] != '/')
		base--;
	memcpy(p->name, base, MIN(strlen(base), sizeof(p->name) - 1));
	handle_table_init(&p->handles);
	p->space = vmspace_create();
	if (!p->space) {
		kfree(p);
		return -ALDER_ENOMEM;
	}
	p->pml4 = vmspace_pml4(p->space);
	/* A process the kernel starts (init) gets the root handle
	 * (abi/alder/memory.h). */
	if (parent == 0) {
		long h = handle_install(&p->handles, root_object(), ALDER_RIGHTS_ALL);
		assert(h == ALDER_HANDLE_ROOT);
	} else if (give) {
		/* The parent's bootstrap handle: the child's handle 1. */
		long h = handle_install(&p->handles, kobj_get(give), give_rights);
		assert(h == ALDER_HANDLE_BOOTSTRAP);
	}

	uint64_t rsp = 0, argp = 0;
	for (size_t i = 0; i < img.nsegments && !r; i++)
		r = load_segment(p, file.data, &img.segments[i]);
	if (!r)
		r = setup_stack(p, path, arg, arg_len, &file, &img, &rsp, &argp);
	struct thread *t = NULL;
	if (!r) {
		t = thread_create_user(p, img.entry, rsp, argp, arg_len);
		if (!t)
			r = -ALDER_ENOMEM;
	}
	if (r)
		goto fail;

	if (!table_insert(p)) {
		r = -ALDER_EAGAIN;
		goto fail;
	}
	/* --- point of no return --- */
	p->started = true;
	p->refs = 2; /* table + thread */
	p->nthreads = 1;
	t->pid = p->pid;
	list_append(&p->threads, &t->proc_link);
	long pid = p->pid;
	thread_start(t);
	return pid;

fail:
	if (t) {
		t->state = THREAD_DEAD;
		t->proc = NULL;
		thread_free(t);
	}
	process_free(p);
	return r;
}

/* A new thread in p, not queued. created: it waits for ALDER_THREAD_START
 * (set under p->exited.lock, so a kill that finds it in p's list ends
 * it, and counted in p->ncreated), and comes with a reference for the
 * caller, taken before a kill can start it (and its end free it). */
static struct thread *add_thread(struct process *p, uint64_t rip, uint64_t rsp, uint64_t arg, bool created,
				 int *err)
{
	struct thread *t = thread_create_user(p, rip, rsp, arg, 0);
	if (!t) {
		*err = -ALDER_ENOMEM;
		return NULL;
	}
	unsigned long f = spin_lock_irqsave(&p->exited.lock);
	if (p->exiting) {
		spin_unlock_irqrestore(&p->exited.lock, f);
		t->state = THREAD_DEAD;
		t->proc = NULL;
		thread_free(t);
		*err = -ALDER_ESRCH;
		return NULL;
	}
	process_get(p);
	p->nthreads++;
	t->pid = p->pid;
	t->created = created; /* nobody else sees t yet */
	if (created) {
		p->ncreated++;
		kobj_get(&t->obj);
	}
	list_append(&p->threads, &t->proc_link);
	spin_unlock_irqrestore(&p->exited.lock, f);
	return t;
}

struct thread *process_add_thread_stopped(struct process *p, uint64_t rip, uint64_t rsp, uint64_t arg, int *err)
{
	return add_thread(p, rip, rsp, arg, true, err);
}

long process_add_thread(struct process *p, uint64_t rip, uint64_t rsp, uint64_t arg)
{
	int err;
	struct thread *t = add_thread(p, rip, rsp, arg, false, &err);
	if (!t)
		return err;
	long tid = t->tid;
	thread_start(t);
	return tid;
}

/* Put p into the table (assigning its pid and credential id); false when
 * the table is full. */
static bool table_insert(struct process *p)
{
	unsigned long f = spin_lock_irqsave(&table_lock);
	int slot = -1;
	for (int i = 0; i < MAX_PROCS && slot < 0; i++)
		if (!procs[i])
			slot = i;
	if (slot >= 0) {
		p->pid = next_pid++;
		procs[slot] = p;
	}
	spin_unlock_irqrestore(&table_lock, f);
	if (slot < 0)
		return false;
	/* The credential id: unique by the pid, which is never reused, and
	 * not derivable from another process's id by the rest. Set before
	 * any thread of p runs. */
	uint64_t pid = p->pid, salt = random_u64();
	memcpy(p->cred_id, &pid, 8);
	memcpy(p->cred_id + 8, &salt, 8);
	return true;
}

struct process *process_create(struct vmspace *space, uint32_t parent, uint32_t supervisor, const char *name)
{
	struct process *p = kzalloc(sizeof(*p));
	if (!p)
		return NULL;
	waitq_init(&p->exited);
	list_init(&p->threads);
	handle_table_init(&p->handles);
	p->parent_pid = parent;
	p->supervisor_pid = supervisor;
	p->refs = 1;
	p->space = (struct vmspace *)kobj_get((struct kobj *)space);
	p->pml4 = vmspace_pml4(space);
	memcpy(p->name, name, MIN(strlen(name), sizeof(p->name) - 1));
	if (!table_insert(p)) {
		process_free(p);
		return NULL;
	}
	return p;
}

/*
 * Take t, a thread of p, out of the created state, to start it: for good
 * (ALDER_THREAD_START) or only to exit at once in enter_user. False if it
 * was claimed already. Every claimer holds p->exited.lock (order:
 * exited.lock, obs.lock, run-queue lock), which makes the claim and
 * p->ncreated one step for whoever decides by the count whether p ends
 * (process_thread_gone), and starts t before dropping it: the other
 * claimers that would otherwise wake a not-yet-started t
 * (interrupt_thread) hold it too. obs.lock is for the readers of
 * t->created that hold only that one (observe.c).
 */
static bool claim_created(struct process *p, struct thread *t)
{
	assert(spin_held(&p->exited.lock));
	unsigned long f = spin_lock_irqsave(&t->obs.lock);
	bool claimed = t->created;
	__atomic_store_n(&t->created, false, __ATOMIC_RELEASE);
	spin_unlock_irqrestore(&t->obs.lock, f);
	if (claimed)
		p->ncreated--;
	return claimed;
}

/*
 * Make t leave: a never-started thread is started (it exits at once in
 * enter_user), others are woken or interrupted and exit on their way back
 * to user mode. p->exited.lock held.
 */
static void interrupt_thread(struct process *p, struct thread *t)
{
	if (claim_created(p, t)) {
		thread_start(t);
		return;
	}
	waitq_interrupt(t);
	ipi_send(t->cpu, VEC_IPI_RESCHED);
}

/* Fix p's status as killed unless it is set already. p->exited.lock held. */
static void set_killed_locked(struct process *p)
{
	if (!p->exiting) {
		p->exit = (struct alder_exit_info){ ALDER_EXIT_KILLED, 0, 0 };
		__atomic_store_n(&p->exiting, true, __ATOMIC_SEQ_CST);
	}
}

void process_drop_unstarted(struct thread *t)
{
	/* t->proc lives while t has not started (t holds it); a kill may start
	 * t as soon as obs.lock goes, so hold p ourselves for the locks below
	 * (taken in their order: exited.lock, then obs.lock in the claim). */
	unsigned long f = spin_lock_irqsave(&t->obs.lock);
	struct process *p = t->created ? process_get(t->proc) : NULL;
	spin_unlock_irqrestore(&t->obs.lock, f);
	if (!p)
		return;
	f = spin_lock_irqsave(&p->exited.lock);
	if (claim_created(p, t)) {
		t->dropped = true;
		/* A process that never ran has only this thread (threads join a
		 * process only from inside it): it ends with it, and nobody
		 * wants its status. */
		if (!p->started) {
			set_killed_locked(p);
			p->abandoned = true;
		}
		thread_start(t);
	}
	spin_unlock_irqrestore(&p->exited.lock, f);
	process_put(p);
}

long process_start_thread(struct thread *t)
{
	/* t->proc lives while t has not ended (t holds it); hold it ourselves
	 * across the locks, taken in their order below. */
	unsigned long f = spin_lock_irqsave(&t->obs.lock);
	struct process *p = t->gone ? NULL : process_get(t->proc);
	spin_unlock_irqrestore(&t->obs.lock, f);
	if (!p)
		return -ALDER_ESRCH;
	long r = 0;
	f = spin_lock_irqsave(&p->exited.lock);
	if (claim_created(p, t)) {
		/* Whatever ends p claims every created thread in the same
		 * hold of exited.lock in which it sets exiting. */
		assert(!p->exiting);
		p->started = true;
		thread_start(t);
	} else {
		/* Started already: by a START (-EBUSY while p lives), or only
		 * to exit, by whatever is ending p (-ESRCH). */
		r = p->exiting ? -ALDER_ESRCH : -ALDER_EBUSY;
	}
	spin_unlock_irqrestore(&p->exited.lock, f);
	process_put(p);
	return r;
}

void process_discard(struct process *p)
{
	unsigned long f = spin_lock_irqsave(&p->exited.lock);
	assert(p->nthreads == 0 && !p->started);
	set_killed_locked(p);
	spin_unlock_irqrestore(&p->exited.lock, f);
	f = spin_lock_irqsave(&table_lock);
	/* A waiter that guessed the pid takes the slot out itself. */
	bool drop = !p->reaped;
	for (int i = 0; i < MAX_PROCS && drop; i++) {
		if (procs[i] == p) {
			procs[i] = NULL;
			break;
		}
	}
	spin_unlock_irqrestore(&table_lock, f);
	if (drop)
		process_put(p); /* the table's reference */
}

void process_kill(struct process *p)
{
	unsigned long f = spin_lock_irqsave(&p->exited.lock);
	set_killed_locked(p);
	list_for_each(it, &p->threads) {
		struct thread *t = list_entry(it, struct thread, proc_link);
		if (t->state != THREAD_DEAD)
			interrupt_thread(p, t);
	}
	spin_unlock_irqrestore(&p->exited.lock, f);
}

static struct process *find_locked(uint32_t pid, int *slot)
{
	for (int i = 0; i < MAX_PROCS; i++) {
		if (procs[i] && procs[i]->pid == pid) {
			*slot = i;
			return procs[i];
		}
	}
	return NULL;
}

long process_wait(uint32_t pid, struct alder_exit_info *info)
{
	struct process *me = thread_current()->proc;
	uint32_t my_pid = me ? me->pid : 0;
	int slot;
	unsigned long f = spin_lock_irqsave(&table_lock);
	struct process *p = find_locked(pid, &slot);
	if (!p || p->parent_pid != my_pid || p->reaped) {
		spin_unlock_irqrestore(&table_lock, f);
		return -ALDER_ECHILD;
	}
	p->reaped = true; /* one waiter per child */
	process_get(p);
	spin_unlock_irqrestore(&table_lock, f);

	long ret = pid;
	f = spin_lock_irqsave(&p->exited.lock);
	while (p->nthreads > 0) {
		if (waitq_sleep_locked(&p->exited, f, 0) == WAKE_KILL) {
			ret = -ALDER_EINTR;
			f = spin_lock_irqsave(&p->exited.lock);
			break;
		}
		f = spin_lock_irqsave(&p->exited.lock);
	}
	if (ret > 0)
		*info = p->exit;
	spin_unlock_irqrestore(&p->exited.lock, f);

	f = spin_lock_irqsave(&table_lock);
	if (ret > 0)
		procs[slot] = NULL;
	else
		p->reaped = false;
	spin_unlock_irqrestore(&table_lock, f);
	if (ret > 0)
		process_put(p); /* the table's reference */
	process_put(p);         /* ours */
	return ret;
}

/* The process has no threads left: its children become orphans (reaped
 * by the kernel when they end), and it is reaped now if it is one. */
static void process_ended(struct process *p)
{
	struct process *drop[MAX_PROCS], *kill[MAX_PROCS];
	int ndrop = 0, nkill = 0;
	unsigned long f = spin_lock_irqsave(&table_lock);
	for (int i = 0; i < MAX_PROCS; i++) {
		struct process *c = procs[i];
		if (!c)
			continue;
		/* Supervised children die with their supervisor; children made
		 * by THREAD_NEW that were never started can never be started
		 * once their creator (the only holder of their handles) ends. */
		if ((c->supervisor_pid == p->pid || (c->parent_pid == p->pid && !c->started)) &&
		    c->nthreads > 0) {
			kill[nkill++] = process_get(c);
		}
		bool orphan_done = (c->parent_pid == p->pid && c->nthreads == 0 && !c->reaped) ||
				   (c == p && (p->parent_pid == 0 || (p->abandoned && !p->reaped)));
		if (c->parent_pid == p->pid)
			c->parent_pid = 0;
		if (orphan_done) {
			procs[i] = NULL;
			drop[ndrop++] = c;
		}
	}
	spin_unlock_irqrestore(&table_lock, f);
	for (int i = 0; i < nkill; i++) {
		process_kill(kill[i]);
		process_put(kill[i]);
	}
	for (int i = 0; i < ndrop; i++)
		process_put(drop[i]);
}

void process_thread_gone(struct process *p)
{
	unsigned long f = spin_lock_irqsave(&p->exited.lock);
	assert(p->nthreads > p->ncreated && (!p->exiting || p->ncreated == 0));
	bool last = --p->nthreads == 0;
	if (!p->exiting && p->nthreads == p->ncreated) {
		/*
		 * No started thread of p is left (nthreads == 0 is the plain
		 * case): p ends normally. Its threads still waiting for their
		 * first START are ended with it, started only to exit wherever
		 * their handles are: they may be named only from p's own
		 * handle table, which goes only with p's last thread. A START
		 * decides under this lock too: before this point the thread
		 * runs and p lives on; after it, START is refused
		 * (process_start_thread). p has had a thread started: this
		 * one, since p is not exiting (so it was not started only to
		 * exit, which happens only to a process that is, or to a
		 * dropped thread of a process that had).
		 */
		assert(p->started);
		p->exit = (struct alder_exit_info){ ALDER_EXIT_NORMAL, 0, 0 };
		__atomic_store_n(&p->exiting, true, __ATOMIC_SEQ_CST);
		list_for_each(it, &p->threads) {
			struct thread *t = list_entry(it, struct thread, proc_link);
			if (claim_created(p, t))
				thread_start(t);
		}
		assert(p->ncreated == 0);
	}
	spin_unlock_irqrestore(&p->exited.lock, f);
	if (last) {
		/* Handles go now, not when the last reference does: objects in
		 * them (a peer lane, say) must see this process gone. */
		handle_table_destroy(&p->handles);
		/* Then its stream chains: one may hold the last reference
		 * to something that would end it (its own lane, its queue). */
		stream_process_gone(p);
		waitq_wake_all(&p->exited);
		process_ended(p);
	}
}

__noreturn void process_exit(int how, int status, uint64_t fault_addr)
{
	struct thread *self = thread_current();
	struct process *p = self->proc;
	assert(p);
	unsigned long f = spin_lock_irqsave(&p->exited.lock);
	if (!p->exiting) {
		p->exit = (struct alder_exit_info){ how, status, fault_addr };
		__atomic_store_n(&p->exiting, true, __ATOMIC_SEQ_CST);
	}
	/* Every other thread: wake it if asleep, interrupt it if running;
	 * it exits on its way back to user mode. */
	list_for_each(it, &p->threads) {
		struct thread *t = list_entry(it, struct thread, proc_link);
		if (t != self && t->state != THREAD_DEAD)
			interrupt_thread(p, t);
	}
	spin_unlock_irqrestore(&p->exited.lock, f);
	thread_exit();
}
