/*
 * The VPN monitor (src/engines/vpn.h) over the in-memory fake runtime
 * (tests/runtime/fake_runtime.h) and real `sim gluetun` control servers
 * on loopback (reached through GLUETUN_API_URL): the Gluetun containers
 * are the fake's, with the ports they publish, their health and start
 * times; the tunnel and the forwarded port are the simulator's, flipped
 * with its own control calls. The core runs on a manual clock, so the
 * reconnect window is exact; the monitor's rounds and actions are called
 * by the test (no_thread), except in the events case.
 *
 * The real-container tests (tests/vpn) hold the same monitor to Docker
 * and gluetun-sim images.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "src/base/time.h"
#include "src/core/config.h"
#include "src/core/control.h"
#include "src/core/core.h"
#include "src/core/vpn.h"
#include "src/engines/manager.h"
#include "src/engines/vpn.h"
#include "tests/engines/fx.h"
#include "tests/probe/probe_sim.h"
#include "tests/runtime/fake_runtime.h"
#include "tests/testlib/testlib.h"

#define IMAGE FX_IMAGE
#define S(x) ((int64_t) (x) *INT64_C(1000000))
#define T0 S(1700000000)
#define NPORTS 4 /* engine ports each Gluetun publishes */

typedef struct fx {
	fx_mgr m; /* config, core (manual clock), manager over the fake */
	orch_fake_rt *fake;
	orch_vpnmon *mon;
	psim sim[2];
	size_t n;
	char gid[2][80]; /* the fake Gluetun containers' ids */
} fx;

/* A Gluetun container in the fake: the control port and NPORTS engine
 * ports published, running, healthy. */
static void
add_gluetun(fx *f, size_t i, const char *name)
{
	orch_rt_publish pub[NPORTS + 1];
	orch_rt_create_spec spec;
	char *id = NULL;

	memset(&spec, 0, sizeof(spec));
	pub[0] = (orch_rt_publish){8000, 31000 + (int) i * 100, "tcp"};
	for (int k = 0; k < NPORTS; k++)
		pub[k + 1] = (orch_rt_publish){
		    19000 + k, 39000 + (int) i * 100 + k, "tcp"};
	spec.name = name;
	spec.image = "gluetun-sim:latest";
	spec.ports = pub;
	spec.n_ports = NPORTS + 1;
	spec.restart_policy = "unless-stopped";
	assert_int_equal(orch_fake_rt_add(f->fake, &spec, true, &id), ORCH_OK);
	snprintf(f->gid[i], sizeof(f->gid[i]), "%s", id);
	free(id);
	assert_int_equal(
	    orch_fake_rt_set_health(f->fake, f->gid[i], "healthy"), ORCH_OK);
}

/*
 * n Gluetuns ga[, gb], each a sim (sim_env) and a fake container; extra
 * variables; the core, the manager and the monitor (thread: with its
 * thread and events stream).
 */
