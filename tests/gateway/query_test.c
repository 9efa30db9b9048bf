/*
 * Query strings and path segments (src/gateway/query.h), table-driven: each
 * row is an input and either the pairs it yields or the error it gets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "src/gateway/query.h"

#define MAXP 4

struct qcase {
	const char *qs;
	size_t len; /* 0: strlen(qs) */
	orch_err rv;
	size_t n;
	const char *kv[2 * MAXP]; /* key, value, ... (OK) */
	const char *error;        /* (EINVAL) */
};

static const struct qcase qcases[] = {
    {"", 0, ORCH_OK, 0, {NULL}, NULL},
    {"a=1&b=x%20y+z", 0, ORCH_OK, 2, {"a", "1", "b", "x y z"}, NULL},
    {"status=started&limit=10&container_id=abc", 0, ORCH_OK, 3,
        {"status", "started", "limit", "10", "container_id", "abc"}, NULL},
    {"since=2024-01-01T12%3A00%3A00%2B02%3A00", 0, ORCH_OK, 1,
        {"since", "2024-01-01T12:00:00+02:00"}, NULL},
    {"since=2024-01-01T12:00:00+02:00", 0, ORCH_OK, 1,
        {"since", "2024-01-01T12:00:00 02:00"}, NULL},
    {"a", 0, ORCH_OK, 1, {"a", ""}, NULL},
    {"a=", 0, ORCH_OK, 1, {"a", ""}, NULL},
    {"a=&b", 0, ORCH_OK, 2, {"a", "", "b", ""}, NULL},
    {"a=1&&b=2&", 0, ORCH_OK, 2, {"a", "1", "b", "2"}, NULL},
    {"&&&", 0, ORCH_OK, 0, {NULL}, NULL},
    {"a=b=c", 0, ORCH_OK, 1, {"a", "b=c"}, NULL},
    {"a=1;b=2", 0, ORCH_OK, 1, {"a", "1;b=2"}, NULL},
    {"k%3Dx=1", 0, ORCH_OK, 1, {"k=x", "1"}, NULL},
    {"a+b=c+d", 0, ORCH_OK, 1, {"a b", "c d"}, NULL},
    {"%2B=%2b", 0, ORCH_OK, 1, {"+", "+"}, NULL},
    {"x=%26%3d%25", 0, ORCH_OK, 1, {"x", "&=%"}, NULL},
    {"e=%C3%A9&j=%E6%97%A5&s=%F0%9F%98%80", 0, ORCH_OK, 3,
        {"e", "\xc3\xa9", "j", "\xe6\x97\xa5", "s", "\xf0\x9f\x98\x80"}, NULL},
    {"raw=\xc3\xa9", 0, ORCH_OK, 1, {"raw", "\xc3\xa9"}, NULL},
    {"A=1&a=2", 0, ORCH_OK, 2, {"A", "1", "a", "2"}, NULL},
    {"?a=1", 0, ORCH_OK, 1, {"?a", "1"}, NULL},
    /* Refusals. */
    {"=x", 0, ORCH_EINVAL, 0, {NULL},
        "query parameter name: empty parameter name"},
    {"a=1&=", 0, ORCH_EINVAL, 0, {NULL},
        "query parameter name: empty parameter name"},
    {"a=1&a=2", 0, ORCH_EINVAL, 0, {NULL},
        "query parameter \"a\" given twice"},
    {"a&a", 0, ORCH_EINVAL, 0, {NULL}, "query parameter \"a\" given twice"},
    {"a+b=1&a%20b=2", 0, ORCH_EINVAL, 0, {NULL},
        "query parameter \"a b\" given twice"},
    {"a=%zz", 0, ORCH_EINVAL, 0, {NULL},
        "query parameter \"a\": invalid percent escape"},
    {"a=%2", 0, ORCH_EINVAL, 0, {NULL},
        "query parameter \"a\": invalid percent escape"},
    {"a=%", 0, ORCH_EINVAL, 0, {NULL},
        "query parameter \"a\": invalid percent escape"},
    {"a=%%41", 0, ORCH_EINVAL, 0, {NULL},
        "query parameter \"a\": invalid percent escape"},
    {"a=% 1", 0, ORCH_EINVAL, 0, {NULL},
        "query parameter \"a\": invalid percent escape"},
    {"%g1=1", 0, ORCH_EINVAL, 0, {NULL},
        "query parameter name: invalid percent escape"},
    {"a=%00", 0, ORCH_EINVAL, 0, {NULL}, "query parameter \"a\": NUL byte"},
    {"a=x\0y", 5, ORCH_EINVAL, 0, {NULL}, "query parameter \"a\": NUL byte"},
    {"a\0=1", 4, ORCH_EINVAL, 0, {NULL}, "query parameter name: NUL byte"},
    {"a=%C3", 0, ORCH_EINVAL, 0, {NULL},
        "query parameter \"a\": not valid UTF-8"},
    {"a=%ff", 0, ORCH_EINVAL, 0, {NULL},
        "query parameter \"a\": not valid UTF-8"},
    {"a=%ED%A0%80", 0, ORCH_EINVAL, 0, {NULL},
        "query parameter \"a\": not valid UTF-8"},
    {"a=%C0%AF", 0, ORCH_EINVAL, 0, {NULL},
        "query parameter \"a\": not valid UTF-8"},
    {"a=%F4%90%80%80", 0, ORCH_EINVAL, 0, {NULL},
        "query parameter \"a\": not valid UTF-8"},
    {"%ff=1", 0, ORCH_EINVAL, 0, {NULL},
        "query parameter name: not valid UTF-8"},
    {"ok=1&bad=%zz", 0, ORCH_EINVAL, 0, {NULL},
        "query parameter \"bad\": invalid percent escape"},
};

