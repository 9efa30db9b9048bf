/*
 * The store against a bad database and a bad disk, all real: a file that
 * is not a database, one truncated to half (corrupt), a second process on
 * the same file, a read-only file system (a tmpfs remounted read-only),
 * and a full one (a tmpfs of 4 MiB, filled up). Opening a bad file fails
 * with one line naming the file and the problem; --reset-db (opts.reset)
 * moves it aside, never deletes it. A full disk during operation fails
 * loudly (the metric, the failing flag), the core goes on in memory, and
 * the store catches up once space returns: the rows match the core.
 *
 * The tmpfs cases need a private mount namespace (CAP_SYS_ADMIN, as in
 * the project's containers and Bazel's sandbox there); where the system
 * refuses one they are skipped and say why.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "src/base/time.h"
#include "src/core/core.h"
#include "src/store/store.h"
#include "tests/store/storetest.h"
#include "tests/testlib/testlib.h"

#define T0 ST_S(1700000000)

static orch_config cfg;

static orch_err
open_at(const char *path, bool reset, orch_store **st, orch_diag *d)
{
	orch_store_opts o;

	memset(&o, 0, sizeof(o));
	o.path = path;
	o.cfg = &cfg;
	o.reset = reset;
	o.retry_interval_ms = 50;
	return orch_store_open(&o, st, d);
}

static void
one_line_naming(const orch_diag *d, const char *path, const char *what)
{
	if (strstr(d->msg, path) == NULL || strstr(d->msg, what) == NULL ||
	    strchr(d->msg, '\n') != NULL)
		fail_msg("expected one line naming %s and \"%s\", got: %s",
		    path, what, d->msg);
}

static off_t
file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* A real database with some rows, closed (everything in the main file). */
static void
make_db(const char *path, int streams)
{
	char sql[1024];
	orch_store *st = NULL;
	orch_diag d;

	assert_int_equal(open_at(path, false, &st, &d), ORCH_OK);
	orch_store_close(st, 1000);
	snprintf(sql, sizeof(sql),
	    "BEGIN; INSERT INTO streams (id, key_type, key, container_id, "
	    "managed, is_live, active, started_at) WITH RECURSIVE c(i) AS "
	    "(SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < %d) SELECT "
	    "printf('stream-%%d-%%0100d', i, i), 'content_id', 'k', 'c', 1, "
	    "1, 0, i FROM c; INSERT INTO stats (sid, ts, peers) SELECT sid, "
	    "started_at, 1 FROM streams; COMMIT;",
	    streams - 1);
	if (streams > 0)
		assert_int_equal(st_exec(path, sql), 0);
}

/* The one entry of dir whose name starts with prefix (into out). */
static bool
find_entry(const char *dir, const char *prefix, char *out, size_t len)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	bool found = false;

	assert_non_null(dp);
	while (!found && (de = readdir(dp)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
			snprintf(out, len, "%s/%s", dir, de->d_name);
			found = true;
		}
	}
	closedir(dp);
	return found;
}

static void
test_not_a_database(void **state)
{
	char dir[256], path[300], moved[600];
	static const char junk[] = "this is not a database, it is a note\n";
	orch_store *st = NULL;
	orch_diag d;

	(void) state;
	st_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/orch.db", dir);
	for (int i = 0; i < 200; i++) {
		FILE *f = fopen(path, "ab");

		assert_non_null(f);
		fputs(junk, f);
		fclose(f);
	}
	assert_int_equal(open_at(path, false, &st, &d), ORCH_EDATALOSS);
	one_line_naming(&d, path, "not a database");
	assert_int_equal(file_size(path), 200 * (off_t) strlen(junk));
	/* --reset-db: moved aside (same bytes), a new database made. */
	assert_int_equal(open_at(path, true, &st, &d), ORCH_OK);
	assert_true(find_entry(dir, "orch.db.broken-", moved, sizeof(moved)));
	assert_string_equal(orch_store_moved_to(st), moved);
	assert_int_equal(file_size(moved), 200 * (off_t) strlen(junk));
	orch_store_close(st, 1000);
	assert_int_equal(st_count(path, "SELECT max(version) FROM "
	                                "schema_version"),
	    ORCH_STORE_SCHEMA_VERSION);
	/* A usable file is kept by --reset-db. */
	assert_int_equal(open_at(path, true, &st, &d), ORCH_OK);
	assert_string_equal(orch_store_moved_to(st), "");
	orch_store_close(st, 1000);
}

