/*
 * Where the orchestrator reaches engines and Gluetun (src/engines/reach.h):
 * one row per situation (on the host, a stale container marker, a
 * container on DOCKER_NETWORK or not attached to it, on the host's
 * network, without a shared network with and without ENGINE_HOST, in VPN
 * mode, a container the runtime did not describe), checking the mode,
 * whether probes can work, what the start-up line says, and the URLs of
 * an engine and of Gluetun's control server; several Gluetuns. The real
 * thing, from inside a container on a real daemon, is
 * tests/deploy:image_test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "src/core/vpncfg.h"
#include "src/engines/reach.h"
#include "tests/testlib/testlib.h"

#define ID "4f9a5e2c1b7d8e3f6a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f"

typedef struct row {
	const char *what;
	/* configuration */
	const char *docker_network, *engine_host, *gluetun;
	/* detection: 0 not in a container, 1 a marker only, 2 an id the
	 * runtime did not describe, 3 inspected */
	int found;
	const char *network_mode;
	const char *nets[4]; /* name, gateway, name, gateway */
	/* expected */
	orch_reach_mode mode;
	bool ok;
	const char *why;    /* a substring of why */
	const char *engine; /* the engine's base URL */
	const char *gluetun_url;
} row;

static const row rows[] = {
    {"on the host", NULL, NULL, NULL, 0, NULL, {NULL}, ORCH_REACH_HOST, true,
        "not in a container", "http://127.0.0.1:19001", ""},
    {"on the host, DOCKER_NETWORK set (tools/run)", "acenet", NULL, NULL, 0,
        NULL, {NULL}, ORCH_REACH_HOST, true, "not in a container",
        "http://127.0.0.1:19001", ""},
    {"a marker file alone (an image built from a container)", NULL, NULL, NULL,
        1, NULL, {NULL}, ORCH_REACH_HOST, true, "no container of this runtime",
        "http://127.0.0.1:19001", ""},
    {"compose: on DOCKER_NETWORK", "acenet", NULL, NULL, 3, "acenet",
        {"acenet", "172.20.0.1"}, ORCH_REACH_NETWORK, true,
        "probed by container name", "http://acestream-1:19001", ""},
    {"compose, VPN: Gluetun by name", "acenet", NULL, "gluetun", 3, "acenet",
        {"acenet", "172.20.0.1"}, ORCH_REACH_NETWORK, true,
        "on DOCKER_NETWORK=acenet", "http://gluetun:19001",
        "http://gluetun:8000"},
    {"not attached to DOCKER_NETWORK", "acenet", NULL, NULL, 3, "default",
        {"bridge", "172.17.0.1"}, ORCH_REACH_NETWORK, false,
        "not attached to DOCKER_NETWORK=acenet (its networks: bridge "
        "(gateway 172.17.0.1))",
        "http://acestream-1:19001", ""},
    {"on DOCKER_NETWORK, Docker could not describe it", "acenet", NULL, NULL,
        2, NULL, {NULL}, ORCH_REACH_NETWORK, true, "could not inspect",
        "http://acestream-1:19001", ""},
    {"network_mode: host", NULL, NULL, NULL, 3, "host", {"host", ""},
        ORCH_REACH_HOST, true, "on the host's network",
        "http://127.0.0.1:19001", ""},
    {"network_mode: host, VPN", NULL, NULL, "gluetun", 3, "host", {"host", ""},
        ORCH_REACH_HOST, true, "on the host's network",
        "http://127.0.0.1:19001", "http://127.0.0.1:8001"},
    {"no shared network, ENGINE_HOST: the host gateway", NULL, "10.0.0.5",
        NULL, 3, "default", {"bridge", "172.17.0.1"}, ORCH_REACH_GATEWAY, true,
        "through the host gateway at 172.17.0.1", "http://172.17.0.1:19001",
        ""},
    {"no shared network, VPN: the host gateway", NULL, NULL, "gluetun", 3,
        "mynet", {"mynet", "", "other", "172.30.0.1"}, ORCH_REACH_GATEWAY,
        true, "Gluetun publishes", "http://172.30.0.1:19001",
        "http://172.30.0.1:8001"},
    {"no shared network, ports on 127.0.0.1: cannot work", NULL, NULL, NULL, 3,
        "default", {"bridge", "172.17.0.1"}, ORCH_REACH_HOST, false,
        "which this container cannot reach, so every probe would fail",
        "http://127.0.0.1:19001", ""},
    {"ENGINE_HOST but no gateway known: cannot work", NULL, "10.0.0.5", NULL,
        3, "none", {NULL}, ORCH_REACH_HOST, false, "networks: none",
        "http://127.0.0.1:19001", ""},
    {"an id Docker did not describe, no DOCKER_NETWORK", NULL, NULL, NULL, 2,
        NULL, {NULL}, ORCH_REACH_HOST, false, "this container's own loopback",
        "http://127.0.0.1:19001", ""},
};

