/*
 * orch_strmap: put/get/replace/del, getn with keys that are not
 * NUL-terminated, growth, 100,000 inserts followed by deletions of random
 * subsets checked against a reference presence table, and backward-shift
 * deletion over probe runs built from keys that collide on purpose (the
 * runs wrap around the end of the slot array). After every deletion the
 * probe invariant is checked: no empty slot between an entry's home slot
 * and the slot it sits in.
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

#include "src/base/strmap.h"

/* splitmix64: a fixed-seed generator, so a failure reproduces. */
static uint64_t
rnd_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * The structural invariant of linear probing without tombstones: every
 * entry is reachable from its home slot, i.e. no empty slot lies
 * cyclically in [home, pos). Also checks len against the occupied slots
 * and that each entry is found by a lookup.
 */
static void
check_invariant(const orch_strmap *m)
{
	size_t occupied = 0;

	if (m->cap == 0) {
		assert_int_equal(m->len, 0);
		return;
	}
	assert_int_equal(m->cap & (m->cap - 1), 0); /* power of two */
	for (size_t pos = 0; pos < m->cap; pos++) {
		const orch_strmap_slot *s = &m->slots[pos];
		size_t mask = m->cap - 1;

		if (s->key == NULL)
			continue;
		occupied++;
		for (size_t i = s->hash & mask; i != pos; i = (i + 1) & mask)
			assert_non_null(m->slots[i].key);
		assert_ptr_equal(orch_strmap_get(m, s->key), s->val);
	}
	assert_int_equal(occupied, m->len);
	/* Grown at 3/4 load: never fuller than that. */
	assert_true(m->len * 4 <= m->cap * 3);
}

static void
test_empty_map(void **state)
{
	orch_strmap m;

	(void) state;
	orch_strmap_init(&m);
	assert_int_equal(orch_strmap_len(&m), 0);
	assert_null(orch_strmap_get(&m, "x"));
	assert_null(orch_strmap_get(&m, NULL));
	assert_null(orch_strmap_getn(&m, "x", 1));
	assert_null(orch_strmap_getn(&m, NULL, 0));
	assert_null(orch_strmap_del(&m, "x"));
	assert_null(orch_strmap_del(&m, NULL));
	check_invariant(&m);
	orch_strmap_fini(&m);
	orch_strmap_fini(&m); /* a finalized map is a zeroed, valid map */

	/* A zeroed map is valid without init. */
	{
		orch_strmap z;
		int v = 1;

		memset(&z, 0, sizeof(z));
		assert_int_equal(orch_strmap_put(&z, "k", &v), ORCH_OK);
		assert_ptr_equal(orch_strmap_get(&z, "k"), &v);
		orch_strmap_fini(&z);
	}
}

static void
test_put_get_replace_del(void **state)
{
	orch_strmap m;
	int a = 1, b = 2, c = 3;

	(void) state;
	orch_strmap_init(&m);
	assert_int_equal(orch_strmap_put(&m, "alpha", &a), ORCH_OK);
	assert_int_equal(orch_strmap_put(&m, "beta", &b), ORCH_OK);
	assert_int_equal(orch_strmap_len(&m), 2);
	assert_ptr_equal(orch_strmap_get(&m, "alpha"), &a);
	assert_ptr_equal(orch_strmap_get(&m, "beta"), &b);
	assert_null(orch_strmap_get(&m, "gamma"));
	assert_null(orch_strmap_get(&m, "alph"));   /* prefix */
	assert_null(orch_strmap_get(&m, "alphaa")); /* extension */
	assert_null(orch_strmap_get(&m, ""));

	/* Replace: same length, new value. */
	assert_int_equal(orch_strmap_put(&m, "alpha", &c), ORCH_OK);
	assert_int_equal(orch_strmap_len(&m), 2);
	assert_ptr_equal(orch_strmap_get(&m, "alpha"), &c);

	/* The empty string is a key like any other. */
	assert_int_equal(orch_strmap_put(&m, "", &a), ORCH_OK);
	assert_ptr_equal(orch_strmap_get(&m, ""), &a);
	assert_int_equal(orch_strmap_len(&m), 3);

	assert_ptr_equal(orch_strmap_del(&m, "alpha"), &c);
	assert_null(orch_strmap_get(&m, "alpha"));
	assert_null(orch_strmap_del(&m, "alpha")); /* already gone */
	assert_int_equal(orch_strmap_len(&m), 2);
	assert_ptr_equal(orch_strmap_del(&m, ""), &a);
	assert_ptr_equal(orch_strmap_del(&m, "beta"), &b);
	assert_int_equal(orch_strmap_len(&m), 0);
	check_invariant(&m);

	/* Reusable after emptying. */
	assert_int_equal(orch_strmap_put(&m, "beta", &b), ORCH_OK);
	assert_ptr_equal(orch_strmap_get(&m, "beta"), &b);
	check_invariant(&m);
	orch_strmap_fini(&m);
}

