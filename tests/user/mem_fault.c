/*
 * mem_fault: accesses that a mapping's protection forbids must kill the
 * process with #PF (vector 14) at a known address. Each mode sets up its
 * mapping, checks the allowed accesses work, then makes the forbidden one;
 * srv/init/init.c expects the fault at exactly the address given below
 * (MEM_FAULT_AT there: keep the two in step). Surviving the forbidden
 * access exits 1; a setup failure exits 2.
 *
 *   ro_write       write to a page mapped read-only        at FAULT_AT
 *   nx_exec        call into a page made RW -> R           at FAULT_AT
 *   nx_map         call into a page mapped R (code put there through
 *                  another, writable mapping)               at FAULT_AT
 *   unmapped       read the middle page of a 3-page mapping
 *                  after unmapping just that page           at FAULT_AT + 4096
 *   protect_split  write the middle page of a 3-page RW mapping made
 *                  read-only (the outer pages stay writable) at FAULT_AT + 4096
 *   slice_ro       write through a read-only mapping of a slice whose
 *                  page the source already maps writable    at FAULT_AT
 *   cow_ro         write through a read-only mapping of a COW view
 *                  whose source page is present and writable at FAULT_AT
 *   unmap_tlb      a second thread keeps reading a page while the main
 *                  thread unmaps it; its next read after the unmap
 *                  returned must fault (TLB shootdown)      at FAULT_AT
 *   protect_tlb    likewise, writing while the page is made read-only
 *                                                           at FAULT_AT
 */
#include <umem.h>
#include <utest.h>

#define FAULT_AT ((uint64_t)0x500000000)
#define OTHER_AT (FAULT_AT + 64 * U_PAGE_SIZE)
#define PAGE U_PAGE_SIZE
#define SELF ALDER_HANDLE_SELF_SPACE
#define RW (ALDER_PROT_READ | ALDER_PROT_WRITE)
#define STACK_SIZE 16384

static uint8_t stack[STACK_SIZE] __attribute__((aligned(16)));

static noreturn void setup_failed(const char *what, long r)
{
	u_printf("mem_fault: setup: %s: %ld (%s)\n", what, r, u_errname(r));
	sys_exit(2);
}

static noreturn void survived(const char *what)
{
	u_printf("mem_fault: %s did not fault\n", what);
	sys_exit(1);
}

static alder_handle_t create(uint64_t size)
{
	long h = u_mem_create(size, 0);

	if (h <= 0)
		setup_failed("mem_create", h);
	return (alder_handle_t)h;
}

static void map_at(alder_handle_t h, uint64_t off, uint64_t addr, uint64_t size, uint32_t prot)
{
	long r = u_space_map(SELF, h, off, addr, size, prot);

	if (r != (long)addr)
		setup_failed("space_map", r);
}

static void check(bool ok, const char *what)
{
	if (!ok)
		setup_failed(what, 0);
}

static const uint8_t code_ret42[] = {0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3}; /* mov $42, %eax; ret */

static void call_at(uint64_t addr, const char *what)
{
	int (*fn)(void) = (int (*)(void))(uintptr_t)addr;
	__asm__ volatile("" ::: "memory");
	fn();
	survived(what);
}

static void mode_ro_write(void)
{
	alder_handle_t h = create(PAGE);
	map_at(h, 0, FAULT_AT, PAGE, ALDER_PROT_READ);
	volatile uint32_t *p = (volatile uint32_t *)FAULT_AT;
	check(p[0] == 0, "read of the read-only page");
	p[0] = 1;
	survived("write to a read-only mapping");
}

static void mode_nx_exec(void)
{
	alder_handle_t h = create(PAGE);
	map_at(h, 0, FAULT_AT, PAGE, RW);
	memcpy((void *)(uintptr_t)FAULT_AT, code_ret42, sizeof(code_ret42));
	long r = u_space_protect(SELF, FAULT_AT, PAGE, ALDER_PROT_READ);
	if (r != 0)
		setup_failed("protect R", r);
	check(*(volatile uint8_t *)FAULT_AT == 0xb8, "read after protect");
	call_at(FAULT_AT, "executing a page protected RW -> R");
}

static void mode_nx_map(void)
{
	alder_handle_t h = create(PAGE);
	map_at(h, 0, OTHER_AT, PAGE, RW);
	memcpy((void *)(uintptr_t)OTHER_AT, code_ret42, sizeof(code_ret42));
	map_at(h, 0, FAULT_AT, PAGE, ALDER_PROT_READ);
	check(*(volatile uint8_t *)FAULT_AT == 0xb8, "read of the code through the R mapping");
	call_at(FAULT_AT, "executing a page mapped R");
}

static void mode_unmapped(void)
{
	alder_handle_t h = create(3 * PAGE);
	volatile uint8_t *p = (volatile uint8_t *)FAULT_AT;
	map_at(h, 0, FAULT_AT, 3 * PAGE, RW);
	p[0] = 1;
	p[PAGE] = 2;
	p[2 * PAGE] = 3;
	long r = u_space_unmap(SELF, FAULT_AT + PAGE, PAGE);
	if (r != 0)
		setup_failed("unmap the middle page", r);
	check(p[0] == 1 && p[2 * PAGE] == 3, "outer pages after the unmap");
	p[2 * PAGE] = 4;
	(void)p[PAGE];
	survived("reading an unmapped page");
}

