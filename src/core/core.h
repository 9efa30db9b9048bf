/*
 * The core object: the state, the configuration, the clock, the two
 * circuit breakers, the port pools and what the controllers report about
 * the outside world, behind one mutex.
 *
 * Every mutation of the state goes through this object under its lock;
 * the lock is held only for in-memory work (never across Docker, HTTP or
 * disk), so the RPC server's FAST handlers may take it in nng's callback.
 * Readers that build a reply from the state take the lock with
 * orch_core_lock(), read through orch_core_state(), reply, and unlock: the
 * reply is packed while the strings it points at are still alive.
 *
 * Ownership: orch_core_open() copies nothing of cfg but keeps a pointer:
 * cfg must outlive the core. The core owns its state, breakers and pools.
 */
#ifndef ORCH_CORE_CORE_H
#define ORCH_CORE_CORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "src/base/err.h"
#include "src/core/breaker.h"
#include "src/core/clock.h"
#include "src/core/config.h"
#include "src/core/metrics.h"
#include "src/core/policy.h"
#include "src/core/ports.h"
#include "src/core/sink.h"
#include "src/core/state.h"

/* Ended streams kept in memory; the oldest ended stream goes first. The
 * SQLite store (src/store) keeps the full history; this bounds the
 * process. */
#define ORCH_CORE_ENDED_MAX 100000

/* Name numbers of provisions in flight remembered (provision.h). */
#define ORCH_CORE_INFLIGHT_MAX 64
/* Buffers for a container id and an engine's name copied out of the
 * state (ids are 64 hex digits; names are <prefix>-N). */
#define ORCH_CORE_ID_MAX 80
#define ORCH_CORE_NAME_MAX 160

typedef struct orch_core {
	pthread_mutex_t mu;
	const orch_config *cfg;
	orch_clock clock;
	orch_state state;
	orch_breaker general;     /* provisioning failures */
	orch_breaker replacement; /* failed health replacements */
	orch_ports http_ports; /* PORT_RANGE_HOST (the VPN pool in VPN mode) */
	orch_ports https_ports; /* ACE_HTTPS_RANGE */
	orch_env env;
	int64_t last_replacement_us;
	bool replacement_in_progress;
	uint64_t reservation_seq;
	/* Provisions between "allowed" and "engine in state": they count
	 * against MAX_REPLICAS so concurrent calls cannot overshoot it.
	 * Their name numbers are taken too (provision.h). */
	int provisioning;
	int inflight[ORCH_CORE_INFLIGHT_MAX];
	int n_inflight;
	/* Name numbers the runtime's last list showed taken by managed
	 * containers not in state (leftovers): slots skip them. Sorted,
	 * malloc'd. */
	int *taken;
	size_t n_taken;
	orch_metrics metrics; /* counters for GetMetrics (under the lock) */
	/* One per Gluetun (cfg->n_vpns; vpn.h), NULL without VPN; the
	 * retired engines waiting to drain. */
	struct orch_vpn *vpns;
	struct orch_vpn_retiree *retirees;
	size_t n_retirees;
	size_t cap_retirees;
	/* Told every change (sink.h); state.sink points here. */
	orch_sink sink;
	/* A restore (restore.h) waits for its engines: until the first
	 * reconcile's verdict, GC, Scale and the autoscaler stop and start
	 * nothing. */
	bool restoring;
	struct orch_core_pending *pending; /* restore.c's */
	char replacing[ORCH_CORE_ID_MAX]; /* the health replacement's engine */
	/* The state's version (orch_core_generation): bumped by every
	 * orch_core_lock(), read without the lock. */
	atomic_uint_fast64_t generation;
	/* When a value read off the clock next changes (breaker.h
	 * orch_breaker_next_change_us); INT64_MAX: none. Written by
	 * orch_core_unlock(), read without the lock. */
	_Atomic int64_t stable_until_us;
} orch_core;

typedef struct orch_core_opts {
	int ended_max; /* 0 = ORCH_CORE_ENDED_MAX */
} orch_core_opts;

/*
 * Initializes core over cfg (kept by pointer) and clock. opts may be NULL.
 * Docker and the image start unknown (reported down) until a controller
 * says otherwise with orch_core_set_env().
 */
orch_err orch_core_init(orch_core *core, const orch_config *cfg,
    orch_clock clock, const orch_core_opts *opts);
