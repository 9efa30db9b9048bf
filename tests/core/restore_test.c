/*
 * Restoring the ledger after a restart (src/core/restore.h) over a manual
 * clock and no runtime: what a store kept goes back in, what belongs to a
 * managed engine waits for its adoption and joins it in the same critical
 * section (never idle in between: GC, Scale and the autoscaler wait), and
 * the reconcile's verdict ends what lost its engine ("engine_gone"),
 * telling the sink. The restored records themselves are not told again.
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
#include "src/core/restore.h"
#include "src/core/sink.h"
#include "tests/core/fx.h"

#define S(x) ((int64_t) (x) *INT64_C(1000000))
#define T0 S(1700000000)

typedef struct fixture {
	fx_core c;
	int streams_ended, streams_started, lost, res_gone, logs, restored;
	char last_end_reason[64];
	char last_log[64];
} fixture;

static void
r_stream(void *arg, const orch_stream *s, const orch_engine *e)
{
	fixture *f = arg;

	(void) e;
	if (s->active) {
		f->streams_started++;
	} else {
		f->streams_ended++;
		snprintf(f->last_end_reason, sizeof(f->last_end_reason), "%s",
		    s->end_reason != NULL ? s->end_reason : "-");
	}
}

static void
r_engine(void *arg, const orch_sink_engine *e)
{
	fixture *f = arg;

	if (e->change == ORCH_SINK_LOST)
		f->lost++;
}

static void
r_res(void *arg, const orch_reservation *r, const char *cid, bool live)
{
	fixture *f = arg;

	(void) r;
	(void) cid;
	if (!live)
		f->res_gone++;
}

static void
r_log(void *arg, int64_t ts, orch_log_type t, const char *cid, const char *sid,
    const orch_kv *kv, size_t n)
{
	fixture *f = arg;

	(void) ts;
	(void) cid;
	(void) sid;
	f->logs++;
	if (t == ORCH_LOG_STREAM_RESTORED)
		f->restored++;
	snprintf(
	    f->last_log, sizeof(f->last_log), "%s", orch_log_type_name(t));
	if (t == ORCH_LOG_RESTORED) {
		assert_int_equal(n, 4);
		assert_string_equal(kv[0].key, "streams_restored");
	}
}

static const orch_sink_ops ops = {
    r_stream, NULL, r_engine, r_res, NULL, r_log};

static fixture *
fx_new(void)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_core_config(&f->c, 2, 4);
	f->c.cfg.engine_grace_period_s = 0;
	f->c.cfg.stats_history_max = 4;
	f->c.cfg.stats_ended_max = 2;
	f->c.now = T0;
	fx_core_start(&f->c, &ops, f);
	return f;
}

static void
fx_free(fixture *f)
{
	fx_core_fini(&f->c);
	free(f);
}

static orch_stream_record
rec(const char *id, const char *cid, bool active, int64_t started)
{
	orch_stream_record r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.key_type = "content_id";
	r.key = id;
	r.container_id = cid;
	r.playback_session_id = "psid";
	r.stat_url = "http://127.0.0.1:19000/ace/stat/x/psid";
	r.is_live = true;
	r.active = active;
	r.managed = true;
	r.started_at_us = started;
	if (!active) {
		r.ended_at_us = started + S(60);
		r.end_reason = "done";
	}
	return r;
}

static orch_stream *
get_stream(fixture *f, const char *id)
{
	return orch_state_stream_get(&f->c.core.state, id);
}

/* The reconcile's verdict on a list that holds ids. */
static void
verdict(fixture *f, const char *const *ids, size_t n)
{
	orch_core_seen seen[8];

	for (size_t i = 0; i < n; i++) {
		seen[i].id = ids[i];
		seen[i].running = true;
	}
	(void) orch_core_drop_unlisted(
	    &f->c.core, f->c.now, seen, n, NULL, NULL);
}

