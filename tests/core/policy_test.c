/*
 * The policy functions, table-driven: can_provision (each refusal in its
 * priority order docker > vpn > image > breaker > max, with the eta,
 * can_retry and should_wait each refusal carries; the half-open breaker
 * with its trial taken or free), status, autoscale, scale (clamping, start
 * count, which idle engines stop and in what order), idle GC (AUTO_DELETE,
 * forced, grace, MIN_REPLICAS free kept, longest idle first), startup
 * expiry and health replacement (grace, cooldown, one at a time, breaker,
 * start_first, longest unhealthy first).
 *
 * The config comes from orch_config_defaults() with fields set per test;
 * states are built with orch_state_init/orch_state_engine_put; time is a
 * number passed in.
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

#include "src/core/breaker.h"
#include "src/core/config.h"
#include "src/core/policy.h"
#include "src/core/state.h"
#include "src/core/vpncfg.h"

#define S(x) ((int64_t) (x) *INT64_C(1000000))
#define T0 S(1700000000)

/* ---- helpers ---------------------------------------------------------- */

static void
state_new(orch_state *st, int max_streams)
{
	orch_state_opts o;

	o.max_streams_per_engine = max_streams;
	o.stats_max = 16;
	o.ended_max = 100;
	o.engine_host = NULL;
	assert_int_equal(orch_state_init(st, &o), ORCH_OK);
}

/* Engine "e<n>" (name acestream-<n>, 127.0.0.1:19000+n) first seen at t. */
static orch_engine *
put_at(orch_state *st, int n, int64_t t)
{
	char id[16], name[32];
	orch_engine_spec sp;
	orch_engine *e = NULL;

	snprintf(id, sizeof(id), "e%d", n);
	snprintf(name, sizeof(name), "acestream-%d", n);
	memset(&sp, 0, sizeof(sp));
	sp.container_id = id;
	sp.container_name = name;
	sp.host = "127.0.0.1";
	sp.port = 19000 + n;
	sp.host_http_port = 19000 + n;
	sp.running = true;
	assert_int_equal(orch_state_engine_put(st, &sp, t, &e), ORCH_OK);
	return e;
}

static void
start_on(orch_state *st, orch_engine *e, const char *sid, int64_t t)
{
	orch_stream_start ev;
	orch_stream *s = NULL;

	memset(&ev, 0, sizeof(ev));
	ev.container_id = e->container_id;
	ev.key_type = "content_id";
	ev.key = "k";
	ev.stream_id = sid;
	assert_int_equal(orch_state_stream_start(st, &ev, t, &s), ORCH_OK);
}

/* One good probe: healthy (GC counts only healthy engines). */
static void
healthy(orch_state *st, orch_engine *e)
{
	(void) orch_state_engine_probe(st, e, true, 3, e->first_seen_us);
}

/* Three failed probes (threshold 3): unhealthy from t. */
static void
make_unhealthy(orch_state *st, orch_engine *e, int64_t t)
{
	orch_state_engine_probe(st, e, false, 3, t - 2);
	orch_state_engine_probe(st, e, false, 3, t - 1);
	assert_true(orch_state_engine_probe(st, e, false, 3, t));
	assert_true(e->unhealthy_since_us == t);
}

static void
ids_equal(orch_engine **got, size_t n, const char *const *want, size_t nwant,
    const char *what)
{
	char g[256] = "", w[256] = "";

	for (size_t i = 0; i < n; i++) {
		strncat(g, got[i]->container_id, sizeof(g) - strlen(g) - 2);
		strncat(g, ",", sizeof(g) - strlen(g) - 1);
	}
	for (size_t i = 0; i < nwant; i++) {
		strncat(w, want[i], sizeof(w) - strlen(w) - 2);
		strncat(w, ",", sizeof(w) - strlen(w) - 1);
	}
	if (strcmp(g, w) != 0)
		fail_msg("%s: got [%s] want [%s]", what, g, w);
}

static int
cmp_engine_id(const void *a, const void *b)
{
	return strcmp((*(orch_engine *const *) a)->container_id,
	    (*(orch_engine *const *) b)->container_id);
}

/* Same as ids_equal, ignoring order (want sorted by id). */
static void
ids_set_equal(orch_engine **got, size_t n, const char *const *want,
    size_t nwant, const char *what)
{
	orch_engine *tmp[32];

	assert_true(n <= 32);
	memcpy(tmp, got, n * sizeof(*tmp));
	qsort(tmp, n, sizeof(*tmp), cmp_engine_id);
	ids_equal(tmp, n, want, nwant, what);
}

/* ---- refusal names ---------------------------------------------------- */

