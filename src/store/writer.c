/*
 * The writer thread: takes what is queued (up to batch_max records) and
 * commits it in one transaction, fsync'd (PRAGMA synchronous=FULL), as
 * soon as it has it: a burst makes bigger batches, a trickle one
 * transaction per event, so what the core did is on disk within a second
 * either way while the writer keeps up.
 *
 * When records are lost (the queue was full, or a transaction failed:
 * a full disk, an I/O error), the database no longer matches the core.
 * The writer then replays the core's ledger (orch_core_replay) in one
 * transaction: what it says replaces what the lost records would have
 * said; the log entries still queued are kept, and one store_gap entry
 * counts what was lost. While writes fail it retries every
 * retry_interval_ms; the orchestrator serves from memory meanwhile.
 *
 * Retention runs here too, in short transactions between batches.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/base/cond.h"
#include "src/base/log.h"
#include "src/base/time.h"
#include "src/store/impl.h"

#define PRUNE_CHUNK 5000
#define PRUNE_CHUNKS_PER_TICK 20
#define ERROR_LOG_EVERY_MS 60000

#define US_PER_S 1000000LL

/* ---- waiting ---------------------------------------------------------- */

static void
wait_until(orch_store *st, int64_t deadline_ms)
{
	(void) orch_cond_wait_until(&st->qcv, &st->qmu, deadline_ms);
}

/* ---- one transaction -------------------------------------------------- */

static int
exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Applies every record of b (and, with gap, a store_gap entry first) in
 * one transaction. SQLITE_OK or the error that rolled it back. */
static int
commit(orch_store *st, const rec_list *b, bool resync, const rec *gap)
{
	int rc = exec(st->db, "BEGIN IMMEDIATE");

	if (rc == SQLITE_OK && resync)
		rc = apply_resync_begin(st->db, orch_clock_now(&st->clock));
	if (rc == SQLITE_OK && gap != NULL)
		rc = apply_rec(st->stmts, gap);
	for (const rec *r = b->head; rc == SQLITE_OK && r != NULL; r = r->next)
		rc = apply_rec(st->stmts, r);
	if (rc == SQLITE_OK)
		rc = exec(st->db, "COMMIT");
	if (rc != SQLITE_OK)
		(void) exec(st->db, "ROLLBACK");
	return rc;
}

/* Keeps the log records of l for the next resync (bounded by the queue's
 * size; beyond, they are lost); frees the rest, which a replay replaces.
 * Under qmu. */
static void
keep_logs(orch_store *st, rec_list *l)
{
	rec *r = l->head;

	while (r != NULL) {
		rec *next = r->next;

		if (r->kind == REC_LOG && st->keep.n < st->qmax) {
			rec_list_push(&st->keep, r);
		} else {
			if (r->kind == REC_LOG) {
				st->n_lost++;
				st->gap_lost++;
			}
			free(r);
		}
		r = next;
	}
	memset(l, 0, sizeof(*l));
}

/* A failed transaction: say it (not on every retry), count it. Under
 * qmu. */
static void
failed(orch_store *st, int rc, const char *what)
{
	int64_t now = orch_mono_ms();

	st->n_errors++;
	if (!st->failing ||
	    now - st->last_error_log_ms >= ERROR_LOG_EVERY_MS) {
		ORCH_ERROR("store: %s to %s failed: %s; serving from memory, "
		           "retrying every %d ms (%zu records queued)",
		    what, st->path, sqlite3_errstr(rc), st->retry_interval_ms,
		    st->q.n);
		st->last_error_log_ms = now;
	}
	st->failing = true;
	st->need_resync = true;
}

/* Takes up to batch_max records off the queue into b and commits them.
 * Called with qmu held; returns with it held. */