static fx *
fx_open(size_t n, const char *const *sim_env, const char *const *extra,
    bool thread)
{
	fx *f = calloc(1, sizeof(*f));
	char urls[256], *env[32];
	size_t k = 0;
	orch_mgr_opts mo = {.no_loops = true};
	orch_vpnmon_opts vo;
	orch_diag d;

	assert_non_null(f);
	f->n = n;
	for (size_t i = 0; i < n; i++)
		assert_int_equal(
		    psim_start(&f->sim[i], "gluetun", sim_env, 5000), 0);
	if (n == 1)
		snprintf(urls, sizeof(urls),
		    "GLUETUN_API_URL=http://127.0.0.1:%d", f->sim[0].port);
	else
		snprintf(urls, sizeof(urls),
		    "GLUETUN_API_URL=http://127.0.0.1:%d,http://127.0.0.1:%d",
		    f->sim[0].port, f->sim[1].port);
	env[k++] = n == 1 ? "GLUETUN_CONTAINER_NAME=ga"
	                  : "GLUETUN_CONTAINER_NAME=ga,gb";
	env[k++] = urls;
	env[k++] = "TARGET_IMAGE=" IMAGE;
	env[k++] = "IMAGE_PULL=never";
	env[k++] = "MIN_REPLICAS=0";
	env[k++] = "MAX_REPLICAS=6";
	env[k++] = "AUTO_DELETE=false";
	env[k++] = "GLUETUN_PORT_CACHE_TTL_S=0";
	env[k++] = "GLUETUN_HEALTH_CHECK_INTERVAL_S=60";
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
		env[k++] = (char *) extra[i];
	env[k] = NULL;
	if (orch_config_load(&f->m.cfg, (const char *const *) env, NULL, &d) !=
	    ORCH_OK)
		fail_msg("config: %s", d.msg);
	f->m.cfg_ok = true;
	f->m.now = T0;
	assert_int_equal(orch_fake_rt_open(&f->fake), ORCH_OK);
	orch_fake_rt_image_add(f->fake, IMAGE);
	orch_fake_rt_image_add(f->fake, "gluetun-sim:latest");
	orch_fake_rt_runtime(f->fake, &f->m.rt);
	for (size_t i = 0; i < n; i++)
		add_gluetun(f, i, i == 0 ? "ga" : "gb");
	fx_start(&f->m, orch_clock_manual(&f->m.now), &mo);
	memset(&vo, 0, sizeof(vo));
	vo.core = &f->m.core;
	vo.mgr = f->m.mgr;
	vo.no_thread = !thread;
	assert_int_equal(orch_vpnmon_open(&vo, &f->mon), ORCH_OK);
	assert_non_null(f->mon);
	assert_int_equal(orch_vpnmon_start(f->mon), ORCH_OK);
	return f;
}

static void
fx_close(fx *f)
{
	orch_vpnmon_close(f->mon);
	fx_fini(&f->m);
	orch_fake_rt_close(f->fake);
	for (size_t i = 0; i < f->n; i++)
		psim_stop(&f->sim[i]);
	free(f);
}

static int
teardown(void **state)
{
	(void) state;
	psim_reap_all();
	return 0;
}

/* A control call on sim i (PUT path body); returns the HTTP status. */
static long
sim_put(fx *f, size_t i, const char *path, const char *body)
{
	CURL *h = curl_easy_init();
	char url[128];
	long status = 0;

	snprintf(
	    url, sizeof(url), "http://127.0.0.1:%d%s", f->sim[i].port, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fwrite);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, stderr);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	return status;
}

static void
tunnel(fx *f, size_t i, bool up)
{
	assert_int_equal(
	    sim_put(f, i, "/v1/vpn/status",
	        up ? "{\"status\":\"running\"}" : "{\"status\":\"stopped\"}"),
	    200);
}

static void
forward(fx *f, size_t i, int port)
{
	char body[64];

	snprintf(body, sizeof(body), "{\"ports\":[%d]}", port);
	assert_int_equal(sim_put(f, i, "/v1/portforward", body), 200);
}

static orch_err
provision(fx *f, orch_provision_result *res, orch_refusal *ref)
{
	orch_engine_request req;
	orch_diag d;

	memset(&req, 0, sizeof(req));
	return orch_mgr_provision(f->m.mgr, &req, 0, res, ref, &d);
}

/* A copy of VPN i's ledger entry (the strings of interest). */
typedef struct vview {
	char status[16], health[16], error[256];
	bool connected;
	orch_vpn_control control;
	int forwarded_port, engines, free;
} vview;

static vview
vpn(fx *f, size_t i)
{
	const orch_vpn *v;
	vview w;

	orch_core_lock(&f->m.core);
	v = orch_core_vpn_at_locked(&f->m.core, i);
	snprintf(w.status, sizeof(w.status), "%s", v->status);
	snprintf(w.health, sizeof(w.health), "%s", v->health);
	snprintf(w.error, sizeof(w.error), "%s", v->error);
	w.connected = v->connected;
	w.control = v->control;
	w.forwarded_port = v->forwarded_port;
	w.engines = v->engines;
	w.free = orch_core_vpn_free_ports_locked(&f->m.core, i);
	orch_core_unlock(&f->m.core);
	return w;
}

