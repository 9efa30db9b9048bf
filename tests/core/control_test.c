/*
 * The controllers' operations on the core (src/core/control.h) over a
 * manual clock: adoption and Docker's die/start/destroy, the reconcile's
 * verdict on a list, resolve by id or name, the control loop's candidates
 * (startup timeouts, GC, scale), the health replacement's bookkeeping,
 * probe and stat application, the visitors and the counters.
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

#include "src/core/control.h"
#include "src/core/core.h"

#define S(x) ((int64_t) (x) *INT64_C(1000000))
#define T0 S(1700000000)

typedef struct fixture {
	orch_config cfg;
	int64_t now;
	orch_core core;
} fixture;

static fixture *
fx_new(void)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	orch_config_defaults(&f->cfg);
	f->cfg.min_replicas = 1;
	f->cfg.max_replicas = 4;
	f->now = T0;
	assert_int_equal(orch_core_init(&f->core, &f->cfg,
	                     orch_clock_manual(&f->now), NULL),
	    ORCH_OK);
	return f;
}

static void
fx_free(fixture *f)
{
	orch_core_fini(&f->core);
	orch_config_fini(&f->cfg);
	free(f);
}

static orch_engine_spec
spec_of(const char *id, const char *name, int http, bool running)
{
	orch_engine_spec sp;

	memset(&sp, 0, sizeof(sp));
	sp.container_id = id;
	sp.container_name = name;
	sp.host = "127.0.0.1";
	sp.port = http;
	sp.host_http_port = http;
	sp.container_http_port = http;
	sp.container_https_port = http + 26000;
	sp.running = running;
	return sp;
}

static orch_engine *
get(fixture *f, const char *id)
{
	return orch_state_engine_get(&f->core.state, id);
}

static void
start_stream(fixture *f, const char *id, const char *sid)
{
	orch_stream_start ev;
	orch_stream *s;

	memset(&ev, 0, sizeof(ev));
	ev.container_id = id;
	ev.key_type = "content_id";
	ev.key = sid;
	ev.stream_id = sid;
	ev.stat_url = "http://127.0.0.1:19000/ace/stat/x";
	ev.is_live = true;
	orch_core_lock(&f->core);
	assert_int_equal(
	    orch_state_stream_start(&f->core.state, &ev, f->now, &s), ORCH_OK);
	orch_core_unlock(&f->core);
}

static void
test_adopt_and_running(void **state)
{
	fixture *f = fx_new();
	orch_engine_spec a = spec_of("aaa", "acestream-1", 19000, true);
	orch_engine_spec b = spec_of("bbb", "acestream-2", 19001, false);
	char name[ORCH_CORE_NAME_MAX], full[ORCH_CORE_ID_MAX];
	bool changed;

	(void) state;
	assert_true(orch_core_adopt(&f->core, &a));
	assert_false(orch_core_adopt(&f->core, &a)); /* known: no add */
	assert_false(orch_core_adopt(&f->core, &b)); /* stopped: not added */
	assert_null(get(f, "bbb"));
	assert_true(orch_ports_in_use(&f->core.http_ports, 19000));
	assert_true(orch_ports_in_use(&f->core.https_ports, 45000));
	/* A known engine follows the list's running flag. */
	a.running = false;
	assert_false(orch_core_adopt(&f->core, &a));
	assert_false(get(f, "aaa")->running);
	a.running = true;
	(void) orch_core_adopt(&f->core, &a);
	assert_true(get(f, "aaa")->running);

	/* die: ends the streams; a second die is a replay. */
	start_stream(f, "aaa", "s1");
	assert_int_equal(orch_core_engine_set_running(&f->core, "aaa", false,
	                     &changed, name, sizeof(name)),
	    ORCH_OK);
	assert_true(changed);
	assert_string_equal(name, "acestream-1");
	assert_false(orch_state_stream_get(&f->core.state, "s1")->active);
	assert_int_equal(orch_core_engine_set_running(
	                     &f->core, "aaa", false, &changed, NULL, 0),
	    ORCH_OK);
	assert_false(changed);
	/* start: back, health unknown, startup clock restarted. */
	f->now += S(5);
	assert_int_equal(orch_core_engine_set_running(
	                     &f->core, "aaa", true, &changed, NULL, 0),
	    ORCH_OK);
	assert_true(changed);
	assert_true(get(f, "aaa")->started_us == f->now);
	assert_int_equal(orch_core_engine_set_running(
	                     &f->core, "zzz", true, &changed, NULL, 0),
	    ORCH_ENOTFOUND);
	assert_false(changed);

	/* resolve by id or name; drop releases the ports. */
	assert_int_equal(
	    orch_core_engine_resolve(&f->core, "acestream-1", full), ORCH_OK);
	assert_string_equal(full, "aaa");
	assert_int_equal(
	    orch_core_engine_resolve(&f->core, "nope", full), ORCH_ENOTFOUND);
	assert_string_equal(full, "");
	assert_int_equal(orch_core_engine_count(&f->core), 1);
	assert_true(orch_core_engine_drop(&f->core, "aaa", NULL));
	assert_false(orch_core_engine_drop(&f->core, "aaa", NULL));
	assert_int_equal(orch_ports_used(&f->core.http_ports), 0);
	assert_int_equal(orch_ports_used(&f->core.https_ports), 0);
	assert_int_equal(orch_core_engine_count(&f->core), 0);
	fx_free(f);
}

