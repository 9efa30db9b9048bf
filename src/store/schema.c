/*
 * The schema, as versioned migrations: migration N takes a database at
 * version N-1 to N, in one transaction with the row it adds to
 * schema_version. A migration, once released, is never edited: a change
 * is a new one (tests/store keeps a fixture database per version and
 * migrates each to the newest). A database whose version is above the
 * newest this binary knows is refused: its writer knew things this one
 * does not.
 *
 * Times are integers, microseconds since the Unix epoch (UTC), as in the
 * core. docs/STORE.md describes every table.
 */
#include <stdio.h>
#include <string.h>

#include "src/base/time.h"
#include "src/store/impl.h"

/* Version 1: the ledger and the event log. */
static const char v1[] =
    "CREATE TABLE schema_version ("
    "  version INTEGER NOT NULL PRIMARY KEY,"
    "  applied_at INTEGER NOT NULL);"
    "CREATE TABLE streams ("
    "  sid INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  key_type TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  container_id TEXT NOT NULL,"
    "  managed INTEGER NOT NULL,"
    "  playback_session_id TEXT,"
    "  stat_url TEXT,"
    "  command_url TEXT,"
    "  is_live INTEGER NOT NULL,"
    "  active INTEGER NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  ended_at INTEGER,"
    "  end_reason TEXT);"
    "CREATE INDEX streams_active ON streams(active) WHERE active = 1;"
    "CREATE TABLE stats ("
    "  sid INTEGER NOT NULL,"
    "  ts INTEGER NOT NULL,"
    "  peers INTEGER,"
    "  speed_down INTEGER,"
    "  speed_up INTEGER,"
    "  downloaded INTEGER,"
    "  uploaded INTEGER,"
    "  status TEXT,"
    "  PRIMARY KEY (sid, ts)) WITHOUT ROWID;"
    "CREATE TABLE engines ("
    "  container_id TEXT NOT NULL PRIMARY KEY,"
    "  container_name TEXT,"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER,"
    "  last_stream_usage INTEGER,"
    "  forwarded INTEGER NOT NULL DEFAULT 0,"
    "  running INTEGER NOT NULL DEFAULT 1,"
    "  health TEXT,"
    "  removed_at INTEGER,"
    "  removed_reason TEXT);"
    "CREATE TABLE reservations ("
    "  id TEXT NOT NULL PRIMARY KEY,"
    "  container_id TEXT NOT NULL,"
    "  expires_at INTEGER NOT NULL);"
    "CREATE TABLE breakers ("
    "  name TEXT NOT NULL PRIMARY KEY,"
    "  state INTEGER NOT NULL,"
    "  failure_count INTEGER NOT NULL,"
    "  opened_at INTEGER,"
    "  last_failure INTEGER,"
    "  last_success INTEGER);"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  ts INTEGER NOT NULL,"
    "  type TEXT NOT NULL,"
    "  container_id TEXT,"
    "  stream_id TEXT,"
    "  data TEXT);";

/* Version 2: what retention and the log's filters need: stats and events
 * by time, events by type, ended streams by end, engines records' VPN. */
static const char v2[] =
    "CREATE INDEX stats_ts ON stats(ts);"
    "CREATE INDEX events_ts ON events(ts);"
    "CREATE INDEX events_type ON events(type, id);"
    "CREATE INDEX streams_ended ON streams(ended_at) WHERE active = 0;"
    "CREATE INDEX engines_removed ON engines(removed_at)"
    "  WHERE removed_at IS NOT NULL;"
    "ALTER TABLE engines ADD COLUMN vpn TEXT;";

static const char *const migrations[] = {NULL, v1, v2};

#define NEWEST ((int) (sizeof(migrations) / sizeof(migrations[0])) - 1)

_Static_assert(NEWEST == ORCH_STORE_SCHEMA_VERSION,
    "ORCH_STORE_SCHEMA_VERSION is the newest migration");

int
store_schema_version(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int v = -1, ours = 0, tables = 0, rc;

	rc = sqlite3_prepare_v2(db,
	    "SELECT count(*), count(CASE WHEN name = 'schema_version' THEN 1 "
	    "END) FROM sqlite_master WHERE type = 'table'",
	    -1, &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		tables = sqlite3_column_int(st, 0);
		ours = sqlite3_column_int(st, 1);
		v = 0;
	}
	sqlite3_finalize(st);
	if (v < 0 || ours == 0)
		return v < 0 ? -1 : (tables == 0 ? 0 : STORE_FOREIGN);
	v = -1;
	rc = sqlite3_prepare_v2(db,
	    "SELECT coalesce(max(version), 0) FROM schema_version", -1, &st,
	    NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* One migration and its schema_version row, in one transaction. */
static int
migrate_one(sqlite3 *db, int to)
{
	char sql[128];
	int rc;

	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_exec(db, migrations[to], NULL, NULL, NULL);
	if (rc == SQLITE_OK) {
		snprintf(sql, sizeof(sql),
		    "INSERT INTO schema_version VALUES (%d, %lld)", to,
		    (long long) orch_wall_us());
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		(void) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

orch_err
store_migrate(sqlite3 *db, const char *path, orch_diag *diag)
{
	int v = store_schema_version(db);

	if (v == STORE_FOREIGN) {
		orch_diag_set(diag,
		    "DB_PATH %s: a SQLite database, but not the "
		    "orchestrator's (it has tables and no schema_version)",
		    path);
		return ORCH_EDATALOSS;
	}
	if (v < 0) {
		store_diag(diag, path, db, sqlite3_errcode(db));
		return store_err(sqlite3_errcode(db));
	}
	if (v > NEWEST) {
		orch_diag_set(diag,
		    "DB_PATH %s: schema version %d is newer than this "
		    "orchestrator's %d (written by a newer release; upgrade, "
		    "or start with --reset-db to move it aside)",
		    path, v, NEWEST);
		return ORCH_EPRECOND;
	}
	for (int to = v + 1; to <= NEWEST; to++) {
		int rc = migrate_one(db, to);

		if (rc != SQLITE_OK) {
			store_diag(diag, path, db, rc);
			return store_err(rc);
		}
	}
	return ORCH_OK;
}
