/*
 * `sim healthcheck`, the images' HEALTHCHECK: exit 0 only while the local
 * server answers healthy within 2 s, for both modes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/sim/simtest.h"

static int
teardown(void **state)
{
	(void) state;
	simtest_reap_all();
	return 0;
}

/* Runs `sim healthcheck` with SIM_MODE=mode and env0; returns its exit. */
static int
healthcheck(const char *mode, const char *env0, int64_t *took)
{
	const char *argv[] = {simtest_sim_path(), "healthcheck", NULL};
	char mode_env[64];
	const char *env[] = {mode_env, env0, NULL};

	snprintf(mode_env, sizeof(mode_env), "SIM_MODE=%s", mode);
	return simtest_run(argv, env, 10000, took);
}

static int
engine_check(int port, int64_t *took)
{
	char env0[32];

	snprintf(env0, sizeof(env0), "HTTP_PORT=%d", port);
	return healthcheck("engine", env0, took);
}

static void
test_engine_healthy_then_failing(void **state)
{
	struct simtest_proc p;
	int64_t took;
	int round;

	(void) state;
	assert_int_equal(simtest_start(&p, "engine", NULL, 0, 5000), 0);
	assert_int_equal(engine_check(p.port, &took), 0);
	assert_true(took < 2000);
	assert_int_equal(kill(p.pid, SIGUSR1), 0);
	/* The signal lands asynchronously; allow a few rounds. */
	for (round = 0; round < 20 && engine_check(p.port, NULL) == 0;
	     round++) {
		struct timespec ts = {.tv_nsec = 50 * 1000000};

		nanosleep(&ts, NULL);
	}
	assert_int_equal(engine_check(p.port, &took), 1);
	assert_true(took < 2000);
	simtest_stop(&p);
}

static void
test_engine_hung_times_out(void **state)
{
	static const char *const env[] = {"SIM_HEALTH_HANG_AFTER_S=0", NULL};
	struct simtest_proc p;
	int64_t took;

	(void) state;
	assert_int_equal(simtest_start(&p, "engine", env, 0, 5000), 0);
	assert_int_equal(engine_check(p.port, &took), 1);
	/* It waits out its 2 s deadline, and no longer. */
	assert_in_range(took, 1800, 4000);
	simtest_stop(&p);
}

static void
test_engine_port_from_conf(void **state)
{
	struct simtest_proc p;
	char conf[64];
	const char *env[] = {conf, NULL};
	int port = simtest_free_port();

	(void) state;
	snprintf(conf, sizeof(conf), "CONF=--http-port=%d", port);
	assert_int_equal(simtest_start(&p, "engine", env, port, 5000), 0);
	assert_int_equal(healthcheck("engine", conf, NULL), 0);
	simtest_stop(&p);
}

static void
test_nothing_listening(void **state)
{
	int64_t took;

	(void) state;
	assert_int_equal(engine_check(simtest_free_port(), &took), 1);
	assert_true(took < 2000);
}

static void
test_gluetun_follows_vpn(void **state)
{
	struct simtest_proc p;
	struct simtest_resp r;
	char env0[40], url[128];

	(void) state;
	assert_int_equal(simtest_start(&p, "gluetun", NULL, 0, 5000), 0);
	snprintf(env0, sizeof(env0), "GLUETUN_API_PORT=%d", p.port);
	snprintf(
	    url, sizeof(url), "http://127.0.0.1:%d/v1/vpn/status", p.port);
	assert_int_equal(healthcheck("gluetun", env0, NULL), 0);

	assert_int_equal(simtest_http(&r, "PUT", url,
	                     "{\"status\":\"stopped\"}", NULL, 3000),
	    CURLE_OK);
	assert_int_equal(r.status, 200);
	simtest_resp_free(&r);
	assert_int_equal(healthcheck("gluetun", env0, NULL), 1);

	assert_int_equal(simtest_http(&r, "PUT", url,
	                     "{\"status\":\"running\"}", NULL, 3000),
	    CURLE_OK);
	simtest_resp_free(&r);
	assert_int_equal(healthcheck("gluetun", env0, NULL), 0);
	simtest_stop(&p);
}

/* Runs `sim healthcheck` in gluetun mode against port with env1, env2. */
static int
gluetun_check(int port, const char *env1, const char *env2)
{
	const char *argv[] = {simtest_sim_path(), "healthcheck", NULL};
	char port_env[40];
	const char *env[] = {"SIM_MODE=gluetun", port_env, env1, env2, NULL};

	snprintf(port_env, sizeof(port_env), "GLUETUN_API_PORT=%d", port);
	return simtest_run(argv, env, 10000, NULL);
}

/* A protected control server: the image's healthcheck carries the same
 * credentials (the container's environment), so it stays healthy. */
static void
test_gluetun_with_credentials(void **state)
{
	static const char *const key_env[] = {"SIM_API_KEY=k1", NULL};
	static const char *const basic_env[] = {
	    "SIM_API_USER=u", "SIM_API_PASSWORD=p", NULL};
	struct simtest_proc p;

	(void) state;
	assert_int_equal(simtest_start(&p, "gluetun", key_env, 0, 5000), 0);
	assert_int_equal(gluetun_check(p.port, "SIM_API_KEY=k1", NULL), 0);
	assert_int_equal(gluetun_check(p.port, "SIM_API_KEY=k2", NULL), 1);
	assert_int_equal(gluetun_check(p.port, NULL, NULL), 1);
	simtest_stop(&p);
	assert_int_equal(simtest_start(&p, "gluetun", basic_env, 0, 5000), 0);
	assert_int_equal(
	    gluetun_check(p.port, "SIM_API_USER=u", "SIM_API_PASSWORD=p"), 0);
	assert_int_equal(
	    gluetun_check(p.port, "SIM_API_USER=u", "SIM_API_PASSWORD=q"), 1);
	simtest_stop(&p);
}

/* An old Gluetun: the healthcheck asks the route it has. */
static void
test_gluetun_old_generation(void **state)
{
	static const char *const env[] = {"SIM_GLUETUN_API=old", NULL};
	struct simtest_proc p;

	(void) state;
	assert_int_equal(simtest_start(&p, "gluetun", env, 0, 5000), 0);
	assert_int_equal(
	    gluetun_check(p.port, "SIM_GLUETUN_API=old", NULL), 0);
	/* Without the knob it asks /v1/vpn/status, which old Gluetun lacks. */
	assert_int_equal(gluetun_check(p.port, NULL, NULL), 1);
	simtest_stop(&p);
}

static void
test_unknown_mode_is_usage_error(void **state)
{
	const char *argv[] = {simtest_sim_path(), "frobnicate", NULL};

	(void) state;
	assert_int_equal(simtest_run(argv, NULL, 5000, NULL), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_engine_healthy_then_failing, teardown),
	    cmocka_unit_test_teardown(test_engine_hung_times_out, teardown),
	    cmocka_unit_test_teardown(test_engine_port_from_conf, teardown),
	    cmocka_unit_test_teardown(test_nothing_listening, teardown),
	    cmocka_unit_test_teardown(test_gluetun_follows_vpn, teardown),
	    cmocka_unit_test_teardown(test_gluetun_with_credentials, teardown),
	    cmocka_unit_test_teardown(test_gluetun_old_generation, teardown),
	    cmocka_unit_test_teardown(
	        test_unknown_mode_is_usage_error, teardown),
	};
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 1;
	rc = cmocka_run_group_tests_name(
	    "sim healthcheck", tests, NULL, teardown);
	curl_global_cleanup();
	return rc;
}
