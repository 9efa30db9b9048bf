/*
 * orch_http_batch against real simulator processes (tools/sim) on
 * loopback ports: many engines probed at once, a hung engine that delays
 * only itself, a failing one, a closed port, a real stream's stats through
 * its stat_url's path, Gluetun's status and port (GET and PUT), bodies
 * over the cap, bad requests, connection reuse across runs, the parallel
 * cap, and the callback's contract (once per request, on this thread, in
 * completion order).
 *
 * Nothing sleeps and hopes: children are waited for with deadlines, and
 * timing assertions carry wide margins (healthy answers take milliseconds;
 * the bounds are in seconds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/base/buf.h"
#include "src/probe/engine.h"
#include "src/probe/http_multi.h"
#include "tests/probe/probe_sim.h"

#define MANY 50
#define READY_MS 20000
#define URL_MAX 512

static int
teardown(void **state)
{
	(void) state;
	psim_reap_all();
	return 0;
}

/* Starts n sims of one mode and waits for all under one deadline. */
static void
start_sims(psim *s, size_t n, const char *mode, const char *const *env)
{
	int64_t deadline = psim_now_ms() + READY_MS;
	size_t i;

	for (i = 0; i < n; i++)
		assert_int_equal(psim_spawn(&s[i], mode, env), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(psim_wait_ready(&s[i], deadline), 0);
}

static void
stop_sims(psim *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		psim_stop(&s[i]);
}

static void
url_of(char *buf, int port, const char *path)
{
	snprintf(buf, URL_MAX, "http://127.0.0.1:%d%s", port, path);
}

/* What the completion callback saw. */
typedef struct rec {
	int64_t t0;
	size_t n;           /* callbacks so far */
	size_t order[128];  /* request indexes in completion order */
	int calls[128];     /* callbacks per request */
	int64_t at_ms[128]; /* completion time since t0, per request */
	pthread_t thread;
	bool wrong;         /* a callback broke its contract */
	orch_http_batch *b; /* when set, the callback tries to re-enter */
	orch_err reenter;
} rec;

static void
rec_start(rec *r)
{
	memset(r, 0, sizeof(*r));
	r->thread = pthread_self();
	r->reenter = ORCH_OK;
	r->t0 = psim_now_ms();
}

static void
on_done(void *arg, orch_http_req *req, size_t idx)
{
	rec *r = arg;

	if (!pthread_equal(r->thread, pthread_self()) || !req->done ||
	    idx >= 128 || r->n >= 128) {
		r->wrong = true;
		return;
	}
	r->calls[idx]++;
	r->order[r->n++] = idx;
	r->at_ms[idx] = psim_now_ms() - r->t0;
	if (r->b != NULL) {
		orch_http_req again = ORCH_HTTP_REQ_INIT;

		again.url = "http://127.0.0.1:1/";
		r->reenter =
		    orch_http_batch_run(r->b, &again, 1, 0, NULL, NULL);
		orch_http_req_fini(&again);
	}
}

/* Every request completed exactly once, on the calling thread. */
static void
assert_all_once(const rec *r, size_t n)
{
	size_t i;

	assert_false(r->wrong);
	assert_int_equal(r->n, n);
	for (i = 0; i < n; i++)
		assert_int_equal(r->calls[i], 1);
}

static bool
healthy(orch_http_req *req, char *why, size_t whylen)
{
	return req->err == ORCH_OK &&
	       orch_probe_parse_health(
	           req->status, req->body.data, req->body.len, why, whylen);
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	orch_buf_append(arg, data, size * nmemb);
	return size * nmemb;
}

/* A plain libcurl GET (not the code under test), parsed as JSON. */
static json_t *
easy_get_json(const char *url)
{
	orch_buf b = ORCH_BUF_INIT;
	CURL *h = curl_easy_init();
	json_t *j = NULL;
	long status = 0;

	assert_non_null(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (curl_easy_perform(h) == CURLE_OK &&
	    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) ==
	        CURLE_OK &&
	    status == 200)
		j = json_loadb(b.data, b.len, 0, NULL);
	curl_easy_cleanup(h);
	orch_buf_fini(&b);
	assert_non_null(j);
	return j;
}

/* A getstream on the sim; fills the session's URLs. */
static void
getstream(
    int port, const char *id, char *stat_url, char *cmd_url, char *play_url)
{
	char url[URL_MAX];
	json_t *j, *r;

	snprintf(url, sizeof(url),
	    "http://127.0.0.1:%d/ace/getstream?id=%s&format=json"
	    "&pid=0b4c5a0e-52b4-4a8e-9c36-1f5a2f3e8d11",
	    port, id);
	j = easy_get_json(url);
	assert_true(json_is_null(json_object_get(j, "error")));
	r = json_object_get(j, "response");
	assert_true(json_is_object(r));
	snprintf(stat_url, URL_MAX, "%s",
	    json_string_value(json_object_get(r, "stat_url")));
	snprintf(cmd_url, URL_MAX, "%s",
	    json_string_value(json_object_get(r, "command_url")));
	snprintf(play_url, URL_MAX, "%s",
	    json_string_value(json_object_get(r, "playback_url")));
	json_decref(j);
	assert_true(strncmp(stat_url, "http://", 7) == 0);
}

static void
fini_reqs(orch_http_req *reqs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		orch_http_req_fini(&reqs[i]);
}

/* ------------------------------------------------------------------------ */

static void
test_many_healthy_and_reuse(void **state)
{
	static psim sims[MANY];
	static char urls[MANY][URL_MAX];
	orch_http_req reqs[MANY];
	orch_http_batch *b;
	rec r;
	size_t i;
	int round;

	(void) state;
	start_sims(sims, MANY, "engine", NULL);
	assert_int_equal(orch_http_batch_open(&b, NULL), ORCH_OK);
	memset(reqs, 0, sizeof(reqs));
	for (i = 0; i < MANY; i++) {
		url_of(urls[i], sims[i].port, ORCH_PROBE_HEALTH_PATH);
		reqs[i].url = urls[i];
		reqs[i].timeout_ms = 5000;
	}
	/* The second round runs on the first round's connections. */
	for (round = 0; round < 3; round++) {
		rec_start(&r);
		assert_int_equal(
		    orch_http_batch_run(b, reqs, MANY, 0, on_done, &r),
		    ORCH_OK);
		print_message("round %d: %d engines probed in %lld ms\n",
		    round, MANY, (long long) (psim_now_ms() - r.t0));
		assert_all_once(&r, MANY);
		for (i = 0; i < MANY; i++) {
			char why[128];

			assert_true(reqs[i].done);
			assert_int_equal(reqs[i].status, 200);
			if (!healthy(&reqs[i], why, sizeof(why)))
				fail_msg("engine %zu: %s / %s", i, why,
				    reqs[i].error);
			assert_string_equal(reqs[i].error, "");
			assert_int_equal(
			    reqs[i].new_conns, round == 0 ? 1 : 0);
		}
	}
	orch_http_batch_close(b);
	fini_reqs(reqs, MANY);
	stop_sims(sims, MANY);
}

/* One engine hangs its health endpoint: only its own request waits. */
static void
test_hung_engine_delays_only_itself(void **state)
{
	const char *hang_env[] = {"SIM_HEALTH_HANG_AFTER_S=0", NULL};
	enum { OK_N = 8, TIMEOUT = 3000 };
	psim hung, ok[OK_N];
	char urls[OK_N + 1][URL_MAX];
	orch_http_req reqs[OK_N + 1];
	orch_http_batch *b;
	int64_t t0, total;
	rec r;
	size_t i;

	(void) state;
	assert_int_equal(psim_start(&hung, "engine", hang_env, READY_MS), 0);
	start_sims(ok, OK_N, "engine", NULL);
	assert_int_equal(orch_http_batch_open(&b, NULL), ORCH_OK);
	memset(reqs, 0, sizeof(reqs));
	/* The hung engine comes first, so it is started first. */
	url_of(urls[0], hung.port, ORCH_PROBE_HEALTH_PATH);
	for (i = 0; i < OK_N; i++)
		url_of(urls[i + 1], ok[i].port, ORCH_PROBE_HEALTH_PATH);
	for (i = 0; i <= OK_N; i++) {
		reqs[i].url = urls[i];
		reqs[i].timeout_ms = TIMEOUT;
	}
	rec_start(&r);
	t0 = psim_now_ms();
	assert_int_equal(
	    orch_http_batch_run(b, reqs, OK_N + 1, 0, on_done, &r), ORCH_OK);
	total = psim_now_ms() - t0;
	assert_all_once(&r, OK_N + 1);
	/* Every healthy engine was reported long before the hung one timed
	 * out, and the hung one last. */
	for (i = 1; i <= OK_N; i++) {
		assert_true(healthy(&reqs[i], NULL, 0));
		if (r.at_ms[i] >= TIMEOUT / 2)
			fail_msg("healthy engine %zu reported after %lld ms",
			    i, (long long) r.at_ms[i]);
		assert_true(reqs[i].elapsed_ms < TIMEOUT / 2);
	}
	assert_int_equal(r.order[OK_N], 0);
	print_message(
	    "healthy engines reported by %lld ms, hung one at %lld ms"
	    " (timeout %d ms)\n",
	    (long long) r.at_ms[r.order[OK_N - 1]], (long long) r.at_ms[0],
	    TIMEOUT);
	assert_int_equal(reqs[0].err, ORCH_ETIMEDOUT);
	assert_int_equal(reqs[0].curl_code, CURLE_OPERATION_TIMEDOUT);
	assert_int_equal(reqs[0].status, 0);
	assert_non_null(strstr(reqs[0].error, "timed out"));
	assert_int_equal(reqs[0].body.len, 0);
	assert_true(reqs[0].elapsed_ms >= TIMEOUT - 100);
	assert_true(reqs[0].elapsed_ms < TIMEOUT + 2000);
	assert_true(total < TIMEOUT + 2000);
	/* The next period: the healthy ones still reuse their connections;
	 * the hung one's was dropped, so it connects again (and times out
	 * again, alone). */
	for (i = 0; i <= OK_N; i++)
		reqs[i].timeout_ms = i == 0 ? 500 : TIMEOUT;
	rec_start(&r);
	assert_int_equal(
	    orch_http_batch_run(b, reqs, OK_N + 1, 0, on_done, &r), ORCH_OK);
	assert_all_once(&r, OK_N + 1);
	assert_int_equal(reqs[0].err, ORCH_ETIMEDOUT);
	assert_int_equal(reqs[0].new_conns, 1);
	for (i = 1; i <= OK_N; i++) {
		assert_true(healthy(&reqs[i], NULL, 0));
		assert_int_equal(reqs[i].new_conns, 0);
	}
	orch_http_batch_close(b);
	fini_reqs(reqs, OK_N + 1);
	psim_stop(&hung);
	stop_sims(ok, OK_N);
}

/* With fewer slots than requests, a hung request holds just one slot. */
static void
test_parallel_cap(void **state)
{
	const char *hang_env[] = {"SIM_HEALTH_HANG_AFTER_S=0", NULL};
	enum { OK_N = 6, TIMEOUT = 1000 };
	psim hung, ok[OK_N];
	char urls[OK_N + 1][URL_MAX];
	orch_http_req reqs[OK_N + 1];
	orch_http_batch *b;
	rec r;
	size_t i;

	(void) state;
	assert_int_equal(psim_start(&hung, "engine", hang_env, READY_MS), 0);
	start_sims(ok, OK_N, "engine", NULL);
	assert_int_equal(orch_http_batch_open(&b, NULL), ORCH_OK);
	memset(reqs, 0, sizeof(reqs));
	url_of(urls[0], hung.port, ORCH_PROBE_HEALTH_PATH);
	for (i = 0; i < OK_N; i++)
		url_of(urls[i + 1], ok[i].port, ORCH_PROBE_HEALTH_PATH);
	for (i = 0; i <= OK_N; i++) {
		reqs[i].url = urls[i];
		reqs[i].timeout_ms = TIMEOUT;
	}
	/* Two slots: the healthy ones cycle through the free one. */
	rec_start(&r);
	assert_int_equal(
	    orch_http_batch_run(b, reqs, OK_N + 1, 2, on_done, &r), ORCH_OK);
	assert_all_once(&r, OK_N + 1);
	assert_int_equal(r.order[OK_N], 0);
	assert_int_equal(reqs[0].err, ORCH_ETIMEDOUT);
	for (i = 1; i <= OK_N; i++) {
		assert_true(healthy(&reqs[i], NULL, 0));
		assert_true(r.at_ms[i] < TIMEOUT / 2);
	}
	/* One slot: strictly one after the other, in array order, so the
	 * hung one holds up the rest (the documented cost of a cap). */
	rec_start(&r);
	assert_int_equal(
	    orch_http_batch_run(b, reqs, OK_N + 1, 1, on_done, &r), ORCH_OK);
	assert_all_once(&r, OK_N + 1);
	for (i = 0; i <= OK_N; i++)
		assert_int_equal(r.order[i], i);
	for (i = 1; i <= OK_N; i++) {
		assert_true(healthy(&reqs[i], NULL, 0));
		assert_true(r.at_ms[i] >= TIMEOUT - 100);
	}
	orch_http_batch_close(b);
	fini_reqs(reqs, OK_N + 1);
	psim_stop(&hung);
	stop_sims(ok, OK_N);
}

/* A 500, a closed port and a healthy engine in one batch. */
static void
test_failing_and_closed(void **state)
{
	const char *fail_env[] = {"SIM_HEALTH_FAIL_AFTER_S=0", NULL};
	psim failing, good;
	char urls[3][URL_MAX], why[128];
	orch_http_req reqs[3];
	int fd, closed;
	rec r;

	(void) state;
	assert_int_equal(
	    psim_start(&failing, "engine", fail_env, READY_MS), 0);
	assert_int_equal(psim_start(&good, "engine", NULL, READY_MS), 0);
	closed = psim_closed_port(&fd);
	assert_true(closed > 0);
	url_of(urls[0], failing.port, ORCH_PROBE_HEALTH_PATH);
	url_of(urls[1], closed, ORCH_PROBE_HEALTH_PATH);
	url_of(urls[2], good.port, ORCH_PROBE_HEALTH_PATH);
	memset(reqs, 0, sizeof(reqs));
	for (int i = 0; i < 3; i++) {
		reqs[i].url = urls[i];
		reqs[i].timeout_ms = 5000;
	}
	rec_start(&r);
	assert_int_equal(orch_http_run(reqs, 3, 0, on_done, &r), ORCH_OK);
	assert_all_once(&r, 3);
	/* 500: the transfer worked, the engine is not healthy. */
	assert_int_equal(reqs[0].err, ORCH_OK);
	assert_int_equal(reqs[0].status, 500);
	assert_false(healthy(&reqs[0], why, sizeof(why)));
	assert_string_equal(why, "HTTP 500");
	/* Closed port: refused at once, no status. */
	assert_int_equal(reqs[1].err, ORCH_EUNAVAIL);
	assert_int_equal(reqs[1].curl_code, CURLE_COULDNT_CONNECT);
	assert_int_equal(reqs[1].status, 0);
	assert_true(reqs[1].error[0] != '\0');
	assert_true(reqs[1].elapsed_ms < 1000);
	assert_false(healthy(&reqs[1], NULL, 0));
	assert_true(healthy(&reqs[2], NULL, 0));
	close(fd);
	fini_reqs(reqs, 3);
	psim_stop(&failing);
	psim_stop(&good);
}

/* A real session's stats, fetched by path from the engine's address. */
static void
test_stream_stats(void **state)
{
	psim eng;
	char stat_url[URL_MAX], cmd_url[URL_MAX], play_url[URL_MAX];
	char path[URL_MAX], other[URL_MAX], url[URL_MAX], why[128];
	orch_http_req req = ORCH_HTTP_REQ_INIT;
	orch_http_batch *b;
	orch_stat st;
	const char *tail;
	int64_t now = 1700000000000000;

	(void) state;
	assert_int_equal(psim_start(&eng, "engine", NULL, READY_MS), 0);
	getstream(eng.port, "probe-test", stat_url, cmd_url, play_url);
	assert_int_equal(
	    orch_probe_stat_path(stat_url, path, sizeof(path)), ORCH_OK);
	assert_true(strncmp(path, "/ace/stat/", 10) == 0);
	/* The same stat_url naming another host yields the same path. */
	tail = strstr(stat_url + 7, "/");
	assert_non_null(tail);
	snprintf(other, sizeof(other), "http://evil.invalid:1%s", tail);
	assert_int_equal(
	    orch_probe_stat_path(other, url, sizeof(url)), ORCH_OK);
	assert_string_equal(url, path);

	assert_int_equal(orch_http_batch_open(&b, NULL), ORCH_OK);
	url_of(url, eng.port, path);
	req.url = url;
	req.timeout_ms = 5000;
	assert_int_equal(
	    orch_http_batch_run(b, &req, 1, 0, NULL, NULL), ORCH_OK);
	assert_int_equal(req.err, ORCH_OK);
	assert_int_equal(orch_probe_parse_stat(req.status, req.body.data,
	                     req.body.len, now, &st, why, sizeof(why)),
	    ORCH_PROBE_OK);
	assert_int_equal(st.ts_us, now);
	assert_int_equal(st.has,
	    ORCH_STAT_PEERS | ORCH_STAT_SPEED_DOWN | ORCH_STAT_SPEED_UP |
	        ORCH_STAT_DOWNLOADED | ORCH_STAT_UPLOADED | ORCH_STAT_STATUS);
	assert_string_equal(st.status, "dl");
	assert_int_equal(st.peers, 12);
	assert_true(st.speed_down > 0);
	assert_true(st.speed_up >= 0);
	assert_true(st.downloaded >= 1048576);
	assert_true(st.uploaded >= 65536);

	/* Stop the session through its command path; the next stat says it
	 * is gone. */
	assert_int_equal(
	    orch_probe_stat_path(stat_url, path, sizeof(path)), ORCH_OK);
	tail = strstr(cmd_url + 7, "/ace/cmd/");
	assert_non_null(tail);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s?method=stop",
	    eng.port, tail);
	assert_int_equal(
	    orch_http_batch_run(b, &req, 1, 0, NULL, NULL), ORCH_OK);
	assert_int_equal(req.status, 200);
	assert_non_null(strstr(req.body.data, "\"ok\""));
	url_of(url, eng.port, path);
	assert_int_equal(
	    orch_http_batch_run(b, &req, 1, 0, NULL, NULL), ORCH_OK);
	assert_int_equal(orch_probe_parse_stat(req.status, req.body.data,
	                     req.body.len, now, &st, why, sizeof(why)),
	    ORCH_PROBE_GONE);
	assert_non_null(strstr(why, ORCH_PROBE_GONE_TEXT));
	orch_http_batch_close(b);
	orch_http_req_fini(&req);
	psim_stop(&eng);
}

