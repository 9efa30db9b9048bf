/*
 * orch_ports: allocation order (round-robin, wrap), exhaustion, the probe
 * (refused ports skipped but left free), adoption by reserve, the error
 * codes of every misuse, no leak over many cycles, and the default
 * PORT_RANGE_HOST range at full size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "src/core/ports.h"

static void
init_ok(orch_ports *p, int lo, int hi)
{
	assert_int_equal(orch_ports_init(p, lo, hi), ORCH_OK);
	assert_int_equal(orch_ports_capacity(p), hi - lo + 1);
	assert_int_equal(orch_ports_used(p), 0);
}

static int
alloc_ok(orch_ports *p)
{
	int port = -1;

	assert_int_equal(orch_ports_alloc(p, NULL, NULL, &port), ORCH_OK);
	assert_true(orch_ports_in_use(p, port));
	return port;
}

static void
test_alloc_all_then_exhausted(void **state)
{
	orch_ports p;
	int port, i;

	(void) state;
	init_ok(&p, 100, 104);
	for (i = 0; i < 5; i++) {
		assert_int_equal(alloc_ok(&p), 100 + i);
		assert_int_equal(orch_ports_used(&p), i + 1);
	}
	port = 4242;
	assert_int_equal(
	    orch_ports_alloc(&p, NULL, NULL, &port), ORCH_EEXHAUSTED);
	assert_int_equal(port, 4242); /* untouched on failure */
	assert_int_equal(orch_ports_used(&p), 5);
	assert_int_equal(orch_ports_alloc(&p, NULL, NULL, NULL), ORCH_EINVAL);
	orch_ports_fini(&p);
}

static void
test_release_then_alloc(void **state)
{
	orch_ports p;
	int i;

	(void) state;
	init_ok(&p, 100, 104);
	for (i = 0; i < 5; i++)
		alloc_ok(&p);
	assert_int_equal(orch_ports_release(&p, 102), ORCH_OK);
	assert_false(orch_ports_in_use(&p, 102));
	assert_int_equal(orch_ports_used(&p), 4);
	assert_int_equal(alloc_ok(&p), 102);
	assert_int_equal(orch_ports_used(&p), 5);
	orch_ports_fini(&p);
}

static void
test_round_robin(void **state)
{
	orch_ports p;

	(void) state;
	init_ok(&p, 100, 104);
	/* A just-released port is not handed out again at once. */
	assert_int_equal(alloc_ok(&p), 100);
	assert_int_equal(orch_ports_release(&p, 100), ORCH_OK);
	assert_int_equal(alloc_ok(&p), 101);
	assert_int_equal(orch_ports_release(&p, 101), ORCH_OK);
	assert_int_equal(alloc_ok(&p), 102);
	assert_int_equal(alloc_ok(&p), 103);
	assert_int_equal(alloc_ok(&p), 104);
	/* Wraps to the start of the range. */
	assert_int_equal(alloc_ok(&p), 100);
	assert_int_equal(alloc_ok(&p), 101);
	/* Full, then one released in the middle: that one comes next. */
	assert_int_equal(orch_ports_release(&p, 103), ORCH_OK);
	assert_int_equal(alloc_ok(&p), 103);
	/* The search continues after 103, over used ports, wrapping. */
	assert_int_equal(orch_ports_release(&p, 101), ORCH_OK);
	assert_int_equal(orch_ports_release(&p, 104), ORCH_OK);
	assert_int_equal(alloc_ok(&p), 104);
	assert_int_equal(alloc_ok(&p), 101);
	orch_ports_fini(&p);
}

struct probe_log {
	int calls;
	int last;
};

static bool
refuse_even(void *arg, int port)
{
	struct probe_log *log = arg;

	log->calls++;
	log->last = port;
	return port % 2 != 0;
}

static bool
refuse_all(void *arg, int port)
{
	int *calls = arg;

	(void) port;
	(*calls)++;
	return false;
}

