/*
 * errnames: u_errname knows every errno of abi/alder/errno.h, by its
 * name, for e and -e, and says "E?" for numbers that are none. The list
 * below is errno.h's: a value added there belongs here too.
 */
#include <utest.h>

#define E(name)                                                                                              \
	{                                                                                                    \
		ALDER_##name, #name                                                                          \
	}

static const struct {
	int num;
	const char *name;
} errnos[] = {
    E(EPERM),  E(ENOENT), E(ESRCH),	   E(EINTR),	E(EIO),	    E(E2BIG),	E(ENOEXEC),   E(EBADF),
    E(ECHILD), E(EAGAIN), E(ENOMEM),	   E(EACCES),	E(EFAULT),  E(EBUSY),	E(EEXIST),    E(EINVAL),
    E(ENOSPC), E(ERANGE), E(ENAMETOOLONG), E(ENOSYS),	E(EMLINK),  E(EPIPE),	E(ENOTTY),    E(EOVERFLOW),
    E(EBADFD), E(EMFILE), E(EPROTO),	   E(EMSGSIZE), E(EBADMSG), E(ENOTSUP), E(ETIMEDOUT), E(ECANCELED),
};

int main(const char *arg, size_t len)
{
	(void)arg, (void)len;
	for (size_t i = 0; i < U_ARRAY_SIZE(errnos); i++) {
		const char *got = u_errname(errnos[i].num), *neg = u_errname(-errnos[i].num);
		if (strcmp(got, errnos[i].name) != 0 || strcmp(neg, errnos[i].name) != 0)
			u_expect_fail(__FILE__, __LINE__, "u_errname(%d): %s / %s, expected %s",
				      errnos[i].num, got, neg, errnos[i].name);
	}
	EXPECT(strcmp(u_errname(0), "E?") == 0);
	EXPECT(strcmp(u_errname(4095), "E?") == 0);
	EXPECT(strcmp(u_errname(-6), "E?") == 0);
	return u_test_end("errnames");
}
