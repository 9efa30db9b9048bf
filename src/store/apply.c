/*
 * One record -> its SQL, on the writer's connection, with statements
 * prepared once; which field of a record binds which parameter is a
 * table (cols) beside the SQL, so a record kind is data, not code. A record
 * that is an event in itself (a stream started, an engine died, a breaker
 * opened) also writes its log entry here, so the core tells each thing once; a
 * replayed record writes none.
 *
 * Every write is idempotent (upserts, INSERT OR REPLACE), so a record
 * applied twice, or after a replay, leaves the same rows.
 */
#include <stddef.h>
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

/*
 * Where each statement's parameters come from: entry i binds ?(i + 1)
 * from the record's field at off; a record kind's function binds the
 * COL_HAND ones (values it computes). The first COL_END ends the list.
 */
typedef enum col_type {
	COL_END,
	COL_HAND,
	COL_TEXT,  /* const char * (NULL binds NULL) */
	COL_CHARS, /* a char array in the record */
	COL_BOOL,
	COL_INT,
	COL_I64,
} col_type;

typedef struct col {
	col_type type;
	size_t off;        /* offsetof(rec, ...) */
	unsigned stat_bit; /* a stat's field: NULL unless snap.has holds it */
} col;

#define AT(f) offsetof(rec, f)
#define COLS_MAX 13

static const col cols[S_COUNT][COLS_MAX + 1] = {
    /* ended_at and end_reason (12, 13) are NULL while it is active. */
    [S_STREAM] = {{COL_TEXT, AT(u.stream.id)},
        {COL_TEXT, AT(u.stream.key_type)}, {COL_TEXT, AT(u.stream.key)},
        {COL_TEXT, AT(u.stream.container_id)},
        {COL_BOOL, AT(u.stream.managed)}, {COL_TEXT, AT(u.stream.psid)},
        {COL_TEXT, AT(u.stream.stat_url)},
        {COL_TEXT, AT(u.stream.command_url)}, {COL_BOOL, AT(u.stream.is_live)},
        {COL_BOOL, AT(u.stream.active)}, {COL_I64, AT(u.stream.started_us)},
        {COL_HAND}, {COL_HAND}},
    [S_STATS_CLEAR] = {{COL_TEXT, AT(u.stream.id)},
        {COL_I64, AT(u.stream.started_us)}},
    /* The usage is the start or the end, as the stream is. */
    [S_ENGINE_USAGE] = {{COL_TEXT, AT(u.stream.container_id)}, {COL_HAND}},
    [S_STAT] = {{COL_TEXT, AT(u.stat.stream_id)},
        {COL_I64, AT(u.stat.snap.ts_us)},
        {COL_I64, AT(u.stat.snap.peers), ORCH_STAT_PEERS},
        {COL_I64, AT(u.stat.snap.speed_down), ORCH_STAT_SPEED_DOWN},
        {COL_I64, AT(u.stat.snap.speed_up), ORCH_STAT_SPEED_UP},
        {COL_I64, AT(u.stat.snap.downloaded), ORCH_STAT_DOWNLOADED},
        {COL_I64, AT(u.stat.snap.uploaded), ORCH_STAT_UPLOADED},
        {COL_CHARS, AT(u.stat.snap.status), ORCH_STAT_STATUS}},
    /* The health's name and the VPN (8, 9). */
    [S_ENGINE_PUT] = {{COL_TEXT, AT(u.engine.id)},
        {COL_TEXT, AT(u.engine.name)}, {COL_I64, AT(u.engine.first_seen_us)},
        {COL_I64, AT(u.engine.last_seen_us)},
        {COL_I64, AT(u.engine.last_usage_us)},
        {COL_BOOL, AT(u.engine.forwarded)}, {COL_BOOL, AT(u.engine.running)},
        {COL_HAND}, {COL_HAND}},
    [S_ENGINE_GONE] = {{COL_TEXT, AT(u.engine.id)}, {COL_I64, AT(ts_us)},
        {COL_TEXT, AT(u.engine.reason)}},
    [S_RES_PUT] = {{COL_TEXT, AT(u.res.id)},
        {COL_TEXT, AT(u.res.container_id)}, {COL_I64, AT(u.res.expires_us)}},
    [S_RES_DEL] = {{COL_TEXT, AT(u.res.id)}},
    [S_BREAKER] = {{COL_TEXT, AT(u.breaker.name)},
        {COL_INT, AT(u.breaker.state)}, {COL_INT, AT(u.breaker.failure_count)},
        {COL_I64, AT(u.breaker.opened_us)},
        {COL_I64, AT(u.breaker.last_failure_us)},
        {COL_I64, AT(u.breaker.last_success_us)}},
    /* The type's name (2). */
    [S_EVENT] = {{COL_I64, AT(ts_us)}, {COL_HAND},
        {COL_TEXT, AT(u.log.container_id)}, {COL_TEXT, AT(u.log.stream_id)},
        {COL_TEXT, AT(u.log.data)}},
};

