/*
 * The fault suite of issue 10 ("Proven under fire"): each defect's fault
 * made for real against the real orchestratord (argv[1]) and the real
 * Docker daemon with acestream-sim:latest, judged by what a proxy sees
 * (HTTP statuses, refusal codes) and by the books: GET /engines against
 * Docker's containers of the case's label, /metrics and /health/status
 * before and after. Skipped unless ORCH_TEST_DOCKER is set.
 *
 * Each case starts its own daemon (fxd.h: its own label, name prefix and
 * slice of 31500-31599 / 47500-47599) with the configuration its fault
 * needs, and its teardown removes what carries its label. Every wait is
 * a deadline loop on a condition; the time a recovery took is printed
 * ("recovery:" lines, collected in bench/README.md "FAULTS"), never
 * asserted.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "tests/faults/dkproxy.h"
#include "tests/faults/fxd.h"

static int
setup(void **state)
{
	static fxd f;

	memset(&f, 0, sizeof(f));
	f.pid = -1;
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	fxd *f = *state;

	if (f->label_val[0] != '\0')
		fxd_fini(f);
	return 0;
}

static fxd *
begin(void **state, int slot, const char *name)
{
	fxd *f = *state;

	if (getenv("ORCH_TEST_DOCKER") == NULL)
		skip();
	if (!fxd_enabled())
		fail_msg("Docker, the image or the daemon binary is missing");
	fxd_init(f, slot, name);
	return f;
}

static void
recovery(const fxd *f, const char *what, int64_t ms)
{
	printf(
	    "recovery: %-13s %-44s %6lld ms\n", f->name, what, (long long) ms);
}

/* /engines lists exactly the running containers of the case's label. */
static void
expect_books(fxd *f, int want)
{
	char ids[16][80];
	int n = fxd_engines(f, ids, 16);

	if (n != want)
		fail_msg("[%s] %d engines listed, want %d", f->name, n, want);
	if (fxd_count(f, NULL) != want)
		fail_msg("[%s] %d containers of %s, want %d", f->name,
		    fxd_count(f, NULL), f->label, want);
	for (int i = 0; i < n && i < 16; i++) {
		orch_rt_container c = {0};

		if (orch_docker_inspect(fxd_docker(), ids[i], &c, NULL) !=
		        ORCH_OK ||
		    !c.running)
			fail_msg("[%s] listed engine %.12s is not running",
			    f->name, ids[i]);
		orch_rt_container_fini(&c);
	}
}

/* The case's daemon exits 0 on SIGTERM: no crash, and under
 * --config=asan no sanitizer report (ASan exits 1). */
static void
end(fxd *f)
{
	int st = fxd_stop(f, 30000);

	if (st != 0)
		fxd_log_tail(f);
	if (st != 0)
		fail_msg("[%s] orchestratord exit status %d", f->name, st);
}

static const char *
refusal_of(fxd *f, const char *body, gwt_resp *r)
{
	fxd_post(f, "/provision/acestream", body, r);
	return gwt_expect_refusal(r);
}

/* ======================================================================= */
/* 1. An image whose API never listens opens the breaker (defect 1). */

static char never_image[96];

static void
make_never_image(void)
{
	char path[512], *out = NULL;
	json_t *j;
	long st;

	snprintf(
	    never_image, sizeof(never_image), "faults-never:%s", fxd_run());
	st = fxd_dk("POST", "/containers/create",
	    "{\"Image\":\"" FXD_IMAGE "\"}", &out);
	if (st != 201)
		fail_msg("create for commit: HTTP %ld %s", st, out);
	j = json_loads(out, 0, NULL);
	free(out);
	snprintf(path, sizeof(path),
	    "/commit?container=%s&repo=faults-never&tag=%s"
	    "&changes=ENV%%20SIM_STARTUP_DELAY_MS%%3D3600000",
	    json_string_value(json_object_get(j, "Id")), fxd_run());
	st = fxd_dk("POST", path, NULL, &out);
	free(out);
	snprintf(path, sizeof(path), "/containers/%s?force=1",
	    json_string_value(json_object_get(j, "Id")));
	fxd_dk_ok("DELETE", path);
	json_decref(j);
	if (st != 201)
		fail_msg("commit %s: HTTP %ld", never_image, st);
}