/* Engines forwarded (with their port), and all, on VPN name. */
static int
count_engines(fx *f, const char *name, bool forwarded_only, int *p2p)
{
	orch_engine *e;
	size_t cur = 0;
	int n = 0;

	orch_core_lock(&f->m.core);
	while ((e = orch_state_engine_next(&f->m.core.state, &cur)) != NULL) {
		if (e->vpn == NULL || strcmp(e->vpn, name) != 0)
			continue;
		if (forwarded_only && !e->forwarded)
			continue;
		n++;
		if (p2p != NULL && e->forwarded)
			*p2p = e->p2p_port;
	}
	orch_core_unlock(&f->m.core);
	return n;
}

/* A stream on engine id, so that it is busy. */
static void
busy(fx *f, const char *id, const char *stream)
{
	orch_stream_start ev;
	orch_stream *s;

	memset(&ev, 0, sizeof(ev));
	ev.container_id = id;
	ev.key_type = "infohash";
	ev.key = "k";
	ev.stream_id = stream;
	orch_core_lock(&f->m.core);
	assert_int_equal(
	    orch_state_stream_start(&f->m.core.state, &ev, f->m.now, &s),
	    ORCH_OK);
	orch_core_unlock(&f->m.core);
}

/* ---- cases -------------------------------------------------------------- */

static void
test_engines_inside_gluetun(void **state)
{
	fx *f = fx_open(1, NULL, NULL, false);
	orch_provision_result r;
	orch_refusal ref;
	orch_rt_container c;
	vview w = vpn(f, 0);
	int p2p = 0;

	(void) state;
	/* start() ran the first check. */
	assert_string_equal(w.status, "running");
	assert_string_equal(w.health, "healthy");
	assert_true(w.connected);
	assert_int_equal(w.control, ORCH_VPN_CONTROL_OK);
	assert_int_equal(w.forwarded_port, 54321);
	assert_int_equal(w.free, NPORTS); /* 8000 is not an engine port */

	/* The forwarded port has no owner: the monitor starts one. */
	assert_int_equal(orch_vpnmon_act(f->mon), 1);
	assert_int_equal(count_engines(f, "ga", true, &p2p), 1);
	assert_int_equal(p2p, 54321);
	assert_int_equal(orch_vpnmon_act(f->mon), 0);

	/* A provision: inside Gluetun's namespace, no published port, a
	 * port Gluetun publishes, advertised as ga:<port>. */
	assert_int_equal(provision(f, &r, &ref), ORCH_OK);
	assert_int_equal(r.container_http_port, 19001);
	assert_int_equal(r.host_http_port, 39001);
	assert_int_equal(
	    orch_fake_rt_get(f->fake, r.container_id, &c), ORCH_OK);
	assert_int_equal(c.n_ports, 0);
	assert_string_equal(fx_env_value(&c, "HTTP_PORT"), "19001");
	assert_null(fx_env_value(&c, "P2P_PORT")); /* one forwarded per VPN */
	assert_string_equal(
	    orch_rt_container_label(&c, "orchestrator.vpn"), "ga");
	orch_rt_container_fini(&c);
	orch_core_lock(&f->m.core);
	{
		orch_engine *e =
		    orch_state_engine_get(&f->m.core.state, r.container_id);

		assert_string_equal(e->host, "ga");
		assert_int_equal(e->port, 19001);
		assert_int_equal(e->host_http_port, 39001);
		assert_false(e->forwarded);
	}
	orch_core_unlock(&f->m.core);
	assert_int_equal(count_engines(f, "ga", true, NULL), 1);
	assert_int_equal(vpn(f, 0).engines, 2);
	assert_int_equal(vpn(f, 0).free, NPORTS - 2);
	fx_close(f);
}