static void
test_streams_wait_for_their_engine(void **state)
{
	fixture *f = fx_new();
	orch_stat st[6];
	orch_stream_record r[4];
	orch_restore rs;
	orch_restore_counts c;
	orch_engine_spec a = fx_spec("aaa", "acestream-1", 19000, true);
	orch_engine_spec b = fx_spec("bbb", "acestream-2", 19001, true);
	orch_engine_spec d = fx_spec("ddd", "acestream-3", 19002, true);
	const char *ids[] = {"aaa", "bbb", "ddd"};
	char gc[4][ORCH_CORE_ID_MAX];
	orch_stream *s;

	(void) state;
	for (int i = 0; i < 6; i++) {
		memset(&st[i], 0, sizeof(st[i]));
		st[i].ts_us = T0 - S(60 - i);
		st[i].peers = i;
		st[i].has = ORCH_STAT_PEERS;
	}
	r[0] = rec("old", "aaa", false, T0 - S(3600));
	r[0].stats = st;
	r[0].n_stats = 6;
	r[1] = rec("s1", "aaa", true, T0 - S(120));
	r[1].stats = st;
	r[1].n_stats = 6;
	r[2] = rec("s2", "bbb", true, T0 - S(100));
	r[3] = rec("s3", "ccc", true, T0 - S(90)); /* its engine is gone */
	memset(&rs, 0, sizeof(rs));
	rs.streams = r;
	rs.n_streams = 4;
	assert_int_equal(orch_core_restore(&f->c.core, &rs, &c), ORCH_OK);
	assert_int_equal(c.streams_ended, 1);
	assert_int_equal(c.streams_pending, 3);
	assert_true(orch_core_restoring(&f->c.core));
	/* Not told again what the store has. */
	assert_int_equal(f->streams_started + f->streams_ended, 0);
	assert_null(get_stream(f, "s1"));
	/* An ended stream keeps its newest STATS_ENDED_MAX snapshots. */
	s = get_stream(f, "old");
	assert_non_null(s);
	assert_int_equal(s->stats_count, 2);
	assert_int_equal(orch_stream_latest_stat(s)->peers, 5);

	/* Adoption: the engine comes back with its stream on it, active,
	 * with its history (the newest STATS_HISTORY_MAX), never idle. */
	assert_true(orch_core_adopt(&f->c.core, &a));
	s = get_stream(f, "s1");
	assert_non_null(s);
	assert_true(s->active);
	assert_ptr_equal(
	    s->engine, orch_state_engine_get(&f->c.core.state, "aaa"));
	assert_int_equal(s->started_at_us, T0 - S(120));
	assert_int_equal(s->stats_count, 4);
	assert_int_equal(orch_stream_stat_at(s, 0)->peers, 2);
	assert_int_equal(s->engine->n_active, 1);
	assert_int_equal(s->engine->idle_since_us, 0);
	assert_int_equal(s->engine->last_stream_usage_us, T0 - S(120));
	assert_int_equal(f->restored, 1);
	/* While restoring, nothing is stopped or started: not even an
	 * engine that has no stream to wait for (ddd), past its grace. */
	assert_true(orch_core_adopt(&f->c.core, &d));
	f->c.now += S(3600);
	f->c.cfg.min_replicas = 0;
	assert_int_equal(orch_core_gc_candidates(&f->c.core, true, gc, 4), 0);
	f->c.cfg.min_replicas = 4;
	assert_int_equal(orch_core_autoscale_need(&f->c.core), 0);
	assert_true(orch_core_scale_candidates(&f->c.core, 4, gc, 4).deferred);
	f->c.cfg.min_replicas = 0;
	assert_true(orch_core_adopt(&f->c.core, &b));
	assert_true(get_stream(f, "s2")->active);

	/* The verdict: ccc is not listed, its stream ends engine_gone and
	 * the store is told. */
	verdict(f, ids, 3);
	assert_false(orch_core_restoring(&f->c.core));
	s = get_stream(f, "s3");
	assert_non_null(s);
	assert_false(s->active);
	assert_string_equal(s->end_reason, "engine_gone");
	assert_int_equal(s->ended_at_us, f->c.now);
	assert_int_equal(f->streams_ended, 1);
	assert_string_equal(f->last_end_reason, "engine_gone");
	assert_string_equal(f->last_log, "restored");
	assert_int_equal(f->c.core.state.counts.streams_active, 2);
	assert_int_equal(f->c.core.state.counts.streams_total, 4);
	/* GC works again: ddd goes (once probed healthy: the GC stops only
	 * healthy idle engines), aaa and bbb carry their streams. */
	for (int i = 0; i < f->c.cfg.health_failure_threshold; i++) {
		(void) orch_core_apply_probe(
		    &f->c.core, "aaa", true, NULL, 0, NULL);
		(void) orch_core_apply_probe(
		    &f->c.core, "bbb", true, NULL, 0, NULL);
		(void) orch_core_apply_probe(
		    &f->c.core, "ddd", true, NULL, 0, NULL);
	}
	/* One healthy free engine, none kept free. */
	f->c.cfg.min_replicas = 0;
	assert_int_equal(orch_core_gc_candidates(&f->c.core, true, gc, 4), 1);
	assert_string_equal(gc[0], "ddd");
	assert_false(
	    orch_core_scale_candidates(&f->c.core, 4, gc, 4).deferred);
	fx_free(f);
}