static bool
breaker_open(fxd *f, void *arg)
{
	char st[16];

	(void) arg;
	(void) fxd_breaker(f, st, sizeof(st));
	return strcmp(st, "open") == 0;
}

static bool
none_left(fxd *f, void *arg)
{
	(void) arg;
	return fxd_count(f, NULL) == 0;
}

static void
test_never_healthy(void **state)
{
	fxd *f = begin(state, 0, "never_healthy");
	char img[128], st[16];
	const char *env[] = {img, "STARTUP_TIMEOUT_S=3",
	    "CIRCUIT_BREAKER_FAILURE_THRESHOLD=3",
	    "CIRCUIT_BREAKER_RECOVERY_TIMEOUT_S=600", "MIN_REPLICAS=1",
	    "MAX_REPLICAS=2", NULL};
	double creates;
	int64_t ms, t_end;
	gwt_resp r;

	make_never_image();
	snprintf(img, sizeof(img), "TARGET_IMAGE=%s", never_image);
	fxd_start(f, env, true);
	/* MIN_REPLICAS=1: the control loop provisions, each engine times
	 * out, three failures open the breaker. */
	ms = fxd_wait(f, 90000, breaker_open, NULL, "general breaker open");
	recovery(f, "breaker open after start", ms);
	assert_true(fxd_breaker(f, st, sizeof(st)) >= 3);
	assert_string_equal(refusal_of(f, "{}", &r), "circuit_breaker");
	gwt_resp_fini(&r);
	/* The last engine is removed at its own timeout; then nothing more
	 * is created while the breaker is open. */
	ms = fxd_wait(f, 30000, none_left, NULL, "no engine container left");
	recovery(f, "last never-healthy engine removed", ms);
	creates =
	    fxd_metric(f, "orch_provision_total", "kind=engine,result=ok");
	assert_true(creates >= 3);
	/* A non-event needs a window: 3 control periods and one startup
	 * timeout more, sampled. */
	t_end = gwt_mono_ms() + 5000;
	while (gwt_mono_ms() < t_end) {
		assert_int_equal(fxd_count(f, NULL), 0);
		usleep(250000);
	}
	assert_true(fxd_metric(f, "orch_provision_total",
	                "kind=engine,result=ok") == creates);
	assert_string_equal(refusal_of(f, "{}", &r), "circuit_breaker");
	gwt_resp_fini(&r);
	expect_books(f, 0);
	printf("[%s] %.0f creates in all, breaker open\n", f->name, creates);
	end(f);
}

static int
teardown_never(void **state)
{
	char path[160];

	teardown(state);
	if (never_image[0] != '\0') {
		snprintf(
		    path, sizeof(path), "/images/%s?force=1", never_image);
		(void) fxd_dk("DELETE", path, NULL, NULL);
	}
	return 0;
}

/* ======================================================================= */
/* 2. Label smuggling (defect 3). */

static void
test_label_smuggling(void **state)
{
	fxd *f = begin(state, 1, "label_smuggle");
	const char *const env[] = {"MAX_REPLICAS=2", NULL};
	static const char *const bodies[] = {
	    "{\"labels\":{\"orchestrator.managed=x\":\"y\"}}",
	    "{\"labels\":{\"" FXD_LABEL_KEY "\":\"other\"}}",
	    "{\"labels\":{\"orchestrator.managed\":\"x\"}}",
	    "{\"labels\":{\"acestream.http_port\":\"1\"}}",
	    "{\"labels\":{\"host.http_port\":\"1\"}}",
	    "{\"labels\":{\"\":\"empty\"}}",
	    "{\"labels\":{\"a\\nb\":\"ctl\"}}",
	};
	char id[80];
	gwt_resp r;
	int port;
	int64_t t0;

	fxd_start(f, env, true);
	t0 = gwt_mono_ms();
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		fxd_post(f, "/provision/acestream", bodies[i], &r);
		gwt_expect_detail(&r, 422, "labels");
		gwt_resp_fini(&r);
	}
	recovery(f, "7 smuggled labels refused", gwt_mono_ms() - t0);
	assert_int_equal(fxd_count(f, NULL), 0);
	assert_true(fxd_metric(f, "orch_provision_total",
	                "kind=engine,result=ok") == 0);
	/* MAX_REPLICAS still holds, smuggling or not. */
	for (int i = 0; i < 2; i++)
		assert_int_equal(
		    fxd_provision(f, bodies[i % 2], id, sizeof(id), &port),
		    422);
	for (int i = 0; i < 2; i++)
		assert_int_equal(
		    fxd_provision(f, "{\"labels\":{\"ok\":\"1\"}}", id,
		        sizeof(id), &port),
		    200);
	assert_string_equal(refusal_of(f, "{}", &r), "max_capacity");
	gwt_resp_fini(&r);
	fxd_post(f, "/provision/acestream", bodies[0], &r);
	gwt_expect_detail(&r, 422, "labels");
	gwt_resp_fini(&r);
	expect_books(f, 2);
	end(f);
}