static void
test_gate_follows_the_tunnel(void **state)
{
	fx *f = fx_open(1, NULL, NULL, false);
	orch_provision_result r;
	orch_refusal ref;

	(void) state;
	tunnel(f, 0, false);
	orch_vpnmon_check(f->mon);
	assert_false(vpn(f, 0).connected);
	assert_string_equal(vpn(f, 0).status, "running");
	assert_int_equal(provision(f, &r, &ref), ORCH_EPRECOND);
	assert_int_equal(ref.code, ORCH_REFUSE_VPN);
	assert_true(ref.should_wait);
	tunnel(f, 0, true);
	orch_vpnmon_check(f->mon);
	assert_true(vpn(f, 0).connected);
	assert_int_equal(provision(f, &r, &ref), ORCH_OK);
	fx_close(f);
}

static void
test_reconnect_replaces_once(void **state)
{
	fx *f = fx_open(1, NULL, NULL, false);
	orch_provision_result idle, loaded, r;
	orch_refusal ref;
	orch_diag d;
	char gone[80];

	(void) state;
	assert_int_equal(orch_vpnmon_act(f->mon), 1); /* forwarded one */
	assert_int_equal(provision(f, &idle, &ref), ORCH_OK);
	assert_int_equal(provision(f, &loaded, &ref), ORCH_OK);
	busy(f, loaded.container_id, "s1");
	assert_int_equal(orch_core_engine_count(&f->m.core), 3);

	/* A bounce under VPN_RECONNECT_STABLE_S: nothing replaced. */
	tunnel(f, 0, false);
	orch_vpnmon_check(f->mon);
	f->m.now += S(5);
	tunnel(f, 0, true);
	orch_vpnmon_check(f->mon);
	assert_int_equal(orch_vpnmon_act(f->mon), 0);
	assert_int_equal(orch_fake_rt_count(f->fake, "running"), 4);

	/* Down 12 s: the idle ones are replaced (new first), the busy one
	 * drains until its stream ends. */
	tunnel(f, 0, false);
	orch_vpnmon_check(f->mon);
	f->m.now += S(12);
	tunnel(f, 0, true);
	orch_vpnmon_check(f->mon);
	orch_fake_rt_log_clear(f->fake);
	while (orch_vpnmon_act(f->mon) > 0)
		;
	/* Two idle replaced, the forwarded one's successor took the port. */
	assert_int_equal(orch_fake_rt_log_count(f->fake, "create"), 2);
	assert_int_equal(orch_fake_rt_log_count(f->fake, "remove"), 2);
	assert_int_equal(count_engines(f, "ga", true, NULL), 1);
	orch_core_lock(&f->m.core);
	assert_null(
	    orch_state_engine_get(&f->m.core.state, idle.container_id));
	assert_true(
	    orch_state_engine_get(&f->m.core.state, loaded.container_id)
	        ->marked_for_replacement);
	orch_core_unlock(&f->m.core);
	/* Once: nothing more to do while it carries its stream. */
	assert_int_equal(orch_vpnmon_act(f->mon), 0);
	orch_core_lock(&f->m.core);
	assert_int_equal(
	    orch_state_stream_end(&f->m.core.state, "s1", NULL,
	        "client_disconnect", f->m.now, &(orch_stream *){0}),
	    ORCH_OK);
	orch_core_unlock(&f->m.core);
	assert_int_equal(orch_vpnmon_act(f->mon), 1);
	assert_int_equal(orch_core_engine_count(&f->m.core), 2);
	assert_int_equal(orch_vpnmon_act(f->mon), 0);
	/* Every port the stopped ones had is back. */
	assert_int_equal(vpn(f, 0).free, NPORTS - 2);
	(void) r;
	(void) d;
	(void) gone;
	fx_close(f);
}