/* A NULL value is stored (get cannot tell it from absent, len can). */
static void
test_null_value(void **state)
{
	orch_strmap m;

	(void) state;
	orch_strmap_init(&m);
	assert_int_equal(orch_strmap_put(&m, "k", NULL), ORCH_OK);
	assert_int_equal(orch_strmap_len(&m), 1);
	assert_null(orch_strmap_get(&m, "k"));
	assert_null(orch_strmap_del(&m, "k"));
	assert_int_equal(orch_strmap_len(&m), 0);
	orch_strmap_fini(&m);
}

/* On replace the stored key pointer becomes the new key: the old buffer may
 * then change or go away. */
static void
test_replace_adopts_new_key_pointer(void **state)
{
	orch_strmap m;
	char *k1 = strdup("engine-1");
	char *k2 = strdup("engine-1");
	int a = 1, b = 2;

	(void) state;
	assert_non_null(k1);
	assert_non_null(k2);
	orch_strmap_init(&m);
	assert_int_equal(orch_strmap_put(&m, k1, &a), ORCH_OK);
	assert_int_equal(orch_strmap_put(&m, k2, &b), ORCH_OK);
	assert_int_equal(orch_strmap_len(&m), 1);
	memset(k1, 'X', strlen(k1)); /* old key buffer no longer matters */
	free(k1);
	assert_ptr_equal(orch_strmap_get(&m, "engine-1"), &b);
	for (size_t i = 0; i < m.cap; i++) {
		if (m.slots[i].key != NULL)
			assert_ptr_equal(m.slots[i].key, k2);
	}
	assert_ptr_equal(orch_strmap_del(&m, "engine-1"), &b);
	free(k2);
	orch_strmap_fini(&m);
}

/* getn: the key is a slice of a larger buffer, with no NUL after it. */
static void
test_getn_unterminated(void **state)
{
	static const struct {
		const char *buf; /* the slice is buf[off, off+len) */
		size_t off;
		size_t len;
		int want; /* index into vals, -1 = absent */
	} cases[] = {
	    {"host:19000|rest", 0, 10, 0}, /* "host:19000" */
	    {"xxhost:19000yy", 2, 10, 0},  /* same, mid-buffer */
	    {"host:19000", 0, 9, -1},      /* "host:1900": a prefix */
	    {"host:190001", 0, 11, -1},    /* longer */
	    {"abcdef", 0, 3, 1},           /* "abc" */
	    {"abcdef", 0, 2, -1},          /* "ab" */
	    {"abcdef", 3, 3, 2},           /* "def" */
	    {"abcdef", 0, 0, 3},           /* "" */
	    {"zzz", 1, 0, 3},              /* "" at another address */
	    {"abd", 0, 3, -1},             /* same length, differs */
	};
	int vals[4];
	orch_strmap m;

	(void) state;
	orch_strmap_init(&m);
	assert_int_equal(orch_strmap_put(&m, "host:19000", &vals[0]), ORCH_OK);
	assert_int_equal(orch_strmap_put(&m, "abc", &vals[1]), ORCH_OK);
	assert_int_equal(orch_strmap_put(&m, "def", &vals[2]), ORCH_OK);
	assert_int_equal(orch_strmap_put(&m, "", &vals[3]), ORCH_OK);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* Copy the slice into an exact-size heap block with no NUL,
		 * so ASan flags any read past the slice. */
		size_t len = cases[i].len;
		char *exact = malloc(len != 0 ? len : 1);
		void *got;

		assert_non_null(exact);
		memcpy(exact, cases[i].buf + cases[i].off, len);
		got = orch_strmap_getn(&m, exact, len);
		if (cases[i].want < 0)
			assert_null(got);
		else
			assert_ptr_equal(got, &vals[cases[i].want]);
		free(exact);
		/* And straight from the larger buffer. */
		got = orch_strmap_getn(&m, cases[i].buf + cases[i].off, len);
		if (cases[i].want < 0)
			assert_null(got);
		else
			assert_ptr_equal(got, &vals[cases[i].want]);
	}
	/* getn and get agree on terminated keys. */
	assert_ptr_equal(
	    orch_strmap_getn(&m, "abc", 3), orch_strmap_get(&m, "abc"));
	orch_strmap_fini(&m);
}