/* ======================================================================= */
/* 3. Invalid image references are the caller's mistake (defect 12). */

static void
test_bad_images(void **state)
{
	fxd *f = begin(state, 2, "bad_images");
	static const char *const bad[] = {
	    "A", "has space", "repo:", "a//b", "-lead:1"};
	char body[256], st[16], id[80];
	gwt_resp r;
	int port;

	fxd_start(f, NULL, true);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "{\"image\":\"%s\"}", bad[i]);
		fxd_post(f, "/provision/acestream", body, &r);
		gwt_expect_detail(&r, 422, "image");
		gwt_resp_fini(&r);
	}
	assert_int_equal(fxd_breaker(f, st, sizeof(st)), 0);
	assert_string_equal(st, "closed");
	assert_int_equal(fxd_count(f, NULL), 0);
	assert_true(fxd_metric(f, "orch_provision_total",
	                "kind=engine,result=failed") == 0);
	assert_int_equal(fxd_provision(f, "{\"image\":\"" FXD_IMAGE "\"}", id,
	                     sizeof(id), &port),
	    200);
	assert_in_range(port, f->http_lo, f->http_hi);
	expect_books(f, 1);
	end(f);
}

/* ======================================================================= */
/* 4. 40 leftovers (defect 6). */

static bool
no_exited(fxd *f, void *arg)
{
	(void) arg;
	return fxd_count(f, "exited") == 0;
}

static void
make_leftovers(fxd *f, int n)
{
	char hp[16], hsp[16];
	orch_rt_kv lab[] = {{FXD_LABEL_KEY, f->label_val},
	    {"acestream.http_port", hp}, {"acestream.https_port", hsp},
	    {"host.http_port", hp}};
	/* The simulator exits 1 at once on a bad listen address. */
	const char *const env[] = {"SIM_LISTEN_ADDR=bogus", NULL};
	orch_diag d;

	snprintf(hp, sizeof(hp), "%d", f->http_lo);
	snprintf(hsp, sizeof(hsp), "%d", f->https_lo);
	for (int i = 1; i <= n; i++) {
		char name[64], *id = NULL;
		orch_rt_create_spec s = {.name = name,
		    .image = FXD_IMAGE,
		    .labels = lab,
		    .n_labels = 4,
		    .env = env};

		snprintf(name, sizeof(name), "%s-%d", f->prefix, i);
		if (orch_docker_create(fxd_docker(), &s, &id, &d) != ORCH_OK)
			fail_msg("create %s: %s", name, d.msg);
		if (orch_docker_start(fxd_docker(), id, &d) != ORCH_OK)
			fail_msg("start %s: %s", name, d.msg);
		free(id);
	}
}

static bool
all_exited(fxd *f, void *arg)
{
	return fxd_count(f, "exited") == *(int *) arg;
}

