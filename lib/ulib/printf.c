/*
 * A small printf for user programs: formats into a caller's buffer
 * (u_snprintf) or into a stack buffer written with one sys_log call
 * (u_printf). Integers and strings only; no floating point (user code is
 * built with -mgeneral-regs-only). Unknown conversions are copied through
 * literally so a typo is visible in the output rather than eating arguments.
 */
#include <ulib.h>

struct out {
	char *buf;
	size_t size; /* capacity including the NUL */
	size_t len;  /* bytes the full output needs (may exceed size) */
};

static void out_char(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void out_pad(struct out *o, char c, int n)
{
	for (; n > 0; n--)
		out_char(o, c);
}

/* Emit body (n bytes) right- or left-justified in width, with an optional
 * prefix ("-" or "0x") that goes before zero padding. */
static void out_field(struct out *o, const char *prefix, const char *body, size_t n, int width, bool left,
		      bool zero)
{
	size_t plen = strlen(prefix);
	int pad = width - (int)(plen + n);

	if (!left && !zero)
		out_pad(o, ' ', pad);
	for (size_t i = 0; i < plen; i++)
		out_char(o, prefix[i]);
	if (!left && zero)
		out_pad(o, '0', pad);
	for (size_t i = 0; i < n; i++)
		out_char(o, body[i]);
	if (left)
		out_pad(o, ' ', pad);
}

/* Digits of v in base (10 or 16) into the end of tmp; returns the start. */
static char *fmt_digits(char *end, unsigned long long v, unsigned base, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char *p = end;

	do {
		*--p = digits[v % base];
		v /= base;
	} while (v != 0);
	return p;
}

enum length { LEN_INT, LEN_CHAR, LEN_SHORT, LEN_LONG, LEN_LLONG, LEN_SIZE };

static unsigned long long arg_unsigned(va_list *ap, enum length len)
{
	switch (len) {
	case LEN_CHAR:
		return (unsigned char)va_arg(*ap, unsigned);
	case LEN_SHORT:
		return (unsigned short)va_arg(*ap, unsigned);
	case LEN_LONG:
		return va_arg(*ap, unsigned long);
	case LEN_LLONG:
		return va_arg(*ap, unsigned long long);
	case LEN_SIZE:
		return va_arg(*ap, size_t);
	case LEN_INT:
	default:
		return va_arg(*ap, unsigned);
	}
}

static long long arg_signed(va_list *ap, enum length len)
{
	switch (len) {
	case LEN_CHAR:
		return (signed char)va_arg(*ap, int);
	case LEN_SHORT:
		return (short)va_arg(*ap, int);
	case LEN_LONG:
		return va_arg(*ap, long);
	case LEN_LLONG:
		return va_arg(*ap, long long);
	case LEN_SIZE:
		return (long long)va_arg(*ap, size_t);
	case LEN_INT:
	default:
		return va_arg(*ap, int);
	}
}

int u_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap_in)
{
	struct out o = {.buf = buf, .size = size, .len = 0};
	va_list ap;

	/* Work on a copy so helpers can take its address portably. */
	va_copy(ap, ap_in);
	while (*fmt != '\0') {
		const char *spec = fmt;
		if (*fmt != '%') {
			out_char(&o, *fmt++);
			continue;
		}
		fmt++;

		bool left = false, zero = false;
		for (;; fmt++) {
			if (*fmt == '-')
				left = true;
			else if (*fmt == '0')
				zero = true;
			else
				break;
		}
		int width = 0;
		if (*fmt == '*') {
			width = va_arg(ap, int);
			if (width < 0) {
				left = true;
				width = -width;
			}
			fmt++;
		} else {
			while (*fmt >= '0' && *fmt <= '9' && width < 4096)
				width = width * 10 + (*fmt++ - '0');
		}
		int prec = -1;
		if (*fmt == '.') {
			fmt++;
			prec = 0;
			if (*fmt == '*') {
				prec = va_arg(ap, int);
				fmt++;
			} else {
				while (*fmt >= '0' && *fmt <= '9' && prec < 4096)
					prec = prec * 10 + (*fmt++ - '0');
			}
		}
		if (left)
			zero = false;

		enum length len = LEN_INT;
		if (*fmt == 'h') {
			fmt++;
			len = LEN_SHORT;
			if (*fmt == 'h') {
				fmt++;
				len = LEN_CHAR;
			}
		} else if (*fmt == 'l') {
			fmt++;
			len = LEN_LONG;
			if (*fmt == 'l') {
				fmt++;
				len = LEN_LLONG;
			}
		} else if (*fmt == 'z') {
			fmt++;
			len = LEN_SIZE;
		}

		char tmp[24];
		char *end = tmp + sizeof(tmp);
		char *p;
		char conv = *fmt;
		if (conv != '\0')
			fmt++;
		switch (conv) {
		case 'd':
		case 'i': {
			long long v = arg_signed(&ap, len);
			unsigned long long mag = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
			p = fmt_digits(end, mag, 10, false);
			out_field(&o, v < 0 ? "-" : "", p, (size_t)(end - p), width, left, zero);
			break;
		}
		case 'u':
			p = fmt_digits(end, arg_unsigned(&ap, len), 10, false);
			out_field(&o, "", p, (size_t)(end - p), width, left, zero);
			break;
		case 'x':
		case 'X':
			p = fmt_digits(end, arg_unsigned(&ap, len), 16, conv == 'X');
			out_field(&o, "", p, (size_t)(end - p), width, left, zero);
			break;
		case 'p':
			p = fmt_digits(end, (uintptr_t)va_arg(ap, void *), 16, false);
			out_field(&o, "0x", p, (size_t)(end - p), width, left, zero);
			break;
		case 'c':
			tmp[0] = (char)va_arg(ap, int);
			out_field(&o, "", tmp, 1, width, left, false);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (s == NULL)
				s = "(null)";
			size_t n = prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s);
			out_field(&o, "", s, n, width, left, false);
			break;
		}
		case '%':
			out_char(&o, '%');
			break;
		default:
			/* Unknown or truncated: copy the spec through as text. */
			for (; spec < fmt; spec++)
				out_char(&o, *spec);
			break;
		}
	}
	va_end(ap);
	if (size > 0)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int u_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = u_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

long u_printf(const char *fmt, ...)
{
	char buf[U_PRINTF_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = u_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if ((size_t)n >= sizeof(buf)) {
		/* Cut: mark it, and keep the line ending so the log stays readable. */
		memcpy(buf + sizeof(buf) - 5, "...\n", 5);
		n = sizeof(buf) - 1;
	}
	return sys_log(buf, (size_t)n);
}

long u_puts(const char *s)
{
	return sys_log(s, strlen(s));
}
