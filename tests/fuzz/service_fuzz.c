/*
 * libFuzzer target for the service's FAST handlers (src/service: the ones
 * that work on the core's state): the request validation, the event rules
 * and the state they change.
 *
 * Input: byte 0 picks one of the FAST rows of orch_service_methods(), in
 * table order, byte 1 the caller's
 * Authorization (none, right key, wrong key, not Bearer), byte 2 how many
 * seconds the manual clock moves first; the rest is the request payload,
 * unpacked with the method's input type as the server's dispatch does,
 * then run through orch_rpc_server_call (the direct path: same table and
 * handlers, no socket).
 *
 * Invariants (abort when broken):
 * - exactly one answer per call;
 * - an OK reply passes protobuf_c_message_check (every `required` field of
 *   the reply set: the JSON writer relies on it);
 * - INVALID_ARGUMENT names the field;
 * - after every call the state's counters equal a recount over the
 *   engines (state.c keeps them incrementally).
 * The core starts with three managed engines and is rebuilt every 4,096
 * inputs so memory stays bounded over long runs.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "proto/orchestrator.pb-c.h"
#include "src/core/core.h"
#include "src/rpc/server.h"
#include "src/service/service.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "invariant failed: %s\n", #cond);     \
			abort();                                              \
		}                                                             \
	} while (0)

static orch_config cfg;
static orch_core core;
static orch_service svc;
static orch_rpc_server *srv;
/* The FAST rows of the table, in table order. */
static const orch_method *fast[64];
static size_t n_fast;
static int64_t now_us = 1700000000LL * 1000000LL;
static unsigned long runs;

struct answer {
	int calls;
	orch_err status;
};

static void
on_done(void *arg, orch_err status, const char *message,
    const Orch__ErrorDetail *detail, const ProtobufCMessage *reply)
{
	struct answer *a = arg;

	(void) message;
	a->calls++;
	a->status = status;
	if (status == ORCH_OK) {
		FUZZ_CHECK(reply != NULL);
		FUZZ_CHECK(protobuf_c_message_check(reply));
	}
	if (status == ORCH_EINVAL)
		FUZZ_CHECK(detail != NULL && detail->field != NULL);
}

static void
add_engines(void)
{
	static const char *ids[] = {"aaa111", "bbb222", "ccc333"};
	orch_label lab = {"orchestrator.managed", "acestream"};

	orch_core_lock(&core);
	for (int i = 0; i < 3; i++) {
		orch_engine_spec s = {0};
		char name[32];
		orch_engine *e = NULL;

		snprintf(name, sizeof(name), "acestream-%d", i + 1);
		s.container_id = ids[i];
		s.container_name = name;
		s.host = "127.0.0.1";
		s.port = 19001 + i;
		s.host_http_port = 19001 + i;
		s.host_https_port = 45001 + i;
		s.container_http_port = 19001 + i;
		s.container_https_port = 45001 + i;
		s.labels = &lab;
		s.n_labels = 1;
		s.running = true;
		FUZZ_CHECK(
		    orch_core_engine_put_locked(&core, &s, &e) == ORCH_OK);
		if (i < 2)
			orch_state_engine_probe(
			    &core.state, e, true, 3, now_us);
	}
	orch_core_unlock(&core);
}

static void
setup(void)
{
	orch_rpc_server_opts o = {0};
	orch_core_opts co = {64};
	orch_env env = {0};

	if (srv != NULL) {
		orch_rpc_server_close(srv);
		orch_core_fini(&core);
	} else {
		orch_config_defaults(&cfg);
		free(cfg.api_key);
		cfg.api_key = strdup("k");
		cfg.max_streams_per_engine = 2;
		cfg.stats_history_max = 8;
	}
	FUZZ_CHECK(orch_core_init(&core, &cfg, orch_clock_manual(&now_us),
	               &co) == ORCH_OK);
	env.docker_ok = true;
	env.image_ok = true;
	orch_core_set_env(&core, &env);
	add_engines();
	svc.core = &core;
	o.service = &orch__orchestrator__descriptor;
	o.methods = orch_service_methods(&o.n_methods);
	o.authorize = orch_service_authorize;
	o.arg = &svc;
	n_fast = 0;
	for (size_t i = 0; i < o.n_methods && n_fast < 64; i++) {
		if (o.methods[i].lane == ORCH_LANE_FAST)
			fast[n_fast++] = &o.methods[i];
	}
	o.workers = 1;
	FUZZ_CHECK(orch_rpc_server_open(&o, &srv) == ORCH_OK);
}

/* The counters state.c keeps, recomputed from scratch. */
static void
check_counts(void)
{
	orch_state *st = &core.state;
	orch_state_counts c = {0};
	orch_engine *e;
	size_t cur = 0;
	int max = cfg.max_streams_per_engine;

	while ((e = orch_state_engine_next(st, &cur)) != NULL) {
		int active = 0;

		for (orch_list *n = e->active.next; n != &e->active;
		     n = n->next)
			active++;
		FUZZ_CHECK(active == e->n_active);
		c.streams_active += e->n_active;
		if (!e->managed)
			continue;
		c.engines++;
		c.running += e->running;
		c.healthy += e->running && e->health == ORCH_HEALTH_HEALTHY;
		c.unhealthy +=
		    e->running && e->health == ORCH_HEALTH_UNHEALTHY;
		c.used += e->n_active >= max;
		c.marked += e->marked_for_replacement;
		c.free += e->running && e->health != ORCH_HEALTH_UNHEALTHY &&
		          !e->marked_for_replacement &&
		          orch_engine_load(e) < max;
		c.reservations += e->n_reserved;
	}
	FUZZ_CHECK(c.engines == st->counts.engines);
	FUZZ_CHECK(c.running == st->counts.running);
	FUZZ_CHECK(c.healthy == st->counts.healthy);
	FUZZ_CHECK(c.unhealthy == st->counts.unhealthy);
	FUZZ_CHECK(c.used == st->counts.used);
	FUZZ_CHECK(c.marked == st->counts.marked);
	FUZZ_CHECK(c.free == st->counts.free);
	FUZZ_CHECK(c.reservations == st->counts.reservations);
	FUZZ_CHECK(c.streams_active == st->counts.streams_active);
	FUZZ_CHECK((size_t) st->counts.streams_total ==
	           orch_strmap_len(&st->streams_by_id));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *auths[] = {NULL, "Bearer k", "Bearer x", "Basic k"};
	const ProtobufCMethodDescriptor *md;
	ProtobufCMessage *req;
	struct answer a = {0, ORCH_OK};

	if (srv == NULL || runs++ % 4096 == 0)
		setup();
	if (size < 3)
		return 0;
	md = protobuf_c_service_descriptor_get_method_by_name(
	    &orch__orchestrator__descriptor, fast[data[0] % n_fast]->name);
	FUZZ_CHECK(md != NULL);
	now_us += (int64_t) data[2] * 1000000;
	req = protobuf_c_message_unpack(md->input, NULL, size - 3, data + 3);
	if (req == NULL)
		return 0;
	FUZZ_CHECK(orch_rpc_server_call(srv, md->name, auths[data[1] % 4], 0,
	               req, on_done, &a) == ORCH_OK);
	FUZZ_CHECK(a.calls == 1);
	protobuf_c_message_free_unpacked(req, NULL);
	orch_core_lock(&core);
	check_counts();
	orch_core_unlock(&core);
	return 0;
}
