/*
 * Gluetun's control-server client (src/probe/gluetun.h): how answers read
 * (table-driven: tunnel and port bodies, 401/403 as the configuration
 * error, 400/404/405 as a missing route, anything else as not Gluetun's),
 * where the control server is, what a request carries; then against
 * real `sim gluetun` processes on loopback: an API key right, wrong and
 * missing, basic auth, and an old Gluetun whose new routes are missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "src/probe/gluetun.h"
#include "src/probe/http_multi.h"
#include "tests/probe/probe_sim.h"

#define READY_MS 5000

static int
teardown(void **state)
{
	(void) state;
	psim_reap_all();
	return 0;
}

static void
test_classify(void **state)
{
	static const struct {
		long status;
		const char *body;
		bool port;
		orch_gluetun_verdict want;
		int value;
	} rows[] = {
	    {200, "{\"status\":\"running\"}", false, ORCH_GLUETUN_OK, 1},
	    {200, "{\"status\":\"stopped\"}", false, ORCH_GLUETUN_OK, 0},
	    {200, "{\"status\":\"crashed\"}", false, ORCH_GLUETUN_OK, 0},
	    {200, "{\"port\":54321}", true, ORCH_GLUETUN_OK, 54321},
	    {200, "{\"port\":0,\"ports\":null}", true, ORCH_GLUETUN_OK, 0},
	    {200, "{\"port\":41000,\"ports\":[41000]}", true, ORCH_GLUETUN_OK,
	        41000},
	    {401, "Unauthorized\n", false, ORCH_GLUETUN_AUTH, 0},
	    {403, "", true, ORCH_GLUETUN_AUTH, 0},
	    {404, "404 page not found", false, ORCH_GLUETUN_MISSING, 0},
	    {400, "GET /v1/vpn/status not found", false, ORCH_GLUETUN_MISSING,
	        0},
	    {405, "", true, ORCH_GLUETUN_MISSING, 0},
	    {500, "{\"status\":\"running\"}", false, ORCH_GLUETUN_BAD, 0},
	    {200, "<html>proxy</html>", false, ORCH_GLUETUN_BAD, 0},
	    {200, "{\"status\":1}", false, ORCH_GLUETUN_BAD, 0},
	    {200, "{}", true, ORCH_GLUETUN_BAD, 0},
	    {200, "{\"port\":70000}", true, ORCH_GLUETUN_BAD, 0},
	    {200, "{\"port\":-1}", true, ORCH_GLUETUN_BAD, 0},
	    {200, "{\"port\":\"1\"}", true, ORCH_GLUETUN_BAD, 0},
	    {302, "", false, ORCH_GLUETUN_BAD, 0},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char why[200];
		int value = -7;
		orch_gluetun_verdict v = orch_gluetun_classify(rows[i].status,
		    rows[i].body, strlen(rows[i].body), rows[i].port, &value,
		    why, sizeof(why));

		print_message(
		    "row %zu: %ld %s\n", i, rows[i].status, rows[i].body);
		assert_int_equal(v, rows[i].want);
		if (v == ORCH_GLUETUN_OK)
			assert_int_equal(value, rows[i].value);
		else
			assert_true(why[0] != '\0');
		if (v == ORCH_GLUETUN_AUTH)
			assert_non_null(strstr(why, "GLUETUN_API_KEY"));
	}
}

static void
test_base_url_and_request(void **state)
{
	orch_vpn_cfg cfg;
	orch_http_req req = ORCH_HTTP_REQ_INIT;
	orch_gluetun_bufs b;
	char base[ORCH_GLUETUN_URL_MAX], big[700];

	(void) state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.name = "gluetun-a";
	/* Published on the host: loopback; else by name on the network;
	 * GLUETUN_API_URL over both. */
	orch_gluetun_base_url(&cfg, 8000, 31900, base, sizeof(base));
	assert_string_equal(base, "http://127.0.0.1:31900");
	orch_gluetun_base_url(&cfg, 8001, 0, base, sizeof(base));
	assert_string_equal(base, "http://gluetun-a:8001");
	cfg.api_url = "https://vpn.example:8443/g";
	orch_gluetun_base_url(&cfg, 8000, 31900, base, sizeof(base));
	assert_string_equal(base, "https://vpn.example:8443/g");

	/* No credentials: no header, no user. */
	assert_int_equal(orch_gluetun_prepare(&req, &b, &cfg, base,
	                     ORCH_GLUETUN_STATUS_NEW, 3000),
	    ORCH_OK);
	assert_string_equal(
	    req.url, "https://vpn.example:8443/g/v1/vpn/status");
	assert_null(req.headers);
	assert_null(req.username);
	assert_int_equal(req.timeout_ms, 3000);
	assert_true(req.connect_timeout_ms <= 2000);
	/* The key as X-API-Key; basic auth as user and password. */
	cfg.api_key = "k3y";
	cfg.api_user = "u";
	cfg.api_password = "p";
	assert_int_equal(orch_gluetun_prepare(
	                     &req, &b, &cfg, base, ORCH_GLUETUN_PORT_OLD, 500),
	    ORCH_OK);
	assert_string_equal(req.headers[0], "X-API-Key: k3y");
	assert_null(req.headers[1]);
	assert_string_equal(req.username, "u");
	assert_string_equal(req.password, "p");
	assert_int_equal(req.connect_timeout_ms, 500);
	/* A key that would end the header line, a URL too long: refused. */
	cfg.api_key = "k\r\nX-Evil: 1";
	assert_int_equal(orch_gluetun_prepare(&req, &b, &cfg, base,
	                     ORCH_GLUETUN_PORT_NEW, 3000),
	    ORCH_EINVAL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cfg.api_key = NULL;
	assert_int_equal(orch_gluetun_prepare(
	                     &req, &b, &cfg, big, ORCH_GLUETUN_PORT_NEW, 3000),
	    ORCH_EINVAL);
	orch_http_req_fini(&req);
}

