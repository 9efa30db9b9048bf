/*
 * The method table (src/service/table.c) against the schema and the
 * contract, walking the table and the schema's descriptors rather than a
 * hand-kept list:
 *
 * - every method of `service Orchestrator` has exactly one row, and every
 *   row names one (no count is written down here);
 * - the auth column follows CONTRACT.md "Authentication": Ping (behind
 *   /healthz) is the one open method; methods that only read are named
 *   Get*, List* or Inspect* and are READ; everything else is MUTATE
 *   (FindByLabel included: the contract protects GET /by-label);
 * - the REST routes agree: a route that is not a GET is backed by a
 *   MUTATE method, a GET route by a READ or OPEN one except /by-label;
 * - the lane column: with no runtime and no store, exactly the rows off
 *   the FAST lane answer UNAVAILABLE "no Docker runtime" or "no event log"
 *   (they are the ones that need Docker or the disk), and the rows that
 *   start containers run on the PROVISION lane, called through the direct
 *   path with the right key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/orchestrator.pb-c.h"
#include "src/core/config.h"
#include "src/core/core.h"
#include "src/gateway/routes.h"
#include "src/rpc/server.h"
#include "src/service/service.h"

static bool
starts_with(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static void
test_one_row_per_method(void **state)
{
	const ProtobufCServiceDescriptor *sd = &orch__orchestrator__descriptor;
	size_t n = 0;
	const orch_method *t = orch_service_methods(&n);

	(void) state;
	assert_true(n > 0);
	for (unsigned i = 0; i < sd->n_methods; i++) {
		int rows = 0;

		for (size_t j = 0; j < n; j++)
			rows += strcmp(t[j].name, sd->methods[i].name) == 0;
		if (rows != 1)
			fail_msg("method %s has %d rows", sd->methods[i].name,
			    rows);
		assert_string_equal(
		    orch_service_method(sd->methods[i].name)->name,
		    sd->methods[i].name);
	}
	for (size_t j = 0; j < n; j++) {
		assert_non_null(t[j].fn);
		if (protobuf_c_service_descriptor_get_method_by_name(
		        sd, t[j].name) == NULL)
			fail_msg("row %s is not a method of %s", t[j].name,
			    sd->name);
	}
	assert_int_equal(n, sd->n_methods);
	assert_null(orch_service_method("NoSuchMethod"));
}

static void
test_auth_column_follows_contract(void **state)
{
	size_t n = 0;
	const orch_method *t = orch_service_methods(&n);

	(void) state;
	for (size_t i = 0; i < n; i++) {
		orch_auth_class want = ORCH_AUTH_MUTATE;

		if (strcmp(t[i].name, "Ping") == 0)
			want = ORCH_AUTH_OPEN;
		else if (starts_with(t[i].name, "Get") ||
		         starts_with(t[i].name, "List") ||
		         starts_with(t[i].name, "Inspect"))
			want = ORCH_AUTH_READ;
		if (t[i].auth != want)
			fail_msg("%s: auth class %d, want %d", t[i].name,
			    (int) t[i].auth, (int) want);
	}
}

static void
test_routes_agree(void **state)
{
	(void) state;
	assert_true(orch_n_routes > 0);
	for (size_t i = 0; i < orch_n_routes; i++) {
		const orch_route *r = &orch_routes[i];
		const orch_method *m;
		bool get = strcmp(r->method, "GET") == 0;

		if (r->rpc == NULL) {
			/* Answered by the gateway itself: open, read-only. */
			assert_non_null(r->fixed);
			assert_true(get || strcmp(r->method, "HEAD") == 0);
			continue;
		}
		m = orch_service_method(r->rpc);

		if (m == NULL)
			fail_msg("route %s %s: no row for %s", r->method,
			    r->pattern, r->rpc);
		if (!get || strcmp(r->pattern, "/by-label") == 0) {
			if (m->auth != ORCH_AUTH_MUTATE)
				fail_msg("%s %s (%s) must need API_KEY",
				    r->method, r->pattern, r->rpc);
		} else if (m->auth == ORCH_AUTH_MUTATE) {
			fail_msg("GET %s (%s) is a read", r->pattern, r->rpc);
		}
	}
}

struct answer {
	int calls;
	orch_err status;
	char message[256];
};

static void
on_done(void *arg, orch_err status, const char *message,
    const Orch__ErrorDetail *detail, const ProtobufCMessage *reply)
{
	struct answer *a = arg;

	(void) detail;
	(void) reply;
	a->status = status;
	snprintf(a->message, sizeof(a->message), "%s",
	    message != NULL ? message : "");
	/* Last and atomic (release): a worker answers, the test thread
	 * polls; counting first let it read status and message mid-write
	 * (a data race TSan found). */
	__atomic_fetch_add(&a->calls, 1, __ATOMIC_SEQ_CST);
}

/* Waits (10 s at most, polling) for a worker's answer. */
static void
wait_answer(struct answer *a)
{
	for (int i = 0;
	     i < 10000 && __atomic_load_n(&a->calls, __ATOMIC_SEQ_CST) == 0;
	     i++)
		usleep(1000);
}

static void
test_lane_column(void **state)
{
	orch_config cfg;
	orch_core core;
	orch_service svc = {&core, NULL, NULL};
	orch_rpc_server_opts o = {0};
	orch_rpc_server *srv = NULL;
	size_t n = 0;
	const orch_method *t = orch_service_methods(&n);

	(void) state;
	orch_config_defaults(&cfg);
	cfg.api_key = strdup("k");
	assert_int_equal(
	    orch_core_init(&core, &cfg, orch_clock_system(), NULL), ORCH_OK);
	o.service = &orch__orchestrator__descriptor;
	o.methods = t;
	o.n_methods = n;
	o.authorize = orch_service_authorize;
	o.arg = &svc;
	assert_int_equal(orch_rpc_server_open(&o, &srv), ORCH_OK);
	for (size_t i = 0; i < n; i++) {
		const ProtobufCMethodDescriptor *md =
		    protobuf_c_service_descriptor_get_method_by_name(
		        &orch__orchestrator__descriptor, t[i].name);
		void *req = calloc(1, md->input->sizeof_message);
		struct answer a = {0};
		bool no_runtime;

		protobuf_c_message_init(md->input, req);
		assert_int_equal(orch_rpc_server_call(srv, t[i].name,
		                     "Bearer k", 5000, req, on_done, &a),
		    ORCH_OK);
		if (t[i].lane == ORCH_LANE_FAST)
			assert_int_equal(a.calls, 1); /* answered inline */
		wait_answer(&a);
		assert_int_equal(a.calls, 1);
		no_runtime = a.status == ORCH_EUNAVAIL &&
		             (strcmp(a.message, "no Docker runtime") == 0 ||
		                 strncmp(a.message, "no event log", 12) == 0);
		if (no_runtime != (t[i].lane != ORCH_LANE_FAST))
			fail_msg("%s: lane %d, answered %d \"%s\"", t[i].name,
			    (int) t[i].lane, (int) a.status, a.message);
		free(req);
		if ((strncmp(t[i].name, "Provision", 9) == 0 ||
		        strcmp(t[i].name, "Scale") == 0) !=
		    (t[i].lane == ORCH_LANE_PROVISION))
			fail_msg("%s: lane %d", t[i].name, (int) t[i].lane);
	}
	orch_rpc_server_close(srv);
	orch_core_fini(&core);
	orch_config_fini(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_row_per_method),
	    cmocka_unit_test(test_auth_column_follows_contract),
	    cmocka_unit_test(test_routes_agree),
	    cmocka_unit_test(test_lane_column),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
