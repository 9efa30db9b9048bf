/*
 * Pre-rendered reads over real HTTP (docs/GATEWAY.md): the core
 * (manual clock), the RPC server and the gateway in one process, as
 * orchestratord wires them, with libcurl and raw sockets on 127.0.0.1.
 *
 *   - each pre-rendered route answers a second read from its body (the
 *     hit counter moves, the render counter does not), and the very next
 *     read after a change shows the change;
 *   - the clock alone re-renders a breaker's countdown, with no lock
 *     taken by anyone;
 *   - a body rendered for an authorized caller is never served to one
 *     without the key;
 *   - 16 threads (8 changing, 8 reading) never see a torn or inconsistent
 *     body;
 *   - a client reading a large body slowly neither blocks the next
 *     render nor sees its own bytes change under it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/time.h"
#include "src/core/core.h"
#include "src/core/vpn.h"
#include "src/gateway/gateway.h"
#include "src/rpc/server.h"
#include "src/service/service.h"
#include "tests/gateway/gwtest.h"

#define S(x) ((int64_t) (x) *INT64_C(1000000))
#define T0 S(1700000000)
#define KEY "snapshot-test-key-0123456789"
#define BEARER "Bearer " KEY
#define RKEY "snapshot-test-read-key"
#define PORT0 20000

typedef struct fx {
	orch_config cfg;
	int64_t now;
	orch_core core;
	orch_service svc;
	orch_rpc_server *srv;
	orch_gw *gw;
	gwt_client c;
	int port;
} fx;

static fx *
fx_open(const char *const *extra)
{
	fx *f = calloc(1, sizeof(*f));
	const char *env[16] = {"PORT_RANGE_HOST=20000-29999",
	    "ACE_HTTPS_RANGE=45000-49999", "MAX_REPLICAS=5000", "API_KEY=" KEY,
	    NULL};
	size_t n = 4, k = 0;
	const orch_method *table = orch_service_methods(&k);
	orch_rpc_server_opts so = {0};
	orch_gw_opts go = {0};
	orch_diag d;
	orch_env e;

	assert_non_null(f);
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
		env[n++] = extra[i];
	env[n] = NULL;
	if (orch_config_load(&f->cfg, env, NULL, &d) != ORCH_OK)
		fail_msg("config: %s", d.msg);
	f->now = T0;
	assert_int_equal(orch_core_init(&f->core, &f->cfg,
	                     orch_clock_manual(&f->now), NULL),
	    ORCH_OK);
	memset(&e, 0, sizeof(e));
	e.docker_ok = true;
	e.image_ok = true;
	orch_core_set_env(&f->core, &e);
	f->svc.core = &f->core;
	so.service = &orch__orchestrator__descriptor;
	so.methods = table;
	so.n_methods = k;
	so.authorize = orch_service_authorize;
	so.arg = &f->svc;
	so.contexts = 16;
	so.workers = 2;
	assert_int_equal(orch_rpc_server_open(&so, &f->srv), ORCH_OK);
	go.host = "127.0.0.1";
	go.threads = 2;
	go.direct = f->srv;
	go.generation = orch_core_generation_cb;
	go.generation_arg = &f->core;
	assert_int_equal(orch_gw_start(&go, &f->gw), ORCH_OK);
	f->port = orch_gw_port(f->gw);
	gwt_client_init(&f->c, f->port);
	return f;
}

static void
fx_close(fx *f)
{
	gwt_client_fini(&f->c);
	orch_gw_stop(f->gw);
	orch_rpc_server_close(f->srv);
	orch_core_fini(&f->core);
	orch_config_fini(&f->cfg);
	free(f);
}

/* Engines acestream-<i>, ids e<i>, on 127.0.0.1:PORT0+i, healthy. */
static void
put_engines(fx *f, int from, int to)
{
	orch_core_lock(&f->core);
	for (int i = from; i < to; i++) {
		char id[32], name[32];
		orch_engine_spec s;
		orch_engine *e = NULL;

		snprintf(id, sizeof(id), "e%05d", i);
		snprintf(name, sizeof(name), "acestream-%d", i);
		memset(&s, 0, sizeof(s));
		s.container_id = id;
		s.container_name = name;
		s.host = "127.0.0.1";
		s.port = PORT0 + i;
		s.host_http_port = PORT0 + i;
		s.container_http_port = 6878;
		s.running = true;
		assert_int_equal(
		    orch_core_engine_put_locked(&f->core, &s, &e), ORCH_OK);
		orch_state_engine_probe(&f->core.state, e, true,
		    f->cfg.health_failure_threshold, f->now);
	}
	orch_core_unlock(&f->core);
}

