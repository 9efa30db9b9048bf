/*
 * Direct (in-process) calls: orch_rpc_server_call runs the same method
 * table without a socket. FAST methods answer on the caller's thread,
 * BLOCKING ones on a worker; every path answers exactly once.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "proto/orchestrator.pb-c.h"
#include "src/rpc/server.h"

static pthread_mutex_t slow_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slow_cv = PTHREAD_COND_INITIALIZER;
static bool slow_release; /* the BLOCKING handler waits for this */
static int slow_running;  /* handlers inside h_slow (slow_mu) */

/* GetEngine: echoes container_id and the Authorization value. */
static void
h_echo(void *arg, orch_call *call, const ProtobufCMessage *msg)
{
	const Orch__GetEngineRequest *req = (const void *) msg;
	Orch__GetEngineReply rep = ORCH__GET_ENGINE_REPLY__INIT;
	Orch__Engine e = ORCH__ENGINE__INIT;
	const char *auth = call->authorization;

	(void) arg;
	if (req->container_id == NULL) {
		orch_call_fail_field(
		    call, "container_id", "container_id: required");
		return;
	}
	e.container_id = req->container_id;
	e.container_name = (char *) (auth != NULL ? auth : "");
	rep.engine = &e;
	orch_call_reply(call, &rep.base);
}

/* ProvisionEngine (BLOCKING): waits until released, echoes host_port. */
static void
h_slow(void *arg, orch_call *call, const ProtobufCMessage *msg)
{
	const Orch__ProvisionEngineRequest *req = (const void *) msg;
	Orch__ProvisionResult rep = ORCH__PROVISION_RESULT__INIT;

	(void) arg;
	pthread_mutex_lock(&slow_mu);
	slow_running++;
	pthread_cond_broadcast(&slow_cv);
	while (!slow_release)
		pthread_cond_wait(&slow_cv, &slow_mu);
	slow_running--;
	pthread_mutex_unlock(&slow_mu);
	rep.container_id = "slow";
	rep.container_name = "slow-1";
	rep.host_http_port = req->host_port;
	orch_call_reply(call, &rep.base);
}

/* Ping: answers nothing (the server must cover it). */
static void
h_silent(void *arg, orch_call *call, const ProtobufCMessage *msg)
{
	(void) arg;
	(void) call;
	(void) msg;
}

static const orch_method methods[] = {
    {"GetEngine", h_echo, ORCH_LANE_FAST, ORCH_AUTH_OPEN},
    {"ProvisionEngine", h_slow, ORCH_LANE_BLOCKING, ORCH_AUTH_OPEN},
    {"Ping", h_silent, ORCH_LANE_FAST, ORCH_AUTH_OPEN},
};

/* One answer, copied out of the borrowed reply. */
struct answer {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls;
	orch_err status;
	char message[256];
	char field[64];
	char id[64];
	char name[64];
	int port;
	pthread_t thread;
};

static void
answer_init(struct answer *a)
{
	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
}