static void
test_forwarded_port_change(void **state)
{
	fx *f = fx_open(1, NULL, NULL, false);
	orch_provision_result r;
	orch_refusal ref;
	orch_rt_container c;
	int p2p = 0;

	(void) state;
	assert_int_equal(orch_vpnmon_act(f->mon), 1);
	assert_int_equal(provision(f, &r, &ref), ORCH_OK);
	forward(f, 0, 41000);
	orch_vpnmon_check(f->mon);
	assert_int_equal(vpn(f, 0).forwarded_port, 41000);
	orch_fake_rt_log_clear(f->fake);
	/* A new forwarded engine; the old one (idle) stops. */
	while (orch_vpnmon_act(f->mon) > 0)
		;
	assert_int_equal(orch_fake_rt_log_count(f->fake, "create"), 1);
	assert_int_equal(orch_fake_rt_log_count(f->fake, "remove"), 1);
	assert_int_equal(count_engines(f, "ga", true, &p2p), 1);
	assert_int_equal(p2p, 41000);
	assert_int_equal(count_engines(f, "ga", false, NULL), 2);
	/* The new one's environment says so. */
	{
		orch_engine *e;
		size_t cur = 0;
		char id[80] = "";

		orch_core_lock(&f->m.core);
		while ((e = orch_state_engine_next(&f->m.core.state, &cur)))
			if (e->forwarded)
				snprintf(
				    id, sizeof(id), "%s", e->container_id);
		orch_core_unlock(&f->m.core);
		assert_int_equal(orch_fake_rt_get(f->fake, id, &c), ORCH_OK);
		assert_string_equal(fx_env_value(&c, "P2P_PORT"), "41000");
		assert_string_equal(
		    orch_rt_container_label(&c, "acestream.p2p_port"),
		    "41000");
		orch_rt_container_fini(&c);
	}
	/* Again, while the old owner carries a stream: it drains. */
	orch_core_lock(&f->m.core);
	{
		orch_engine *e;
		size_t cur = 0;

		while ((e = orch_state_engine_next(&f->m.core.state, &cur)))
			if (e->forwarded)
				snprintf(r.container_id,
				    sizeof(r.container_id), "%s",
				    e->container_id);
	}
	orch_core_unlock(&f->m.core);
	busy(f, r.container_id, "s1");
	forward(f, 0, 42000);
	orch_vpnmon_check(f->mon);
	while (orch_vpnmon_act(f->mon) > 0)
		;
	assert_int_equal(count_engines(f, "ga", true, &p2p), 1);
	assert_int_equal(p2p, 42000);
	assert_int_equal(count_engines(f, "ga", false, NULL), 3);
	/* After VPN_PORT_CHANGE_DRAIN_S it stops, stream or not. */
	f->m.now += S(f->m.cfg.vpn_port_change_drain_s);
	assert_int_equal(orch_vpnmon_act(f->mon), 1);
	assert_int_equal(count_engines(f, "ga", false, NULL), 2);
	fx_close(f);
}

static void
test_max_replicas_stops_first(void **state)
{
	static const char *const extra[] = {"MAX_REPLICAS=2", NULL};
	fx *f = fx_open(1, NULL, extra, false);
	orch_provision_result r;
	orch_refusal ref;
	int p2p = 0;

	(void) state;
	assert_int_equal(orch_vpnmon_act(f->mon), 1);
	assert_int_equal(provision(f, &r, &ref), ORCH_OK);
	forward(f, 0, 43000);
	orch_vpnmon_check(f->mon);
	while (orch_vpnmon_act(f->mon) > 0)
		;
	/* At the cap the old forwarded one made room: still two. */
	assert_int_equal(orch_core_engine_count(&f->m.core), 2);
	assert_int_equal(count_engines(f, "ga", true, &p2p), 1);
	assert_int_equal(p2p, 43000);
	fx_close(f);
}

/* Every port of the VPN taken: the old owner makes room likewise. */
static void
test_full_pool_stops_first(void **state)
{
	fx *f = fx_open(1, NULL, NULL, false);
	orch_provision_result r;
	orch_refusal ref;
	int p2p = 0;

	(void) state;
	assert_int_equal(orch_vpnmon_act(f->mon), 1);
	for (int i = 1; i < NPORTS; i++)
		assert_int_equal(provision(f, &r, &ref), ORCH_OK);
	assert_int_equal(vpn(f, 0).free, 0);
	assert_int_equal(provision(f, &r, &ref), ORCH_EEXHAUSTED);
	forward(f, 0, 44000);
	orch_vpnmon_check(f->mon);
	while (orch_vpnmon_act(f->mon) > 0)
		;
	assert_int_equal(orch_core_engine_count(&f->m.core), NPORTS);
	assert_int_equal(count_engines(f, "ga", true, &p2p), 1);
	assert_int_equal(p2p, 44000);
	assert_int_equal(vpn(f, 0).free, 0);
	fx_close(f);
}

