/*
 * Streams, the kernel's side (kernel/generic/stream.c); the user-visible
 * interface is abi/alder/stream.h.
 */
#ifndef KERN_STREAM_H
#define KERN_STREAM_H

struct process;

/* p has no threads left and its handles are closed: cancel the chains it
 * submitted that are still waiting (they complete with -ALDER_ECANCELED). */
void stream_process_gone(struct process *p);

#endif