static void
test_refusal_names_and_status(void **state)
{
	static const struct {
		orch_refusal_code c;
		const char *name, *reason;
		orch_err status;
	} cases[] = {
	    {ORCH_REFUSE_NONE, "none", NULL, ORCH_OK},
	    {ORCH_REFUSE_DOCKER, "docker_unavailable", "Docker unavailable",
	        ORCH_EUNAVAIL},
	    {ORCH_REFUSE_VPN, "vpn_disconnected", "VPN not connected",
	        ORCH_EPRECOND},
	    {ORCH_REFUSE_IMAGE, "image_unavailable",
	        "Engine image unavailable", ORCH_EPRECOND},
	    {ORCH_REFUSE_BREAKER, "circuit_breaker", "Circuit breaker is open",
	        ORCH_EPRECOND},
	    {ORCH_REFUSE_MAX, "max_capacity", "Maximum replicas reached",
	        ORCH_EEXHAUSTED},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_string_equal(
		    orch_refusal_code_name(cases[i].c), cases[i].name);
		if (cases[i].reason == NULL)
			assert_null(orch_refusal_reason(cases[i].c));
		else
			assert_string_equal(
			    orch_refusal_reason(cases[i].c), cases[i].reason);
		assert_non_null(orch_refusal_message(cases[i].c));
		if (cases[i].c != ORCH_REFUSE_NONE)
			assert_true(
			    strlen(orch_refusal_message(cases[i].c)) > 0);
		assert_int_equal(
		    orch_refusal_status(cases[i].c), cases[i].status);
	}
}

/* ---- can_provision ---------------------------------------------------- */

enum brk { B_CLOSED, B_OPEN, B_HALF_FREE, B_HALF_TAKEN, B_OPEN_ALMOST };

static void
test_can_provision_table(void **state)
{
	/* Defaults used: MONITOR_INTERVAL_S 10,
	 * GLUETUN_HEALTH_CHECK_INTERVAL_S 5, STARTUP_TIMEOUT_S 25, breaker 5
	 * failures / 300 s; MAX_REPLICAS set to 4. The breaker opened at T0;
	 * "open" is read at T0+100 s (200 s left), "almost" at T0+299.5 s
	 * (rounds up to 1 s). */
	static const struct {
		const char *what;
		bool docker, vpn_on, vpn_up, image, pulling;
		enum brk brk;
		int engines;
		orch_refusal_code want;
		int eta;
		bool can_retry, should_wait;
	} cases[] = {
	    {"all fine", true, false, false, true, false, B_CLOSED, 0,
	        ORCH_REFUSE_NONE, -1, true, false},
	    {"all fine with VPN", true, true, true, true, false, B_CLOSED, 3,
	        ORCH_REFUSE_NONE, -1, true, false},
	    {"everything wrong: docker first", false, true, false, false,
	        false, B_OPEN, 4, ORCH_REFUSE_DOCKER, 10, true, true},
	    {"docker alone", false, false, false, true, false, B_CLOSED, 0,
	        ORCH_REFUSE_DOCKER, 10, true, true},
	    {"vpn before image", true, true, false, false, false, B_OPEN, 4,
	        ORCH_REFUSE_VPN, 5, true, true},
	    {"vpn disabled: its state ignored", true, false, false, true,
	        false, B_CLOSED, 0, ORCH_REFUSE_NONE, -1, true, false},
	    {"image before breaker, no pull", true, true, true, false, false,
	        B_OPEN, 4, ORCH_REFUSE_IMAGE, -1, false, false},
	    {"image missing while pulling", true, false, false, false, true,
	        B_CLOSED, 0, ORCH_REFUSE_IMAGE, -1, true, true},
	    {"breaker open before max", true, false, false, true, false,
	        B_OPEN, 4, ORCH_REFUSE_BREAKER, 200, true, true},
	    {"breaker open, eta rounds up", true, false, false, true, false,
	        B_OPEN_ALMOST, 0, ORCH_REFUSE_BREAKER, 1, true, true},
	    {"half-open with trial taken", true, false, false, true, false,
	        B_HALF_TAKEN, 0, ORCH_REFUSE_BREAKER, 25, true, true},
	    {"half-open free: allowed", true, false, false, true, false,
	        B_HALF_FREE, 0, ORCH_REFUSE_NONE, -1, true, false},
	    {"half-open free but at max", true, false, false, true, false,
	        B_HALF_FREE, 4, ORCH_REFUSE_MAX, -1, true, true},
	    {"max reached", true, false, false, true, false, B_CLOSED, 4,
	        ORCH_REFUSE_MAX, -1, true, true},
	    {"over max", true, false, false, true, false, B_CLOSED, 7,
	        ORCH_REFUSE_MAX, -1, true, true},
	    {"one below max", true, false, false, true, false, B_CLOSED, 3,
	        ORCH_REFUSE_NONE, -1, true, false},
	};
	orch_config cfg;

	(void) state;
	orch_config_defaults(&cfg);
	cfg.max_replicas = 4;
	assert_int_equal(cfg.monitor_interval_s, 10);
	assert_int_equal(cfg.gluetun_health_check_interval_s, 5);
	assert_int_equal(cfg.startup_timeout_s, 25);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		orch_state_counts c;
		orch_env env;
		orch_breaker b;
		orch_refusal r;
		int64_t now = T0 + S(100);
		bool ok;

		memset(&c, 0, sizeof(c));
		c.engines = cases[i].engines;
		memset(&env, 0, sizeof(env));
		env.docker_ok = cases[i].docker;
		env.vpn_connected = cases[i].vpn_up;
		env.image_ok = cases[i].image;
		env.image_pulling = cases[i].pulling;
		free(cfg.gluetun_container_name);
		cfg.gluetun_container_name =
		    cases[i].vpn_on ? strdup("gluetun") : NULL;
		assert_int_equal(orch_vpncfg_split(&cfg, NULL), ORCH_OK);
		orch_breaker_init(
		    &b, cfg.cb_failure_threshold, cfg.cb_recovery_timeout_s);
		if (cases[i].brk != B_CLOSED) {
			for (int k = 0; k < cfg.cb_failure_threshold; k++)
				orch_breaker_record_failure(&b, T0);
		}
		switch (cases[i].brk) {
		case B_OPEN_ALMOST:
			now = T0 + S(299) + S(1) / 2;
			break;
		case B_HALF_FREE:
			now = T0 + S(300);
			break;
		case B_HALF_TAKEN:
			now = T0 + S(300);
			assert_true(orch_breaker_try_acquire(&b, now));
			break;
		default:
			break;
		}
		memset(&r, 0x5a, sizeof(r)); /* every field must be written */
		ok = orch_policy_can_provision(&c, &cfg, &env, &b, now, &r);
		if (r.code != cases[i].want || r.eta_s != cases[i].eta ||
		    r.can_retry != cases[i].can_retry ||
		    r.should_wait != cases[i].should_wait)
			fail_msg(
			    "%s: got code %d eta %d retry %d wait %d; want "
			    "%d %d %d %d",
			    cases[i].what, r.code, r.eta_s, r.can_retry,
			    r.should_wait, cases[i].want, cases[i].eta,
			    cases[i].can_retry, cases[i].should_wait);
		assert_int_equal(ok, cases[i].want == ORCH_REFUSE_NONE);
	}
	orch_config_fini(&cfg);
}