static void
on_done(void *arg, orch_err status, const char *message,
    const Orch__ErrorDetail *detail, const ProtobufCMessage *reply)
{
	struct answer *a = arg;

	pthread_mutex_lock(&a->mu);
	a->calls++;
	a->status = status;
	a->thread = pthread_self();
	if (message != NULL)
		snprintf(a->message, sizeof(a->message), "%s", message);
	if (detail != NULL && detail->field != NULL)
		snprintf(a->field, sizeof(a->field), "%s", detail->field);
	if (reply != NULL &&
	    reply->descriptor == &orch__get_engine_reply__descriptor) {
		const Orch__GetEngineReply *r = (const void *) reply;

		snprintf(a->id, sizeof(a->id), "%s", r->engine->container_id);
		snprintf(
		    a->name, sizeof(a->name), "%s", r->engine->container_name);
	}
	if (reply != NULL &&
	    reply->descriptor == &orch__provision_result__descriptor) {
		const Orch__ProvisionResult *r = (const void *) reply;

		snprintf(a->id, sizeof(a->id), "%s", r->container_id);
		a->port = r->host_http_port;
	}
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

/* Waits (10 s at most) until the answer came; returns whether it did. */
static bool
answer_wait(struct answer *a)
{
	struct timespec dl;
	int rv = 0;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	pthread_mutex_lock(&a->mu);
	while (a->calls == 0 && rv == 0)
		rv = pthread_cond_timedwait(&a->cv, &a->mu, &dl);
	pthread_mutex_unlock(&a->mu);
	return a->calls > 0;
}

static orch_rpc_server *
open_server(void)
{
	orch_rpc_server_opts o = {
	    .service = &orch__orchestrator__descriptor,
	    .methods = methods,
	    .n_methods = sizeof(methods) / sizeof(methods[0]),
	    .workers = 2,
	};
	orch_rpc_server *srv = NULL;

	assert_int_equal(orch_rpc_server_open(&o, &srv), ORCH_OK);
	return srv;
}

static void
test_fast_call_answers_on_caller_thread(void **state)
{
	orch_rpc_server *srv = open_server();
	Orch__GetEngineRequest req = ORCH__GET_ENGINE_REQUEST__INIT;
	struct answer a;

	(void) state;
	answer_init(&a);
	req.container_id = "abc";
	assert_int_equal(orch_rpc_server_call(srv, "GetEngine", "Bearer k", 0,
	                     &req.base, on_done, &a),
	    ORCH_OK);
	/* Already answered, on this thread, exactly once. */
	assert_int_equal(a.calls, 1);
	assert_true(pthread_equal(a.thread, pthread_self()));
	assert_int_equal(a.status, ORCH_OK);
	assert_string_equal(a.id, "abc");
	assert_string_equal(a.name, "Bearer k");
	orch_rpc_server_close(srv);
}

static void
test_fast_call_errors_and_silence(void **state)
{
	orch_rpc_server *srv = open_server();
	Orch__GetEngineRequest req = ORCH__GET_ENGINE_REQUEST__INIT;
	Orch__PingRequest ping = ORCH__PING_REQUEST__INIT;
	struct answer a, b;

	(void) state;
	answer_init(&a);
	assert_int_equal(orch_rpc_server_call(srv, "GetEngine", NULL, 0,
	                     &req.base, on_done, &a),
	    ORCH_OK);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, ORCH_EINVAL);
	assert_string_equal(a.field, "container_id");
	assert_string_equal(a.name, ""); /* no reply message on error */

	answer_init(&b);
	assert_int_equal(orch_rpc_server_call(
	                     srv, "Ping", NULL, 0, &ping.base, on_done, &b),
	    ORCH_OK);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.status, ORCH_EINTERNAL);
	assert_non_null(strstr(b.message, "no answer"));
	orch_rpc_server_close(srv);
}

static void
test_refusals_do_not_call_back(void **state)
{
	orch_rpc_server *srv = open_server();
	Orch__GetEngineRequest req = ORCH__GET_ENGINE_REQUEST__INIT;
	Orch__PingRequest ping = ORCH__PING_REQUEST__INIT;
	struct answer a;

	(void) state;
	answer_init(&a);
	/* Not in the table, not in the service, wrong input type. */
	assert_int_equal(orch_rpc_server_call(srv, "ListEngines", NULL, 0,
	                     &req.base, on_done, &a),
	    ORCH_ENOTSUP);
	assert_int_equal(
	    orch_rpc_server_call(srv, "Nope", NULL, 0, &req.base, on_done, &a),
	    ORCH_ENOTSUP);
	assert_int_equal(orch_rpc_server_call(srv, "GetEngine", NULL, 0,
	                     &ping.base, on_done, &a),
	    ORCH_EINVAL);
	assert_int_equal(
	    orch_rpc_server_call(srv, "GetEngine", NULL, 0, NULL, on_done, &a),
	    ORCH_EINVAL);
	assert_int_equal(a.calls, 0);
	orch_rpc_server_close(srv);
}