static int gone_calls;

static void
on_gone(void *arg, const orch_engine *e)
{
	(void) arg;
	(void) e;
	gone_calls++;
}

static void
test_drop_unlisted(void **state)
{
	fixture *f = fx_new();
	orch_engine_spec a = spec_of("aaa", "acestream-1", 19000, true);
	orch_engine_spec b = spec_of("bbb", "acestream-2", 19001, true);
	orch_engine_spec c = spec_of("ccc", "acestream-3", 19002, true);
	orch_engine_spec d = spec_of("ddd", "acestream-4", 19003, true);
	orch_core_seen seen[] = {{"aaa", true}, {"bbb", false}, {"ddd", true}};
	int64_t listed;

	(void) state;
	(void) orch_core_adopt(&f->core, &a);
	(void) orch_core_adopt(&f->core, &b);
	(void) orch_core_adopt(&f->core, &c);
	f->now += S(1);
	listed = f->now;
	/* d is put after the list was taken: not judged by it. */
	f->now += S(1);
	(void) orch_core_adopt(&f->core, &d);
	/* b is down on both sides: stopped for good. */
	(void) orch_core_engine_set_running(
	    &f->core, "bbb", false, NULL, NULL, 0);
	gone_calls = 0;
	assert_int_equal(
	    orch_core_drop_unlisted(&f->core, listed, seen, 3, on_gone, NULL),
	    2);
	assert_int_equal(gone_calls, 2);
	assert_non_null(get(f, "aaa"));
	assert_null(get(f, "bbb"));
	assert_null(get(f, "ccc")); /* not in the list */
	assert_non_null(get(f, "ddd"));
	assert_int_equal(orch_ports_used(&f->core.http_ports), 2);
	fx_free(f);
}

static void
test_candidates(void **state)
{
	fixture *f = fx_new();
	orch_engine_spec a = spec_of("aaa", "acestream-1", 19000, true);
	orch_engine_spec b = spec_of("bbb", "acestream-2", 19001, true);
	char ids[4][ORCH_CORE_ID_MAX];
	orch_scale_plan plan;

	(void) state;
	(void) orch_core_adopt(&f->core, &a);
	(void) orch_core_adopt(&f->core, &b);
	/* One free engine is enough for MIN_REPLICAS 1; provisions in
	 * flight count as free ones to come. */
	assert_int_equal(orch_core_autoscale_need(&f->core), 0);
	f->cfg.min_replicas = 4;
	assert_int_equal(orch_core_autoscale_need(&f->core), 2);
	f->core.provisioning = 1;
	assert_int_equal(orch_core_autoscale_need(&f->core), 1);
	f->core.provisioning = 0;
	f->cfg.min_replicas = 1;

	/* Startup timeouts are for engines provisioned here: adopted ones
	 * (a, never probed) are judged by probes, never removed for it. */
	(void) orch_core_apply_probe(&f->core, "bbb", true, NULL, 0, NULL);
	f->now += S(f->cfg.startup_timeout_s) * 2;
	assert_int_equal(orch_core_startup_expired(&f->core, ids, 4), 0);
	assert_int_equal(f->core.general.failure_count, 0);
	(void) orch_core_apply_probe(&f->core, "aaa", true, NULL, 0, NULL);

	/* GC (forced): idle past the grace, keeping one free. */
	f->now += S(f->cfg.engine_grace_period_s);
	assert_int_equal(orch_core_gc_candidates(&f->core, true, ids, 4), 1);
	orch_core_drain_cancel(&f->core, ids[0]); /* not stopped after all */
	/* Scale to 1: one to stop (the never healthy one first? the policy
	 * decides; one of the two). */
	plan = orch_core_scale_candidates(&f->core, 1, ids, 4);
	assert_int_equal(plan.scaled_to, 1);
	assert_int_equal(plan.n_stop, 1);
	assert_int_equal(plan.start, 0);
	assert_int_equal(strlen(ids[0]), 3);
	orch_core_drain_cancel(&f->core, ids[0]);
	plan = orch_core_scale_candidates(&f->core, 9, ids, 4);
	assert_int_equal(plan.scaled_to, 4);
	assert_int_equal(plan.start, 2);
	fx_free(f);
}