/* ---- status ----------------------------------------------------------- */

static void
test_status_table(void **state)
{
	static const struct {
		bool docker, blocked;
		int healthy, min;
		const char *want;
	} cases[] = {
	    {true, false, 1, 1, "healthy"},
	    {true, false, 5, 1, "healthy"},
	    {true, false, 0, 0, "healthy"},
	    {true, false, 0, 1, "degraded"},
	    {true, false, 2, 3, "degraded"},
	    {true, true, 5, 1, "degraded"},
	    {false, false, 5, 1, "unavailable"},
	    {false, true, 0, 3, "unavailable"},
	};
	orch_config cfg;

	(void) state;
	orch_config_defaults(&cfg);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		orch_state_counts c;

		memset(&c, 0, sizeof(c));
		c.healthy = cases[i].healthy;
		c.engines = c.running = cases[i].healthy + 1;
		cfg.min_replicas = cases[i].min;
		assert_string_equal(orch_policy_status(&c, &cfg,
		                        cases[i].docker, cases[i].blocked),
		    cases[i].want);
	}
	orch_config_fini(&cfg);
}

/* ---- autoscale -------------------------------------------------------- */

static void
test_autoscale_table(void **state)
{
	static const struct {
		int min, max, free, engines, want;
	} cases[] = {
	    {1, 10, 0, 0, 1},  /* nothing yet: one */
	    {1, 10, 1, 1, 0},  /* one free: enough */
	    {1, 10, 0, 5, 1},  /* all busy: one more */
	    {3, 10, 1, 5, 2},  /* two short */
	    {3, 10, 0, 9, 1},  /* only room for one */
	    {3, 10, 0, 10, 0}, /* at max */
	    {3, 10, 0, 12, 0}, /* over max: never negative */
	    {0, 10, 0, 4, 0},  /* MIN_REPLICAS 0 */
	    {2, 10, 5, 5, 0},  /* more free than needed: no stop here */
	    {5, 3, 0, 0, 3},   /* min above max: the cap wins */
	    {2, 2, 1, 2, 0},
	};
	orch_config cfg;

	(void) state;
	orch_config_defaults(&cfg);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		orch_state_counts c;
		int got;

		memset(&c, 0, sizeof(c));
		c.free = cases[i].free;
		c.engines = c.running = cases[i].engines;
		cfg.min_replicas = cases[i].min;
		cfg.max_replicas = cases[i].max;
		got = orch_policy_autoscale(&c, &cfg);
		if (got != cases[i].want)
			fail_msg(
			    "row %zu: got %d want %d", i, got, cases[i].want);
	}
	orch_config_fini(&cfg);
}

