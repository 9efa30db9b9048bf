/*
 * The engine container plan and adoption (src/engines/plan.h) against
 * CONTRACT.md "What an engine container gets" and "Engine" (advertised
 * address).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "src/core/vpncfg.h"
#include "src/engines/plan.h"
#include "tests/testlib/testlib.h"

static orch_config cfg;

static int
setup(void **state)
{
	(void) state;
	orch_config_defaults(&cfg);
	return 0;
}

static int
teardown(void **state)
{
	(void) state;
	orch_config_fini(&cfg);
	return 0;
}

static const char *
env_get(const orch_engine_plan *p, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < p->n_env; i++) {
		if (strncmp(p->env[i], name, n) == 0 && p->env[i][n] == '=')
			return p->env[i] + n + 1;
	}
	return NULL;
}

static int
env_count(const orch_engine_plan *p, const char *name)
{
	size_t n = strlen(name);
	int k = 0;

	for (size_t i = 0; i < p->n_env; i++)
		k += strncmp(p->env[i], name, n) == 0 && p->env[i][n] == '=';
	return k;
}

static void
test_default_plan(void **state)
{
	orch_engine_request req = {0};
	orch_engine_slot slot = {3, 19003, 45003, false, 0, NULL, 0, 0};
	orch_engine_plan p;
	orch_diag why;

	(void) state;
	assert_int_equal(
	    orch_engine_plan_build(&cfg, &req, &slot, &p, &why), ORCH_OK);
	assert_string_equal(p.name, "acestream-3");
	assert_string_equal(p.image, cfg.target_image);
	assert_string_equal(p.restart_policy, "unless-stopped");
	assert_string_equal(
	    orch_label_get(p.labels, p.n_labels, "orchestrator.managed"),
	    "acestream");
	assert_string_equal(
	    orch_label_get(p.labels, p.n_labels, "acestream.http_port"),
	    "19003");
	assert_string_equal(
	    orch_label_get(p.labels, p.n_labels, "acestream.https_port"),
	    "45003");
	assert_string_equal(
	    orch_label_get(p.labels, p.n_labels, "host.http_port"), "19003");
	assert_null(orch_label_get(p.labels, p.n_labels, "host.https_port"));
	assert_string_equal(env_get(&p, "CONF"),
	    "--http-port=19003\n--https-port=45003\n--bind-all");
	assert_string_equal(env_get(&p, "HTTP_PORT"), "19003");
	assert_string_equal(env_get(&p, "HTTPS_PORT"), "45003");
	assert_string_equal(env_get(&p, "BIND_ALL"), "true");
	assert_null(env_get(&p, "P2P_PORT"));
	/* Published on the same number (CONTRACT.md decision). */
	assert_int_equal(p.n_publish, 1);
	assert_int_equal(p.publish[0].container_port, 19003);
	assert_int_equal(p.publish[0].host_port, 19003);
	assert_null(p.network_mode);
	assert_null(p.network);
	orch_engine_plan_fini(&p);
}

static void
test_caller_parts(void **state)
{
	orch_label labels[] = {
	    {"team", "blue"},
	};
	orch_label env[] = {
	    {"CONF", "--custom"}, /* kept verbatim */
	    {"HTTP_PORT", "1"},   /* ours wins */
	    {"TZ", "UTC"},
	};
	orch_engine_request req = {
	    labels, 1, env, 3, "my/engine:2", NULL, false, 0};
	orch_engine_slot slot = {1, 19001, 45001, false, 0, NULL, 0, 0};
	orch_engine_plan p;
	orch_diag why;

	(void) state;
	assert_int_equal(
	    orch_engine_plan_build(&cfg, &req, &slot, &p, &why), ORCH_OK);
	assert_string_equal(p.image, "my/engine:2");
	assert_string_equal(
	    orch_label_get(p.labels, p.n_labels, "orchestrator.managed"),
	    "acestream");
	assert_string_equal(
	    orch_label_get(p.labels, p.n_labels, "acestream.http_port"),
	    "19001");
	assert_string_equal(
	    orch_label_get(p.labels, p.n_labels, "team"), "blue");
	assert_string_equal(env_get(&p, "CONF"), "--custom");
	assert_int_equal(env_count(&p, "CONF"), 1);
	assert_string_equal(env_get(&p, "HTTP_PORT"), "19001");
	assert_int_equal(env_count(&p, "HTTP_PORT"), 1);
	assert_string_equal(env_get(&p, "TZ"), "UTC");
	orch_engine_plan_fini(&p);
}

