/*
 * The orchestrator's rules as pure functions of (state, config, now): they
 * read, decide and return a decision; they never change the state, call
 * Docker or read a clock. Controllers (and the RPC handlers) carry the
 * decisions out. Each function names the CONTRACT.md rule it implements.
 */
#ifndef ORCH_CORE_POLICY_H
#define ORCH_CORE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/core/breaker.h"
#include "src/core/config.h"
#include "src/core/state.h"

/* What the controllers last reported about the world outside the state. */
typedef struct orch_env {
	bool docker_ok;     /* the Docker daemon answered the last call */
	bool image_ok;      /* TARGET_IMAGE is present on the daemon */
	bool image_pulling; /* a pull of TARGET_IMAGE is under way */
	bool vpn_connected; /* Gluetun reports the tunnel up (any of them) */
	/* none is connected and a control server refused our credentials */
	bool vpn_config_error;
	/* VPN container facts for /vpn/status (VPN mode only) */
	char vpn_status[16];    /* Docker status: running|exited|not_found */
	char vpn_health[16];    /* healthy|unhealthy|starting|unknown */
	int vpn_forwarded_port; /* 0 = null */
	int64_t vpn_last_check_us; /* 0 = never */
} orch_env;

/* Why provisioning is refused; NONE = allowed. */
typedef enum orch_refusal_code {
	ORCH_REFUSE_NONE = 0,
	ORCH_REFUSE_DOCKER = 1,  /* docker_unavailable */
	ORCH_REFUSE_VPN = 2,     /* vpn_disconnected */
	ORCH_REFUSE_IMAGE = 3,   /* image_unavailable */
	ORCH_REFUSE_BREAKER = 4, /* circuit_breaker */
	ORCH_REFUSE_MAX = 5,     /* max_capacity */
} orch_refusal_code;

typedef struct orch_refusal {
	orch_refusal_code code;
	int eta_s; /* recovery_eta_seconds; -1 = null */
	bool can_retry;
	bool should_wait;
	/* The refusal's message when it is not the code's usual one
	 * (static storage); NULL = orch_refusal_message(code). */
	const char *message;
} orch_refusal;

/* "docker_unavailable", ... (the structured refusal's `code`) */
const char *orch_refusal_code_name(orch_refusal_code c);
/* "Docker unavailable", ... (the status's `blocked_reason`) */
const char *orch_refusal_reason(orch_refusal_code c);
/* A sentence for the refusal's `message`. */
const char *orch_refusal_message(orch_refusal_code c);
/* The RPC status a refusal travels with: UNAVAILABLE (Docker),
 * RESOURCE_EXHAUSTED (max capacity), FAILED_PRECONDITION (the rest). */
orch_err orch_refusal_status(orch_refusal_code c);

/*
 * The refusal for one reason, with its recovery_eta_seconds, can_retry and
 * should_wait (docs/CORE.md's table). Used by orch_policy_can_provision,
 * and by the provisioner when Docker itself reports the reason mid-way
 * (unreachable, image missing, the breaker's trial taken). NONE gives
 * eta -1, can_retry true, should_wait false.
 */
void orch_policy_refusal(orch_refusal_code code, const orch_config *cfg,
    const orch_env *env, const orch_breaker *general, int64_t now_us,
    orch_refusal *out);

/*
 * Whether a provision may start now (CONTRACT.md "Structured provisioning
 * refusal"). Checked in this order, the first that applies wins: Docker
 * unreachable, VPN enabled and down, image missing, general breaker open
 * (or half-open with its one trial taken), MAX_REPLICAS reached. Fills
 * *out (code NONE when allowed) and returns whether it is allowed.
 */
bool orch_policy_can_provision(const orch_state_counts *c,
    const orch_config *cfg, const orch_env *env, const orch_breaker *general,
    int64_t now_us, orch_refusal *out);