/* Defect 13: GC counts only healthy engines as free. One healthy and
 * one still unknown, MIN_REPLICAS 1: stopping the healthy one would leave
 * no healthy engine, so nothing is collected; once both are healthy, one
 * (the healthy-only candidates) goes. */
static void
test_gc_keeps_healthy(void **state)
{
	fixture *f = fx_new();
	orch_engine_spec a = spec_of("aaa", "acestream-1", 19000, true);
	orch_engine_spec b = spec_of("bbb", "acestream-2", 19001, true);
	char ids[4][ORCH_CORE_ID_MAX];

	(void) state;
	(void) orch_core_adopt(&f->core, &a);
	(void) orch_core_adopt(&f->core, &b);
	(void) orch_core_apply_probe(&f->core, "aaa", true, NULL, 0, NULL);
	f->now += S(f->cfg.engine_grace_period_s + 1);
	assert_int_equal(f->core.state.counts.free, 2);
	assert_int_equal(f->core.state.counts.free_healthy, 1);
	assert_int_equal(orch_core_gc_candidates(&f->core, true, ids, 4), 0);
	(void) orch_core_apply_probe(&f->core, "bbb", true, NULL, 0, NULL);
	assert_int_equal(orch_core_gc_candidates(&f->core, true, ids, 4), 1);
	fx_free(f);
}

/* Defect 2: an engine GC or Scale chose is out of selection at once; a
 * stream that lands on it anyway (a proxy chose it before) undrains it at
 * the confirm, and it is not stopped. */
static void
test_drain(void **state)
{
	fixture *f = fx_new();
	orch_engine_spec a = spec_of("aaa", "acestream-1", 19000, true);
	orch_engine_spec b = spec_of("bbb", "acestream-2", 19001, true);
	char ids[4][ORCH_CORE_ID_MAX];
	orch_engine *sel;
	orch_scale_plan plan;

	(void) state;
	(void) orch_core_adopt(&f->core, &a);
	(void) orch_core_adopt(&f->core, &b);
	(void) orch_core_apply_probe(&f->core, "aaa", true, NULL, 0, NULL);
	(void) orch_core_apply_probe(&f->core, "bbb", true, NULL, 0, NULL);
	f->now += S(f->cfg.engine_grace_period_s + 1);
	assert_int_equal(orch_core_gc_candidates(&f->core, true, ids, 4), 1);
	assert_true(get(f, ids[0])->draining);
	assert_int_equal(f->core.state.counts.free, 1);
	/* Chosen again by no one: selection gives the other engine, GC and
	 * Scale do not pick it twice. */
	orch_core_lock(&f->core);
	sel = orch_state_select(&f->core.state, f->now);
	orch_core_unlock(&f->core);
	assert_non_null(sel);
	assert_string_not_equal(sel->container_id, ids[0]);
	plan = orch_core_scale_candidates(&f->core, 1, ids + 1, 3);
	assert_int_equal(plan.n_stop, 0); /* the other one carries nothing
	                                     but is the last free */
	/* A stream lands on it: the confirm says no and undrains it. */
	start_stream(f, ids[0], "s1");
	assert_false(orch_core_drain_confirm(&f->core, ids[0]));
	assert_false(get(f, ids[0])->draining);
	/* Idle again, chosen again, confirmed: the stop may go ahead; a
	 * failed stop undrains it. */
	orch_core_lock(&f->core);
	{
		orch_stream *ended;

		(void) orch_state_stream_end(
		    &f->core.state, "s1", NULL, "stopped", f->now, &ended);
		assert_non_null(ended);
	}
	orch_core_unlock(&f->core);
	f->now += S(f->cfg.engine_grace_period_s + 1);
	assert_int_equal(orch_core_gc_candidates(&f->core, true, ids, 4), 1);
	assert_true(orch_core_drain_confirm(&f->core, ids[0]));
	orch_core_drain_cancel(&f->core, ids[0]);
	assert_false(get(f, ids[0])->draining);
	assert_int_equal(f->core.state.counts.free, 2);
	fx_free(f);
}

/* Defects 5 and 11: restarts by Docker are counted on the engine (the
 * clock is the container's, not an adoption's); ENGINE_CRASH_LOOP_RESTARTS
 * of them within the window name it once and count one breaker failure.
 * Restarts spread wider than the window do not. */
