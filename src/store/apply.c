/*
 * One record -> its SQL, on the writer's connection, with statements
 * prepared once. A record that is an event in itself (a stream started,
 * an engine died, a breaker opened) also writes its log entry here, so
 * the core tells each thing once; a replayed record writes none.
 *
 * Every write is idempotent (upserts, INSERT OR REPLACE), so a record
 * applied twice, or after a replay, leaves the same rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/breaker.h"
#include "src/store/impl.h"

enum {
	S_STREAM,
	S_STATS_CLEAR,
	S_ENGINE_USAGE,
	S_STAT,
	S_ENGINE_PUT,
	S_ENGINE_GONE,
	S_RES_PUT,
	S_RES_DEL,
	S_BREAKER,
	S_EVENT,
	S_COUNT
};

static const char *const sql[S_COUNT] = {
    [S_STREAM] = "INSERT INTO streams (id, key_type, key, container_id, "
                 "managed, playback_session_id, stat_url, command_url, "
                 "is_live, active, started_at, ended_at, end_reason) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                 "?12, ?13) ON CONFLICT (id) DO UPDATE SET "
                 "key_type = excluded.key_type, key = excluded.key, "
                 "container_id = excluded.container_id, "
                 "managed = excluded.managed, "
                 "playback_session_id = excluded.playback_session_id, "
                 "stat_url = excluded.stat_url, "
                 "command_url = excluded.command_url, "
                 "is_live = excluded.is_live, active = excluded.active, "
                 "started_at = excluded.started_at, "
                 "ended_at = excluded.ended_at, "
                 "end_reason = excluded.end_reason",
    /* A stream started again under its id starts a new history. */
    [S_STATS_CLEAR] = "DELETE FROM stats WHERE sid = (SELECT sid FROM "
                      "streams WHERE id = ?1) AND ts < ?2",
    [S_ENGINE_USAGE] = "UPDATE engines SET last_stream_usage = ?2 WHERE "
                       "container_id = ?1 AND "
                       "coalesce(last_stream_usage, 0) < ?2",
    [S_STAT] = "INSERT OR REPLACE INTO stats (sid, ts, peers, speed_down, "
               "speed_up, downloaded, uploaded, status) SELECT sid, ?2, ?3, "
               "?4, ?5, ?6, ?7, ?8 FROM streams WHERE id = ?1",
    [S_ENGINE_PUT] =
        "INSERT INTO engines (container_id, container_name, first_seen, "
        "last_seen, last_stream_usage, forwarded, running, health, vpn) "
        "VALUES (?1, ?2, ?3, ?4, nullif(?5, 0), ?6, ?7, ?8, ?9) "
        "ON CONFLICT (container_id) DO UPDATE SET "
        "container_name = coalesce(excluded.container_name, "
        "container_name), "
        "first_seen = min(first_seen, excluded.first_seen), "
        "last_seen = excluded.last_seen, "
        "last_stream_usage = nullif(max(coalesce(last_stream_usage, 0), "
        "coalesce(excluded.last_stream_usage, 0)), 0), "
        "forwarded = excluded.forwarded, running = excluded.running, "
        "health = excluded.health, vpn = excluded.vpn, removed_at = NULL, "
        "removed_reason = NULL",
    [S_ENGINE_GONE] = "UPDATE engines SET removed_at = ?2, removed_reason = "
                      "?3, running = 0 WHERE container_id = ?1",
    [S_RES_PUT] = "INSERT OR REPLACE INTO reservations (id, container_id, "
                  "expires_at) VALUES (?1, ?2, ?3)",
    [S_RES_DEL] = "DELETE FROM reservations WHERE id = ?1",
    [S_BREAKER] = "INSERT OR REPLACE INTO breakers (name, state, "
                  "failure_count, opened_at, last_failure, last_success) "
                  "VALUES (?1, ?2, ?3, nullif(?4, 0), nullif(?5, 0), "
                  "nullif(?6, 0))",
    [S_EVENT] = "INSERT INTO events (ts, type, container_id, stream_id, "
                "data) VALUES (?1, ?2, ?3, ?4, ?5)",
};

struct apply_stmts {
	sqlite3 *db;
	const char *vpn; /* GLUETUN_CONTAINER_NAME, or NULL */
	sqlite3_stmt *st[S_COUNT];
};

struct apply_stmts *
apply_open(sqlite3 *db, const char *vpn)
{
	struct apply_stmts *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->db = db;
	s->vpn = vpn;
	for (int i = 0; i < S_COUNT; i++) {
		if (sqlite3_prepare_v3(db, sql[i], -1,
		        SQLITE_PREPARE_PERSISTENT, &s->st[i],
		        NULL) != SQLITE_OK) {
			apply_close(s);
			return NULL;
		}
	}
	return s;
}

void
apply_close(struct apply_stmts *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	free(s);
}

/* ---- binding ---------------------------------------------------------- */

