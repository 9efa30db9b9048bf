/*
 * Conformance of `sim gluetun` with the Gluetun table of
 * ENGINE_PROTOCOL.md: both API generations, the PUT a test uses to drop the
 * tunnel, and refusal of a bad body; and the knobs the orchestrator's VPN
 * tests need: a control server that wants an API key or basic auth (401
 * "Unauthorized" as Gluetun answers), the forwarded port changed with
 * Gluetun's own PUT /v1/portforward, and an old Gluetun without the
 * /v1/vpn and /v1/portforward routes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
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

static void
assert_forwarded_old(int port, json_int_t want)
{
	long status;
	json_t *j = simtest_get_json(port, port_paths[0], &status);

	assert_int_equal(status, 200);
	assert_int_equal(json_integer_value(json_object_get(j, "port")), want);
	json_decref(j);
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
	assert_int_equal(put(p.port, "/v1/openvpn/portforwarded", "{}"), 405);
	simtest_stop(&p);
}

/* GET path with the extra headers; returns the status, *body the body
 * (the caller's, or NULL) and the WWW-Authenticate value into wa. */
static long
get_with(int port, const char *path, const char *const *headers, char **body,
    char *wa, size_t wasz)
{
	struct simtest_resp r;
	char url[256];
	long status;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	assert_int_equal(
	    simtest_http(&r, "GET", url, NULL, headers, 3000), CURLE_OK);
	status = r.status;
	if (wa != NULL)
		snprintf(wa, wasz, "%s", r.www_authenticate);
	if (body != NULL) {
		*body = r.body;
		r.body = NULL;
	}
	simtest_resp_free(&r);
	return status;
}

static void
test_api_key(void **state)
{
	static const char *const env[] = {"SIM_API_KEY=s3cret", NULL};
	static const char *const good[] = {"X-API-Key: s3cret", NULL};
	static const char *const wrong[] = {"X-API-Key: s3cre", NULL};
	static const char *const paths[] = {"/v1/vpn/status",
	    "/v1/openvpn/status", "/v1/portforward",
	    "/v1/openvpn/portforwarded"};
	struct simtest_proc p;
	char *body = NULL, wa[256];

	(void) state;
	assert_int_equal(simtest_start(&p, "gluetun", env, 0, 5000), 0);
	for (size_t i = 0; i < 4; i++) {
		print_message("path: %s\n", paths[i]);
		assert_int_equal(
		    get_with(p.port, paths[i], NULL, &body, wa, sizeof(wa)),
		    401);
		/* Gluetun's http.Error text, and no basic challenge. */
		assert_string_equal(body, "Unauthorized\n");
		assert_string_equal(wa, "");
		free(body);
		assert_int_equal(
		    get_with(p.port, paths[i], wrong, NULL, NULL, 0), 401);
		assert_int_equal(
		    get_with(p.port, paths[i], good, NULL, NULL, 0), 200);
	}
	/* Gluetun also takes the key as ?api_key=. */
	assert_int_equal(get_with(p.port, "/v1/vpn/status?api_key=s3cret",
	                     NULL, NULL, NULL, 0),
	    200);
	assert_int_equal(get_with(p.port, "/v1/vpn/status?api_key=nope", NULL,
	                     NULL, NULL, 0),
	    401);
	/* A PUT without the key changes nothing. */
	assert_int_equal(
	    put(p.port, "/v1/vpn/status", "{\"status\":\"stopped\"}"), 401);
	assert_int_equal(
	    get_with(p.port, "/v1/vpn/status", good, &body, NULL, 0), 200);
	assert_non_null(strstr(body, "running"));
	free(body);
	/* Unknown routes stay 404, as Gluetun checks the route first. */
	assert_int_equal(
	    get_with(p.port, "/v1/nothing", NULL, NULL, NULL, 0), 404);
	simtest_stop(&p);
}

static void
test_basic_auth(void **state)
{
	static const char *const env[] = {
	    "SIM_API_USER=orch", "SIM_API_PASSWORD=pw", NULL};
	/* base64("orch:pw") and base64("orch:px") */
	static const char *const good[] = {
	    "Authorization: Basic b3JjaDpwdw==", NULL};
	static const char *const wrong[] = {
	    "Authorization: Basic b3JjaDpweA==", NULL};
	static const char *const key[] = {"X-API-Key: pw", NULL};
	struct simtest_proc p;
	char wa[256];

	(void) state;
	assert_int_equal(simtest_start(&p, "gluetun", env, 0, 5000), 0);
	assert_int_equal(
	    get_with(p.port, "/v1/vpn/status", NULL, NULL, wa, sizeof(wa)),
	    401);
	assert_string_equal(
	    wa, "Basic realm=\"restricted\", charset=\"UTF-8\"");
	assert_int_equal(
	    get_with(p.port, "/v1/vpn/status", wrong, NULL, NULL, 0), 401);
	assert_int_equal(
	    get_with(p.port, "/v1/vpn/status", key, NULL, NULL, 0), 401);
	assert_int_equal(
	    get_with(p.port, "/v1/vpn/status", good, NULL, NULL, 0), 200);
	assert_int_equal(
	    get_with(p.port, "/v1/portforward", good, NULL, NULL, 0), 200);
	simtest_stop(&p);
}