static void
test_probe_skips(void **state)
{
	orch_ports p;
	struct probe_log log = {0, 0};
	int port, i;

	(void) state;
	init_ok(&p, 100, 109);
	for (i = 0; i < 5; i++) {
		assert_int_equal(
		    orch_ports_alloc(&p, refuse_even, &log, &port), ORCH_OK);
		assert_int_equal(port, 101 + 2 * i);
		assert_int_equal(log.last, port); /* arg passed through */
	}
	assert_int_equal(orch_ports_used(&p), 5);
	/* Only even ports left: the probe refuses them all. */
	log.calls = 0;
	port = -7;
	assert_int_equal(
	    orch_ports_alloc(&p, refuse_even, &log, &port), ORCH_EEXHAUSTED);
	assert_int_equal(port, -7);
	assert_int_equal(log.calls, 5); /* each free port probed once */
	/* Refused ports stayed free. */
	for (i = 100; i <= 108; i += 2)
		assert_false(orch_ports_in_use(&p, i));
	assert_int_equal(orch_ports_used(&p), 5);
	/* Without the probe they are allocatable; the search wrapped. */
	assert_int_equal(alloc_ok(&p), 100);
	assert_int_equal(alloc_ok(&p), 102);
	orch_ports_fini(&p);
}

static void
test_probe_refuses_all(void **state)
{
	orch_ports p;
	int calls = 0, port;

	(void) state;
	init_ok(&p, 2000, 2009);
	assert_int_equal(
	    orch_ports_alloc(&p, refuse_all, &calls, &port), ORCH_EEXHAUSTED);
	assert_int_equal(calls, 10);
	assert_int_equal(orch_ports_used(&p), 0);
	/* A full pool is exhausted without asking the probe. */
	while (orch_ports_used(&p) < 10)
		alloc_ok(&p);
	calls = 0;
	assert_int_equal(
	    orch_ports_alloc(&p, refuse_all, &calls, &port), ORCH_EEXHAUSTED);
	assert_int_equal(calls, 0);
	orch_ports_fini(&p);
}

static void
test_reserve_then_alloc_skips(void **state)
{
	orch_ports p;

	(void) state;
	init_ok(&p, 100, 104);
	assert_int_equal(orch_ports_reserve(&p, 101), ORCH_OK);
	assert_int_equal(orch_ports_reserve(&p, 104), ORCH_OK);
	assert_true(orch_ports_in_use(&p, 101));
	assert_int_equal(orch_ports_used(&p), 2);
	assert_int_equal(alloc_ok(&p), 100);
	assert_int_equal(alloc_ok(&p), 102);
	assert_int_equal(alloc_ok(&p), 103);
	assert_int_equal(
	    orch_ports_alloc(&p, NULL, NULL, &(int){0}), ORCH_EEXHAUSTED);
	/* An adopted port is released like any other. */
	assert_int_equal(orch_ports_release(&p, 101), ORCH_OK);
	assert_int_equal(alloc_ok(&p), 101);
	orch_ports_fini(&p);
}

static void
test_double_reserve(void **state)
{
	orch_ports p;
	int port;

	(void) state;
	init_ok(&p, 100, 104);
	assert_int_equal(orch_ports_reserve(&p, 103), ORCH_OK);
	assert_int_equal(orch_ports_reserve(&p, 103), ORCH_EEXIST);
	assert_int_equal(orch_ports_used(&p), 1);
	port = alloc_ok(&p);
	assert_int_equal(orch_ports_reserve(&p, port), ORCH_EEXIST);
	assert_int_equal(orch_ports_used(&p), 2);
	orch_ports_fini(&p);
}

static void
test_release_unused(void **state)
{
	orch_ports p;
	int port;

	(void) state;
	init_ok(&p, 100, 104);
	assert_int_equal(orch_ports_release(&p, 100), ORCH_ENOTFOUND);
	port = alloc_ok(&p);
	assert_int_equal(orch_ports_release(&p, port), ORCH_OK);
	assert_int_equal(orch_ports_release(&p, port), ORCH_ENOTFOUND);
	assert_int_equal(orch_ports_used(&p), 0);
	orch_ports_fini(&p);
}

static void
test_out_of_range(void **state)
{
	orch_ports p;
	static const int bad[] = {99, 105, 0, -1, 65536};
	size_t i;

	(void) state;
	init_ok(&p, 100, 104);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(orch_ports_reserve(&p, bad[i]), ORCH_ERANGE);
		assert_int_equal(orch_ports_release(&p, bad[i]), ORCH_ERANGE);
		assert_false(orch_ports_in_use(&p, bad[i]));
	}
	assert_int_equal(orch_ports_used(&p), 0);
	/* The edges are inside. */
	assert_int_equal(orch_ports_reserve(&p, 100), ORCH_OK);
	assert_int_equal(orch_ports_reserve(&p, 104), ORCH_OK);
	assert_int_equal(orch_ports_release(&p, 104), ORCH_OK);
	orch_ports_fini(&p);
}

