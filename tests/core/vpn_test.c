/*
 * The core's VPN ledger (src/core/vpn.h) over a manual clock, no runtime,
 * no Gluetun: what the VPN monitor reports becomes the gate (refused only
 * when every VPN is down, a 401 told apart from a drop), the pool of the
 * ports Gluetun publishes (its exclusions, VPN_PORT_RANGE, explicit host
 * ports, exhaustion, ports back on every path over 200 cycles), the VPN
 * a new engine goes to, the one forwarded engine per VPN (first taker,
 * a port change, adoption of two), the reconnect window and a restarted
 * container, the down marks (free counts, selection, listing), retirement
 * and the metrics.
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

#include "src/base/buf.h"
#include "src/core/config.h"
#include "src/core/control.h"
#include "src/core/core.h"
#include "src/core/provision.h"
#include "src/core/vpn.h"
#include "src/core/vpncfg.h"
#include "tests/core/fx.h"

#define S(x) ((int64_t) (x) *INT64_C(1000000))
#define T0 S(1700000000)

typedef struct fixture {
	fx_core c;
	int seq; /* container ids */
} fixture;

/* The two Gluetuns' published ports: the control server, Gluetun's own
 * proxies, three engine ports, and one exposed without a host port. */
static const orch_vpn_pub pubs_a[] = {{8000, 31000}, {8888, 31888},
    {8388, 31388}, {19000, 39000}, {19001, 39001}, {19002, 39002}, {19003, 0}};
static const orch_vpn_pub pubs_b[] = {
    {8000, 32000}, {19000, 49000}, {19001, 49001}, {19002, 49002}};

static fixture *
fx_new(const char *const *extra_env)
{
	fixture *f = calloc(1, sizeof(*f));
	const char *env[32] = {"GLUETUN_CONTAINER_NAME=ga,gb",
	    "ACE_HTTPS_RANGE=45000-45999", "MAX_REPLICAS=50", NULL};
	size_t n = 3;

	assert_non_null(f);
	for (size_t i = 0; extra_env != NULL && extra_env[i] != NULL; i++)
		env[n++] = extra_env[i];
	env[n] = NULL;
	fx_core_load(&f->c, env);
	f->c.now = T0;
	fx_core_start(&f->c, NULL, NULL);
	fx_core_env_up(&f->c);
	return f;
}

static void
fx_free(fixture *f)
{
	fx_core_fini(&f->c);
	free(f);
}

/* One round's report for VPN i: connected or not (a stopped tunnel),
 * with a forwarded port (-1: not read). */
static orch_vpn_change
report(fixture *f, size_t i, bool up, int fwd)
{
	orch_vpn_report r;
	orch_vpn_change ch;

	memset(&r, 0, sizeof(r));
	r.status = "running";
	r.health = up ? "healthy" : "unhealthy";
	r.started_us = T0 - S(100) + (int64_t) i;
	r.control = ORCH_VPN_CONTROL_OK;
	r.tunnel_up = up;
	r.forwarded_port = fwd;
	r.error = up ? NULL : "Gluetun says the tunnel is not running";
	r.pubs_known = true;
	r.pubs = i == 0 ? pubs_a : pubs_b;
	r.n_pubs = i == 0 ? sizeof(pubs_a) / sizeof(pubs_a[0])
	                  : sizeof(pubs_b) / sizeof(pubs_b[0]);
	orch_core_vpn_report(&f->c.core, i, &r, &ch);
	return ch;
}

static orch_slot_opts
opts_for(const char *vpn, bool forwarded, int host_port)
{
	orch_slot_opts o;

	memset(&o, 0, sizeof(o));
	o.host_port = host_port;
	o.vpn = vpn;
	o.forwarded = forwarded;
	return o;
}

/* A slot reserved (or the error) on opts. */
static orch_err
reserve(fixture *f, const orch_slot_opts *o, orch_slot *slot,
    orch_refusal *ref, orch_diag *d)
{
	return orch_core_slot_reserve(&f->c.core, o, slot, ref, d);
}

