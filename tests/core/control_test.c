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
#include "tests/core/fx.h"

#define S(x) ((int64_t) (x) *INT64_C(1000000))
#define T0 S(1700000000)

typedef struct fixture {
	fx_core c;
} fixture;

static fixture *
fx_new(void)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_core_config(&f->c, 1, 4);
	f->c.now = T0;
	fx_core_start(&f->c, NULL, NULL);
	return f;
}

static void
fx_free(fixture *f)
{
	fx_core_fini(&f->c);
	free(f);
}

static orch_engine *
get(fixture *f, const char *id)
{
	return orch_state_engine_get(&f->c.core.state, id);
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
	orch_core_lock(&f->c.core);
	assert_int_equal(
	    orch_state_stream_start(&f->c.core.state, &ev, f->c.now, &s),
	    ORCH_OK);
	orch_core_unlock(&f->c.core);
}

static void
test_adopt_and_running(void **state)
{
	fixture *f = fx_new();
	orch_engine_spec a = fx_spec("aaa", "acestream-1", 19000, true);
	orch_engine_spec b = fx_spec("bbb", "acestream-2", 19001, false);
	char name[ORCH_CORE_NAME_MAX], full[ORCH_CORE_ID_MAX];
	bool changed;

	(void) state;
	assert_true(orch_core_adopt(&f->c.core, &a));
	assert_false(orch_core_adopt(&f->c.core, &a)); /* known: no add */
	assert_false(orch_core_adopt(&f->c.core, &b)); /* stopped: not added */
	assert_null(get(f, "bbb"));
	assert_true(orch_ports_in_use(&f->c.core.http_ports, 19000));
	assert_true(orch_ports_in_use(&f->c.core.https_ports, 45000));
	/* A known engine follows the list's running flag. */
	a.running = false;
	assert_false(orch_core_adopt(&f->c.core, &a));
	assert_false(get(f, "aaa")->running);
	a.running = true;
	(void) orch_core_adopt(&f->c.core, &a);
	assert_true(get(f, "aaa")->running);

	/* die: ends the streams; a second die is a replay. */
	start_stream(f, "aaa", "s1");
	assert_int_equal(orch_core_engine_set_running(&f->c.core, "aaa", false,
	                     &changed, name, sizeof(name)),
	    ORCH_OK);
	assert_true(changed);
	assert_string_equal(name, "acestream-1");
	assert_false(orch_state_stream_get(&f->c.core.state, "s1")->active);
	assert_int_equal(orch_core_engine_set_running(
	                     &f->c.core, "aaa", false, &changed, NULL, 0),
	    ORCH_OK);
	assert_false(changed);
	/* start: back, health unknown, startup clock restarted. */
	f->c.now += S(5);
	assert_int_equal(orch_core_engine_set_running(
	                     &f->c.core, "aaa", true, &changed, NULL, 0),
	    ORCH_OK);
	assert_true(changed);
	assert_true(get(f, "aaa")->started_us == f->c.now);
	assert_int_equal(orch_core_engine_set_running(
	                     &f->c.core, "zzz", true, &changed, NULL, 0),
	    ORCH_ENOTFOUND);
	assert_false(changed);

	/* resolve by id or name; drop releases the ports. */
	assert_int_equal(
	    orch_core_engine_resolve(&f->c.core, "acestream-1", full),
	    ORCH_OK);
	assert_string_equal(full, "aaa");
	assert_int_equal(orch_core_engine_resolve(&f->c.core, "nope", full),
	    ORCH_ENOTFOUND);
	assert_string_equal(full, "");
	assert_int_equal(orch_core_engine_count(&f->c.core), 1);
	assert_true(orch_core_engine_drop(&f->c.core, "aaa", NULL));
	assert_false(orch_core_engine_drop(&f->c.core, "aaa", NULL));
	assert_int_equal(orch_ports_used(&f->c.core.http_ports), 0);
	assert_int_equal(orch_ports_used(&f->c.core.https_ports), 0);
	assert_int_equal(orch_core_engine_count(&f->c.core), 0);
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
	orch_engine_spec a = fx_spec("aaa", "acestream-1", 19000, true);
	orch_engine_spec b = fx_spec("bbb", "acestream-2", 19001, true);
	orch_engine_spec c = fx_spec("ccc", "acestream-3", 19002, true);
	orch_engine_spec d = fx_spec("ddd", "acestream-4", 19003, true);
	orch_core_seen seen[] = {{"aaa", true}, {"bbb", false}, {"ddd", true}};
	int64_t listed;

	(void) state;
	(void) orch_core_adopt(&f->c.core, &a);
	(void) orch_core_adopt(&f->c.core, &b);
	(void) orch_core_adopt(&f->c.core, &c);
	f->c.now += S(1);
	listed = f->c.now;
	/* d is put after the list was taken: not judged by it. */
	f->c.now += S(1);
	(void) orch_core_adopt(&f->c.core, &d);
	/* b is down on both sides: stopped for good. */
	(void) orch_core_engine_set_running(
	    &f->c.core, "bbb", false, NULL, NULL, 0);
	gone_calls = 0;
	assert_int_equal(orch_core_drop_unlisted(
	                     &f->c.core, listed, seen, 3, on_gone, NULL),
	    2);
	assert_int_equal(gone_calls, 2);
	assert_non_null(get(f, "aaa"));
	assert_null(get(f, "bbb"));
	assert_null(get(f, "ccc")); /* not in the list */
	assert_non_null(get(f, "ddd"));
	assert_int_equal(orch_ports_used(&f->c.core.http_ports), 2);
	fx_free(f);
}

