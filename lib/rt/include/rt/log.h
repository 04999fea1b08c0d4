/*
 * rt_log: one line to the kernel log, with a program name and a level.
 *
 * Each call formats into a stack buffer (RT_LOG_MAX bytes; longer lines are
 * cut and end in "...") and writes it with ONE sys_log, so lines from
 * different threads and processes do not interleave. The format is that of
 * ulib's u_printf on Alder (%d %i %u %x %X %p %s %c %% with hh/h/l/ll/z,
 * '-' and '0' flags, width, precision); the host uses vsnprintf.
 * A newline is added unless the message ends in one.
 *
 * rt_log_init is meant to be called once, before threads start; rt_log
 * itself is safe from any thread and any context (no locks, no allocation).
 */
#ifndef RT_LOG_H
#define RT_LOG_H

#include <stdarg.h>

enum rt_log_level {
	RT_LOG_ERROR = 0,
	RT_LOG_WARN = 1,
	RT_LOG_INFO = 2,
	RT_LOG_DEBUG = 3,
};

#define RT_LOG_MAX 256

/* name: shown at the start of every line (kept by pointer; NULL: "rt").
 * Messages above max_level are dropped. Default: "rt", RT_LOG_INFO. */
void rt_log_init(const char *name, enum rt_log_level max_level);

/* Returns the number of bytes written, 0 if filtered out, or a negative errno. */
long rt_log(enum rt_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
long rt_vlog(enum rt_log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif
