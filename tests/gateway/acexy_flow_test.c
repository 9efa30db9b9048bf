/*
 * The seed's Acexy flow (shared/seeds/000_17e04a0b901f1d4e.txt) against
 * the real orchestratord, over HTTP, with real engine containers
 * (acestream-sim:latest, tools/build-images). Skipped unless
 * ORCH_TEST_DOCKER is set.
 *
 * The daemon is the binary itself (argv[1], Bazel's
 * $(location //src/cmd:orchestratord)), started by the fault suite's
 * launcher (tests/faults/fxd.h, fxd_init_iso) as a subprocess in a
 * private temporary directory (so no stray .env is read) with APP_PORT=0
 * and --port-file, RPC_LISTEN on an ipc:// path there, and its own
 * isolation: CONTAINER_LABEL orchestrator.test=gwflow-<pid>-<random>,
 * ENGINE_NAME_PREFIX tgwf<random>, PORT_RANGE_HOST 30000-30049 and
 * ACE_HTTPS_RANGE 47000-47049 (no other test uses them), engines published
 * on 127.0.0.1 only, IMAGE_PULL=never, MIN_REPLICAS=0, MAX_REPLICAS=2.
 *
 * The cases run in order and share the daemon and the engine the flow
 * provisions:
 *   1. what Acexy asks first: GET /orchestrator/status (no key), GET
 *      /engines, GET /streams?container_id=...&status=started per engine;
 *   2. POST /provision/acestream answered well under 3 s (measured and
 *      printed), the engine in GET /engines at once;
 *   3. the engine's simulator answers getstream; POST
 *      /events/stream_started with the seed's body (stat_url/command_url
 *      from getstream); the stream in /streams and in the engine's
 *      "streams"; stats collected and the engine probed healthy; POST
 *      /events/stream_ended; gone from the active list;
 *   4. POST /engines/select with a reservation consumed by an event;
 *   5. GET /containers/{id}, GET /by-label, POST /provision (generic),
 *      DELETE of it;
 *   6. POST /scale/{n} clamped, the max_capacity refusal, POST /gc;
 *   7. DELETE /containers/{id} of an engine carrying a stream (ended as
 *      engine_gone), /scale/0, /metrics counters;
 *   8. SIGTERM: the daemon exits 0 and no container of the run is left.
 * Teardown removes whatever carries the run's label, and nothing else.
 *
 * Waits are deadline loops on a condition (the engine's API coming up,
 * the first probe and stats collection); nothing sleeps as an assertion.
 * With ORCH_API_DOC=<file> the exchanges are appended to <file>.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "src/runtime/docker.h"
#include "tests/faults/fxd.h"
#include "tests/gateway/gwtest.h"

#define IMAGE FXD_IMAGE
#define LABEL_KEY FXD_LABEL_KEY
#define API_KEY "acexy-flow-key"
#define BEARER "Bearer " API_KEY
#define HTTP_LO 30000
#define HTTP_HI 30049
#define HTTPS_LO 47000
#define HTTPS_HI 47049
#define MAX_REPLICAS 2

static const char *daemon_arg; /* argv[1] */

static struct {
	fxd d; /* the daemon (tests/faults/fxd.h) */
	/* what the flow made */
	char engine_id[128];
	char engine_name[128];
	int engine_port;
	char stream_id[512];
} F;

static void
need_daemon(void)
{
	if (getenv("ORCH_TEST_DOCKER") == NULL)
		skip();
	if (!F.d.up)
		fail_msg("the daemon is not running (see the group setup)");
}

static int
group_setup(void **state)
{
	char label_val[64], prefix[32], max[32];
	fxd_iso iso = {
	    .label_val = label_val,
	    .prefix = prefix,
	    .http_lo = HTTP_LO,
	    .http_hi = HTTP_HI,
	    .https_lo = HTTPS_LO,
	    .https_hi = HTTPS_HI,
	    .api_key = API_KEY,
	    .dir_tag = "gwflow",
	};
	/* The fault suite's 1 s autoscale and monitor passes are its own:
	 * this flow runs on the daemon's. */
	const char *env[] = {
	    max, "AUTOSCALE_INTERVAL_S", "MONITOR_INTERVAL_S", NULL};

	(void) state;
	if (getenv("ORCH_TEST_DOCKER") == NULL)
		return 0;
	fxd_global(daemon_arg);
	if (!fxd_enabled())
		return -1;
	snprintf(label_val, sizeof(label_val), "gwflow-%s", fxd_run());
	snprintf(prefix, sizeof(prefix), "tgwf%s", strchr(fxd_run(), '-') + 1);
	snprintf(max, sizeof(max), "MAX_REPLICAS=%d", MAX_REPLICAS);
	fxd_init_iso(&F.d, "acexy_flow", &iso);
	fxd_start(&F.d, env, false);
	return 0;
}

static int
group_teardown(void **state)
{
	(void) state;
	/* Only a daemon fxd_init_iso named: an empty label would match
	 * others' containers. */
	if (F.d.label_val[0] != '\0')
		fxd_fini(&F.d);
	return 0;
}

/* ---- HTTP helpers ---------------------------------------------------------
 */

static long
xdo(const char *key, const char *title, const gwt_req *q, gwt_resp *r)
{
	long st = gwt_do(&F.d.c, q, r);

	if (key != NULL)
		gwt_doc(key, title, q, r);
	return st;
}

static long
xget(const char *key, const char *title, const char *path, const char *auth,
    gwt_resp *r)
{
	gwt_req q = {.method = "GET", .path = path, .auth = auth};

	return xdo(key, title, &q, r);
}

static long
xpost(const char *key, const char *title, const char *path, const char *body,
    gwt_resp *r)
{
	gwt_req q = {
	    .method = "POST", .path = path, .auth = BEARER, .body = body};

	return xdo(key, title, &q, r);
}

static const json_t *
find_by(const json_t *arr, const char *key, const char *value)
{
	size_t i;
	json_t *x;

	json_array_foreach((json_t *) arr, i, x)
	{
		const json_t *v = json_object_get(x, key);

		if (json_is_string(v) &&
		    strcmp(json_string_value(v), value) == 0)
			return x;
	}
	return NULL;
}

static void
expect_str(const json_t *o, const char *key, const char *want)
{
	const char *got = gwt_str(o, key);

	if (strcmp(got, want) != 0)
		fail_msg("\"%s\": \"%s\", want \"%s\"", key, got, want);
}

