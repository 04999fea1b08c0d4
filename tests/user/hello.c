/*
 * hello: the smallest user program. Prints a line, checks the process entry
 * contract (registers zero except the argument, rsp 16-byte aligned below the
 * stack ceiling, arg_len == strlen(arg)), and exits 0. With the argument
 * "exit:N" it exits with status N instead, which tests argument passing and
 * exit-status propagation.
 */
#include <utest.h>

int main(const char *arg, size_t arg_len)
{
	u_printf("hello from user space (arg \"%s\", %zu bytes)\n", arg, arg_len);

	CHECK_EQ(strlen(arg), arg_len);
	CHECK_EQ(u_entry_regs[ULIB_REG_RDI], (uintptr_t)arg);
	CHECK_EQ(u_entry_regs[ULIB_REG_RSI], arg_len);
	uint64_t rsp = u_entry_regs[ULIB_REG_RSP];
	CHECK_EQ(rsp & 15, 0);
	CHECK(rsp < ULIB_STACK_CEILING);
	/* The argument must be readable user memory outside our image. */
	CHECK((uintptr_t)arg >= 0x1000 && (uintptr_t)arg < ULIB_USER_END);

	/* rcx and r11 are not checked: a kernel entering with SYSRET must put
	 * the entry rip and rflags there. Everything else must be zero so no
	 * kernel value leaks into user space. */
	static const struct {
		int reg;
		const char *name;
	} zero_regs[] = {
	    {ULIB_REG_RAX, "rax"}, {ULIB_REG_RBX, "rbx"}, {ULIB_REG_RDX, "rdx"}, {ULIB_REG_RBP, "rbp"},
	    {ULIB_REG_R8, "r8"},   {ULIB_REG_R9, "r9"},	  {ULIB_REG_R10, "r10"}, {ULIB_REG_R12, "r12"},
	    {ULIB_REG_R13, "r13"}, {ULIB_REG_R14, "r14"}, {ULIB_REG_R15, "r15"},
	};
	for (size_t i = 0; i < U_ARRAY_SIZE(zero_regs); i++) {
		uint64_t v = u_entry_regs[zero_regs[i].reg];
		if (v != 0) {
			u_printf("hello: %s = 0x%lx at entry, expected 0\n", zero_regs[i].name, v);
			return 1;
		}
	}

	if (u_starts_with(arg, "exit:")) {
		long status;
		CHECK(u_parse_long(arg + 5, &status));
		return (int)status;
	}
	return 0;
}