static void
test_blocking_call_runs_on_worker_with_own_copy(void **state)
{
	orch_rpc_server *srv = open_server();
	Orch__ProvisionEngineRequest *req = malloc(sizeof(*req));
	struct answer a;

	(void) state;
	answer_init(&a);
	slow_release = false;
	orch__provision_engine_request__init(req);
	req->has_host_port = 1;
	req->host_port = 19042;
	assert_int_equal(orch_rpc_server_call(srv, "ProvisionEngine", NULL, 0,
	                     &req->base, on_done, &a),
	    ORCH_OK);
	/* The caller's request may go away at once: the worker has a copy. */
	memset(req, 0xa5, sizeof(*req));
	free(req);
	pthread_mutex_lock(&a.mu);
	assert_int_equal(a.calls, 0); /* still blocked in the handler */
	pthread_mutex_unlock(&a.mu);
	pthread_mutex_lock(&slow_mu);
	slow_release = true;
	pthread_cond_broadcast(&slow_cv);
	pthread_mutex_unlock(&slow_mu);
	assert_true(answer_wait(&a));
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, ORCH_OK);
	assert_false(pthread_equal(a.thread, pthread_self()));
	assert_string_equal(a.id, "slow");
	assert_int_equal(a.port, 19042);
	orch_rpc_server_close(srv);
}

/* Close with blocking calls queued behind busy workers: the running ones
 * finish OK, every queued one is answered ECLOSED, nothing leaks. Close
 * cannot finish while the two handlers are held, so the server stays
 * valid while this thread probes for the moment close began. */
#define EXTRA_MAX 256

static void
release_slow(void)
{
	pthread_mutex_lock(&slow_mu);
	slow_release = true;
	pthread_cond_broadcast(&slow_cv);
	pthread_mutex_unlock(&slow_mu);
}

static void *
close_main(void *srv)
{
	orch_rpc_server_close(srv);
	return NULL;
}

static void
test_close_answers_queued_calls(void **state)
{
	orch_rpc_server *srv = open_server();
	Orch__ProvisionEngineRequest req =
	    ORCH__PROVISION_ENGINE_REQUEST__INIT;
	static struct answer a[6], extra[EXTRA_MAX];
	struct timespec pause = {0, 1000000};
	pthread_t closer;
	int n_extra = 0;
	orch_err rv = ORCH_OK;

	(void) state;
	slow_release = false;
	for (int i = 0; i < 6; i++) {
		answer_init(&a[i]);
		assert_int_equal(orch_rpc_server_call(srv, "ProvisionEngine",
		                     NULL, 0, &req.base, on_done, &a[i]),
		    ORCH_OK);
	}
	/* Both workers inside the handler before close begins (10 s cap). */
	{
		struct timespec dl;
		int w = 0;

		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 10;
		pthread_mutex_lock(&slow_mu);
		while (slow_running < 2 && w == 0)
			w = pthread_cond_timedwait(&slow_cv, &slow_mu, &dl);
		assert_int_equal(slow_running, 2);
		pthread_mutex_unlock(&slow_mu);
	}
	assert_int_equal(pthread_create(&closer, NULL, close_main, srv), 0);
	/* Until close refuses new calls; calls accepted meanwhile queue up
	 * and must be answered too. Bounded: EXTRA_MAX ms. */
	while (n_extra < EXTRA_MAX) {
		answer_init(&extra[n_extra]);
		rv = orch_rpc_server_call(srv, "ProvisionEngine", NULL, 0,
		    &req.base, on_done, &extra[n_extra]);
		if (rv != ORCH_OK)
			break;
		n_extra++;
		nanosleep(&pause, NULL);
	}
	assert_int_equal(rv, ORCH_ECLOSED);
	assert_int_equal(extra[n_extra].calls, 0); /* refused: no callback */
	release_slow();
	assert_int_equal(pthread_join(closer, NULL), 0);
	/* Two workers held the first two calls. */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(a[i].calls, 1);
		assert_int_equal(a[i].status, ORCH_OK);
	}
	for (int i = 2; i < 6; i++) {
		assert_int_equal(a[i].calls, 1);
		assert_int_equal(a[i].status, ORCH_ECLOSED);
	}
	for (int i = 0; i < n_extra; i++) {
		assert_int_equal(extra[i].calls, 1);
		assert_int_equal(extra[i].status, ORCH_ECLOSED);
	}
}

