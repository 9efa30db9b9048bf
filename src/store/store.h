/*
 * The SQLite store: persistence for the core, below the service layer and
 * beside the runtime. It is the core's observer (src/core/sink.h): every
 * change the core makes is copied, under the core's lock, into a bounded
 * queue, and one writer thread applies the queue to a SQLite 3 database
 * in WAL mode, one transaction per batch. Nothing on the RPC path waits
 * for the disk.
 *
 *   open      the file at DB_PATH, its schema created or migrated by the
 *             versioned migrations (schema.h); a corrupt, unreadable or
 *             read-only file, or a schema newer than this binary, is an
 *             error naming the file and the problem (orchestratord exits
 *             2) unless `reset` moves the file aside (never deleted);
 *   restore   what the file holds goes back into the core before the first
 *             reconcile (src/core/restore.h);
 *   start     the core's sink points here and the writer runs: durable
 *             within a second (a batch is committed as soon as the writer
 *             takes it, fsync'd); stats and ended history pruned in the
 *             background (STATS_RETENTION_S, HISTORY_RETENTION_S);
 *   a full queue or a failed write (a full disk, an I/O error) is counted,
 *             logged, and repaired: once writes succeed again the writer
 *             replays the core's whole ledger (orch_core_replay) and keeps
 *             the log entries it could; the orchestrator serves from
 *             memory meanwhile;
 *   the log   the event log (GET /events/log) is read on a connection of
 *             its own (WAL: readers never wait for the writer), by the
 *             RPC service's blocking workers;
 *   close     the sink is detached, the queue flushed within a deadline.
 *
 * Threads: every function may be called from any thread; the sink's
 * callbacks (the core calls them) only lock the queue. Ownership: the
 * store copies what the core tells it; orch_store_open()'s caller owns
 * the store and closes it after the core's last change and before the
 * core is freed.
 */
#ifndef ORCH_STORE_STORE_H
#define ORCH_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/base/buf.h"
#include "src/base/diag.h"
#include "src/base/err.h"
#include "src/core/clock.h"
#include "src/core/config.h"
#include "src/core/core.h"
#include "src/core/restore.h"

typedef struct orch_store orch_store;

/* The schema this binary writes (src/store/schema.c's migrations). */
#define ORCH_STORE_SCHEMA_VERSION 2

typedef struct orch_store_opts {
	const char *path;       /* the database file; required */
	const orch_config *cfg; /* retention, queue size, stats kept; kept by
	                           pointer, must outlive the store */
	orch_clock clock;       /* retention's "now"; zero = system clock */
	/* --reset-db: a file that cannot be used is renamed to
	 * <path>.broken-<UTC time> (with its -wal and -shm) and a new one
	 * made. A usable file is kept. */
	bool reset;
	int prune_interval_ms; /* background pruning period; 0 = 60 s */
	int retry_interval_ms; /* a failed write is retried; 0 = 1 s */
	int batch_max;         /* records per transaction; 0 = 8192 */
} orch_store_opts;

/*
 * Opens (creates, migrates) the database. ORCH_OK: *out is the caller's.
 * Otherwise nothing is left open and diag says, in one line, the file and
 * what is wrong with it:
 *   ORCH_EDATALOSS  not a database, or corrupt;
 *   ORCH_EPERM      read-only (the file, or its directory);
 *   ORCH_ESYS       cannot be opened or created (missing directory, ...);
 *   ORCH_EPRECOND   written by a newer binary (its schema version is
 *                   above ORCH_STORE_SCHEMA_VERSION);
 *   ORCH_ENOMEM.
 * With opts->reset, the first three and the newer schema move the file
 * aside (diag then tells where, as a warning) and a new database is
 * made; what fails after that is returned as above.
 */
orch_err orch_store_open(
    const orch_store_opts *opts, orch_store **out, orch_diag *diag);

/* What the file had to say when opened with reset: where the old file
 * went ("" when it was kept). */
const char *orch_store_moved_to(const orch_store *st);

/*
 * Reads what the database holds back into core (orch_core_restore):
 * active streams and the newest ended ones (up to the core's in-memory
 * bound) with their snapshots within STATS_RETENTION_S, engine records,
 * unexpired reservations and the breakers. Call before orch_store_start
 * and before the first reconcile. counts may be NULL. Errors as
 * orch_store_open's (a corrupt page found while reading).
 */
