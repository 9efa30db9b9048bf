/*
 * The VPN variables split per Gluetun (src/core/vpncfg.h), through
 * orch_config_load as orchestratord reads them: one name or several, the
 * list variables with one value for all or one per name, an empty entry
 * as that one's default, one name taking a whole value (commas and all),
 * and every bad value stopping the load with one line naming the
 * variable and leaving nothing behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "src/core/config.h"
#include "src/core/vpncfg.h"

static orch_err
load(orch_config *cfg, const char *const *env, orch_diag *d)
{
	return orch_config_load(cfg, env, NULL, d);
}

static void
test_disabled_by_default(void **state)
{
	static const char *const env[] = {"GLUETUN_API_KEY=k", NULL};
	orch_config cfg;

	(void) state;
	assert_int_equal(load(&cfg, env, NULL), ORCH_OK);
	assert_false(orch_vpn_enabled(&cfg));
	assert_int_equal(cfg.n_vpns, 0);
	assert_int_equal(cfg.vpn_reconnect_stable_s, 10);
	assert_int_equal(cfg.vpn_reconnect_drain_s, 300);
	assert_int_equal(cfg.vpn_port_change_drain_s, 120);
	assert_int_equal(orch_vpncfg_find(&cfg, "gluetun"), -1);
	orch_config_fini(&cfg);
}

static void
test_one_gluetun(void **state)
{
	/* One name: the whole value is its own, commas included. */
	static const char *const env[] = {"GLUETUN_CONTAINER_NAME= gluetun ",
	    "GLUETUN_API_KEY=a,b", "GLUETUN_API_USER=u",
	    "GLUETUN_API_PASSWORD=p,w", "GLUETUN_API_URL=http://127.0.0.1:9/",
	    "VPN_PORT_RANGE=19000-19009", NULL};
	orch_config cfg;
	const orch_vpn_cfg *v;

	(void) state;
	assert_int_equal(load(&cfg, env, NULL), ORCH_OK);
	assert_true(orch_vpn_enabled(&cfg));
	assert_int_equal(cfg.n_vpns, 1);
	v = &cfg.vpns[0];
	assert_string_equal(v->name, "gluetun");
	assert_string_equal(v->api_key, "a,b");
	assert_string_equal(v->api_user, "u");
	assert_string_equal(v->api_password, "p,w");
	assert_string_equal(v->api_url, "http://127.0.0.1:9");
	assert_int_equal(v->ports.lo, 19000);
	assert_int_equal(v->ports.hi, 19009);
	assert_int_equal(orch_vpncfg_find(&cfg, "gluetun"), 0);
	orch_config_fini(&cfg);
}

static void
test_several(void **state)
{
	static const char *const env[] = {
	    "GLUETUN_CONTAINER_NAME=gluetun-a, gluetun-b,gluetun.c",
	    "GLUETUN_API_KEY=shared", /* one value: all of them */
	    "GLUETUN_API_URL=http://a:8000,,https://c.example/gluetun",
	    "VPN_PORT_RANGE=19000-19009,19010-19019,", NULL};
	orch_config cfg;

	(void) state;
	assert_int_equal(load(&cfg, env, NULL), ORCH_OK);
	assert_int_equal(cfg.n_vpns, 3);
	assert_string_equal(cfg.vpns[1].name, "gluetun-b");
	assert_string_equal(cfg.vpns[2].name, "gluetun.c");
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(cfg.vpns[i].api_key, "shared");
	assert_string_equal(cfg.vpns[0].api_url, "http://a:8000");
	assert_null(cfg.vpns[1].api_url); /* empty entry: the default */
	assert_string_equal(cfg.vpns[2].api_url, "https://c.example/gluetun");
	assert_int_equal(cfg.vpns[1].ports.lo, 19010);
	assert_int_equal(cfg.vpns[2].ports.lo, 0);
	assert_null(cfg.vpns[0].api_user);
	assert_int_equal(orch_vpncfg_find(&cfg, "gluetun.c"), 2);
	assert_int_equal(orch_vpncfg_find(&cfg, "gluetun"), -1);
	orch_config_fini(&cfg);
}

