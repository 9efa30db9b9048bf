/*
 * orch_breaker: the threshold exactly, success resetting the consecutive
 * count, the open cool-down and its half-open reading, one trial at a time,
 * the trial's outcomes (close; reopen with a timeout from the failure;
 * release), manual reset, retry_after counting down, and the state names.
 * Time is a plain number passed in; nothing sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "src/core/breaker.h"

#define S(x) ((int64_t) (x) *INT64_C(1000000))
#define T0 S(1700000000) /* an arbitrary wall-clock start */

/* Opens a fresh breaker (threshold, timeout_s) by failing it at T0. */
static void
open_at_t0(orch_breaker *b, int threshold, int timeout_s)
{
	orch_breaker_init(b, threshold, timeout_s);
	for (int i = 0; i < threshold; i++)
		orch_breaker_record_failure(b, T0);
	assert_int_equal(b->state, ORCH_BREAKER_OPEN);
	assert_true(b->opened_at_us == T0);
}

static void
test_init(void **state)
{
	orch_breaker b;

	(void) state;
	orch_breaker_init(&b, 5, 300);
	assert_int_equal(b.failure_threshold, 5);
	assert_true(b.recovery_timeout_us == S(300));
	assert_int_equal(b.state, ORCH_BREAKER_CLOSED);
	assert_int_equal(b.failure_count, 0);
	assert_true(b.opened_at_us == 0);
	assert_true(b.last_failure_us == 0);
	assert_true(b.last_success_us == 0);
	assert_false(b.trial_in_flight);

	orch_breaker_init(&b, 0, -7); /* clamped */
	assert_int_equal(b.failure_threshold, 1);
	assert_true(b.recovery_timeout_us == 0);
}

/* threshold-1 failures leave it closed; the threshold-th opens it. */
static void
test_threshold_exact(void **state)
{
	static const int thresholds[] = {1, 2, 3, 5, 10};

	(void) state;
	for (size_t k = 0; k < sizeof(thresholds) / sizeof(thresholds[0]);
	     k++) {
		int n = thresholds[k];
		orch_breaker b;

		orch_breaker_init(&b, n, 60);
		for (int i = 1; i < n; i++) {
			orch_breaker_record_failure(&b, T0 + S(i));
			assert_int_equal(b.state, ORCH_BREAKER_CLOSED);
			assert_int_equal(b.failure_count, i);
			assert_true(orch_breaker_try_acquire(&b, T0 + S(i)));
			assert_true(b.last_failure_us == T0 + S(i));
		}
		orch_breaker_record_failure(&b, T0 + S(n));
		assert_int_equal(b.state, ORCH_BREAKER_OPEN);
		assert_int_equal(b.failure_count, n);
		assert_true(b.opened_at_us == T0 + S(n));
		assert_false(orch_breaker_try_acquire(&b, T0 + S(n)));
	}
}

/* Failures must be consecutive: a success in between starts over. */
static void
test_success_resets_count(void **state)
{
	orch_breaker b;

	(void) state;
	orch_breaker_init(&b, 3, 60);
	orch_breaker_record_failure(&b, T0);
	orch_breaker_record_failure(&b, T0 + 1);
	orch_breaker_record_success(&b, T0 + 2);
	assert_int_equal(b.failure_count, 0);
	assert_true(b.last_success_us == T0 + 2);
	assert_true(b.last_failure_us == T0 + 1);
	orch_breaker_record_failure(&b, T0 + 3);
	orch_breaker_record_failure(&b, T0 + 4);
	assert_int_equal(b.state, ORCH_BREAKER_CLOSED);
	assert_int_equal(b.failure_count, 2);
	orch_breaker_record_failure(&b, T0 + 5);
	assert_int_equal(b.state, ORCH_BREAKER_OPEN);
}

/* Open refuses until the timeout; state_at reads half_open from then on
 * without changing the stored state. */
