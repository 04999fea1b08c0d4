/*
 * thread_life: how long a thread made by SYS_THREAD_NEW lives, and what
 * its handle still answers (abi/alder/thread.h). The argument picks a case:
 *   "pid"         ALDER_THREAD_GETPID still answers after the thread
 *                 ended, so a parent can wait for the pid it learns late
 * Exits 0 if every check passed.
 */
#include <umem.h>
#include <uthread.h>
#include <utest.h>

#define SELF ALDER_HANDLE_SELF_SPACE
#define STACK_SIZE 4096

_Static_assert(SYS_THREAD_EXIT == 0x40000009 && SYS_EXIT == 0x40000001, "the stubs hard-code the numbers");

/* Code for threads we start without a C entry: end the thread, or end the
 * process with status 7. No stack use. */
void tl_thread_exit_stub(void);
void tl_exit7_stub(void);
__asm__(".text\n"
	".globl tl_thread_exit_stub\n"
	"tl_thread_exit_stub:\n"
	"\tmovl $0x40000009, %eax\n"
	"\tsyscall\n"
	"\tud2\n"
	".globl tl_exit7_stub\n"
	"tl_exit7_stub:\n"
	"\tmovl $7, %edi\n"
	"\tmovl $0x40000001, %eax\n"
	"\tsyscall\n"
	"\tud2\n");
#define THREAD_EXIT_STUB ((uint64_t)(uintptr_t)tl_thread_exit_stub)
#define EXIT7_STUB ((uint64_t)(uintptr_t)tl_exit7_stub)

static uint8_t stack[STACK_SIZE] __attribute__((aligned(16)));
#define STACK_TOP ((uint64_t)(uintptr_t)(stack + STACK_SIZE))

static struct alder_regs regs;

/* Wait until the thread behind h has ended: control calls answer -ESRCH. */
static bool ended(alder_handle_t h)
{
	for (int i = 0; i < 1000; i++) {
		if (u_thread_regs(h, &regs, 0) == -ALDER_ESRCH)
			return true;
		sys_sleep(U_NS_PER_MS);
	}
	return false;
}

static void pid(void)
{
	/* A child process (in our space) that exits 7 by itself; we ask for
	 * its pid only after it has ended. */
	long t = u_must(u_thread_new(SELF, EXIT7_STUB, STACK_TOP, 0, ALDER_THREAD_NEW_PROCESS),
			"thread_new child");
	CHECK_EQ(u_thread_ctl((alder_handle_t)t, ALDER_THREAD_START, 0), 0);
	CHECK(ended((alder_handle_t)t));
	CHECK_EQ(u_thread_ctl((alder_handle_t)t, ALDER_THREAD_RESUME, 0), -ALDER_ESRCH);
	long child = u_thread_ctl((alder_handle_t)t, ALDER_THREAD_GETPID, 0);
	CHECK(child > 0);
	struct alder_exit_info info = {.how = -1};
	CHECK_EQ(sys_wait(child, &info), child);
	CHECK(info.how == ALDER_EXIT_NORMAL && info.status == 7);
	CHECK_EQ(u_thread_ctl((alder_handle_t)t, ALDER_THREAD_GETPID, 0), child);
	CHECK_EQ(u_handle_close((alder_handle_t)t), 0);

	/* A thread of our own process: its pid is ours, before and after. */
	t = u_must(u_thread_new(SELF, THREAD_EXIT_STUB, STACK_TOP, 0, 0), "thread_new self");
	long mine = u_thread_ctl((alder_handle_t)t, ALDER_THREAD_GETPID, 0);
	CHECK(mine > 0 && mine != child);
	CHECK_EQ(u_thread_ctl((alder_handle_t)t, ALDER_THREAD_START, 0), 0);
	CHECK(ended((alder_handle_t)t));
	CHECK_EQ(u_thread_ctl((alder_handle_t)t, ALDER_THREAD_GETPID, 0), mine);
	CHECK_EQ(u_thread_ctl((alder_handle_t)t, ALDER_THREAD_START, 0), -ALDER_ESRCH);
	CHECK_EQ(u_handle_close((alder_handle_t)t), 0);
}

int main(const char *arg, size_t len)
{
	(void)len;
	if (strcmp(arg, "pid") == 0)
		pid();
	else {
		u_printf("thread_life: unknown case \"%s\"\n", arg);
		return 2;
	}
	return u_test_end("thread_life");
}
