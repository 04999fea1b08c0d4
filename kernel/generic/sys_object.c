/*
 * System calls for handles, memory objects, address spaces and futexes
 * (abi/alder/memory.h). Each call resolves its handles (with the rights it
 * needs) first, then acts; every reference taken is dropped on every path.
 */
#include <kern/assert.h>
#include <kern/clock.h>
#include <kern/futex.h>
#include <kern/heap.h>
#include <kern/pmm.h>
#include <kern/process.h>
#include <kern/syscall.h>
#include <kern/thread.h>
#include <kern/uaccess.h>
#include <kern/vmspace.h>
#include <alder/errno.h>
#include <alder/handle.h>
#include <alder/memory.h>
#include <alder/syscall.h>
#include <arch/paging.h>

#define ARGS uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5

/* The root object: authority over hardware. One, never freed. */
static void root_destroy(struct kobj *o) { (void)o; }
static const struct kobj_ops root_ops = { "root", root_destroy };
static struct kobj root_obj;

struct kobj *root_object(void)
{
	if (!root_obj.ops)
		kobj_init(&root_obj, ALDER_OBJ_ROOT, &root_ops); /* the initial reference is never dropped */
	return kobj_get(&root_obj);
}

static struct handle_table *table(void) { return &proc_current()->handles; }

int space_from_handle(uint64_t h, uint32_t need, struct vmspace **out)
{
	if ((int64_t)h == ALDER_HANDLE_SELF_SPACE) {
		*out = (struct vmspace *)kobj_get((struct kobj *)proc_current()->space);
		return 0;
	}
	if ((int64_t)h > INT32_MAX || (int64_t)h < INT32_MIN)
		return -ALDER_EBADF;
	struct kobj *o;
	int r = handle_get(table(), (alder_handle_t)h, ALDER_OBJ_SPACE, need, &o, NULL);
	if (!r)
		*out = (struct vmspace *)o;
	return r;
}

static int get_obj(uint64_t h, uint32_t type, uint32_t need, struct kobj **out, uint32_t *rights)
{
	if ((int64_t)h > INT32_MAX || (int64_t)h <= 0)
		return -ALDER_EBADF;
	return handle_get(table(), (alder_handle_t)h, type, need, out, rights);
}

static long install(struct kobj *o, uint32_t rights)
{
	long h = handle_install(table(), o, rights);
	if (h < 0)
		kobj_put(o);
	return h;
}

static long sys_handle_close(ARGS)
{
	if ((int64_t)a0 > INT32_MAX || (int64_t)a0 <= 0)
		return -ALDER_EBADF;
	return handle_close(table(), (alder_handle_t)a0);
}

static long sys_handle_dup(ARGS)
{
	if ((int64_t)a0 > INT32_MAX || (int64_t)a0 <= 0)
		return -ALDER_EBADF;
	return handle_dup(table(), (alder_handle_t)a0, (uint32_t)a1);
}

static long sys_handle_info(ARGS)
{
	struct kobj *o;
	uint32_t rights;
	int r = get_obj(a0, 0, 0, &o, &rights);
	if (r)
		return r;
	struct alder_handle_info info = { o->type, rights, o->koid };
	kobj_put(o);
	return copy_to_user(a1, &info, sizeof(info));
}

static long sys_mem_create(ARGS)
{
	if (a1 != 0 || a0 == 0 || a0 > ALDER_MEM_MAX)
		return -ALDER_EINVAL;
	struct memobj *m = memobj_create_anon(a0);
	if (!m)
		return -ALDER_ENOMEM;
	return install((struct kobj *)m, ALDER_RIGHTS_ALL);
}

static long sys_mem_create_phys(ARGS)
{
	struct kobj *root;
	int r = get_obj(a0, ALDER_OBJ_ROOT, ALDER_RIGHT_MANAGE, &root, NULL);
	if (r)
		return r;
	kobj_put(root);
	uint64_t paddr = a1, size = a2, cache = a3;
	if (size == 0 || (paddr | size) & (PAGE_SIZE - 1) || paddr + size < paddr || paddr + size > (1ull << 52) ||
	    cache > ALDER_CACHE_UC)
		return -ALDER_EINVAL;
	for (uint64_t p = paddr; p < paddr + size; p += PAGE_SIZE)
		if (pmm_is_managed(p))
			return -ALDER_EPERM; /* RAM the kernel hands out */
	struct memobj *m = memobj_create_phys(paddr, size, cache == ALDER_CACHE_UC);
	if (!m)
		return -ALDER_ENOMEM;
	return install((struct kobj *)m, ALDER_RIGHTS_ALL & ~ALDER_RIGHT_EXECUTE);
}

static long derive(uint64_t h, uint64_t offset, uint64_t size, bool cow)
{
	struct kobj *o;
	uint32_t rights;
	int r = get_obj(h, ALDER_OBJ_MEMORY, ALDER_RIGHT_READ, &o, &rights);
	if (r)
		return r;
	struct memobj *src = (struct memobj *)o;
	struct memobj *m = NULL;
	if (size == 0 || (offset | size) & (PAGE_SIZE - 1) || offset > memobj_size(src) ||
	    size > memobj_size(src) - offset)
		r = -ALDER_EINVAL;
	else if (cow && memobj_uncached(src))
		r = -ALDER_EINVAL;
	else if (memobj_depth(src) >= ALDER_MEM_MAX_DEPTH)
		r = -ALDER_EMLINK;
	else {
		m = cow ? memobj_create_cow(src, offset, size) : memobj_create_slice(src, offset, size);
		if (!m)
			r = -ALDER_ENOMEM;
	}
	kobj_put(o);
	if (r)
		return r;
	/* A copy-on-write view is the caller's own memory: it may write it. */
	return install((struct kobj *)m, cow ? rights | ALDER_RIGHT_WRITE : rights);
}

