/*
 * The store in process, on real SQLite files: the core, the store and the
 * engine manager over the fake runtime (tests/runtime/fake_runtime.h),
 * run as two "generations" of the orchestrator on one database file.
 *
 *   restart    active streams come back on the same engines with their
 *              stats; a stream whose engine was removed while down ends
 *              engine_gone; reservations and breakers come back; the idle
 *              GC does not stop an engine that carries a restored stream;
 *              the event log says what happened;
 *   the log    GET /events/log's query: since an id, since a time, by
 *              type, limited, oldest first; bad input names its field;
 *   overflow   a full queue (the database locked by someone else) drops
 *              records, counted; once writes work again the ledger is
 *              replayed: the rows match the core, a store_gap entry
 *              counts what was lost;
 *   retention  snapshots older than STATS_RETENTION_S and ended streams,
 *              log entries and engine records older than
 *              HISTORY_RETENTION_S go, with an injected clock.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "src/base/time.h"
#include "src/core/control.h"
#include "src/core/core.h"
#include "src/core/restore.h"
#include "src/engines/manager.h"
#include "src/store/store.h"
#include "tests/runtime/fake_runtime.h"
#include "tests/store/storetest.h"
#include "tests/testlib/testlib.h"

#define IMAGE "acestream-sim:latest"
#define T0 ST_S(1700000000)

typedef struct gen {
	orch_core core;
	bool core_up;
	orch_store *store;
	orch_mgr *mgr;
} gen;

typedef struct fx {
	orch_config cfg;
	int64_t now;
	char dir[256];
	char path[300];
	orch_fake_rt *fake;
	orch_runtime rt;
	gen g;
} fx;

static bool
any_port(void *arg, int port)
{
	(void) arg;
	(void) port;
	return true;
}

static void
set_str(char **field, const char *v)
{
	free(*field);
	*field = v != NULL ? strdup(v) : NULL;
}

static int
setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	orch_config_defaults(&f->cfg);
	set_str(&f->cfg.target_image, IMAGE);
	f->cfg.image_pull = ORCH_IMAGE_PULL_NEVER;
	f->cfg.min_replicas = 0;
	f->cfg.max_replicas = 5;
	f->cfg.max_streams_per_engine = 2;
	f->cfg.port_range_host.lo = 19000;
	f->cfg.port_range_host.hi = 19009;
	f->cfg.auto_delete = true;
	f->cfg.engine_grace_period_s = 0;
	f->cfg.reservation_ttl_s = 3600;
	f->now = T0;
	st_tmpdir(f->dir, sizeof(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/orch.db", f->dir);
	if (orch_fake_rt_open(&f->fake) != ORCH_OK)
		return -1;
	orch_fake_rt_image_add(f->fake, IMAGE);
	orch_fake_rt_runtime(f->fake, &f->rt);
	*state = f;
	return 0;
}

/* One orchestrator: core, store (restored), manager (its first reconcile
 * adopts what the runtime has). */
static void
gen_up(fx *f, orch_restore_counts *counts, int queue_max)
{
	orch_store_opts so;
	orch_mgr_opts mo;
	orch_diag d;

	if (queue_max > 0)
		f->cfg.store_queue_max = queue_max;
	assert_int_equal(orch_core_init(&f->g.core, &f->cfg,
	                     orch_clock_manual(&f->now), NULL),
	    ORCH_OK);
	f->g.core_up = true;
	memset(&so, 0, sizeof(so));
	so.path = f->path;
	so.cfg = &f->cfg;
	so.clock = orch_clock_manual(&f->now);
	so.retry_interval_ms = 50;
	if (orch_store_open(&so, &f->g.store, &d) != ORCH_OK)
		fail_msg("%s", d.msg);
	if (orch_store_restore(f->g.store, &f->g.core, counts, &d) != ORCH_OK)
		fail_msg("%s", d.msg);
	assert_int_equal(orch_store_start(f->g.store, &f->g.core), ORCH_OK);
	memset(&mo, 0, sizeof(mo));
	mo.core = &f->g.core;
	mo.rt = &f->rt;
	mo.port_probe = any_port;
	mo.no_loops = true;
	assert_int_equal(orch_mgr_open(&mo, &f->g.mgr), ORCH_OK);
	assert_int_equal(orch_mgr_start(f->g.mgr), ORCH_OK);
}

