/*
 * The fixture of the core's tests that run a whole core over a manual
 * clock and no runtime (control_test, core_test, provision_test,
 * restore_test, sink_test, vpn_test): the configuration, the clock's
 * value and the core, and the engine specs the cases adopt.
 *
 * A test's own fixture embeds an fx_core and keeps beside it what only
 * it records (a sink's lines or counts). Everything asserts with cmocka,
 * so it is only for the thread running a case.
 */
#ifndef ORCH_TESTS_CORE_FX_H
#define ORCH_TESTS_CORE_FX_H

#include <stdbool.h>
#include <stdint.h>

#include "src/core/config.h"
#include "src/core/core.h"
#include "src/core/sink.h"

typedef struct fx_core {
	orch_config cfg;
	int64_t now; /* the core's manual clock */
	orch_core core;
} fx_core;

/* The defaults with min..max replicas; the case changes cfg and sets now
 * before fx_core_start. */
void fx_core_config(fx_core *c, int min_replicas, int max_replicas);

/* The configuration orch_config_load makes of env ("NAME=value",
 * NULL-terminated; borrowed) and no .env file; fails the case when it
 * does not load. Like fx_core_config, before fx_core_start. */
void fx_core_load(fx_core *c, const char *const *env);

/* The core over c->cfg on the manual clock c->now; with ops (not NULL),
 * a sink of ops and arg (copied by the core). */
void fx_core_start(fx_core *c, const orch_sink_ops *ops, void *arg);

/* Tells the started core that Docker and the image are there, as a
 * runtime that answers would: neither refuses a slot. */
void fx_core_env_up(fx_core *c);

/* Releases the core and the configuration. */
void fx_core_fini(fx_core *c);

/* A running or stopped engine on 127.0.0.1:http (HTTPS on http + 26000);
 * the strings are borrowed. */
orch_engine_spec fx_spec(
    const char *id, const char *name, int http, bool running);

/* The same with the HTTPS ports given: host_https published on the host
 * (0: none, so the core's HTTPS pool holds nothing for it) and
 * container_https inside. */
orch_engine_spec fx_spec_ports(const char *id, const char *name, int http,
    int host_https, int container_https, bool running);

#endif
