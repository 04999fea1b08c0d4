/*
 * Kernel logging with levels. Output goes to every registered sink (serial
 * port, QEMU debugcon). Lines at or above the current threshold are printed.
 * Safe from any context, including interrupt handlers and other CPUs (the
 * sink lock is an IRQ-saving spinlock; panic forces it open).
 */
#ifndef KERN_LOG_H
#define KERN_LOG_H

#include <kern/types.h>
#include <stdarg.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERR };

void klog(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vklog(enum log_level level, const char *fmt, va_list ap);
/* Raw text without prefix or newline handling (used for user sys_log). */
void klog_write(const char *s, size_t len);
void klog_set_level(enum log_level level);

/* printf-style formatter: %d %i %u %x %X %p %s %c %%, with l/ll/z, width, 0 and - flags. */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(...) klog(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) klog(LOG_INFO, __VA_ARGS__)
#define log_warn(...) klog(LOG_WARN, __VA_ARGS__)
#define log_err(...) klog(LOG_ERR, __VA_ARGS__)

#endif