static void
gen_down(fx *f)
{
	orch_mgr_close(f->g.mgr);
	f->g.mgr = NULL;
	orch_store_close(f->g.store, 5000);
	f->g.store = NULL;
	if (f->g.core_up)
		orch_core_fini(&f->g.core);
	f->g.core_up = false;
}

static int
teardown(void **state)
{
	fx *f = *state;

	gen_down(f);
	orch_fake_rt_close(f->fake);
	orch_config_fini(&f->cfg);
	free(f);
	return 0;
}

static void
provision(fx *f, char id[80])
{
	orch_engine_request req = {0};
	orch_provision_result res;
	orch_refusal ref;
	orch_diag d;

	if (orch_mgr_provision(f->g.mgr, &req, 0, &res, &ref, &d) != ORCH_OK)
		fail_msg("provision: %s", d.msg);
	snprintf(id, 80, "%s", res.container_id);
}

static void
start(fx *f, const char *cid, const char *sid)
{
	orch_stream_start ev;
	orch_stream *s;

	memset(&ev, 0, sizeof(ev));
	ev.container_id = cid;
	ev.key_type = "content_id";
	ev.key = sid;
	ev.stream_id = sid;
	ev.playback_session_id = "psid";
	ev.stat_url = "http://127.0.0.1:19000/ace/stat/ih/psid";
	ev.is_live = true;
	orch_core_lock(&f->g.core);
	assert_int_equal(
	    orch_state_stream_start(&f->g.core.state, &ev, f->now, &s),
	    ORCH_OK);
	orch_core_unlock(&f->g.core);
}

static void
end(fx *f, const char *sid, const char *reason)
{
	orch_stream *s;

	orch_core_lock(&f->g.core);
	assert_int_equal(orch_state_stream_end(
	                     &f->g.core.state, sid, NULL, reason, f->now, &s),
	    ORCH_OK);
	orch_core_unlock(&f->g.core);
	assert_non_null(s);
}

static void
stat(fx *f, const char *sid, int peers)
{
	orch_stat st;

	memset(&st, 0, sizeof(st));
	st.ts_us = f->now;
	st.peers = peers;
	st.downloaded = peers * 1000;
	st.has = ORCH_STAT_PEERS | ORCH_STAT_DOWNLOADED | ORCH_STAT_STATUS;
	snprintf(st.status, sizeof(st.status), "dl");
	assert_int_equal(orch_core_apply_stat(&f->g.core, sid, &st), ORCH_OK);
}

static orch_stream *
stream(fx *f, const char *sid)
{
	return orch_state_stream_get(&f->g.core.state, sid);
}

/* How many log entries of type (and, when given, with data key=value). */
static size_t
log_count(fx *f, const char *type, const char *key, const char *value)
{
	orch_store_query q;
	orch_store_log log;
	orch_diag d;
	size_t n = 0;

	assert_int_equal(
	    orch_store_query_parse(NULL, true, 10000, type, &q, &d), ORCH_OK);
	assert_int_equal(
	    orch_store_query_log(f->g.store, &q, &log, &d), ORCH_OK);
	for (size_t i = 0; i < log.n; i++) {
		bool match = key == NULL;

		for (size_t k = 0; !match && k < log.v[i].n_data; k++)
			match = strcmp(log.v[i].data[k].key, key) == 0 &&
			        strcmp(log.v[i].data[k].value, value) == 0;
		n += match;
	}
	orch_store_log_fini(&log);
	return n;
}

static void
flush(fx *f)
{
	assert_int_equal(orch_store_flush(f->g.store, 10000), ORCH_OK);
}