static void mode_protect_split(void)
{
	alder_handle_t h = create(3 * PAGE);
	volatile uint8_t *p = (volatile uint8_t *)FAULT_AT;
	map_at(h, 0, FAULT_AT, 3 * PAGE, RW);
	p[PAGE] = 2;
	long r = u_space_protect(SELF, FAULT_AT + PAGE, PAGE, ALDER_PROT_READ);
	if (r != 0)
		setup_failed("protect the middle page", r);
	p[0] = 1;
	p[2 * PAGE] = 3;
	check(p[PAGE] == 2 && p[0] == 1 && p[2 * PAGE] == 3, "pieces after the protect");
	p[PAGE] = 5;
	survived("writing the read-only middle piece");
}

static void mode_slice_ro(void)
{
	alder_handle_t h = create(PAGE);
	map_at(h, 0, OTHER_AT, PAGE, RW);
	*(volatile uint32_t *)OTHER_AT = 0x51;
	long ro = u_handle_dup(h, ALDER_RIGHT_READ | ALDER_RIGHT_MAP);
	if (ro <= 0)
		setup_failed("dup READ|MAP", ro);
	long s = u_mem_create_slice((alder_handle_t)ro, 0, PAGE);
	if (s <= 0)
		setup_failed("slice", s);
	map_at((alder_handle_t)s, 0, FAULT_AT, PAGE, ALDER_PROT_READ);
	volatile uint32_t *p = (volatile uint32_t *)FAULT_AT;
	check(p[0] == 0x51, "read through the slice");
	p[0] = 0x52;
	survived("writing a read-only slice mapping");
}

static void mode_cow_ro(void)
{
	alder_handle_t h = create(PAGE);
	map_at(h, 0, OTHER_AT, PAGE, RW);
	*(volatile uint32_t *)OTHER_AT = 0xc1;
	long v = u_mem_create_cow(h, 0, PAGE);
	if (v <= 0)
		setup_failed("cow", v);
	map_at((alder_handle_t)v, 0, FAULT_AT, PAGE, ALDER_PROT_READ);
	volatile uint32_t *p = (volatile uint32_t *)FAULT_AT;
	check(p[0] == 0xc1, "read through the view");
	p[0] = 0xc2;
	survived("writing a read-only COW view mapping");
}

/* ---- TLB shootdown: a second thread holds a live translation ----------- */

static struct {
	unsigned long reads; /* worker's progress */
	unsigned changed;    /* main: the unmap/protect call has returned */
	bool write;	     /* worker writes instead of reads (set before start) */
} tlb;

static void tlb_worker(void *arg)
{
	volatile uint32_t *p = (volatile uint32_t *)FAULT_AT;

	for (;;) {
		if (tlb.write)
			p[0] = (uint32_t)tlb.reads;
		else
			(void)p[0];
		u_atomic_fetch_add(&tlb.reads, 1);
		if (u_atomic_load(&tlb.changed)) {
			/* The change returned before this load: the access must
			 * fault, whatever this CPU's TLB held. */
			if (tlb.write)
				p[0] = 0xdead;
			else
				(void)p[0];
			u_printf("mem_fault: %s after the %s returned did not fault (stale TLB entry)\n",
				 tlb.write ? "write" : "read", tlb.write ? "protect" : "unmap");
			sys_exit(1);
		}
	}
}

static void mode_tlb(bool write)
{
	alder_handle_t h = create(PAGE);
	map_at(h, 0, FAULT_AT, PAGE, RW);
	*(volatile uint32_t *)FAULT_AT = 1;
	tlb.write = write;
	long t = u_thread_start(tlb_worker, NULL, stack, STACK_SIZE);
	if (t < 0)
		setup_failed("thread start", t);

	uint64_t deadline = u_now_ns() + 5 * U_NS_PER_SEC;
	while (u_atomic_load(&tlb.reads) < 100000) {
		if (u_now_ns() > deadline)
			setup_failed("worker made no progress", (long)u_atomic_load(&tlb.reads));
		sys_yield();
	}
	long r = write ? u_space_protect(SELF, FAULT_AT, PAGE, ALDER_PROT_READ)
		       : u_space_unmap(SELF, FAULT_AT, PAGE);
	if (r != 0)
		setup_failed(write ? "protect" : "unmap", r);
	u_atomic_store(&tlb.changed, 1);
	/* The worker dies (and takes the process) within its next access; the
	 * handle stays open so a stale translation would still hit live memory. */
	sys_sleep(5 * U_NS_PER_SEC);
	u_printf("mem_fault: worker still alive 5 s after the %s (%lu accesses)\n",
		 write ? "protect" : "unmap", u_atomic_load(&tlb.reads));
	sys_exit(1);
}

int main(const char *arg, size_t arg_len)
{
	if (strcmp(arg, "ro_write") == 0)
		mode_ro_write();
	else if (strcmp(arg, "nx_exec") == 0)
		mode_nx_exec();
	else if (strcmp(arg, "nx_map") == 0)
		mode_nx_map();
	else if (strcmp(arg, "unmapped") == 0)
		mode_unmapped();
	else if (strcmp(arg, "protect_split") == 0)
		mode_protect_split();
	else if (strcmp(arg, "slice_ro") == 0)
		mode_slice_ro();
	else if (strcmp(arg, "cow_ro") == 0)
		mode_cow_ro();
	else if (strcmp(arg, "unmap_tlb") == 0)
		mode_tlb(false);
	else if (strcmp(arg, "protect_tlb") == 0)
		mode_tlb(true);
	u_printf("mem_fault: unknown mode \"%s\"\n", arg);
	return 2;
}