static void
write_batch(orch_store *st)
{
	rec_list b = {NULL, NULL, 0};
	uint64_t last = 0;
	int rc;

	while (st->q.head != NULL && b.n < (size_t) st->batch_max) {
		rec *r = st->q.head;

		st->q.head = r->next;
		if (st->q.head == NULL)
			st->q.tail = NULL;
		st->q.n--;
		last = r->seq;
		rec_list_push(&b, r);
	}
	pthread_mutex_unlock(&st->qmu);
	rc = commit(st, &b, false, NULL);
	pthread_mutex_lock(&st->qmu);
	if (rc == SQLITE_OK) {
		st->n_written += b.n;
		st->n_batches++;
		rec_list_free(&b);
	} else {
		/* What the batch changed comes back with the replay; its log
		 * entries are kept for it. */
		failed(st, rc, "a write");
		st->n_lost += b.n;
		st->gap_lost += b.n;
		keep_logs(st, &b);
	}
	if (last > st->applied_seq)
		st->applied_seq = last;
	pthread_cond_broadcast(&st->donecv);
}

/* ---- resync ----------------------------------------------------------- */

typedef struct replay_ctx {
	orch_store *st;
	rec_list recs;
	bool nomem;
	uint64_t stolen_seq;
	uint64_t dropped, lost;
} replay_ctx;

static void
replay_push(replay_ctx *c, rec *r)
{
	if (r == NULL) {
		c->nomem = true;
		return;
	}
	r->replay = true;
	rec_list_push(&c->recs, r);
}

static void
rp_stream(void *arg, const orch_stream *s, const orch_engine *e)
{
	replay_push(arg, rec_stream(s, e, 0));
}

static void
rp_stat(void *arg, const orch_stream *s, const orch_stat *snap)
{
	replay_push(arg, rec_stat(s, snap));
}

static void
rp_engine(void *arg, const orch_sink_engine *e)
{
	replay_push(arg, rec_engine(e, e->at_us));
}

static void
rp_res(void *arg, const orch_reservation *r, const char *cid, bool live)
{
	replay_push(arg, rec_reservation(r, cid, live, 0));
}

static void
rp_breaker(void *arg, const char *name, const struct orch_breaker *b, int from,
    int64_t at)
{
	replay_push(arg, rec_breaker(name, b, from, at));
}

static const orch_sink_ops replay_ops = {
    rp_stream, rp_stat, rp_engine, rp_res, rp_breaker, NULL};

/* Under the core's lock, before the replay: what is queued is replaced
 * by it, except its log entries, which are kept. */
static void
steal_queue(void *arg)
{
	replay_ctx *c = arg;
	orch_store *st = c->st;

	pthread_mutex_lock(&st->qmu);
	keep_logs(st, &st->q);
	c->stolen_seq = st->seq;
	c->dropped = st->gap_dropped;
	c->lost = st->gap_lost;
	st->gap_dropped = 0;
	st->gap_lost = 0;
	st->need_resync = false;
	pthread_mutex_unlock(&st->qmu);
}

/* The store_gap entry: what was lost since the last resync. */
static rec *
gap_entry(orch_store *st, const replay_ctx *c)
{
	char a[24], b[24];
	orch_kv kv[] = {{"dropped", a}, {"lost", b}};

	snprintf(a, sizeof(a), "%llu", (unsigned long long) c->dropped);
	snprintf(b, sizeof(b), "%llu", (unsigned long long) c->lost);
	return rec_log(
	    orch_clock_now(&st->clock), ORCH_LOG_STORE_GAP, NULL, NULL, kv, 2);
}