static void
test_restart(void **state)
{
	fx *f = *state;
	char e[3][80], rid[ORCH_RESERVATION_ID_LEN + 1];
	orch_restore_counts c;
	orch_engine *eng;
	orch_stream *s;
	bool ok;

	gen_up(f, &c, 0);
	assert_int_equal(c.streams_pending + c.streams_ended, 0);
	for (int i = 0; i < 3; i++)
		provision(f, e[i]);
	start(f, e[0], "s0");
	start(f, e[1], "s1");
	start(f, e[2], "s2");
	start(f, e[0], "done");
	for (int k = 1; k <= 3; k++) {
		f->now += ST_S(5);
		stat(f, "s0", k);
		stat(f, "s1", 10 + k);
		stat(f, "s2", 20 + k);
	}
	end(f, "done", "finished");
	/* A reservation on e[2] and two failures on the general breaker. */
	snprintf(rid, sizeof(rid), "0123456789abcdef0123456789abcdef");
	orch_core_lock(&f->g.core);
	eng = orch_state_engine_get(&f->g.core.state, e[2]);
	assert_int_equal(orch_state_reserve(&f->g.core.state, eng, rid,
	                     f->now + ST_S(3600), NULL),
	    ORCH_OK);
	orch_core_unlock(&f->g.core);
	for (int i = 0; i < 2; i++) {
		orch_breaker before;

		orch_core_lock(&f->g.core);
		before = f->g.core.general;
		orch_breaker_record_failure(&f->g.core.general, f->now);
		orch_core_breaker_note_locked(
		    &f->g.core, &f->g.core.general, &before);
		orch_core_unlock(&f->g.core);
	}
	flush(f);
	assert_int_equal(
	    st_count(f->path, "SELECT count(*) FROM streams WHERE "
	                      "active = 1"),
	    3);
	assert_int_equal(st_count(f->path, "SELECT count(*) FROM stats"), 9);
	gen_down(f);

	/* While down, e[1]'s container is removed. */
	assert_int_equal(orch_fake_rt_destroy(f->fake, e[1]), ORCH_OK);
	f->now += ST_S(60);
	gen_up(f, &c, 0);
	assert_int_equal(c.streams_pending, 3);
	assert_int_equal(c.streams_ended, 1);
	assert_false(orch_core_restoring(&f->g.core));
	/* s0, s2: active, same engine, same start, their stats. */
	for (int i = 0; i < 3; i += 2) {
		char sid[8];

		snprintf(sid, sizeof(sid), "s%d", i);
		s = stream(f, sid);
		assert_non_null(s);
		assert_true(s->active);
		assert_string_equal(s->engine->container_id, e[i]);
		assert_int_equal(s->started_at_us, T0);
		assert_int_equal(s->stats_count, 3);
		assert_int_equal(
		    orch_stream_latest_stat(s)->peers, i * 10 + 3);
		assert_int_equal(orch_stream_latest_stat(s)->downloaded,
		    (i * 10 + 3) * 1000);
		assert_string_equal(orch_stream_latest_stat(s)->status, "dl");
	}
	/* s1 lost its engine. */
	s = stream(f, "s1");
	assert_non_null(s);
	assert_false(s->active);
	assert_string_equal(s->end_reason, "engine_gone");
	/* The ended one is history, the reservation and breaker are back. */
	assert_false(stream(f, "done")->active);
	assert_string_equal(stream(f, "done")->end_reason, "finished");
	eng = orch_state_engine_get(&f->g.core.state, e[2]);
	assert_non_null(eng);
	assert_int_equal(eng->n_reserved, 1);
	assert_int_equal(eng->first_seen_us, T0);
	assert_int_equal(f->g.core.general.failure_count, 2);
	/* The idle GC (grace 0, AUTO_DELETE) stops nothing that carries a
	 * restored stream. */
	orch_mgr_control_pass(f->g.mgr);
	assert_non_null(orch_state_engine_get(&f->g.core.state, e[0]));
	assert_non_null(orch_state_engine_get(&f->g.core.state, e[2]));
	/* What happened, in the log and the rows. */
	flush(f);
	assert_int_equal(log_count(f, "stream_restored", NULL, NULL), 2);
	assert_int_equal(
	    log_count(f, "stream_ended", "reason", "engine_gone"), 1);
	assert_int_equal(
	    log_count(f, "engine_stopped", "reason", "engine_gone"), 1);
	assert_int_equal(log_count(f, "restored", "streams_restored", "2"), 1);
	assert_int_equal(log_count(f, "engine_provisioned", NULL, NULL), 3);
	assert_int_equal(log_count(f, "stream_started", NULL, NULL), 4);
	assert_int_equal(
	    st_count(f->path, "SELECT count(*) FROM streams WHERE "
	                      "active = 1"),
	    2);
	assert_int_equal(
	    st_count(f->path, "SELECT count(*) FROM streams WHERE "
	                      "id = 's1' AND end_reason = "
	                      "'engine_gone'"),
	    1);
	assert_int_equal(
	    st_count(f->path, "SELECT count(*) FROM engines WHERE "
	                      "removed_at IS NULL"),
	    2);
	/* A third generation finds the same (nothing restored twice). */
	gen_down(f);
	gen_up(f, &c, 0);
	assert_int_equal(c.streams_pending, 2);
	TL_WAIT_FOR(
	    ok, stream(f, "s0") != NULL && stream(f, "s0")->active, 1000);
	assert_true(ok);
	assert_int_equal(f->g.core.state.counts.streams_active, 2);
}