/* GETs path from the sim at port with cfg's credentials; the verdict,
 * *value the reading. */
static orch_gluetun_verdict
ask(int port, const orch_vpn_cfg *cfg, const char *path, int *value)
{
	orch_http_req req = ORCH_HTTP_REQ_INIT;
	orch_gluetun_bufs b;
	char base[64], why[200];
	bool running = false;
	orch_gluetun_verdict v;

	snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
	assert_int_equal(
	    orch_gluetun_prepare(&req, &b, cfg, base, path, 3000), ORCH_OK);
	assert_int_equal(orch_http_run(&req, 1, 0, NULL, NULL), ORCH_OK);
	if (strstr(path, "status") != NULL) {
		v = orch_gluetun_read_status(&req, &running, why, sizeof(why));
		*value = running;
	} else {
		v = orch_gluetun_read_port(&req, value, why, sizeof(why));
	}
	orch_http_req_fini(&req);
	return v;
}

static void
test_api_key_against_sim(void **state)
{
	static const char *const env[] = {
	    "SIM_API_KEY=s3cret", "SIM_FORWARDED_PORT=40500", NULL};
	orch_vpn_cfg cfg;
	psim g;
	int v = 0;

	(void) state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.name = "g";
	assert_int_equal(psim_start(&g, "gluetun", env, READY_MS), 0);
	assert_int_equal(
	    ask(g.port, &cfg, ORCH_GLUETUN_STATUS_NEW, &v), ORCH_GLUETUN_AUTH);
	cfg.api_key = "wrong";
	assert_int_equal(
	    ask(g.port, &cfg, ORCH_GLUETUN_PORT_NEW, &v), ORCH_GLUETUN_AUTH);
	cfg.api_key = "s3cret";
	assert_int_equal(
	    ask(g.port, &cfg, ORCH_GLUETUN_STATUS_NEW, &v), ORCH_GLUETUN_OK);
	assert_int_equal(v, 1);
	assert_int_equal(
	    ask(g.port, &cfg, ORCH_GLUETUN_PORT_NEW, &v), ORCH_GLUETUN_OK);
	assert_int_equal(v, 40500);
	psim_stop(&g);
}

static void
test_basic_auth_against_sim(void **state)
{
	static const char *const env[] = {
	    "SIM_API_USER=orch", "SIM_API_PASSWORD=pw", NULL};
	orch_vpn_cfg cfg;
	psim g;
	int v = 0;

	(void) state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.name = "g";
	assert_int_equal(psim_start(&g, "gluetun", env, READY_MS), 0);
	assert_int_equal(
	    ask(g.port, &cfg, ORCH_GLUETUN_STATUS_NEW, &v), ORCH_GLUETUN_AUTH);
	cfg.api_user = "orch";
	cfg.api_password = "px";
	assert_int_equal(
	    ask(g.port, &cfg, ORCH_GLUETUN_STATUS_NEW, &v), ORCH_GLUETUN_AUTH);
	cfg.api_password = "pw";
	assert_int_equal(
	    ask(g.port, &cfg, ORCH_GLUETUN_STATUS_NEW, &v), ORCH_GLUETUN_OK);
	assert_int_equal(
	    ask(g.port, &cfg, ORCH_GLUETUN_PORT_OLD, &v), ORCH_GLUETUN_OK);
	assert_int_equal(v, 54321);
	psim_stop(&g);
}

static void
test_old_gluetun_against_sim(void **state)
{
	static const char *const env[] = {"SIM_GLUETUN_API=old", NULL};
	orch_vpn_cfg cfg;
	psim g;
	int v = 0;

	(void) state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.name = "g";
	assert_int_equal(psim_start(&g, "gluetun", env, READY_MS), 0);
	/* The new routes are missing, the old ones answer. */
	assert_int_equal(ask(g.port, &cfg, ORCH_GLUETUN_STATUS_NEW, &v),
	    ORCH_GLUETUN_MISSING);
	assert_int_equal(ask(g.port, &cfg, ORCH_GLUETUN_PORT_NEW, &v),
	    ORCH_GLUETUN_MISSING);
	assert_int_equal(
	    ask(g.port, &cfg, ORCH_GLUETUN_STATUS_OLD, &v), ORCH_GLUETUN_OK);
	assert_int_equal(
	    ask(g.port, &cfg, ORCH_GLUETUN_PORT_OLD, &v), ORCH_GLUETUN_OK);
	assert_int_equal(v, 54321);
	psim_stop(&g);
	/* Nobody listening: down, not a configuration error. */
	assert_int_equal(
	    ask(g.port, &cfg, ORCH_GLUETUN_STATUS_NEW, &v), ORCH_GLUETUN_DOWN);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_base_url_and_request),
	    cmocka_unit_test_teardown(test_api_key_against_sim, teardown),
	    cmocka_unit_test_teardown(test_basic_auth_against_sim, teardown),
	    cmocka_unit_test_teardown(test_old_gluetun_against_sim, teardown),
	};

	return cmocka_run_group_tests_name(
	    "gluetun client", tests, NULL, teardown);
}