static void
check_qcase(size_t i, const struct qcase *tc)
{
	orch_query *q = calloc(1, sizeof(*q));
	size_t len = tc->len > 0 ? tc->len : strlen(tc->qs);
	orch_diag d;
	orch_err rv;

	assert_non_null(q);
	q->n = 99;
	memset(&d, 'x', sizeof(d));
	rv = orch_query_parse(tc->qs, len, q, &d);
	if (rv != tc->rv)
		fail_msg("case %zu (%s): got %d (%s)", i, tc->qs, rv, d.msg);
	assert_string_equal(d.field, ""); /* never about one field */
	if (rv == ORCH_OK) {
		assert_int_equal(q->n, tc->n);
		assert_string_equal(d.msg, "");
		for (size_t k = 0; k < tc->n; k++) {
			assert_string_equal(
			    orch_query_key(q, k), tc->kv[2 * k]);
			assert_string_equal(
			    orch_query_value(q, k), tc->kv[2 * k + 1]);
			assert_string_equal(orch_query_get(q, tc->kv[2 * k]),
			    tc->kv[2 * k + 1]);
		}
	} else {
		assert_int_equal(q->n, 0);
		assert_string_equal(d.msg, tc->error);
	}
	/* diag may be NULL. */
	assert_int_equal(orch_query_parse(tc->qs, len, q, NULL), tc->rv);
	assert_null(orch_query_get(q, "missing"));
	free(q);
}

static void
test_query_table(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(qcases) / sizeof(qcases[0]); i++)
		check_qcase(i, &qcases[i]);
}

/* The limits: pairs, key length, total length. */
static void
test_query_limits(void **state)
{
	orch_query q, copy;
	orch_diag d;
	char buf[ORCH_QUERY_MAX_LEN + 16];
	size_t n = 0;

	(void) state;
	for (int i = 0; i < ORCH_QUERY_MAX_PAIRS; i++)
		n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%sk%d=%d",
		    i > 0 ? "&" : "", i, i);
	assert_int_equal(orch_query_parse(buf, n, &q, &d), ORCH_OK);
	assert_int_equal(q.n, ORCH_QUERY_MAX_PAIRS);
	assert_string_equal(orch_query_get(&q, "k31"), "31");
	/* The struct holds offsets, not pointers: a copy works alone. */
	memcpy(&copy, &q, sizeof(q));
	memset(&q, 0xa5, sizeof(q));
	assert_string_equal(orch_query_get(&copy, "k0"), "0");
	assert_string_equal(orch_query_get(&copy, "k31"), "31");
	n += (size_t) snprintf(buf + n, sizeof(buf) - n, "&k32=32");
	assert_int_equal(orch_query_parse(buf, n, &q, &d), ORCH_EINVAL);
	assert_string_equal(d.msg, "more than 32 query parameters");

	/* A key of ORCH_QUERY_MAX_KEY bytes, then one more (decoded). */
	memset(buf, 'k', ORCH_QUERY_MAX_KEY);
	memcpy(buf + ORCH_QUERY_MAX_KEY, "=v", 2);
	assert_int_equal(
	    orch_query_parse(buf, ORCH_QUERY_MAX_KEY + 2, &q, &d), ORCH_OK);
	assert_int_equal(strlen(orch_query_key(&q, 0)), ORCH_QUERY_MAX_KEY);
	memset(buf, 'k', ORCH_QUERY_MAX_KEY + 1);
	memcpy(buf + ORCH_QUERY_MAX_KEY + 1, "=v", 2);
	assert_int_equal(orch_query_parse(buf, ORCH_QUERY_MAX_KEY + 3, &q, &d),
	    ORCH_EINVAL);
	assert_string_equal(
	    d.msg, "query parameter name: parameter name too long");
	/* Escaped, 3 bytes of input per byte of key: the decoded length
	 * counts. */
	n = 0;
	for (int i = 0; i < ORCH_QUERY_MAX_KEY; i++)
		n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%%6B");
	assert_int_equal(orch_query_parse(buf, n, &q, &d), ORCH_OK);

	/* ORCH_QUERY_MAX_LEN bytes, then one more. */
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "a=", 2);
	assert_int_equal(
	    orch_query_parse(buf, ORCH_QUERY_MAX_LEN, &q, &d), ORCH_OK);
	assert_int_equal(
	    strlen(orch_query_get(&q, "a")), ORCH_QUERY_MAX_LEN - 2);
	assert_int_equal(orch_query_parse(buf, ORCH_QUERY_MAX_LEN + 1, &q, &d),
	    ORCH_EINVAL);
	assert_string_equal(d.msg, "query string longer than 4096 bytes");
	/* The worst case for the store: 32 keys with no '=' and the rest in
	 * one value. */
	n = 0;
	for (int i = 0; i < ORCH_QUERY_MAX_PAIRS - 1; i++)
		n += (size_t) snprintf(
		    buf + n, sizeof(buf) - n, "%c&", 'A' + i);
	memcpy(buf + n, "z=", 2);
	memset(buf + n + 2, 'y', ORCH_QUERY_MAX_LEN - n - 2);
	assert_int_equal(
	    orch_query_parse(buf, ORCH_QUERY_MAX_LEN, &q, &d), ORCH_OK);
	assert_int_equal(q.n, ORCH_QUERY_MAX_PAIRS);
	assert_int_equal(
	    strlen(orch_query_get(&q, "z")), ORCH_QUERY_MAX_LEN - n - 2);
	/* NULL with length 0 is an empty query. */
	assert_int_equal(orch_query_parse(NULL, 0, &q, &d), ORCH_OK);
	assert_int_equal(q.n, 0);
}

