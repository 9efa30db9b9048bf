/*
 * Opening the database (and refusing a bad one in one line), starting
 * and stopping the writer, the counters.
 *
 * Checks at open, in order, so that each problem gets its own sentence:
 * the file (created when absent) is opened read-write and locked
 * (flock: a second orchestrator on the same file is refused, not allowed
 * to interleave its writes); SQLite reads its header (not a database?);
 * WAL mode needs the directory writable (the -wal and -shm files);
 * PRAGMA quick_check reads every page (corrupt, truncated?); the
 * migrations bring the schema to this binary's version (or refuse a newer
 * one).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "src/base/cond.h"
#include "src/base/log.h"
#include "src/base/time.h"
#include "src/store/impl.h"

/* ---- errors ----------------------------------------------------------- */

static bool
errno_readonly(int e)
{
	return e == EROFS || e == EACCES || e == EPERM;
}

orch_err
store_err(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
		return ORCH_OK;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return ORCH_EDATALOSS;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return ORCH_EPERM;
	case SQLITE_NOMEM:
		return ORCH_ENOMEM;
	default:
		return ORCH_ESYS;
	}
}

void
store_diag(orch_diag *d, const char *path, sqlite3 *db, int rc)
{
	int e = db != NULL ? sqlite3_system_errno(db) : 0;
	const char *msg = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

	if (e != 0 && (rc & 0xff) != SQLITE_NOTADB &&
	    (rc & 0xff) != SQLITE_CORRUPT)
		orch_diag_set(
		    d, "DB_PATH %s: %s (%s)", path, msg, strerror(e));
	else
		orch_diag_set(d, "DB_PATH %s: %s", path, msg);
}

/* An open-time error: the code, with the system's errno deciding between
 * read-only and other failures SQLite reports alike. */
static orch_err
open_err(sqlite3 *db, int rc)
{
	int e = db != NULL ? sqlite3_system_errno(db) : 0;

	if ((rc & 0xff) == SQLITE_CANTOPEN && errno_readonly(e))
		return ORCH_EPERM;
	return store_err(rc);
}

/* ---- open ------------------------------------------------------------- */

/* Opens (creating) the file and locks it. */
static orch_err
lock_file(orch_store *st, orch_diag *diag)
{
	bool existed = access(st->path, F_OK) == 0;
	int fd = open(st->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0) {
		int e = errno;

		if (errno_readonly(e))
			orch_diag_set(diag, "DB_PATH %s: %s (%s)", st->path,
			    existed ? "the file is read-only"
			            : "cannot create the file: its directory "
			              "is read-only",
			    strerror(e));
		else
			orch_diag_set(diag, "DB_PATH %s: cannot open: %s",
			    st->path, strerror(e));
		return errno_readonly(e) ? ORCH_EPERM : ORCH_ESYS;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		orch_diag_set(diag,
		    "DB_PATH %s: in use by another process (another "
		    "orchestratord?)",
		    st->path);
		close(fd);
		return ORCH_EEXIST;
	}
	st->lock_fd = fd;
	return ORCH_OK;
}

static int
pragma_text(sqlite3 *db, const char *sql, char *out, size_t len)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);

	out[0] = '\0';
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			const unsigned char *t = sqlite3_column_text(s, 0);

			snprintf(
			    out, len, "%s", t != NULL ? (const char *) t : "");
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(s);
	return rc;
}