static void
test_bad_caller_names(void **state)
{
	orch_label bad_env[] = {{"A=B", "x"}};
	orch_label empty_env[] = {{"", "x"}};
	orch_label bad_label[] = {{"", "x"}};
	orch_engine_slot slot = {1, 19001, 45001, false, 0, NULL, 0, 0};
	orch_engine_request r1 = {NULL, 0, bad_env, 1, NULL, NULL, false, 0};
	orch_engine_request r2 = {NULL, 0, empty_env, 1, NULL, NULL, false, 0};
	orch_engine_request r3 = {bad_label, 1, NULL, 0, NULL, NULL, false, 0};
	orch_engine_plan p;
	orch_diag why;

	(void) state;
	assert_int_equal(
	    orch_engine_plan_build(&cfg, &r1, &slot, &p, &why), ORCH_EINVAL);
	assert_non_null(strstr(why.msg, "env"));
	assert_string_equal(why.field, "env");
	assert_null(p.name);
	assert_int_equal(
	    orch_engine_plan_build(&cfg, &r2, &slot, &p, &why), ORCH_EINVAL);
	assert_int_equal(
	    orch_engine_plan_build(&cfg, &r3, &slot, &p, &why), ORCH_EINVAL);
	assert_non_null(strstr(why.msg, "labels"));
	assert_string_equal(why.field, "labels");
}

static void
test_https_network_and_vpn(void **state)
{
	orch_engine_request req = {0};
	orch_engine_slot slot = {2, 19002, 45002, true, 54321, NULL, 0, 0};
	orch_engine_plan p;
	orch_diag why;

	(void) state;
	cfg.ace_map_https = true;
	tl_set_str(&cfg.docker_network, "acenet");
	assert_int_equal(
	    orch_engine_plan_build(&cfg, &req, &slot, &p, &why), ORCH_OK);
	assert_int_equal(p.n_publish, 2);
	assert_int_equal(p.publish[1].container_port, 45002);
	assert_int_equal(p.publish[1].host_port, 45002);
	assert_string_equal(
	    orch_label_get(p.labels, p.n_labels, "host.https_port"), "45002");
	assert_string_equal(p.network, "acenet");
	orch_engine_plan_fini(&p);

	/* VPN: the engine lives in Gluetun's network namespace, listens on
	 * the container port and is reached on the host port Gluetun
	 * publishes it on; the labels say both, its VPN and its forwarded
	 * port (adoption reads them back). */
	slot.vpn = "gluetun-b";
	slot.host_http_port = 39002;
	slot.host_https_port = 39003;
	assert_int_equal(
	    orch_engine_plan_build(&cfg, &req, &slot, &p, &why), ORCH_OK);
	assert_int_equal(p.n_publish, 0);
	assert_string_equal(p.network_mode, "container:gluetun-b");
	assert_null(p.network);
	assert_string_equal(env_get(&p, "P2P_PORT"), "54321");
	assert_string_equal(env_get(&p, "HTTP_PORT"), "19002");
	assert_string_equal(
	    orch_label_get(p.labels, p.n_labels, "acestream.http_port"),
	    "19002");
	assert_string_equal(
	    orch_label_get(p.labels, p.n_labels, "host.http_port"), "39002");
	assert_string_equal(
	    orch_label_get(p.labels, p.n_labels, "host.https_port"), "39003");
	assert_string_equal(
	    orch_label_get(p.labels, p.n_labels, "orchestrator.vpn"),
	    "gluetun-b");
	assert_string_equal(
	    orch_label_get(p.labels, p.n_labels, "acestream.p2p_port"),
	    "54321");
	orch_engine_plan_fini(&p);
	/* Not forwarded: no P2P_PORT, no label; HTTPS not published. */
	slot.forwarded = false;
	slot.host_https_port = 0;
	cfg.ace_map_https = false;
	assert_int_equal(
	    orch_engine_plan_build(&cfg, &req, &slot, &p, &why), ORCH_OK);
	assert_null(env_get(&p, "P2P_PORT"));
	assert_null(
	    orch_label_get(p.labels, p.n_labels, "acestream.p2p_port"));
	assert_null(orch_label_get(p.labels, p.n_labels, "host.https_port"));
	orch_engine_plan_fini(&p);
	tl_set_str(&cfg.docker_network, NULL);
}