static const char *
label(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(json_object_get(o, "labels"), k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* GET /engines; every element checked; the caller releases r. */
static const json_t *
list_engines(gwt_resp *r, const char *doc_title)
{
	size_t i;
	json_t *x;

	xget(doc_title != NULL ? "GET /engines" : NULL, doc_title, "/engines",
	    NULL, r);
	gwt_expect_status(r, 200);
	if (!json_is_array(r->json))
		fail_msg("/engines is not an array: %s", r->body);
	json_array_foreach(r->json, i, x)
	{
		char w[32];

		snprintf(w, sizeof(w), "engines[%zu]", i);
		gwt_check_engine(x, w);
	}
	return r->json;
}

static const json_t *
list_streams(const char *query, gwt_resp *r, const char *doc_title)
{
	char path[512];
	size_t i;
	json_t *x;

	snprintf(path, sizeof(path), "/streams%s", query);
	xget(doc_title != NULL ? "GET /streams" : NULL, doc_title, path, NULL,
	    r);
	gwt_expect_status(r, 200);
	if (!json_is_array(r->json))
		fail_msg("%s is not an array: %s", path, r->body);
	json_array_foreach(r->json, i, x)
	{
		char w[32];

		snprintf(w, sizeof(w), "streams[%zu]", i);
		gwt_check_stream(x, w);
	}
	return r->json;
}

/* A GET to the engine's simulator; the body parsed, or NULL. */
static json_t *
engine_get(int port, const char *path, long *status)
{
	gwt_client c;
	gwt_resp r;
	gwt_req q = {.method = "GET", .path = path, .timeout_ms = 5000};
	json_t *j;

	gwt_client_init(&c, port);
	gwt_do(&c, &q, &r);
	*status = r.status;
	j = r.json;
	r.json = NULL;
	gwt_resp_fini(&r);
	gwt_client_fini(&c);
	return j;
}

/* ======================================================================= */
/* 1. What Acexy asks first. */

static void
test_status_and_engines(void **state)
{
	gwt_resp r;
	const json_t *p = NULL;
	int64_t deadline = gwt_mono_ms() + 30000;
	size_t i;
	json_t *e;

	(void) state;
	need_daemon();
	/* The image check runs beside the first reconcile: wait until the
	 * daemon says it can provision. No key (Acexy sends none here). */
	for (;;) {
		xget(NULL, NULL, "/orchestrator/status", NULL, &r);
		gwt_expect_status(&r, 200);
		gwt_check_status(r.json, "status");
		p = json_object_get(r.json, "provisioning");
		if (json_is_true(json_object_get(p, "can_provision")))
			break;
		if (gwt_mono_ms() > deadline)
			fail_msg("never ready to provision: %s", r.body);
		gwt_resp_fini(&r);
		usleep(50000);
	}
	gwt_resp_fini(&r);
	xget("GET /orchestrator/status",
	    "What Acexy checks first (no key; Docker up, image present)",
	    "/orchestrator/status", NULL, &r);
	gwt_expect_status(&r, 200);
	gwt_check_status(r.json, "status");
	expect_str(r.json, "status", "healthy");
	expect_str(json_object_get(r.json, "config"), "target_image", IMAGE);
	assert_int_equal(
	    gwt_int(json_object_get(r.json, "capacity"), "max_replicas"),
	    MAX_REPLICAS);
	assert_int_equal(
	    gwt_int(json_object_get(r.json, "capacity"), "min_replicas"), 0);
	gwt_resp_fini(&r);

	/* No engine of this run yet; Acexy's per-engine query for each. */
	list_engines(&r, "No engine yet");
	json_array_foreach(r.json, i, e)
	{
		char q[256];
		gwt_resp s;

		snprintf(q, sizeof(q), "?container_id=%s&status=started",
		    gwt_str(e, "container_id"));
		list_streams(q, &s, NULL);
		gwt_resp_fini(&s);
	}
	assert_int_equal(json_array_size(r.json), 0);
	gwt_resp_fini(&r);

	xget("GET /vpn/status", "VPN disabled (the real daemon)",
	    "/vpn/status", NULL, &r);
	gwt_expect_status(&r, 200);
	gwt_check_vpn(r.json, "vpn");
	expect_str(r.json, "status", "disabled");
	gwt_resp_fini(&r);

	xget("GET /health/status", "Health summary (the real daemon)",
	    "/health/status", NULL, &r);
	gwt_expect_status(&r, 200);
	gwt_check_health(r.json, "health");
	assert_int_equal(gwt_int(r.json, "health_check_interval"), 1);
	gwt_resp_fini(&r);
}

/* ======================================================================= */
/* 2. Provision: fast, and listed at once. */

static void
test_provision(void **state)
{
	gwt_resp r;
	const json_t *e;
	char want[128];
	int64_t t0, ms;
	int hp;

	(void) state;
	need_daemon();
	t0 = gwt_mono_ms();
	xpost("POST /provision/acestream",
	    "Provision an engine (the seed's body; answered once Docker has "
	    "created and started it)",
	    "/provision/acestream",
	    "{\"labels\":{\"source\":\"acexy\"},\"env\":{}}", &r);
	ms = gwt_mono_ms() - t0;
	printf("POST /provision/acestream answered in %lld ms (HTTP %ld)\n",
	    (long long) ms, r.status);
	if (r.status != 200)
		fxd_log_tail(&F.d);
	gwt_expect_status(&r, 200);
	/* Acexy gives up after 3 s and retries, provisioning extra engines. */
	if (ms >= 3000)
		fail_msg(
		    "provision took %lld ms (Acexy's client gives up at 3 s)",
		    (long long) ms);
	gwt_check_provision_result(r.json, "provision");
	snprintf(F.engine_id, sizeof(F.engine_id), "%s",
	    gwt_str(r.json, "container_id"));
	snprintf(F.engine_name, sizeof(F.engine_name), "%s",
	    gwt_str(r.json, "container_name"));
	hp = (int) gwt_int(r.json, "host_http_port");
	F.engine_port = hp;
	assert_in_range(hp, HTTP_LO, HTTP_HI);
	/* decision: the container listens on its published port number. */
	assert_int_equal(gwt_int(r.json, "container_http_port"), hp);
	assert_in_range(
	    gwt_int(r.json, "container_https_port"), HTTPS_LO, HTTPS_HI);
	snprintf(want, sizeof(want), "%s-", F.d.prefix);
	if (strncmp(F.engine_name, want, strlen(want)) != 0)
		fail_msg("container_name %s, want %sN", F.engine_name, want);
	gwt_resp_fini(&r);

	/* The seed's "Critical" note: listed as soon as provision returned. */
	list_engines(&r, "Right after the provision call returned");
	e = find_by(r.json, "container_id", F.engine_id);
	if (e == NULL)
		fail_msg("the new engine is not in /engines: %s", r.body);
	expect_str(e, "container_name", F.engine_name);
	expect_str(e, "host", "127.0.0.1");
	assert_int_equal(gwt_int(e, "port"), hp);
	assert_true(json_is_false(json_object_get(e, "forwarded")));
	assert_int_equal(json_array_size(json_object_get(e, "streams")), 0);
	/* The caller's labels, and the ones the orchestrator sets. */
	assert_non_null(label(e, "source"));
	assert_string_equal(label(e, "source"), "acexy");
	assert_non_null(label(e, LABEL_KEY));
	assert_string_equal(label(e, LABEL_KEY), F.d.label_val);
	snprintf(want, sizeof(want), "%d", hp);
	assert_non_null(label(e, "acestream.http_port"));
	assert_string_equal(label(e, "acestream.http_port"), want);
	assert_non_null(label(e, "host.http_port"));
	assert_string_equal(label(e, "host.http_port"), want);
	assert_non_null(label(e, "acestream.https_port"));
	gwt_resp_fini(&r);

	/* Acexy's next question: the engine's active streams. */
	{
		char q[256];

		snprintf(q, sizeof(q), "?container_id=%s&status=started",
		    F.engine_id);
		list_streams(q, &r, "The new engine's active streams (none)");
		assert_int_equal(json_array_size(r.json), 0);
		gwt_resp_fini(&r);
	}
}

/* ======================================================================= */
/* 3. getstream on the engine, the two events. */

static void
test_stream_events(void **state)
{
	char path[512], body[4096], cid[64], pid[64], q[256];
	char psid[128], stat_url[512], cmd_url[512];
	json_t *gs = NULL;
	const json_t *resp, *e, *s;
	long st = 0, is_live;
	int64_t deadline;
	gwt_resp r;

	(void) state;
	need_daemon();
	if (F.engine_id[0] == '\0')
		fail_msg("needs the engine of test_provision");
	snprintf(cid, sizeof(cid), "%08x%08x%08x%08x%08x", 0x0123abcdu,
	    (unsigned) getpid(), 0x5eed0000u, 0xacec0001u, 0x00f10e00u);
	snprintf(pid, sizeof(pid), "acexy-%s", fxd_run());
	snprintf(path, sizeof(path), "/ace/getstream?id=%s&format=json&pid=%s",
	    cid, pid);
	/* The engine's API comes up shortly after the container starts
	 * (Acexy waits up to 10 s). */
	deadline = gwt_mono_ms() + 20000;
	for (;;) {
		gs = engine_get(F.engine_port, path, &st);
		if (st == 200 && gs != NULL &&
		    json_is_object(json_object_get(gs, "response")))
			break;
		json_decref(gs);
		gs = NULL;
		if (gwt_mono_ms() > deadline)
			fail_msg(
			    "the engine on port %d never answered getstream "
			    "(last HTTP %ld)",
			    F.engine_port, st);
		usleep(100000);
	}
	assert_true(json_is_null(json_object_get(gs, "error")));
	resp = json_object_get(gs, "response");
	snprintf(
	    psid, sizeof(psid), "%s", gwt_str(resp, "playback_session_id"));
	snprintf(stat_url, sizeof(stat_url), "%s", gwt_str(resp, "stat_url"));
	snprintf(cmd_url, sizeof(cmd_url), "%s", gwt_str(resp, "command_url"));
	is_live = (long) gwt_int(resp, "is_live");
	json_decref(gs);
	gs = NULL;
	printf("getstream: session %s, stat_url %s\n", psid, stat_url);

	/* The seed's stream_started body, as Acexy sends it. */
	snprintf(body, sizeof(body),
	    "{\"container_id\":\"%s\",\"engine\":{\"host\":\"127.0.0.1\","
	    "\"port\":%d},\"stream\":{\"key_type\":\"content_id\",\"key\":\"%"
	    "s\"},"
	    "\"session\":{\"playback_session_id\":\"%s\",\"stat_url\":\"%s\","
	    "\"command_url\":\"%s\",\"is_live\":%ld}}",
	    F.engine_id, F.engine_port, cid, psid, stat_url, cmd_url, is_live);
	xpost("POST /events/stream_started",
	    "A stream started on the engine (session URLs from the engine's "
	    "getstream)",
	    "/events/stream_started", body, &r);
	gwt_expect_status(&r, 200);
	gwt_check_stream(r.json, "stream");
	snprintf(F.stream_id, sizeof(F.stream_id), "%s|%s", cid, psid);
	expect_str(r.json, "id", F.stream_id);
	expect_str(r.json, "container_id", F.engine_id);
	expect_str(r.json, "key", cid);
	expect_str(r.json, "stat_url", stat_url);
	expect_str(r.json, "command_url", cmd_url);
	expect_str(r.json, "status", "started");
	assert_true(json_is_boolean(json_object_get(r.json, "is_live")));
	assert_int_equal(
	    json_is_true(json_object_get(r.json, "is_live")), is_live == 1);
	gwt_resp_fini(&r);

	/* It shows in /streams and in the engine's "streams". */
	snprintf(q, sizeof(q), "?container_id=%s&status=started", F.engine_id);
	list_streams(q, &r, "The engine's active streams (one)");
	assert_int_equal(json_array_size(r.json), 1);
	expect_str(json_array_get(r.json, 0), "id", F.stream_id);
	gwt_resp_fini(&r);
	list_engines(&r, NULL);
	e = find_by(r.json, "container_id", F.engine_id);
	assert_non_null(e);
	assert_int_equal(json_array_size(json_object_get(e, "streams")), 1);
	assert_string_equal(json_string_value(json_array_get(
	                        json_object_get(e, "streams"), 0)),
	    F.stream_id);
	assert_false(json_is_null(json_object_get(e, "last_stream_usage")));
	gwt_resp_fini(&r);

	/* The orchestrator probes the engine and collects its stats (at the
	 * engine's probe address, from the stat_url's path). */
	deadline = gwt_mono_ms() + 30000;
	for (;;) {
		char p[700];
		bool healthy, stats;

		snprintf(path, sizeof(path), "/engines/%s", F.engine_id);
		xget(NULL, NULL, path, NULL, &r);
		gwt_expect_status(&r, 200);
		healthy = strcmp(gwt_str(json_object_get(r.json, "engine"),
		                     "health_status"),
		              "healthy") == 0;
		gwt_resp_fini(&r);
		/* '|' percent-encoded, as a client must. */
		snprintf(p, sizeof(p), "/streams/%s%%7C%s/stats", cid, psid);
		xget(NULL, NULL, p, NULL, &r);
		gwt_expect_status(&r, 200);
		stats = json_array_size(r.json) > 0;
		gwt_resp_fini(&r);
		if (healthy && stats)
			break;
		if (gwt_mono_ms() > deadline)
			fail_msg("engine healthy %d, stats %d after 30 s",
			    healthy, stats);
		usleep(200000);
	}
	snprintf(path, sizeof(path), "/engines/%s", F.engine_id);
	xget("GET /engines/{container_id}",
	    "A probed engine carrying one stream (stats collected)", path,
	    NULL, &r);
	gwt_expect_status(&r, 200);
	gwt_check_engine(json_object_get(r.json, "engine"), "engine");
	expect_str(
	    json_object_get(r.json, "engine"), "health_status", "healthy");
	assert_false(json_is_null(json_object_get(
	    json_object_get(r.json, "engine"), "last_health_check")));
	s = json_array_get(json_object_get(r.json, "streams"), 0);
	gwt_check_stream(s, "streams[0]");
	assert_true(json_is_object(json_object_get(s, "stats")));
	gwt_resp_fini(&r);
	{
		char p[700];
		size_t i;
		json_t *x;

		snprintf(p, sizeof(p), "/streams/%s%%7C%s/stats", cid, psid);
		xget("GET /streams/{stream_id}/stats",
		    "Snapshots collected from a real (simulated) engine", p,
		    NULL, &r);
		gwt_expect_status(&r, 200);
		json_array_foreach(r.json, i, x)
		{
			char w[32];

			snprintf(w, sizeof(w), "stats[%zu]", i);
			gwt_check_stat(x, w);
		}
		/* The simulator reports every counter. */
		x = json_array_get(r.json, 0);
		gwt_shape(x, "stats[0]",
		    "ts:t peers:i speed_down:i speed_up:i downloaded:i "
		    "uploaded:i "
		    "status:s");
		gwt_resp_fini(&r);
	}
	xget("GET /orchestrator/status", "One engine carrying one stream",
	    "/orchestrator/status", NULL, &r);
	gwt_expect_status(&r, 200);
	gwt_check_status(r.json, "status");
	assert_int_equal(
	    gwt_int(json_object_get(r.json, "streams"), "active"), 1);
	assert_int_equal(
	    gwt_int(json_object_get(r.json, "capacity"), "used"), 1);
	assert_int_equal(
	    gwt_int(json_object_get(r.json, "engines"), "healthy"), 1);
	gwt_resp_fini(&r);

	/* stream_ended as the seed sends it. */
	snprintf(body, sizeof(body),
	    "{\"stream_id\":\"%s\",\"reason\":\"client_disconnect\"}",
	    F.stream_id);
	xpost("POST /events/stream_ended",
	    "The stream ended (the seed's body)", "/events/stream_ended", body,
	    &r);
	gwt_expect_status(&r, 200);
	assert_true(json_is_true(json_object_get(r.json, "updated")));
	s = json_object_get(r.json, "stream");
	gwt_check_stream(s, "stream");
	expect_str(s, "status", "ended");
	expect_str(s, "end_reason", "client_disconnect");
	gwt_resp_fini(&r);

	/* Gone from the active lists. */
	list_streams(q, &r, NULL);
	assert_int_equal(json_array_size(r.json), 0);
	gwt_resp_fini(&r);
	list_engines(&r, NULL);
	e = find_by(r.json, "container_id", F.engine_id);
	assert_non_null(e);
	assert_int_equal(json_array_size(json_object_get(e, "streams")), 0);
	gwt_resp_fini(&r);
	/* Still in the history. */
	snprintf(q, sizeof(q), "?container_id=%s&status=ended", F.engine_id);
	list_streams(q, &r, NULL);
	assert_int_equal(json_array_size(r.json), 1);
	expect_str(json_array_get(r.json, 0), "id", F.stream_id);
	gwt_resp_fini(&r);
}

/* ======================================================================= */
/* 4. Server-side selection with a reservation. */

static void
test_select_reserve(void **state)
{
	gwt_resp r;
	char rid[64], body[1024];
	gwt_prom p;
	char err[256];
	int n;

	(void) state;
	need_daemon();
	if (F.engine_id[0] == '\0')
		fail_msg("needs the engine of test_provision");
	xpost("POST /engines/select",
	    "Choose and reserve the best free engine", "/engines/select",
	    "{\"reserve\":true}", &r);
	gwt_expect_status(&r, 200);
	gwt_shape(r.json, "reply", "engine:o reservation_id:s");
	gwt_check_engine(json_object_get(r.json, "engine"), "engine");
	expect_str(
	    json_object_get(r.json, "engine"), "container_id", F.engine_id);
	snprintf(rid, sizeof(rid), "%s", gwt_str(r.json, "reservation_id"));
	gwt_resp_fini(&r);

	/* The event carrying the reservation consumes it. */
	snprintf(body, sizeof(body),
	    "{\"engine\":{\"host\":\"127.0.0.1\",\"port\":%d},"
	    "\"stream\":{\"key_type\":\"infohash\",\"key\":\"%s\"},"
	    "\"session\":{\"playback_session_id\":\"r1\",\"is_live\":0,"
	    "\"stat_url\":\"http://127.0.0.1:%d/ace/stat/x/r1\"},"
	    "\"labels\":{\"reservation_id\":\"%s\"}}",
	    F.engine_port, fxd_run(), F.engine_port, rid);
	xpost("POST /events/stream_started",
	    "A start carrying the reservation from /engines/select (found by "
	    "127.0.0.1 and the published port)",
	    "/events/stream_started", body, &r);
	gwt_expect_status(&r, 200);
	expect_str(r.json, "container_id", F.engine_id);
	gwt_resp_fini(&r);
	gwt_get(&F.d.c, "/metrics", NULL, &r);
	gwt_expect_status(&r, 200);
	if (!gwt_prom_parse(r.body, r.len, &p, err, sizeof(err)))
		fail_msg("/metrics: %s", err);
	assert_true(
	    gwt_prom_sum(&p, "orch_reservations", NULL, true, &n) == 0);
	assert_int_equal(n, 1);
	gwt_prom_fini(&p);
	gwt_resp_fini(&r);

	/* MAX_STREAMS_PER_ENGINE=1 and the only engine is busy now. */
	xpost("POST /engines/select",
	    "The only engine is busy: provision one (503, not a refusal of "
	    "provisioning)",
	    "/engines/select", "{}", &r);
	gwt_expect_refusal(&r);
	gwt_resp_fini(&r);

	snprintf(body, sizeof(body), "{\"container_id\":\"%s\"}", F.engine_id);
	xpost("POST /events/stream_ended",
	    "By container_id: the engine's one active stream ends",
	    "/events/stream_ended", body, &r);
	gwt_expect_status(&r, 200);
	assert_true(json_is_true(json_object_get(r.json, "updated")));
	gwt_resp_fini(&r);
}

/* ======================================================================= */
/* 5. Containers: inspect, by label, a generic one. */

static void
test_containers(void **state)
{
	gwt_resp r;
	char path[256], body[1024], want[64], gid[128], gname[160];
	const json_t *ports, *b;

	(void) state;
	need_daemon();
	if (F.engine_id[0] == '\0')
		fail_msg("needs the engine of test_provision");
	snprintf(path, sizeof(path), "/containers/%s", F.engine_id);
	xget("GET /containers/{id}", "A managed engine container", path, NULL,
	    &r);
	gwt_expect_status(&r, 200);
	gwt_check_container_info(r.json, "container");
	expect_str(r.json, "id", F.engine_id);
	expect_str(r.json, "name", F.engine_name);
	expect_str(r.json, "image", IMAGE);
	expect_str(r.json, "status", "running");
	assert_non_null(label(r.json, LABEL_KEY));
	assert_string_equal(label(r.json, LABEL_KEY), F.d.label_val);
	snprintf(want, sizeof(want), "%d/tcp", F.engine_port);
	ports = json_object_get(json_object_get(r.json, "ports"), want);
	if (!json_is_array(ports) || json_array_size(ports) < 1)
		fail_msg("ports[\"%s\"] missing: %s", want, r.body);
	b = json_array_get(ports, 0);
	expect_str(b, "HostIp", "127.0.0.1");
	snprintf(want, sizeof(want), "%d", F.engine_port);
	expect_str(b, "HostPort", want);
	gwt_resp_fini(&r);

	xget("GET /containers/{id}", "Not a managed container",
	    "/containers/no-such-container", NULL, &r);
	gwt_expect_detail(&r, 404, NULL);
	gwt_resp_fini(&r);

	xget("GET /by-label", "Managed containers with a label",
	    "/by-label?key=source&value=acexy", BEARER, &r);
	gwt_expect_status(&r, 200);
	if (!json_is_array(r.json) || json_array_size(r.json) != 1)
		fail_msg("/by-label: %s", r.body);
	gwt_check_container_info(json_array_get(r.json, 0), "by-label[0]");
	expect_str(json_array_get(r.json, 0), "id", F.engine_id);
	gwt_resp_fini(&r);
	xget("GET /by-label", "key and value are required",
	    "/by-label?key=source", BEARER, &r);
	gwt_expect_detail(&r, 422, "value");
	gwt_resp_fini(&r);
	xget("GET /by-label", "A protected endpoint without the key",
	    "/by-label?key=source&value=acexy", NULL, &r);
	gwt_expect_detail(&r, 401, "missing bearer token");
	gwt_resp_fini(&r);

	/* A generic container (no published port: it binds nothing). */
	snprintf(body, sizeof(body),
	    "{\"image\":\"%s\",\"env\":{\"GWFLOW\":\"1\"},"
	    "\"labels\":{\"role\":\"generic\"},\"ports\":{},"
	    "\"name_prefix\":\"%sx\"}",
	    IMAGE, F.d.prefix);
	xpost(
	    "POST /provision", "A generic container", "/provision", body, &r);
	gwt_expect_status(&r, 200);
	gwt_shape(r.json, "reply", "container_id:s container_name:s");
	snprintf(gid, sizeof(gid), "%s", gwt_str(r.json, "container_id"));
	snprintf(
	    gname, sizeof(gname), "%s", gwt_str(r.json, "container_name"));
	snprintf(want, sizeof(want), "%sx-", F.d.prefix);
	assert_int_equal(strncmp(gname, want, strlen(want)), 0);
	gwt_resp_fini(&r);
	xpost("POST /provision", "image is required", "/provision",
	    "{\"env\":{}}", &r);
	gwt_expect_detail(&r, 422, "image");
	gwt_resp_fini(&r);

	snprintf(path, sizeof(path), "/containers/%s", gid);
	xget(NULL, NULL, path, NULL, &r);
	gwt_expect_status(&r, 200);
	gwt_check_container_info(r.json, "generic");
	assert_non_null(label(r.json, "role"));
	assert_string_equal(label(r.json, "role"), "generic");
	assert_non_null(label(r.json, LABEL_KEY));
	gwt_resp_fini(&r);
	{
		gwt_req q = {.method = "DELETE", .path = path, .auth = BEARER};

		xdo("DELETE /containers/{id}", "Remove the generic container",
		    &q, &r);
		gwt_expect_status(&r, 200);
		gwt_shape(r.json, "reply", "deleted:s");
		expect_str(r.json, "deleted", gid);
		gwt_resp_fini(&r);
	}
	xget(NULL, NULL, path, NULL, &r);
	gwt_expect_detail(&r, 404, NULL);
	gwt_resp_fini(&r);
	/* The engine is still there. */
	list_engines(&r, NULL);
	assert_non_null(find_by(r.json, "container_id", F.engine_id));
	gwt_resp_fini(&r);
}

/* ======================================================================= */
/* 6. Scale, the max_capacity refusal, GC. */

static void
test_scale_capacity_gc(void **state)
{
	gwt_resp r;
	const json_t *p;
	int64_t t0, ms;

	(void) state;
	need_daemon();
	xpost("POST /scale/{n}", "n above MAX_REPLICAS is clamped", "/scale/5",
	    NULL, &r);
	gwt_expect_status(&r, 200);
	gwt_shape(r.json, "reply", "scaled_to:i");
	/* fix: the reference reported n unclamped. */
	assert_int_equal(gwt_int(r.json, "scaled_to"), MAX_REPLICAS);
	gwt_resp_fini(&r);
	list_engines(&r, NULL);
	assert_int_equal(json_array_size(r.json), MAX_REPLICAS);
	gwt_resp_fini(&r);

	/* MAX_REPLICAS reached: the structured refusal, at once. */
	t0 = gwt_mono_ms();
	xpost("POST /provision/acestream",
	    "MAX_REPLICAS reached: 503 with the structured refusal",
	    "/provision/acestream", "{}", &r);
	ms = gwt_mono_ms() - t0;
	assert_string_equal(gwt_expect_refusal(&r), "max_capacity");
	expect_str(json_object_get(r.json, "detail"), "error",
	    "provisioning_blocked");
	gwt_resp_fini(&r);
	assert_true(ms < 3000);
	xget("GET /orchestrator/status",
	    "Provisioning blocked at MAX_REPLICAS", "/orchestrator/status",
	    NULL, &r);
	gwt_expect_status(&r, 200);
	gwt_check_status(r.json, "status");
	p = json_object_get(r.json, "provisioning");
	assert_true(json_is_false(json_object_get(p, "can_provision")));
	expect_str(p, "blocked_reason", "Maximum replicas reached");
	expect_str(json_object_get(p, "blocked_reason_details"), "code",
	    "max_capacity");
	gwt_resp_fini(&r);

	/* Nothing idle past ENGINE_GRACE_PERIOD_S (600 s). */
	xpost("POST /gc",
	    "Stop idle engines past their grace period (none yet)", "/gc",
	    NULL, &r);
	gwt_expect_status(&r, 200);
	gwt_shape(r.json, "reply", "stopped:S");
	assert_int_equal(
	    json_array_size(json_object_get(r.json, "stopped")), 0);
	gwt_resp_fini(&r);
	xpost("POST /scale/{n}", "n is not a number", "/scale/two", NULL, &r);
	gwt_expect_detail(&r, 422, "n");
	gwt_resp_fini(&r);
	{
		gwt_req q = {.method = "POST", .path = "/scale/1"};

		xdo("POST /scale/{n}", "Without the key", &q, &r);
		gwt_expect_detail(&r, 401, "missing bearer token");
		gwt_resp_fini(&r);
	}
}

/* ======================================================================= */
/* 7. Delete an engine carrying a stream; scale to zero; metrics. */

static void
test_delete_and_metrics(void **state)
{
	gwt_resp r;
	char path[256], body[1024], sid[128], err[512];
	gwt_prom p;
	int n;

	(void) state;
	need_daemon();
	if (F.engine_id[0] == '\0')
		fail_msg("needs the engine of test_provision");
	/* A real session on the engine: a made-up stat URL would be ended
	 * as session_gone by the next collection, racing the DELETE (seen
	 * under ASan and on a loaded machine). */
	{
		char gpath[256], psid[128], stat_url[512];
		json_t *gs = NULL;
		long st = 0;

		snprintf(gpath, sizeof(gpath),
		    "/ace/getstream?id=de1e7e%s&format=json&pid=del-%s",
		    fxd_run(), fxd_run());
		gs = engine_get(F.engine_port, gpath, &st);
		assert_int_equal(st, 200);
		assert_non_null(gs);
		snprintf(psid, sizeof(psid), "%s",
		    gwt_str(json_object_get(gs, "response"),
		        "playback_session_id"));
		snprintf(stat_url, sizeof(stat_url), "%s",
		    gwt_str(json_object_get(gs, "response"), "stat_url"));
		json_decref(gs);
		snprintf(body, sizeof(body),
		    "{\"container_id\":\"%s\",\"stream\":{\"key_type\":"
		    "\"content_id\",\"key\":\"del-%s\"},\"session\":{"
		    "\"playback_session_id\":\"%s\",\"stat_url\":\"%s\"}}",
		    F.engine_id, fxd_run(), psid, stat_url);
	}
	xpost(NULL, NULL, "/events/stream_started", body, &r);
	gwt_expect_status(&r, 200);
	snprintf(sid, sizeof(sid), "%s", gwt_str(r.json, "id"));
	gwt_resp_fini(&r);

	snprintf(path, sizeof(path), "/containers/%s", F.engine_id);
	{
		gwt_req q = {.method = "DELETE", .path = path, .auth = BEARER};

		xdo("DELETE /containers/{id}",
		    "Remove an engine carrying a stream (it ends as "
		    "engine_gone)",
		    &q, &r);
		gwt_expect_status(&r, 200);
		expect_str(r.json, "deleted", F.engine_id);
		gwt_resp_fini(&r);
		/* Dropped from state at once; its stream ended. */
		list_engines(&r, NULL);
		assert_null(find_by(r.json, "container_id", F.engine_id));
		gwt_resp_fini(&r);
		list_streams("?status=ended", &r, NULL);
		{
			const json_t *s = find_by(r.json, "id", sid);

			assert_non_null(s);
			expect_str(s, "end_reason", "engine_gone");
		}
		gwt_resp_fini(&r);
		xdo("DELETE /containers/{id}", "Unknown (already removed)", &q,
		    &r);
		gwt_expect_detail(&r, 404, NULL);
		gwt_resp_fini(&r);
	}
	snprintf(path, sizeof(path), "/engines/%s", F.engine_id);
	xget(NULL, NULL, path, NULL, &r);
	gwt_expect_detail(&r, 404, NULL);
	gwt_resp_fini(&r);

	xpost("POST /scale/{n}", "Scale to zero: idle engines stop now",
	    "/scale/0", NULL, &r);
	gwt_expect_status(&r, 200);
	assert_int_equal(gwt_int(r.json, "scaled_to"), 0);
	gwt_resp_fini(&r);
	list_engines(&r, "After /scale/0");
	assert_int_equal(json_array_size(r.json), 0);
	gwt_resp_fini(&r);

	xget("GET /metrics", "Prometheus exposition of the real daemon",
	    "/metrics", NULL, &r);
	gwt_expect_status(&r, 200);
	if (!gwt_prom_parse(r.body, r.len, &p, err, sizeof(err)))
		fail_msg("/metrics: %s", err);
	assert_true(gwt_prom_sum(&p, "orch_provision_total",
	                "kind=engine,result=ok", true, &n) >= 1);
	assert_true(gwt_prom_sum(&p, "orch_provision_total",
	                "kind=engine,result=refused", true, &n) >= 1);
	assert_true(gwt_prom_sum(&p, "orch_provision_total",
	                "kind=container,result=ok", true, &n) == 1);
	assert_true(gwt_prom_sum(&p, "orch_provision_seconds_count", NULL,
	                true, &n) >= 1);
	assert_true(gwt_prom_sum(
	                &p, "orch_events_started_total", NULL, true, &n) == 3);
	assert_true(
	    gwt_prom_sum(&p, "orch_events_ended_total", NULL, true, &n) >= 2);
	assert_true(
	    gwt_prom_sum(&p, "orch_streams_active", NULL, true, &n) == 0);
	assert_true(
	    gwt_prom_sum(&p, "orch_http_requests_total",
	        "route=/provision/acestream,status=200", false, &n) == 1);
	assert_true(
	    gwt_prom_sum(&p, "orch_http_requests_total",
	        "route=/provision/acestream,status=503", false, &n) == 1);
	{
		char out[4096];
		int rc = gwt_promtool(r.body, r.len, out, sizeof(out));

		if (rc >= 0)
			printf("promtool check metrics: exit %d\n%s", rc, out);
		if (rc >= 0 && (strstr(out, "error while linting") != NULL ||
		                   strstr(out, "parsing error") != NULL))
			fail_msg("promtool: %s", out);
	}
	gwt_prom_fini(&p);
	gwt_resp_fini(&r);
}

/* ======================================================================= */
/* 8. SIGTERM. */

static void
test_sigterm(void **state)
{
	int st, left;

	(void) state;
	need_daemon();
	assert_true(F.d.pid > 0);
	st = fxd_stop(&F.d, 15000);
	if (st != 0) {
		printf("orchestratord exit status %d after SIGTERM\n", st);
		fxd_log_tail(&F.d);
	}
	assert_int_equal(st, 0);
	/* Scaled to zero and the generic container deleted: nothing left. */
	left = fxd_count(&F.d, NULL);
	assert_int_equal(left, 0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_and_engines),
	    cmocka_unit_test(test_provision),
	    cmocka_unit_test(test_stream_events),
	    cmocka_unit_test(test_select_reserve),
	    cmocka_unit_test(test_containers),
	    cmocka_unit_test(test_scale_capacity_gc),
	    cmocka_unit_test(test_delete_and_metrics),
	    cmocka_unit_test(test_sigterm),
	};
	int rv;

	daemon_arg = argc > 1 ? argv[1] : NULL;
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rv = cmocka_run_group_tests_name(
	    "acexy_flow", tests, group_setup, group_teardown);
	curl_global_cleanup();
	return rv;
}
