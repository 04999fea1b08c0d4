/*
 * The Linux system-call shim for processes without a supervisor
 * (kernel/generic/linux_shim.c; semantics in docs/LINUX_SHIM.md), and the
 * Linux initial-stack layout every process starts with.
 */
#ifndef KERN_LINUX_SHIM_H
#define KERN_LINUX_SHIM_H

#include <kern/elf.h>
#include <kern/types.h>

struct trap_frame;
struct vmspace;

/* Answer the Linux system call in f (f->rax = number) if it is one the
 * shim handles; set f->rax and return true. false: not a Linux number. */
bool linux_shim_dispatch(struct trap_frame *f);

/* Build argc/argv/envp/auxv below stack_top in s (see linux_shim.c);
 * *rsp_out is the entry rsp, *arg_out the address of the argument string. */
long linux_build_initial_stack(struct vmspace *s, uint64_t stack_top, const char *path, const char *arg,
			       size_t arg_len, const void *elf, size_t elf_len, const struct elf_image *img,
			       uint64_t *rsp_out, uint64_t *arg_out);

#endif
