/*
 * Pre-rendered reads: a reply's bytes rendered once per state version and
 * served, as the same immutable buffer, to every request until the state
 * changes (docs/GATEWAY.md "Pre-rendered reads").
 *
 * An orch_snap is one rendered body, tagged with the generation it was
 * rendered at, and reference-counted: the slot holds one reference and
 * every response being written holds one, so a slow client keeps the old
 * bytes alive without holding anything else up (a new render installs a
 * new buffer beside it). An orch_snap_slot is one route's current body:
 * a short mutex guards only the pointer swap and the reference taken.
 *
 * The slot judges nothing about what a generation means: the caller gets
 * the current one from its backend (orch_core_generation) before it
 * renders, and tags the render with it. A render that raced a change is
 * tagged with the older generation and simply never matches again.
 */
#ifndef ORCH_GATEWAY_SNAP_H
#define ORCH_GATEWAY_SNAP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "src/base/buf.h"

typedef struct orch_snap {
	atomic_int refs;
	uint64_t gen;
	size_t len;
	char *data; /* owned; never written after orch_snap_new */
} orch_snap;

/*
 * A snapshot of body's bytes at gen, with one reference (the caller's).
 * Takes body's memory (no copy): body is left empty. NULL when out of
 * memory (body is then untouched).
 */
orch_snap *orch_snap_new(uint64_t gen, orch_buf *body);

void orch_snap_ref(orch_snap *s);
/* Drops one reference; the last frees. NULL no-op. */
void orch_snap_unref(orch_snap *s);

typedef struct orch_snap_slot {
	pthread_mutex_t mu;
	orch_snap *cur; /* the slot's reference; NULL before the first */
	atomic_uint_fast64_t hits;    /* answered from cur */
	atomic_uint_fast64_t renders; /* bodies installed */
} orch_snap_slot;

void orch_snap_slot_init(orch_snap_slot *sl);
/* Drops the slot's reference (responses still writing keep theirs). */
void orch_snap_slot_fini(orch_snap_slot *sl);

/* The slot's body if it was rendered at gen, with a new reference for
 * the caller (counted as a hit); NULL otherwise. */
orch_snap *orch_snap_slot_get(orch_snap_slot *sl, uint64_t gen);

/* Installs s (the slot takes its own reference) unless the slot holds
 * one rendered at a later generation; counted as a render. */
void orch_snap_slot_put(orch_snap_slot *sl, orch_snap *s);

#endif
