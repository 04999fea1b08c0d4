/*
 * Error numbers returned (negated) by native system calls. The values are
 * Linux's, so that the POSIX personality passes them through unchanged.
 */
#ifndef ALDER_ABI_ERRNO_H
#define ALDER_ABI_ERRNO_H

#define ALDER_EPERM 1
#define ALDER_ENOENT 2
#define ALDER_ESRCH 3
#define ALDER_EINTR 4
#define ALDER_EIO 5
#define ALDER_E2BIG 7
#define ALDER_ENOEXEC 8
#define ALDER_EBADF 9
#define ALDER_ECHILD 10
#define ALDER_EAGAIN 11
#define ALDER_ENOMEM 12
#define ALDER_EACCES 13
#define ALDER_EFAULT 14
#define ALDER_EBUSY 16
#define ALDER_EEXIST 17
#define ALDER_EINVAL 22
#define ALDER_ENOSPC 28
#define ALDER_ERANGE 34
#define ALDER_ENAMETOOLONG 36
#define ALDER_ENOSYS 38
#define ALDER_EMLINK 31
#define ALDER_EPIPE 32
#define ALDER_ENOTTY 25
#define ALDER_EOVERFLOW 75
#define ALDER_EBADFD 77 /* a handle of the wrong type */
#define ALDER_EMFILE 24
#define ALDER_EPROTO 71
#define ALDER_EMSGSIZE 90
#define ALDER_EBADMSG 74
#define ALDER_ENOTSUP 95
#define ALDER_ETIMEDOUT 110
#define ALDER_ECANCELED 125

#endif