static void
test_candidates(void **state)
{
	fixture *f = fx_new();
	orch_engine_spec a = fx_spec("aaa", "acestream-1", 19000, true);
	orch_engine_spec b = fx_spec("bbb", "acestream-2", 19001, true);
	char ids[4][ORCH_CORE_ID_MAX];
	orch_scale_plan plan;

	(void) state;
	(void) orch_core_adopt(&f->c.core, &a);
	(void) orch_core_adopt(&f->c.core, &b);
	/* One free engine is enough for MIN_REPLICAS 1; provisions in
	 * flight count as free ones to come. */
	assert_int_equal(orch_core_autoscale_need(&f->c.core), 0);
	f->c.cfg.min_replicas = 4;
	assert_int_equal(orch_core_autoscale_need(&f->c.core), 2);
	f->c.core.provisioning = 1;
	assert_int_equal(orch_core_autoscale_need(&f->c.core), 1);
	f->c.core.provisioning = 0;
	f->c.cfg.min_replicas = 1;

	/* Startup timeouts are for engines provisioned here: adopted ones
	 * (a, never probed) are judged by probes, never removed for it. */
	(void) orch_core_apply_probe(&f->c.core, "bbb", true, NULL, 0, NULL);
	f->c.now += S(f->c.cfg.startup_timeout_s) * 2;
	assert_int_equal(orch_core_startup_expired(&f->c.core, ids, 4), 0);
	assert_int_equal(f->c.core.general.failure_count, 0);
	(void) orch_core_apply_probe(&f->c.core, "aaa", true, NULL, 0, NULL);

	/* GC (forced): idle past the grace, keeping one free. */
	f->c.now += S(f->c.cfg.engine_grace_period_s);
	assert_int_equal(orch_core_gc_candidates(&f->c.core, true, ids, 4), 1);
	orch_core_drain_cancel(&f->c.core, ids[0]); /* not stopped after all */
	/* Scale to 1: one to stop (the never healthy one first? the policy
	 * decides; one of the two). */
	plan = orch_core_scale_candidates(&f->c.core, 1, ids, 4);
	assert_int_equal(plan.scaled_to, 1);
	assert_int_equal(plan.n_stop, 1);
	assert_int_equal(plan.start, 0);
	assert_int_equal(strlen(ids[0]), 3);
	orch_core_drain_cancel(&f->c.core, ids[0]);
	plan = orch_core_scale_candidates(&f->c.core, 9, ids, 4);
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
	orch_engine_spec a = fx_spec("aaa", "acestream-1", 19000, true);
	orch_engine_spec b = fx_spec("bbb", "acestream-2", 19001, true);
	char ids[4][ORCH_CORE_ID_MAX];

	(void) state;
	(void) orch_core_adopt(&f->c.core, &a);
	(void) orch_core_adopt(&f->c.core, &b);
	(void) orch_core_apply_probe(&f->c.core, "aaa", true, NULL, 0, NULL);
	f->c.now += S(f->c.cfg.engine_grace_period_s + 1);
	assert_int_equal(f->c.core.state.counts.free, 2);
	assert_int_equal(f->c.core.state.counts.free_healthy, 1);
	assert_int_equal(orch_core_gc_candidates(&f->c.core, true, ids, 4), 0);
	(void) orch_core_apply_probe(&f->c.core, "bbb", true, NULL, 0, NULL);
	assert_int_equal(orch_core_gc_candidates(&f->c.core, true, ids, 4), 1);
	fx_free(f);
}

