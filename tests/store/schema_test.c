/*
 * The store's versioned migrations (src/store/schema.c) on real SQLite
 * files: an empty file gets the newest schema; a database left by each
 * earlier version (a fixture per version, tests/store/fixtures/vN.sql,
 * one required for every version up to ORCH_STORE_SCHEMA_VERSION) is
 * migrated to the same schema as a fresh one, keeping its rows; a
 * database from a newer binary, or someone else's, is refused with one
 * line naming the file.
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

#include "src/core/config.h"
#include "src/store/store.h"
#include "tests/store/storetest.h"

static orch_config cfg;

static orch_err
open_at(const char *path, orch_store **st, orch_diag *d)
{
	orch_store_opts o;

	memset(&o, 0, sizeof(o));
	o.path = path;
	o.cfg = &cfg;
	return orch_store_open(&o, st, d);
}

static void
fresh(const char *dir, char *path, size_t len, const char *name)
{
	snprintf(path, len, "%s/%s", dir, name);
}

static void
test_empty_file(void **state)
{
	char dir[256], path[300];
	orch_store *st = NULL;
	orch_diag d;

	(void) state;
	st_tmpdir(dir, sizeof(dir));
	fresh(dir, path, sizeof(path), "new.db");
	assert_int_equal(open_at(path, &st, &d), ORCH_OK);
	orch_store_close(st, 1000);
	assert_int_equal(st_count(path, "SELECT max(version) FROM "
	                                "schema_version"),
	    ORCH_STORE_SCHEMA_VERSION);
	/* One row per migration applied. */
	assert_int_equal(st_count(path, "SELECT count(*) FROM schema_version"),
	    ORCH_STORE_SCHEMA_VERSION);
	/* Opening again changes nothing. */
	assert_int_equal(open_at(path, &st, &d), ORCH_OK);
	orch_store_close(st, 1000);
	assert_int_equal(st_count(path, "SELECT count(*) FROM schema_version"),
	    ORCH_STORE_SCHEMA_VERSION);
}

/* Each earlier version's fixture migrates to the newest schema, the
 * same as a fresh file's, and keeps its rows. */
static void
test_each_version(void **state)
{
	char dir[256], ref[300];
	orch_store *st = NULL;
	char *want;
	orch_diag d;

	(void) state;
	st_tmpdir(dir, sizeof(dir));
	fresh(dir, ref, sizeof(ref), "ref.db");
	assert_int_equal(open_at(ref, &st, &d), ORCH_OK);
	orch_store_close(st, 1000);
	want = st_schema(ref);
	assert_non_null(want);
	for (int v = 1; v <= ORCH_STORE_SCHEMA_VERSION; v++) {
		char name[32], path[300];
		char *sql, *got;

		snprintf(name, sizeof(name), "v%d.sql", v);
		sql = st_fixture(name);
		if (sql == NULL)
			fail_msg("no fixture %s: every schema version keeps "
			         "one (tests/store/fixtures)",
			    name);
		snprintf(path, sizeof(path), "%s/v%d.db", dir, v);
		assert_int_equal(st_exec(path, sql), 0);
		free(sql);
		assert_int_equal(st_count(path, "SELECT max(version) FROM "
		                                "schema_version"),
		    v);
		if (open_at(path, &st, &d) != ORCH_OK)
			fail_msg("v%d: %s", v, d.msg);
		orch_store_close(st, 1000);
		assert_int_equal(st_count(path, "SELECT max(version) FROM "
		                                "schema_version"),
		    ORCH_STORE_SCHEMA_VERSION);
		got = st_schema(path);
		assert_non_null(got);
		if (strcmp(got, want) != 0)
			fail_msg(
			    "v%d migrated:\n%s\nfresh:\n%s", v, got, want);
		free(got);
		/* The rows are still there, and the restore reads them
		 * (store_test covers the restore itself). */
		assert_int_equal(
		    st_count(path, "SELECT count(*) FROM streams"), 2);
		assert_int_equal(
		    st_count(path, "SELECT count(*) FROM stats"), 2);
		assert_int_equal(
		    st_count(path, "SELECT count(*) FROM engines"), 1);
		assert_int_equal(
		    st_count(path, "SELECT count(*) FROM reservations"), 1);
		assert_int_equal(
		    st_count(path, "SELECT state FROM breakers"), 1);
		assert_int_equal(
		    st_count(path, "SELECT count(*) FROM events"), 2);
	}
	free(want);
}

static void
test_newer_refused(void **state)
{
	char dir[256], path[300];
	orch_store *st = NULL;
	orch_diag d;
	char *sql = st_fixture("v1.sql");

	(void) state;
	st_tmpdir(dir, sizeof(dir));
	fresh(dir, path, sizeof(path), "newer.db");
	assert_non_null(sql);
	assert_int_equal(st_exec(path, sql), 0);
	free(sql);
	assert_int_equal(st_exec(path, "INSERT INTO schema_version VALUES "
	                               "(99, 0)"),
	    0);
	assert_int_equal(open_at(path, &st, &d), ORCH_EPRECOND);
	assert_null(st);
	assert_non_null(strstr(d.msg, path));
	assert_non_null(strstr(d.msg, "schema version 99 is newer"));
	assert_null(strchr(d.msg, '\n'));
	/* Untouched. */
	assert_int_equal(st_count(path, "SELECT max(version) FROM "
	                                "schema_version"),
	    99);
}

static void
test_foreign_refused(void **state)
{
	char dir[256], path[300];
	orch_store *st = NULL;
	orch_diag d;

	(void) state;
	st_tmpdir(dir, sizeof(dir));
	fresh(dir, path, sizeof(path), "other.db");
	assert_int_equal(st_exec(path, "CREATE TABLE mine (x); INSERT INTO "
	                               "mine VALUES (1);"),
	    0);
	assert_int_equal(open_at(path, &st, &d), ORCH_EDATALOSS);
	assert_non_null(strstr(d.msg, "not the orchestrator's"));
	assert_int_equal(
	    st_count(path, "SELECT count(*) FROM sqlite_master"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_file),
	    cmocka_unit_test(test_each_version),
	    cmocka_unit_test(test_newer_refused),
	    cmocka_unit_test(test_foreign_refused),
	};
	int rv;

	orch_config_defaults(&cfg);
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	orch_config_fini(&cfg);
	return rv;
}
