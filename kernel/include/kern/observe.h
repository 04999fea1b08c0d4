/*
 * Thread control and observation (kernel/generic/observe.c; the user
 * interface is abi/alder/thread.h).
 */
#ifndef KERN_OBSERVE_H
#define KERN_OBSERVE_H

#include <kern/types.h>

struct thread;
struct trap_frame;

/*
 * Stop the calling thread for an observation (cause ALDER_OBS_*) and sleep
 * until its supervisor resumes it or its process is killed. Called in the
 * thread's own context, on its way back to user mode, interrupts on.
 */
void observe_stop(uint32_t cause, uint32_t code, uint64_t addr);
/* Is the calling thread's process supervised (faults and foreign system
 * calls become observations)? */
bool observe_supervised(void);
/* Called by thread_exit(): no more control; report ALDER_OBS_EXITED. */
void observe_thread_exit(struct thread *t);

#endif