/* Gluetun: status and forwarded port, both API generations, PUT flips. */
static void
test_gluetun(void **state)
{
	const char *env[] = {"SIM_FORWARDED_PORT=40123", NULL};
	static const char *paths[] = {"/v1/openvpn/status", "/v1/vpn/status",
	    "/v1/openvpn/portforwarded", "/v1/portforward"};
	psim g;
	char urls[4][URL_MAX], put_url[URL_MAX];
	orch_http_req reqs[4], put = ORCH_HTTP_REQ_INIT;
	orch_http_batch *b;
	int round;

	(void) state;
	assert_int_equal(psim_start(&g, "gluetun", env, READY_MS), 0);
	assert_int_equal(orch_http_batch_open(&b, NULL), ORCH_OK);
	memset(reqs, 0, sizeof(reqs));
	for (int i = 0; i < 4; i++) {
		url_of(urls[i], g.port, paths[i]);
		reqs[i].url = urls[i];
		reqs[i].timeout_ms = 3000;
	}
	url_of(put_url, g.port, "/v1/vpn/status");
	put.url = put_url;
	put.method = "PUT";
	put.timeout_ms = 3000;
	for (round = 0; round < 3; round++) {
		bool want = round != 1;
		bool running = !want;
		int port = -1;

		assert_int_equal(
		    orch_http_batch_run(b, reqs, 4, 0, NULL, NULL), ORCH_OK);
		for (int i = 0; i < 2; i++) {
			assert_true(orch_probe_parse_vpn_status(reqs[i].status,
			    reqs[i].body.data, reqs[i].body.len, &running,
			    NULL, 0));
			assert_int_equal(running, want);
		}
		for (int i = 2; i < 4; i++) {
			assert_true(orch_probe_parse_forwarded_port(
			    reqs[i].status, reqs[i].body.data,
			    reqs[i].body.len, &port, NULL, 0));
			assert_int_equal(port, want ? 40123 : 0);
		}
		/* Flip it for the next round: stopped, then running. */
		put.send = round == 0 ? "{\"status\":\"stopped\"}"
		                      : "{\"status\":\"running\"}";
		put.send_len = strlen(put.send);
		assert_int_equal(
		    orch_http_batch_run(b, &put, 1, 0, NULL, NULL), ORCH_OK);
		assert_int_equal(put.err, ORCH_OK);
		assert_int_equal(put.status, 200);
	}
	/* The body really is sent: a bad one is refused. */
	put.send = "{\"status\":\"sideways\"}";
	put.send_len = strlen(put.send);
	assert_int_equal(
	    orch_http_batch_run(b, &put, 1, 0, NULL, NULL), ORCH_OK);
	assert_int_equal(put.status, 400);
	/* No body at all: Content-Length 0 goes out, the server answers. */
	put.send = NULL;
	put.send_len = 0;
	assert_int_equal(
	    orch_http_batch_run(b, &put, 1, 0, NULL, NULL), ORCH_OK);
	assert_int_equal(put.err, ORCH_OK);
	assert_int_equal(put.status, 400);
	orch_http_batch_close(b);
	fini_reqs(reqs, 4);
	orch_http_req_fini(&put);
	psim_stop(&g);
}