/* Commits slot as a running engine; its id into id. */
static void
commit(fixture *f, orch_slot *slot, char id[ORCH_CORE_ID_MAX])
{
	char name[64];
	orch_engine_spec spec;
	const char *vpn = f->c.cfg.vpns[slot->vpn].name;

	snprintf(id, ORCH_CORE_ID_MAX, "id-%d", ++f->seq);
	snprintf(name, sizeof(name), "acestream-%d", slot->number);
	memset(&spec, 0, sizeof(spec));
	spec.container_id = id;
	spec.container_name = name;
	spec.host = vpn;
	spec.port = slot->http_port;
	spec.host_http_port = slot->host_http_port;
	spec.host_https_port = slot->host_https_port;
	spec.container_http_port = slot->http_port;
	spec.container_https_port = slot->https_port;
	spec.vpn = vpn;
	spec.p2p_port = slot->p2p_port;
	spec.forwarded = slot->p2p_port != 0;
	spec.running = true;
	assert_int_equal(
	    orch_core_slot_commit(&f->c.core, slot, &spec, 0.1, NULL),
	    ORCH_OK);
}

/* Reserves and commits one engine (on vpn, NULL: the core's choice). */
static void
start_engine(fixture *f, const char *vpn, char id[ORCH_CORE_ID_MAX])
{
	orch_slot_opts o = opts_for(vpn, false, 0);
	orch_slot slot;
	orch_refusal ref;
	orch_diag d;

	if (reserve(f, &o, &slot, &ref, &d) != ORCH_OK)
		fail_msg("reserve: %s", d.msg);
	commit(f, &slot, id);
}

static orch_engine *
engine(fixture *f, const char *id)
{
	return orch_state_engine_get(&f->c.core.state, id);
}

static int
free_ports(fixture *f, size_t i)
{
	int n;

	orch_core_lock(&f->c.core);
	n = orch_core_vpn_free_ports_locked(&f->c.core, i);
	orch_core_unlock(&f->c.core);
	return n;
}

static bool
can_provision(fixture *f, orch_refusal *why)
{
	bool ok;

	orch_core_lock(&f->c.core);
	ok = orch_core_can_provision_locked(&f->c.core, why);
	orch_core_unlock(&f->c.core);
	return ok;
}

/* ---- the pool ---------------------------------------------------------- */

static void
test_pool_from_published_ports(void **state)
{
	static const char *const ranged[] = {
	    "VPN_PORT_RANGE=8888-19001,19002-19002", NULL};
	fixture *f;
	orch_vpn_report r;
	const orch_vpn *v;

	(void) state;
	f = fx_new(NULL);
	/* Before any report: no port, and "unknown". */
	assert_int_equal(free_ports(f, 0), 0);
	v = orch_core_vpn_at_locked(&f->c.core, 0);
	assert_string_equal(v->status, "unknown");
	report(f, 0, true, 0);
	/* Not the control server's 8000, not Gluetun's 8888/8388, not one
	 * without a host port. */
	assert_int_equal(v->n_pool, 3);
	assert_int_equal(free_ports(f, 0), 3);
	/* A round that could not inspect keeps the pool. */
	memset(&r, 0, sizeof(r));
	r.status = "running";
	r.control = ORCH_VPN_CONTROL_OK;
	r.tunnel_up = true;
	r.forwarded_port = -1;
	orch_core_vpn_report(&f->c.core, 0, &r, NULL);
	assert_int_equal(v->n_pool, 3);
	fx_free(f);

	/* VPN_PORT_RANGE, one entry per Gluetun: only those ports, 8888
	 * too when the user names it; never GLUETUN_API_PORT. */
	f = fx_new(ranged);
	report(f, 0, true, 0);
	report(f, 1, true, 0);
	v = orch_core_vpn_at_locked(&f->c.core, 0);
	assert_int_equal(v->n_pool, 3); /* 8888, 19000, 19001 */
	assert_int_equal(v->pool[0].port, 8888);
	v = orch_core_vpn_at_locked(&f->c.core, 1);
	assert_int_equal(v->n_pool, 1); /* 19002 */
	assert_int_equal(v->pool[0].host_port, 49002);
	fx_free(f);
}

static void
test_gate_and_choice(void **state)
{
	fixture *f = fx_new(NULL);
	orch_slot_opts any = opts_for(NULL, false, 0);
	orch_slot_opts on_a = opts_for("ga", false, 0);
	orch_slot s1, s2, s3;
	orch_refusal ref;
	orch_diag d;
	char id[ORCH_CORE_ID_MAX];

	(void) state;
	/* Both down (no report yet): the structured VPN refusal. */
	assert_false(can_provision(f, &ref));
	assert_int_equal(ref.code, ORCH_REFUSE_VPN);
	assert_true(ref.should_wait);
	assert_int_equal(ref.eta_s, f->c.cfg.gluetun_health_check_interval_s);
	assert_int_equal(reserve(f, &any, &s1, &ref, &d), ORCH_EPRECOND);
	assert_int_equal(ref.code, ORCH_REFUSE_VPN);
	report(f, 0, false, -1);
	report(f, 1, false, -1);
	assert_false(can_provision(f, &ref));

	/* Only gb up: everything goes there; a slot named for ga is the
	 * VPN refusal, not a failure. */
	report(f, 1, true, 0);
	assert_true(can_provision(f, &ref));
	assert_int_equal(reserve(f, &any, &s1, &ref, &d), ORCH_OK);
	assert_int_equal(s1.vpn, 1);
	assert_int_equal(s1.host_http_port, 49000);
	assert_int_equal(s1.http_port, 19000);
	assert_int_equal(reserve(f, &on_a, &s2, &ref, &d), ORCH_EPRECOND);
	assert_int_equal(ref.code, ORCH_REFUSE_VPN);
	commit(f, &s1, id);

	/* Both up: the one with fewer engines (slots in flight count). */
	report(f, 0, true, 0);
	assert_int_equal(reserve(f, &any, &s2, &ref, &d), ORCH_OK);
	assert_int_equal(s2.vpn, 0);
	assert_int_equal(reserve(f, &any, &s3, &ref, &d), ORCH_OK);
	assert_int_equal(s3.vpn, 0); /* 1 + 0 in flight vs 1 + 1: a tie */
	orch_core_slot_abort(&f->c.core, &s3, ORCH_SLOT_FAILED, NULL);
	commit(f, &s2, id);
	assert_int_equal(orch_core_vpn_at_locked(&f->c.core, 0)->engines, 1);
	assert_int_equal(orch_core_vpn_at_locked(&f->c.core, 1)->engines, 1);

	/* gb drops: open while ga is up; new engines go to ga. */
	report(f, 1, false, -1);
	assert_true(can_provision(f, &ref));
	assert_int_equal(reserve(f, &any, &s3, &ref, &d), ORCH_OK);
	assert_int_equal(s3.vpn, 0);
	orch_core_slot_abort(&f->c.core, &s3, ORCH_SLOT_FAILED, NULL);
	/* Both down: refused again. */
	report(f, 0, false, -1);
	assert_false(can_provision(f, &ref));
	assert_int_equal(ref.code, ORCH_REFUSE_VPN);
	fx_free(f);
}

static void
test_ports_back_on_every_path(void **state)
{
	fixture *f = fx_new(NULL);
	orch_slot_opts any = opts_for(NULL, false, 0);
	char id[ORCH_CORE_ID_MAX];
	orch_refusal ref;
	orch_diag d;

	(void) state;
	report(f, 0, true, 0);
	report(f, 1, true, 0);
	for (int k = 0; k < 200; k++) {
		orch_slot s;

		/* reserve, commit, remove */
		assert_int_equal(reserve(f, &any, &s, &ref, &d), ORCH_OK);
		commit(f, &s, id);
		assert_true(orch_core_engine_drop(&f->c.core, id, NULL));
		/* reserve, every abort outcome (and the world put right
		 * again: Docker back, the image there, the breaker reset) */
		assert_int_equal(reserve(f, &any, &s, &ref, &d), ORCH_OK);
		orch_core_slot_abort(
		    &f->c.core, &s, (orch_slot_outcome) (1 + k % 4), NULL);
		orch_core_set_docker_ok(&f->c.core, true);
		orch_core_set_image_present(&f->c.core, true);
		orch_core_lock(&f->c.core);
		(void) orch_core_reset_breaker_locked(&f->c.core, NULL);
		orch_core_unlock(&f->c.core);
	}
	assert_int_equal(free_ports(f, 0), 3);
	assert_int_equal(free_ports(f, 1), 3);
	assert_int_equal(orch_ports_used(&f->c.core.https_ports), 0);
	assert_int_equal(orch_core_vpn_at_locked(&f->c.core, 0)->engines, 0);
	assert_int_equal(orch_core_vpn_at_locked(&f->c.core, 0)->inflight, 0);
	assert_int_equal(f->c.core.provisioning, 0);
	fx_free(f);
}

static void
test_explicit_host_port_and_exhaustion(void **state)
{
	fixture *f = fx_new(NULL);
	orch_slot_opts o;
	orch_slot s, held[3];
	orch_refusal ref;
	orch_diag d;

	(void) state;
	report(f, 0, true, 0);
	report(f, 1, true, 0);
	/* gb's host port: that VPN, that container port. */
	o = opts_for(NULL, false, 49001);
	assert_int_equal(reserve(f, &o, &s, &ref, &d), ORCH_OK);
	assert_int_equal(s.vpn, 1);
	assert_int_equal(s.http_port, 19001);
	/* Taken, or not published: host_port is the field at fault. */
	assert_int_equal(reserve(f, &o, &held[0], &ref, &d), ORCH_EEXIST);
	assert_string_equal(d.field, "host_port");
	o = opts_for(NULL, false, 40404);
	assert_int_equal(reserve(f, &o, &held[0], &ref, &d), ORCH_EEXIST);
	assert_string_equal(d.field, "host_port");
	orch_core_slot_abort(&f->c.core, &s, ORCH_SLOT_FAILED, NULL);

	/* Every port of both in use: exhausted, saying which has what. */
	o = opts_for(NULL, false, 0);
	for (int k = 0; k < 6; k++) {
		orch_slot tmp;

		assert_int_equal(reserve(f, &o, &tmp, &ref, &d), ORCH_OK);
		if (k < 3)
			held[k] = tmp;
		else
			commit(f, &tmp, (char[ORCH_CORE_ID_MAX]){0});
	}
	assert_int_equal(reserve(f, &o, &s, &ref, &d), ORCH_EEXHAUSTED);
	assert_non_null(strstr(d.msg, "ga: 0 of 3 free"));
	assert_non_null(strstr(d.msg, "gb: 0 of 3 free"));
	for (int k = 0; k < 3; k++)
		orch_core_slot_abort(
		    &f->c.core, &held[k], ORCH_SLOT_FAILED, NULL);
	assert_int_equal(free_ports(f, 0) + free_ports(f, 1), 3);
	fx_free(f);
}

/* ---- the forwarded port ------------------------------------------------ */