/* Autoscale over a real state: reservations and the stream cap count. */
static void
test_autoscale_over_state(void **state)
{
	orch_config cfg;
	orch_state st;
	orch_engine *a, *b;

	(void) state;
	orch_config_defaults(&cfg);
	cfg.min_replicas = 1;
	cfg.max_replicas = 3;
	state_new(&st, 1);
	assert_int_equal(orch_policy_autoscale(&st.counts, &cfg), 1);
	a = put_at(&st, 1, T0);
	assert_int_equal(orch_policy_autoscale(&st.counts, &cfg), 0);
	assert_int_equal(
	    orch_state_reserve(&st, a, "r", T0 + S(15), NULL), ORCH_OK);
	assert_int_equal(orch_policy_autoscale(&st.counts, &cfg), 1);
	b = put_at(&st, 2, T0);
	start_on(&st, b, "s", T0);
	assert_int_equal(orch_policy_autoscale(&st.counts, &cfg), 1);
	orch_state_engine_probe(&st, put_at(&st, 3, T0), false, 1, T0);
	/* e3 unhealthy: not free; but the cap is reached. */
	assert_int_equal(orch_policy_autoscale(&st.counts, &cfg), 0);
	orch_state_fini(&st);
	orch_config_fini(&cfg);
}

/* ---- scale ------------------------------------------------------------ */

static void
test_scale_clamps_and_starts(void **state)
{
	static const struct {
		int min, max, engines, n;
		int want_to, want_start;
	} cases[] = {
	    {1, 5, 0, 3, 3, 3},
	    {1, 5, 2, 3, 3, 1},
	    {1, 5, 3, 3, 3, 0},
	    {1, 5, 0, 0, 1, 1}, /* below min: clamped up */
	    {1, 5, 0, -7, 1, 1},
	    {2, 5, 0, 1, 2, 2},
	    {1, 5, 0, 100, 5, 5}, /* above max: clamped down */
	    {1, 5, 4, 100, 5, 1},
	    {0, 5, 0, 0, 0, 0},
	};
	orch_config cfg;

	(void) state;
	orch_config_defaults(&cfg);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		orch_state st;
		orch_engine *stop[8];
		orch_scale_plan p;

		cfg.min_replicas = cases[i].min;
		cfg.max_replicas = cases[i].max;
		state_new(&st, 1);
		for (int k = 0; k < cases[i].engines; k++)
			(void) put_at(&st, k + 1, T0);
		p = orch_policy_scale(&st, &cfg, cases[i].n, stop, 8);
		if (p.scaled_to != cases[i].want_to ||
		    p.start != cases[i].want_start || p.n_stop != 0)
			fail_msg("row %zu: to %d start %d stop %zu", i,
			    p.scaled_to, p.start, p.n_stop);
		orch_state_fini(&st);
	}
	orch_config_fini(&cfg);
}

/*
 * Stopping: only idle engines (no stream, no reservation), in stop order:
 * not running, unhealthy, marked, then longest idle, then id.
 */