/* The VPN labels come back from a container (adoption). */
static void
test_adopt_vpn_labels(void **state)
{
	orch_label labels[] = {
	    {"orchestrator.managed", "acestream"},
	    {"acestream.http_port", "19002"},
	    {"acestream.https_port", "45002"},
	    {"host.http_port", "39002"},
	    {"orchestrator.vpn", "gluetun-b"},
	    {"acestream.p2p_port", "41000"},
	};
	orch_container_view v = {"id2", "acestream-2", labels, 6, true};
	orch_engine_spec spec;

	(void) state;
	tl_set_str(&cfg.gluetun_container_name, "gluetun-a,gluetun-b");
	assert_int_equal(orch_vpncfg_split(&cfg, NULL), ORCH_OK);
	assert_int_equal(orch_engine_adopt(&cfg, &v, &spec), ORCH_OK);
	assert_string_equal(spec.vpn, "gluetun-b");
	assert_string_equal(spec.host, "gluetun-b");
	assert_int_equal(spec.port, 19002);
	assert_int_equal(spec.host_http_port, 39002);
	assert_int_equal(spec.container_http_port, 19002);
	assert_true(spec.forwarded);
	assert_int_equal(spec.p2p_port, 41000);
	/* An engine made before the label: the first Gluetun's, not
	 * forwarded without the p2p label. */
	v.n_labels = 4;
	assert_int_equal(orch_engine_adopt(&cfg, &v, &spec), ORCH_OK);
	assert_string_equal(spec.vpn, "gluetun-a");
	assert_false(spec.forwarded);
	/* Without VPN mode a VPN label is kept: the engine is there. */
	tl_set_str(&cfg.gluetun_container_name, NULL);
	assert_int_equal(orch_vpncfg_split(&cfg, NULL), ORCH_OK);
	v.n_labels = 6;
	assert_int_equal(orch_engine_adopt(&cfg, &v, &spec), ORCH_OK);
	assert_string_equal(spec.vpn, "gluetun-b");
	assert_string_equal(spec.host, "gluetun-b");
}

static void
test_advertised_address(void **state)
{
	static const struct {
		const char *engine_host, *network, *gluetun;
		const char *host;
		int port;
	} rows[] = {
	    {NULL, NULL, NULL, "127.0.0.1", 19005},
	    {NULL, "acenet", NULL, "acestream-5", 6878},
	    {"proxyhost", "acenet", NULL, "proxyhost", 19005},
	    {NULL, NULL, "gluetun", "gluetun", 6878},
	    {"vpn.example", NULL, "gluetun", "vpn.example", 19005},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *host;
		int port;

		tl_set_str(&cfg.engine_host, rows[i].engine_host);
		tl_set_str(&cfg.docker_network, rows[i].network);
		orch_engine_advertised(&cfg, "acestream-5", rows[i].gluetun,
		    6878, 19005, &host, &port);
		assert_string_equal(host, rows[i].host);
		assert_int_equal(port, rows[i].port);
	}
	tl_set_str(&cfg.engine_host, NULL);
	tl_set_str(&cfg.docker_network, NULL);
}

static void
test_adopt_from_labels(void **state)
{
	orch_label labels[] = {
	    {"orchestrator.managed", "acestream"},
	    {"acestream.http_port", "19007"},
	    {"acestream.https_port", "45007"},
	    {"host.http_port", "19007"},
	};
	orch_container_view c = {"abcdef", "acestream-7", labels, 4, true};
	orch_engine_spec s;

	(void) state;
	assert_int_equal(orch_engine_adopt(&cfg, &c, &s), ORCH_OK);
	assert_string_equal(s.container_id, "abcdef");
	assert_string_equal(s.container_name, "acestream-7");
	assert_string_equal(s.host, "127.0.0.1");
	assert_int_equal(s.port, 19007);
	assert_int_equal(s.host_http_port, 19007);
	assert_int_equal(s.host_https_port, 0);
	assert_int_equal(s.container_http_port, 19007);
	assert_int_equal(s.container_https_port, 45007);
	assert_int_equal(s.n_labels, 4);
	assert_true(s.running);

	/* Not ours: no or bad acestream.http_port. */
	labels[1].value = "x19007";
	assert_int_equal(orch_engine_adopt(&cfg, &c, &s), ORCH_EINVAL);
	labels[1].value = "70000";
	assert_int_equal(orch_engine_adopt(&cfg, &c, &s), ORCH_EINVAL);
	c.n_labels = 1;
	assert_int_equal(orch_engine_adopt(&cfg, &c, &s), ORCH_EINVAL);
}

static void
test_name_numbers(void **state)
{
	static const struct {
		const char *name;
		int n;
	} rows[] = {
	    {"acestream-1", 1},
	    {"acestream-42", 42},
	    {"acestream-0", 0},
	    {"acestream-", -1},
	    {"acestream-x", -1},
	    {"acestream-1x", -1},
	    {"acestream--1", -1},
	    {"acestreamy-1", -1},
	    {"other-1", -1},
	    {"acestream-99999999999", -1},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(
		    orch_engine_name_number("acestream", rows[i].name),
		    rows[i].n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_plan),
	    cmocka_unit_test(test_caller_parts),
	    cmocka_unit_test(test_bad_caller_names),
	    cmocka_unit_test(test_https_network_and_vpn),
	    cmocka_unit_test(test_advertised_address),
	    cmocka_unit_test(test_adopt_from_labels),
	    cmocka_unit_test(test_adopt_vpn_labels),
	    cmocka_unit_test(test_name_numbers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