static void
test_event_log(void **state)
{
	fx *f = *state;
	orch_store_query q;
	orch_store_log log;
	orch_diag d;
	char e[80], since[40];
	int64_t mid;

	gen_up(f, NULL, 0);
	provision(f, e);
	for (int i = 0; i < 10; i++) {
		char sid[8];

		snprintf(sid, sizeof(sid), "x%d", i);
		f->now += ST_S(1);
		start(f, e, sid);
		end(f, sid, "done");
	}
	flush(f);
	/* No since: the newest `limit`, oldest first. */
	assert_int_equal(
	    orch_store_query_parse(NULL, true, 3, NULL, &q, &d), ORCH_OK);
	assert_int_equal(
	    orch_store_query_log(f->g.store, &q, &log, &d), ORCH_OK);
	assert_int_equal(log.n, 3);
	assert_true(log.v[0].id < log.v[1].id && log.v[1].id < log.v[2].id);
	assert_string_equal(log.v[2].type, "stream_ended");
	assert_string_equal(log.v[2].stream_id, "x9");
	assert_int_equal(log.v[2].n_data, 1);
	assert_string_equal(log.v[2].data[0].key, "reason");
	assert_string_equal(log.v[2].data[0].value, "done");
	mid = log.v[0].id;
	orch_store_log_fini(&log);
	/* Since an id: what came after it, oldest first. */
	snprintf(since, sizeof(since), "%lld", (long long) mid);
	assert_int_equal(
	    orch_store_query_parse(since, false, 0, NULL, &q, &d), ORCH_OK);
	assert_int_equal(
	    orch_store_query_log(f->g.store, &q, &log, &d), ORCH_OK);
	assert_int_equal(log.n, 2);
	assert_int_equal(log.v[0].id, mid + 1);
	orch_store_log_fini(&log);
	/* Since a time, by type. */
	assert_int_equal(orch_store_query_parse("2023-11-14T22:13:25Z", false,
	                     0, "stream_started", &q, &d),
	    ORCH_OK);
	assert_int_equal(
	    orch_store_query_log(f->g.store, &q, &log, &d), ORCH_OK);
	/* T0 is 22:13:20Z; the starts at T0+5 s .. T0+10 s. */
	assert_int_equal(log.n, 6);
	for (size_t i = 0; i < log.n; i++) {
		assert_string_equal(log.v[i].type, "stream_started");
		assert_true(log.v[i].ts_us >= T0 + ST_S(5));
	}
	orch_store_log_fini(&log);
	assert_int_equal(orch_store_query_parse(NULL, false, 0,
	                     "engine_provisioned,stream_started", &q, &d),
	    ORCH_OK);
	assert_int_equal(
	    orch_store_query_log(f->g.store, &q, &log, &d), ORCH_OK);
	assert_int_equal(log.n, 11);
	assert_string_equal(log.v[0].type, "engine_provisioned");
	orch_store_log_fini(&log);
	/* Bad input names the field. */
	assert_int_equal(
	    orch_store_query_parse("yesterday", false, 0, NULL, &q, &d),
	    ORCH_EINVAL);
	assert_string_equal(d.field, "since");
	assert_int_equal(orch_store_query_parse(
	                     "2024-01-01T00:00:00", false, 0, NULL, &q, &d),
	    ORCH_EINVAL); /* no zone */
	assert_int_equal(
	    orch_store_query_parse(NULL, true, 0, NULL, &q, &d), ORCH_EINVAL);
	assert_string_equal(d.field, "limit");
	assert_int_equal(
	    orch_store_query_parse(NULL, true, 10001, NULL, &q, &d),
	    ORCH_EINVAL);
	assert_int_equal(
	    orch_store_query_parse(NULL, false, 0, "stream_started,", &q, &d),
	    ORCH_EINVAL);
	assert_string_equal(d.field, "type");
	assert_int_equal(
	    orch_store_query_parse(NULL, false, 0, "nope", &q, &d),
	    ORCH_EINVAL);
}

/* Holds the database's write lock from another connection. */
static sqlite3 *
lock_db(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	return db;
}