void orch_core_fini(orch_core *core);

/*
 * The lock, for a holder that may change the state: orch_core_lock()
 * bumps the generation as it takes the lock, so that from then on no
 * reply rendered before passes for current (a change is visible to the
 * very next read, even one that arrives while the changer still holds
 * the lock: that read waits for it). Every holder that is not known to
 * only read takes it this way; a needless bump costs one re-render.
 */
void orch_core_lock(orch_core *core);
void orch_core_unlock(orch_core *core);

/* The same lock for a holder that only reads (the read handlers of
 * src/service): the generation stays. */
void orch_core_read_lock(orch_core *core);
void orch_core_read_unlock(orch_core *core);

/*
 * The state's version, for replies rendered once and served many times
 * (the gateway's pre-rendered reads, docs/GATEWAY.md): a reply built
 * under the lock while this returned g is still exactly what a new call
 * would build while this returns g. It changes with every orch_core_lock()
 * and when the clock crosses an instant at which a value computed from it
 * changes (a breaker's open countdown): such a crossing takes and
 * releases the lock once, like a change. No lock otherwise; any thread.
 */
uint64_t orch_core_generation(orch_core *core);

/* The same as a callback (orch_gw_opts.generation, arg = the core). */
static inline uint64_t
orch_core_generation_cb(void *core)
{
	return orch_core_generation((orch_core *) core);
}

static inline int64_t
orch_core_now(const orch_core *core)
{
	return orch_clock_now(&core->clock);
}

/* The configuration the core was opened over (never changes). */
static inline const orch_config *
orch_core_config(const orch_core *core)
{
	return core->cfg;
}

/* Controllers report the outside world (takes the lock). The finer
 * setters and the controllers' other operations are in control.h and
 * provision.h. A change of the VPN's tunnel or forwarded port is an
 * entry of the event log. */
void orch_core_set_env(orch_core *core, const orch_env *env);

/* Points the core's observer at sink (copied; sink->arg borrowed, and it
 * must outlive the core or be replaced first). NULL: nobody listens.
 * Takes the lock. */
void orch_core_set_sink(orch_core *core, const orch_sink *sink);

/* One entry of the event log, now (sink.h; data holds n pairs). Takes
 * the lock; orch_core_log_locked() expects it held. */
void orch_core_log(orch_core *core, orch_log_type type,
    const char *container_id, const char *stream_id, const orch_kv *data,
    size_t n);
void orch_core_log_locked(orch_core *core, orch_log_type type,
    const char *container_id, const char *stream_id, const orch_kv *data,
    size_t n);

/* ---- under the lock ----------------------------------------------------
 * The functions below expect the caller to hold the lock. */

/*
 * Adds (or updates) a managed engine and reserves its ports in the pools
 * (adoption: ports come from the container's labels): host_http_port in
 * the HTTP pool, container_https_port in the HTTPS pool (allocated there
 * whether or not ACE_MAP_HTTPS publishes it). A port outside the pools'
 * ranges is recorded but not reserved.
 */
orch_err orch_core_engine_put_locked(
    orch_core *core, const orch_engine_spec *spec, orch_engine **out);

/* Removes an engine, ends its streams (reason, NULL = "engine_gone") and
 * releases its ports on every path. */
void orch_core_engine_remove_locked(
    orch_core *core, orch_engine *e, const char *reason);

/* Whether provisioning may start now; fills *out. */
bool orch_core_can_provision_locked(orch_core *core, orch_refusal *out);

/*
 * SelectEngine: the best free engine, reserving it when reserve is true
 * (then *reservation_id holds a fresh 32-hex id, valid RESERVATION_TTL_S).
 * ORCH_ENOTFOUND when no engine is free.
 */
orch_err orch_core_select_locked(orch_core *core, bool reserve,
    orch_engine **out, char reservation_id[ORCH_RESERVATION_ID_LEN + 1]);

/* Resets "general", "replacement" or both (which NULL). ORCH_EINVAL for
 * another name. */
orch_err orch_core_reset_breaker_locked(orch_core *core, const char *which);

/* After an operation on one of the core's breakers (b), given a copy of
 * it from before: tells the sink when a persisted field changed. */
void orch_core_breaker_note_locked(
    orch_core *core, const orch_breaker *b, const orch_breaker *before);

#endif