static long sys_mem_create_cow(ARGS) { return derive(a0, a1, a2, true); }
static long sys_mem_create_slice(ARGS) { return derive(a0, a1, a2, false); }

static long sys_space_create(ARGS)
{
	struct vmspace *s = vmspace_create();
	if (!s)
		return -ALDER_ENOMEM;
	return install((struct kobj *)s, ALDER_RIGHTS_ALL);
}

static unsigned rights_to_max_prot(uint32_t rights)
{
	unsigned p = VM_PROT_READ;
	if (rights & ALDER_RIGHT_WRITE)
		p |= VM_PROT_WRITE;
	if (rights & ALDER_RIGHT_EXECUTE)
		p |= VM_PROT_EXEC;
	return p;
}

static long sys_space_map(ARGS)
{
	uint64_t offset = a2, addr = a3, size = a4, flags = a5;
	if (flags & ~(uint64_t)(ALDER_PROT_READ | ALDER_PROT_WRITE | ALDER_PROT_EXEC))
		return -ALDER_EINVAL;
	struct vmspace *s;
	int r = space_from_handle(a0, ALDER_RIGHT_MANAGE, &s);
	if (r)
		return r;
	struct kobj *o;
	uint32_t rights;
	r = get_obj(a1, ALDER_OBJ_MEMORY, ALDER_RIGHT_MAP, &o, &rights);
	if (r) {
		kobj_put((struct kobj *)s);
		return r;
	}
	int64_t ret = vmspace_map_limited(s, (struct memobj *)o, offset, addr, size, (unsigned)flags,
					  rights_to_max_prot(rights));
	kobj_put(o);
	kobj_put((struct kobj *)s);
	return ret;
}

static long sys_space_unmap(ARGS)
{
	struct vmspace *s;
	int r = space_from_handle(a0, ALDER_RIGHT_MANAGE, &s);
	if (r)
		return r;
	r = vmspace_unmap(s, a1, a2);
	kobj_put((struct kobj *)s);
	return r;
}

static long sys_space_protect(ARGS)
{
	if (a3 & ~(uint64_t)(ALDER_PROT_READ | ALDER_PROT_WRITE | ALDER_PROT_EXEC))
		return -ALDER_EINVAL;
	struct vmspace *s;
	int r = space_from_handle(a0, ALDER_RIGHT_MANAGE, &s);
	if (r)
		return r;
	r = vmspace_protect(s, a1, a2, (unsigned)a3);
	kobj_put((struct kobj *)s);
	return r;
}

static long sys_space_rw(ARGS)
{
	uint64_t addr = a1, ubuf = a2, len = a3;
	bool write = a4 != 0;
	if (a4 > 1)
		return -ALDER_EINVAL;
	if (len > ALDER_RW_MAX)
		return -ALDER_EINVAL;
	if (!uaccess_range_ok(ubuf, len))
		return -ALDER_EFAULT;
	struct vmspace *s;
	int r = space_from_handle(a0, write ? ALDER_RIGHT_WRITE : ALDER_RIGHT_READ, &s);
	if (r)
		return r;
	struct vmspace *me = proc_current()->space;
	r = write ? vmspace_copy(s, addr, me, ubuf, len) : vmspace_copy(me, ubuf, s, addr, len);
	kobj_put((struct kobj *)s);
	return r;
}

static long sys_futex_wait(ARGS)
{
	uint64_t deadline = 0; /* none; also for timeouts too long to represent */
	if (a2) {
		uint64_t now = clock_ns();
		if (a2 <= UINT64_MAX - now)
			deadline = now + a2;
	}
	if (a1 > UINT32_MAX)
		return -ALDER_EINVAL;
	return futex_wait(proc_current()->space, a0, (uint32_t)a1, deadline);
}

static long sys_futex_wake(ARGS)
{
	if (a1 > UINT32_MAX)
		return -ALDER_EINVAL;
	return futex_wake(proc_current()->space, a0, (uint32_t)a1);
}

SYSCALL_REGISTER(SYS_HANDLE_CLOSE, sys_handle_close);
SYSCALL_REGISTER(SYS_HANDLE_DUP, sys_handle_dup);
SYSCALL_REGISTER(SYS_HANDLE_INFO, sys_handle_info);
SYSCALL_REGISTER(SYS_MEM_CREATE, sys_mem_create);
SYSCALL_REGISTER(SYS_MEM_CREATE_PHYS, sys_mem_create_phys);
SYSCALL_REGISTER(SYS_MEM_CREATE_COW, sys_mem_create_cow);
SYSCALL_REGISTER(SYS_MEM_CREATE_SLICE, sys_mem_create_slice);
SYSCALL_REGISTER(SYS_SPACE_CREATE, sys_space_create);
SYSCALL_REGISTER(SYS_SPACE_MAP, sys_space_map);
SYSCALL_REGISTER(SYS_SPACE_UNMAP, sys_space_unmap);
SYSCALL_REGISTER(SYS_SPACE_PROTECT, sys_space_protect);
SYSCALL_REGISTER(SYS_SPACE_RW, sys_space_rw);
SYSCALL_REGISTER(SYS_FUTEX_WAIT, sys_futex_wait);
SYSCALL_REGISTER(SYS_FUTEX_WAKE, sys_futex_wake);
