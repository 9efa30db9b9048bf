/*
 * Putting the ledger back after a restart, from what a store kept
 * (src/store reads it; the core never touches a file).
 *
 * Engines come back from the runtime (adoption: their labels are the
 * truth); what a store adds to them (streams, their stats, reservations,
 * the engines' own history, the breakers) waits for them:
 *
 *   orch_core_restore()   before the first reconcile: breakers, ended
 *                         streams, and streams on unmanaged entries go
 *                         into the state at once; what belongs to a
 *                         managed engine is kept pending, and the core is
 *                         "restoring";
 *   adoption              (orch_core_adopt) an engine that comes back gets
 *                         its pending streams (active again, on the same
 *                         engine, with their stats), its reservations and
 *                         its first_seen / last_stream_usage in the same
 *                         critical section, so it is never seen idle;
 *   the verdict           (orch_core_drop_unlisted, the reconcile's full
 *                         list) whatever is still pending lost its engine:
 *                         streams end with "engine_gone", reservations
 *                         lapse, engine records are closed; the core stops
 *                         "restoring".
 *
 * While restoring, the idle GC, Scale and the autoscaler stop and start
 * nothing: an engine adopted but not yet given its streams would look
 * idle (control.h). The sink is not told what it already has (the
 * restored records) but is told what the verdict changes.
 */
#ifndef ORCH_CORE_RESTORE_H
#define ORCH_CORE_RESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/core/core.h"
#include "src/core/state.h"

/* An engine's record as a store kept it. */
typedef struct orch_engine_record {
	const char *container_id;
	int64_t first_seen_us;
	int64_t last_stream_usage_us; /* 0 = never */
	bool forwarded;
} orch_engine_record;

typedef struct orch_reservation_record {
	const char *id; /* at most ORCH_RESERVATION_ID_LEN */
	const char *container_id;
	int64_t expires_us;
} orch_reservation_record;

typedef struct orch_breaker_record {
	const char *name; /* "general" | "replacement" */
	int state;        /* orch_breaker_state */
	int failure_count;
	int64_t opened_at_us;
	int64_t last_failure_us;
	int64_t last_success_us;
} orch_breaker_record;

/* Everything a store found; every pointer borrowed for the call. Streams
 * oldest start first. */
typedef struct orch_restore {
	const orch_stream_record *streams;
	size_t n_streams;
	const orch_engine_record *engines;
	size_t n_engines;
	const orch_reservation_record *reservations;
	size_t n_reservations;
	const orch_breaker_record *breakers;
	size_t n_breakers;
} orch_restore;

/* What a restore did (counts for the log and the tests). */
typedef struct orch_restore_counts {
	size_t streams_ended;   /* ended streams put back */
	size_t streams_active;  /* put back active at once (unmanaged) */
	size_t streams_pending; /* waiting for their engine */
	size_t reservations_pending;
	size_t engines_pending;
	size_t skipped; /* records the state refused (bad, duplicate) */
} orch_restore_counts;

/*
 * Takes r (copied) as above; counts (may be NULL) says what happened. A
 * record the state refuses is skipped, not an error. ORCH_ENOMEM: some
 * records may be in and the rest dropped. Call before the first
 * reconcile, once or in chunks (streams oldest start first across the
 * chunks). Takes the lock.
 */
orch_err orch_core_restore(
    orch_core *core, const orch_restore *r, orch_restore_counts *counts);

/* Whether a restore is still waiting for its verdict. Takes the lock. */
bool orch_core_restoring(orch_core *core);

/*
 * The inverse, for a listener that lost records (a full queue, a failed
 * write): tells sink the whole ledger as records, as they are now. Every
 * stream, oldest start first, with its snapshots; every managed engine
 * (PUT); every reservation (live); both breakers (from = their state).
 * first (may be NULL) runs under the same lock before, so the listener
 * can drop what the replay replaces. Takes the lock for the whole walk:
 * O(streams + snapshots), meant for recovery, not for a request path.
 */
void orch_core_replay(orch_core *core, const orch_sink *sink,
    void (*first)(void *arg), void *arg);

/* ---- for the core's own modules (under the lock) -------------------- */

/* An engine just came back (adoption): gives it what waits for it. */
void orch_core_restore_attach_locked(orch_core *core, orch_engine *e);

/* The reconcile listed everything: ends what still waits (see above). */
void orch_core_restore_verdict_locked(orch_core *core);

/* Frees what still waits, telling nobody (orch_core_fini). */
void orch_core_restore_drop_pending(orch_core *core);

#endif
