/*
 * A bump allocator for building one reply: many small allocations, freed
 * together. The RPC handlers build a protobuf reply (hundreds of small
 * messages for a big ListEngines) in an arena whose first block lives on
 * the handler's stack, so a small reply costs no malloc at all.
 *
 * Memory is zeroed. Allocations are aligned for any scalar. Not
 * thread-safe; one arena per call.
 */
#ifndef ORCH_BASE_ARENA_H
#define ORCH_BASE_ARENA_H

#include <stddef.h>

typedef struct orch_arena_block orch_arena_block;

typedef struct orch_arena {
	char *cur;              /* next free byte of the current block */
	char *end;              /* end of the current block */
	orch_arena_block *heap; /* malloc'd blocks, newest first */
} orch_arena;

/* Starts with buf[0..len) (may be NULL/0) as the first block; buf must
 * outlive the arena. */
void orch_arena_init(orch_arena *a, void *buf, size_t len);

/* n zeroed bytes, or NULL when out of memory. */
void *orch_arena_alloc(orch_arena *a, size_t n);

/* A copy of s (NULL for NULL or out of memory). */
char *orch_arena_strdup(orch_arena *a, const char *s);

/* Frees every malloc'd block (not the initial buffer). */
void orch_arena_fini(orch_arena *a);

#endif
