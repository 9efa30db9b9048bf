#include "src/base/strmap.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a, 64 bit: short keys, good enough spread, no seed needed since the
 * map's worst case (a crafted collision flood) is bounded by the request
 * size limits and the retention cap. */
static uint64_t
hash_bytes(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char) s[i];
		h *= 1099511628211ULL;
	}
	/* Fold the high bits in: the index uses the low bits. */
	return h ^ (h >> 29);
}

void
orch_strmap_init(orch_strmap *m)
{
	memset(m, 0, sizeof(*m));
}

void
orch_strmap_fini(orch_strmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

static orch_strmap_slot *
find(const orch_strmap *m, const char *key, size_t len, uint64_t h)
{
	size_t mask;

	if (m->cap == 0)
		return NULL;
	mask = m->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		orch_strmap_slot *s = &m->slots[i];

		if (s->key == NULL)
			return NULL;
		/* strnlen first: a stored key shorter than len (the probe
		 * key may hold a NUL) must not be read past its end. */
		if (s->hash == h && strnlen(s->key, len + 1) == len &&
		    memcmp(s->key, key, len) == 0)
			return s;
	}
}

void *
orch_strmap_getn(const orch_strmap *m, const char *key, size_t len)
{
	orch_strmap_slot *s;

	if (key == NULL)
		return NULL;
	s = find(m, key, len, hash_bytes(key, len));
	return s != NULL ? s->val : NULL;
}

void *
orch_strmap_get(const orch_strmap *m, const char *key)
{
	return key != NULL ? orch_strmap_getn(m, key, strlen(key)) : NULL;
}

static void
place(orch_strmap_slot *slots, size_t cap, const orch_strmap_slot *in)
{
	size_t mask = cap - 1;

	for (size_t i = in->hash & mask;; i = (i + 1) & mask) {
		if (slots[i].key == NULL) {
			slots[i] = *in;
			return;
		}
	}
}

static orch_err
grow(orch_strmap *m)
{
	size_t ncap = m->cap != 0 ? m->cap * 2 : 16;
	orch_strmap_slot *ns = calloc(ncap, sizeof(*ns));

	if (ns == NULL)
		return ORCH_ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		if (m->slots[i].key != NULL)
			place(ns, ncap, &m->slots[i]);
	}
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return ORCH_OK;
}

orch_err
orch_strmap_put(orch_strmap *m, const char *key, void *val)
{
	size_t len = strlen(key);
	uint64_t h = hash_bytes(key, len);
	orch_strmap_slot *s = find(m, key, len, h);
	orch_strmap_slot in;

	if (s != NULL) {
		s->key = key;
		s->val = val;
		return ORCH_OK;
	}
	if ((m->len + 1) * 4 > m->cap * 3) {
		orch_err rv = grow(m);

		if (rv != ORCH_OK)
			return rv;
	}
	in.key = key;
	in.hash = h;
	in.val = val;
	place(m->slots, m->cap, &in);
	m->len++;
	return ORCH_OK;
}

void *
orch_strmap_del(orch_strmap *m, const char *key)
{
	size_t len, mask, i, j;
	orch_strmap_slot *s;
	void *val;

	if (key == NULL)
		return NULL;
	len = strlen(key);
	s = find(m, key, len, hash_bytes(key, len));
	if (s == NULL)
		return NULL;
	val = s->val;
	mask = m->cap - 1;
	i = (size_t) (s - m->slots);
	/* Backward-shift: move later entries of the probe run into the hole
	 * when their home slot does not lie cyclically in (i, j]. */
	for (j = (i + 1) & mask; m->slots[j].key != NULL; j = (j + 1) & mask) {
		size_t home = m->slots[j].hash & mask;
		int between = (i <= j) ? (home > i && home <= j)
		                       : (home > i || home <= j);

		if (!between) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].key = NULL;
	m->slots[i].val = NULL;
	m->len--;
	return val;
}
