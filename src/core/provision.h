/*
 * Provisioning's bookkeeping: a "slot" is one provision between "allowed"
 * and "engine in state", and these functions are its whole life in the
 * core.
 *
 *   reserve    under the lock: the refusal policy (provisions in flight
 *              count against MAX_REPLICAS), the general breaker's trial,
 *              the HTTP port (or the caller's explicit host_port) and the
 *              HTTPS port, and the smallest free name number (engines in
 *              state and other slots in flight both count);
 *   renumber   the runtime said the name is taken: the next free number;
 *   repick     the runtime said the host port is taken: the next port;
 *   commit     the engine goes into state, pending its first healthy
 *              probe (which is the breaker's success; a half-open trial
 *              stays with the engine until then), the metrics count it;
 *   abort      the one unwind path: ports released exactly once, and the
 *              outcome decides the breaker (released or a failure), the
 *              environment, the refusal and the metrics.
 *
 * Why here: the manager (src/engines) used to do all of this itself with
 * the core's fields, in three places per failure path. Here it is pure C
 * over the core's own modules, testable with a manual clock and no
 * runtime, and the manager only says what the runtime answered.
 *
 * Every function takes the core's lock itself (the caller must not hold
 * it); none of them blocks. A slot that was reserved must end in exactly
 * one commit or abort; after either, it holds nothing.
 */
#ifndef ORCH_CORE_PROVISION_H
#define ORCH_CORE_PROVISION_H

#include <stdbool.h>

#include "src/base/diag.h"
#include "src/base/err.h"
#include "src/core/core.h"
#include "src/core/policy.h"
#include "src/core/ports.h"
#include "src/core/state.h"

/* What a failed provision means (CONTRACT.md "What counts against the
 * circuit breaker"). */
typedef enum orch_slot_outcome {
	/* The runtime is unreachable: the docker_unavailable refusal, Docker
	 * reported down; not the engine's fault (breaker released). */
	ORCH_SLOT_DOCKER_DOWN = 1,
	/* No such image: the image_unavailable refusal (TARGET_IMAGE then
	 * reported missing); breaker released. */
	ORCH_SLOT_IMAGE_MISSING = 2,
	/* The request itself is wrong (a bad label or env name): breaker
	 * released, counted as failed. */
	ORCH_SLOT_INVALID = 3,
	/* The container could not be created or started: a breaker
	 * failure, counted as failed. */
	ORCH_SLOT_FAILED = 4,
	/* The caller's deadline passed before anything was created:
	 * breaker released, not counted as failed. */
	ORCH_SLOT_CANCELLED = 5,
} orch_slot_outcome;

typedef struct orch_slot_opts {
	int host_port;     /* the caller's explicit port; 0 = from the pool */
	bool custom_image; /* the request names an image (not TARGET_IMAGE) */
	/* Whether a host port is free on the host (skipped when not); NULL
	 * = every port the pool has free. Called under the core's lock. */
	orch_port_probe_fn probe;
	void *probe_arg;
	/* VPN mode (vpn.h): the Gluetun to start it in, NULL = the
	 * connected one with the fewest engines; and whether it must take
	 * that VPN's forwarded port even though another engine holds it (a
	 * port change: that one is retired at commit). */
	const char *vpn;
	bool forwarded;
} orch_slot_opts;

/* One provision in flight. The public fields are what the plan needs;
 * the caller reads them and never writes them. */
typedef struct orch_slot {
	int number;     /* N of <prefix>-N */
	int http_port;  /* container port (also the host port without VPN) */
	int https_port; /* container HTTPS port, from ACE_HTTPS_RANGE (from
	                   the VPN's pool with VPN and ACE_MAP_HTTPS) */
	/* VPN mode: the Gluetun (its index; -1 without VPN), the host ports
	 * Gluetun publishes the two ports on (0: not published), and the
	 * forwarded port when this engine is to own it (0: not). */
	int vpn;
	int host_http_port;
	int host_https_port;
	int p2p_port;

	/* private */
	bool held;  /* reserved and not yet committed or aborted */
	bool trial; /* holds the general breaker's half-open trial */
	bool custom_image;
	orch_port_probe_fn probe;
	void *probe_arg;
} orch_slot;

/*
 * Decides and reserves. ORCH_OK: *slot holds a number and ports, and
 * counts as a provision in flight. Otherwise nothing is held and:
 *   - the refusal's status with *refusal filled (code not NONE) when
 *     provisioning is blocked (counted as refused), or the breaker is
 *     half-open and its trial is taken (ORCH_EPRECOND, not counted);
 *   - ORCH_EEXIST when opts->host_port is in use, ORCH_EINVAL when it is
 *     outside PORT_RANGE_HOST (diag's field "host_port");
 *   - ORCH_EEXHAUSTED when a pool has no free port (diag says which).
 * refusal->code is NONE unless refused. diag may be NULL.
 */
orch_err orch_core_slot_reserve(orch_core *core, const orch_slot_opts *opts,
    orch_slot *slot, orch_refusal *refusal, orch_diag *diag);

/* The name "<prefix>-<number>" was taken on the runtime: moves the slot
 * to the next free number above it. */
void orch_core_slot_renumber(orch_core *core, orch_slot *slot);

/*
 * The host port was taken between the probe and the start: takes the next
 * free HTTP port and gives the old one back. ORCH_EEXHAUSTED (diag says
 * so) when there is none; the slot then keeps its old port, which abort
 * releases.
 */
orch_err orch_core_slot_repick_port(
    orch_core *core, orch_slot *slot, orch_diag *diag);

/*
 * The container runs: puts spec's engine in state (its ports are the
 * slot's) pending its first healthy probe, records Docker reachable, counts
 * the provision and its latency (latency_s, measured by the caller). When the
 * state refuses the engine (a conflict, ENOMEM) the slot is unwound as a
 * failure with the breaker released, and that error is returned (diag
 * says so). Either way the slot holds nothing afterwards.
 */
orch_err orch_core_slot_commit(orch_core *core, orch_slot *slot,
    const orch_engine_spec *spec, double latency_s, orch_diag *diag);

/*
 * The provision failed: releases the slot's ports and number, and records
 * the outcome (see orch_slot_outcome). *refusal (may be NULL) is filled
 * for DOCKER_DOWN and IMAGE_MISSING, code NONE otherwise. A slot that
 * holds nothing is left alone.
 */
void orch_core_slot_abort(orch_core *core, orch_slot *slot,
    orch_slot_outcome outcome, orch_refusal *refusal);

/*
 * The names of every managed container the runtime listed (a reconcile):
 * the numbers of those named "<prefix>-<N>" are skipped by reserve and
 * renumber from now on, so that leftovers (stopped containers, another
 * tool's) cost no failed create. Replaces the previous list. ORCH_ENOMEM
 * leaves it as it was.
 */
orch_err orch_core_set_taken_names(
    orch_core *core, const char *const *names, size_t n);

#endif