static void
test_leftovers(void **state)
{
	fxd *f = begin(state, 3, "leftovers");
	int n = 40;
	char id[80];
	int port;
	int64_t t0, ms;

	make_leftovers(f, n);
	(void) fxd_wait(f, 60000, all_exited, &n, "40 leftovers exited");
	t0 = gwt_mono_ms();
	fxd_start(f, NULL, true);
	recovery(f, "start to can_provision over 40 leftovers", f->ready_ms);
	ms = gwt_mono_ms();
	for (int i = 0; i < 2; i++)
		assert_int_equal(
		    fxd_provision(f, "{}", id, sizeof(id), &port), 200);
	recovery(f, "2 provisions over 40 leftovers", gwt_mono_ms() - ms);
	assert_true(fxd_metric(f, "orch_provision_total",
	                "kind=engine,result=failed") == 0);
	assert_true(fxd_metric(f, "orch_provision_total",
	                "kind=engine,result=ok") == 2);
	(void) fxd_wait(f, 60000, no_exited, NULL, "leftovers removed");
	recovery(
	    f, "40 exited leftovers removed (from start)", gwt_mono_ms() - t0);
	expect_books(f, 2);
	end(f);
}

/* ======================================================================= */
/* 5. A paused engine with a live stream, then unpaused (defect 10). */

typedef struct {
	const char *id;
	const char *want;
} health_arg;

static bool
health_is(fxd *f, void *arg)
{
	health_arg *a = arg;
	char h[32];

	fxd_engine_health(f, a->id, h, sizeof(h));
	return strcmp(h, a->want) == 0;
}

static void
test_paused(void **state)
{
	fxd *f = begin(state, 4, "paused");
	const char *const env[] = {"MAX_REPLICAS=1",
	    "HEALTH_FAILURE_THRESHOLD=2",
	    "HEALTH_UNHEALTHY_GRACE_PERIOD_S=600", NULL};
	char id[80], sid[256], path[160], ids[4][80];
	health_arg ha = {.id = id};
	int port;
	int64_t ms;

	fxd_start(f, env, true);
	assert_int_equal(fxd_provision(f, "{}", id, sizeof(id), &port), 200);
	ha.want = "healthy";
	(void) fxd_wait(f, 30000, health_is, &ha, "engine healthy");
	fxd_stream_on(f, id, port, "pause0001", sid, sizeof(sid));
	assert_int_equal(fxd_active_streams(f, id), 1);

	snprintf(path, sizeof(path), "/containers/%s/pause", id);
	fxd_dk_ok("POST", path);
	ha.want = "unhealthy";
	ms = fxd_wait(f, 30000, health_is, &ha, "paused engine unhealthy");
	recovery(f, "paused -> unhealthy", ms);
	/* Still listed, alive to the reconcile, its stream kept. */
	assert_int_equal(fxd_engines(f, ids, 4), 1);
	assert_string_equal(ids[0], id);
	assert_int_equal(fxd_active_streams(f, id), 1);
	assert_int_equal(fxd_count(f, NULL), 1);

	snprintf(path, sizeof(path), "/containers/%s/unpause", id);
	fxd_dk_ok("POST", path);
	ha.want = "healthy";
	ms = fxd_wait(f, 30000, health_is, &ha, "unpaused engine healthy");
	recovery(f, "unpaused -> healthy", ms);
	/* The same engine, not adopted again as a new free one. */
	assert_int_equal(fxd_engines(f, ids, 4), 1);
	assert_string_equal(ids[0], id);
	assert_int_equal(fxd_active_streams(f, id), 1);
	assert_true(fxd_metric(f, "orch_streams_active", "") == 1);
	expect_books(f, 1);
	end(f);
}

/* ======================================================================= */
/* 6. An engine that exits at every start (defects 5, 11). */

static bool
engine_gone(fxd *f, void *arg)
{
	const char *id = arg;
	char ids[8][80];
	int n = fxd_engines(f, ids, 8);
	orch_rt_container c = {0};
	bool listed = false;

	for (int i = 0; i < n; i++)
		listed |= strcmp(ids[i], id) == 0;
	if (listed)
		return false;
	if (orch_docker_inspect(fxd_docker(), id, &c, NULL) == ORCH_OK) {
		orch_rt_container_fini(&c);
		return false;
	}
	return true;
}