/* An endless stream and a cap below a health answer: "body too large". */
static void
test_body_cap(void **state)
{
	const char *env[] = {"SIM_BITRATE_KBPS=20000", NULL};
	psim eng;
	char stat_url[URL_MAX], cmd_url[URL_MAX], play_url[URL_MAX];
	char health[URL_MAX];
	orch_http_req req = ORCH_HTTP_REQ_INIT;
	orch_http_opts opts = {.max_body = 16};
	orch_http_batch *b;

	(void) state;
	assert_int_equal(psim_start(&eng, "engine", env, READY_MS), 0);
	getstream(eng.port, "cap-test", stat_url, cmd_url, play_url);
	/* Chunked and endless: cut by the write callback at 64 KiB. */
	req.url = play_url;
	req.timeout_ms = 10000;
	assert_int_equal(orch_http_run(&req, 1, 0, NULL, NULL), ORCH_OK);
	assert_int_equal(req.err, ORCH_EEXHAUSTED);
	assert_int_equal(req.status, 200);
	assert_non_null(strstr(req.error, "body too large"));
	assert_int_equal(req.body.len, 0);
	assert_true(req.elapsed_ms < 8000);
	/* With a Content-Length over the cap: refused before the body. */
	assert_int_equal(orch_http_batch_open(&b, &opts), ORCH_OK);
	url_of(health, eng.port, ORCH_PROBE_HEALTH_PATH);
	req.url = health;
	assert_int_equal(
	    orch_http_batch_run(b, &req, 1, 0, NULL, NULL), ORCH_OK);
	assert_int_equal(req.err, ORCH_EEXHAUSTED);
	assert_non_null(strstr(req.error, "over 16 bytes"));
	orch_http_batch_close(b);
	/* Exactly at the cap is fine. */
	opts.max_body = strlen("{\"result\":{\"status\":1},\"error\":null}");
	assert_int_equal(orch_http_batch_open(&b, &opts), ORCH_OK);
	assert_int_equal(
	    orch_http_batch_run(b, &req, 1, 0, NULL, NULL), ORCH_OK);
	assert_int_equal(req.err, ORCH_OK);
	assert_true(healthy(&req, NULL, 0));
	orch_http_batch_close(b);
	orch_http_req_fini(&req);
	psim_stop(&eng);
}

