/*
 * Handles and rights: the only way a process reaches a kernel object.
 *
 * A handle is a small positive integer naming a slot in the calling
 * process's handle table. The slot holds a reference to the object and the
 * rights this handle grants. Rights can be dropped (handle_dup with a mask,
 * or a transfer) but never gained. Closing the last handle (and ending every
 * other use, such as a mapping) frees the object.
 */
#ifndef ALDER_ABI_HANDLE_H
#define ALDER_ABI_HANDLE_H

#include <stdint.h>

typedef int32_t alder_handle_t;

#define ALDER_HANDLE_NONE 0
/* A child started by sys_spawn with a handle to pass finds it here. */
#define ALDER_HANDLE_BOOTSTRAP 1

/* Pseudo-handles, valid in any process, never stored in a table. */
#define ALDER_HANDLE_SELF_SPACE (-1)  /* the caller's address space */
#define ALDER_HANDLE_SELF_THREAD (-2) /* the calling thread (SYS_THREAD_CTL, SYS_THREAD_REGS),
                                         with every right */

/* Rights. Per-type meaning is given where the type's calls are defined. */
#define ALDER_RIGHT_TRANSFER (1u << 0) /* may be passed to another process */
#define ALDER_RIGHT_READ (1u << 1)
#define ALDER_RIGHT_WRITE (1u << 2)
#define ALDER_RIGHT_MAP (1u << 3)      /* memory: may be mapped */
#define ALDER_RIGHT_EXECUTE (1u << 4)  /* memory: may be mapped executable */
#define ALDER_RIGHT_MANAGE (1u << 5)   /* change the object itself (space: map/unmap/protect;
                                          thread: start/stop/kill/registers) */
#define ALDER_RIGHT_DUPLICATE (1u << 6) /* may be duplicated within the process */
#define ALDER_RIGHTS_ALL 0x7fu

/* Object types (alder_handle_info.type). */
#define ALDER_OBJ_MEMORY 1
#define ALDER_OBJ_SPACE 2
#define ALDER_OBJ_THREAD 3
#define ALDER_OBJ_QUEUE 4
#define ALDER_OBJ_EVENT 5
#define ALDER_OBJ_LANE 6
#define ALDER_OBJ_IRQ 7
#define ALDER_OBJ_IOPORT 8
#define ALDER_OBJ_ROOT 9  /* hardware authority: physical memory, IRQs, ports */

struct alder_handle_info {
	uint32_t type;    /* ALDER_OBJ_* */
	uint32_t rights;  /* ALDER_RIGHT_* this handle grants */
	uint64_t koid;    /* kernel object id, unique for the object's lifetime and after */
};
_Static_assert(sizeof(struct alder_handle_info) == 16, "alder_handle_info layout");

#endif
