/*
 * What the controllers (src/engines: the manager and the monitor) do to
 * the core, as operations instead of field writes: report the outside
 * world, apply what Docker's events, the reconcile and the probes found,
 * keep the health replacement's bookkeeping, count, and copy out the
 * engines a loop must act on.
 *
 * Why: the controllers used to read and write the core's fields under its
 * lock in ~80 places, each one a chance to forget a counter or a port.
 * Each operation here is one short critical section (every function takes
 * the lock itself: the caller must not hold it) and keeps the core's
 * invariants by itself. Nothing here blocks, calls out of the core
 * (except the monitor's visitors, see below) or knows about a runtime.
 *
 * Ids are copied out into the caller's ORCH_CORE_ID_MAX buffers, so a
 * controller can carry a decision out (stop an engine, replace it) after
 * the lock is gone and the engine itself may be too.
 */
#ifndef ORCH_CORE_CONTROL_H
#define ORCH_CORE_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/core/core.h"
#include "src/core/policy.h"
#include "src/core/state.h"

/* ---- the outside world --------------------------------------------- */

/* Whether the runtime answered its last call. */
void orch_core_set_docker_ok(orch_core *core, bool ok);

/* Whether TARGET_IMAGE is present; whether a pull of it is under way. */
void orch_core_set_image_present(orch_core *core, bool present);
void orch_core_set_image_pulling(orch_core *core, bool pulling);

/* Whether a container that is not an engine (POST /provision) may be
 * created now: orch_policy_can_provision_container (only Docker down
 * refuses it; the engines' image, count, VPN and breaker are theirs).
 * *out is filled when not. Nothing is reserved or counted. */
bool orch_core_container_allowed(orch_core *core, orch_refusal *out);

/* ---- engines as the runtime reports them ---------------------------- */

/*
 * Adoption (the reconcile, a start event of an unknown container): an
 * engine that is not in state is put there when spec->running; one that
 * is follows spec->running (Docker's die or start). Returns true when an
 * engine was added.
 */
bool orch_core_adopt(orch_core *core, const orch_engine_spec *spec);

/*
 * Docker's die (running false) or start (true) for container id. A die
 * changes nothing on an engine already down; a start always restarts the
 * engine's startup clock (state.h). *changed (may be NULL) tells whether
 * the running flag changed; name (may be NULL) gets the engine's name.
 * ORCH_ENOTFOUND when no engine has that id.
 */
orch_err orch_core_engine_set_running(orch_core *core, const char *id,
    bool running, bool *changed, char *name, size_t name_len);

/* Removes engine id if present (streams end with reason, NULL =
 * "engine_gone"; ports released). Returns whether one was removed. */
bool orch_core_engine_drop(
    orch_core *core, const char *id, const char *reason);

/* The full id of the managed engine whose container id or name is
 * id_or_name, into full. ORCH_ENOTFOUND when none. */
orch_err orch_core_engine_resolve(
    orch_core *core, const char *id_or_name, char full[ORCH_CORE_ID_MAX]);

/* Managed engines in state. */
int orch_core_engine_count(orch_core *core);

/* One container of a reconcile's list. */
typedef struct orch_core_seen {
	const char *id;
	bool running;
} orch_core_seen;

/*
 * The reconcile's verdict on the list it took at listed_at_us: managed
 * engines whose container is not in seen, or stopped for good (not
 * running there and down here), leave the state ("engine_gone"). Engines
 * put or restarted at or after listed_at_us are not judged by it. on_gone
 * (may be NULL) is told each one first, under the lock (log it; call
 * nothing of the core). Returns how many left.
 */
size_t orch_core_drop_unlisted(orch_core *core, int64_t listed_at_us,
    const orch_core_seen *seen, size_t n,
    void (*on_gone)(void *arg, const orch_engine *e), void *arg);

/* ---- the control loop's candidates ---------------------------------- */

/* Drops the reservations that expired by now. */
void orch_core_expire_reservations(orch_core *core);

/* Engines provisioned here and never healthy within STARTUP_TIMEOUT_S
 * (policy.h), up to cap: each counted as one failure of the general
 * breaker now, and not again. The caller removes them. */
size_t orch_core_startup_expired(
    orch_core *core, char (*ids)[ORCH_CORE_ID_MAX], size_t cap);

/* Engines in a crash loop (policy.h orch_policy_crash_looping), up to
 * cap, counted as above. The caller removes them. */