/* Bad requests fail alone; the good one in the same batch succeeds. */
static void
test_bad_requests(void **state)
{
	psim eng;
	char good[URL_MAX];
	orch_http_req reqs[6];
	rec r;

	(void) state;
	assert_int_equal(psim_start(&eng, "engine", NULL, READY_MS), 0);
	url_of(good, eng.port, ORCH_PROBE_HEALTH_PATH);
	memset(reqs, 0, sizeof(reqs));
	reqs[0].url = NULL;
	reqs[1].url = good;
	reqs[1].method = "HEAD";
	reqs[2].url = "ftp://127.0.0.1:1/x";
	reqs[3].url = "file:///etc/passwd";
	reqs[4].url = "http://[::1/";
	reqs[5].url = good;
	rec_start(&r);
	assert_int_equal(orch_http_run(reqs, 6, 2, on_done, &r), ORCH_OK);
	assert_all_once(&r, 6);
	for (int i = 0; i < 5; i++) {
		if (reqs[i].err != ORCH_EINVAL)
			fail_msg("req %d: err %d (%s)", i, reqs[i].err,
			    reqs[i].error);
		assert_true(reqs[i].error[0] != '\0');
		assert_int_equal(reqs[i].status, 0);
	}
	assert_true(healthy(&reqs[5], NULL, 0));
	fini_reqs(reqs, 6);
	psim_stop(&eng);
}

