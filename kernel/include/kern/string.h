/*
 * The C string functions the kernel provides (kernel/generic/string.c).
 * Same names and contracts as ISO C, so host builds of generic code link
 * against the host libc instead.
 */
#ifndef KERN_STRING_H
#define KERN_STRING_H

#include <kern/types.h>

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);

#endif