/* The auth column, judged before a BLOCKING call is queued. */
static orch_err
key_k(
    void *arg, orch_auth_class cls, const char *authorization, orch_diag *why)
{
	(void) arg;
	(void) cls;
	if (authorization == NULL) {
		orch_diag_set(why, "missing bearer token");
		return ORCH_EUNAUTH;
	}
	if (strcmp(authorization, "Bearer k") != 0) {
		orch_diag_set(why, "invalid token");
		return ORCH_EPERM;
	}
	return ORCH_OK;
}

static void
test_refused_call_answered_before_queue(void **state)
{
	static const orch_method guarded[] = {
	    {"ProvisionEngine", h_slow, ORCH_LANE_BLOCKING, ORCH_AUTH_MUTATE},
	    {"GetEngine", h_echo, ORCH_LANE_FAST, ORCH_AUTH_READ},
	};
	orch_rpc_server_opts o = {
	    .service = &orch__orchestrator__descriptor,
	    .methods = guarded,
	    .n_methods = 2,
	    .authorize = key_k,
	    .workers = 1,
	};
	Orch__ProvisionEngineRequest req =
	    ORCH__PROVISION_ENGINE_REQUEST__INIT;
	Orch__GetEngineRequest get = ORCH__GET_ENGINE_REQUEST__INIT;
	orch_rpc_server *srv = NULL;
	struct answer a, b, c;

	(void) state;
	assert_int_equal(orch_rpc_server_open(&o, &srv), ORCH_OK);
	pthread_mutex_lock(&slow_mu);
	slow_release = false;
	pthread_mutex_unlock(&slow_mu);
	answer_init(&a);
	answer_init(&b);
	answer_init(&c);
	/* No key, a wrong key: answered on this thread before the call
	 * returns; the handler never runs. */
	assert_int_equal(orch_rpc_server_call(srv, "ProvisionEngine", NULL, 0,
	                     &req.base, on_done, &a),
	    ORCH_OK);
	assert_int_equal(a.calls, 1);
	assert_true(pthread_equal(a.thread, pthread_self()));
	assert_int_equal(a.status, ORCH_EUNAUTH);
	assert_string_equal(a.message, "missing bearer token");
	assert_int_equal(orch_rpc_server_call(srv, "ProvisionEngine",
	                     "Bearer x", 0, &req.base, on_done, &b),
	    ORCH_OK);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.status, ORCH_EPERM);
	assert_int_equal(orch_rpc_server_call(srv, "GetEngine", NULL, 0,
	                     &get.base, on_done, &c),
	    ORCH_OK);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.status, ORCH_EUNAUTH);
	pthread_mutex_lock(&slow_mu);
	assert_int_equal(slow_running, 0);
	slow_release = true;
	pthread_cond_broadcast(&slow_cv);
	pthread_mutex_unlock(&slow_mu);
	/* The right key goes through to the worker. */
	answer_init(&a);
	req.has_host_port = 1;
	req.host_port = 7;
	assert_int_equal(orch_rpc_server_call(srv, "ProvisionEngine",
	                     "Bearer k", 0, &req.base, on_done, &a),
	    ORCH_OK);
	assert_true(answer_wait(&a));
	assert_int_equal(a.status, ORCH_OK);
	assert_int_equal(a.port, 7);
	assert_false(pthread_equal(a.thread, pthread_self()));
	orch_rpc_server_close(srv);
}

/*
 * Regression (issue 10, item 9): the BLOCKING queue was unbounded, and
 * provisioning shared it with every other slow call. Now each blocking
 * lane has its own workers and a bound: beyond it a call is refused at
 * once with RESOURCE_EXHAUSTED, and a full BLOCKING lane (slow container
 * inspections) does not hold up the PROVISION lane.
 */
/* Any BLOCKING method: waits until released (reads nothing of its
 * request, whatever its type). */
static void
h_wait(void *arg, orch_call *call, const ProtobufCMessage *msg)
{
	Orch__ProvisionResult rep = ORCH__PROVISION_RESULT__INIT;

	(void) arg;
	(void) msg;
	pthread_mutex_lock(&slow_mu);
	slow_running++;
	pthread_cond_broadcast(&slow_cv);
	while (!slow_release)
		pthread_cond_wait(&slow_cv, &slow_mu);
	slow_running--;
	pthread_mutex_unlock(&slow_mu);
	rep.container_id = "waited";
	rep.container_name = "waited-1";
	orch_call_reply(call, &rep.base);
}

