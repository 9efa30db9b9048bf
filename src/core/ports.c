#include "src/core/ports.h"

#include <stdlib.h>

#define WORD_BITS 64

static bool
bit_get(const orch_ports *p, int i)
{
	return (p->bits[i / WORD_BITS] >> (i % WORD_BITS)) & 1u;
}

static void
bit_set(orch_ports *p, int i)
{
	p->bits[i / WORD_BITS] |= (uint64_t) 1 << (i % WORD_BITS);
}

static void
bit_clear(orch_ports *p, int i)
{
	p->bits[i / WORD_BITS] &= ~((uint64_t) 1 << (i % WORD_BITS));
}

static bool
in_range(const orch_ports *p, int port)
{
	return p->bits != NULL && port >= p->lo && port - p->lo < p->cap;
}

orch_err
orch_ports_init(orch_ports *p, int lo, int hi)
{
	size_t words;

	if (p == NULL)
		return ORCH_EINVAL;
	p->lo = 0;
	p->cap = 0;
	p->used = 0;
	p->next = 0;
	p->bits = NULL;
	if (lo < ORCH_PORTS_MIN || hi > ORCH_PORTS_MAX || lo > hi)
		return ORCH_EINVAL;
	words = ((size_t) (hi - lo) + WORD_BITS) / WORD_BITS;
	p->bits = calloc(words, sizeof(*p->bits));
	if (p->bits == NULL)
		return ORCH_ENOMEM;
	p->lo = lo;
	p->cap = hi - lo + 1;
	return ORCH_OK;
}

void
orch_ports_fini(orch_ports *p)
{
	if (p == NULL)
		return;
	free(p->bits);
	p->bits = NULL;
	p->cap = 0;
	p->used = 0;
	p->next = 0;
}

orch_err
orch_ports_alloc(orch_ports *p, orch_port_probe_fn probe, void *arg, int *out)
{
	int n, i;

	if (p == NULL || out == NULL)
		return ORCH_EINVAL;
	if (p->bits == NULL || p->used >= p->cap)
		return ORCH_EEXHAUSTED;
	i = p->next;
	for (n = 0; n < p->cap; n++, i = (i + 1 == p->cap) ? 0 : i + 1) {
		if (bit_get(p, i))
			continue;
		if (probe != NULL && !probe(arg, p->lo + i))
			continue;
		bit_set(p, i);
		p->used++;
		p->next = (i + 1 == p->cap) ? 0 : i + 1;
		*out = p->lo + i;
		return ORCH_OK;
	}
	return ORCH_EEXHAUSTED;
}

orch_err
orch_ports_reserve(orch_ports *p, int port)
{
	if (p == NULL)
		return ORCH_EINVAL;
	if (!in_range(p, port))
		return ORCH_ERANGE;
	if (bit_get(p, port - p->lo))
		return ORCH_EEXIST;
	bit_set(p, port - p->lo);
	p->used++;
	return ORCH_OK;
}

orch_err
orch_ports_release(orch_ports *p, int port)
{
	if (p == NULL)
		return ORCH_EINVAL;
	if (!in_range(p, port))
		return ORCH_ERANGE;
	if (!bit_get(p, port - p->lo))
		return ORCH_ENOTFOUND;
	bit_clear(p, port - p->lo);
	p->used--;
	return ORCH_OK;
}

bool
orch_ports_in_use(const orch_ports *p, int port)
{
	return p != NULL && in_range(p, port) && bit_get(p, port - p->lo);
}

int
orch_ports_used(const orch_ports *p)
{
	return p == NULL ? 0 : p->used;
}

int
orch_ports_capacity(const orch_ports *p)
{
	return p == NULL ? 0 : p->cap;
}