/* Capacity doubles from 16 and stays at or below 3/4 load. */
static void
test_growth(void **state)
{
	enum { N = 1000 };
	static char keys[N][16];
	orch_strmap m;
	size_t last_cap = 0;

	(void) state;
	orch_strmap_init(&m);
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "g%d", i);
		assert_int_equal(
		    orch_strmap_put(&m, keys[i], keys[i]), ORCH_OK);
		assert_true(m.cap == last_cap ||
		            m.cap == (last_cap ? last_cap * 2 : 16));
		last_cap = m.cap;
		assert_true(m.len * 4 <= m.cap * 3);
	}
	assert_int_equal(m.cap, 2048); /* 1000 entries need > 1333 slots */
	check_invariant(&m);
	for (int i = 0; i < N; i++)
		assert_ptr_equal(orch_strmap_get(&m, keys[i]), keys[i]);
	/* A delete never shrinks. */
	for (int i = 0; i < N; i++)
		assert_ptr_equal(orch_strmap_del(&m, keys[i]), keys[i]);
	assert_int_equal(m.cap, 2048);
	assert_int_equal(m.len, 0);
	check_invariant(&m);
	orch_strmap_fini(&m);
}

/*
 * 100,000 keys inserted, then rounds of deleting a random subset and
 * re-inserting another, each checked against `present` (the reference):
 * len, every key's lookup, and the probe invariant at the end of each round.
 */
static void
test_bulk_random_against_reference(void **state)
{
	enum { N = 100000, KEYLEN = 16, ROUNDS = 6 };
	char *keys = malloc((size_t) N * KEYLEN);
	bool *present = calloc(N, sizeof(bool));
	uint32_t *order = malloc(N * sizeof(uint32_t));
	uint64_t seed = 0x5eed0001;
	size_t want_len = 0;
	orch_strmap m;

	(void) state;
	assert_non_null(keys);
	assert_non_null(present);
	assert_non_null(order);
	orch_strmap_init(&m);
	for (uint32_t i = 0; i < N; i++) {
		/* Unique by the counter; the random part varies the hash. */
		snprintf(keys + (size_t) i * KEYLEN, KEYLEN, "k%06u-%04x",
		    (unsigned) i, (unsigned) (rnd_next(&seed) & 0xffffu));
	}
	for (uint32_t i = 0; i < N; i++) {
		assert_int_equal(orch_strmap_put(&m,
		                     keys + (size_t) i * KEYLEN, &present[i]),
		    ORCH_OK);
		present[i] = true;
		want_len++;
	}
	assert_int_equal(orch_strmap_len(&m), N);
	check_invariant(&m);
	for (uint32_t i = 0; i < N; i++)
		assert_ptr_equal(
		    orch_strmap_get(&m, keys + (size_t) i * KEYLEN),
		    &present[i]);

	for (int round = 0; round < ROUNDS; round++) {
		/* Random permutation; delete a random-sized prefix of it. */
		size_t ndel = (size_t) (rnd_next(&seed) % N);

		for (uint32_t i = 0; i < N; i++)
			order[i] = i;
		for (uint32_t i = N - 1; i > 0; i--) {
			uint32_t j = (uint32_t) (rnd_next(&seed) % (i + 1));
			uint32_t t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
		for (size_t k = 0; k < ndel; k++) {
			uint32_t i = order[k];
			void *got =
			    orch_strmap_del(&m, keys + (size_t) i * KEYLEN);

			if (present[i]) {
				assert_ptr_equal(got, &present[i]);
				present[i] = false;
				want_len--;
			} else {
				assert_null(got);
			}
		}
		assert_int_equal(orch_strmap_len(&m), want_len);
		for (uint32_t i = 0; i < N; i++) {
			void *got =
			    orch_strmap_get(&m, keys + (size_t) i * KEYLEN);

			if (present[i])
				assert_ptr_equal(got, &present[i]);
			else
				assert_null(got);
		}
		check_invariant(&m);
		/* Re-insert a random subset (some present: replaces). */
		for (uint32_t k = 0; k < N / 4; k++) {
			uint32_t i = (uint32_t) (rnd_next(&seed) % N);

			assert_int_equal(
			    orch_strmap_put(
			        &m, keys + (size_t) i * KEYLEN, &present[i]),
			    ORCH_OK);
			if (!present[i]) {
				present[i] = true;
				want_len++;
			}
		}
		assert_int_equal(orch_strmap_len(&m), want_len);
	}
	/* Finally delete everything that is left. */
	for (uint32_t i = 0; i < N; i++) {
		void *got = orch_strmap_del(&m, keys + (size_t) i * KEYLEN);

		if (present[i])
			assert_ptr_equal(got, &present[i]);
		else
			assert_null(got);
	}
	assert_int_equal(orch_strmap_len(&m), 0);
	check_invariant(&m);
	orch_strmap_fini(&m);
	free(order);
	free(present);
	free(keys);
}

/* ---- colliding probe runs --------------------------------------------- */

enum { CAP16 = 16, POOL = 4000 };

/* The hash the map stores for key, read back from a scratch map (so the test
 * follows the implementation's hash, whatever it is). */
static uint64_t
stored_hash(const char *key)
{
	orch_strmap m;
	uint64_t h = 0;
	int found = 0;

	orch_strmap_init(&m);
	assert_int_equal(orch_strmap_put(&m, key, (void *) key), ORCH_OK);
	for (size_t i = 0; i < m.cap; i++) {
		if (m.slots[i].key == key) {
			h = m.slots[i].hash;
			found++;
		}
	}
	assert_int_equal(found, 1);
	orch_strmap_fini(&m);
	return h;
}

/* Entries not in their home slot. */
static size_t
displaced(const orch_strmap *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->cap; i++) {
		if (m->slots[i].key != NULL &&
		    (m->slots[i].hash & (m->cap - 1)) != i)
			n++;
	}
	return n;
}

