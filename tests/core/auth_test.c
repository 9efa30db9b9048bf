/*
 * CONTRACT.md "Authentication" as a table: every class, with and without
 * keys configured, with missing, malformed, wrong and right headers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "src/core/auth.h"

struct row {
	orch_auth_class cls;
	const char *header;
	const char *api_key;
	const char *read_key;
	orch_err want;
};

static const struct row rows[] = {
    /* OPEN: always. */
    {ORCH_AUTH_OPEN, NULL, "k", "r", ORCH_OK},
    {ORCH_AUTH_OPEN, "Bearer nope", "k", "r", ORCH_OK},
    /* MUTATE without API_KEY: no auth, whatever is sent. */
    {ORCH_AUTH_MUTATE, NULL, NULL, NULL, ORCH_OK},
    {ORCH_AUTH_MUTATE, "Bearer x", NULL, "r", ORCH_OK},
    /* MUTATE with API_KEY. */
    {ORCH_AUTH_MUTATE, NULL, "k", NULL, ORCH_EUNAUTH},
    {ORCH_AUTH_MUTATE, "", "k", NULL, ORCH_EUNAUTH},
    {ORCH_AUTH_MUTATE, "k", "k", NULL, ORCH_EUNAUTH},
    {ORCH_AUTH_MUTATE, "Basic k", "k", NULL, ORCH_EUNAUTH},
    {ORCH_AUTH_MUTATE, "bearer k", "k", NULL, ORCH_EUNAUTH},
    {ORCH_AUTH_MUTATE, "Bearer", "k", NULL, ORCH_EUNAUTH},
    {ORCH_AUTH_MUTATE, "Bearer ", "k", NULL, ORCH_EPERM},
    {ORCH_AUTH_MUTATE, "Bearer kk", "k", NULL, ORCH_EPERM},
    {ORCH_AUTH_MUTATE, "Bearer K", "k", NULL, ORCH_EPERM},
    {ORCH_AUTH_MUTATE, "Bearer k ", "k", NULL, ORCH_EPERM},
    {ORCH_AUTH_MUTATE, "Bearer r", "k", "r", ORCH_EPERM},
    {ORCH_AUTH_MUTATE, "Bearer k", "k", NULL, ORCH_OK},
    {ORCH_AUTH_MUTATE, "Bearer k", "k", "r", ORCH_OK},
    /* READ without READ_API_KEY: open, even when API_KEY is set. */
    {ORCH_AUTH_READ, NULL, "k", NULL, ORCH_OK},
    {ORCH_AUTH_READ, "Bearer wrong", "k", NULL, ORCH_OK},
    /* READ with READ_API_KEY: either key, nothing else. */
    {ORCH_AUTH_READ, NULL, "k", "r", ORCH_EUNAUTH},
    {ORCH_AUTH_READ, "r", "k", "r", ORCH_EUNAUTH},
    {ORCH_AUTH_READ, "Bearer x", "k", "r", ORCH_EPERM},
    {ORCH_AUTH_READ, "Bearer r", "k", "r", ORCH_OK},
    {ORCH_AUTH_READ, "Bearer k", "k", "r", ORCH_OK},
    {ORCH_AUTH_READ, "Bearer r", NULL, "r", ORCH_OK},
    {ORCH_AUTH_READ, "Bearer k", NULL, "r", ORCH_EPERM},
};

static void
test_table(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		orch_diag why;
		orch_err got;

		orch_diag_set(&why, "unset");
		got = orch_auth_check(
		    r->cls, r->header, r->api_key, r->read_key, &why);

		if (got != r->want)
			fail_msg("row %zu (class %d, header \"%s\"): got %d, "
			         "want %d",
			    i, r->cls,
			    r->header != NULL ? r->header : "(none)", got,
			    r->want);
		if (got == ORCH_EUNAUTH)
			assert_string_equal(why.msg, "missing bearer token");
		else if (got == ORCH_EPERM)
			assert_string_equal(why.msg, "invalid token");
		else
			assert_string_equal(why.msg, "");
	}
}

static void
test_equal(void **state)
{
	(void) state;
	assert_true(orch_auth_equal("", ""));
	assert_true(orch_auth_equal("secret", "secret"));
	assert_false(orch_auth_equal("secret", "secreT"));
	assert_false(orch_auth_equal("secret", "secret2"));
	assert_false(orch_auth_equal("secret2", "secret"));
	assert_false(orch_auth_equal("", "a"));
	assert_false(orch_auth_equal(NULL, "a"));
	assert_false(orch_auth_equal(NULL, NULL));
	/* A prefix and its extension with a NUL-free difference at the end. */
	assert_false(orch_auth_equal("abc", "abc\x01"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_equal),
	};

	return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
