/* Host-test stand-in for kern/log.h: the kernel log goes to stderr when
 * HOST_LOG is set in the environment, else nowhere. */
#ifndef KERN_LOG_H
#define KERN_LOG_H

#include <kern/types.h>
#include <stdarg.h>
#include <stdio.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERR };

void klog(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) klog(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) klog(LOG_INFO, __VA_ARGS__)
#define log_warn(...) klog(LOG_WARN, __VA_ARGS__)
#define log_err(...) klog(LOG_ERR, __VA_ARGS__)

#endif
