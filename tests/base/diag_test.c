/* orch_diag: set, field, truncation, NULL safety. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "src/base/diag.h"

static void
test_set_and_clear(void **state)
{
	orch_diag d;

	(void) state;
	orch_diag_clear(&d);
	assert_string_equal(d.msg, "");
	assert_string_equal(d.field, "");
	assert_string_equal(orch_diag_msg(&d, "fallback"), "fallback");
	orch_diag_set(&d, "create %s: HTTP %d", "x", 500);
	d.status = 500;
	assert_string_equal(d.msg, "create x: HTTP 500");
	assert_string_equal(d.field, "");
	assert_string_equal(
	    orch_diag_msg(&d, "fallback"), "create x: HTTP 500");
	orch_diag_clear(&d);
	assert_string_equal(d.msg, "");
	assert_int_equal(d.status, 0);
}

static void
test_field(void **state)
{
	orch_diag d;

	(void) state;
	orch_diag_clear(&d);
	orch_diag_field(
	    &d, "labels.team", "labels.team: expected %s", "string");
	assert_string_equal(d.field, "labels.team");
	assert_string_equal(d.msg, "labels.team: expected string");
	orch_diag_field(&d, NULL, "other");
	assert_string_equal(d.field, "");
	assert_string_equal(d.msg, "other");
}

static void
test_truncates(void **state)
{
	char big[3 * ORCH_DIAG_MSG_MAX];
	orch_diag d;

	(void) state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	orch_diag_field(&d, big, "%s", big);
	assert_int_equal(strlen(d.msg), ORCH_DIAG_MSG_MAX - 1);
	assert_int_equal(strlen(d.field), ORCH_DIAG_FIELD_MAX - 1);
}

static void
test_null_is_noop(void **state)
{
	(void) state;
	orch_diag_clear(NULL);
	orch_diag_set(NULL, "x %d", 1);
	orch_diag_field(NULL, "f", "x");
	assert_string_equal(orch_diag_msg(NULL, "fb"), "fb");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_set_and_clear),
	    cmocka_unit_test(test_field),
	    cmocka_unit_test(test_truncates),
	    cmocka_unit_test(test_null_is_noop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