static void
test_scale_stops_idle_in_order(void **state)
{
	orch_config cfg;
	orch_state st;
	orch_engine *e[10], *stop[16];
	orch_scale_plan p;

	(void) state;
	orch_config_defaults(&cfg);
	cfg.min_replicas = 1;
	cfg.max_replicas = 10;
	state_new(&st, 1);
	e[1] = put_at(&st, 1, T0 + S(10)); /* idle since T0+10 */
	e[2] = put_at(&st, 2, T0);         /* busy */
	start_on(&st, e[2], "s2", T0 + S(1));
	e[3] = put_at(&st, 3, T0 + S(50)); /* not running */
	orch_state_engine_set_running(&st, e[3], false, T0 + S(50));
	e[4] = put_at(&st, 4, T0 + S(40)); /* unhealthy */
	make_unhealthy(&st, e[4], T0 + S(41));
	e[5] = put_at(&st, 5, T0 + S(30)); /* marked */
	orch_state_engine_set_marked(&st, e[5], true);
	e[6] = put_at(&st, 6, T0 + S(5)); /* idle since T0+5 */
	e[7] = put_at(&st, 7, T0);        /* reserved: not idle */
	assert_int_equal(
	    orch_state_reserve(&st, e[7], "r7", T0 + S(999), NULL), ORCH_OK);
	e[8] = put_at(&st, 8, T0 + S(10)); /* ties e1 on idle time */
	{
		/* An unmanaged entry is never stopped. */
		orch_stream_start ev;
		orch_stream *s;

		memset(&ev, 0, sizeof(ev));
		ev.host = "10.0.0.1";
		ev.port = 6878;
		ev.key_type = "content_id";
		ev.key = "k";
		ev.stream_id = "u";
		assert_int_equal(
		    orch_state_stream_start(&st, &ev, T0, &s), ORCH_OK);
	}
	assert_int_equal(st.counts.engines, 8);

	p = orch_policy_scale(&st, &cfg, 1, stop, 16);
	assert_int_equal(p.scaled_to, 1);
	assert_int_equal(p.start, 0);
	{
		static const char *const want[] = {
		    "e3", "e4", "e5", "e6", "e1", "e8"};

		ids_equal(stop, p.n_stop, want, 6, "scale to 1");
	}
	/* Fewer wanted than idle: the first ones in that order. */
	p = orch_policy_scale(&st, &cfg, 6, stop, 16);
	{
		static const char *const want[] = {"e3", "e4"};

		ids_equal(stop, p.n_stop, want, 2, "scale to 6");
	}
	/* stop_cap bounds the plan. */
	p = orch_policy_scale(&st, &cfg, 1, stop, 3);
	{
		static const char *const want[] = {"e3", "e4", "e5"};

		ids_equal(stop, p.n_stop, want, 3, "stop_cap 3");
	}
	p = orch_policy_scale(&st, &cfg, 1, NULL, 0);
	assert_int_equal(p.n_stop, 0);
	/* Equal: nothing. */
	p = orch_policy_scale(&st, &cfg, 8, stop, 16);
	assert_int_equal(p.scaled_to, 8);
	assert_int_equal(p.start, 0);
	assert_int_equal(p.n_stop, 0);
	/* The plan does not change the state. */
	assert_int_equal(st.counts.engines, 8);
	orch_state_fini(&st);
	orch_config_fini(&cfg);
}

/* ---- gc --------------------------------------------------------------- */

/*
 * Engines e1..e4 idle since T0, T0+10, T0+20, T0+100; read at T0+110 with
 * a 30 s grace: e1, e2, e3 are past it (110, 100, 90 s), e4 is not (10 s).
 */
static void
test_gc_table(void **state)
{
	static const struct {
		const char *what;
		bool auto_delete, forced;
		int min, grace;
		size_t cap;
		int64_t now_s;
		const char *want[4];
		size_t nwant;
	} cases[] = {
	    {"auto: longest idle first, min kept", true, false, 1, 30, 8, 110,
	        {"e1", "e2", "e3"}, 3},
	    {"AUTO_DELETE off: nothing", false, false, 1, 30, 8, 110, {0}, 0},
	    {"AUTO_DELETE off, forced", false, true, 1, 30, 8, 110,
	        {"e1", "e2", "e3"}, 3},
	    {"forced with AUTO_DELETE on", true, true, 1, 30, 8, 110,
	        {"e1", "e2", "e3"}, 3},
	    {"min 3 leaves one to stop", true, false, 3, 30, 8, 110, {"e1"},
	        1},
	    {"min 2", true, true, 2, 30, 8, 110, {"e1", "e2"}, 2},
	    {"min 4 = free: nothing", true, true, 4, 30, 8, 110, {0}, 0},
	    {"min 9 > free: nothing", true, true, 9, 30, 8, 110, {0}, 0},
	    {"min 0: all past grace", true, false, 0, 30, 8, 110,
	        {"e1", "e2", "e3"}, 3},
	    {"cap 2", true, false, 0, 30, 2, 110, {"e1", "e2"}, 2},
	    {"grace exactly reached", true, false, 0, 90, 8, 110,
	        {"e1", "e2", "e3"}, 3},
	    {"grace one second short", true, false, 0, 91, 8, 110,
	        {"e1", "e2"}, 2},
	    {"grace 0: every idle one", true, false, 0, 0, 8, 110,
	        {"e1", "e2", "e3", "e4"}, 4},
	    {"too early for all", true, true, 0, 30, 8, 20, {0}, 0},
	};
	orch_config cfg;

	(void) state;
	orch_config_defaults(&cfg);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		orch_state st;
		orch_engine *out[8];
		size_t n;

		cfg.auto_delete = cases[i].auto_delete;
		cfg.min_replicas = cases[i].min;
		cfg.engine_grace_period_s = cases[i].grace;
		state_new(&st, 1);
		/* put in a shuffled order: the result must not depend on it */
		healthy(&st, put_at(&st, 3, T0 + S(20)));
		healthy(&st, put_at(&st, 1, T0));
		healthy(&st, put_at(&st, 4, T0 + S(100)));
		healthy(&st, put_at(&st, 2, T0 + S(10)));
		n = orch_policy_gc(&st, &cfg, T0 + S(cases[i].now_s),
		    cases[i].forced, out, cases[i].cap);
		ids_equal(
		    out, n, cases[i].want, cases[i].nwant, cases[i].what);
		orch_state_fini(&st);
	}
	orch_config_fini(&cfg);
}