static void
stream_body(char *out, size_t cap, int port, const char *key, const char *pid)
{
	snprintf(out, cap,
	    "{\"engine\":{\"host\":\"127.0.0.1\",\"port\":%d},"
	    "\"stream\":{\"key_type\":\"content_id\",\"key\":\"%s\"},"
	    "\"session\":{\"playback_session_id\":\"%s\","
	    "\"stat_url\":\"http://127.0.0.1:%d/ace/stat/%s/%s\","
	    "\"command_url\":\"http://127.0.0.1:%d/ace/cmd/%s/%s\","
	    "\"is_live\":1}}",
	    port, key, pid, port, key, pid, port, key, pid);
}

/* POST /events/stream_started on c; the HTTP status. */
static long
start_on(gwt_client *c, int port, const char *key, const char *pid)
{
	char body[1024];
	gwt_resp r;
	long st;

	stream_body(body, sizeof(body), port, key, pid);
	st = gwt_post(c, "/events/stream_started", BEARER, body, &r);
	gwt_resp_fini(&r);
	return st;
}

static long
end_on(gwt_client *c, const char *key, const char *pid)
{
	char body[512];
	gwt_resp r;
	long st;

	snprintf(body, sizeof(body), "{\"stream_id\":\"%s|%s\"}", key, pid);
	st = gwt_post(c, "/events/stream_ended", BEARER, body, &r);
	gwt_resp_fini(&r);
	return st;
}

/* A gateway counter for route: orch_http_snapshot_<what>_total. */
static long long
snap_count(fx *f, const char *what, const char *route)
{
	char needle[160];
	gwt_resp r;
	const char *p;
	long long v = -1;

	gwt_get(&f->c, "/metrics", BEARER, &r);
	gwt_expect_status(&r, 200);
	snprintf(needle, sizeof(needle),
	    "orch_http_snapshot_%s_total{route=\"%s\"} ", what, route);
	p = strstr(r.body, needle);
	if (p == NULL)
		fail_msg("no %s in /metrics", needle);
	v = strtoll(p + strlen(needle), NULL, 10);
	gwt_resp_fini(&r);
	return v;
}

/* GET path with the key; 200 expected; the body copied (caller frees). */
static char *
get_body(fx *f, const char *path)
{
	gwt_resp r;
	char *b;

	gwt_get(&f->c, path, BEARER, &r);
	gwt_expect_status(&r, 200);
	assert_non_null(r.json);
	b = strdup(r.body);
	assert_non_null(b);
	gwt_resp_fini(&r);
	return b;
}

/* Reads path twice: the second is a hit of route's body, the same bytes,
 * with no render. Returns the body (caller frees). */
static char *
expect_hit(fx *f, const char *path, const char *route)
{
	char *a = get_body(f, path), *b;
	long long hits = snap_count(f, "hits", route);
	long long renders = snap_count(f, "renders", route);

	b = get_body(f, path);
	assert_string_equal(a, b);
	assert_int_equal(snap_count(f, "hits", route), hits + 1);
	assert_int_equal(snap_count(f, "renders", route), renders);
	free(b);
	return a;
}