static void
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v != NULL)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* A nullable integer: the stat's field when its bit is set. */
static void
bind_opt(sqlite3_stmt *st, int i, bool has, int64_t v)
{
	if (has)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

/* Steps a statement that returns no row, and resets it. */
static int
run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* ---- log entries ------------------------------------------------------ */

static int
put_event(struct apply_stmts *s, const rec *r)
{
	sqlite3_stmt *st = s->st[S_EVENT];
	const char *type = orch_log_type_name((orch_log_type) r->u.log.type);

	if (type == NULL)
		return SQLITE_OK;
	sqlite3_bind_int64(st, 1, r->ts_us);
	bind_text(st, 2, type);
	bind_text(st, 3, r->u.log.container_id);
	bind_text(st, 4, r->u.log.stream_id);
	bind_text(st, 5, r->u.log.data);
	return run(st);
}

/* The log entry a record stands for (built like one from the core). */
static int
derived(struct apply_stmts *s, int64_t ts, orch_log_type type, const char *cid,
    const char *sid, const orch_kv *kv, size_t n)
{
	rec *l = rec_log(ts, (int) type, cid, sid, kv, n);
	int rc;

	if (l == NULL)
		return SQLITE_NOMEM;
	rc = put_event(s, l);
	free(l);
	return rc;
}

/* ---- records ---------------------------------------------------------- */

static int
apply_stream(struct apply_stmts *s, const rec *r)
{
	sqlite3_stmt *st = s->st[S_STREAM];
	int64_t usage;
	int rc;

	bind_text(st, 1, r->u.stream.id);
	bind_text(st, 2, r->u.stream.key_type);
	bind_text(st, 3, r->u.stream.key);
	bind_text(st, 4, r->u.stream.container_id);
	sqlite3_bind_int(st, 5, r->u.stream.managed);
	bind_text(st, 6, r->u.stream.psid);
	bind_text(st, 7, r->u.stream.stat_url);
	bind_text(st, 8, r->u.stream.command_url);
	sqlite3_bind_int(st, 9, r->u.stream.is_live);
	sqlite3_bind_int(st, 10, r->u.stream.active);
	sqlite3_bind_int64(st, 11, r->u.stream.started_us);
	bind_opt(st, 12, !r->u.stream.active, r->u.stream.ended_us);
	bind_text(st, 13, r->u.stream.active ? NULL : r->u.stream.end_reason);
	rc = run(st);
	if (rc == SQLITE_OK && r->u.stream.active && !r->replay) {
		st = s->st[S_STATS_CLEAR];
		bind_text(st, 1, r->u.stream.id);
		sqlite3_bind_int64(st, 2, r->u.stream.started_us);
		rc = run(st);
	}
	usage =
	    r->u.stream.active ? r->u.stream.started_us : r->u.stream.ended_us;
	if (rc == SQLITE_OK && r->u.stream.managed) {
		st = s->st[S_ENGINE_USAGE];
		bind_text(st, 1, r->u.stream.container_id);
		sqlite3_bind_int64(st, 2, usage);
		rc = run(st);
	}
	if (rc == SQLITE_OK && !r->replay) {
		orch_kv started[] = {{"key_type", r->u.stream.key_type},
		    {"key", r->u.stream.key}};
		orch_kv ended[] = {{"reason", r->u.stream.end_reason}};

		rc = r->u.stream.active
		         ? derived(s, r->ts_us, ORCH_LOG_STREAM_STARTED,
		               r->u.stream.container_id, r->u.stream.id,
		               started, 2)
		         : derived(s, r->ts_us, ORCH_LOG_STREAM_ENDED,
		               r->u.stream.container_id, r->u.stream.id, ended,
		               r->u.stream.end_reason != NULL ? 1 : 0);
	}
	return rc;
}

static int
apply_stat(struct apply_stmts *s, const rec *r)
{
	sqlite3_stmt *st = s->st[S_STAT];
	const orch_stat *v = &r->u.stat.snap;

	bind_text(st, 1, r->u.stat.stream_id);
	sqlite3_bind_int64(st, 2, v->ts_us);
	bind_opt(st, 3, v->has & ORCH_STAT_PEERS, v->peers);
	bind_opt(st, 4, v->has & ORCH_STAT_SPEED_DOWN, v->speed_down);
	bind_opt(st, 5, v->has & ORCH_STAT_SPEED_UP, v->speed_up);
	bind_opt(st, 6, v->has & ORCH_STAT_DOWNLOADED, v->downloaded);
	bind_opt(st, 7, v->has & ORCH_STAT_UPLOADED, v->uploaded);
	bind_text(st, 8, (v->has & ORCH_STAT_STATUS) ? v->status : NULL);
	return run(st);
}

/* The log entry an engine record stands for; NONE for none. */
static orch_log_type
engine_event(const rec *r)
{
	switch (r->u.engine.change) {
	case ORCH_SINK_REMOVED:
	case ORCH_SINK_LOST:
		return ORCH_LOG_ENGINE_STOPPED;
	case ORCH_SINK_DIED:
		return ORCH_LOG_ENGINE_DIED;
	case ORCH_SINK_RESTARTED:
		return ORCH_LOG_ENGINE_RESTARTED;
	case ORCH_SINK_HEALTH:
		return r->u.engine.health == ORCH_HEALTH_HEALTHY
		           ? ORCH_LOG_ENGINE_HEALTHY
		           : ORCH_LOG_ENGINE_UNHEALTHY;
	default:
		return ORCH_LOG_NONE;
	}
}

static int
apply_engine(struct apply_stmts *s, const rec *r)
{
	bool gone = r->u.engine.change == ORCH_SINK_REMOVED ||
	            r->u.engine.change == ORCH_SINK_LOST;
	sqlite3_stmt *st = s->st[gone ? S_ENGINE_GONE : S_ENGINE_PUT];
	orch_log_type ev = engine_event(r);
	orch_kv kv[2];
	size_t n = 0;
	int rc;

	bind_text(st, 1, r->u.engine.id);
	if (gone) {
		sqlite3_bind_int64(st, 2, r->ts_us);
		bind_text(st, 3, r->u.engine.reason);
	} else {
		bind_text(st, 2, r->u.engine.name);
		sqlite3_bind_int64(st, 3, r->u.engine.first_seen_us);
		sqlite3_bind_int64(st, 4, r->u.engine.last_seen_us);
		sqlite3_bind_int64(st, 5, r->u.engine.last_usage_us);
		sqlite3_bind_int(st, 6, r->u.engine.forwarded);
		sqlite3_bind_int(st, 7, r->u.engine.running);
		bind_text(
		    st, 8, orch_health_name((orch_health) r->u.engine.health));
		bind_text(st, 9, s->vpn);
	}
	rc = run(st);
	if (rc != SQLITE_OK || r->replay || ev == ORCH_LOG_NONE)
		return rc;
	if (r->u.engine.name != NULL)
		kv[n++] = (orch_kv){"name", r->u.engine.name};
	if (r->u.engine.reason != NULL)
		kv[n++] = (orch_kv){"reason", r->u.engine.reason};
	return derived(s, r->ts_us, ev, r->u.engine.id, NULL, kv, n);
}

static int
apply_reservation(struct apply_stmts *s, const rec *r)
{
	sqlite3_stmt *st = s->st[r->u.res.live ? S_RES_PUT : S_RES_DEL];

	bind_text(st, 1, r->u.res.id);
	if (r->u.res.live) {
		bind_text(st, 2, r->u.res.container_id);
		sqlite3_bind_int64(st, 3, r->u.res.expires_us);
	}
	return run(st);
}

static int
apply_breaker(struct apply_stmts *s, const rec *r)
{
	sqlite3_stmt *st = s->st[S_BREAKER];
	int rc;

	bind_text(st, 1, r->u.breaker.name);
	sqlite3_bind_int(st, 2, r->u.breaker.state);
	sqlite3_bind_int(st, 3, r->u.breaker.failure_count);
	sqlite3_bind_int64(st, 4, r->u.breaker.opened_us);
	sqlite3_bind_int64(st, 5, r->u.breaker.last_failure_us);
	sqlite3_bind_int64(st, 6, r->u.breaker.last_success_us);
	rc = run(st);
	if (rc == SQLITE_OK && !r->replay &&
	    r->u.breaker.from != r->u.breaker.state) {
		orch_kv kv[] = {{"name", r->u.breaker.name},
		    {"from", orch_breaker_state_name(
		                 (orch_breaker_state) r->u.breaker.from)},
		    {"to", orch_breaker_state_name(
		               (orch_breaker_state) r->u.breaker.state)}};

		rc = derived(s, r->ts_us, ORCH_LOG_BREAKER, NULL, NULL, kv, 3);
	}
	return rc;
}

int
apply_rec(struct apply_stmts *s, const rec *r)
{
	switch (r->kind) {
	case REC_STREAM:
		return apply_stream(s, r);
	case REC_STAT:
		return apply_stat(s, r);
	case REC_ENGINE:
		return apply_engine(s, r);
	case REC_RESERVATION:
		return apply_reservation(s, r);
	case REC_BREAKER:
		return apply_breaker(s, r);
	case REC_LOG:
		return put_event(s, r);
	}
	return SQLITE_OK;
}

int
apply_resync_begin(sqlite3 *db, int64_t now)
{
	char q[512];

	snprintf(q, sizeof(q),
	    "UPDATE streams SET active = 0, ended_at = %lld, end_reason = "
	    "coalesce(end_reason, 'unknown') WHERE active = 1;"
	    "DELETE FROM reservations;"
	    "UPDATE engines SET removed_at = %lld, removed_reason = "
	    "'unknown', "
	    "running = 0 WHERE removed_at IS NULL;",
	    (long long) now, (long long) now);
	return sqlite3_exec(db, q, NULL, NULL, NULL);
}