/* The detection result a row describes (c's strings point into the row;
 * never finalized). */
static void
make_self(const row *r, orch_rt_self *s, orch_rt_kv *kv)
{
	size_t n = 0;

	memset(s, 0, sizeof(*s));
	s->in_container = r->found > 0;
	if (r->found >= 2)
		strcpy(s->id, ID);
	if (r->found == 2)
		strcpy(s->why, "inspect: Cannot connect to the Docker daemon");
	if (r->found == 1)
		strcpy(s->why, "No such container: vm");
	if (r->found < 3)
		return;
	s->inspected = true;
	s->c.id = (char *) ID;
	s->c.name = (char *) "orchestrator";
	s->c.network_mode = (char *) r->network_mode;
	for (size_t i = 0; i < 4 && r->nets[i] != NULL; i += 2) {
		kv[n].key = (char *) r->nets[i];
		kv[n].value = (char *) r->nets[i + 1];
		n++;
	}
	s->c.networks = n > 0 ? kv : NULL;
	s->c.n_networks = n;
}

static void
test_rows(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const row *r = &rows[i];
		orch_config cfg;
		orch_rt_self self;
		orch_rt_kv kv[2];
		orch_engine e;
		orch_reach out;
		orch_diag diag;
		char url[256];

		orch_config_defaults(&cfg);
		tl_set_str(&cfg.docker_network, r->docker_network);
		tl_set_str(&cfg.engine_host, r->engine_host);
		tl_set_str(&cfg.gluetun_container_name, r->gluetun);
		assert_int_equal(orch_vpncfg_split(&cfg, &diag), ORCH_OK);
		make_self(r, &self, kv);
		orch_reach_decide(&cfg, r->found > 0 ? &self : NULL, &out);
		if (out.mode != r->mode || out.ok != r->ok ||
		    strstr(out.why, r->why) == NULL)
			fail_msg("%s: mode %s ok %d why \"%s\"", r->what,
			    orch_reach_mode_name(out.mode), out.ok, out.why);
		/* An engine as the plan makes it: published port = container
		 * port; in VPN mode inside Gluetun, which publishes the same
		 * port and is the advertised host. */
		memset(&e, 0, sizeof(e));
		e.container_name = (char *) "acestream-1";
		e.container_http_port = 19001;
		e.host_http_port = 19001;
		e.vpn = (char *) r->gluetun;
		e.host =
		    (char *) (r->gluetun != NULL ? r->gluetun : "127.0.0.1");
		e.port = 19001;
		orch_reach_engine_base(&out, &e, url, sizeof(url));
		if (strcmp(url, r->engine) != 0)
			fail_msg("%s: engine at %s, want %s", r->what, url,
			    r->engine);
		/* Gluetun's control port 8000 published on the host's 8001. */
		url[0] = '\0';
		if (cfg.n_vpns > 0)
			orch_reach_gluetun_base(
			    &out, &cfg.vpns[0], 8000, 8001, url, sizeof(url));
		if (strcmp(url, r->gluetun_url) != 0)
			fail_msg("%s: Gluetun at \"%s\", want \"%s\"", r->what,
			    url, r->gluetun_url);
		orch_config_fini(&cfg);
	}
}