/* Defect 2: an engine GC or Scale chose is out of selection at once; a
 * stream that lands on it anyway (a proxy chose it before) undrains it at
 * the confirm, and it is not stopped. */
static void
test_drain(void **state)
{
	fixture *f = fx_new();
	orch_engine_spec a = fx_spec("aaa", "acestream-1", 19000, true);
	orch_engine_spec b = fx_spec("bbb", "acestream-2", 19001, true);
	char ids[4][ORCH_CORE_ID_MAX];
	orch_engine *sel;
	orch_scale_plan plan;

	(void) state;
	(void) orch_core_adopt(&f->c.core, &a);
	(void) orch_core_adopt(&f->c.core, &b);
	(void) orch_core_apply_probe(&f->c.core, "aaa", true, NULL, 0, NULL);
	(void) orch_core_apply_probe(&f->c.core, "bbb", true, NULL, 0, NULL);
	f->c.now += S(f->c.cfg.engine_grace_period_s + 1);
	assert_int_equal(orch_core_gc_candidates(&f->c.core, true, ids, 4), 1);
	assert_true(get(f, ids[0])->draining);
	assert_int_equal(f->c.core.state.counts.free, 1);
	/* Chosen again by no one: selection gives the other engine, GC and
	 * Scale do not pick it twice. */
	orch_core_lock(&f->c.core);
	sel = orch_state_select(&f->c.core.state, f->c.now);
	orch_core_unlock(&f->c.core);
	assert_non_null(sel);
	assert_string_not_equal(sel->container_id, ids[0]);
	plan = orch_core_scale_candidates(&f->c.core, 1, ids + 1, 3);
	assert_int_equal(plan.n_stop, 0); /* the other one carries nothing
	                                     but is the last free */
	/* A stream lands on it: the confirm says no and undrains it. */
	start_stream(f, ids[0], "s1");
	assert_false(orch_core_drain_confirm(&f->c.core, ids[0]));
	assert_false(get(f, ids[0])->draining);
	/* Idle again, chosen again, confirmed: the stop may go ahead; a
	 * failed stop undrains it. */
	orch_core_lock(&f->c.core);
	{
		orch_stream *ended;

		(void) orch_state_stream_end(
		    &f->c.core.state, "s1", NULL, "stopped", f->c.now, &ended);
		assert_non_null(ended);
	}
	orch_core_unlock(&f->c.core);
	f->c.now += S(f->c.cfg.engine_grace_period_s + 1);
	assert_int_equal(orch_core_gc_candidates(&f->c.core, true, ids, 4), 1);
	assert_true(orch_core_drain_confirm(&f->c.core, ids[0]));
	orch_core_drain_cancel(&f->c.core, ids[0]);
	assert_false(get(f, ids[0])->draining);
	assert_int_equal(f->c.core.state.counts.free, 2);
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
	orch_engine_spec a = fx_spec("aaa", "acestream-1", 19000, true);
	orch_engine_spec b = fx_spec("bbb", "acestream-2", 19001, true);
	char ids[4][ORCH_CORE_ID_MAX];

	(void) state;
	f->c.cfg.crash_loop_restarts = 3;
	f->c.cfg.crash_loop_window_s = 60;
	f->c.core.state.opts.crash_window_us = S(60);
	(void) orch_core_adopt(&f->c.core, &a);
	(void) orch_core_adopt(&f->c.core, &b);
	for (int i = 0; i < 3; i++) {
		f->c.now += S(5);
		assert_int_equal(orch_core_engine_set_running(
		                     &f->c.core, "aaa", false, NULL, NULL, 0),
		    ORCH_OK);
		assert_int_equal(orch_core_engine_set_running(
		                     &f->c.core, "aaa", true, NULL, NULL, 0),
		    ORCH_OK);
		/* b restarts as often, once a window. */
		f->c.now += S(61);
		(void) orch_core_engine_set_running(
		    &f->c.core, "bbb", false, NULL, NULL, 0);
		(void) orch_core_engine_set_running(
		    &f->c.core, "bbb", true, NULL, NULL, 0);
	}
	/* a restarted three times, 66 s apart: each restart came more
	 * than a window after the last one began, so none is a loop. */
	assert_int_equal(orch_core_crash_looping(&f->c.core, ids, 4), 0);
	for (int i = 0; i < 3; i++) {
		f->c.now += S(5);
		(void) orch_core_engine_set_running(
		    &f->c.core, "aaa", false, NULL, NULL, 0);
		(void) orch_core_engine_set_running(
		    &f->c.core, "aaa", true, NULL, NULL, 0);
	}
	assert_int_equal(orch_core_crash_looping(&f->c.core, ids, 4), 1);
	assert_string_equal(ids[0], "aaa");
	assert_int_equal(f->c.core.general.failure_count, 1);
	/* Counted once. */
	assert_int_equal(orch_core_crash_looping(&f->c.core, ids, 4), 0);
	assert_int_equal(f->c.core.general.failure_count, 1);
	fx_free(f);
}

