/*
 * The manager tests' shared fixture (see fx.h).
 */
#include "tests/engines/fx.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/testlib/testlib.h"

void
fx_config(fx_mgr *m, const char *label_key, const char *label_value,
    const char *prefix, int http_lo, int https_lo, int n_ports)
{
	orch_config *c = &m->cfg;

	orch_config_defaults(c);
	m->cfg_ok = true;
	tl_set_str(&c->target_image, FX_IMAGE);
	c->image_pull = ORCH_IMAGE_PULL_NEVER;
	tl_set_str(&c->container_label_key, label_key);
	tl_set_str(&c->container_label_value, label_value);
	tl_set_str(&c->engine_name_prefix, prefix);
	c->port_range_host.lo = http_lo;
	c->port_range_host.hi = http_lo + n_ports - 1;
	c->ace_https_range.lo = https_lo;
	c->ace_https_range.hi = https_lo + n_ports - 1;
	/* The control thread (cases with loops) must not act on its own
	 * schedule: its first pass runs at start, then not for an hour. */
	c->autoscale_interval_s = 3600;
	c->monitor_interval_s = 3600;
}

void
fx_start(fx_mgr *m, orch_clock clk, const orch_mgr_opts *opts)
{
	orch_mgr_opts o;

	if (opts != NULL)
		o = *opts;
	else
		memset(&o, 0, sizeof(o));
	assert_int_equal(
	    orch_core_init(&m->core, &m->cfg, clk, NULL), ORCH_OK);
	m->core_ok = true;
	o.core = &m->core;
	o.rt = &m->rt;
	assert_int_equal(orch_mgr_open(&o, &m->mgr), ORCH_OK);
	assert_int_equal(orch_mgr_start(m->mgr), ORCH_OK);
}

void
fx_stop(fx_mgr *m)
{
	orch_mgr_close(m->mgr);
	m->mgr = NULL;
	if (m->core_ok) {
		orch_core_fini(&m->core);
		m->core_ok = false;
	}
}

void
fx_fini(fx_mgr *m)
{
	fx_stop(m);
	if (m->cfg_ok) {
		orch_config_fini(&m->cfg);
		m->cfg_ok = false;
	}
}

const char *
fx_env_value(const orch_rt_container *c, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < c->n_env; i++) {
		if (strncmp(c->env[i], name, n) == 0 && c->env[i][n] == '=')
			return c->env[i] + n + 1;
	}
	return NULL;
}

fx_esnap
fx_eget(fx_mgr *m, const char *id)
{
	fx_esnap s;
	orch_engine *e;

	memset(&s, 0, sizeof(s));
	orch_core_lock(&m->core);
	e = orch_state_engine_get(&m->core.state, id);
	if (e != NULL) {
		s.found = true;
		s.managed = e->managed;
		s.running = e->running;
		s.restarts = e->restarts;
		snprintf(s.name, sizeof(s.name), "%s", e->container_name);
		snprintf(s.host, sizeof(s.host), "%s",
		    e->host != NULL ? e->host : "");
		s.port = e->port;
		s.host_http_port = e->host_http_port;
		s.host_https_port = e->host_https_port;
		s.container_http_port = e->container_http_port;
		s.container_https_port = e->container_https_port;
		s.health = e->health;
	}
	orch_core_unlock(&m->core);
	return s;
}

bool
fx_http_in_use(fx_mgr *m, int port)
{
	bool r;

	orch_core_lock(&m->core);
	r = orch_ports_in_use(&m->core.http_ports, port);
	orch_core_unlock(&m->core);
	return r;
}

void
fx_stream_on(fx_mgr *m, const char *id, const char *stream_id)
{
	orch_stream_start ev;
	orch_stream *s = NULL;
	char on[80] = "";
	orch_err rv;

	memset(&ev, 0, sizeof(ev));
	ev.container_id = id;
	ev.key_type = "content_id";
	ev.key = stream_id;
	ev.playback_session_id = "psid";
	ev.is_live = true;
	ev.stream_id = stream_id;
	orch_core_lock(&m->core);
	rv = orch_state_stream_start(
	    &m->core.state, &ev, orch_core_now(&m->core), &s);
	if (rv == ORCH_OK && s->engine != NULL)
		snprintf(on, sizeof(on), "%s", s->engine->container_id);
	orch_core_unlock(&m->core);
	assert_int_equal(rv, ORCH_OK);
	assert_string_equal(on, id);
}

int
fx_stream_status(fx_mgr *m, const char *stream_id, char *reason, size_t len)
{
	orch_stream *s;
	int r = 0;

	reason[0] = '\0';
	orch_core_lock(&m->core);
	s = orch_state_stream_get(&m->core.state, stream_id);
	if (s != NULL) {
		r = s->active ? 1 : 2;
		if (s->end_reason != NULL)
			snprintf(reason, len, "%s", s->end_reason);
	}
	orch_core_unlock(&m->core);
	return r;
}