static void
test_open_until_timeout(void **state)
{
	static const struct {
		int64_t at;
		orch_breaker_state want;
	} rows[] = {
	    {T0, ORCH_BREAKER_OPEN}, {T0 + S(1), ORCH_BREAKER_OPEN},
	    {T0 + S(30) - 1, ORCH_BREAKER_OPEN},
	    {T0 + S(30), ORCH_BREAKER_HALF_OPEN},
	    {T0 + S(3000), ORCH_BREAKER_HALF_OPEN},
	    {T0 - S(5), ORCH_BREAKER_OPEN}, /* clock went back */
	};
	orch_breaker b;

	(void) state;
	open_at_t0(&b, 2, 30);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(
		    orch_breaker_state_at(&b, rows[i].at), rows[i].want);
		assert_int_equal(b.state, ORCH_BREAKER_OPEN); /* not mutated */
	}
	assert_false(orch_breaker_try_acquire(&b, T0));
	assert_false(orch_breaker_try_acquire(&b, T0 + S(30) - 1));
	assert_int_equal(b.state, ORCH_BREAKER_OPEN);
	assert_false(b.trial_in_flight);
	assert_true(orch_breaker_try_acquire(&b, T0 + S(30)));
	assert_int_equal(b.state, ORCH_BREAKER_HALF_OPEN);
	assert_int_equal(
	    orch_breaker_state_at(&b, T0 + S(30)), ORCH_BREAKER_HALF_OPEN);
}

/* Exactly one trial at a time in half-open. */
static void
test_one_trial(void **state)
{
	orch_breaker b;

	(void) state;
	open_at_t0(&b, 1, 10);
	assert_true(orch_breaker_try_acquire(&b, T0 + S(10)));
	assert_true(b.trial_in_flight);
	for (int i = 0; i < 5; i++)
		assert_false(orch_breaker_try_acquire(&b, T0 + S(11 + i)));
	assert_int_equal(b.state, ORCH_BREAKER_HALF_OPEN);
	assert_true(b.trial_in_flight);
}

static void
test_trial_success_closes(void **state)
{
	orch_breaker b;

	(void) state;
	open_at_t0(&b, 3, 10);
	assert_true(orch_breaker_try_acquire(&b, T0 + S(12)));
	orch_breaker_record_success(&b, T0 + S(13));
	assert_int_equal(b.state, ORCH_BREAKER_CLOSED);
	assert_int_equal(b.failure_count, 0);
	assert_false(b.trial_in_flight);
	assert_true(b.last_success_us == T0 + S(13));
	assert_int_equal(
	    orch_breaker_state_at(&b, T0 + S(13)), ORCH_BREAKER_CLOSED);
	/* Closed again: everyone may go, and it takes the full threshold to
	 * reopen. */
	assert_true(orch_breaker_try_acquire(&b, T0 + S(14)));
	assert_true(orch_breaker_try_acquire(&b, T0 + S(14)));
	orch_breaker_record_failure(&b, T0 + S(15));
	orch_breaker_record_failure(&b, T0 + S(15));
	assert_int_equal(b.state, ORCH_BREAKER_CLOSED);
}

/* A failed trial reopens with a fresh timeout counted from the failure,
 * not from the first opening. */
static void
test_trial_failure_reopens(void **state)
{
	orch_breaker b;
	const int64_t fail_at = T0 + S(25);

	(void) state;
	open_at_t0(&b, 2, 10);
	assert_true(orch_breaker_try_acquire(&b, T0 + S(20)));
	orch_breaker_record_failure(&b, fail_at);
	assert_int_equal(b.state, ORCH_BREAKER_OPEN);
	assert_false(b.trial_in_flight);
	assert_true(b.opened_at_us == fail_at);
	assert_true(b.last_failure_us == fail_at);
	assert_int_equal(b.failure_count, 3);
	/* T0+10 s has long passed, yet it stays open until fail_at+10 s. */
	assert_int_equal(
	    orch_breaker_state_at(&b, fail_at + S(10) - 1), ORCH_BREAKER_OPEN);
	assert_false(orch_breaker_try_acquire(&b, fail_at + S(10) - 1));
	assert_int_equal(orch_breaker_retry_after_s(&b, fail_at), 10);
	assert_int_equal(orch_breaker_state_at(&b, fail_at + S(10)),
	    ORCH_BREAKER_HALF_OPEN);
	assert_true(orch_breaker_try_acquire(&b, fail_at + S(10)));
	assert_false(orch_breaker_try_acquire(&b, fail_at + S(10)));
}