static void
test_truncated(void **state)
{
	char dir[256], path[300];
	orch_store *st = NULL;
	orch_diag d;
	off_t size;

	(void) state;
	st_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/orch.db", dir);
	make_db(path, 400);
	size = file_size(path);
	assert_true(size > 64 * 1024);
	assert_int_equal(truncate(path, size / 2), 0);
	assert_int_not_equal(open_at(path, false, &st, &d), ORCH_OK);
	assert_null(st);
	one_line_naming(&d, path, "DB_PATH");
	if (strstr(d.msg, "corrupt") == NULL &&
	    strstr(d.msg, "malformed") == NULL)
		fail_msg("expected corruption, got: %s", d.msg);
	assert_int_equal(file_size(path), size / 2); /* untouched */
	/* A page overwritten in the middle: corrupt too. */
	assert_int_equal(unlink(path), 0);
	make_db(path, 400);
	{
		char junk[4096];
		int fd = open(path, O_WRONLY);

		memset(junk, 0x5a, sizeof(junk));
		assert_true(fd >= 0);
		assert_int_equal(pwrite(fd, junk, sizeof(junk), 8 * 4096),
		    (ssize_t) sizeof(junk));
		close(fd);
	}
	assert_int_equal(open_at(path, false, &st, &d), ORCH_EDATALOSS);
	one_line_naming(&d, path, "corrupt");
	assert_int_equal(open_at(path, true, &st, &d), ORCH_OK);
	orch_store_close(st, 1000);
}

static void
test_in_use(void **state)
{
	char dir[256], path[300];
	orch_store *a = NULL, *b = NULL;
	orch_diag d;

	(void) state;
	st_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/orch.db", dir);
	assert_int_equal(open_at(path, false, &a, &d), ORCH_OK);
	assert_int_equal(open_at(path, true, &b, &d), ORCH_EEXIST);
	one_line_naming(&d, path, "in use");
	orch_store_close(a, 1000);
	assert_int_equal(open_at(path, false, &b, &d), ORCH_OK);
	orch_store_close(b, 1000);
}

static void
test_missing_directory(void **state)
{
	char dir[256], path[300];
	orch_store *st = NULL;
	orch_diag d;

	(void) state;
	st_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/no/such/dir/orch.db", dir);
	assert_int_equal(open_at(path, true, &st, &d), ORCH_ESYS);
	one_line_naming(&d, path, "No such file or directory");
}

static void
test_read_only(void **state)
{
	char dir[256], path[300], other[300];
	orch_store *st = NULL;
	orch_diag d;

	(void) state;
	st_tmpdir(dir, sizeof(dir));
	if (!st_tmpfs(dir, 4096))
		skip();
	snprintf(path, sizeof(path), "%s/orch.db", dir);
	snprintf(other, sizeof(other), "%s/absent.db", dir);
	make_db(path, 10);
	assert_true(st_tmpfs_ro(dir, true));
	/* An existing database on a read-only file system. */
	assert_int_equal(open_at(path, false, &st, &d), ORCH_EPERM);
	one_line_naming(&d, path, "read-only");
	/* --reset-db cannot help: it cannot move the file either. */
	assert_int_equal(open_at(path, true, &st, &d), ORCH_EPERM);
	one_line_naming(&d, path, "Read-only file system");
	/* A database to create in a read-only directory. */
	assert_int_equal(open_at(other, false, &st, &d), ORCH_EPERM);
	one_line_naming(&d, other, "directory is read-only");
	assert_true(st_tmpfs_ro(dir, false));
	assert_int_equal(open_at(path, false, &st, &d), ORCH_OK);
	orch_store_close(st, 1000);
}