static void
test_one_forwarded_per_vpn(void **state)
{
	fixture *f = fx_new(NULL);
	orch_slot_opts on_a = opts_for("ga", false, 0);
	orch_slot_opts fwd_a = opts_for("ga", true, 0);
	orch_slot s1, s2, s3;
	char id1[ORCH_CORE_ID_MAX], id2[ORCH_CORE_ID_MAX];
	char id3[ORCH_CORE_ID_MAX], due[4][ORCH_CORE_ID_MAX];
	orch_refusal ref;
	orch_diag d;
	int port = 0;

	(void) state;
	report(f, 0, true, 54321);
	/* Known and fresh, no owner: needed. */
	assert_true(orch_core_vpn_forward_need(&f->c.core, 0, &port));
	assert_int_equal(port, 54321);
	/* The first provision takes it; one in flight is enough. */
	assert_int_equal(reserve(f, &on_a, &s1, &ref, &d), ORCH_OK);
	assert_int_equal(s1.p2p_port, 54321);
	assert_false(orch_core_vpn_forward_need(&f->c.core, 0, &port));
	assert_int_equal(reserve(f, &on_a, &s2, &ref, &d), ORCH_OK);
	assert_int_equal(s2.p2p_port, 0);
	commit(f, &s1, id1);
	commit(f, &s2, id2);
	assert_true(engine(f, id1)->forwarded);
	assert_false(engine(f, id2)->forwarded);
	assert_false(orch_core_vpn_forward_need(&f->c.core, 0, &port));

	/* The port changes: needed again; the taker is forced. */
	f->c.now += S(60);
	report(f, 0, true, 41000);
	assert_true(orch_core_vpn_forward_need(&f->c.core, 0, &port));
	assert_int_equal(port, 41000);
	assert_int_equal(reserve(f, &fwd_a, &s3, &ref, &d), ORCH_OK);
	assert_int_equal(s3.p2p_port, 41000);
	/* Until the new one is committed, the old one still owns it. */
	assert_true(engine(f, id1)->forwarded);
	commit(f, &s3, id3);
	assert_true(engine(f, id3)->forwarded);
	assert_false(engine(f, id1)->forwarded);
	assert_true(engine(f, id1)->marked_for_replacement);
	assert_false(orch_core_vpn_forward_need(&f->c.core, 0, &port));
	/* The old one is idle: due to stop at once. */
	assert_int_equal(orch_core_vpn_retire_due(&f->c.core, due, 4), 1);
	assert_string_equal(due[0], id1);
	assert_true(orch_core_engine_drop(&f->c.core, id1, NULL));
	assert_int_equal(orch_core_vpn_retire_due(&f->c.core, due, 4), 0);

	/* A tunnel that is down has no port to give. */
	report(f, 0, false, -1);
	assert_false(orch_core_vpn_forward_need(&f->c.core, 0, &port));
	fx_free(f);
}

static void
test_adopted_forwarded_engines(void **state)
{
	fixture *f = fx_new(NULL);
	orch_engine_spec spec;
	orch_label none[1];

	(void) state;
	report(f, 0, true, 41000);
	/* Two engines of ga that both claim the forwarded port (left by a
	 * restart mid-change): the one with the current port keeps it. */
	memset(&spec, 0, sizeof(spec));
	spec.container_name = "acestream-1";
	spec.container_id = "old";
	spec.host = "ga";
	spec.port = 19000;
	spec.host_http_port = 39000;
	spec.container_http_port = 19000;
	spec.container_https_port = 45000;
	spec.labels = none;
	spec.vpn = "ga";
	spec.p2p_port = 54321;
	spec.forwarded = true;
	spec.running = true;
	assert_true(orch_core_adopt(&f->c.core, &spec));
	spec.container_name = "acestream-2";
	spec.container_id = "new";
	spec.port = 19001;
	spec.host_http_port = 39001;
	spec.container_http_port = 19001;
	spec.container_https_port = 45001;
	spec.p2p_port = 41000;
	assert_true(orch_core_adopt(&f->c.core, &spec));
	assert_true(engine(f, "new")->forwarded);
	assert_false(engine(f, "old")->forwarded);
	assert_true(engine(f, "old")->marked_for_replacement);
	/* Adopted ports are taken in the pool. */
	assert_int_equal(free_ports(f, 0), 1);
	assert_int_equal(orch_core_vpn_at_locked(&f->c.core, 0)->engines, 2);
	fx_free(f);
}

/* ---- reconnects -------------------------------------------------------- */