static void
test_bad_values(void **state)
{
	static const struct {
		const char *env[4];
		const char *field;
		const char *says;
	} rows[] = {
	    {{"GLUETUN_CONTAINER_NAME=-bad"}, "GLUETUN_CONTAINER_NAME",
	        "\"-bad\""},
	    {{"GLUETUN_CONTAINER_NAME=a,,b"}, "GLUETUN_CONTAINER_NAME",
	        "container names"},
	    {{"GLUETUN_CONTAINER_NAME=a b"}, "GLUETUN_CONTAINER_NAME",
	        "\"a b\""},
	    {{"GLUETUN_CONTAINER_NAME=a,b,a"}, "GLUETUN_CONTAINER_NAME",
	        "named twice"},
	    {{"GLUETUN_CONTAINER_NAME=a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q"},
	        "GLUETUN_CONTAINER_NAME", "at most 16"},
	    {{"GLUETUN_CONTAINER_NAME=a,b", "GLUETUN_API_KEY=1,2,3"},
	        "GLUETUN_API_KEY", "expected 2 (one per"},
	    {{"GLUETUN_CONTAINER_NAME=a,b,c", "VPN_PORT_RANGE=1-2,3-4"},
	        "VPN_PORT_RANGE", "expected 3"},
	    {{"GLUETUN_CONTAINER_NAME=a", "VPN_PORT_RANGE=9-1"},
	        "VPN_PORT_RANGE", "\"9-1\""},
	    {{"GLUETUN_CONTAINER_NAME=a", "VPN_PORT_RANGE=19000"},
	        "VPN_PORT_RANGE", "lo-hi"},
	    {{"GLUETUN_CONTAINER_NAME=a", "VPN_PORT_RANGE=1-70000"},
	        "VPN_PORT_RANGE", "65535"},
	    {{"GLUETUN_CONTAINER_NAME=a", "GLUETUN_API_URL=ftp://x"},
	        "GLUETUN_API_URL", "http://host"},
	    {{"GLUETUN_CONTAINER_NAME=a", "GLUETUN_API_URL=http://u@x"},
	        "GLUETUN_API_URL", "\"http://u@x\""},
	    {{"GLUETUN_CONTAINER_NAME=a", "GLUETUN_API_URL=http:///p"},
	        "GLUETUN_API_URL", "http://"},
	    {{"GLUETUN_CONTAINER_NAME=a", "GLUETUN_API_USER=u"},
	        "GLUETUN_API_USER", "GLUETUN_API_PASSWORD too"},
	    {{"GLUETUN_CONTAINER_NAME=a", "GLUETUN_API_PASSWORD=p"},
	        "GLUETUN_API_PASSWORD", "GLUETUN_API_USER too"},
	    {{"GLUETUN_CONTAINER_NAME=a,b", "GLUETUN_API_USER=u,",
	         "GLUETUN_API_PASSWORD=p,q"},
	        "GLUETUN_API_PASSWORD", "Gluetun b"},
	    {{"GLUETUN_CONTAINER_NAME=a", "VPN_RECONNECT_STABLE_S=-1"},
	        "VPN_RECONNECT_STABLE_S", ">= 0"},
	    {{"GLUETUN_CONTAINER_NAME=a", "VPN_RECONNECT_DRAIN_S=x"},
	        "VPN_RECONNECT_DRAIN_S", "integer"},
	    {{"GLUETUN_CONTAINER_NAME=a", "VPN_PORT_CHANGE_DRAIN_S=1.5"},
	        "VPN_PORT_CHANGE_DRAIN_S", "integer"},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		orch_config cfg;
		orch_diag d;

		print_message("row %zu: %s %s\n", i, rows[i].env[0],
		    rows[i].env[1] != NULL ? rows[i].env[1] : "");
		assert_int_equal(load(&cfg, rows[i].env, &d), ORCH_EINVAL);
		assert_string_equal(d.field, rows[i].field);
		if (strstr(d.msg, rows[i].says) == NULL)
			fail_msg("row %zu: \"%s\" lacks \"%s\"", i, d.msg,
			    rows[i].says);
		/* One line naming the variable. */
		assert_non_null(strstr(d.msg, rows[i].field));
		assert_null(strchr(d.msg, '\n'));
		/* Nothing left behind. */
		assert_int_equal(cfg.n_vpns, 0);
		assert_null(cfg.gluetun_container_name);
	}
}

static void
test_split_again(void **state)
{
	orch_config cfg;

	(void) state;
	orch_config_defaults(&cfg);
	/* A test's hand-set fields, split twice: the second replaces. */
	cfg.gluetun_container_name = strdup("x,y");
	assert_int_equal(orch_vpncfg_split(&cfg, NULL), ORCH_OK);
	assert_int_equal(cfg.n_vpns, 2);
	free(cfg.gluetun_container_name);
	cfg.gluetun_container_name = strdup("z");
	assert_int_equal(orch_vpncfg_split(&cfg, NULL), ORCH_OK);
	assert_int_equal(cfg.n_vpns, 1);
	assert_string_equal(cfg.vpns[0].name, "z");
	assert_null(cfg.vpns[1].name);
	orch_config_fini(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_disabled_by_default),
	    cmocka_unit_test(test_one_gluetun),
	    cmocka_unit_test(test_several),
	    cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_split_again),
	};

	return cmocka_run_group_tests_name("vpn config", tests, NULL, NULL);
}
