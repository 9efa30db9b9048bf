/*
 * The fixture the manager's tests share (manager_fake_test and
 * vpn_fake_test over the fake runtime, manager_test over Docker): a
 * configuration, a core on the clock the case picks (fx_mgr.now for a
 * manual one) and a manager over the case's runtime ops; the value of a
 * container's variable; copies of what the core's state says, taken
 * under its lock. Waiting with a deadline is tests/testlib's.
 *
 * A test's own fixture embeds an fx_mgr and keeps beside it what only it
 * has (the fake's handle, the Docker handle, the VPN monitor). The
 * runtime behind fx_mgr.rt is the test's: it opens it before fx_start and
 * closes it after fx_stop.
 *
 * Everything asserts with cmocka, so it is only for the thread running a
 * case.
 */
#ifndef ORCH_TESTS_ENGINES_FX_H
#define ORCH_TESTS_ENGINES_FX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/core/clock.h"
#include "src/core/config.h"
#include "src/core/core.h"
#include "src/engines/manager.h"
#include "src/runtime/runtime.h"

#define FX_IMAGE "acestream-sim:latest"

typedef struct fx_mgr {
	orch_config cfg;
	bool cfg_ok; /* cfg holds what fx_fini releases */
	int64_t now; /* the manual clock, when the case runs the core on it */
	orch_core core;
	bool core_ok;    /* between fx_start and fx_stop */
	orch_runtime rt; /* the case's runtime; the manager copies the ops */
	orch_mgr *mgr;
} fx_mgr;

/*
 * Defaults, then what every manager case sets: the simulator image
 * (never pulled), CONTAINER_LABEL label_key=label_value,
 * ENGINE_NAME_PREFIX, n_ports host ports from http_lo and HTTPS ports
 * from https_lo, and a control thread (when a case runs it) that acts at
 * start, then only when the case says so. The strings are copied.
 */
void fx_config(fx_mgr *m, const char *label_key, const char *label_value,
    const char *prefix, int http_lo, int https_lo, int n_ports);

/* A core over m->cfg on clk, then a manager over m->rt with opts' probe
 * and no_loops (opts may be NULL: the defaults), started. */
void fx_start(fx_mgr *m, orch_clock clk, const orch_mgr_opts *opts);

/* Closes the manager and the core, when open; again is a no-op. */
void fx_stop(fx_mgr *m);

/* fx_stop, then releases the configuration. */
void fx_fini(fx_mgr *m);

/* ---- small helpers ---------------------------------------------------- */

/* The value of NAME in a container's environment, or NULL. Points into
 * c. */
const char *fx_env_value(const orch_rt_container *c, const char *name);

/* ---- the core's state, under its lock --------------------------------- */

/* A copy of what the state says about one engine. */
typedef struct fx_esnap {
	bool found, managed, running;
	char name[128];
	char host[64];
	int port;
	int host_http_port, host_https_port;
	int container_http_port, container_https_port;
	orch_health health;
	int restarts;
} fx_esnap;

fx_esnap fx_eget(fx_mgr *m, const char *id);

bool fx_http_in_use(fx_mgr *m, int port);

/* Starts a stream on engine id; asserts (outside the lock) that it
 * started there. */
void fx_stream_on(fx_mgr *m, const char *id, const char *stream_id);

/* A stream's status: 0 unknown, 1 active, 2 ended (its reason copied
 * into reason; "" when none). */
int fx_stream_status(
    fx_mgr *m, const char *stream_id, char *reason, size_t len);

#endif