/* A stream on engine id (so it is busy). */
static void
busy(fixture *f, const char *id)
{
	orch_stream_start ev;
	orch_stream *st;

	memset(&ev, 0, sizeof(ev));
	ev.container_id = id;
	ev.key_type = "infohash";
	ev.key = "k";
	ev.playback_session_id = id;
	orch_core_lock(&f->c.core);
	assert_int_equal(
	    orch_state_stream_start(&f->c.core.state, &ev, f->c.now, &st),
	    ORCH_OK);
	orch_core_unlock(&f->c.core);
}

static void
test_reconnect_window(void **state)
{
	fixture *f = fx_new(NULL);
	char idle[ORCH_CORE_ID_MAX], loaded[ORCH_CORE_ID_MAX];
	char later[ORCH_CORE_ID_MAX], id[ORCH_CORE_ID_MAX];
	bool is_idle, fwd;
	orch_vpn_change ch;

	(void) state;
	ch = report(f, 0, true, 0);
	assert_true(ch.up);
	assert_false(ch.reconnect); /* the first connect */
	start_engine(f, "ga", idle);
	start_engine(f, "ga", loaded);
	busy(f, loaded);

	/* A bounce shorter than VPN_RECONNECT_STABLE_S (10 s): nothing. */
	f->c.now += S(1);
	ch = report(f, 0, false, -1);
	assert_true(ch.down);
	f->c.now += S(9);
	ch = report(f, 0, true, 0);
	assert_true(ch.up);
	assert_int_equal(ch.down_ms, 9000);
	assert_false(ch.reconnect);
	assert_false(
	    orch_core_vpn_reconnect_next(&f->c.core, 0, id, &is_idle, &fwd));

	/* Down 10 s: every engine from before is due once, idle first. */
	ch = report(f, 0, false, -1);
	f->c.now += S(10);
	ch = report(f, 0, true, 0);
	assert_true(ch.reconnect);
	f->c.now += S(1);
	start_engine(f, "ga", later); /* after the reconnect: not due */
	assert_true(
	    orch_core_vpn_reconnect_next(&f->c.core, 0, id, &is_idle, &fwd));
	assert_string_equal(id, idle);
	assert_true(is_idle);
	assert_int_equal(orch_core_vpn_retire(&f->c.core, id, 0), ORCH_OK);
	assert_true(
	    orch_core_vpn_reconnect_next(&f->c.core, 0, id, &is_idle, &fwd));
	assert_string_equal(id, loaded);
	assert_false(is_idle);
	assert_int_equal(orch_core_vpn_retire(&f->c.core, id, 300), ORCH_OK);
	/* Done: the reconnect is cleared. */
	assert_false(
	    orch_core_vpn_reconnect_next(&f->c.core, 0, id, &is_idle, &fwd));
	assert_int_equal(
	    orch_core_vpn_at_locked(&f->c.core, 0)->reconnect_cutoff_us, 0);
	/* The loaded one drains: due only after VPN_RECONNECT_DRAIN_S. */
	{
		char due[4][ORCH_CORE_ID_MAX];

		assert_int_equal(
		    orch_core_vpn_retire_due(&f->c.core, due, 4), 1);
		assert_string_equal(due[0], idle);
		f->c.now += S(300);
		assert_int_equal(
		    orch_core_vpn_retire_due(&f->c.core, due, 4), 2);
	}
	fx_free(f);
}