static void
test_bad_range(void **state)
{
	static const int bad[][2] = {
	    {200, 100},
	    {0, 10},
	    {-5, 10},
	    {1, 65536},
	    {65536, 65536},
	    {0, 0},
	};
	orch_ports p;
	size_t i;

	(void) state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&p, 0xa5, sizeof(p));
		assert_int_equal(
		    orch_ports_init(&p, bad[i][0], bad[i][1]), ORCH_EINVAL);
		assert_null(p.bits);
		orch_ports_fini(&p); /* a no-op on a failed init */
	}
	assert_int_equal(orch_ports_init(NULL, 1, 2), ORCH_EINVAL);
	/* The widest and narrowest valid ranges. */
	init_ok(&p, 1, 65535);
	assert_int_equal(orch_ports_reserve(&p, 65535), ORCH_OK);
	assert_int_equal(alloc_ok(&p), 1);
	orch_ports_fini(&p);
	orch_ports_fini(&p); /* idempotent */
	init_ok(&p, 65535, 65535);
	assert_int_equal(alloc_ok(&p), 65535);
	assert_int_equal(
	    orch_ports_alloc(&p, NULL, NULL, &(int){0}), ORCH_EEXHAUSTED);
	orch_ports_fini(&p);
}

static void
test_no_leak_cycles(void **state)
{
	enum { LO = 30000, HI = 30069, N = HI - LO + 1, HOLD = 7 };
	orch_ports p;
	int held[HOLD];
	bool seen[N];
	int i, k, port;

	(void) state;
	init_ok(&p, LO, HI);
	/* Keep HOLD ports out at all times, cycling the rest. */
	for (k = 0; k < HOLD; k++)
		held[k] = alloc_ok(&p);
	for (i = 0; i < 10000; i++) {
		k = i % HOLD;
		assert_int_equal(orch_ports_release(&p, held[k]), ORCH_OK);
		held[k] = alloc_ok(&p);
		assert_int_equal(orch_ports_used(&p), HOLD);
	}
	for (k = 0; k < HOLD; k++)
		assert_int_equal(orch_ports_release(&p, held[k]), ORCH_OK);
	assert_int_equal(orch_ports_used(&p), 0);
	for (port = LO; port <= HI; port++)
		assert_false(orch_ports_in_use(&p, port));
	/* Every port allocatable again, each exactly once. */
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < N; i++) {
		port = alloc_ok(&p);
		assert_in_range(port, LO, HI);
		assert_false(seen[port - LO]);
		seen[port - LO] = true;
	}
	assert_int_equal(
	    orch_ports_alloc(&p, NULL, NULL, &port), ORCH_EEXHAUSTED);
	orch_ports_fini(&p);
}

static void
test_default_host_range(void **state)
{
	orch_ports p;
	static bool seen[1000];
	int i, port;

	(void) state;
	init_ok(&p, 19000, 19999);
	assert_int_equal(orch_ports_capacity(&p), 1000);
	for (i = 0; i < 1000; i++) {
		port = alloc_ok(&p);
		assert_int_equal(port, 19000 + i);
		assert_false(seen[port - 19000]);
		seen[port - 19000] = true;
	}
	assert_int_equal(orch_ports_used(&p), 1000);
	assert_int_equal(
	    orch_ports_alloc(&p, NULL, NULL, &port), ORCH_EEXHAUSTED);
	assert_int_equal(orch_ports_reserve(&p, 19999), ORCH_EEXIST);
	assert_int_equal(orch_ports_reserve(&p, 20000), ORCH_ERANGE);
	for (i = 19000; i <= 19999; i++)
		assert_int_equal(orch_ports_release(&p, i), ORCH_OK);
	assert_int_equal(orch_ports_used(&p), 0);
	/* The round-robin position wrapped to the start. */
	assert_int_equal(alloc_ok(&p), 19000);
	orch_ports_fini(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alloc_all_then_exhausted),
	    cmocka_unit_test(test_release_then_alloc),
	    cmocka_unit_test(test_round_robin),
	    cmocka_unit_test(test_probe_skips),
	    cmocka_unit_test(test_probe_refuses_all),
	    cmocka_unit_test(test_reserve_then_alloc_skips),
	    cmocka_unit_test(test_double_reserve),
	    cmocka_unit_test(test_release_unused),
	    cmocka_unit_test(test_out_of_range),
	    cmocka_unit_test(test_bad_range),
	    cmocka_unit_test(test_no_leak_cycles),
	    cmocka_unit_test(test_default_host_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