static void
test_next_read_sees_each_change(void **state)
{
	fx *f = fx_open(NULL);
	const char *key = "0123456789abcdef0123456789abcdef01234567";
	char *before, *after;
	gwt_resp r;
	long long renders;

	(void) state;
	put_engines(f, 0, 3);

	/* GET /engines: a stream shows on its engine at once. */
	before = expect_hit(f, "/engines", "/engines");
	assert_null(strstr(before, key));
	renders = snap_count(f, "renders", "/engines");
	assert_int_equal(start_on(&f->c, PORT0 + 1, key, "p1"), 200);
	after = get_body(f, "/engines");
	assert_non_null(strstr(after, key));
	assert_int_equal(snap_count(f, "renders", "/engines"), renders + 1);
	free(before);
	free(after);

	/* GET /streams?status=started: the stream, then none. */
	before = expect_hit(f, "/streams?status=started", "/streams");
	assert_non_null(strstr(before, key));
	assert_int_equal(end_on(&f->c, key, "p1"), 200);
	after = get_body(f, "/streams?status=started");
	assert_null(strstr(after, key));
	free(before);
	free(after);
	/* Other queries of the same route are never pre-rendered. */
	renders = snap_count(f, "renders", "/streams");
	free(get_body(f, "/streams?status=ended"));
	free(get_body(f, "/streams?status=ended"));
	free(get_body(f, "/streams"));
	assert_int_equal(snap_count(f, "renders", "/streams"), renders);

	/* GET /orchestrator/status: the engine and stream counts. */
	before = expect_hit(f, "/orchestrator/status", "/orchestrator/status");
	assert_non_null(strstr(before, "\"active\":0"));
	assert_int_equal(start_on(&f->c, PORT0 + 2, key, "p2"), 200);
	gwt_get(&f->c, "/orchestrator/status", BEARER, &r);
	gwt_expect_status(&r, 200);
	assert_int_equal(
	    gwt_int(json_object_get(r.json, "streams"), "active"), 1);
	gwt_resp_fini(&r);
	free(before);

	/* GET /health/status: a breaker failure counted by a controller. */
	before = expect_hit(f, "/health/status", "/health/status");
	orch_core_lock(&f->core);
	orch_breaker_record_failure(&f->core.general, f->now);
	orch_core_unlock(&f->core);
	gwt_get(&f->c, "/health/status", BEARER, &r);
	gwt_expect_status(&r, 200);
	assert_int_equal(gwt_int(json_object_get(json_object_get(r.json,
	                                             "circuit_breakers"),
	                             "general"),
	                     "failure_count"),
	    1);
	gwt_resp_fini(&r);
	free(before);
	fx_close(f);
}

/* One round's report for the only Gluetun: the tunnel up or down. */
static void
vpn_report(fx *f, bool up)
{
	static const orch_vpn_pub pubs[] = {{8000, 31000}, {19000, 39000}};
	orch_vpn_report r;
	orch_vpn_change ch;

	memset(&r, 0, sizeof(r));
	r.status = "running";
	r.health = up ? "healthy" : "unhealthy";
	r.started_us = T0 - S(100);
	r.control = ORCH_VPN_CONTROL_OK;
	r.tunnel_up = up;
	r.forwarded_port = 0;
	r.error = up ? NULL : "Gluetun says the tunnel is not running";
	r.pubs_known = true;
	r.pubs = pubs;
	r.n_pubs = 2;
	orch_core_vpn_report(&f->core, 0, &r, &ch);
}

static void
test_vpn_status_follows_reports(void **state)
{
	const char *extra[] = {"GLUETUN_CONTAINER_NAME=ga", NULL};
	fx *f = fx_open(extra);
	gwt_resp r;
	char *b;

	(void) state;
	vpn_report(f, true);
	b = expect_hit(f, "/vpn/status", "/vpn/status");
	assert_non_null(strstr(b, "\"connected\":true"));
	free(b);
	vpn_report(f, false);
	gwt_get(&f->c, "/vpn/status", BEARER, &r);
	gwt_expect_status(&r, 200);
	assert_false(json_is_true(json_object_get(r.json, "connected")));
	assert_string_equal(gwt_str(r.json, "health"), "unhealthy");
	gwt_resp_fini(&r);
	/* The status's VPN summary too. */
	b = get_body(f, "/orchestrator/status");
	assert_non_null(strstr(b, "\"health\":\"unhealthy\""));
	free(b);
	fx_close(f);
}

/* The clock alone moves a breaker's countdown: nobody takes the lock,
 * yet the next read re-renders. */