/* Only free engines are collected, and only free engines count toward the
 * minimum: busy, reserved, unhealthy, marked, stopped and unmanaged ones
 * are never chosen. idle_since follows the last stream's end. */
static void
test_gc_only_free_idle_engines(void **state)
{
	orch_config cfg;
	orch_state st;
	orch_engine *e[10] = {0}, *out[16];
	size_t n;

	(void) state;
	orch_config_defaults(&cfg);
	cfg.auto_delete = true;
	cfg.engine_grace_period_s = 30;
	cfg.min_replicas = 1;
	state_new(&st, 1);
	for (int k = 1; k <= 8; k++)
		healthy(&st, e[k] = put_at(&st, k, T0));
	/* e9: idle for ever but never probed: not free enough to stop,
	 * and not counted toward the minimum (one healthy must stay). */
	e[9] = put_at(&st, 9, T0);
	start_on(&st, e[1], "busy", T0 + S(1)); /* busy */
	assert_int_equal(
	    orch_state_reserve(&st, e[2], "r", T0 + S(9999), NULL),
	    ORCH_OK);                                        /* reserved */
	make_unhealthy(&st, e[3], T0 + S(5));                /* unhealthy */
	orch_state_engine_set_marked(&st, e[4], true);       /* marked */
	orch_state_engine_set_running(&st, e[5], false, T0); /* stopped */
	start_on(&st, e[6], "was", T0 + S(1)); /* idle since +50 */
	{
		orch_stream *s;

		assert_int_equal(orch_state_stream_end(
		                     &st, "was", NULL, NULL, T0 + S(50), &s),
		    ORCH_OK);
		assert_non_null(s);
	}
	/* e7, e8 idle since T0. Free: e6, e7, e8 and e9 (unknown). */
	assert_int_equal(st.counts.free, 4);
	assert_int_equal(st.counts.free_healthy, 3);
	n = orch_policy_gc(&st, &cfg, T0 + S(60), false, out, 16);
	{
		static const char *const want[] = {"e7", "e8"}; /* e6: 10 s */

		ids_equal(out, n, want, 2, "at +60");
	}
	n = orch_policy_gc(&st, &cfg, T0 + S(80), false, out, 16);
	{
		/* e6 past grace too, but only free - min = 2 may go */
		static const char *const want[] = {"e7", "e8"};

		ids_equal(out, n, want, 2, "at +80");
	}
	cfg.min_replicas = 0;
	n = orch_policy_gc(&st, &cfg, T0 + S(80), false, out, 16);
	{
		static const char *const want[] = {"e7", "e8", "e6"};

		ids_equal(out, n, want, 3, "at +80, min 0");
	}
	orch_state_fini(&st);
	orch_config_fini(&cfg);
}

/* ---- startup expiry --------------------------------------------------- */

/* As the core's commit marks an engine it provisioned (provision.c). */
static void
pend(orch_engine *e, int64_t t)
{
	e->startup_pending = true;
	e->pending_since_us = t;
}

