/*
 * Shared between the lib/rt sources; not part of the API.
 */
#ifndef RT_INTERNAL_H
#define RT_INTERNAL_H

#include "include/rt/rt.h"
#include "platform.h"

#define RT_ASSERT(cond)                                                                                      \
	do {                                                                                                 \
		if (__builtin_expect(!(cond), 0))                                                            \
			rt_plat_assert_fail(#cond, __FILE__, __LINE__);                                      \
	} while (0)

/* ---- Intrusive lists (circular, with a head node) ------------------------ */
static inline void rt_link_init(struct rt_link *h)
{
	h->next = h;
	h->prev = h;
}

static inline bool rt_link_empty(const struct rt_link *h)
{
	return h->next == h;
}

/* True if n is on a list (a zeroed or self-linked node is not). */
static inline bool rt_link_linked(const struct rt_link *n)
{
	return n->next != NULL && n->next != n;
}

static inline void rt_link_add_tail(struct rt_link *h, struct rt_link *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static inline void rt_link_remove(struct rt_link *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n;
	n->prev = n;
}

/* Move every node of from onto the empty list to (from becomes empty). */
static inline void rt_link_take_all(struct rt_link *to, struct rt_link *from)
{
	if (rt_link_empty(from)) {
		rt_link_init(to);
		return;
	}
	to->next = from->next;
	to->prev = from->prev;
	to->next->prev = to;
	to->prev->next = to;
	rt_link_init(from);
}

/* ---- Between loop.c and fibril.c ----------------------------------------- */
/* Run the fibrils ready at the start of the call; returns how many ran. */
int rt__fibril_run_ready(struct rt_loop *loop);
/* A parked fibril becomes ready (dispatcher or fibril context). */
void rt__fibril_wake(struct rt_fibril *f);
/* Free cached stacks and abandon fibrils that never exited (rt_loop_fini). */
void rt__fibril_fini(struct rt_loop *loop);

#endif