/* A trial that ends neither way gives the slot back, and only the slot:
 * the breaker stays half-open. */
static void
test_release_frees_trial(void **state)
{
	orch_breaker b;

	(void) state;
	open_at_t0(&b, 1, 10);
	assert_true(orch_breaker_try_acquire(&b, T0 + S(10)));
	assert_false(orch_breaker_try_acquire(&b, T0 + S(10)));
	orch_breaker_release(&b);
	assert_false(b.trial_in_flight);
	assert_int_equal(b.state, ORCH_BREAKER_HALF_OPEN);
	assert_int_equal(b.failure_count, 1);
	assert_true(orch_breaker_try_acquire(&b, T0 + S(11)));
	assert_false(orch_breaker_try_acquire(&b, T0 + S(11)));
}

/* Reset closes from any state, keeps the history times. */
static void
test_reset(void **state)
{
	orch_breaker b;

	(void) state;
	/* from open */
	open_at_t0(&b, 2, 300);
	b.last_success_us = T0 - S(1);
	orch_breaker_reset(&b);
	assert_int_equal(b.state, ORCH_BREAKER_CLOSED);
	assert_int_equal(b.failure_count, 0);
	assert_false(b.trial_in_flight);
	assert_true(b.last_failure_us == T0);
	assert_true(b.last_success_us == T0 - S(1));
	assert_true(orch_breaker_try_acquire(&b, T0 + S(1)));
	assert_int_equal(orch_breaker_retry_after_s(&b, T0 + S(1)), 0);
	orch_breaker_record_failure(&b, T0 + S(2));
	assert_int_equal(b.state, ORCH_BREAKER_CLOSED); /* count restarted */

	/* from half-open with a trial running */
	open_at_t0(&b, 1, 5);
	assert_true(orch_breaker_try_acquire(&b, T0 + S(5)));
	orch_breaker_reset(&b);
	assert_int_equal(b.state, ORCH_BREAKER_CLOSED);
	assert_false(b.trial_in_flight);
	assert_true(orch_breaker_try_acquire(&b, T0 + S(5)));
	assert_true(orch_breaker_try_acquire(&b, T0 + S(5)));
}

/* retry_after: whole seconds rounded up, counting down to 0 at the
 * timeout; 0 when closed or half-open. */