/* Replays the ledger. Called with qmu held; returns with it held. */
static void
resync(orch_store *st)
{
	replay_ctx c;
	orch_sink sink;
	rec_list keep;
	rec *gap = NULL;
	int rc = SQLITE_NOMEM;
	bool was_failing = st->failing;

	memset(&c, 0, sizeof(c));
	c.st = st;
	sink.ops = &replay_ops;
	sink.arg = &c;
	pthread_mutex_unlock(&st->qmu);
	orch_core_replay(st->core, &sink, steal_queue, &c);
	pthread_mutex_lock(&st->qmu);
	keep = st->keep;
	memset(&st->keep, 0, sizeof(st->keep));
	pthread_mutex_unlock(&st->qmu);
	/* The kept log entries go first: they happened before the state the
	 * replay describes. */
	rec_list_splice(&keep, &c.recs);
	if (!c.nomem && (c.dropped != 0 || c.lost != 0))
		gap = gap_entry(st, &c);
	if (!c.nomem && (gap != NULL || (c.dropped == 0 && c.lost == 0)))
		rc = commit(st, &keep, true, gap);
	pthread_mutex_lock(&st->qmu);
	if (rc == SQLITE_OK) {
		st->n_resyncs++;
		st->n_written += keep.n;
		st->n_batches++;
		st->failing = false;
		if (st->applied_seq < c.stolen_seq)
			st->applied_seq = c.stolen_seq;
		ORCH_WARN("store: %s %s: the ledger replayed (%zu records; "
		          "%llu records dropped, %llu lost before)",
		    was_failing ? "writes succeed again on" : "resynced",
		    st->path, keep.n, (unsigned long long) c.dropped,
		    (unsigned long long) c.lost);
		rec_list_free(&keep);
	} else {
		failed(st, rc, "a resync");
		/* Put the counts back for the next try; keep the logs. */
		st->gap_dropped += c.dropped;
		st->gap_lost += c.lost;
		keep_logs(st, &keep);
	}
	free(gap);
	pthread_cond_broadcast(&st->donecv);
}

/* ---- retention -------------------------------------------------------- */

/* Runs one chunked DELETE until it removes fewer than a chunk or the tick
 * is used up; returns the rows. */
static uint64_t
prune_one(orch_store *st, const char *sql, int64_t cutoff, int *chunks)
{
	sqlite3_stmt *s = NULL;
	uint64_t rows = 0;
	int n;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return 0;
	do {
		sqlite3_bind_int64(s, 1, cutoff);
		if (sqlite3_step(s) != SQLITE_DONE) {
			sqlite3_reset(s);
			break;
		}
		n = sqlite3_changes(st->db);
		rows += (uint64_t) n;
		sqlite3_reset(s);
		(*chunks)++;
	} while (n >= PRUNE_CHUNK && *chunks < PRUNE_CHUNKS_PER_TICK);
	sqlite3_finalize(s);
	return rows;
}

uint64_t
store_prune(orch_store *st, int64_t now)
{
	const orch_config *cfg = st->cfg;
	int64_t stats_cut = now - (int64_t) cfg->stats_retention_s * US_PER_S;
	int64_t hist_cut = now - (int64_t) cfg->history_retention_s * US_PER_S;
	uint64_t rows = 0;
	int chunks = 0;

	rows += prune_one(st,
	    "DELETE FROM stats WHERE (sid, ts) IN (SELECT sid, ts FROM stats "
	    "WHERE ts < ?1 LIMIT 5000)",
	    stats_cut, &chunks);
	if (cfg->history_retention_s > 0) {
		/* An ended stream's snapshots go with it. */
		rows += prune_one(st,
		    "DELETE FROM stats WHERE sid IN (SELECT sid FROM streams "
		    "WHERE active = 0 AND ended_at < ?1 LIMIT 5000)",
		    hist_cut, &chunks);
		rows += prune_one(st,
		    "DELETE FROM streams WHERE sid IN (SELECT sid FROM "
		    "streams "
		    "WHERE active = 0 AND ended_at < ?1 LIMIT 5000)",
		    hist_cut, &chunks);
		rows += prune_one(st,
		    "DELETE FROM events WHERE id IN (SELECT id FROM events "
		    "WHERE ts < ?1 LIMIT 5000)",
		    hist_cut, &chunks);
		rows += prune_one(st,
		    "DELETE FROM engines WHERE container_id IN (SELECT "
		    "container_id FROM engines WHERE removed_at < ?1 LIMIT "
		    "5000)",
		    hist_cut, &chunks);
	}
	return rows;
}

/* ---- the thread ------------------------------------------------------- */

