/*
 * Intrusive circular doubly-linked list, after the Linux kernel's and nng's
 * lists: a node lives inside the object it links, so linking never
 * allocates and unlinking is O(1). An empty list is a head pointing at
 * itself; a node not on any list is zeroed or self-linked (orch_list_init).
 */
#ifndef ORCH_BASE_LIST_H
#define ORCH_BASE_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct orch_list {
	struct orch_list *prev;
	struct orch_list *next;
} orch_list;

#define ORCH_CONTAINER_OF(ptr, type, member)                                  \
	((type *) (void *) ((char *) (ptr) -offsetof(type, member)))

static inline void
orch_list_init(orch_list *l)
{
	l->prev = l;
	l->next = l;
}

static inline bool
orch_list_empty(const orch_list *head)
{
	return head->next == head;
}

/* Whether node is on some list (a zeroed or self-linked node is not). */
static inline bool
orch_list_linked(const orch_list *node)
{
	return node->next != NULL && node->next != node;
}

static inline void
orch_list_insert_after(orch_list *pos, orch_list *node)
{
	node->prev = pos;
	node->next = pos->next;
	pos->next->prev = node;
	pos->next = node;
}

/* Newest-first lists push at the head. */
static inline void
orch_list_push_front(orch_list *head, orch_list *node)
{
	orch_list_insert_after(head, node);
}

static inline void
orch_list_push_back(orch_list *head, orch_list *node)
{
	orch_list_insert_after(head->prev, node);
}

/* Unlinks node (which must be linked) and self-links it. */
static inline void
orch_list_remove(orch_list *node)
{
	node->prev->next = node->next;
	node->next->prev = node->prev;
	orch_list_init(node);
}

#endif