/* Arguments, re-entry from a callback, reuse of request structs. */
static void
test_api_contract(void **state)
{
	psim eng;
	char url[URL_MAX], first[256];
	orch_http_req req = ORCH_HTTP_REQ_INIT;
	orch_http_batch *b;
	rec r;
	int i;

	(void) state;
	assert_int_equal(orch_http_batch_open(NULL, NULL), ORCH_EINVAL);
	orch_http_batch_close(NULL);
	assert_int_equal(orch_http_batch_open(&b, NULL), ORCH_OK);
	assert_int_equal(
	    orch_http_batch_run(NULL, &req, 1, 0, NULL, NULL), ORCH_EINVAL);
	assert_int_equal(
	    orch_http_batch_run(b, NULL, 1, 0, NULL, NULL), ORCH_EINVAL);
	assert_int_equal(
	    orch_http_batch_run(b, NULL, 0, 0, NULL, NULL), ORCH_OK);
	assert_int_equal(orch_http_run(NULL, 1, 0, NULL, NULL), ORCH_EINVAL);

	assert_int_equal(psim_start(&eng, "engine", NULL, READY_MS), 0);
	url_of(url, eng.port, ORCH_PROBE_HEALTH_PATH);
	req.url = url;
	/* Re-entering the batch from its own callback is refused. */
	rec_start(&r);
	r.b = b;
	assert_int_equal(
	    orch_http_batch_run(b, &req, 1, 0, on_done, &r), ORCH_OK);
	assert_int_equal(r.reenter, ORCH_EPRECOND);
	assert_true(healthy(&req, NULL, 0));
	/* The same struct, run again and again: the body is replaced, not
	 * appended to, and its memory is kept. */
	snprintf(first, sizeof(first), "%s", req.body.data);
	for (i = 0; i < 20; i++) {
		char *data = req.body.data;

		assert_int_equal(
		    orch_http_batch_run(b, &req, 1, 0, NULL, NULL), ORCH_OK);
		assert_string_equal(req.body.data, first);
		assert_int_equal(req.body.len, strlen(first));
		assert_ptr_equal(req.body.data, data);
		assert_int_equal(req.new_conns, 0);
	}
	/* A larger run after a smaller one grows the pool. */
	{
		orch_http_req many[12];

		memset(many, 0, sizeof(many));
		for (i = 0; i < 12; i++)
			many[i].url = url;
		assert_int_equal(
		    orch_http_batch_run(b, many, 12, 0, NULL, NULL), ORCH_OK);
		for (i = 0; i < 12; i++)
			assert_true(healthy(&many[i], NULL, 0));
		fini_reqs(many, 12);
	}
	orch_http_batch_close(b);
	orch_http_req_fini(&req);
	psim_stop(&eng);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_many_healthy_and_reuse, teardown),
	    cmocka_unit_test_teardown(
	        test_hung_engine_delays_only_itself, teardown),
	    cmocka_unit_test_teardown(test_parallel_cap, teardown),
	    cmocka_unit_test_teardown(test_failing_and_closed, teardown),
	    cmocka_unit_test_teardown(test_stream_stats, teardown),
	    cmocka_unit_test_teardown(test_gluetun, teardown),
	    cmocka_unit_test_teardown(test_body_cap, teardown),
	    cmocka_unit_test_teardown(test_bad_requests, teardown),
	    cmocka_unit_test_teardown(test_api_contract, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, teardown);
}