static void
test_crash_loop(void **state)
{
	fixture *f = fx_new();
	orch_engine_spec a = spec_of("aaa", "acestream-1", 19000, true);
	orch_engine_spec b = spec_of("bbb", "acestream-2", 19001, true);
	char ids[4][ORCH_CORE_ID_MAX];

	(void) state;
	f->cfg.crash_loop_restarts = 3;
	f->cfg.crash_loop_window_s = 60;
	f->core.state.opts.crash_window_us = S(60);
	(void) orch_core_adopt(&f->core, &a);
	(void) orch_core_adopt(&f->core, &b);
	for (int i = 0; i < 3; i++) {
		f->now += S(5);
		assert_int_equal(orch_core_engine_set_running(
		                     &f->core, "aaa", false, NULL, NULL, 0),
		    ORCH_OK);
		assert_int_equal(orch_core_engine_set_running(
		                     &f->core, "aaa", true, NULL, NULL, 0),
		    ORCH_OK);
		/* b restarts as often, once a window. */
		f->now += S(61);
		(void) orch_core_engine_set_running(
		    &f->core, "bbb", false, NULL, NULL, 0);
		(void) orch_core_engine_set_running(
		    &f->core, "bbb", true, NULL, NULL, 0);
	}
	/* a restarted three times, 66 s apart: each restart came more
	 * than a window after the last one began, so none is a loop. */
	assert_int_equal(orch_core_crash_looping(&f->core, ids, 4), 0);
	for (int i = 0; i < 3; i++) {
		f->now += S(5);
		(void) orch_core_engine_set_running(
		    &f->core, "aaa", false, NULL, NULL, 0);
		(void) orch_core_engine_set_running(
		    &f->core, "aaa", true, NULL, NULL, 0);
	}
	assert_int_equal(orch_core_crash_looping(&f->core, ids, 4), 1);
	assert_string_equal(ids[0], "aaa");
	assert_int_equal(f->core.general.failure_count, 1);
	/* Counted once. */
	assert_int_equal(orch_core_crash_looping(&f->core, ids, 4), 0);
	assert_int_equal(f->core.general.failure_count, 1);
	fx_free(f);
}

static void
test_replacement(void **state)
{
	fixture *f = fx_new();
	orch_engine_spec a = spec_of("aaa", "acestream-1", 19000, true);
	char sick[ORCH_CORE_ID_MAX], name[ORCH_CORE_NAME_MAX];
	orch_health h;
	bool first;

	(void) state;
	(void) orch_core_adopt(&f->core, &a);
	assert_false(orch_core_replacement_begin(&f->core, sick, &first));
	assert_true(orch_core_apply_probe(
	    &f->core, "aaa", true, name, sizeof(name), &h));
	assert_string_equal(name, "acestream-1");
	assert_int_equal(h, ORCH_HEALTH_HEALTHY);
	for (int i = 0; i < f->cfg.health_failure_threshold - 1; i++)
		assert_false(orch_core_apply_probe(
		    &f->core, "aaa", false, NULL, 0, NULL));
	assert_true(
	    orch_core_apply_probe(&f->core, "aaa", false, NULL, 0, &h));
	assert_int_equal(h, ORCH_HEALTH_UNHEALTHY);
	assert_int_equal(f->core.metrics.probe_failures,
	    (uint64_t) f->cfg.health_failure_threshold);
	/* Not before the grace period. */
	assert_false(orch_core_replacement_begin(&f->core, sick, &first));
	f->now += S(f->cfg.health_unhealthy_grace_period_s);
	assert_true(orch_core_replacement_begin(&f->core, sick, &first));
	assert_string_equal(sick, "aaa");
	assert_true(first); /* below MAX_REPLICAS */
	assert_true(get(f, "aaa")->marked_for_replacement);
	assert_true(f->core.replacement_in_progress);
	/* One at a time. */
	assert_false(orch_core_replacement_begin(&f->core, sick, &first));
	orch_core_replacement_end(&f->core, false);
	assert_false(f->core.replacement_in_progress);
	assert_int_equal(f->core.replacement.failure_count, 1);
	assert_true(f->core.last_replacement_us == f->now);
	/* The cooldown holds the next one back (another sick engine; the
	 * marked one is the replacement's no more). */
	{
		orch_engine_spec b =
		    spec_of("bbb", "acestream-2", 19001, true);

		(void) orch_core_adopt(&f->core, &b);
		for (int i = 0; i < f->cfg.health_failure_threshold; i++)
			(void) orch_core_apply_probe(
			    &f->core, "bbb", false, NULL, 0, NULL);
	}
	f->cfg.health_replacement_cooldown_s =
	    2 * f->cfg.health_unhealthy_grace_period_s;
	f->now += S(f->cfg.health_unhealthy_grace_period_s);
	assert_false(orch_core_replacement_begin(&f->core, sick, &first));
	f->now += S(f->cfg.health_unhealthy_grace_period_s);
	assert_true(orch_core_replacement_begin(&f->core, sick, &first));
	assert_string_equal(sick, "bbb");
	orch_core_replacement_end(&f->core, true);
	assert_int_equal(f->core.replacement.failure_count, 0);
	fx_free(f);
}

