/*
 * At start: what the database holds goes back into the core
 * (orch_core_restore), before the writer runs and before the first
 * reconcile. Streams come in chunks (oldest start first), each with its
 * newest snapshots within STATS_RETENTION_S, so a large history never
 * sits in memory twice.
 *
 * What the file says is outside input: a NULL where a value belongs, a
 * type out of range or a string too long is skipped (counted), never
 * trusted; the core refuses what does not fit its rules.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/log.h"
#include "src/store/impl.h"

#define CHUNK 4096
#define US_PER_S 1000000LL
#define TEXT_MAX (64 * 1024)

/* Strings copied out of rows, freed together. */
typedef struct pool {
	char **v;
	size_t n, cap;
	bool nomem;
} pool;

static const char *
pool_text(pool *p, sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	int len = sqlite3_column_bytes(s, col);
	char *c;

	if (t == NULL || len > TEXT_MAX)
		return NULL;
	if (p->n == p->cap) {
		size_t ncap = p->cap != 0 ? p->cap * 2 : 256;
		char **nv = realloc(p->v, ncap * sizeof(*nv));

		if (nv == NULL) {
			p->nomem = true;
			return NULL;
		}
		p->v = nv;
		p->cap = ncap;
	}
	c = malloc((size_t) len + 1);
	if (c == NULL) {
		p->nomem = true;
		return NULL;
	}
	memcpy(c, t, (size_t) len);
	c[len] = '\0';
	p->v[p->n++] = c;
	return c;
}

static void
pool_free(pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	memset(p, 0, sizeof(*p));
}

static int64_t
col_i64(sqlite3_stmt *s, int col)
{
	return sqlite3_column_type(s, col) == SQLITE_NULL
	           ? 0
	           : sqlite3_column_int64(s, col);
}

/* ---- the small tables ------------------------------------------------- */

typedef struct loaded {
	pool strings;
	orch_breaker_record breakers[4];
	size_t n_breakers;
	orch_engine_record *engines;
	size_t n_engines;
	orch_reservation_record *res;
	size_t n_res;
	size_t skipped;
} loaded;

static int
load_breakers(sqlite3 *db, loaded *l)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db,
	    "SELECT name, state, failure_count, opened_at, last_failure, "
	    "last_success FROM breakers",
	    -1, &s, NULL);

	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		orch_breaker_record *b = &l->breakers[l->n_breakers];

		rc = SQLITE_OK;
		if (l->n_breakers == 4)
			continue;
		b->name = pool_text(&l->strings, s, 0);
		b->state = sqlite3_column_int(s, 1);
		b->failure_count = sqlite3_column_int(s, 2);
		b->opened_at_us = col_i64(s, 3);
		b->last_failure_us = col_i64(s, 4);
		b->last_success_us = col_i64(s, 5);
		if (b->name != NULL)
			l->n_breakers++;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Runs a counting query then fills *v (n rows of size sz) with fill(). */