static void
h_quick(void *arg, orch_call *call, const ProtobufCMessage *msg)
{
	Orch__ProvisionResult rep = ORCH__PROVISION_RESULT__INIT;

	(void) arg;
	(void) msg;
	rep.container_id = "quick";
	rep.container_name = "quick-1";
	rep.host_http_port = 1;
	orch_call_reply(call, &rep.base);
}

static void
test_lanes_bounded_and_apart(void **state)
{
	static const orch_method lanes[] = {
	    {"InspectContainer", h_wait, ORCH_LANE_BLOCKING, ORCH_AUTH_OPEN},
	    {"ProvisionEngine", h_quick, ORCH_LANE_PROVISION, ORCH_AUTH_OPEN},
	};
	orch_rpc_server_opts o = {
	    .service = &orch__orchestrator__descriptor,
	    .methods = lanes,
	    .n_methods = 2,
	    .workers = 1,
	    .provision_workers = 1,
	    .queue_max = 2,
	};
	Orch__InspectContainerRequest ins =
	    ORCH__INSPECT_CONTAINER_REQUEST__INIT;
	Orch__ProvisionEngineRequest prov =
	    ORCH__PROVISION_ENGINE_REQUEST__INIT;
	orch_rpc_server *srv = NULL;
	struct answer a[4], p;
	int running;

	(void) state;
	assert_int_equal(orch_rpc_server_open(&o, &srv), ORCH_OK);
	pthread_mutex_lock(&slow_mu);
	slow_release = false;
	pthread_mutex_unlock(&slow_mu);
	ins.id = "x";
	/* One running on the lane's only worker, two queued: the bound. */
	for (int i = 0; i < 3; i++) {
		answer_init(&a[i]);
		assert_int_equal(orch_rpc_server_call(srv, "InspectContainer",
		                     NULL, 0, &ins.base, on_done, &a[i]),
		    ORCH_OK);
		if (i == 0) {
			pthread_mutex_lock(&slow_mu);
			while (slow_running == 0)
				pthread_cond_wait(&slow_cv, &slow_mu);
			pthread_mutex_unlock(&slow_mu);
		}
	}
	/* The fourth is refused on this thread, at once. */
	answer_init(&a[3]);
	assert_int_equal(orch_rpc_server_call(srv, "InspectContainer", NULL, 0,
	                     &ins.base, on_done, &a[3]),
	    ORCH_OK);
	assert_int_equal(a[3].calls, 1);
	assert_int_equal(a[3].status, ORCH_EEXHAUSTED);
	/* Provisioning has its own lane: answered while the other waits. */
	answer_init(&p);
	assert_int_equal(orch_rpc_server_call(srv, "ProvisionEngine", NULL, 0,
	                     &prov.base, on_done, &p),
	    ORCH_OK);
	assert_true(answer_wait(&p));
	assert_int_equal(p.status, ORCH_OK);
	assert_string_equal(p.id, "quick");
	pthread_mutex_lock(&slow_mu);
	running = slow_running;
	slow_release = true;
	pthread_cond_broadcast(&slow_cv);
	pthread_mutex_unlock(&slow_mu);
	assert_int_equal(running, 1);
	for (int i = 0; i < 3; i++) {
		assert_true(answer_wait(&a[i]));
		assert_int_equal(a[i].status, ORCH_OK);
	}
	orch_rpc_server_close(srv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fast_call_answers_on_caller_thread),
	    cmocka_unit_test(test_fast_call_errors_and_silence),
	    cmocka_unit_test(test_refusals_do_not_call_back),
	    cmocka_unit_test(test_blocking_call_runs_on_worker_with_own_copy),
	    cmocka_unit_test(test_close_answers_queued_calls),
	    cmocka_unit_test(test_refused_call_answered_before_queue),
	    cmocka_unit_test(test_lanes_bounded_and_apart),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