static void
test_retry_after(void **state)
{
	static const struct {
		int64_t at;
		int64_t want;
	} rows[] = {
	    {T0, 60}, {T0 + 1, 60}, {T0 + S(1), 59}, {T0 + S(59), 1},
	    {T0 + S(60) - 1, 1}, {T0 + S(60), 0}, {T0 + S(600), 0},
	    {T0 - S(100), 60}, /* clock went back: never beyond the timeout */
	};
	orch_breaker b;

	(void) state;
	orch_breaker_init(&b, 1, 60);
	assert_int_equal(orch_breaker_retry_after_s(&b, T0), 0); /* closed */
	orch_breaker_record_failure(&b, T0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(
		    orch_breaker_retry_after_s(&b, rows[i].at), rows[i].want);
	assert_true(orch_breaker_try_acquire(&b, T0 + S(60)));
	assert_int_equal(orch_breaker_retry_after_s(&b, T0 + S(60)), 0);
}

/* A clock stepped far back while open must not hold the breaker open for
 * longer than the timeout from the next acquire attempt. */
static void
test_clock_backwards(void **state)
{
	orch_breaker b;
	const int64_t back = T0 - S(3600);

	(void) state;
	open_at_t0(&b, 1, 10);
	assert_false(orch_breaker_try_acquire(&b, back));
	assert_false(orch_breaker_try_acquire(&b, back + S(10) - 1));
	assert_true(orch_breaker_try_acquire(&b, back + S(10)));
}

/* Odd cases the header documents: outcomes recorded while OPEN. */
static void
test_outcomes_while_open(void **state)
{
	orch_breaker b;

	(void) state;
	open_at_t0(&b, 2, 10);
	orch_breaker_record_success(&b, T0 + S(1));
	assert_int_equal(b.state, ORCH_BREAKER_OPEN);
	assert_true(b.last_success_us == T0 + S(1));
	orch_breaker_record_failure(&b, T0 + S(5));
	assert_int_equal(b.state, ORCH_BREAKER_OPEN);
	assert_int_equal(b.failure_count, 3);
	assert_true(b.opened_at_us == T0); /* timeout not extended */
	assert_true(orch_breaker_try_acquire(&b, T0 + S(10)));
}

static void
test_names(void **state)
{
	static const struct {
		orch_breaker_state s;
		const char *name;
	} rows[] = {
	    {ORCH_BREAKER_CLOSED, "closed"},
	    {ORCH_BREAKER_OPEN, "open"},
	    {ORCH_BREAKER_HALF_OPEN, "half_open"},
	    {(orch_breaker_state) 42, "unknown"},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_string_equal(
		    orch_breaker_state_name(rows[i].s), rows[i].name);
}

/* The instants the clock alone changes what a breaker reads. */
static void
test_next_change(void **state)
{
	orch_breaker b;

	(void) state;
	orch_breaker_init(&b, 1, 3);
	assert_true(orch_breaker_next_change_us(&b, T0) == INT64_MAX);
	orch_breaker_record_failure(&b, T0);
	assert_int_equal(b.state, ORCH_BREAKER_OPEN);
	/* 3 s left: the ETA reads 3 until 2 s are left. */
	assert_true(orch_breaker_retry_after_s(&b, T0) == 3);
	assert_true(orch_breaker_next_change_us(&b, T0) == T0 + S(1));
	/* 2.5 s left: it reads 3 until 2 s are left, half a second on. */
	assert_true(
	    orch_breaker_next_change_us(&b, T0 + S(1) / 2) == T0 + S(1));
	assert_true(orch_breaker_retry_after_s(&b, T0 + S(1) - 1) == 3);
	assert_true(orch_breaker_retry_after_s(&b, T0 + S(1)) == 2);
	/* The last second ends with the flip to half-open. */
	assert_true(orch_breaker_next_change_us(&b, T0 + S(2)) == T0 + S(3));
	assert_int_equal(
	    orch_breaker_state_at(&b, T0 + S(3) - 1), ORCH_BREAKER_OPEN);
	assert_int_equal(
	    orch_breaker_state_at(&b, T0 + S(3)), ORCH_BREAKER_HALF_OPEN);
	assert_true(orch_breaker_next_change_us(&b, T0 + S(3)) == INT64_MAX);
	/* A clock stepped back counts no time as elapsed. */
	assert_true(
	    orch_breaker_next_change_us(&b, T0 - S(10)) == T0 - S(10) + S(1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init),
	    cmocka_unit_test(test_threshold_exact),
	    cmocka_unit_test(test_success_resets_count),
	    cmocka_unit_test(test_open_until_timeout),
	    cmocka_unit_test(test_one_trial),
	    cmocka_unit_test(test_trial_success_closes),
	    cmocka_unit_test(test_trial_failure_reopens),
	    cmocka_unit_test(test_release_frees_trial),
	    cmocka_unit_test(test_reset),
	    cmocka_unit_test(test_retry_after),
	    cmocka_unit_test(test_next_change),
	    cmocka_unit_test(test_clock_backwards),
	    cmocka_unit_test(test_outcomes_while_open),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