/* The checks of the file comment, on the writer's connection. */
static orch_err
open_db(orch_store *st, orch_diag *diag)
{
	char v[256];
	int rc;
	orch_err rv = lock_file(st, diag);

	if (rv != ORCH_OK)
		return rv;
	rc = sqlite3_open_v2(st->path, &st->db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	    NULL);
	if (rc == SQLITE_OK)
		sqlite3_extended_result_codes(st->db, 1);
	if (rc == SQLITE_OK && sqlite3_db_readonly(st->db, "main") == 1) {
		orch_diag_set(
		    diag, "DB_PATH %s: the file is read-only", st->path);
		return ORCH_EPERM;
	}
	if (rc == SQLITE_OK) {
		(void) sqlite3_busy_timeout(st->db, 2000);
		rc = pragma_text(
		    st->db, "PRAGMA journal_mode=WAL", v, sizeof(v));
	}
	if (rc == SQLITE_OK && strcmp(v, "wal") != 0) {
		orch_diag_set(diag,
		    "DB_PATH %s: cannot use WAL mode (journal_mode %s): is "
		    "its directory writable?",
		    st->path, v);
		return ORCH_EPERM;
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(
		    st->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc =
		    pragma_text(st->db, "PRAGMA quick_check(1)", v, sizeof(v));
	if (rc != SQLITE_OK) {
		store_diag(diag, st->path, st->db, rc);
		return open_err(st->db, rc);
	}
	if (strcmp(v, "ok") != 0) {
		/* quick_check's report has lines: one line here. */
		for (char *p = v; *p != '\0'; p++)
			*p = (*p == '\n' || *p == '\r') ? ' ' : *p;
		orch_diag_set(diag, "DB_PATH %s: corrupt (%s)", st->path, v);
		return ORCH_EDATALOSS;
	}
	rv = store_migrate(st->db, st->path, diag);
	if (rv == ORCH_OK) {
		st->stmts =
		    apply_open(st->db, st->cfg->gluetun_container_name);
		if (st->stmts == NULL) {
			store_diag(
			    diag, st->path, st->db, sqlite3_errcode(st->db));
			rv = ORCH_EDATALOSS;
		}
	}
	return rv;
}

static void
close_db(orch_store *st)
{
	apply_close(st->stmts);
	st->stmts = NULL;
	if (st->db != NULL)
		sqlite3_close(st->db);
	st->db = NULL;
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	st->lock_fd = -1;
}

/* --reset-db: path (and its -wal, -shm) renamed to path.broken-<time>. */
static orch_err
move_aside(orch_store *st, orch_diag *diag)
{
	char stamp[32], to[4200], from[4200];
	static const char *const tails[] = {"", "-wal", "-shm"};
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		snprintf(from, sizeof(from), "%s%s", st->path, tails[i]);
		snprintf(to, sizeof(to), "%s.broken-%s%s", st->path, stamp,
		    tails[i]);
		if (access(from, F_OK) != 0)
			continue;
		if (rename(from, to) != 0) {
			orch_diag_set(diag,
			    "DB_PATH %s: --reset-db cannot move it aside: %s",
			    st->path, strerror(errno));
			return errno_readonly(errno) ? ORCH_EPERM : ORCH_ESYS;
		}
		if (i == 0)
			snprintf(st->moved_to, sizeof(st->moved_to), "%s", to);
	}
	return ORCH_OK;
}

static void
store_free(orch_store *st)
{
	/* The reader first: the last connection to close checkpoints the
	 * WAL into the file and removes it (a read-only one cannot). */
	if (st->rdb != NULL)
		sqlite3_close(st->rdb);
	st->rdb = NULL;
	close_db(st);
	rec_list_free(&st->q);
	rec_list_free(&st->keep);
	pthread_mutex_destroy(&st->qmu);
	pthread_mutex_destroy(&st->rmu);
	pthread_cond_destroy(&st->qcv);
	pthread_cond_destroy(&st->donecv);
	free(st->path);
	free(st);
}

orch_err
orch_store_open(const orch_store_opts *opts, orch_store **out, orch_diag *diag)
{
	orch_store *st;
	orch_err rv;

	*out = NULL;
	orch_diag_clear(diag);
	st = calloc(1, sizeof(*st));
	if (st == NULL || (st->path = strdup(opts->path)) == NULL) {
		free(st);
		orch_diag_set(diag, "DB_PATH %s: out of memory", opts->path);
		return ORCH_ENOMEM;
	}
	st->lock_fd = -1;
	st->cfg = opts->cfg;
	st->clock =
	    opts->clock.now_us != NULL ? opts->clock : orch_clock_system();
	st->prune_interval_ms =
	    opts->prune_interval_ms > 0 ? opts->prune_interval_ms : 60000;
	st->retry_interval_ms =
	    opts->retry_interval_ms > 0 ? opts->retry_interval_ms : 1000;
	st->batch_max = opts->batch_max > 0 ? opts->batch_max : 8192;
	st->qmax = (size_t) opts->cfg->store_queue_max;
	pthread_mutex_init(&st->qmu, NULL);
	pthread_mutex_init(&st->rmu, NULL);
	orch_cond_init_mono(&st->qcv);
	orch_cond_init_mono(&st->donecv);
	rv = open_db(st, diag);
	if (rv != ORCH_OK && rv != ORCH_EEXIST && rv != ORCH_ENOMEM &&
	    opts->reset && access(st->path, F_OK) == 0) {
		char why[ORCH_DIAG_MSG_MAX];

		snprintf(
		    why, sizeof(why), "%s", diag != NULL ? diag->msg : "");
		close_db(st);
		rv = move_aside(st, diag);
		if (rv == ORCH_OK) {
			ORCH_WARN("%s; --reset-db: moved to %s, starting with "
			          "an empty database",
			    why, st->moved_to);
			rv = open_db(st, diag);
		}
	}
	if (rv != ORCH_OK) {
		store_free(st);
		return rv;
	}
	*out = st;
	return ORCH_OK;
}

const char *
orch_store_moved_to(const orch_store *st)
{
	return st->moved_to;
}

/* ---- start, flush, close --------------------------------------------- */

orch_err
orch_store_start(orch_store *st, orch_core *core)
{
	orch_sink sink = {&store_sink_ops, st};
	orch_err rv;

	if (st->core != NULL)
		return ORCH_EEXIST;
	st->core = core;
	rv = store_writer_start(st);
	if (rv == ORCH_OK)
		orch_core_set_sink(core, &sink);
	return rv;
}

orch_err
orch_store_flush(orch_store *st, int timeout_ms)
{
	int64_t deadline = orch_mono_ms() + timeout_ms;
	orch_err rv = ORCH_OK;
	uint64_t target;

	pthread_mutex_lock(&st->qmu);
	target = st->seq;
	while (st->running &&
	       (st->applied_seq < target || st->failing || st->need_resync)) {
		if (orch_cond_wait_until(&st->donecv, &st->qmu, deadline) ==
		        ETIMEDOUT &&
		    orch_mono_ms() >= deadline) {
			rv = ORCH_ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&st->qmu);
	return rv;
}

void
orch_store_close(orch_store *st, int flush_ms)
{
	if (st == NULL)
		return;
	/* Nothing is told after this: the core may change on, unrecorded. */
	if (st->core != NULL)
		orch_core_set_sink(st->core, NULL);
	store_writer_stop(st, flush_ms);
	store_free(st);
}

/* ---- counters --------------------------------------------------------- */

void
orch_store_get_stats(orch_store *st, orch_store_stats *out)
{
	pthread_mutex_lock(&st->qmu);
	out->queued = st->n_queued;
	out->written = st->n_written;
	out->dropped = st->n_dropped;
	out->lost = st->n_lost;
	out->write_errors = st->n_errors;
	out->batches = st->n_batches;
	out->resyncs = st->n_resyncs;
	out->pruned = st->n_pruned;
	out->queue_depth = st->q.n;
	out->queue_max = st->qmax;
	out->failing = st->failing;
	pthread_mutex_unlock(&st->qmu);
}

static void
counter(orch_buf *out, const char *name, const char *help, uint64_t v)
{
	orch_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
	    name, help, name, name, (unsigned long long) v);
}

static void
gauge(orch_buf *out, const char *name, const char *help, long long v)
{
	orch_buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name,
	    help, name, name, v);
}