static void
test_crash_loop(void **state)
{
	fxd *f = begin(state, 5, "crash_loop");
	const char *const env[] = {"MAX_REPLICAS=3",
	    "ENGINE_CRASH_LOOP_RESTARTS=3", "ENGINE_CRASH_LOOP_WINDOW_S=120",
	    "STARTUP_TIMEOUT_S=120", NULL};
	char a[80], b[80], c[80], st[16];
	int pa, pb, pc, starts;
	long since;
	int64_t t0, ms;

	fxd_start(f, env, true);
	t0 = gwt_mono_ms();
	since = (long) time(NULL) - 1;
	assert_int_equal(
	    fxd_provision(f, "{\"env\":{\"SIM_LISTEN_ADDR\":\"bogus\"}}", a,
	        sizeof(a), &pa),
	    200);
	/* While it restarts its ports are its own. */
	assert_int_equal(fxd_provision(f, "{}", b, sizeof(b), &pb), 200);
	assert_int_not_equal(pa, pb);
	ms =
	    fxd_wait(f, 60000, engine_gone, a, "crash-looping engine removed");
	recovery(f, "crash loop detected and removed", gwt_mono_ms() - t0);
	(void) ms;
	/* It did loop: Docker started it at least ENGINE_CRASH_LOOP_RESTARTS
	 * times (the first start and the restarts) before the removal. */
	starts = fxd_dk_events(a, "start", since, NULL);
	printf("[%s] Docker started the looping engine %d times\n", f->name,
	    starts);
	assert_true(starts >= 3);
	assert_true(fxd_dk_events(a, "destroy", since, NULL) == 1);
	assert_int_equal(fxd_breaker(f, st, sizeof(st)), 1);
	assert_string_equal(st, "closed");
	/* Its ports are free again; b kept its own. */
	assert_int_equal(fxd_provision(f, "{}", c, sizeof(c), &pc), 200);
	assert_int_not_equal(pc, pb);
	assert_in_range(pc, f->http_lo, f->http_hi);
	expect_books(f, 2);
	end(f);
}

/* ======================================================================= */
/* 7. SIGTERM while a DELETE waits on a slow stop (defect 4). */

typedef struct {
	int port;
	char path[160];
	long status;
	CURLcode cc;
} del_arg;

static void *
delete_thread(void *arg)
{
	del_arg *d = arg;
	gwt_client c;
	gwt_req q = {.method = "DELETE",
	    .path = d->path,
	    .auth = FXD_BEARER,
	    .timeout_ms = 60000};
	gwt_resp r;

	gwt_client_init(&c, d->port);
	gwt_do(&c, &q, &r);
	d->status = r.status;
	d->cc = r.cc;
	gwt_resp_fini(&r);
	gwt_client_fini(&c);
	return NULL;
}

typedef struct {
	const char *id;
	long since;
} term_arg;

/* Docker has sent the stop's SIGTERM to the container: the DELETE is
 * inside the runtime's stop, waiting out its timeout. */
static bool
stop_under_way(fxd *f, void *arg)
{
	term_arg *t = arg;

	(void) f;
	return fxd_dk_events(t->id, "kill", t->since, "\"signal\":\"15\"") > 0;
}

static void
test_sigterm_slow_delete(void **state)
{
	fxd *f = begin(state, 6, "sigterm_delete");
	char id[80], path[200];
	del_arg d = {0};
	term_arg t = {.id = id};
	pthread_t th;
	int port, st;
	int64_t t0;

	fxd_start(f, NULL, true);
	assert_int_equal(fxd_provision(f, "{}", id, sizeof(id), &port), 200);
	/* A stopped process cannot take SIGTERM: Docker's stop waits out
	 * the orchestrator's stop timeout, then kills. */
	t.since = (long) time(NULL) - 1;
	snprintf(path, sizeof(path), "/containers/%s/kill?signal=SIGSTOP", id);
	fxd_dk_ok("POST", path);
	d.port = f->port;
	snprintf(d.path, sizeof(d.path), "/containers/%s", id);
	assert_int_equal(pthread_create(&th, NULL, delete_thread, &d), 0);
	(void) fxd_wait(f, 30000, stop_under_way, &t, "the DELETE's stop");
	t0 = gwt_mono_ms();
	st = fxd_stop(f, 30000);
	recovery(
	    f, "SIGTERM during a slow DELETE -> exit", gwt_mono_ms() - t0);
	pthread_join(th, NULL);
	printf("[%s] exit status %d; the DELETE got HTTP %ld (curl %d)\n",
	    f->name, st, d.status, (int) d.cc);
	if (st != 0)
		fxd_log_tail(f);
	assert_int_equal(st, 0);
	/* The DELETE was running when SIGTERM came: it finishes and is
	 * answered before the process exits (a close bounded at exactly the
	 * stop timeout used to cut it off: curl 52, no reply). */
	assert_int_equal(d.status, 200);
}