/* A NULL reach is the host's rule; an engine with nothing published is
 * reached at its advertised address; a cut buffer reports the length. */
static void
test_edges(void **state)
{
	orch_config cfg;
	orch_engine e;
	char url[64];

	(void) state;
	orch_config_defaults(&cfg);
	memset(&e, 0, sizeof(e));
	e.container_name = (char *) "acestream-2";
	e.host = (char *) "10.1.2.3";
	e.port = 6878;
	orch_reach_engine_base(NULL, &e, url, sizeof(url));
	assert_string_equal(url, "http://10.1.2.3:6878");
	e.host_http_port = 19002;
	orch_reach_engine_base(NULL, &e, url, sizeof(url));
	assert_string_equal(url, "http://127.0.0.1:19002");
	assert_int_equal(orch_reach_engine_base(NULL, &e, url, 8),
	    (int) strlen("http://127.0.0.1:19002"));
	assert_int_equal(strlen(url), 7);
	assert_string_equal(orch_reach_mode_name(ORCH_REACH_HOST), "host");
	assert_string_equal(
	    orch_reach_mode_name(ORCH_REACH_NETWORK), "network");
	assert_string_equal(
	    orch_reach_mode_name(ORCH_REACH_GATEWAY), "gateway");
	orch_config_fini(&cfg);
}

/* Several Gluetuns: an engine is reached through its own; a control
 * server's GLUETUN_API_URL wins in every mode; one that publishes no
 * control port is asked by name, the only address left. */
static void
test_vpns(void **state)
{
	orch_reach net = {.mode = ORCH_REACH_NETWORK, .ok = true};
	orch_reach gw = {.mode = ORCH_REACH_GATEWAY, .ok = true};
	orch_config cfg;
	orch_engine e;
	orch_diag diag;
	char url[128];

	(void) state;
	snprintf(gw.gateway, sizeof(gw.gateway), "172.30.0.1");
	orch_config_defaults(&cfg);
	tl_set_str(&cfg.gluetun_container_name, "gluetun-a,gluetun-b");
	tl_set_str(&cfg.gluetun_api_url, ",http://10.0.0.7:9000");
	assert_int_equal(orch_vpncfg_split(&cfg, &diag), ORCH_OK);
	assert_int_equal(cfg.n_vpns, 2);
	memset(&e, 0, sizeof(e));
	e.container_name = (char *) "acestream-3";
	e.vpn = (char *) "gluetun-b";
	e.container_http_port = 19003;
	e.host_http_port = 29003;
	e.host = (char *) "gluetun-b";
	e.port = 19003;
	orch_reach_engine_base(&net, &e, url, sizeof(url));
	assert_string_equal(url, "http://gluetun-b:19003");
	orch_reach_engine_base(&gw, &e, url, sizeof(url));
	assert_string_equal(url, "http://172.30.0.1:29003");
	orch_reach_engine_base(NULL, &e, url, sizeof(url));
	assert_string_equal(url, "http://127.0.0.1:29003");

	orch_reach_gluetun_base(
	    &net, &cfg.vpns[0], 8000, 8001, url, sizeof(url));
	assert_string_equal(url, "http://gluetun-a:8000");
	orch_reach_gluetun_base(&gw, &cfg.vpns[0], 8000, 0, url, sizeof(url));
	assert_string_equal(url, "http://gluetun-a:8000");
	orch_reach_gluetun_base(NULL, &cfg.vpns[0], 8000, 0, url, sizeof(url));
	assert_string_equal(url, "http://gluetun-a:8000");
	orch_reach_gluetun_base(
	    &net, &cfg.vpns[1], 8000, 8001, url, sizeof(url));
	assert_string_equal(url, "http://10.0.0.7:9000");
	orch_reach_gluetun_base(
	    &gw, &cfg.vpns[1], 8000, 8001, url, sizeof(url));
	assert_string_equal(url, "http://10.0.0.7:9000");
	orch_config_fini(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_edges),
	    cmocka_unit_test(test_vpns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
