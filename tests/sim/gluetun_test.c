/*
 * Conformance of `sim gluetun` with the Gluetun table of
 * ENGINE_PROTOCOL.md: both API generations, the PUT a test uses to drop the
 * tunnel, and refusal of a bad body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "tests/sim/simtest.h"

static const char *const status_paths[] = {
    "/v1/openvpn/status", "/v1/vpn/status"};
static const char *const port_paths[] = {
    "/v1/openvpn/portforwarded", "/v1/portforward"};

static int
teardown(void **state)
{
	(void) state;
	simtest_reap_all();
	return 0;
}

static void
assert_vpn_status(int port, const char *want)
{
	size_t i;

	for (i = 0; i < 2; i++) {
		long status;
		json_t *j = simtest_get_json(port, status_paths[i], &status);

		assert_int_equal(status, 200);
		assert_non_null(j);
		assert_string_equal(
		    json_string_value(json_object_get(j, "status")), want);
		json_decref(j);
	}
}

static void
assert_forwarded(int port, json_int_t want)
{
	size_t i;

	for (i = 0; i < 2; i++) {
		long status;
		json_t *j = simtest_get_json(port, port_paths[i], &status);

		assert_int_equal(status, 200);
		assert_true(json_is_integer(json_object_get(j, "port")));
		assert_int_equal(
		    json_integer_value(json_object_get(j, "port")), want);
		json_decref(j);
	}
}

/* PUTs body to path; returns the HTTP status. */
static long
put(int port, const char *path, const char *body)
{
	struct simtest_resp r;
	char url[256];
	long status;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	assert_int_equal(
	    simtest_http(&r, "PUT", url, body, NULL, 3000), CURLE_OK);
	status = r.status;
	simtest_resp_free(&r);
	return status;
}

static void
test_defaults(void **state)
{
	struct simtest_proc p;

	(void) state;
	assert_int_equal(simtest_start(&p, "gluetun", NULL, 0, 5000), 0);
	assert_vpn_status(p.port, "running");
	assert_forwarded(p.port, 54321);
	simtest_stop(&p);
}

static void
test_env_settings(void **state)
{
	static const char *const env[] = {
	    "SIM_VPN_STATUS=stopped", "SIM_FORWARDED_PORT=40000", NULL};
	struct simtest_proc p;

	(void) state;
	assert_int_equal(simtest_start(&p, "gluetun", env, 0, 5000), 0);
	assert_vpn_status(p.port, "stopped");
	/* No tunnel, no forwarded port. */
	assert_forwarded(p.port, 0);
	assert_int_equal(
	    put(p.port, "/v1/vpn/status", "{\"status\":\"running\"}"), 200);
	assert_forwarded(p.port, 40000);
	simtest_stop(&p);
}

static void
test_put_flips_both_paths(void **state)
{
	struct simtest_proc p;
	size_t i;

	(void) state;
	assert_int_equal(simtest_start(&p, "gluetun", NULL, 0, 5000), 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(
		    put(p.port, status_paths[i], "{\"status\":\"stopped\"}"),
		    200);
		assert_vpn_status(p.port, "stopped");
		assert_forwarded(p.port, 0);
		assert_int_equal(put(p.port, status_paths[i],
		                     " { \"status\" : \"running\" }\n"),
		    200);
		assert_vpn_status(p.port, "running");
		assert_forwarded(p.port, 54321);
	}
	simtest_stop(&p);
}

static void
test_bad_body_400(void **state)
{
	static const char *const bad[] = {
	    "",
	    "stopped",
	    "{}",
	    "{\"status\":\"paused\"}",
	    "{\"status\":1}",
	    "{\"state\":\"stopped\"}",
	    "{\"status\":\"stopped\"",
	    "{\"status\":\"stopped\"} trailing",
	};
	struct simtest_proc p;
	size_t i;

	(void) state;
	assert_int_equal(simtest_start(&p, "gluetun", NULL, 0, 5000), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("body: '%s'\n", bad[i]);
		assert_int_equal(
		    put(p.port, "/v1/openvpn/status", bad[i]), 400);
	}
	/* Nothing changed. */
	assert_vpn_status(p.port, "running");
	simtest_stop(&p);
}

static void
test_unknown_and_wrong_method(void **state)
{
	struct simtest_proc p;
	long status;
	json_t *j;

	(void) state;
	assert_int_equal(simtest_start(&p, "gluetun", NULL, 0, 5000), 0);
	j = simtest_get_json(p.port, "/v1/nothing", &status);
	assert_int_equal(status, 404);
	assert_true(json_is_object(j));
	json_decref(j);
	assert_int_equal(put(p.port, "/v1/portforward", "{}"), 405);
	simtest_stop(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_defaults, teardown),
	    cmocka_unit_test_teardown(test_env_settings, teardown),
	    cmocka_unit_test_teardown(test_put_flips_both_paths, teardown),
	    cmocka_unit_test_teardown(test_bad_body_400, teardown),
	    cmocka_unit_test_teardown(test_unknown_and_wrong_method, teardown),
	};
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 1;
	rc = cmocka_run_group_tests_name(
	    "sim gluetun conformance", tests, NULL, teardown);
	curl_global_cleanup();
	return rc;
}
