#include "tests/store/storetest.h"

#include <errno.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

void
st_tmpdir(char *dir, size_t len)
{
	const char *base = getenv("TEST_TMPDIR");

	snprintf(dir, len, "%s/store-XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
}

int64_t
st_count(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
	        SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	else
		fprintf(stderr, "st_count %s: %s: %s\n", path, sql,
		    db != NULL ? sqlite3_errmsg(db) : "?");
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

int
st_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *err = NULL;
	int rc;

	rc = sqlite3_open(path, &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK)
		fprintf(stderr, "st_exec %s: %s\n", path,
		    err != NULL ? err : sqlite3_errmsg(db));
	sqlite3_free(err);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

char *
st_fixture(const char *name)
{
	const char *src = getenv("TEST_SRCDIR");
	const char *ws = getenv("TEST_WORKSPACE");
	char path[1024];
	FILE *f;
	char *buf = NULL;
	long n;

	snprintf(path, sizeof(path), "%s/%s/tests/store/fixtures/%s",
	    src != NULL ? src : ".", ws != NULL ? ws : "orchestrator", name);
	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t) n + 1)) != NULL) {
		if (fread(buf, 1, (size_t) n, f) != (size_t) n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
		}
	}
	fclose(f);
	return buf;
}

char *
st_schema(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	size_t len = 0, cap = 4096;
	char *out = malloc(cap);

	if (out == NULL)
		return NULL;
	out[0] = '\0';
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
	        SQLITE_OK &&
	    sqlite3_prepare_v2(db,
	        "SELECT name, type, coalesce(sql, '') FROM sqlite_master "
	        "WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
	        -1, &s, NULL) == SQLITE_OK) {
		while (sqlite3_step(s) == SQLITE_ROW) {
			const char *c =
			    (const char *) sqlite3_column_text(s, 0);
			size_t n = strlen(c) + 2;
			char *no;

			if (len + n + 1 > cap) {
				cap = (len + n + 1) * 2;
				no = realloc(out, cap);
				if (no == NULL)
					break;
				out = no;
			}
			len +=
			    (size_t) snprintf(out + len, cap - len, "%s\n", c);
		}
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	return out;
}

bool
st_tmpfs(const char *dir, int size_kb)
{
	static int entered; /* 0 not yet, 1 in, -1 refused */
	char opts[64];

	if (entered == 0) {
		entered = -1;
		if (unshare(CLONE_NEWNS) != 0)
			fprintf(stderr, "unshare(CLONE_NEWNS): %s\n",
			    strerror(errno));
		else if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) !=
		         0)
			fprintf(stderr, "mount --make-rprivate /: %s\n",
			    strerror(errno));
		else
			entered = 1;
	}
	if (entered != 1)
		return false;
	snprintf(opts, sizeof(opts), "size=%dk,mode=0755", size_kb);
	if (mount("tmpfs", dir, "tmpfs", 0, opts) != 0) {
		fprintf(stderr, "mount tmpfs %s: %s\n", dir, strerror(errno));
		return false;
	}
	return true;
}

bool
st_tmpfs_ro(const char *dir, bool ro)
{
	if (mount(NULL, dir, NULL, MS_REMOUNT | (ro ? MS_RDONLY : 0), NULL) !=
	    0) {
		fprintf(stderr, "remount %s: %s\n", dir, strerror(errno));
		return false;
	}
	return true;
}
