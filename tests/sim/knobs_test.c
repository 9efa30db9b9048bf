/*
 * The simulator's fault knobs: each test starts its own `sim engine` with
 * one knob set and checks the fault appears (and, where it can, clears)
 * as README.md describes. Other tests rely on these faults to exercise the
 * orchestrator's health handling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/sim/simtest.h"

#define STATUS_PATH "/server/api?api_version=3&method=get_status"
#define NET_PATH                                                              \
	"/server/api?api_version=3&method=get_network_connection_status"

static int
teardown(void **state)
{
	(void) state;
	simtest_reap_all();
	return 0;
}

static void
nap_ms(long ms)
{
	struct timespec ts = {
	    .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* HTTP status of GET path (0 when none), *cc the curl result. */
static long
probe(int port, const char *path, long timeout_ms, int *cc)
{
	struct simtest_resp r;
	char url[512];
	long status;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	*cc = simtest_http(&r, "GET", url, NULL, NULL, timeout_ms);
	status = *cc == CURLE_OK ? r.status : 0;
	simtest_resp_free(&r);
	return status;
}

static long
status_of(int port, const char *path)
{
	int cc;

	return probe(port, path, 3000, &cc);
}

/* Polls get_status until it answers want; returns ms waited or -1. */
static int64_t
wait_status(int port, long want, int deadline_ms)
{
	int64_t start = simtest_now_ms();

	while (simtest_now_ms() - start < deadline_ms) {
		if (status_of(port, STATUS_PATH) == want)
			return simtest_now_ms() - start;
		nap_ms(50);
	}
	return -1;
}

/*
 * A hung get_status: the probe times out while another connection is
 * served promptly, and the hung connection gets no bytes at all.
 */
static void
assert_hangs_but_serves_others(int port)
{
	struct simtest_rd *rd = calloc(1, sizeof(*rd));
	int64_t t;
	int cc;

	assert_non_null(rd);
	assert_int_equal(probe(port, STATUS_PATH, 500, &cc), 0);
	assert_int_equal(cc, CURLE_OPERATION_TIMEDOUT);

	rd->fd = simtest_connect(port);
	assert_true(rd->fd >= 0);
	assert_int_equal(
	    simtest_send_str(
	        rd->fd, "GET " STATUS_PATH " HTTP/1.1\r\nHost: x\r\n\r\n"),
	    0);
	t = simtest_now_ms();
	assert_int_equal(probe(port, NET_PATH, 2000, &cc), 200);
	assert_true(simtest_now_ms() - t < 1000);
	assert_int_equal(simtest_rd_more(rd, 300), -1);
	assert_int_equal(rd->len, 0);
	close(rd->fd);
	free(rd);
}

static void
test_refuse_getstream(void **state)
{
	static const char *const env[] = {"SIM_REFUSE_GETSTREAM=1", NULL};
	static const char *const paths[] = {
	    "/ace/getstream?id=x&format=json&pid=p",
	    "/ace/manifest.m3u8?infohash=abc&format=json&pid=p",
	};
	struct simtest_proc p;
	size_t i;

	(void) state;
	assert_int_equal(simtest_start(&p, "engine", env, 0, 5000), 0);
	for (i = 0; i < 2; i++) {
		long status;
		json_t *j = simtest_get_json(p.port, paths[i], &status);
		const char *err;

		assert_int_equal(status, 200);
		assert_non_null(j);
		assert_true(json_is_null(json_object_get(j, "response")));
		err = json_string_value(json_object_get(j, "error"));
		assert_non_null(err);
		assert_true(strlen(err) > 0);
		json_decref(j);
	}
	/* Only getstream is refused; the engine itself is healthy. */
	assert_int_equal(status_of(p.port, STATUS_PATH), 200);
	simtest_stop(&p);
}

static void
test_startup_delay(void **state)
{
	struct simtest_proc p;
	char port_env[32];
	const char *env[] = {port_env, "SIM_STARTUP_DELAY_MS=1200", NULL};
	int port = simtest_free_port();
	int64_t start;

	(void) state;
	assert_true(port > 0);
	snprintf(port_env, sizeof(port_env), "HTTP_PORT=%d", port);
	start = simtest_now_ms();
	assert_int_equal(simtest_start(&p, "engine", env, port, 0), 0);
	/* Not even listening during the delay. */
	while (simtest_now_ms() - start < 800) {
		assert_false(simtest_can_connect(port));
		nap_ms(50);
	}
	assert_int_equal(simtest_wait_ready(&p, 5000), 0);
	assert_true(simtest_now_ms() - start >= 1150);
	assert_int_equal(status_of(port, STATUS_PATH), 200);
	simtest_stop(&p);
}

