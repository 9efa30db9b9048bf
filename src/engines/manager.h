/*
 * The engine manager: carries the core's decisions out through a container
 * runtime (src/runtime/runtime.h: Docker in production, an in-memory fake
 * in the tests).
 *
 *   provision   the core reserves a slot (number, ports) under its lock;
 *               the manager creates and starts the container outside it,
 *               retrying on a taken name or port, and the core commits
 *               the engine (listed at once: CONTRACT.md) or aborts the
 *               slot with what the failure means (provision.h);
 *   delete/stop stop+remove, then drop from state (ports released);
 *   reconcile   list the managed containers, adopt running ones, drop
 *               engines whose container is gone or stopped; track whether
 *               the runtime answers and whether TARGET_IMAGE is present;
 *   events      the runtime's die/start/destroy update state within a
 *               second;
 *   control     a thread running, every AUTOSCALE_INTERVAL_S, startup
 *               timeouts, health replacement, the autoscaler and idle GC,
 *               and the reconcile every MONITOR_INTERVAL_S;
 *   containers  generic containers (ProvisionContainer), inspect and
 *               find by label, for the RPC handlers.
 *
 * Nothing here blocks under the core's lock: runtime calls happen between
 * the core's short operations (src/core/control.h, provision.h); the
 * manager reads or writes none of the core's fields itself. It never
 * stops engines at start or close; orch_mgr_cleanup() does, when asked
 * (--cleanup-on-exit).
 *
 * Errors: functions return orch_err and say why in the caller's orch_diag
 * (may be NULL), its field set when a request field is at fault.
 *
 * Threads: every orch_mgr_* operation may be called from any thread (the
 * RPC workers); they serialize only on the core's lock.
 */
#ifndef ORCH_ENGINES_MANAGER_H
#define ORCH_ENGINES_MANAGER_H

#include <stdbool.h>
#include <stddef.h>

#include "src/base/diag.h"
#include "src/base/err.h"
#include "src/core/core.h"
#include "src/core/ports.h"
#include "src/engines/plan.h"
#include "src/runtime/runtime.h"

/* Seconds the runtime waits for an engine to stop before killing it: the
 * longest a DELETE, a GC or a Scale step waits on one engine. The
 * process's own stop waits for a handler in such a wait (orchestratord). */
#define ORCH_MGR_STOP_TIMEOUT_S 5

typedef struct orch_mgr orch_mgr;

typedef struct orch_mgr_opts {
	orch_core *core; /* required; its cfg is the configuration */
	/* Required; the handle is copied, the runtime it names is borrowed
	 * and must outlive the manager. */
	const orch_runtime *rt;
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
 * (the runtime down is reported in the core's env, not as an error here).
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
 * NONE) when provisioning is blocked (diag says the reason); or
 * ORCH_EINVAL (a bad request: diag's field is "labels" or "env"),
 * ORCH_EEXIST (host_port in use: field "host_port"), ORCH_EEXHAUSTED (no
 * free port) or another error with diag saying what failed (the API
 * answers 500 "Failed to provision engine: <diag>").
 */
orch_err orch_mgr_provision(orch_mgr *m, const orch_engine_request *req,
    int host_port, orch_provision_result *res, orch_refusal *refusal,
    orch_diag *diag);

/*
 * Stops and removes a managed container (id or name), drops its engine
 * from state (streams end "engine_gone", ports released). *deleted gets
 * the full container id. ORCH_ENOTFOUND when no managed container has
 * that id or name.
 */
orch_err orch_mgr_delete(orch_mgr *m, const char *id, char *deleted,
    size_t deleted_len, orch_diag *diag);

/* Runs one reconcile now (also what the control thread does). */
void orch_mgr_reconcile(orch_mgr *m);

/* One control pass now: startup timeouts, replacement, autoscale, GC
 * (AUTO_DELETE). Tests call it instead of waiting for the period. */
void orch_mgr_control_pass(orch_mgr *m);

/*
 * Scale(n): starts or stops engines now (n clamped to [MIN, MAX]);
 * *scaled_to gets the clamped n. ORCH_EUNAVAIL when fewer engines than
 * planned started (engines started before stay; diag says how many).
 */
orch_err orch_mgr_scale(orch_mgr *m, int n, int *scaled_to, orch_diag *diag);

/* POST /gc: stops idle engines past their grace period now. ids gets up
 * to cap container ids (caller's buffers of 80 bytes); returns how many
 * were stopped. */
size_t orch_mgr_gc(orch_mgr *m, char (*ids)[80], size_t cap);

/* ---- generic containers (ProvisionContainer, InspectContainer,
 * FindByLabel) ---------------------------------------------------------- */

/* A ProvisionContainer request, validated by the caller; borrowed. */
typedef struct orch_container_request {
	const char *image;       /* required */
	const char *name_prefix; /* NULL = "container"; the name gets a random
	                            8-hex suffix */
	const orch_label *env;   /* NAME -> value */
	size_t n_env;
	const orch_label *labels;
	size_t n_labels;
	const orch_port_publish *ports; /* container port -> host port */
	size_t n_ports;
} orch_container_request;

typedef struct orch_container_result {
	char container_id[80];
	char container_name[160];
} orch_container_result;

/*
 * Creates and starts a generic container, labelled CONTAINER_LABEL (so
 * that delete and find-by-label see it; the reconcile adopts only
 * containers with engine labels), restart policy unless-stopped. Nothing
 * is left behind on failure. Refused, as engine provisions are, while
 * provisioning is blocked (the refusal's status, *refusal filled; code
 * NONE otherwise). ORCH_EUNAVAIL when the runtime is unreachable,
 * ORCH_EINVAL for a bad image reference, env or label name (diag's
 * field), else the runtime's error; diag says why. Counted in the core's
 * metrics.
 */
orch_err orch_mgr_provision_container(orch_mgr *m,
    const orch_container_request *req, orch_container_result *res,
    orch_refusal *refusal, orch_diag *diag);

/*
 * The managed container id (or name), as the runtime reports it, into
 * *out (the caller finalizes it with orch_rt_container_fini() on
 * success). ORCH_ENOTFOUND (diag "container <id> not found") when no such
 * container exists or it is not managed; else the runtime's error.
 */
orch_err orch_mgr_inspect(
    orch_mgr *m, const char *id, orch_rt_container *out, orch_diag *diag);

/*
 * Managed containers whose label key has value (exact; a key containing
 * '=' too). On success *out (NULL when *n is 0) is released by the caller
 * with orch_rt_container_list_free().
 */
orch_err orch_mgr_find_by_label(orch_mgr *m, const char *key,
    const char *value, orch_rt_container **out, size_t *n, orch_diag *diag);

/* The runtime the manager was opened with. */
const orch_runtime *orch_mgr_runtime(orch_mgr *m);

/*
 * The default port probe (orch_mgr_opts.port_probe): whether a TCP port
 * can be bound on the host now, bound the way Docker's publisher binds
 * (SO_REUSEADDR, all addresses): a port someone listens on is taken, one
 * whose last connection lingers in TIME_WAIT is free. arg is unused.
 */
bool orch_mgr_host_port_free(void *arg, int port);

#endif