static void
test_reservations_engines_breakers(void **state)
{
	fixture *f = fx_new();
	orch_reservation_record res[3] = {
	    {"r1", "aaa", T0 + S(10)},
	    {"r2", "aaa", T0 - S(1)}, /* lapsed while down */
	    {"r3", "zzz", T0 + S(10)},
	};
	orch_engine_record er[2] = {
	    {"aaa", T0 - S(86400), T0 - S(30), true},
	    {"zzz", T0 - S(86400), 0, false},
	};
	orch_breaker_record br[2] = {
	    {"general", ORCH_BREAKER_OPEN, 5, T0 - S(10), T0 - S(10), 0},
	    {"nope", ORCH_BREAKER_OPEN, 5, 0, 0, 0},
	};
	orch_restore rs;
	orch_restore_counts c;
	orch_engine_spec a = fx_spec("aaa", "acestream-1", 19000, true);
	const char *ids[] = {"aaa"};
	orch_engine *e;

	(void) state;
	memset(&rs, 0, sizeof(rs));
	rs.reservations = res;
	rs.n_reservations = 3;
	rs.engines = er;
	rs.n_engines = 2;
	rs.breakers = br;
	rs.n_breakers = 2;
	assert_int_equal(orch_core_restore(&f->c.core, &rs, &c), ORCH_OK);
	assert_int_equal(c.reservations_pending, 2);
	assert_int_equal(c.skipped, 1);
	assert_int_equal(c.engines_pending, 2);
	assert_int_equal(f->c.core.general.state, ORCH_BREAKER_OPEN);
	assert_int_equal(f->c.core.general.failure_count, 5);
	assert_int_equal(f->c.core.general.opened_at_us, T0 - S(10));

	assert_true(orch_core_adopt(&f->c.core, &a));
	e = orch_state_engine_get(&f->c.core.state, "aaa");
	assert_int_equal(e->n_reserved, 1);
	assert_non_null(
	    orch_strmap_get(&f->c.core.state.reservations_by_id, "r1"));
	assert_int_equal(e->first_seen_us, T0 - S(86400));
	assert_int_equal(e->last_stream_usage_us, T0 - S(30));
	assert_true(e->forwarded);
	verdict(f, ids, 1);
	/* zzz: its reservation lapses and its record is closed. */
	assert_int_equal(f->res_gone, 1);
	assert_int_equal(f->lost, 1);
	assert_null(f->c.core.pending);
	fx_free(f);
}

static void
test_unmanaged_and_duplicates(void **state)
{
	fixture *f = fx_new();
	orch_stream_record r[4];
	orch_restore rs;
	orch_restore_counts c;
	orch_engine *u;

	(void) state;
	r[0] = rec("u1", "10.0.0.9:6878", true, T0 - S(50));
	r[0].managed = false;
	r[1] = rec("u1", "10.0.0.9:6878", true, T0 - S(40)); /* same id */
	r[1].managed = false;
	r[2] = rec("bad", "no-address", true, T0 - S(30));
	r[2].managed = false;
	r[3] = rec("e1", "gone", false, T0 - S(20));
	memset(&rs, 0, sizeof(rs));
	rs.streams = r;
	rs.n_streams = 4;
	assert_int_equal(orch_core_restore(&f->c.core, &rs, &c), ORCH_OK);
	assert_int_equal(c.streams_active, 1);
	assert_int_equal(c.streams_ended, 1);
	assert_int_equal(c.skipped, 2);
	/* The unmanaged entry is made again, not managed, not counted. */
	u = orch_state_engine_get(&f->c.core.state, "10.0.0.9:6878");
	assert_non_null(u);
	assert_false(u->managed);
	assert_int_equal(u->n_active, 1);
	assert_int_equal(f->c.core.state.counts.engines, 0);
	assert_null(orch_state_engine_get(&f->c.core.state, "no-address"));
	/* The ended stream's history is kept under its container id. */
	assert_non_null(orch_state_group_get(&f->c.core.state, "gone"));
	verdict(f, NULL, 0);
	assert_int_equal(f->streams_ended, 0);
	fx_free(f);
}

/* A stream started again (same id) while its record waited is newer: the
 * pending record is dropped, not put over it. */