static void
test_fail_after(void **state)
{
	static const char *const env[] = {"SIM_HEALTH_FAIL_AFTER_S=1", NULL};
	struct simtest_proc p;
	int64_t start = simtest_now_ms();
	long status;
	json_t *j;

	(void) state;
	assert_int_equal(simtest_start(&p, "engine", env, 0, 5000), 0);
	assert_int_equal(status_of(p.port, STATUS_PATH), 200);
	assert_true(wait_status(p.port, 500, 5000) >= 0);
	assert_true(simtest_now_ms() - start >= 950);
	j = simtest_get_json(p.port, STATUS_PATH, &status);
	assert_int_equal(status, 500);
	assert_true(json_is_string(json_object_get(j, "error")));
	json_decref(j);
	/* Only the health probe fails. */
	assert_int_equal(status_of(p.port, NET_PATH), 200);
	simtest_stop(&p);
}

static void
test_hang_after(void **state)
{
	static const char *const env[] = {"SIM_HEALTH_HANG_AFTER_S=1", NULL};
	struct simtest_proc p;
	int64_t start = simtest_now_ms();
	int cc;

	(void) state;
	assert_int_equal(simtest_start(&p, "engine", env, 0, 5000), 0);
	assert_int_equal(status_of(p.port, STATUS_PATH), 200);
	/* Poll with short timeouts until the probe stops answering. */
	while (probe(p.port, STATUS_PATH, 300, &cc) == 200) {
		assert_true(simtest_now_ms() - start < 5000);
		nap_ms(50);
	}
	assert_int_equal(cc, CURLE_OPERATION_TIMEDOUT);
	assert_true(simtest_now_ms() - start >= 950);
	assert_hangs_but_serves_others(p.port);
	simtest_stop(&p);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void
test_fault_file(void **state)
{
	struct simtest_proc p;
	char path[512], env0[600];
	const char *env[] = {env0, NULL};

	(void) state;
	simtest_tmp_path(path, sizeof(path), "fault");
	unlink(path);
	snprintf(env0, sizeof(env0), "SIM_FAULT_FILE=%s", path);
	assert_int_equal(simtest_start(&p, "engine", env, 0, 5000), 0);
	assert_int_equal(status_of(p.port, STATUS_PATH), 200);
	write_file(path, "fail\n");
	assert_int_equal(status_of(p.port, STATUS_PATH), 500);
	write_file(path, "hang\n");
	assert_hangs_but_serves_others(p.port);
	write_file(path, "ok\n");
	assert_int_equal(status_of(p.port, STATUS_PATH), 200);
	write_file(path, "fail");
	assert_int_equal(status_of(p.port, STATUS_PATH), 500);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(status_of(p.port, STATUS_PATH), 200);
	simtest_stop(&p);
}

static void
test_sigusr1_toggles(void **state)
{
	struct simtest_proc p;

	(void) state;
	assert_int_equal(simtest_start(&p, "engine", NULL, 0, 5000), 0);
	assert_int_equal(status_of(p.port, STATUS_PATH), 200);
	assert_int_equal(kill(p.pid, SIGUSR1), 0);
	assert_true(wait_status(p.port, 500, 2000) >= 0);
	assert_int_equal(kill(p.pid, SIGUSR1), 0);
	assert_true(wait_status(p.port, 200, 2000) >= 0);
	simtest_stop(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_refuse_getstream, teardown),
	    cmocka_unit_test_teardown(test_startup_delay, teardown),
	    cmocka_unit_test_teardown(test_fail_after, teardown),
	    cmocka_unit_test_teardown(test_hang_after, teardown),
	    cmocka_unit_test_teardown(test_fault_file, teardown),
	    cmocka_unit_test_teardown(test_sigusr1_toggles, teardown),
	};
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 1;
	rc = cmocka_run_group_tests_name(
	    "sim fault knobs", tests, NULL, teardown);
	curl_global_cleanup();
	return rc;
}
