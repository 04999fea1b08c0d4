/*
 * Kernel log: a printf-style formatter and line output to the serial port
 * and QEMU's debugcon (through arch_log_write). One IRQ-saving lock keeps
 * lines from different CPUs whole. panic() calls log_force_unlock() so a
 * CPU that dies holding the lock cannot silence the panic message.
 */
#include <kern/log.h>
#include <kern/spinlock.h>
#include <kern/string.h>
#include <kern/clock.h>

void arch_log_write(const char *s, size_t len);
void log_force_unlock(void);

static spinlock_t log_lock = SPINLOCK_INIT;
static enum log_level log_threshold = LOG_INFO;
static const char *const level_tag[] = { "debug", "info", "warn", "error" };

void klog_set_level(enum log_level level) { log_threshold = level; }

void log_force_unlock(void) { spin_force_unlock(&log_lock); }

struct fmtbuf {
	char *buf;
	size_t size, len;
};

static void put(struct fmtbuf *b, char c)
{
	if (b->len + 1 < b->size)
		b->buf[b->len] = c;
	b->len++;
}

static void put_num(struct fmtbuf *b, uint64_t v, unsigned base, bool upper, bool neg, int width, char pad, bool left)
{
	char tmp[24];
	int n = 0;
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	int len = n + neg;
	if (neg && pad == '0')
		put(b, '-');
	if (!left)
		for (int i = len; i < width; i++)
			put(b, pad);
	if (neg && pad != '0')
		put(b, '-');
	while (n)
		put(b, tmp[--n]);
	if (left)
		for (int i = len; i < width; i++)
			put(b, ' ');
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct fmtbuf b = { buf, size, 0 };
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(&b, *fmt);
			continue;
		}
		fmt++;
		bool left = false;
		char pad = ' ';
		int width = 0, lng = 0;
		for (;; fmt++) {
			if (*fmt == '-')
				left = true;
			else if (*fmt == '0')
				pad = '0';
			else
				break;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			lng++;
			fmt++;
		}
		uint64_t u;
		int64_t s;
		switch (*fmt) {
		case 'd':
		case 'i':
			s = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			put_num(&b, s < 0 ? -(uint64_t)s : (uint64_t)s, 10, false, s < 0, width, pad, left);
			break;
		case 'u':
			u = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			put_num(&b, u, 10, false, false, width, pad, left);
			break;
		case 'x':
		case 'X':
			u = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			put_num(&b, u, 16, *fmt == 'X', false, width, pad, left);
			break;
		case 'p':
			put(&b, '0');
			put(&b, 'x');
			put_num(&b, (uint64_t)(uintptr_t)va_arg(ap, void *), 16, false, false, 16, '0', false);
			break;
		case 's': {
			const char *str = va_arg(ap, const char *);
			if (!str)
				str = "(null)";
			size_t l = strlen(str);
			if (!left)
				for (size_t i = l; i < (size_t)width; i++)
					put(&b, ' ');
			while (*str)
				put(&b, *str++);
			if (left)
				for (size_t i = l; i < (size_t)width; i++)
					put(&b, ' ');
			break;
		}
		case 'c':
			put(&b, (char)va_arg(ap, int));
			break;
		case '%':
			put(&b, '%');
			break;
		case 0:
			fmt--;
			break;
		default:
			put(&b, '%');
			put(&b, *fmt);
		}
	}
	if (size)
		buf[b.len < size ? b.len : size - 1] = 0;
	return (int)b.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

void vklog(enum log_level level, const char *fmt, va_list ap)
{
	if (level < log_threshold)
		return;
	char line[512];
	uint64_t ns = clock_ns();
	int n = snprintf(line, sizeof(line), "[%5u.%06u] %s: ", (unsigned)(ns / 1000000000u),
			 (unsigned)(ns / 1000 % 1000000), level_tag[level]);
	n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	unsigned long f = spin_lock_irqsave(&log_lock);
	arch_log_write(line, n);
	spin_unlock_irqrestore(&log_lock, f);
}

void klog(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vklog(level, fmt, ap);
	va_end(ap);
}

void klog_write(const char *s, size_t len)
{
	unsigned long f = spin_lock_irqsave(&log_lock);
	arch_log_write(s, len);
	spin_unlock_irqrestore(&log_lock, f);
}