static void
test_replacement(void **state)
{
	fixture *f = fx_new();
	orch_engine_spec a = fx_spec("aaa", "acestream-1", 19000, true);
	char sick[ORCH_CORE_ID_MAX], name[ORCH_CORE_NAME_MAX];
	orch_health h;
	bool first;

	(void) state;
	(void) orch_core_adopt(&f->c.core, &a);
	assert_false(orch_core_replacement_begin(&f->c.core, sick, &first));
	assert_true(orch_core_apply_probe(
	    &f->c.core, "aaa", true, name, sizeof(name), &h));
	assert_string_equal(name, "acestream-1");
	assert_int_equal(h, ORCH_HEALTH_HEALTHY);
	for (int i = 0; i < f->c.cfg.health_failure_threshold - 1; i++)
		assert_false(orch_core_apply_probe(
		    &f->c.core, "aaa", false, NULL, 0, NULL));
	assert_true(
	    orch_core_apply_probe(&f->c.core, "aaa", false, NULL, 0, &h));
	assert_int_equal(h, ORCH_HEALTH_UNHEALTHY);
	assert_int_equal(f->c.core.metrics.probe_failures,
	    (uint64_t) f->c.cfg.health_failure_threshold);
	/* Not before the grace period. */
	assert_false(orch_core_replacement_begin(&f->c.core, sick, &first));
	f->c.now += S(f->c.cfg.health_unhealthy_grace_period_s);
	assert_true(orch_core_replacement_begin(&f->c.core, sick, &first));
	assert_string_equal(sick, "aaa");
	assert_true(first); /* below MAX_REPLICAS */
	assert_true(get(f, "aaa")->marked_for_replacement);
	assert_true(f->c.core.replacement_in_progress);
	/* One at a time. */
	assert_false(orch_core_replacement_begin(&f->c.core, sick, &first));
	orch_core_replacement_end(&f->c.core, false);
	assert_false(f->c.core.replacement_in_progress);
	assert_int_equal(f->c.core.replacement.failure_count, 1);
	assert_true(f->c.core.last_replacement_us == f->c.now);
	/* The cooldown holds the next one back (another sick engine; the
	 * marked one is the replacement's no more). */
	{
		orch_engine_spec b =
		    fx_spec("bbb", "acestream-2", 19001, true);

		(void) orch_core_adopt(&f->c.core, &b);
		for (int i = 0; i < f->c.cfg.health_failure_threshold; i++)
			(void) orch_core_apply_probe(
			    &f->c.core, "bbb", false, NULL, 0, NULL);
	}
	f->c.cfg.health_replacement_cooldown_s =
	    2 * f->c.cfg.health_unhealthy_grace_period_s;
	f->c.now += S(f->c.cfg.health_unhealthy_grace_period_s);
	assert_false(orch_core_replacement_begin(&f->c.core, sick, &first));
	f->c.now += S(f->c.cfg.health_unhealthy_grace_period_s);
	assert_true(orch_core_replacement_begin(&f->c.core, sick, &first));
	assert_string_equal(sick, "bbb");
	orch_core_replacement_end(&f->c.core, true);
	assert_int_equal(f->c.core.replacement.failure_count, 0);
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
	orch_engine_spec a = fx_spec("aaa", "acestream-1", 19000, true);
	orch_engine_spec b = fx_spec("bbb", "acestream-2", 19001, true);
	orch_stat snap;
	int ne = 0, ns = 0;

	(void) state;
	(void) orch_core_adopt(&f->c.core, &a);
	(void) orch_core_adopt(&f->c.core, &b);
	(void) orch_core_engine_set_running(
	    &f->c.core, "bbb", false, NULL, NULL, 0);
	start_stream(f, "aaa", "s1");
	assert_int_equal(
	    orch_core_visit_probe_targets(&f->c.core, visit_engine, &ne),
	    1); /* bbb is down */
	assert_int_equal(ne, 1);
	assert_int_equal(
	    orch_core_visit_polled_streams(&f->c.core, visit_stream, &ns), 1);
	/* A probe of a down or unknown engine changes nothing (but a
	 * failure is counted). */
	assert_false(
	    orch_core_apply_probe(&f->c.core, "bbb", true, NULL, 0, NULL));
	assert_false(
	    orch_core_apply_probe(&f->c.core, "zzz", false, NULL, 0, NULL));
	assert_int_equal(f->c.core.metrics.probe_failures, 1);

	memset(&snap, 0, sizeof(snap));
	snap.ts_us = f->c.now;
	snap.peers = 3;
	snap.has = ORCH_STAT_PEERS;
	assert_int_equal(
	    orch_core_apply_stat(&f->c.core, "s1", &snap), ORCH_OK);
	assert_int_equal(
	    orch_state_stream_get(&f->c.core.state, "s1")->stats_count, 1);
	assert_int_equal(
	    orch_core_apply_stat(&f->c.core, "nope", &snap), ORCH_ENOTFOUND);
	assert_true(orch_core_stream_session_gone(&f->c.core, "s1"));
	assert_string_equal(
	    orch_state_stream_get(&f->c.core.state, "s1")->end_reason,
	    "session_gone");
	assert_false(orch_core_stream_session_gone(&f->c.core, "s1"));
	assert_int_equal(
	    orch_core_apply_stat(&f->c.core, "s1", &snap), ORCH_ENOTFOUND);

	orch_core_count(&f->c.core, ORCH_COUNT_COLLECTOR_ERROR);
	orch_core_count(&f->c.core, ORCH_COUNT_CONTAINER_OK);
	orch_core_count(&f->c.core, ORCH_COUNT_CONTAINER_FAILED);
	orch_core_count(&f->c.core, ORCH_COUNT_CONTAINER_FAILED);
	orch_core_count(&f->c.core, ORCH_COUNT_PROBE_FAILURE);
	assert_int_equal(f->c.core.metrics.collector_errors, 1);
	assert_int_equal(f->c.core.metrics.provision_container_ok, 1);
	assert_int_equal(f->c.core.metrics.provision_container_failed, 2);
	assert_int_equal(f->c.core.metrics.probe_failures, 2);

	orch_core_set_docker_ok(&f->c.core, true);
	orch_core_set_image_present(&f->c.core, true);
	orch_core_set_image_pulling(&f->c.core, true);
	assert_true(f->c.core.env.docker_ok && f->c.core.env.image_ok &&
	            f->c.core.env.image_pulling);
	orch_core_set_docker_ok(&f->c.core, false);
	assert_false(f->c.core.env.docker_ok);
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
