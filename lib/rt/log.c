/*
 * rt_log (rt/log.h): format one line on the stack and write it with one
 * call. The name and level are plain globals set once at start-up.
 */
#include "internal.h"

static const char *log_name = "rt";
static enum rt_log_level log_max = RT_LOG_INFO;

static const char *const level_names[] = {
    [RT_LOG_ERROR] = "error",
    [RT_LOG_WARN] = "warn",
    [RT_LOG_INFO] = "info",
    [RT_LOG_DEBUG] = "debug",
};

static int __attribute__((format(printf, 3, 4))) format(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = rt_plat_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return r;
}

void rt_log_init(const char *name, enum rt_log_level max_level)
{
	log_name = name ? name : "rt";
	log_max = max_level;
}

long rt_vlog(enum rt_log_level level, const char *fmt, va_list ap)
{
	char buf[RT_LOG_MAX];
	static const char cut[] = "...\n";

	if ((unsigned)level > (unsigned)log_max)
		return 0;
	const char *lname =
	    (unsigned)level < sizeof(level_names) / sizeof(level_names[0]) ? level_names[level] : "?";
	int head = format(buf, sizeof(buf), "%s: %s: ", log_name, lname);
	size_t len = head < 0 ? 0 : (size_t)head;
	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	int body = rt_plat_vsnprintf(buf + len, sizeof(buf) - len, fmt, ap);
	if (body < 0)
		body = 0;
	if ((size_t)body >= sizeof(buf) - len) {
		/* Cut: end in "...\n" (cut includes the newline). */
		len = sizeof(buf) - sizeof(cut);
		__builtin_memcpy(buf + len, cut, sizeof(cut) - 1);
		len += sizeof(cut) - 1;
	} else {
		len += (size_t)body;
		if (len == 0 || buf[len - 1] != '\n') {
			if (len + 1 >= sizeof(buf))
				len = sizeof(buf) - 2;
			buf[len++] = '\n';
		}
	}
	return rt_plat_log_write(buf, len);
}

long rt_log(enum rt_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	long r = rt_vlog(level, fmt, ap);
	va_end(ap);
	return r;
}