/* ======================================================================= */
/* 8. Docker unreachable, then back (through a relay of its socket). */

static char proxy_sock[108];

static bool
provision_ok(fxd *f, void *arg)
{
	char id[80];
	int port;

	(void) arg;
	return fxd_provision(f, "{}", id, sizeof(id), &port) == 200;
}

static bool
status_says_docker_down(fxd *f, void *arg)
{
	gwt_resp r;
	bool down;

	(void) arg;
	fxd_get(f, "/orchestrator/status", &r);
	gwt_expect_status(&r, 200);
	down = json_is_false(json_object_get(
	    json_object_get(r.json, "provisioning"), "can_provision"));
	gwt_resp_fini(&r);
	return down;
}

static void
test_docker_away(void **state)
{
	fxd *f = begin(state, 7, "docker_away");
	char host[160], id[80], ids[4][80];
	const char *const env[] = {host, "MAX_REPLICAS=3", NULL};
	const char *dh = getenv("DOCKER_HOST");
	int port;
	int64_t t0, ms;
	gwt_resp r;

	snprintf(proxy_sock, sizeof(proxy_sock), "/tmp/faults-dk-%s.sock",
	    fxd_run());
	assert_true(dkproxy_start(
	    proxy_sock, dh != NULL && strncmp(dh, "unix://", 7) == 0
	                    ? dh + 7
	                    : "/var/run/docker.sock"));
	snprintf(host, sizeof(host), "DOCKER_HOST=unix://%s", proxy_sock);
	fxd_start(f, env, true);
	assert_int_equal(fxd_provision(f, "{}", id, sizeof(id), &port), 200);
	expect_books(f, 1);

	dkproxy_down();
	t0 = gwt_mono_ms();
	/* The first provision finds Docker gone: refused, not a failure. */
	assert_string_equal(refusal_of(f, "{}", &r), "docker_unavailable");
	gwt_resp_fini(&r);
	(void) fxd_wait(
	    f, 30000, status_says_docker_down, NULL, "can_provision false");
	assert_string_equal(refusal_of(f, "{}", &r), "docker_unavailable");
	gwt_resp_fini(&r);
	/* Reads answer from the state: the engine is still listed. */
	assert_int_equal(fxd_engines(f, ids, 4), 1);
	assert_string_equal(ids[0], id);
	fxd_get(f, "/health/status", &r);
	gwt_expect_status(&r, 200);
	gwt_resp_fini(&r);
	assert_true(fxd_metric(f, "orch_provision_total",
	                "kind=engine,result=failed") == 0);
	recovery(f, "Docker away -> refused docker_unavailable",
	    gwt_mono_ms() - t0);

	dkproxy_up();
	t0 = gwt_mono_ms();
	ms =
	    fxd_wait(f, 60000, provision_ok, NULL, "a provision after Docker");
	recovery(f, "Docker back -> first provision 200", ms);
	{
		char st[16];

		assert_int_equal(fxd_breaker(f, st, sizeof(st)), 0);
		assert_string_equal(st, "closed");
	}
	expect_books(f, 2);
	end(f);
}

static int
teardown_proxy(void **state)
{
	teardown(state);
	dkproxy_stop();
	if (proxy_sock[0] != '\0')
		(void) unlink(proxy_sock);
	return 0;
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_never_healthy, setup, teardown_never),
	    cmocka_unit_test_setup_teardown(
	        test_label_smuggling, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_images, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_leftovers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_paused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crash_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_sigterm_slow_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_docker_away, setup, teardown_proxy),
	};
	int rv;

	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	fxd_global(argc > 1 ? argv[1] : NULL);
	/* FAULTS_ONLY=test_paused (a cmocka pattern) runs one case. */
	if (getenv("FAULTS_ONLY") != NULL)
		cmocka_set_test_filter(getenv("FAULTS_ONLY"));
	rv = cmocka_run_group_tests_name("faults", tests, NULL, NULL);
	curl_global_cleanup();
	return rv;
}
