/*
 * The store's insides, shared by its files (store.h is the public face):
 *
 *   record.c   the records the sink copies out of the core, one malloc
 *              each with its strings packed behind it;
 *   observe.c  the orch_sink_ops the core calls (under its lock): copy,
 *              queue, return;
 *   schema.c   the versioned migrations;
 *   apply.c    one record -> its SQL (prepared statements);
 *   writer.c   the writer thread: batches, failures, resync, pruning;
 *   load.c     the database -> orch_restore at start;
 *   log.c      the event log's query;
 *   store.c    open (checks, --reset-db), start, flush, close, metrics.
 *
 * Locks: the queue's mutex (qmu) is taken under the core's lock by the
 * sink and alone by the writer; the reader connection has its own mutex.
 * The writer's connection is the writer thread's alone once it runs.
 */
#ifndef ORCH_STORE_IMPL_H
#define ORCH_STORE_IMPL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "src/base/diag.h"
#include "src/core/clock.h"
#include "src/core/config.h"
#include "src/core/core.h"
#include "src/core/sink.h"
#include "src/store/store.h"

/* ---- records ---------------------------------------------------------- */

typedef enum rec_kind {
	REC_STREAM = 1,
	REC_STAT,
	REC_ENGINE,
	REC_RESERVATION,
	REC_BREAKER,
	REC_LOG,
} rec_kind;

typedef struct rec {
	struct rec *next;
	rec_kind kind;
	bool replay;   /* from orch_core_replay: the state, no event */
	uint64_t seq;  /* queue order (0 for replayed records) */
	int64_t ts_us; /* when it happened */
	union {
		struct {
			const char *id, *key_type, *key, *container_id;
			const char *psid, *stat_url, *command_url;
			const char *end_reason;
			bool is_live, active, managed;
			int64_t started_us, ended_us;
		} stream;
		struct {
			const char *stream_id;
			orch_stat snap;
		} stat;
		struct {
			orch_sink_change change;
			const char *id, *name, *reason;
			bool running, forwarded;
			int health;
			int64_t first_seen_us, last_seen_us, last_usage_us;
		} engine;
		struct {
			const char *id, *container_id;
			int64_t expires_us;
			bool live;
		} res;
		struct {
			const char *name;
			int state, from, failure_count;
			int64_t opened_us, last_failure_us, last_success_us;
		} breaker;
		struct {
			int type; /* orch_log_type */
			const char *container_id, *stream_id;
			const char *data; /* a JSON object, or NULL */
		} log;
	} u;
	char strings[]; /* every string above points in here */
} rec;

/* A list of records, in order. */
typedef struct rec_list {
	rec *head, *tail;
	size_t n;
} rec_list;

void rec_list_push(rec_list *l, rec *r);
/* Moves every record of from to the end of to. */
void rec_list_splice(rec_list *to, rec_list *from);
void rec_list_free(rec_list *l);

rec *rec_stream(const orch_stream *s, const orch_engine *e, int64_t now);
rec *rec_stat(const orch_stream *s, const orch_stat *snap);
rec *rec_engine(const orch_sink_engine *e, int64_t now);
rec *rec_reservation(const orch_reservation *r, const char *container_id,
    bool live, int64_t now);
rec *rec_breaker(
    const char *name, const struct orch_breaker *b, int from, int64_t at);
rec *rec_log(int64_t ts, int type, const char *container_id,
    const char *stream_id, const orch_kv *data, size_t n);

/* ---- the store -------------------------------------------------------- */

struct orch_store {
	char *path;
	const orch_config *cfg;
	orch_clock clock;
	int prune_interval_ms;
	int retry_interval_ms;
	int batch_max;
	char moved_to[4200];
	int lock_fd; /* flock on the file: one orchestrator per database */

	sqlite3 *db; /* the writer's */
	struct apply_stmts *stmts;

	pthread_mutex_t rmu; /* the reader connection */
	sqlite3 *rdb;

	orch_core *core; /* after start */

	/* the queue, under qmu */
	pthread_mutex_t qmu;
	pthread_cond_t qcv;    /* records queued, or stop */
	pthread_cond_t donecv; /* applied_seq moved, or the writer stopped */
	rec_list q;
	size_t qmax;
	uint64_t seq;         /* last sequence number handed out */
	uint64_t applied_seq; /* every record up to here is done */
	bool need_resync;     /* records were dropped or lost */
	bool failing;         /* the last transaction failed */
	bool stopping;
	bool abandon;         /* stop without draining (the flush timed out) */
	bool prune_requested; /* orch_store_prune_now */
	uint64_t prunes;      /* prune passes done */
	bool running;         /* the writer thread runs */
	rec_list keep;        /* log records kept for the next resync */
	uint64_t gap_dropped; /* since the last resync */
	uint64_t gap_lost;

	pthread_t writer;

	/* counters (qmu) */
	uint64_t n_queued, n_written, n_dropped, n_lost, n_errors, n_batches,
	    n_resyncs, n_pruned;
	int64_t last_error_log_ms;
	bool drop_logged;
};

/* ---- schema.c --------------------------------------------------------- */

/* Brings db to ORCH_STORE_SCHEMA_VERSION (store.h's errors in diag). */
orch_err store_migrate(sqlite3 *db, const char *path, orch_diag *diag);

/* The database's version: 0 for an empty file, STORE_FOREIGN for one
 * with tables but no schema_version, -1 on error. */
int store_schema_version(sqlite3 *db);
#define STORE_FOREIGN (-3)

/* ---- apply.c ---------------------------------------------------------- */

struct apply_stmts;

/* Prepares the statements on db; vpn (GLUETUN_CONTAINER_NAME, may be
 * NULL) is borrowed, for the engine records. NULL on failure (out of
 * memory, or a schema that is not ours). */
struct apply_stmts *apply_open(sqlite3 *db, const char *vpn);
void apply_close(struct apply_stmts *s);

/* Applies one record (and the log entry it stands for unless replayed)
 * inside the caller's transaction. SQLITE_OK or SQLite's error. */
int apply_rec(struct apply_stmts *s, const rec *r);

/* Before a replay: what the replay will say again is forgotten (every
 * active stream ended, every reservation gone, every engine removed;
 * the replay restores what is still true). */
int apply_resync_begin(sqlite3 *db, int64_t now);

/* ---- writer.c --------------------------------------------------------- */

orch_err store_writer_start(orch_store *st);
/* Stops the writer after at most flush_ms of draining; joins it. */
void store_writer_stop(orch_store *st, int flush_ms);

/* Retention: removes what is older than the retention periods, in short
 * transactions. Returns the rows removed. */
uint64_t store_prune(orch_store *st, int64_t now);

/* ---- observe.c -------------------------------------------------------- */

extern const orch_sink_ops store_sink_ops;

/* Queues r (takes it); drops it, counted, when the queue is full. */
void store_enqueue(orch_store *st, rec *r);

/* ---- store.c ---------------------------------------------------------- */

/* One line naming the file and SQLite's problem (rc, db's message). */
void store_diag(orch_diag *d, const char *path, sqlite3 *db, int rc);

/* The orch_err an open-time SQLite error means (store.h). */
orch_err store_err(int rc);

#endif