static void
test_restarted_container_and_option_off(void **state)
{
	static const char *const off[] = {
	    "VPN_RESTART_ENGINES_ON_RECONNECT=false", NULL};
	fixture *f = fx_new(NULL);
	orch_vpn_report r;
	orch_vpn_change ch;
	char id[ORCH_CORE_ID_MAX], due[ORCH_CORE_ID_MAX];
	bool is_idle, fwd;

	(void) state;
	report(f, 0, true, 0);
	start_engine(f, "ga", id);
	/* Started anew between two rounds: its engines' namespace is
	 * gone, whatever the window. */
	f->c.now += S(2);
	memset(&r, 0, sizeof(r));
	r.status = "running";
	r.health = "healthy";
	r.started_us = T0 + S(1);
	r.control = ORCH_VPN_CONTROL_OK;
	r.tunnel_up = true;
	r.forwarded_port = -1;
	orch_core_vpn_report(&f->c.core, 0, &r, &ch);
	assert_true(ch.restarted);
	assert_true(ch.reconnect);
	assert_true(
	    orch_core_vpn_reconnect_next(&f->c.core, 0, due, &is_idle, &fwd));
	assert_string_equal(due, id);
	fx_free(f);

	/* VPN_RESTART_ENGINES_ON_RECONNECT=false: never. */
	f = fx_new(off);
	report(f, 0, true, 0);
	start_engine(f, "ga", id);
	report(f, 0, false, -1);
	f->c.now += S(60);
	ch = report(f, 0, true, 0);
	assert_true(ch.up);
	assert_false(ch.reconnect);
	assert_false(
	    orch_core_vpn_reconnect_next(&f->c.core, 0, due, &is_idle, &fwd));
	fx_free(f);
}

/* ---- down marks, selection, listing ------------------------------------ */

static void
healthy(fixture *f, const char *id)
{
	assert_true(
	    orch_core_apply_probe(&f->c.core, id, true, NULL, 0, NULL));
}

static void
test_down_vpn_marks_its_engines(void **state)
{
	fixture *f = fx_new(NULL);
	char on_a[ORCH_CORE_ID_MAX], on_b[ORCH_CORE_ID_MAX];
	char rid[ORCH_RESERVATION_ID_LEN + 1];
	orch_engine *const *v;
	orch_engine *e;
	size_t n;

	(void) state;
	report(f, 0, true, 0);
	report(f, 1, true, 0);
	start_engine(f, "ga", on_a);
	start_engine(f, "gb", on_b);
	healthy(f, on_a);
	healthy(f, on_b);
	assert_int_equal(f->c.core.state.counts.free, 2);

	/* ga drops: its engine stays listed and selectable, but after
	 * gb's and no longer free (the autoscaler starts others). */
	report(f, 0, false, -1);
	assert_true(engine(f, on_a)->vpn_down);
	assert_false(engine(f, on_b)->vpn_down);
	assert_int_equal(f->c.core.state.counts.free, 1);
	assert_int_equal(f->c.core.state.counts.healthy, 2);
	orch_core_lock(&f->c.core);
	v = orch_state_engines_sorted(&f->c.core.state, &n);
	assert_int_equal(n, 2);
	/* ga's port (19000... 39000) is lower, yet it is listed last. */
	assert_string_equal(v[0]->container_id, on_b);
	assert_string_equal(v[1]->container_id, on_a);
	assert_int_equal(
	    orch_core_select_locked(&f->c.core, true, &e, rid), ORCH_OK);
	assert_string_equal(e->container_id, on_b);
	/* With gb's engine taken, ga's still serves. */
	assert_int_equal(
	    orch_core_select_locked(&f->c.core, true, &e, rid), ORCH_OK);
	assert_string_equal(e->container_id, on_a);
	orch_core_unlock(&f->c.core);

	/* Back: unmarked. */
	report(f, 0, true, 0);
	assert_false(engine(f, on_a)->vpn_down);
	fx_free(f);
}

/* ---- the configuration error, metrics --------------------------------- */