static void
test_overflow_resync(void **state)
{
	fx *f = *state;
	orch_store_stats s;
	orch_buf m = ORCH_BUF_INIT;
	char e[80];
	sqlite3 *other;
	bool ok;

	gen_up(f, NULL, 64);
	provision(f, e);
	flush(f);
	other = lock_db(f->path);
	/* 500 events with the writer stuck: the queue (64) overflows. */
	for (int i = 0; i < 250; i++) {
		char sid[16];

		snprintf(sid, sizeof(sid), "o%d", i);
		start(f, e, sid);
		if (i % 2 == 0)
			end(f, sid, "done");
	}
	TL_WAIT_FOR(ok,
	    (orch_store_get_stats(f->g.store, &s), s.dropped > 0 && s.failing),
	    10000);
	assert_true(ok);
	orch_store_metrics_render(f->g.store, &m);
	assert_non_null(strstr(orch_buf_cstr(&m), "orch_store_failing 1"));
	orch_buf_fini(&m);
	/* The orchestrator went on, in memory. */
	assert_int_equal(f->g.core.state.counts.streams_active, 125);
	sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(other);
	flush(f);
	orch_store_get_stats(f->g.store, &s);
	assert_false(s.failing);
	assert_true(s.resyncs >= 1);
	assert_true(s.write_errors >= 1);
	/* The rows are the core's. */
	assert_int_equal(
	    st_count(f->path, "SELECT count(*) FROM streams"), 250);
	assert_int_equal(
	    st_count(f->path, "SELECT count(*) FROM streams WHERE "
	                      "active = 1"),
	    125);
	assert_int_equal(
	    st_count(f->path, "SELECT count(*) FROM engines WHERE "
	                      "removed_at IS NULL"),
	    1);
	assert_true(log_count(f, "store_gap", NULL, NULL) >= 1);
	orch_store_metrics_render(f->g.store, &m);
	assert_non_null(strstr(orch_buf_cstr(&m), "orch_store_failing 0"));
	assert_null(
	    strstr(orch_buf_cstr(&m), "orch_store_records_dropped_total 0\n"));
	orch_buf_fini(&m);
	/* And it goes on writing. */
	start(f, e, "after");
	flush(f);
	assert_int_equal(
	    st_count(f->path, "SELECT count(*) FROM streams WHERE "
	                      "id = 'after' AND active = 1"),
	    1);
}

static void
test_retention(void **state)
{
	fx *f = *state;
	char e[80];

	f->cfg.stats_retention_s = 3600;
	f->cfg.history_retention_s = 86400;
	gen_up(f, NULL, 0);
	provision(f, e);
	start(f, e, "live");
	start(f, e, "old");
	stat(f, "live", 1);
	stat(f, "old", 1);
	end(f, "old", "done");
	f->now += ST_S(7200); /* 2 h: live's first snapshot is past 1 h */
	stat(f, "live", 2);
	flush(f);
	assert_int_equal(orch_store_prune_now(f->g.store, 10000), ORCH_OK);
	assert_int_equal(st_count(f->path, "SELECT count(*) FROM stats"), 1);
	assert_int_equal(st_count(f->path, "SELECT peers FROM stats"), 2);
	assert_int_equal(st_count(f->path, "SELECT count(*) FROM streams"), 2);
	/* Two days on: the ended stream and the old log entries go; the
	 * active stream stays, whatever its age. */
	f->now += ST_S(2 * 86400);
	assert_int_equal(orch_store_prune_now(f->g.store, 10000), ORCH_OK);
	assert_int_equal(st_count(f->path, "SELECT count(*) FROM streams"), 1);
	assert_int_equal(
	    st_count(f->path, "SELECT count(*) FROM streams WHERE "
	                      "id = 'live'"),
	    1);
	assert_int_equal(st_count(f->path, "SELECT count(*) FROM events"), 0);
	assert_int_equal(st_count(f->path, "SELECT count(*) FROM stats"), 0);
	assert_int_equal(st_count(f->path, "SELECT count(*) FROM engines"), 1);
	/* HISTORY_RETENTION_S=0 keeps the history. */
	f->cfg.history_retention_s = 0;
	start(f, e, "later");
	end(f, "later", NULL);
	flush(f);
	f->now += ST_S(365 * 86400);
	assert_int_equal(orch_store_prune_now(f->g.store, 10000), ORCH_OK);
	assert_int_equal(st_count(f->path, "SELECT count(*) FROM streams"), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_event_log, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_overflow_resync, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
