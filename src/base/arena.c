#include "src/base/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 16
#define BLOCK_MIN 16384

struct orch_arena_block {
	orch_arena_block *next;
	max_align_t pad[]; /* keeps the data after the header aligned */
};

static char *
align_up(char *p)
{
	return (
	    char *) (((uintptr_t) p + (ALIGN - 1)) & ~(uintptr_t) (ALIGN - 1));
}

void
orch_arena_init(orch_arena *a, void *buf, size_t len)
{
	a->cur = buf;
	a->end = buf != NULL ? (char *) buf + len : NULL;
	a->heap = NULL;
}

void *
orch_arena_alloc(orch_arena *a, size_t n)
{
	char *p = a->cur != NULL ? align_up(a->cur) : NULL;

	if (n == 0)
		n = 1;
	if (p == NULL || p > a->end || (size_t) (a->end - p) < n) {
		size_t size = n + ALIGN > BLOCK_MIN ? n + ALIGN : BLOCK_MIN;
		orch_arena_block *b = malloc(sizeof(*b) + size);

		if (b == NULL)
			return NULL;
		b->next = a->heap;
		a->heap = b;
		p = align_up((char *) (b + 1));
		a->end = (char *) (b + 1) + size;
	}
	a->cur = p + n;
	memset(p, 0, n);
	return p;
}

char *
orch_arena_strdup(orch_arena *a, const char *s)
{
	size_t n;
	char *d;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	d = orch_arena_alloc(a, n);
	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

void
orch_arena_fini(orch_arena *a)
{
	while (a->heap != NULL) {
		orch_arena_block *b = a->heap;

		a->heap = b->next;
		free(b);
	}
	a->cur = a->end = NULL;
}