/* Keys grouped by their home slot in a 16-slot table. */
typedef struct home_pool {
	char keys[POOL][12];
	int home[POOL];
} home_pool;

static void
pool_build(home_pool *p)
{
	for (int i = 0; i < POOL; i++) {
		snprintf(p->keys[i], sizeof(p->keys[i]), "c%d", i);
		p->home[i] = (int) (stored_hash(p->keys[i]) & (CAP16 - 1));
	}
}

/* The next unused key whose home slot is h. */
static const char *
pool_take(home_pool *p, bool *used, int h)
{
	for (int i = 0; i < POOL; i++) {
		if (!used[i] && p->home[i] == h) {
			used[i] = true;
			return p->keys[i];
		}
	}
	fail_msg("no key with home slot %d", h);
	return NULL;
}

/*
 * Each scenario lists the home slots of up to 12 keys (the map stays at 16
 * slots) in insertion order and a deletion order (indexes into the keys).
 * Homes 14/15 with several keys make runs that wrap to slots 0, 1, ...
 * After every deletion: the deleted key is gone, every other remaining key
 * is found with its value, and the probe invariant holds.
 */
static void
test_backward_shift_colliding_runs(void **state)
{
	static const struct {
		const char *name;
		int n;
		int homes[12];
		int del[12];
	} cases[] = {
	    {"one run, delete head first", 5, {3, 3, 3, 3, 3},
	        {0, 1, 2, 3, 4}},
	    {"one run, delete tail first", 5, {3, 3, 3, 3, 3},
	        {4, 3, 2, 1, 0}},
	    {"one run, delete middle", 5, {3, 3, 3, 3, 3}, {2, 0, 4, 1, 3}},
	    {"two homes interleaved", 6, {5, 6, 5, 6, 5, 6},
	        {0, 2, 1, 4, 3, 5}},
	    {"later home must not move before its home", 6, {4, 4, 6, 6, 4, 7},
	        {1, 0, 3, 2, 4, 5}},
	    {"wrap around the end", 8, {14, 14, 15, 14, 15, 0, 14, 1},
	        {0, 3, 1, 6, 2, 4, 5, 7}},
	    {"wrap, delete the wrapped part first", 8,
	        {15, 15, 15, 15, 0, 0, 1, 2}, {3, 2, 5, 4, 0, 1, 7, 6}},
	    {"wrap, entry at home 0 behind wrapped ones", 7,
	        {14, 14, 14, 14, 0, 1, 0}, {0, 4, 1, 5, 2, 6, 3}},
	    {"adjacent runs merge", 10, {2, 2, 2, 4, 4, 4, 5, 5, 9, 9},
	        {0, 3, 6, 1, 8, 4, 2, 7, 5, 9}},
	    {"full to 12", 12, {13, 13, 13, 13, 14, 14, 15, 15, 0, 0, 1, 12},
	        {11, 0, 8, 4, 1, 6, 10, 2, 9, 3, 5, 7}},
	};
	home_pool *pool = malloc(sizeof(*pool));

	(void) state;
	assert_non_null(pool);
	pool_build(pool);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		bool used[POOL] = {false};
		const char *keys[12];
		bool alive[12];
		int vals[12];
		orch_strmap m;

		orch_strmap_init(&m);
		for (int i = 0; i < cases[c].n; i++) {
			keys[i] = pool_take(pool, used, cases[c].homes[i]);
			alive[i] = true;
			assert_int_equal(
			    orch_strmap_put(&m, keys[i], &vals[i]), ORCH_OK);
		}
		assert_int_equal(m.cap, CAP16);
		/* The scenario really collides: entries sit off their home. */
		assert_true(displaced(&m) > 0);
		check_invariant(&m);
		for (int d = 0; d < cases[c].n; d++) {
			int k = cases[c].del[d];

			if (orch_strmap_del(&m, keys[k]) != &vals[k])
				fail_msg(
				    "%s: delete %d returned the wrong value",
				    cases[c].name, k);
			alive[k] = false;
			assert_int_equal(m.cap, CAP16);
			check_invariant(&m);
			for (int i = 0; i < cases[c].n; i++) {
				void *got = orch_strmap_get(&m, keys[i]);

				if (got != (alive[i] ? &vals[i] : NULL))
					fail_msg(
					    "%s: after deleting %d, key %d "
					    "lookup wrong",
					    cases[c].name, k, i);
			}
		}
		assert_int_equal(m.len, 0);
		for (int i = 0; i < CAP16; i++)
			assert_null(m.slots[i].key);
		orch_strmap_fini(&m);
	}
	free(pool);
}