static void
test_restarted_stream_wins(void **state)
{
	fixture *f = fx_new();
	orch_stream_record r = rec("s1", "aaa", true, T0 - S(100));
	orch_engine_spec b = fx_spec("bbb", "acestream-2", 19001, true);
	orch_engine_spec a = fx_spec("aaa", "acestream-1", 19000, true);
	orch_stream_start ev;
	orch_restore rs;
	orch_stream *s;

	(void) state;
	memset(&rs, 0, sizeof(rs));
	rs.streams = &r;
	rs.n_streams = 1;
	assert_int_equal(orch_core_restore(&f->c.core, &rs, NULL), ORCH_OK);
	assert_true(orch_core_adopt(&f->c.core, &b));
	memset(&ev, 0, sizeof(ev));
	ev.container_id = "bbb";
	ev.key_type = "content_id";
	ev.key = "s1";
	ev.stream_id = "s1";
	orch_core_lock(&f->c.core);
	assert_int_equal(
	    orch_state_stream_start(&f->c.core.state, &ev, f->c.now, &s),
	    ORCH_OK);
	orch_core_unlock(&f->c.core);
	assert_true(orch_core_adopt(&f->c.core, &a));
	s = get_stream(f, "s1");
	assert_string_equal(s->container_id, "bbb");
	assert_int_equal(s->started_at_us, f->c.now);
	assert_int_equal(
	    orch_state_engine_get(&f->c.core.state, "aaa")->n_active, 0);
	fx_free(f);
}

/* Engines adopted before the restore (the order does not matter). */
static void
test_restore_after_adoption(void **state)
{
	fixture *f = fx_new();
	orch_stream_record r = rec("s1", "aaa", true, T0 - S(100));
	orch_engine_spec a = fx_spec("aaa", "acestream-1", 19000, true);
	orch_restore rs;
	orch_restore_counts c;

	(void) state;
	assert_true(orch_core_adopt(&f->c.core, &a));
	memset(&rs, 0, sizeof(rs));
	rs.streams = &r;
	rs.n_streams = 1;
	assert_int_equal(orch_core_restore(&f->c.core, &rs, &c), ORCH_OK);
	assert_true(get_stream(f, "s1")->active);
	assert_int_equal(f->restored, 1);
	fx_free(f);
}

/* In memory an ended stream keeps its newest STATS_ENDED_MAX snapshots
 * (the store keeps them all); an active one up to STATS_HISTORY_MAX. */
static void
test_ended_stats_bounded(void **state)
{
	fixture *f = fx_new();
	orch_engine_spec a = fx_spec("aaa", "acestream-1", 19000, true);
	orch_stream_start ev;
	orch_stream *s, *ended = NULL;

	(void) state;
	assert_true(orch_core_adopt(&f->c.core, &a));
	memset(&ev, 0, sizeof(ev));
	ev.container_id = "aaa";
	ev.key_type = "content_id";
	ev.key = "s1";
	ev.stream_id = "s1";
	orch_core_lock(&f->c.core);
	assert_int_equal(
	    orch_state_stream_start(&f->c.core.state, &ev, f->c.now, &s),
	    ORCH_OK);
	orch_core_unlock(&f->c.core);
	for (int i = 0; i < 6; i++) {
		orch_stat st = {0};

		st.ts_us = f->c.now + S(i);
		st.peers = i;
		st.has = ORCH_STAT_PEERS;
		assert_int_equal(
		    orch_core_apply_stat(&f->c.core, "s1", &st), ORCH_OK);
	}
	assert_int_equal(s->stats_count, 4);
	orch_core_lock(&f->c.core);
	assert_int_equal(orch_state_stream_end(&f->c.core.state, "s1", NULL,
	                     NULL, f->c.now, &ended),
	    ORCH_OK);
	orch_core_unlock(&f->c.core);
	assert_ptr_equal(ended, s);
	assert_int_equal(s->stats_count, 2);
	assert_int_equal(orch_stream_stat_at(s, 0)->peers, 4);
	assert_int_equal(orch_stream_latest_stat(s)->peers, 5);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_streams_wait_for_their_engine),
	    cmocka_unit_test(test_reservations_engines_breakers),
	    cmocka_unit_test(test_unmanaged_and_duplicates),
	    cmocka_unit_test(test_restarted_stream_wins),
	    cmocka_unit_test(test_restore_after_adoption),
	    cmocka_unit_test(test_ended_stats_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