static void
test_clock_rerenders_countdown(void **state)
{
	fx *f = fx_open(NULL);
	gwt_resp r;
	long long eta0, eta1;
	const json_t *prov;

	(void) state;
	orch_core_lock(&f->core);
	for (int i = 0; i < f->cfg.cb_failure_threshold; i++)
		orch_breaker_record_failure(&f->core.general, f->now);
	orch_core_unlock(&f->core);
	free(expect_hit(f, "/orchestrator/status", "/orchestrator/status"));
	gwt_get(&f->c, "/orchestrator/status", BEARER, &r);
	prov = json_object_get(r.json, "provisioning");
	assert_string_equal(gwt_str(prov, "circuit_breaker_state"), "open");
	eta0 = gwt_int(json_object_get(prov, "blocked_reason_details"),
	    "recovery_eta_seconds");
	gwt_resp_fini(&r);
	assert_true(eta0 == f->cfg.cb_recovery_timeout_s);

	/* One second on, with no lock: a plain store, as time passes. */
	__atomic_fetch_add(&f->now, S(1), __ATOMIC_RELAXED);
	gwt_get(&f->c, "/orchestrator/status", BEARER, &r);
	prov = json_object_get(r.json, "provisioning");
	eta1 = gwt_int(json_object_get(prov, "blocked_reason_details"),
	    "recovery_eta_seconds");
	gwt_resp_fini(&r);
	assert_true(eta1 == eta0 - 1);

	/* Past the timeout: half-open, on both reads that show it. */
	__atomic_fetch_add(
	    &f->now, S(f->cfg.cb_recovery_timeout_s), __ATOMIC_RELAXED);
	gwt_get(&f->c, "/orchestrator/status", BEARER, &r);
	assert_string_equal(gwt_str(json_object_get(r.json, "provisioning"),
	                        "circuit_breaker_state"),
	    "half_open");
	gwt_resp_fini(&r);
	gwt_get(&f->c, "/health/status", BEARER, &r);
	assert_string_equal(gwt_str(json_object_get(json_object_get(r.json,
	                                                "circuit_breakers"),
	                                "general"),
	                        "state"),
	    "half_open");
	gwt_resp_fini(&r);
	fx_close(f);
}

/* A body rendered for a caller with the key is not served without it. */
static void
test_cached_body_needs_the_key(void **state)
{
	const char *extra[] = {"READ_API_KEY=" RKEY, NULL};
	fx *f = fx_open(extra);
	const char *paths[] = {"/engines", "/orchestrator/status",
	    "/health/status", "/vpn/status", "/streams?status=started"};
	gwt_resp r;

	(void) state;
	put_engines(f, 0, 2);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		free(get_body(f, paths[i])); /* rendered, and cached */
		gwt_get(&f->c, paths[i], "Bearer " RKEY, &r); /* a hit */
		gwt_expect_status(&r, 200);
		gwt_resp_fini(&r);
		gwt_get(&f->c, paths[i], NULL, &r);
		gwt_expect_detail(&r, 401, NULL);
		gwt_resp_fini(&r);
		gwt_get(&f->c, paths[i], "Bearer wrong-key", &r);
		if (r.status != 401 && r.status != 403)
			fail_msg(
			    "%s with a wrong key: %ld", paths[i], r.status);
		assert_null(strstr(r.body, "acestream-"));
		gwt_resp_fini(&r);
	}
	fx_close(f);
}

/* ---- 16 threads ------------------------------------------------------- */

#define WRITERS 8
#define READERS 8
#define PAIRS 40
#define ENGINES 10

typedef struct race {
	fx *f;
	gwt_client c[WRITERS + READERS];
	atomic_int writers_left;
	atomic_int bad;
	atomic_int reads;
	char why[256];
	pthread_mutex_t mu;
} race;

typedef struct race_arg {
	race *r;
	int i;
} race_arg;

static void
race_fail(race *r, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&r->mu);
	if (atomic_fetch_add(&r->bad, 1) == 0) {
		va_start(ap, fmt);
		vsnprintf(r->why, sizeof(r->why), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&r->mu);
}

