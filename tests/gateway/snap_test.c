/*
 * The pre-rendered bodies (src/gateway/snap.h) alone: a slot answers
 * only for the generation its body was rendered at, a render of an older
 * generation never replaces a newer body, and a reference taken before a
 * replacement keeps the old bytes whole (under ASan a use after free
 * here aborts the test).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <pthread.h>

#include <cmocka.h>

#include "src/base/buf.h"
#include "src/gateway/snap.h"

static orch_snap *
snap_of(uint64_t gen, const char *text)
{
	orch_buf b = ORCH_BUF_INIT;
	orch_snap *s;

	orch_buf_puts(&b, text);
	assert_false(b.oom);
	s = orch_snap_new(gen, &b);
	assert_non_null(s);
	/* The body's memory moved into the snapshot. */
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	orch_buf_fini(&b);
	return s;
}

static void
test_get_matches_generation_only(void **state)
{
	orch_snap_slot sl;
	orch_snap *s, *got;

	(void) state;
	orch_snap_slot_init(&sl);
	assert_null(orch_snap_slot_get(&sl, 1));
	s = snap_of(5, "{\"engines\":5}");
	orch_snap_slot_put(&sl, s);
	orch_snap_unref(s);
	assert_null(orch_snap_slot_get(&sl, 4));
	assert_null(orch_snap_slot_get(&sl, 6));
	got = orch_snap_slot_get(&sl, 5);
	assert_non_null(got);
	assert_int_equal(got->len, strlen("{\"engines\":5}"));
	assert_memory_equal(got->data, "{\"engines\":5}", got->len);
	orch_snap_unref(got);
	assert_int_equal(atomic_load(&sl.hits), 1);
	assert_int_equal(atomic_load(&sl.renders), 1);
	orch_snap_slot_fini(&sl);
}

static void
test_older_render_never_replaces_newer(void **state)
{
	orch_snap_slot sl;
	orch_snap *s;

	(void) state;
	orch_snap_slot_init(&sl);
	s = snap_of(9, "nine");
	orch_snap_slot_put(&sl, s);
	orch_snap_unref(s);
	/* A render that started before a change and finished after it. */
	s = snap_of(8, "eight");
	orch_snap_slot_put(&sl, s);
	orch_snap_unref(s);
	s = orch_snap_slot_get(&sl, 9);
	assert_non_null(s);
	assert_memory_equal(s->data, "nine", 4);
	orch_snap_unref(s);
	assert_null(orch_snap_slot_get(&sl, 8));
	orch_snap_slot_fini(&sl);
}

static void
test_reference_outlives_replacement(void **state)
{
	orch_snap_slot sl;
	orch_snap *s, *held;
	char big[64 * 1024];

	(void) state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	orch_snap_slot_init(&sl);
	s = snap_of(1, big);
	orch_snap_slot_put(&sl, s);
	orch_snap_unref(s);
	held = orch_snap_slot_get(&sl, 1); /* a slow client's response */
	assert_non_null(held);
	for (uint64_t g = 2; g < 10; g++) {
		s = snap_of(g, "new");
		orch_snap_slot_put(&sl, s);
		orch_snap_unref(s);
	}
	orch_snap_slot_fini(&sl); /* the slot's references are gone */
	assert_int_equal(held->len, sizeof(big) - 1);
	for (size_t i = 0; i < held->len; i++)
		assert_int_equal(held->data[i], 'x');
	orch_snap_unref(held); /* the last: frees */
}

/* Readers and a writer on one slot from 16 threads: every body a reader
 * gets is whole and of the generation it asked for. */
#define THREADS 16
#define ROUNDS 20000

typedef struct race {
	orch_snap_slot sl;
	atomic_uint_fast64_t gen;
	atomic_int bad;
	atomic_int hits;
} race;

static void *
race_main(void *arg)
{
	race *r = arg;

	for (int i = 0; i < ROUNDS; i++) {
		uint64_t g = atomic_load(&r->gen);
		orch_snap *s = orch_snap_slot_get(&r->sl, g);
		char want[32];

		if (s == NULL) {
			orch_buf b = ORCH_BUF_INIT;

			if (i % 7 == 0)
				g = atomic_fetch_add(&r->gen, 1) + 1;
			orch_buf_printf(
			    &b, "gen=%llu;", (unsigned long long) g);
			s = orch_snap_new(g, &b);
			orch_buf_fini(&b);
			if (s == NULL) {
				atomic_fetch_add(&r->bad, 1);
				continue;
			}
			orch_snap_slot_put(&r->sl, s);
		} else {
			atomic_fetch_add(&r->hits, 1);
		}
		snprintf(want, sizeof(want), "gen=%llu;",
		    (unsigned long long) s->gen);
		if (s->len != strlen(want) ||
		    memcmp(s->data, want, s->len) != 0)
			atomic_fetch_add(&r->bad, 1);
		orch_snap_unref(s);
	}
	return NULL;
}

static void
test_sixteen_threads(void **state)
{
	race r;
	pthread_t t[THREADS];

	(void) state;
	memset(&r, 0, sizeof(r));
	orch_snap_slot_init(&r.sl);
	atomic_init(&r.gen, 1);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(
		    pthread_create(&t[i], NULL, race_main, &r), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&r.bad), 0);
	/* The slot did serve: not every round rendered. */
	assert_true(atomic_load(&r.hits) > 0);
	orch_snap_slot_fini(&r.sl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_matches_generation_only),
	    cmocka_unit_test(test_older_render_never_replaces_newer),
	    cmocka_unit_test(test_reference_outlives_replacement),
	    cmocka_unit_test(test_sixteen_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