struct pcase {
	const char *seg;
	size_t len; /* 0: strlen */
	size_t cap;
	orch_err rv;
	const char *out; /* decoded (OK) or why (EINVAL) */
};

static const struct pcase pcases[] = {
    {"abc", 0, 64, ORCH_OK, "abc"},
    {"", 0, 64, ORCH_OK, ""},
    {"a%20b", 0, 64, ORCH_OK, "a b"},
    {"a+b", 0, 64, ORCH_OK, "a+b"},
    {"a%2Fb", 0, 64, ORCH_OK, "a/b"},
    {"http%3A%2F%2Fx%2Fy%7Cs", 0, 64, ORCH_OK, "http://x/y|s"},
    {"%C3%A9t%c3%a9", 0, 64, ORCH_OK, "\xc3\xa9t\xc3\xa9"},
    {"abc", 0, 4, ORCH_OK, "abc"},
    {"abc", 0, 3, ORCH_EINVAL, "too long"},
    {"%41%42", 0, 3, ORCH_OK, "AB"},
    {"abc", 0, 0, ORCH_EINVAL, "too long"},
    {"a/b", 0, 64, ORCH_EINVAL, "'/' in a path segment"},
    {"/", 0, 64, ORCH_EINVAL, "'/' in a path segment"},
    {"%zz", 0, 64, ORCH_EINVAL, "invalid percent escape"},
    {"a%", 0, 64, ORCH_EINVAL, "invalid percent escape"},
    {"a%4", 0, 64, ORCH_EINVAL, "invalid percent escape"},
    {"%00", 0, 64, ORCH_EINVAL, "NUL byte"},
    {"a\0b", 3, 64, ORCH_EINVAL, "NUL byte"},
    {"%ff", 0, 64, ORCH_EINVAL, "not valid UTF-8"},
    {"\xc3", 0, 64, ORCH_EINVAL, "not valid UTF-8"},
    {"%E0%80%80", 0, 64, ORCH_EINVAL, "not valid UTF-8"},
};

static void
test_path_table(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
		const struct pcase *tc = &pcases[i];
		char out[64];
		orch_diag d;
		size_t len = tc->len > 0 ? tc->len : strlen(tc->seg);
		orch_err rv;

		memset(out, 'Z', sizeof(out));
		memset(&d, 'x', sizeof(d));
		rv = orch_path_decode(tc->seg, len, out, tc->cap, &d);
		if (rv != tc->rv)
			fail_msg("case %zu (%s): got %d (%s)", i, tc->seg, rv,
			    d.msg);
		assert_string_equal(d.field, "");
		if (rv == ORCH_OK) {
			assert_string_equal(d.msg, "");
			assert_string_equal(out, tc->out);
		} else {
			assert_string_equal(d.msg, tc->out);
			if (tc->cap > 0)
				assert_string_equal(out, "");
			else
				assert_int_equal(out[0], 'Z'); /* untouched */
		}
		/* Nothing written past cap. */
		for (size_t k = tc->cap; k < sizeof(out); k++)
			assert_int_equal(out[k], 'Z');
		/* diag may be NULL. */
		assert_int_equal(
		    orch_path_decode(tc->seg, len, out, tc->cap, NULL),
		    tc->rv);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_query_table),
	    cmocka_unit_test(test_query_limits),
	    cmocka_unit_test(test_path_table),
	};

	return cmocka_run_group_tests_name("query", tests, NULL, NULL);
}
