/*
 * Helpers of the store's tests: a private temporary directory, counting
 * rows of a real database file on a connection of the test's own, a
 * database made from a fixture's SQL, and a private mount namespace for
 * the cases that need a real full or read-only file system (tmpfs).
 * Waiting on a condition with a deadline is tests/testlib's TL_WAIT_FOR.
 */
#ifndef ORCH_TESTS_STORE_STORETEST_H
#define ORCH_TESTS_STORE_STORETEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_S(x) ((int64_t) (x) *INT64_C(1000000))

/* A fresh directory under $TEST_TMPDIR (or /tmp) into dir. */
void st_tmpdir(char *dir, size_t len);

/* One integer from sql on the database at path (-1 on error). */
int64_t st_count(const char *path, const char *sql);

/* Runs sql (several statements) on the database at path; 0 or -1. */
int st_exec(const char *path, const char *sql);

/* The text of a fixture file under tests/store/fixtures (malloc'd), NULL
 * when absent. */
char *st_fixture(const char *name);

/* The database's schema: every CREATE of sqlite_master, sorted, one per
 * line (malloc'd), for comparing two files. */
char *st_schema(const char *path);

/* Enters a private mount namespace (once per process) and mounts a
 * tmpfs of size_kb at dir. false (and why printed) when the system does
 * not allow it. */
bool st_tmpfs(const char *dir, int size_kb);

/* Remounts the tmpfs at dir read-only (ro) or read-write. */
bool st_tmpfs_ro(const char *dir, bool ro);

#endif