static void
test_startup_expired(void **state)
{
	orch_config cfg;
	orch_state st;
	orch_engine *e[6], *out[8];
	size_t n;

	(void) state;
	orch_config_defaults(&cfg);
	cfg.startup_timeout_s = 25;
	state_new(&st, 1);
	e[1] = put_at(&st, 1, T0); /* provisioned, never answers */
	pend(e[1], T0);
	e[2] = put_at(&st, 2, T0); /* adopted, never answers: not ours */
	e[3] = put_at(&st, 3, T0 + S(10)); /* provisioned later */
	pend(e[3], T0 + S(10));
	e[4] = put_at(&st, 4, T0); /* provisioned, then died */
	pend(e[4], T0);
	orch_state_engine_set_running(&st, e[4], false, T0 + S(1));
	e[5] = put_at(&st, 5, T0); /* failed probes only */
	pend(e[5], T0);
	orch_state_engine_probe(&st, e[5], false, 3, T0 + S(5));

	n = orch_policy_startup_expired(&st, &cfg, T0 + S(25) - 1, out, 8);
	assert_int_equal(n, 0);
	/* A restart (die then start) does not restart the clock: it is
	 * the provision's (a crash loop must not escape it). */
	orch_state_engine_set_running(&st, e[1], false, T0 + S(20));
	orch_state_engine_set_running(&st, e[1], true, T0 + S(20));
	n = orch_policy_startup_expired(&st, &cfg, T0 + S(25), out, 8);
	{
		static const char *const want[] = {"e1", "e4", "e5"};

		ids_set_equal(out, n, want, 3, "at 25 s");
	}
	n = orch_policy_startup_expired(&st, &cfg, T0 + S(35), out, 8);
	assert_int_equal(n, 4);
	n = orch_policy_startup_expired(&st, &cfg, T0 + S(35), out, 1);
	assert_int_equal(n, 1);
	/* Adopted e2 is never one, however long. */
	n = orch_policy_startup_expired(&st, &cfg, T0 + S(3600), out, 8);
	assert_int_equal(n, 4);
	orch_state_fini(&st);
	orch_config_fini(&cfg);
}

/* ---- replacement ------------------------------------------------------ */

enum rbrk { R_CLOSED, R_OPEN, R_HALF_FREE, R_HALF_TAKEN };

/*
 * e1 unhealthy since T0+10, e2 since T0+5, e3 healthy, e4 unhealthy since
 * T0+5 but marked (already being replaced), e5 unhealthy since T0 but not
 * running. Grace 30 s, cooldown 30 s. The replacement breaker (3 / 180 s)
 * opened at T0 when not closed; "half" rows read at T0+180.
 */
static void
test_replacement_table(void **state)
{
	static const struct {
		const char *what;
		int64_t now_s;
		int64_t last_s; /* last replacement, -1 = never */
		bool in_progress;
		enum rbrk brk;
		int max;
		const char *want; /* NULL = none */
		bool start_first;
	} cases[] = {
	    {"within grace for all", 34, -1, false, R_CLOSED, 10, NULL, false},
	    {"e2 reaches grace first", 35, -1, false, R_CLOSED, 10, "e2",
	        true},
	    {"both past grace: longest unhealthy", 60, -1, false, R_CLOSED, 10,
	        "e2", true},
	    {"replacement in progress", 60, -1, true, R_CLOSED, 10, NULL,
	        false},
	    {"cooldown not over", 60, 31, false, R_CLOSED, 10, NULL, false},
	    {"cooldown just over", 60, 30, false, R_CLOSED, 10, "e2", true},
	    {"breaker open", 60, -1, false, R_OPEN, 10, NULL, false},
	    {"breaker half-open, trial taken", 180, -1, false, R_HALF_TAKEN,
	        10, NULL, false},
	    {"breaker half-open, trial free", 180, -1, false, R_HALF_FREE, 10,
	        "e2", true},
	    {"at MAX_REPLICAS: stop first", 60, -1, false, R_CLOSED, 5, "e2",
	        false},
	    {"over MAX_REPLICAS: stop first", 60, -1, false, R_CLOSED, 3, "e2",
	        false},
	    {"one below MAX_REPLICAS: start first", 60, -1, false, R_CLOSED, 6,
	        "e2", true},
	};
	orch_config cfg;

	(void) state;
	orch_config_defaults(&cfg);
	cfg.health_unhealthy_grace_period_s = 30;
	cfg.health_replacement_cooldown_s = 30;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		orch_state st;
		orch_engine *e[6];
		orch_breaker b;
		orch_replacement r;
		int64_t now = T0 + S(cases[i].now_s);
		bool due;

		cfg.max_replicas = cases[i].max;
		state_new(&st, 1);
		for (int k = 1; k <= 5; k++)
			e[k] = put_at(&st, k, T0 - S(100));
		make_unhealthy(&st, e[1], T0 + S(10));
		make_unhealthy(&st, e[2], T0 + S(5));
		orch_state_engine_probe(&st, e[3], true, 3, T0);
		make_unhealthy(&st, e[4], T0 + S(5));
		orch_state_engine_set_marked(&st, e[4], true);
		make_unhealthy(&st, e[5], T0);
		orch_state_engine_set_running(&st, e[5], false, T0 + S(1));
		assert_int_equal(st.counts.engines, 5);

		orch_breaker_init(&b, cfg.cb_replacement_threshold,
		    cfg.cb_replacement_timeout_s);
		if (cases[i].brk != R_CLOSED) {
			for (int k = 0; k < cfg.cb_replacement_threshold; k++)
				orch_breaker_record_failure(&b, T0);
		}
		if (cases[i].brk == R_HALF_TAKEN)
			assert_true(orch_breaker_try_acquire(&b, now));
		if (cases[i].brk == R_HALF_FREE)
			assert_int_equal(orch_breaker_state_at(&b, now),
			    ORCH_BREAKER_HALF_OPEN);

		memset(&r, 0x5a, sizeof(r));
		due = orch_policy_replacement(&st, &cfg, now,
		    cases[i].last_s < 0 ? 0 : T0 + S(cases[i].last_s),
		    cases[i].in_progress, &b, &r);
		if (cases[i].want == NULL) {
			if (due || r.engine != NULL)
				fail_msg("%s: a replacement was due",
				    cases[i].what);
			assert_false(r.start_first);
		} else {
			if (!due || r.engine == NULL ||
			    strcmp(r.engine->container_id, cases[i].want) != 0)
				fail_msg("%s: got %s want %s", cases[i].what,
				    r.engine ? r.engine->container_id : "none",
				    cases[i].want);
			if (r.start_first != cases[i].start_first)
				fail_msg("%s: start_first %d", cases[i].what,
				    r.start_first);
		}
		orch_state_fini(&st);
	}
	orch_config_fini(&cfg);
}