static void *
writer_main(void *arg)
{
	race_arg *a = arg;
	race *r = a->r;
	gwt_client *c = &r->c[a->i];

	for (int k = 0; k < PAIRS; k++) {
		char key[48], pid[32];

		snprintf(key, sizeof(key), "%02d%038d", a->i, k);
		snprintf(pid, sizeof(pid), "w%d-%d", a->i, k);
		if (start_on(c, PORT0 + (a->i + k) % ENGINES, key, pid) != 200)
			race_fail(r, "writer %d: stream_started failed", a->i);
		if (end_on(c, key, pid) != 200)
			race_fail(r, "writer %d: stream_ended failed", a->i);
	}
	atomic_fetch_sub(&r->writers_left, 1);
	return NULL;
}

/* Every body whole and consistent in itself. */
static void
check_read(race *r, int which, const gwt_resp *resp)
{
	const json_t *j = resp->json;

	if (resp->status != 200 || j == NULL) {
		race_fail(r, "read %d: HTTP %ld, body %.80s", which,
		    resp->status, resp->body);
		return;
	}
	if (which == 0) {
		size_t i, streams = 0;
		json_t *e;

		if (!json_is_array(j) || json_array_size(j) != ENGINES)
			race_fail(r, "/engines: not %d engines", ENGINES);
		json_array_foreach((json_t *) j, i, e)
		{
			streams +=
			    json_array_size(json_object_get(e, "streams"));
		}
		if (streams > WRITERS)
			race_fail(r, "/engines: %zu streams", streams);
	} else if (which == 1) {
		const json_t *s = json_object_get(j, "streams");
		const json_t *en = json_object_get(j, "engines");
		json_int_t active =
		    json_integer_value(json_object_get(s, "active"));

		if (json_integer_value(json_object_get(en, "total")) !=
		        ENGINES ||
		    active < 0 || active > WRITERS)
			race_fail(
			    r, "/orchestrator/status: %.200s", resp->body);
	} else {
		size_t i;
		json_t *s;
		const json_t *arr =
		    json_is_array(j) ? j : json_object_get(j, "streams");

		if (!json_is_array(arr) || json_array_size(arr) > WRITERS)
			race_fail(
			    r, "/streams?status=started: %.200s", resp->body);
		json_array_foreach((json_t *) arr, i, s)
		{
			const json_t *st = json_object_get(s, "status");

			if (!json_is_string(st) ||
			    strcmp(json_string_value(st), "started") != 0)
				race_fail(r, "/streams?status=started: an "
				             "ended stream");
		}
	}
}

static void *
reader_main(void *arg)
{
	race_arg *a = arg;
	race *r = a->r;
	gwt_client *c = &r->c[a->i];
	const char *paths[] = {
	    "/engines", "/orchestrator/status", "/streams?status=started"};

	for (int k = 0; atomic_load(&r->writers_left) > 0 || k < 30; k++) {
		gwt_resp resp;
		int which = (a->i + k) % 3;

		gwt_get(c, paths[which], BEARER, &resp);
		check_read(r, which, &resp);
		gwt_resp_fini(&resp);
		atomic_fetch_add(&r->reads, 1);
	}
	return NULL;
}

static void
test_sixteen_threads_no_torn_body(void **state)
{
	race r;
	race_arg args[WRITERS + READERS];
	pthread_t t[WRITERS + READERS];
	gwt_resp resp;
	const json_t *s;

	(void) state;
	memset(&r, 0, sizeof(r));
	r.f = fx_open(NULL);
	pthread_mutex_init(&r.mu, NULL);
	put_engines(r.f, 0, ENGINES);
	atomic_init(&r.writers_left, WRITERS);
	for (int i = 0; i < WRITERS + READERS; i++) {
		gwt_client_init(&r.c[i], r.f->port);
		args[i].r = &r;
		args[i].i = i;
	}
	for (int i = 0; i < WRITERS + READERS; i++)
		assert_int_equal(
		    pthread_create(&t[i], NULL,
		        i < WRITERS ? writer_main : reader_main, &args[i]),
		    0);
	for (int i = 0; i < WRITERS + READERS; i++)
		pthread_join(t[i], NULL);
	if (atomic_load(&r.bad) != 0)
		fail_msg(
		    "%d bad replies; first: %s", atomic_load(&r.bad), r.why);
	assert_true(atomic_load(&r.reads) >= READERS * 30);
	/* After the last change: exactly the final state. */
	gwt_get(&r.f->c, "/orchestrator/status", BEARER, &resp);
	gwt_expect_status(&resp, 200);
	s = json_object_get(resp.json, "streams");
	assert_int_equal(gwt_int(s, "active"), 0);
	assert_int_equal(gwt_int(s, "total"), WRITERS * PAIRS);
	gwt_resp_fini(&resp);
	assert_true(snap_count(r.f, "hits", "/orchestrator/status") > 0);
	for (int i = 0; i < WRITERS + READERS; i++)
		gwt_client_fini(&r.c[i]);
	pthread_mutex_destroy(&r.mu);
	fx_close(r.f);
}