/* Fills the file system at dir; returns the filler's path. */
static void
fill(const char *dir, char *filler, size_t len)
{
	char block[4096];
	int fd;

	snprintf(filler, len, "%s/filler", dir);
	fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	memset(block, 0, sizeof(block));
	while (write(fd, block, sizeof(block)) == (ssize_t) sizeof(block))
		;
	assert_int_equal(errno, ENOSPC);
	close(fd);
}

static void
start_stream(orch_core *core, int64_t now, const char *sid, bool end)
{
	orch_stream_start ev;
	orch_stream *s;

	memset(&ev, 0, sizeof(ev));
	ev.host = "10.1.1.1";
	ev.port = 6878;
	ev.key_type = "infohash";
	ev.key = sid;
	ev.stream_id = sid;
	orch_core_lock(core);
	assert_int_equal(
	    orch_state_stream_start(&core->state, &ev, now, &s), ORCH_OK);
	if (end)
		assert_int_equal(orch_state_stream_end(
		                     &core->state, sid, NULL, "done", now, &s),
		    ORCH_OK);
	orch_core_unlock(core);
}

static void
test_full_disk(void **state)
{
	char dir[256], path[300], filler[300];
	orch_store *st = NULL;
	orch_store_stats s;
	orch_buf m = ORCH_BUF_INIT;
	int64_t now = T0;
	orch_core core;
	orch_diag d;
	bool ok;
	int n = 0;

	(void) state;
	st_tmpdir(dir, sizeof(dir));
	if (!st_tmpfs(dir, 4096))
		skip();
	snprintf(path, sizeof(path), "%s/orch.db", dir);
	assert_int_equal(
	    orch_core_init(&core, &cfg, orch_clock_manual(&now), NULL),
	    ORCH_OK);
	assert_int_equal(open_at(path, false, &st, &d), ORCH_OK);
	assert_int_equal(orch_store_start(st, &core), ORCH_OK);
	start_stream(&core, now, "before", false);
	assert_int_equal(orch_store_flush(st, 10000), ORCH_OK);
	fill(dir, filler, sizeof(filler));
	/* Streams until the writes fail: the core does not notice. */
	for (;;) {
		char sid[64];

		orch_store_get_stats(st, &s);
		if (s.failing)
			break;
		assert_true(n < 200000);
		snprintf(sid, sizeof(sid), "full-%06d-%040d", n, n);
		start_stream(&core, now, sid, n % 2 == 0);
		n++;
		if (n % 100 == 0)
			(void) orch_store_flush(st, 50);
	}
	orch_store_get_stats(st, &s);
	assert_true(s.write_errors >= 1);
	orch_store_metrics_render(st, &m);
	assert_non_null(strstr(orch_buf_cstr(&m), "orch_store_failing 1"));
	orch_buf_fini(&m);
	/* Still serving: more events, in memory. */
	for (int i = 0; i < 100; i++) {
		char sid[64];

		snprintf(sid, sizeof(sid), "during-%d", i);
		start_stream(&core, now, sid, false);
	}
	assert_int_equal(orch_store_flush(st, 200), ORCH_ETIMEDOUT);
	/* Space returns: the store catches up. */
	assert_int_equal(unlink(filler), 0);
	TL_WAIT_FOR(ok, orch_store_flush(st, 100) == ORCH_OK, 20000);
	assert_true(ok);
	orch_store_get_stats(st, &s);
	assert_false(s.failing);
	assert_true(s.resyncs >= 1);
	assert_int_equal(st_count(path, "SELECT count(*) FROM streams"),
	    core.state.counts.streams_total);
	assert_int_equal(st_count(path, "SELECT count(*) FROM streams WHERE "
	                                "active = 1"),
	    core.state.counts.streams_active);
	assert_true(st_count(path, "SELECT count(*) FROM events WHERE type = "
	                           "'store_gap'") >= 1);
	orch_store_close(st, 2000);
	orch_core_fini(&core);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_not_a_database),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_in_use),
	    cmocka_unit_test(test_missing_directory),
	    cmocka_unit_test(test_read_only),
	    cmocka_unit_test(test_full_disk),
	};
	int rv;

	orch_config_defaults(&cfg);
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	orch_config_fini(&cfg);
	return rv;
}