static void
test_container_stops_and_starts(void **state)
{
	fx *f = fx_open(1, NULL, NULL, false);
	orch_provision_result r;
	orch_refusal ref;

	(void) state;
	assert_int_equal(orch_vpnmon_act(f->mon), 1);
	assert_int_equal(provision(f, &r, &ref), ORCH_OK);
	assert_int_equal(orch_fake_rt_die(f->fake, f->gid[0], 0), ORCH_OK);
	orch_vpnmon_check(f->mon);
	assert_string_equal(vpn(f, 0).status, "exited");
	assert_false(vpn(f, 0).connected);
	assert_non_null(strstr(vpn(f, 0).error, "exited"));
	assert_int_equal(provision(f, &r, &ref), ORCH_EPRECOND);
	assert_int_equal(ref.code, ORCH_REFUSE_VPN);
	/* Back after a second: connected; a new start means its engines'
	 * namespace is gone, so they are replaced, however short it was. */
	f->m.now += S(1);
	tl_sleep_ms(2); /* a start time the fake can tell apart */
	assert_int_equal(orch_fake_rt_start(f->fake, f->gid[0]), ORCH_OK);
	orch_vpnmon_check(f->mon);
	assert_true(vpn(f, 0).connected);
	orch_fake_rt_log_clear(f->fake);
	while (orch_vpnmon_act(f->mon) > 0)
		;
	assert_int_equal(orch_fake_rt_log_count(f->fake, "remove"), 2);
	assert_int_equal(orch_core_engine_count(&f->m.core), 2);
	assert_int_equal(count_engines(f, "ga", true, NULL), 1);

	/* Removed altogether: not_found. */
	assert_int_equal(orch_fake_rt_destroy(f->fake, f->gid[0]), ORCH_OK);
	orch_vpnmon_check(f->mon);
	assert_string_equal(vpn(f, 0).status, "not_found");
	assert_false(vpn(f, 0).connected);
	fx_close(f);
}

static void
test_api_key(void **state)
{
	static const char *const sim_env[] = {"SIM_API_KEY=k1", NULL};
	static const char *const with_key[] = {"GLUETUN_API_KEY=k1", NULL};
	fx *f = fx_open(1, sim_env, NULL, false);
	orch_provision_result r;
	orch_refusal ref;
	vview w = vpn(f, 0);

	(void) state;
	/* No key: a configuration error, not "the tunnel is down". */
	assert_false(w.connected);
	assert_int_equal(w.control, ORCH_VPN_CONTROL_AUTH);
	assert_string_equal(w.status, "running");
	assert_non_null(strstr(w.error, "HTTP 401"));
	assert_int_equal(provision(f, &r, &ref), ORCH_EPRECOND);
	assert_int_equal(ref.code, ORCH_REFUSE_VPN);
	assert_false(ref.should_wait);
	assert_non_null(strstr(ref.message, "GLUETUN_API_KEY"));
	fx_close(f);

	f = fx_open(1, sim_env, with_key, false);
	assert_true(vpn(f, 0).connected);
	assert_int_equal(vpn(f, 0).control, ORCH_VPN_CONTROL_OK);
	assert_int_equal(provision(f, &r, &ref), ORCH_OK);
	fx_close(f);
}

static void
test_old_gluetun(void **state)
{
	static const char *const sim_env[] = {"SIM_GLUETUN_API=old", NULL};
	fx *f = fx_open(1, sim_env, NULL, false);

	(void) state;
	/* The fallback routes answer: connected, port read. */
	assert_true(vpn(f, 0).connected);
	assert_int_equal(vpn(f, 0).forwarded_port, 54321);
	/* Old Gluetun is flipped on its own route. */
	assert_int_equal(
	    sim_put(f, 0, "/v1/openvpn/status", "{\"status\":\"stopped\"}"),
	    200);
	orch_vpnmon_check(f->mon);
	assert_false(vpn(f, 0).connected);
	fx_close(f);
}