size_t orch_core_crash_looping(
    orch_core *core, char (*ids)[ORCH_CORE_ID_MAX], size_t cap);

/* Engines to start so that MIN_REPLICAS are free, counting provisions in
 * flight as engines that will be free (policy.h orch_policy_autoscale). */
int orch_core_autoscale_need(orch_core *core);

/*
 * The engines GC and Scale chose are "draining" from the moment they are
 * chosen (out of SelectEngine and of the free count, state.h), so that a
 * proxy cannot be sent to an engine about to be stopped. Before the stop
 * the caller asks drain_confirm: false when the engine is gone or gained
 * a stream or a reservation meanwhile (then it is undrained and must not
 * be stopped); after a stop that failed it calls drain_cancel.
 */
bool orch_core_drain_confirm(orch_core *core, const char *id);
void orch_core_drain_cancel(orch_core *core, const char *id);

/* Idle engines to stop (policy.h orch_policy_gc), up to cap; drained. */
size_t orch_core_gc_candidates(
    orch_core *core, bool forced, char (*ids)[ORCH_CORE_ID_MAX], size_t cap);

/* Scale(n) (policy.h orch_policy_scale): the plan, and the ids of the
 * engines to stop (plan.n_stop of them, at most cap), drained. */
orch_scale_plan orch_core_scale_candidates(
    orch_core *core, int n, char (*ids)[ORCH_CORE_ID_MAX], size_t cap);

/*
 * One health replacement, if the policy says one is due: marks the sick
 * engine, takes the replacement breaker's trial and the "in progress"
 * flag, copies its id into sick and tells whether its successor starts
 * first. Returns false when none is due. A true return must be followed
 * by orch_core_replacement_end().
 */
bool orch_core_replacement_begin(
    orch_core *core, char sick[ORCH_CORE_ID_MAX], bool *start_first);

/* The sick engine of a replacement could not be stopped: unmarked, so
 * that it is counted, collected and replaced again later instead of
 * staying marked (never selected, never replaced) for ever. */
void orch_core_replacement_unmark(orch_core *core, const char *id);

/* The replacement ended: its successor started (ok) or not; the
 * replacement breaker records it, the cooldown starts now. */
void orch_core_replacement_end(orch_core *core, bool ok);

/* ---- probes and stats ------------------------------------------------ */

/* Counters the controllers bump (GetMetrics). */
typedef enum orch_core_counter {
	ORCH_COUNT_PROBE_FAILURE = 1,
	ORCH_COUNT_COLLECTOR_ERROR = 2,
	ORCH_COUNT_CONTAINER_OK = 3,     /* ProvisionContainer succeeded */
	ORCH_COUNT_CONTAINER_FAILED = 4, /* ProvisionContainer failed */
} orch_core_counter;

void orch_core_count(orch_core *core, orch_core_counter c);

/*
 * Calls fn for every managed, running engine, under the lock (build a
 * probe round; fn must not call the core). Returns how many.
 */
size_t orch_core_visit_probe_targets(
    orch_core *core, void (*fn)(void *arg, const orch_engine *e), void *arg);

/* Managed running engines whose health is still unknown (never probed,
 * or probed fewer than HEALTH_FAILURE_THRESHOLD times without an
 * answer): the monitor's fast start-up schedule runs while there are
 * any. O(1): the state's counters. */
int orch_core_health_unknown(orch_core *core);

/* Calls fn for every active stream with a stat_url on a managed, running
 * engine, under the lock, as above. */
size_t orch_core_visit_polled_streams(
    orch_core *core, void (*fn)(void *arg, const orch_stream *s), void *arg);

/*
 * One health probe of engine id (a failure is counted). Applied only to a
 * managed, running engine. Returns true when its health changed; then
 * name (may be NULL) gets its name and *health (may be NULL) the new
 * health.
 */
bool orch_core_apply_probe(orch_core *core, const char *id, bool ok,
    char *name, size_t name_len, orch_health *health);

/* Appends a snapshot to stream stream_id if it is active. ORCH_ENOTFOUND
 * when it is not. */
orch_err orch_core_apply_stat(
    orch_core *core, const char *stream_id, const orch_stat *snap);

/* The engine says the stream's session is over: ends it with
 * "session_gone" if active. Returns whether it ended. */
bool orch_core_stream_session_gone(orch_core *core, const char *stream_id);

#endif
