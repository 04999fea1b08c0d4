/* Intrusive circular doubly linked lists (the Linux/HelenOS shape). */
#ifndef KERN_LIST_H
#define KERN_LIST_H

#include <kern/types.h>

struct list {
	struct list *prev, *next;
};

#define LIST_INIT(name) { &(name), &(name) }

static inline void list_init(struct list *l) { l->prev = l->next = l; }
static inline bool list_empty(const struct list *l) { return l->next == l; }
/* True when the node is on some list (nodes are list_init'ed when off). */
static inline bool list_linked(const struct list *n) { return n->next != n; }

static inline void list_insert_between(struct list *n, struct list *prev, struct list *next)
{
	n->prev = prev;
	n->next = next;
	prev->next = n;
	next->prev = n;
}
static inline void list_append(struct list *head, struct list *n) { list_insert_between(n, head->prev, head); }
static inline void list_prepend(struct list *head, struct list *n) { list_insert_between(n, head, head->next); }
static inline void list_remove(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_init(n);
}
static inline struct list *list_first(const struct list *head) { return list_empty(head) ? NULL : head->next; }

#define list_entry(p, type, member) container_of(p, type, member)
#define list_for_each(it, head) for (struct list *it = (head)->next; it != (head); it = it->next)
#define list_for_each_safe(it, tmp, head) \
	for (struct list *it = (head)->next, *tmp = it->next; it != (head); it = tmp, tmp = it->next)

#endif