/* ---- a slow reader ---------------------------------------------------- */

/* A raw connection with a small receive buffer, so that the server
 * cannot push a large body into the kernel and must keep it. */
static int
slow_connect(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), small = 4096;

	assert_true(fd >= 0);
	assert_int_equal(
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t) port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *) &a, sizeof(a)), 0);
	return fd;
}

/* Reads until n bytes are in buf or 30 s pass; bytes read. */
static size_t
read_n(int fd, char *buf, size_t n)
{
	size_t got = 0;
	int64_t deadline = orch_mono_ms() + 30000;

	while (got < n && orch_mono_ms() < deadline) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t k;

		if (poll(&p, 1, 1000) <= 0)
			continue;
		k = read(fd, buf + got, n - got);
		if (k <= 0)
			break;
		got += (size_t) k;
	}
	return got;
}

static void
test_slow_reader_blocks_nothing(void **state)
{
	fx *f = fx_open(NULL);
	const char *key = "89abcdef0123456789abcdef0123456789abcdef";
	const char *req = "GET /engines HTTP/1.1\r\nHost: t\r\n"
	                  "Authorization: " BEARER "\r\n\r\n";
	char *before, *after, head[4096], *body;
	size_t hlen = 0, clen, got;
	const char *end, *cl;
	int fd;

	(void) state;
	put_engines(f, 0, 2000);
	before = get_body(f, "/engines");     /* renders and caches */
	assert_true(strlen(before) > 500000); /* >> socket buffers */

	/* The slow client asks for the same body and reads only its
	 * first bytes. */
	fd = slow_connect(f->port);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t) strlen(req));
	while (hlen < sizeof(head) - 1) {
		if (read_n(fd, head + hlen, 1) != 1)
			fail_msg("no response header");
		hlen++;
		head[hlen] = '\0';
		if ((end = strstr(head, "\r\n\r\n")) != NULL)
			break;
	}
	cl = strcasestr(head, "content-length:");
	assert_non_null(cl);
	clen = strtoul(cl + strlen("content-length:"), NULL, 10);
	assert_int_equal(clen, strlen(before));

	/* Meanwhile: a change, and a fresh read that shows it at once. */
	assert_int_equal(start_on(&f->c, PORT0 + 7, key, "slow"), 200);
	after = get_body(f, "/engines");
	assert_non_null(strstr(after, key));
	assert_string_not_equal(after, before);
	free(after);

	/* The slow client then gets its whole body, byte for byte the one
	 * rendered before the change. */
	body = malloc(clen + 1);
	assert_non_null(body);
	got = read_n(fd, body, clen);
	assert_int_equal(got, clen);
	body[clen] = '\0';
	assert_true(memcmp(body, before, clen) == 0);
	assert_null(strstr(body, key));
	free(body);
	close(fd);
	free(before);
	fx_close(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_next_read_sees_each_change),
	    cmocka_unit_test(test_vpn_status_follows_reports),
	    cmocka_unit_test(test_clock_rerenders_countdown),
	    cmocka_unit_test(test_cached_body_needs_the_key),
	    cmocka_unit_test(test_sixteen_threads_no_torn_body),
	    cmocka_unit_test(test_slow_reader_blocks_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