#undef AT

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

/* Statement `which` with its parameters bound from r as cols says (the
 * COL_HAND ones are the caller's to bind). */
static sqlite3_stmt *
bound(struct apply_stmts *s, int which, const rec *r)
{
	sqlite3_stmt *st = s->st[which];
	const char *base = (const char *) r;

	for (int i = 0; i < COLS_MAX && cols[which][i].type != COL_END; i++) {
		const col *c = &cols[which][i];
		const char *p = base + c->off;

		if (c->stat_bit != 0 &&
		    (r->u.stat.snap.has & c->stat_bit) == 0) {
			sqlite3_bind_null(st, i + 1);
			continue;
		}
		switch (c->type) {
		case COL_TEXT:
			bind_text(st, i + 1, *(const char *const *) p);
			break;
		case COL_CHARS:
			bind_text(st, i + 1, p);
			break;
		case COL_BOOL:
			sqlite3_bind_int(st, i + 1, *(const bool *) p);
			break;
		case COL_INT:
			sqlite3_bind_int(st, i + 1, *(const int *) p);
			break;
		case COL_I64:
			sqlite3_bind_int64(st, i + 1, *(const int64_t *) p);
			break;
		case COL_END:
		case COL_HAND:
			break;
		}
	}
	return st;
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
	const char *type = orch_log_type_name((orch_log_type) r->u.log.type);
	sqlite3_stmt *st;

	if (type == NULL)
		return SQLITE_OK;
	st = bound(s, S_EVENT, r);
	bind_text(st, 2, type);
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
	sqlite3_stmt *st = bound(s, S_STREAM, r);
	int64_t usage;
	int rc;

	bind_opt(st, 12, !r->u.stream.active, r->u.stream.ended_us);
	bind_text(st, 13, r->u.stream.active ? NULL : r->u.stream.end_reason);
	rc = run(st);
	if (rc == SQLITE_OK && r->u.stream.active && !r->replay)
		rc = run(bound(s, S_STATS_CLEAR, r));
	usage =
	    r->u.stream.active ? r->u.stream.started_us : r->u.stream.ended_us;
	if (rc == SQLITE_OK && r->u.stream.managed) {
		st = bound(s, S_ENGINE_USAGE, r);
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
	return run(bound(s, S_STAT, r));
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
	sqlite3_stmt *st = bound(s, gone ? S_ENGINE_GONE : S_ENGINE_PUT, r);
	orch_log_type ev = engine_event(r);
	orch_kv kv[2];
	size_t n = 0;
	int rc;

	if (!gone) {
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
	return run(bound(s, r->u.res.live ? S_RES_PUT : S_RES_DEL, r));
}

static int
apply_breaker(struct apply_stmts *s, const rec *r)
{
	int rc = run(bound(s, S_BREAKER, r));
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