/*
 * Random insert/delete over a 16-slot map, with keys drawn only from three
 * adjacent home slots (heavy clustering, wrapping at 15 -> 0), checked
 * against a reference after every operation.
 */
static void
test_backward_shift_random_clusters(void **state)
{
	enum { NK = 24 };
	home_pool *pool = malloc(sizeof(*pool));
	uint64_t seed = 42;

	(void) state;
	assert_non_null(pool);
	pool_build(pool);
	for (int trial = 0; trial < 200; trial++) {
		bool used[POOL] = {false};
		const char *keys[NK];
		bool alive[NK] = {false};
		int vals[NK];
		size_t live = 0;
		int base = (int) (rnd_next(&seed) % CAP16);
		orch_strmap m;

		for (int i = 0; i < NK; i++)
			keys[i] = pool_take(pool, used,
			    (base + (int) (rnd_next(&seed) % 3)) % CAP16);
		orch_strmap_init(&m);
		for (int op = 0; op < 300; op++) {
			int k = (int) (rnd_next(&seed) % NK);

			if (!alive[k] && live < 12) {
				assert_int_equal(
				    orch_strmap_put(&m, keys[k], &vals[k]),
				    ORCH_OK);
				alive[k] = true;
				live++;
			} else if (alive[k]) {
				assert_ptr_equal(
				    orch_strmap_del(&m, keys[k]), &vals[k]);
				alive[k] = false;
				live--;
			}
			assert_int_equal(m.len, live);
			assert_true(m.cap <= CAP16);
			for (int i = 0; i < NK; i++)
				assert_ptr_equal(orch_strmap_get(&m, keys[i]),
				    alive[i] ? &vals[i] : NULL);
			check_invariant(&m);
		}
		orch_strmap_fini(&m);
	}
	free(pool);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_map),
	    cmocka_unit_test(test_put_get_replace_del),
	    cmocka_unit_test(test_null_value),
	    cmocka_unit_test(test_replace_adopts_new_key_pointer),
	    cmocka_unit_test(test_getn_unterminated),
	    cmocka_unit_test(test_growth),
	    cmocka_unit_test(test_bulk_random_against_reference),
	    cmocka_unit_test(test_backward_shift_colliding_runs),
	    cmocka_unit_test(test_backward_shift_random_clusters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