static void
test_key_and_basic_roles(void **state)
{
	static const char *const env[] = {
	    "SIM_API_KEY=k", "SIM_API_USER=orch", "SIM_API_PASSWORD=pw", NULL};
	static const char *const basic[] = {
	    "Authorization: Basic b3JjaDpwdw==", NULL};
	static const char *const key[] = {"X-API-Key: k", NULL};
	struct simtest_proc p;

	(void) state;
	assert_int_equal(simtest_start(&p, "gluetun", env, 0, 5000), 0);
	assert_int_equal(
	    get_with(p.port, "/v1/vpn/status", NULL, NULL, NULL, 0), 401);
	assert_int_equal(
	    get_with(p.port, "/v1/vpn/status", key, NULL, NULL, 0), 200);
	assert_int_equal(
	    get_with(p.port, "/v1/vpn/status", basic, NULL, NULL, 0), 200);
	simtest_stop(&p);
}

static void
test_forwarded_port_change(void **state)
{
	struct simtest_proc p;
	long status;
	json_t *j;

	(void) state;
	assert_int_equal(simtest_start(&p, "gluetun", NULL, 0, 5000), 0);
	/* The new route carries the list too. */
	j = simtest_get_json(p.port, "/v1/portforward", &status);
	assert_int_equal(status, 200);
	assert_int_equal(
	    json_integer_value(json_array_get(json_object_get(j, "ports"), 0)),
	    54321);
	json_decref(j);
	assert_int_equal(
	    put(p.port, "/v1/portforward", "{\"ports\":[41000,41001]}"), 200);
	assert_forwarded(p.port, 41000);
	/* Still none while the tunnel is down, the new one once it is up. */
	assert_int_equal(
	    put(p.port, "/v1/vpn/status", "{\"status\":\"stopped\"}"), 200);
	assert_forwarded(p.port, 0);
	assert_int_equal(
	    put(p.port, "/v1/vpn/status", "{\"status\":\"running\"}"), 200);
	assert_forwarded(p.port, 41000);
	/* An empty list: no port forwarded; "ports" is null then. */
	assert_int_equal(
	    put(p.port, "/v1/portforward", " {\"ports\": [ ] } "), 200);
	assert_forwarded(p.port, 0);
	j = simtest_get_json(p.port, "/v1/portforward", &status);
	assert_true(json_is_null(json_object_get(j, "ports")));
	json_decref(j);
	assert_int_equal(
	    put(p.port, "/v1/portforward", "{\"ports\":[ 1 ]}"), 200);
	assert_forwarded(p.port, 1);
	simtest_stop(&p);
}

static void
test_forwarded_port_bad_body(void **state)
{
	static const char *const bad[] = {
	    "",
	    "{}",
	    "{\"port\":41000}",
	    "{\"ports\":41000}",
	    "{\"ports\":[70000]}",
	    "{\"ports\":[-1]}",
	    "{\"ports\":[\"41000\"]}",
	    "{\"ports\":[41000,]}",
	    "{\"ports\":[41000]",
	    "{\"ports\":[41000]} x",
	};
	struct simtest_proc p;

	(void) state;
	assert_int_equal(simtest_start(&p, "gluetun", NULL, 0, 5000), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("body: '%s'\n", bad[i]);
		assert_int_equal(put(p.port, "/v1/portforward", bad[i]), 400);
	}
	assert_forwarded(p.port, 54321);
	simtest_stop(&p);
}

static void
test_old_generation(void **state)
{
	static const char *const env[] = {"SIM_GLUETUN_API=old", NULL};
	static const char *const bad_env[] = {"SIM_GLUETUN_API=v9", NULL};
	struct simtest_proc p;
	long status;
	json_t *j;

	(void) state;
	assert_int_equal(simtest_start(&p, "gluetun", env, 0, 5000), 0);
	j = simtest_get_json(p.port, "/v1/vpn/status", &status);
	assert_int_equal(status, 404);
	json_decref(j);
	j = simtest_get_json(p.port, "/v1/portforward", &status);
	assert_int_equal(status, 404);
	json_decref(j);
	j = simtest_get_json(p.port, "/v1/openvpn/status", &status);
	assert_int_equal(status, 200);
	assert_string_equal(
	    json_string_value(json_object_get(j, "status")), "running");
	json_decref(j);
	j = simtest_get_json(p.port, "/v1/openvpn/portforwarded", &status);
	assert_int_equal(status, 200);
	assert_int_equal(
	    json_integer_value(json_object_get(j, "port")), 54321);
	json_decref(j);
	assert_int_equal(
	    put(p.port, "/v1/openvpn/status", "{\"status\":\"stopped\"}"),
	    200);
	assert_forwarded_old(p.port, 0);
	simtest_stop(&p);
	/* A generation it does not know is a usage error. */
	assert_int_equal(simtest_start(&p, "gluetun", bad_env, 0, 1000), -1);
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
	    cmocka_unit_test_teardown(test_api_key, teardown),
	    cmocka_unit_test_teardown(test_basic_auth, teardown),
	    cmocka_unit_test_teardown(test_key_and_basic_roles, teardown),
	    cmocka_unit_test_teardown(test_forwarded_port_change, teardown),
	    cmocka_unit_test_teardown(test_forwarded_port_bad_body, teardown),
	    cmocka_unit_test_teardown(test_old_generation, teardown),
	};
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 1;
	rc = cmocka_run_group_tests_name(
	    "sim gluetun conformance", tests, NULL, teardown);
	curl_global_cleanup();
	return rc;
}
