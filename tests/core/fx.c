/*
 * The core tests' shared fixture (see fx.h).
 */
#include "tests/core/fx.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

void
fx_core_config(fx_core *c, int min_replicas, int max_replicas)
{
	orch_config_defaults(&c->cfg);
	c->cfg.min_replicas = min_replicas;
	c->cfg.max_replicas = max_replicas;
}

void
fx_core_load(fx_core *c, const char *const *env)
{
	orch_diag d;

	if (orch_config_load(&c->cfg, env, NULL, &d) != ORCH_OK)
		fail_msg("config: %s", d.msg);
}

void
fx_core_start(fx_core *c, const orch_sink_ops *ops, void *arg)
{
	orch_sink sink = {ops, arg};

	assert_int_equal(orch_core_init(&c->core, &c->cfg,
	                     orch_clock_manual(&c->now), NULL),
	    ORCH_OK);
	if (ops != NULL)
		orch_core_set_sink(&c->core, &sink);
}

void
fx_core_env_up(fx_core *c)
{
	orch_env env;

	memset(&env, 0, sizeof(env));
	env.docker_ok = true;
	env.image_ok = true;
	orch_core_set_env(&c->core, &env);
}

void
fx_core_fini(fx_core *c)
{
	orch_core_fini(&c->core);
	orch_config_fini(&c->cfg);
}

orch_engine_spec
fx_spec(const char *id, const char *name, int http, bool running)
{
	return fx_spec_ports(id, name, http, 0, http + 26000, running);
}

orch_engine_spec
fx_spec_ports(const char *id, const char *name, int http, int host_https,
    int container_https, bool running)
{
	orch_engine_spec sp;

	memset(&sp, 0, sizeof(sp));
	sp.container_id = id;
	sp.container_name = name;
	sp.host = "127.0.0.1";
	sp.port = http;
	sp.host_http_port = http;
	sp.host_https_port = host_https;
	sp.container_http_port = http;
	sp.container_https_port = container_https;
	sp.running = running;
	return sp;
}
