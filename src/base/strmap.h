/*
 * A hash map from C strings to pointers: open addressing, linear probing,
 * backward-shift deletion (no tombstones), grown at 3/4 load. Keys are NOT
 * copied: each key must stay valid and unchanged while its entry is in the
 * map; the core keys objects by strings the objects own (an engine's
 * container id, a stream's id), so an entry costs no allocation.
 *
 * Lookups, inserts and removals are O(1) expected. Not thread-safe: the
 * core's lock guards it.
 */
#ifndef ORCH_BASE_STRMAP_H
#define ORCH_BASE_STRMAP_H

#include <stddef.h>
#include <stdint.h>

#include "src/base/err.h"

typedef struct orch_strmap_slot {
	const char *key; /* NULL = empty slot */
	uint64_t hash;
	void *val;
} orch_strmap_slot;

typedef struct orch_strmap {
	orch_strmap_slot *slots;
	size_t cap; /* power of two, or 0 before the first insert */
	size_t len;
} orch_strmap;

/* A zeroed map is a valid empty map. */
void orch_strmap_init(orch_strmap *m);

/* Frees the slot array (not keys or values). */
void orch_strmap_fini(orch_strmap *m);

/* The value under key, or NULL. key may be NULL (then NULL). */
void *orch_strmap_get(const orch_strmap *m, const char *key);

/* Same with an explicit length (key need not be NUL-terminated). */
void *orch_strmap_getn(const orch_strmap *m, const char *key, size_t len);

/*
 * Inserts or replaces key -> val. ORCH_ENOMEM leaves the map unchanged.
 * On replace, the stored key pointer becomes `key`.
 */
orch_err orch_strmap_put(orch_strmap *m, const char *key, void *val);

/* Removes key; returns its value, or NULL when absent. */
void *orch_strmap_del(orch_strmap *m, const char *key);

static inline size_t
orch_strmap_len(const orch_strmap *m)
{
	return m->len;
}

#endif