/* Whether the writer has something to do now. Under qmu. */
static bool
ready(
    const orch_store *st, int64_t now, int64_t next_prune, int64_t next_retry)
{
	if (st->stopping || now >= next_prune || st->prune_requested)
		return true;
	if (st->failing)
		return now >= next_retry;
	return st->q.head != NULL || st->need_resync;
}

static void *
writer_main(void *arg)
{
	orch_store *st = arg;
	int64_t next_prune = orch_mono_ms() + st->prune_interval_ms;
	int64_t next_retry = 0;

	pthread_mutex_lock(&st->qmu);
	for (;;) {
		int64_t now = orch_mono_ms();

		if (!ready(st, now, next_prune, next_retry)) {
			wait_until(st, st->failing && next_retry < next_prune
			                   ? next_retry
			                   : next_prune);
			continue;
		}
		if (st->stopping)
			break;
		if (now >= next_prune || st->prune_requested) {
			uint64_t rows;

			st->prune_requested = false;
			pthread_mutex_unlock(&st->qmu);
			rows = store_prune(st, orch_clock_now(&st->clock));
			pthread_mutex_lock(&st->qmu);
			st->n_pruned += rows;
			st->prunes++;
			pthread_cond_broadcast(&st->donecv);
			next_prune = orch_mono_ms() + st->prune_interval_ms;
		} else if (st->failing || st->need_resync) {
			if (!st->failing && st->gap_dropped != 0)
				ORCH_WARN(
				    "store: queue full (STORE_QUEUE_MAX=%zu): "
				    "%llu changes dropped; replaying the "
				    "ledger",
				    st->qmax,
				    (unsigned long long) st->gap_dropped);
			resync(st);
			next_retry = orch_mono_ms() + st->retry_interval_ms;
		} else {
			write_batch(st);
		}
	}
	/* What is still queued now is lost (stop waited for the flush). */
	if (st->q.n != 0) {
		ORCH_ERROR("store: %zu records not written to %s at exit",
		    st->q.n, st->path);
		st->n_lost += st->q.n;
		rec_list_free(&st->q);
	}
	rec_list_free(&st->keep);
	st->running = false;
	pthread_cond_broadcast(&st->donecv);
	pthread_mutex_unlock(&st->qmu);
	return NULL;
}

orch_err
store_writer_start(orch_store *st)
{
	pthread_mutex_lock(&st->qmu);
	st->running = true;
	pthread_mutex_unlock(&st->qmu);
	if (pthread_create(&st->writer, NULL, writer_main, st) != 0) {
		pthread_mutex_lock(&st->qmu);
		st->running = false;
		pthread_mutex_unlock(&st->qmu);
		return ORCH_ESYS;
	}
	return ORCH_OK;
}

void
store_writer_stop(orch_store *st, int flush_ms)
{
	bool running;

	pthread_mutex_lock(&st->qmu);
	running = st->running;
	pthread_mutex_unlock(&st->qmu);
	if (!running)
		return;
	(void) orch_store_flush(st, flush_ms);
	pthread_mutex_lock(&st->qmu);
	st->stopping = true;
	pthread_cond_broadcast(&st->qcv);
	pthread_mutex_unlock(&st->qmu);
	pthread_join(st->writer, NULL);
}

orch_err
orch_store_prune_now(orch_store *st, int timeout_ms)
{
	int64_t deadline = orch_mono_ms() + timeout_ms;
	orch_err rv = ORCH_OK;
	uint64_t want;

	pthread_mutex_lock(&st->qmu);
	want = st->prunes + 1;
	st->prune_requested = true;
	pthread_cond_broadcast(&st->qcv);
	while (st->running && st->prunes < want) {
		if (orch_cond_wait_until(&st->donecv, &st->qmu, deadline) ==
		        ETIMEDOUT &&
		    orch_mono_ms() >= deadline) {
			rv = ORCH_ETIMEDOUT;
			break;
		}
	}
	if (!st->running && st->prunes < want)
		rv = ORCH_ECLOSED;
	pthread_mutex_unlock(&st->qmu);
	return rv;
}