static void
visit_engine(void *arg, const orch_engine *e)
{
	(void) e;
	(*(int *) arg)++;
}

static void
visit_stream(void *arg, const orch_stream *s)
{
	(void) s;
	(*(int *) arg)++;
}

static void
test_probes_stats_counters(void **state)
{
	fixture *f = fx_new();
	orch_engine_spec a = spec_of("aaa", "acestream-1", 19000, true);
	orch_engine_spec b = spec_of("bbb", "acestream-2", 19001, true);
	orch_stat snap;
	int ne = 0, ns = 0;

	(void) state;
	(void) orch_core_adopt(&f->core, &a);
	(void) orch_core_adopt(&f->core, &b);
	(void) orch_core_engine_set_running(
	    &f->core, "bbb", false, NULL, NULL, 0);
	start_stream(f, "aaa", "s1");
	assert_int_equal(
	    orch_core_visit_probe_targets(&f->core, visit_engine, &ne),
	    1); /* bbb is down */
	assert_int_equal(ne, 1);
	assert_int_equal(
	    orch_core_visit_polled_streams(&f->core, visit_stream, &ns), 1);
	/* A probe of a down or unknown engine changes nothing (but a
	 * failure is counted). */
	assert_false(
	    orch_core_apply_probe(&f->core, "bbb", true, NULL, 0, NULL));
	assert_false(
	    orch_core_apply_probe(&f->core, "zzz", false, NULL, 0, NULL));
	assert_int_equal(f->core.metrics.probe_failures, 1);

	memset(&snap, 0, sizeof(snap));
	snap.ts_us = f->now;
	snap.peers = 3;
	snap.has = ORCH_STAT_PEERS;
	assert_int_equal(orch_core_apply_stat(&f->core, "s1", &snap), ORCH_OK);
	assert_int_equal(
	    orch_state_stream_get(&f->core.state, "s1")->stats_count, 1);
	assert_int_equal(
	    orch_core_apply_stat(&f->core, "nope", &snap), ORCH_ENOTFOUND);
	assert_true(orch_core_stream_session_gone(&f->core, "s1"));
	assert_string_equal(
	    orch_state_stream_get(&f->core.state, "s1")->end_reason,
	    "session_gone");
	assert_false(orch_core_stream_session_gone(&f->core, "s1"));
	assert_int_equal(
	    orch_core_apply_stat(&f->core, "s1", &snap), ORCH_ENOTFOUND);

	orch_core_count(&f->core, ORCH_COUNT_COLLECTOR_ERROR);
	orch_core_count(&f->core, ORCH_COUNT_CONTAINER_OK);
	orch_core_count(&f->core, ORCH_COUNT_CONTAINER_FAILED);
	orch_core_count(&f->core, ORCH_COUNT_CONTAINER_FAILED);
	orch_core_count(&f->core, ORCH_COUNT_PROBE_FAILURE);
	assert_int_equal(f->core.metrics.collector_errors, 1);
	assert_int_equal(f->core.metrics.provision_container_ok, 1);
	assert_int_equal(f->core.metrics.provision_container_failed, 2);
	assert_int_equal(f->core.metrics.probe_failures, 2);

	orch_core_set_docker_ok(&f->core, true);
	orch_core_set_image_present(&f->core, true);
	orch_core_set_image_pulling(&f->core, true);
	assert_true(f->core.env.docker_ok && f->core.env.image_ok &&
	            f->core.env.image_pulling);
	orch_core_set_docker_ok(&f->core, false);
	assert_false(f->core.env.docker_ok);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_adopt_and_running),
	    cmocka_unit_test(test_drop_unlisted),
	    cmocka_unit_test(test_candidates),
	    cmocka_unit_test(test_gc_keeps_healthy),
	    cmocka_unit_test(test_drain),
	    cmocka_unit_test(test_crash_loop),
	    cmocka_unit_test(test_replacement),
	    cmocka_unit_test(test_probes_stats_counters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