static void
test_two_vpns(void **state)
{
	fx *f = fx_open(2, NULL, NULL, false);
	orch_provision_result r;
	orch_refusal ref;

	(void) state;
	/* Each VPN gets its forwarded engine, then engines spread. */
	while (orch_vpnmon_act(f->mon) > 0)
		;
	assert_int_equal(count_engines(f, "ga", true, NULL), 1);
	assert_int_equal(count_engines(f, "gb", true, NULL), 1);
	for (int i = 0; i < 2; i++)
		assert_int_equal(provision(f, &r, &ref), ORCH_OK);
	assert_int_equal(vpn(f, 0).engines, 2);
	assert_int_equal(vpn(f, 1).engines, 2);
	/* gb drops: only its own provisioning stops. */
	tunnel(f, 1, false);
	orch_vpnmon_check(f->mon);
	assert_true(vpn(f, 0).connected);
	assert_false(vpn(f, 1).connected);
	assert_int_equal(provision(f, &r, &ref), ORCH_OK);
	assert_int_equal(vpn(f, 0).engines, 3);
	assert_int_equal(vpn(f, 1).engines, 2);
	/* Both down: refused. */
	tunnel(f, 0, false);
	orch_vpnmon_check(f->mon);
	assert_int_equal(provision(f, &r, &ref), ORCH_EPRECOND);
	assert_int_equal(ref.code, ORCH_REFUSE_VPN);
	fx_close(f);
}

static void
test_cycles_leave_no_port(void **state)
{
	fx *f = fx_open(1, NULL, NULL, false);
	orch_provision_result r;
	orch_refusal ref;
	char gone[80];

	(void) state;
	for (int k = 0; k < 200; k++) {
		assert_int_equal(provision(f, &r, &ref), ORCH_OK);
		assert_int_equal(orch_mgr_delete(f->m.mgr, r.container_id,
		                     gone, sizeof(gone), NULL),
		    ORCH_OK);
	}
	assert_int_equal(vpn(f, 0).free, NPORTS);
	assert_int_equal(vpn(f, 0).engines, 0);
	assert_int_equal(orch_ports_used(&f->m.core.https_ports), 0);
	fx_close(f);
}

/* With its thread: a Gluetun that stops is seen at once through the
 * events stream (the period is 60 s), and its return too. */
static void
test_events_wake_the_monitor(void **state)
{
	fx *f = fx_open(1, NULL, NULL, true);
	bool ok;

	(void) state;
	TL_WAIT_FOR(ok, vpn(f, 0).connected, 5000);
	assert_true(ok);
	assert_int_equal(orch_fake_rt_die(f->fake, f->gid[0], 0), ORCH_OK);
	TL_WAIT_FOR(ok, strcmp(vpn(f, 0).status, "exited") == 0, 5000);
	assert_true(ok);
	assert_int_equal(orch_fake_rt_start(f->fake, f->gid[0]), ORCH_OK);
	TL_WAIT_FOR(ok, vpn(f, 0).connected, 5000);
	assert_true(ok);
	fx_close(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_engines_inside_gluetun, teardown),
	    cmocka_unit_test_teardown(test_gate_follows_the_tunnel, teardown),
	    cmocka_unit_test_teardown(test_reconnect_replaces_once, teardown),
	    cmocka_unit_test_teardown(test_forwarded_port_change, teardown),
	    cmocka_unit_test_teardown(test_max_replicas_stops_first, teardown),
	    cmocka_unit_test_teardown(test_full_pool_stops_first, teardown),
	    cmocka_unit_test_teardown(
	        test_container_stops_and_starts, teardown),
	    cmocka_unit_test_teardown(test_api_key, teardown),
	    cmocka_unit_test_teardown(test_old_gluetun, teardown),
	    cmocka_unit_test_teardown(test_two_vpns, teardown),
	    cmocka_unit_test_teardown(test_cycles_leave_no_port, teardown),
	    cmocka_unit_test_teardown(test_events_wake_the_monitor, teardown),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests_name(
	    "vpn monitor (fake runtime)", tests, NULL, teardown);
	curl_global_cleanup();
	return rc;
}