/* Once e2 is dealt with (healthy again), e1 is next; equal times go by id. */
static void
test_replacement_next_and_tie(void **state)
{
	orch_config cfg;
	orch_state st;
	orch_engine *e[4];
	orch_breaker b;
	orch_replacement r;

	(void) state;
	orch_config_defaults(&cfg);
	cfg.health_unhealthy_grace_period_s = 0;
	cfg.health_replacement_cooldown_s = 0;
	orch_breaker_init(&b, 3, 180);
	state_new(&st, 1);
	e[1] = put_at(&st, 1, T0);
	e[2] = put_at(&st, 2, T0);
	e[3] = put_at(&st, 3, T0);
	make_unhealthy(&st, e[3], T0 + S(10));
	make_unhealthy(&st, e[2], T0 + S(10));
	make_unhealthy(&st, e[1], T0 + S(20));
	/* grace 0: due at once */
	assert_true(
	    orch_policy_replacement(&st, &cfg, T0 + S(20), 0, false, &b, &r));
	assert_string_equal(r.engine->container_id, "e2"); /* tie: id */
	orch_state_engine_probe(&st, e[2], true, 3, T0 + S(21));
	assert_true(
	    orch_policy_replacement(&st, &cfg, T0 + S(21), 0, false, &b, &r));
	assert_string_equal(r.engine->container_id, "e3");
	orch_state_engine_remove(&st, e[3], T0 + S(22), NULL);
	assert_true(
	    orch_policy_replacement(&st, &cfg, T0 + S(22), 0, false, &b, &r));
	assert_ptr_equal(r.engine, e[1]);
	orch_state_engine_probe(&st, e[1], true, 3, T0 + S(23));
	assert_false(
	    orch_policy_replacement(&st, &cfg, T0 + S(23), 0, false, &b, &r));
	assert_null(r.engine);
	orch_state_fini(&st);
	orch_config_fini(&cfg);
}

/* A container that is not an engine: only Docker down refuses it. */
static void
test_container_refusals(void **state)
{
	orch_config cfg;
	orch_env env;
	orch_refusal r;

	(void) state;
	orch_config_defaults(&cfg);
	memset(&env, 0, sizeof(env));
	/* The engines' image missing and the VPN down change nothing. */
	env.docker_ok = true;
	env.image_ok = false;
	env.vpn_connected = false;
	assert_true(orch_policy_can_provision_container(&cfg, &env, &r));
	assert_int_equal(r.code, ORCH_REFUSE_NONE);
	env.docker_ok = false;
	assert_false(orch_policy_can_provision_container(&cfg, &env, &r));
	assert_int_equal(r.code, ORCH_REFUSE_DOCKER);
	assert_int_equal(r.eta_s, cfg.monitor_interval_s);
	orch_config_fini(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_container_refusals),
	    cmocka_unit_test(test_refusal_names_and_status),
	    cmocka_unit_test(test_can_provision_table),
	    cmocka_unit_test(test_status_table),
	    cmocka_unit_test(test_autoscale_table),
	    cmocka_unit_test(test_autoscale_over_state),
	    cmocka_unit_test(test_scale_clamps_and_starts),
	    cmocka_unit_test(test_scale_stops_idle_in_order),
	    cmocka_unit_test(test_gc_table),
	    cmocka_unit_test(test_gc_only_free_idle_engines),
	    cmocka_unit_test(test_startup_expired),
	    cmocka_unit_test(test_replacement_table),
	    cmocka_unit_test(test_replacement_next_and_tie),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
