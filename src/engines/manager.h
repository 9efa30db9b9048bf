/*
 * The engine manager: carries the core's decisions out through Docker.
 *
 *   provision   pick a name number and ports under the core's lock, create
 *               and start the container outside it, put the engine in
 *               state before returning (CONTRACT.md: listed at once);
 *   delete/stop stop+remove, then drop from state (ports released);
 *   reconcile   list the managed containers, adopt running ones, drop
 *               engines whose container is gone or stopped; track whether
 *               Docker answers and whether TARGET_IMAGE is present;
 *   events      Docker's die/start/destroy update state within a second;
 *   control     a thread running, every AUTOSCALE_INTERVAL_S, startup
 *               timeouts, health replacement, the autoscaler and idle GC,
 *               and the reconcile every MONITOR_INTERVAL_S.
 *
 * Nothing here blocks under the core's lock: Docker calls happen between
 * two short critical sections. The manager never stops engines at start
 * or close; orch_mgr_cleanup() does, when asked (--cleanup-on-exit).
 *
 * Threads: every orch_mgr_* operation may be called from any thread (the
 * RPC workers); they serialize only on the core's lock.
 */
#ifndef ORCH_ENGINES_MANAGER_H
#define ORCH_ENGINES_MANAGER_H

#include <stdbool.h>
#include <stddef.h>

#include "src/base/err.h"
#include "src/core/core.h"
#include "src/core/ports.h"
#include "src/engines/plan.h"
#include "src/runtime/docker.h"

typedef struct orch_mgr orch_mgr;

typedef struct orch_mgr_opts {
	orch_core *core;      /* required; its cfg is the configuration */
	orch_docker *docker;  /* required; borrowed, must outlive the manager */
	/* Whether a host port is free; NULL = try to bind it on the host
	 * (0.0.0.0, TCP), which sees ports held by any process, Docker's
	 * port proxies included. */
	orch_port_probe_fn port_probe;
	void *port_probe_arg;
	bool no_loops; /* tests: no control thread and no events stream */
} orch_mgr_opts;

/* Creates the manager (no thread yet). *out is the caller's. */
orch_err orch_mgr_open(const orch_mgr_opts *opts, orch_mgr **out);

/*
 * First reconcile (adopts the running managed engines), then starts the
 * events stream, the image check/pull and the control thread (unless
 * no_loops). Returns once the first reconcile has run, whatever it found
 * (Docker down is reported in the core's env, not as an error here).
 */
orch_err orch_mgr_start(orch_mgr *m);

/* Stops every thread (engines keep running) and frees m. NULL no-op. */
void orch_mgr_close(orch_mgr *m);

/* Stops and removes every managed container (--cleanup-on-exit). */
void orch_mgr_cleanup(orch_mgr *m);

typedef struct orch_provision_result {
	char container_id[80];
	char container_name[128];
	int host_http_port;
	int container_http_port;
	int container_https_port;
} orch_provision_result;

/*
 * Starts one engine. host_port 0 = allocate from PORT_RANGE_HOST.
 * Returns ORCH_OK; or the refusal's status with *refusal filled (code not
 * NONE) when provisioning is blocked; or ORCH_EINVAL (bad request: why
 * names the field), ORCH_EEXIST (host_port in use), or another error with
 * why saying what failed (the API answers 500 "Failed to provision
 * engine: <why>").
 */
orch_err orch_mgr_provision(orch_mgr *m, const orch_engine_request *req,
    int host_port, orch_provision_result *res, orch_refusal *refusal,
    char *why, size_t whylen);

/*
 * Stops and removes a managed container (id or name), drops its engine
 * from state (streams end "engine_gone", ports released). *deleted gets
 * the full container id. ORCH_ENOTFOUND when no managed container has
 * that id or name.
 */
orch_err orch_mgr_delete(orch_mgr *m, const char *id, char *deleted,
    size_t deleted_len, char *why, size_t whylen);

/* Runs one reconcile now (also what the control thread does). */
void orch_mgr_reconcile(orch_mgr *m);

/* One control pass now: startup timeouts, replacement, autoscale, GC
 * (AUTO_DELETE). Tests call it instead of waiting for the period. */
void orch_mgr_control_pass(orch_mgr *m);

/*
 * Scale(n): starts or stops engines now (n clamped to [MIN, MAX]);
 * *scaled_to gets the clamped n. Returns the first provisioning error,
 * if any (engines started before it stay).
 */
orch_err orch_mgr_scale(orch_mgr *m, int n, int *scaled_to, char *why,
    size_t whylen);

/* POST /gc: stops idle engines past their grace period now. ids gets up
 * to cap container ids (caller's buffers of 80 bytes); returns how many
 * were stopped. */
size_t orch_mgr_gc(orch_mgr *m, char (*ids)[80], size_t cap);

orch_docker *orch_mgr_docker(orch_mgr *m);

#endif