void
orch_store_metrics_render(orch_store *st, orch_buf *out)
{
	orch_store_stats s;

	orch_store_get_stats(st, &s);
	counter(out, "orch_store_records_queued_total",
	    "changes queued for the database", s.queued);
	counter(out, "orch_store_records_written_total",
	    "records committed to the database", s.written);
	counter(out, "orch_store_records_dropped_total",
	    "changes dropped because the store's queue was full", s.dropped);
	counter(out, "orch_store_records_lost_total",
	    "records given up after a failed write (the ledger is replayed)",
	    s.lost);
	counter(out, "orch_store_write_errors_total",
	    "database transactions that failed", s.write_errors);
	counter(out, "orch_store_batches_total",
	    "database transactions committed", s.batches);
	counter(out, "orch_store_resyncs_total",
	    "replays of the whole ledger after lost records", s.resyncs);
	counter(out, "orch_store_pruned_rows_total",
	    "rows removed by retention", s.pruned);
	gauge(out, "orch_store_queue_depth", "records waiting to be written",
	    (long long) s.queue_depth);
	gauge(out, "orch_store_queue_max", "the store's queue bound",
	    (long long) s.queue_max);
	gauge(out, "orch_store_failing", "1 while writes to the database fail",
	    s.failing ? 1 : 0);
}