static void
test_auth_error_is_not_a_drop(void **state)
{
	fixture *f = fx_new(NULL);
	orch_vpn_report r;
	orch_refusal ref;
	orch_buf out = ORCH_BUF_INIT;

	(void) state;
	memset(&r, 0, sizeof(r));
	r.status = "running";
	r.health = "healthy";
	r.control = ORCH_VPN_CONTROL_AUTH;
	r.forwarded_port = -1;
	r.error = "control server http://x/v1/vpn/status: HTTP 401";
	orch_core_vpn_report(&f->c.core, 0, &r, NULL);
	report(f, 1, false, -1);
	assert_false(can_provision(f, &ref));
	assert_int_equal(ref.code, ORCH_REFUSE_VPN);
	/* Waiting does not fix a wrong key: say so. */
	assert_false(ref.should_wait);
	assert_true(ref.can_retry);
	assert_int_equal(ref.eta_s, -1);
	assert_non_null(ref.message);
	assert_non_null(strstr(ref.message, "GLUETUN_API_KEY"));
	assert_string_equal(orch_core_vpn_at_locked(&f->c.core, 0)->error,
	    "control server http://x/v1/vpn/status: HTTP 401");
	/* A plain drop on every VPN is the usual refusal. */
	report(f, 0, false, -1);
	assert_false(can_provision(f, &ref));
	assert_true(ref.should_wait);
	assert_null(ref.message);
	/* Another VPN connected: open. */
	orch_core_vpn_report(&f->c.core, 0, &r, NULL);
	report(f, 1, true, 7000);
	assert_true(can_provision(f, &ref));

	orch_core_lock(&f->c.core);
	orch_metrics_render_locked(&f->c.core, &out);
	orch_core_unlock(&f->c.core);
	assert_non_null(
	    strstr(orch_buf_cstr(&out), "orch_vpn_connected{vpn=\"ga\"} 0\n"));
	assert_non_null(
	    strstr(orch_buf_cstr(&out), "orch_vpn_connected{vpn=\"gb\"} 1\n"));
	assert_non_null(strstr(orch_buf_cstr(&out),
	    "orch_vpn_forwarded_port{vpn=\"gb\"} 7000\n"));
	assert_non_null(strstr(orch_buf_cstr(&out),
	    "orch_vpn_transitions_total{vpn=\"gb\",to=\"connected\"} 1\n"));
	assert_non_null(strstr(orch_buf_cstr(&out),
	    "orch_vpn_transitions_total{vpn=\"ga\",to=\"disconnected\"} 0\n"));
	orch_buf_fini(&out);
	fx_free(f);
}

static void
test_idle_victim(void **state)
{
	fixture *f = fx_new(NULL);
	char a1[ORCH_CORE_ID_MAX], a2[ORCH_CORE_ID_MAX], v[ORCH_CORE_ID_MAX];

	(void) state;
	report(f, 0, true, 54321);
	assert_false(orch_core_vpn_idle_victim(&f->c.core, 0, v));
	start_engine(f, "ga", a1); /* takes the forwarded port */
	start_engine(f, "ga", a2);
	assert_true(engine(f, a1)->forwarded);
	/* The forwarded one first: it is the one being replaced. */
	assert_true(orch_core_vpn_idle_victim(&f->c.core, 0, v));
	assert_string_equal(v, a1);
	busy(f, a1);
	assert_true(orch_core_vpn_idle_victim(&f->c.core, 0, v));
	assert_string_equal(v, a2);
	busy(f, a2);
	assert_false(orch_core_vpn_idle_victim(&f->c.core, 0, v));
	assert_false(orch_core_vpn_idle_victim(&f->c.core, 1, v));
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pool_from_published_ports),
	    cmocka_unit_test(test_gate_and_choice),
	    cmocka_unit_test(test_ports_back_on_every_path),
	    cmocka_unit_test(test_explicit_host_port_and_exhaustion),
	    cmocka_unit_test(test_one_forwarded_per_vpn),
	    cmocka_unit_test(test_adopted_forwarded_engines),
	    cmocka_unit_test(test_reconnect_window),
	    cmocka_unit_test(test_restarted_container_and_option_off),
	    cmocka_unit_test(test_down_vpn_marks_its_engines),
	    cmocka_unit_test(test_auth_error_is_not_a_drop),
	    cmocka_unit_test(test_idle_victim),
	};

	return cmocka_run_group_tests_name("core vpn", tests, NULL, NULL);
}