/*
 * The same for a container that is not an engine (POST /provision): it
 * needs Docker, and none of the engines' own gates applies. Not their
 * image (TARGET_IMAGE; the container names its own, checked by the
 * request), not their count (MAX_REPLICAS counts engines), not the VPN
 * (the container is not placed behind Gluetun) and not the general
 * breaker (it counts engines that failed to become engines, and its
 * half-open trial is an engine's). Refuses only DOCKER.
 */
bool orch_policy_can_provision_container(
    const orch_config *cfg, const orch_env *env, orch_refusal *out);

/*
 * CONTRACT.md "Status": "unavailable" when Docker is unreachable; else
 * "degraded" when provisioning is blocked or fewer than MIN_REPLICAS
 * engines are healthy; else "healthy".
 */
const char *orch_policy_status(const orch_state_counts *c,
    const orch_config *cfg, bool docker_ok, bool provisioning_blocked);

/*
 * Autoscaler: engines to start so that MIN_REPLICAS engines are free
 * (running, not unhealthy, not marked, below MAX_STREAMS_PER_ENGINE active
 * streams counting reservations), never above MAX_REPLICAS in total.
 */
int orch_policy_autoscale(const orch_state_counts *c, const orch_config *cfg);

/* Scale(n): n clamped to [MIN_REPLICAS, MAX_REPLICAS]; engines to start;
 * idle engines to stop (best candidates first, at most stop_cap). */
typedef struct orch_scale_plan {
	int scaled_to;
	int start;
	size_t n_stop;
	bool deferred; /* nothing planned: the core is restoring */
} orch_scale_plan;

orch_scale_plan orch_policy_scale(const orch_state *st, const orch_config *cfg,
    int n, orch_engine **stop, size_t stop_cap);

/*
 * Idle GC: managed engines with no active stream and no reservation, idle
 * for at least ENGINE_GRACE_PERIOD_S, longest idle first, never leaving
 * fewer than MIN_REPLICAS free healthy engines; only healthy engines are
 * collected (state.h counts.free_healthy). Periodic GC (forced=false) does
 * nothing unless AUTO_DELETE; POST /gc (forced=true) ignores AUTO_DELETE
 * but keeps the grace period and the minimum. Returns how many it put in
 * out (at most cap).
 */
size_t orch_policy_gc(const orch_state *st, const orch_config *cfg,
    int64_t now_us, bool forced, orch_engine **out, size_t cap);

/* Engines this process provisioned at least STARTUP_TIMEOUT_S ago that
 * never answered a probe (state.h startup_pending; restarts do not reset
 * the clock): removed and counted against the general breaker. Adopted
 * engines are never here: probes judge them. Unordered. */
size_t orch_policy_startup_expired(const orch_state *st,
    const orch_config *cfg, int64_t now_us, orch_engine **out, size_t cap);

/* Engines Docker restarted ENGINE_CRASH_LOOP_RESTARTS times within
 * ENGINE_CRASH_LOOP_WINDOW_S (state.h restarts), not counted yet: a crash
 * loop, removed and counted once against the general breaker, whether
 * this process provisioned them or adopted them. Unordered. */
size_t orch_policy_crash_looping(const orch_state *st, const orch_config *cfg,
    orch_engine **out, size_t cap);

/* One health replacement: which engine, and whether to start its
 * successor before stopping it. */
typedef struct orch_replacement {
	orch_engine *engine;
	bool start_first; /* below MAX_REPLICAS: new one first */
} orch_replacement;

/*
 * Health replacement (CONTRACT.md "Scaling", "Health"): at most one at a
 * time (in_progress), HEALTH_REPLACEMENT_COOLDOWN_S after the last one,
 * only while the replacement breaker lets a call through; the candidate is
 * the managed engine unhealthy the longest, for at least
 * HEALTH_UNHEALTHY_GRACE_PERIOD_S. Returns whether one is due.
 */
bool orch_policy_replacement(const orch_state *st, const orch_config *cfg,
    int64_t now_us, int64_t last_replacement_us, bool in_progress,
    const orch_breaker *replacement, orch_replacement *out);

#endif