orch_err orch_store_restore(orch_store *st, orch_core *core,
    orch_restore_counts *counts, orch_diag *diag);

/* Points core's sink at the store and starts the writer. Once. */
orch_err orch_store_start(orch_store *st, orch_core *core);

/*
 * Waits until everything queued before the call is committed (or dropped
 * for good), at most timeout_ms. ORCH_ETIMEDOUT when that did not happen
 * (a failing disk); ORCH_OK otherwise.
 */
orch_err orch_store_flush(orch_store *st, int timeout_ms);

/* Runs the retention pass now, on the writer (tests; the writer also
 * runs it every prune_interval_ms) and waits for it, at most timeout_ms.
 * ORCH_ETIMEDOUT, or ORCH_ECLOSED when the writer does not run. */
orch_err orch_store_prune_now(orch_store *st, int timeout_ms);

/*
 * Detaches the sink from the core (nothing is queued after), commits
 * what is queued within flush_ms, stops the writer and closes the file.
 * Records still queued after flush_ms are lost, counted and logged. NULL
 * is a no-op.
 */
void orch_store_close(orch_store *st, int flush_ms);

/* The writer's counters (GetMetrics, tests). */
typedef struct orch_store_stats {
	uint64_t queued;       /* records accepted into the queue */
	uint64_t written;      /* records committed */
	uint64_t dropped;      /* records refused: the queue was full */
	uint64_t lost;         /* records given up after a failed write */
	uint64_t write_errors; /* transactions that failed */
	uint64_t batches;      /* transactions committed */
	uint64_t resyncs;      /* replays of the whole ledger */
	uint64_t pruned;       /* rows removed by retention */
	size_t queue_depth;    /* records waiting now */
	size_t queue_max;
	bool failing; /* the last write failed; retrying */
} orch_store_stats;

void orch_store_get_stats(orch_store *st, orch_store_stats *out);

/* Appends the store's Prometheus exposition to out. */
void orch_store_metrics_render(orch_store *st, orch_buf *out);

/* ---- the event log ---------------------------------------------------- */

/* A query of GET /events/log. */
typedef struct orch_store_query {
	bool has_since_id;
	int64_t since_id; /* entries with a larger id */
	bool has_since_ts;
	int64_t since_us; /* entries at or after this time */
	int limit;        /* 1..ORCH_STORE_LOG_LIMIT_MAX */
	/* types (orch_log_type) to keep; n_types 0 = every type */
	int types[ORCH_LOG_TYPE_COUNT];
	size_t n_types;
} orch_store_query;

#define ORCH_STORE_LOG_LIMIT_DEFAULT 100
#define ORCH_STORE_LOG_LIMIT_MAX 10000

/* One entry; its strings are owned by the orch_store_log it is in. */
typedef struct orch_store_entry {
	int64_t id;
	int64_t ts_us;
	const char *type;
	const char *container_id; /* may be NULL */
	const char *stream_id;    /* may be NULL */
	orch_kv *data;
	size_t n_data;
} orch_store_entry;

typedef struct orch_store_log {
	orch_store_entry *v; /* oldest first */
	size_t n;
	void *mem; /* private: the entries' strings */
} orch_store_log;

/*
 * Reads a query from what a caller sent (all outside input): since, an
 * event id (digits) or an RFC 3339 time with a zone, or NULL; limit, when
 * has_limit, 1..ORCH_STORE_LOG_LIMIT_MAX (default
 * ORCH_STORE_LOG_LIMIT_DEFAULT); types, event type names separated by
 * commas, or NULL for every type. ORCH_EINVAL with diag's field naming
 * the bad one ("since", "limit", "type").
 */
orch_err orch_store_query_parse(const char *since, bool has_limit,
    int64_t limit, const char *types, orch_store_query *q, orch_diag *diag);

/*
 * Runs q against the log: without a since, the newest `limit` entries;
 * with one, the first `limit` entries after it; oldest first either way,
 * so a follower asks again with since_id = the last id it got. Blocks
 * on the disk: call it from a worker, never under the core's lock or on
 * an RPC/HTTP thread. *out is the caller's (orch_store_log_fini).
 * ORCH_EINTERNAL (diag says) when the read failed.
 */
orch_err orch_store_query_log(orch_store *st, const orch_store_query *q,
    orch_store_log *out, orch_diag *diag);

void orch_store_log_fini(orch_store_log *log);

#endif