static int
load_rows(sqlite3 *db, const char *count_sql, const char *sql, int64_t now,
    void **v, size_t *n, size_t sz,
    bool (*fill)(loaded *, sqlite3_stmt *, void *), loaded *l)
{
	sqlite3_stmt *s = NULL;
	size_t cap = 0;
	int rc = sqlite3_prepare_v2(db, count_sql, -1, &s, NULL);

	if (rc == SQLITE_OK)
		sqlite3_bind_int64(s, 1, now);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		cap = (size_t) sqlite3_column_int64(s, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	s = NULL;
	if (rc != SQLITE_OK)
		return rc;
	*v = calloc(cap + 1, sz);
	if (*v == NULL)
		return SQLITE_NOMEM;
	rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	if (rc == SQLITE_OK)
		sqlite3_bind_int64(s, 1, now);
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		rc = SQLITE_OK;
		if (*n >= cap)
			break;
		if (fill(l, s, (char *) *v + *n * sz))
			(*n)++;
		else
			l->skipped++;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static bool
fill_engine(loaded *l, sqlite3_stmt *s, void *out)
{
	orch_engine_record *e = out;

	e->container_id = pool_text(&l->strings, s, 0);
	e->first_seen_us = col_i64(s, 1);
	e->last_stream_usage_us = col_i64(s, 2);
	e->forwarded = sqlite3_column_int(s, 3) != 0;
	return e->container_id != NULL;
}

static bool
fill_res(loaded *l, sqlite3_stmt *s, void *out)
{
	orch_reservation_record *r = out;

	r->id = pool_text(&l->strings, s, 0);
	r->container_id = pool_text(&l->strings, s, 1);
	r->expires_us = col_i64(s, 2);
	return r->id != NULL && r->container_id != NULL;
}

static int
load_small(sqlite3 *db, loaded *l, int64_t now)
{
	int rc = load_breakers(db, l);

	if (rc == SQLITE_OK)
		rc = load_rows(db,
		    "SELECT count(*) FROM engines WHERE removed_at IS NULL "
		    "AND "
		    "?1 IS NOT NULL",
		    "SELECT container_id, first_seen, last_stream_usage, "
		    "forwarded FROM engines WHERE removed_at IS NULL AND ?1 "
		    "IS "
		    "NOT NULL",
		    now, (void **) &l->engines, &l->n_engines,
		    sizeof(*l->engines), fill_engine, l);
	/* Lapsed while the orchestrator was down: gone for good. */
	if (rc == SQLITE_OK) {
		char q[128];

		snprintf(q, sizeof(q),
		    "DELETE FROM reservations WHERE expires_at <= %lld",
		    (long long) now);
		rc = sqlite3_exec(db, q, NULL, NULL, NULL);
	}
	if (rc == SQLITE_OK)
		rc = load_rows(db,
		    "SELECT count(*) FROM reservations WHERE expires_at > ?1",
		    "SELECT id, container_id, expires_at FROM reservations "
		    "WHERE expires_at > ?1",
		    now, (void **) &l->res, &l->n_res, sizeof(*l->res),
		    fill_res, l);
	return rc;
}

/* ---- streams, in chunks ---------------------------------------------- */

typedef struct chunk {
	pool strings;
	orch_stream_record r[CHUNK];
	orch_stat *stats; /* every record's snapshots, end to end */
	size_t n_stats, cap_stats;
	size_t n;
	size_t skipped;
} chunk;

static bool
fill_stream(chunk *c, sqlite3_stmt *s, orch_stream_record *r)
{
	memset(r, 0, sizeof(*r));
	r->id = pool_text(&c->strings, s, 1);
	r->key_type = pool_text(&c->strings, s, 2);
	r->key = pool_text(&c->strings, s, 3);
	r->container_id = pool_text(&c->strings, s, 4);
	r->managed = sqlite3_column_int(s, 5) != 0;
	r->playback_session_id = pool_text(&c->strings, s, 6);
	r->stat_url = pool_text(&c->strings, s, 7);
	r->command_url = pool_text(&c->strings, s, 8);
	r->is_live = sqlite3_column_int(s, 9) != 0;
	r->active = sqlite3_column_int(s, 10) != 0;
	r->started_at_us = col_i64(s, 11);
	r->ended_at_us = col_i64(s, 12);
	r->end_reason = pool_text(&c->strings, s, 13);
	return r->id != NULL && r->key_type != NULL && r->key != NULL &&
	       r->container_id != NULL;
}

/* The newest `keep` snapshots of sid since `since`, appended oldest first
 * to c->stats; *first gets where they start. */
static int
load_stats(sqlite3_stmt *q, chunk *c, int64_t sid, int64_t since, int keep,
    size_t *first, size_t *n)
{
	size_t start = c->n_stats;
	int rc;

	*first = start;
	*n = 0;
	sqlite3_bind_int64(q, 1, sid);
	sqlite3_bind_int64(q, 2, since);
	sqlite3_bind_int(q, 3, keep);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		orch_stat *st;
		const unsigned char *status;

		if (c->n_stats == c->cap_stats) {
			size_t ncap = c->cap_stats ? c->cap_stats * 2 : 4096;
			orch_stat *ns = realloc(c->stats, ncap * sizeof(*ns));

			if (ns == NULL) {
				rc = SQLITE_NOMEM;
				break;
			}
			c->stats = ns;
			c->cap_stats = ncap;
		}
		st = &c->stats[c->n_stats++];
		memset(st, 0, sizeof(*st));
		st->ts_us = sqlite3_column_int64(q, 0);
#define OPT(col, field, bit)                                                  \
	if (sqlite3_column_type(q, col) != SQLITE_NULL) {                     \
		st->field = sqlite3_column_int64(q, col);                     \
		st->has |= bit;                                               \
	}
		OPT(1, peers, ORCH_STAT_PEERS)
		OPT(2, speed_down, ORCH_STAT_SPEED_DOWN)
		OPT(3, speed_up, ORCH_STAT_SPEED_UP)
		OPT(4, downloaded, ORCH_STAT_DOWNLOADED)
		OPT(5, uploaded, ORCH_STAT_UPLOADED)
#undef OPT
		status = sqlite3_column_text(q, 6);
		if (status != NULL) {
			snprintf(st->status, sizeof(st->status), "%s",
			    (const char *) status);
			st->has |= ORCH_STAT_STATUS;
		}
	}
	sqlite3_reset(q);
	*n = c->n_stats - start;
	/* Newest first from the query: reverse into time order. */
	for (size_t i = 0; i < *n / 2; i++) {
		orch_stat t = c->stats[start + i];

		c->stats[start + i] = c->stats[start + *n - 1 - i];
		c->stats[start + *n - 1 - i] = t;
	}
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Hands a full chunk to the core and empties it. */
static orch_err
flush_chunk(orch_core *core, chunk *c, size_t *firsts, orch_restore_counts *t)
{
	orch_restore rs;
	orch_restore_counts k;
	orch_err rv;

	/* The snapshot array may have moved while it grew. */
	for (size_t i = 0; i < c->n; i++)
		c->r[i].stats = c->r[i].n_stats ? c->stats + firsts[i] : NULL;
	memset(&rs, 0, sizeof(rs));
	rs.streams = c->r;
	rs.n_streams = c->n;
	rv = orch_core_restore(core, &rs, &k);
	t->streams_ended += k.streams_ended;
	t->streams_active += k.streams_active;
	t->streams_pending += k.streams_pending;
	t->skipped += k.skipped;
	pool_free(&c->strings);
	c->n = 0;
	c->n_stats = 0;
	return rv;
}

static int
load_streams(orch_store *st, orch_core *core, int64_t now,
    orch_restore_counts *t, orch_err *crv)
{
	const orch_config *cfg = st->cfg;
	int64_t since = now - (int64_t) cfg->stats_retention_s * US_PER_S;
	sqlite3_stmt *s = NULL, *q = NULL;
	chunk *c = calloc(1, sizeof(*c));
	size_t *firsts = calloc(CHUNK, sizeof(*firsts));
	int rc = c != NULL && firsts != NULL ? SQLITE_OK : SQLITE_NOMEM;

	*crv = ORCH_OK;
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(st->db,
		    "SELECT sid, id, key_type, key, container_id, managed, "
		    "playback_session_id, stat_url, command_url, is_live, "
		    "active, "
		    "started_at, ended_at, end_reason FROM streams WHERE sid "
		    "IN "
		    "(SELECT sid FROM streams WHERE active = 1 UNION ALL "
		    "SELECT "
		    "sid FROM (SELECT sid FROM streams WHERE active = 0 ORDER "
		    "BY "
		    "ended_at DESC LIMIT ?1)) ORDER BY started_at, sid",
		    -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(st->db,
		    "SELECT ts, peers, speed_down, speed_up, downloaded, "
		    "uploaded, status FROM stats WHERE sid = ?1 AND ts >= ?2 "
		    "ORDER BY ts DESC LIMIT ?3",
		    -1, &q, NULL);
	if (rc == SQLITE_OK)
		sqlite3_bind_int(s, 1, core->state.opts.ended_max);
	while (rc == SQLITE_OK && *crv == ORCH_OK &&
	       (rc = sqlite3_step(s)) == SQLITE_ROW) {
		orch_stream_record *r = &c->r[c->n];
		int keep;

		rc = SQLITE_OK;
		if (!fill_stream(c, s, r)) {
			t->skipped++;
			continue;
		}
		keep =
		    r->active ? cfg->stats_history_max : cfg->stats_ended_max;
		rc = load_stats(q, c, sqlite3_column_int64(s, 0), since, keep,
		    &firsts[c->n], &r->n_stats);
		if (rc == SQLITE_OK && ++c->n == CHUNK)
			*crv = flush_chunk(core, c, firsts, t);
	}
	if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	if (rc == SQLITE_OK && *crv == ORCH_OK && c->n != 0)
		*crv = flush_chunk(core, c, firsts, t);
	sqlite3_finalize(s);
	sqlite3_finalize(q);
	if (c != NULL) {
		pool_free(&c->strings);
		free(c->stats);
	}
	free(c);
	free(firsts);
	return rc;
}

orch_err
orch_store_restore(orch_store *st, orch_core *core,
    orch_restore_counts *counts, orch_diag *diag)
{
	int64_t now = orch_clock_now(&st->clock);
	orch_sink sink = {&store_sink_ops, st};
	orch_restore_counts t, k;
	orch_restore rs;
	orch_err rv = ORCH_OK;
	loaded l;
	int rc;

	memset(&t, 0, sizeof(t));
	memset(&l, 0, sizeof(l));
	/* The restore tells the log what came back (stream_restored for
	 * streams on unmanaged entries, active at once): queued now, written
	 * once the writer starts. */
	orch_core_set_sink(core, &sink);
	rc = load_small(st->db, &l, now);
	if (rc == SQLITE_OK && l.strings.nomem)
		rc = SQLITE_NOMEM;
	if (rc == SQLITE_OK) {
		memset(&rs, 0, sizeof(rs));
		rs.breakers = l.breakers;
		rs.n_breakers = l.n_breakers;
		rs.engines = l.engines;
		rs.n_engines = l.n_engines;
		rs.reservations = l.res;
		rs.n_reservations = l.n_res;
		rv = orch_core_restore(core, &rs, &k);
		t.engines_pending = k.engines_pending;
		t.reservations_pending = k.reservations_pending;
		t.skipped = k.skipped + l.skipped;
	}
	if (rc == SQLITE_OK && rv == ORCH_OK)
		rc = load_streams(st, core, now, &t, &rv);
	pool_free(&l.strings);
	free(l.engines);
	free(l.res);
	if (rc != SQLITE_OK) {
		store_diag(diag, st->path, st->db, rc);
		rv = store_err(rc);
	} else if (rv != ORCH_OK) {
		orch_diag_set(diag, "DB_PATH %s: restoring: %s", st->path,
		    orch_strerror(rv));
	}
	orch_core_set_sink(core, NULL);
	if (counts != NULL)
		*counts = t;
	return rv;
}
