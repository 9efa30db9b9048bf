/*
 * orch_core over a manual clock: published ports reserved in the pools on
 * engine_put and released on remove (10,000 add/remove cycles leave both
 * pools empty), select with and without a reservation (32-hex ids, the
 * load seen by the next select, expiry after RESERVATION_TTL_S by moving
 * the clock), can_provision from the reported environment, breaker reset
 * by name, and a race: 16 threads selecting with reserve=true on one free
 * slot get exactly one engine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <cmocka.h>

#include "src/core/control.h"
#include "src/core/core.h"
#include "tests/core/fx.h"

#define S(x) ((int64_t) (x) *INT64_C(1000000))
#define T0 S(1700000000)

/* The core's own cases keep nothing beside the shared fixture. */
typedef fx_core fixture;

/* Defaults (ports 19000-19999 and 45000-49999, 1..10 replicas, 1 stream
 * per engine, reservations for 15 s), with max_streams set. */
static fixture *
fixture_new(int max_streams)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_core_config(f, 1, 10);
	f->cfg.max_streams_per_engine = max_streams;
	f->now = T0;
	fx_core_start(f, NULL, NULL);
	return f;
}

static void
fixture_free(fixture *f)
{
	orch_core_fini(&f->core); /* fx_core_fini finis it again: safe */
	fx_core_fini(f);
	free(f);
}

static orch_engine *
put(fixture *f, const char *id, const char *name, int http, int https)
{
	orch_engine_spec sp =
	    fx_spec_ports(id, name, http, https, https, true);
	orch_engine *e = NULL;

	assert_int_equal(
	    orch_core_engine_put_locked(&f->core, &sp, &e), ORCH_OK);
	assert_non_null(e);
	return e;
}

static bool
is_hex32(const char *s)
{
	if (strlen(s) != ORCH_RESERVATION_ID_LEN)
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	}
	return true;
}

/* ---- tests ------------------------------------------------------------ */

static void
test_init_over_manual_clock(void **state)
{
	fixture *f = fixture_new(1);
	orch_refusal r;

	(void) state;
	orch_core_lock(&f->core);
	assert_ptr_equal(f->core.cfg, &f->cfg);
	assert_true(orch_core_now(&f->core) == T0);
	f->now += S(5);
	assert_true(orch_core_now(&f->core) == T0 + S(5));
	assert_int_equal(orch_ports_capacity(&f->core.http_ports), 1000);
	assert_int_equal(orch_ports_capacity(&f->core.https_ports), 5000);
	assert_int_equal(orch_ports_used(&f->core.http_ports), 0);
	assert_int_equal(
	    f->core.general.failure_threshold, f->cfg.cb_failure_threshold);
	assert_int_equal(f->core.replacement.failure_threshold,
	    f->cfg.cb_replacement_threshold);
	assert_int_equal(f->core.state.opts.ended_max, ORCH_CORE_ENDED_MAX);
	assert_int_equal(f->core.state.opts.max_streams_per_engine, 1);
	/* Docker and the image start reported down. */
	assert_false(orch_core_can_provision_locked(&f->core, &r));
	assert_int_equal(r.code, ORCH_REFUSE_DOCKER);
	orch_core_unlock(&f->core);
	fixture_free(f);

	/* opts->ended_max is passed on. */
	{
		orch_config cfg;
		int64_t now = T0;
		orch_core core;
		orch_core_opts o = {.ended_max = 7};

		orch_config_defaults(&cfg);
		assert_int_equal(
		    orch_core_init(&core, &cfg, orch_clock_manual(&now), &o),
		    ORCH_OK);
		assert_int_equal(core.state.opts.ended_max, 7);
		orch_core_fini(&core);
		orch_config_fini(&cfg);
	}
}

static void
test_can_provision_follows_env(void **state)
{
	fixture *f = fixture_new(1);
	orch_refusal r;

	(void) state;
	fx_core_env_up(f);
	orch_core_lock(&f->core);
	assert_true(orch_core_can_provision_locked(&f->core, &r));
	assert_int_equal(r.code, ORCH_REFUSE_NONE);
	/* MAX_REPLICAS engines: refused. */
	for (int i = 0; i < f->cfg.max_replicas; i++) {
		char id[16], name[16];

		snprintf(id, sizeof(id), "c%d", i);
		snprintf(name, sizeof(name), "n%d", i);
		(void) put(f, id, name, 19000 + i, 0);
	}
	assert_false(orch_core_can_provision_locked(&f->core, &r));
	assert_int_equal(r.code, ORCH_REFUSE_MAX);
	/* The general breaker, by the core's clock. */
	for (int i = 0; i < f->cfg.cb_failure_threshold; i++)
		orch_breaker_record_failure(&f->core.general, f->now);
	orch_core_engine_remove_locked(
	    &f->core, orch_state_engine_get(&f->core.state, "c0"), NULL);
	assert_false(orch_core_can_provision_locked(&f->core, &r));
	assert_int_equal(r.code, ORCH_REFUSE_BREAKER);
	assert_int_equal(r.eta_s, f->cfg.cb_recovery_timeout_s);
	f->now += S(f->cfg.cb_recovery_timeout_s);
	assert_true(orch_core_can_provision_locked(&f->core, &r));
	orch_core_unlock(&f->core);
	fixture_free(f);
}

/* Published ports are reserved in the pools on put and released on
 * remove; an update moves them; ports outside the ranges are recorded but
 * not reserved; a refused put reserves nothing. */
static void
test_engine_put_and_remove_track_ports(void **state)
{
	fixture *f = fixture_new(1);
	orch_engine *a, *b, *o;
	orch_engine_spec sp;

	(void) state;
	orch_core_lock(&f->core);
	a = put(f, "aaaa", "acestream-1", 19005, 45005);
	assert_true(orch_ports_in_use(&f->core.http_ports, 19005));
	assert_true(orch_ports_in_use(&f->core.https_ports, 45005));
	assert_int_equal(orch_ports_used(&f->core.http_ports), 1);
	assert_int_equal(orch_ports_used(&f->core.https_ports), 1);
	assert_true(a->first_seen_us == T0);

	/* Re-put with the same ports: still one each. */
	f->now += S(1);
	(void) put(f, "aaaa", "acestream-1", 19005, 45005);
	assert_int_equal(orch_ports_used(&f->core.http_ports), 1);
	assert_int_equal(orch_ports_used(&f->core.https_ports), 1);
	assert_true(a->last_seen_us == T0 + S(1));

	/* Update to other ports: the old ones go back. */
	(void) put(f, "aaaa", "acestream-1", 19006, 45006);
	assert_false(orch_ports_in_use(&f->core.http_ports, 19005));
	assert_false(orch_ports_in_use(&f->core.https_ports, 45005));
	assert_true(orch_ports_in_use(&f->core.http_ports, 19006));
	assert_true(orch_ports_in_use(&f->core.https_ports, 45006));
	assert_int_equal(orch_ports_used(&f->core.http_ports), 1);
	/* Dropping HTTPS releases it. */
	(void) put(f, "aaaa", "acestream-1", 19006, 0);
	assert_int_equal(orch_ports_used(&f->core.https_ports), 0);

	/* A refused put (port held by another engine) reserves nothing. */
	sp = fx_spec_ports("bbbb", "acestream-2", 19006, 45007, 45007, true);
	sp.host = "10.0.0.2";
	o = (orch_engine *) 1;
	assert_int_equal(
	    orch_core_engine_put_locked(&f->core, &sp, &o), ORCH_EEXIST);
	assert_null(o);
	assert_false(orch_ports_in_use(&f->core.https_ports, 45007));
	assert_int_equal(orch_ports_used(&f->core.http_ports), 1);

	/* HTTPS not published (ACE_MAP_HTTPS=false): the engine's HTTPS
	 * port still came from the pool, so it is reserved and released
	 * (this once leaked: only the published port was accounted). */
	sp = fx_spec_ports("cccc", "acestream-3", 19008, 0, 45009, true);
	o = NULL;
	assert_int_equal(
	    orch_core_engine_put_locked(&f->core, &sp, &o), ORCH_OK);
	assert_true(orch_ports_in_use(&f->core.https_ports, 45009));
	orch_core_engine_remove_locked(&f->core, o, NULL);
	assert_false(orch_ports_in_use(&f->core.https_ports, 45009));

	/* Outside the ranges: recorded, not reserved, released harmlessly. */
	b = put(f, "bbbb", "acestream-2", 8080, 443);
	assert_int_equal(b->host_http_port, 8080);
	assert_ptr_equal(
	    orch_state_engine_by_host_port(&f->core.state, 8080), b);
	assert_int_equal(orch_ports_used(&f->core.http_ports), 1);
	assert_int_equal(orch_ports_used(&f->core.https_ports), 0);
	orch_core_engine_remove_locked(&f->core, b, NULL);
	assert_int_equal(orch_ports_used(&f->core.http_ports), 1);

	/* Remove releases both and ends the streams (engine_gone). */
	(void) put(f, "aaaa", "acestream-1", 19006, 45006);
	{
		orch_stream_start ev;
		orch_stream *s;

		memset(&ev, 0, sizeof(ev));
		ev.container_id = "aaaa";
		ev.key_type = "content_id";
		ev.key = "k";
		ev.playback_session_id = "p";
		assert_int_equal(orch_state_stream_start(&f->core.state, &ev,
		                     orch_core_now(&f->core), &s),
		    ORCH_OK);
		orch_core_engine_remove_locked(&f->core, a, NULL);
		assert_false(s->active);
		assert_string_equal(s->end_reason, "engine_gone");
	}
	assert_int_equal(orch_ports_used(&f->core.http_ports), 0);
	assert_int_equal(orch_ports_used(&f->core.https_ports), 0);
	assert_int_equal(f->core.state.counts.engines, 0);

	/* Removing an unmanaged entry leaves the pools alone. */
	(void) put(f, "cccc", "acestream-3", 19000, 45000);
	{
		orch_stream_start ev;
		orch_stream *s;

		memset(&ev, 0, sizeof(ev));
		ev.host = "10.9.9.9";
		ev.port = 19000;
		ev.key_type = "content_id";
		ev.key = "k";
		ev.stream_id = "u";
		assert_int_equal(orch_state_stream_start(&f->core.state, &ev,
		                     orch_core_now(&f->core), &s),
		    ORCH_OK);
		assert_false(s->engine->managed);
		orch_core_engine_remove_locked(&f->core, s->engine, "gone");
		assert_string_equal(s->end_reason, "gone");
	}
	assert_true(orch_ports_in_use(&f->core.http_ports, 19000));
	assert_true(orch_ports_in_use(&f->core.https_ports, 45000));
	orch_core_unlock(&f->core);
	fixture_free(f);
}

/* 10,000 add/remove cycles with up to 64 engines alive at once, ports
 * reused, streams and reservations in between: both pools end empty, and
 * after every step the pools hold exactly the live engines' ports. */
static void
test_add_remove_cycles_release_every_port(void **state)
{
	enum { CYCLES = 10000, LIVE = 64 };
	fixture *f = fixture_new(2);
	uint64_t seed = 12345;
	bool live[LIVE] = {false};
	int nlive = 0;

	(void) state;
	orch_core_lock(&f->core);
	for (int i = 0; i < CYCLES; i++) {
		int k;
		char id[16], name[16];
		orch_engine *e;

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		k = (int) ((seed >> 33) % LIVE);
		snprintf(id, sizeof(id), "c%02d", k);
		snprintf(name, sizeof(name), "acestream-%d", k);
		f->now += 1000;
		if (!live[k]) {
			/* The ports move around the ranges over time. */
			int http = 19000 + (k * 15 + i) % 1000;
			int https = 45000 + (http - 19000) * 5 + k % 5;
			orch_engine_spec sp =
			    fx_spec_ports(id, name, http, https, https, true);
			orch_engine *out;
			orch_err rv;

			sp.host = name; /* advertised by name: no clash */
			rv = orch_core_engine_put_locked(&f->core, &sp, &out);
			if (rv == ORCH_EEXIST)
				continue; /* that port is a live engine's */
			assert_int_equal(rv, ORCH_OK);
			live[k] = true;
			nlive++;
			if ((seed >> 20) % 3 == 0) {
				char rid[ORCH_RESERVATION_ID_LEN + 1];
				orch_engine *sel;

				(void) orch_core_select_locked(
				    &f->core, true, &sel, rid);
			}
		} else {
			e = orch_state_engine_get(&f->core.state, id);
			assert_non_null(e);
			orch_core_engine_remove_locked(&f->core, e, NULL);
			live[k] = false;
			nlive--;
		}
		assert_int_equal(orch_ports_used(&f->core.http_ports), nlive);
		assert_int_equal(orch_ports_used(&f->core.https_ports), nlive);
		assert_int_equal(f->core.state.counts.engines, nlive);
	}
	for (int k = 0; k < LIVE; k++) {
		char id[16];

		if (!live[k])
			continue;
		snprintf(id, sizeof(id), "c%02d", k);
		orch_core_engine_remove_locked(
		    &f->core, orch_state_engine_get(&f->core.state, id), NULL);
	}
	assert_int_equal(orch_ports_used(&f->core.http_ports), 0);
	assert_int_equal(orch_ports_used(&f->core.https_ports), 0);
	assert_int_equal(f->core.state.counts.engines, 0);
	assert_int_equal(f->core.state.counts.reservations, 0);
	orch_core_unlock(&f->core);
	fixture_free(f);
}

static void
test_select_reserve_gives_hex_id_and_load(void **state)
{
	fixture *f = fixture_new(2);
	orch_engine *a, *b, *got;
	char id1[ORCH_RESERVATION_ID_LEN + 1],
	    id2[ORCH_RESERVATION_ID_LEN + 1];
	char id3[ORCH_RESERVATION_ID_LEN + 1];
	orch_reservation *r;

	(void) state;
	orch_core_lock(&f->core);
	/* No engine: NOT_FOUND, id emptied. */
	memset(id1, 'x', sizeof(id1));
	got = (orch_engine *) 1;
	assert_int_equal(orch_core_select_locked(&f->core, true, &got, id1),
	    ORCH_ENOTFOUND);
	assert_null(got);
	assert_string_equal(id1, "");

	a = put(f, "aaaa", "acestream-1", 19001, 0);
	/* reserve=false: the engine, no reservation. */
	assert_int_equal(
	    orch_core_select_locked(&f->core, false, &got, id1), ORCH_OK);
	assert_ptr_equal(got, a);
	assert_string_equal(id1, "");
	assert_int_equal(f->core.state.counts.reservations, 0);

	/* reserve=true: a fresh 32-hex id, valid RESERVATION_TTL_S. */
	assert_int_equal(
	    orch_core_select_locked(&f->core, true, &got, id1), ORCH_OK);
	assert_ptr_equal(got, a);
	assert_true(is_hex32(id1));
	r = orch_strmap_get(&f->core.state.reservations_by_id, id1);
	assert_non_null(r);
	assert_ptr_equal(r->engine, a);
	assert_true(r->expires_us == T0 + S(f->cfg.reservation_ttl_s));
	assert_int_equal(a->n_reserved, 1);

	/* The next select sees that load: a second engine is preferred. */
	b = put(f, "bbbb", "acestream-2", 19002, 0);
	assert_int_equal(
	    orch_core_select_locked(&f->core, true, &got, id2), ORCH_OK);
	assert_ptr_equal(got, b);
	assert_true(is_hex32(id2));
	assert_string_not_equal(id1, id2);
	/* Then a again (load 1 each, a's last use = never, id order). */
	assert_int_equal(
	    orch_core_select_locked(&f->core, true, &got, id3), ORCH_OK);
	assert_ptr_equal(got, a);
	assert_string_not_equal(id3, id1);
	assert_string_not_equal(id3, id2);
	assert_int_equal(
	    orch_core_select_locked(&f->core, true, &got, id3), ORCH_OK);
	assert_ptr_equal(got, b);
	/* Both full (2 reservations each). */
	assert_int_equal(orch_core_select_locked(&f->core, true, &got, id3),
	    ORCH_ENOTFOUND);
	assert_int_equal(orch_core_select_locked(&f->core, false, &got, id3),
	    ORCH_ENOTFOUND);
	assert_int_equal(f->core.state.counts.reservations, 4);
	assert_int_equal(f->core.state.counts.free, 0);

	/* A stream_start carrying the id consumes the reservation. */
	{
		orch_stream_start ev;
		orch_stream *s;

		memset(&ev, 0, sizeof(ev));
		ev.container_id = "aaaa";
		ev.key_type = "content_id";
		ev.key = "k";
		ev.playback_session_id = "p";
		ev.reservation_id = id1;
		assert_int_equal(orch_state_stream_start(&f->core.state, &ev,
		                     orch_core_now(&f->core), &s),
		    ORCH_OK);
		assert_null(
		    orch_strmap_get(&f->core.state.reservations_by_id, id1));
		assert_int_equal(a->n_reserved, 1);
		assert_int_equal(a->n_active, 1);
		assert_int_equal(f->core.state.counts.reservations, 3);
	}
	orch_core_unlock(&f->core);
	fixture_free(f);
}

static void
test_reservation_expires_after_ttl(void **state)
{
	fixture *f = fixture_new(1);
	orch_engine *a, *got;
	char id[ORCH_RESERVATION_ID_LEN + 1];

	(void) state;
	f->cfg.reservation_ttl_s = 15;
	orch_core_lock(&f->core);
	a = put(f, "aaaa", "acestream-1", 19001, 0);
	assert_int_equal(
	    orch_core_select_locked(&f->core, true, &got, id), ORCH_OK);
	assert_ptr_equal(got, a);
	/* The only slot is promised. */
	f->now += S(1);
	assert_int_equal(
	    orch_core_select_locked(&f->core, true, &got, id), ORCH_ENOTFOUND);
	f->now = T0 + S(15) - 1;
	assert_int_equal(orch_core_select_locked(&f->core, false, &got, id),
	    ORCH_ENOTFOUND);
	assert_int_equal(f->core.state.counts.reservations, 1);
	/* At TTL it lapses. */
	f->now = T0 + S(15);
	assert_int_equal(
	    orch_core_select_locked(&f->core, true, &got, id), ORCH_OK);
	assert_ptr_equal(got, a);
	assert_int_equal(f->core.state.counts.reservations, 1);
	assert_true(((orch_reservation *) orch_strmap_get(
	                 &f->core.state.reservations_by_id, id))
	                ->expires_us == T0 + S(30));
	/* A different TTL is read from the config at each select. */
	f->cfg.reservation_ttl_s = 2;
	f->now = T0 + S(30);
	assert_int_equal(
	    orch_core_select_locked(&f->core, true, &got, id), ORCH_OK);
	f->now = T0 + S(32) - 1;
	assert_int_equal(orch_core_select_locked(&f->core, false, &got, id),
	    ORCH_ENOTFOUND);
	f->now = T0 + S(32);
	assert_int_equal(
	    orch_core_select_locked(&f->core, false, &got, id), ORCH_OK);
	assert_int_equal(f->core.state.counts.reservations, 0);
	orch_core_unlock(&f->core);
	fixture_free(f);
}

static void
test_reset_breaker_by_name(void **state)
{
	static const struct {
		const char *which;
		orch_err want;
		bool general_closed, replacement_closed;
	} cases[] = {
	    {"general", ORCH_OK, true, false},
	    {"replacement", ORCH_OK, false, true},
	    {NULL, ORCH_OK, true, true},
	    {"bogus", ORCH_EINVAL, false, false},
	    {"", ORCH_EINVAL, false, false},
	    {"General", ORCH_EINVAL, false, false},
	    {"general ", ORCH_EINVAL, false, false},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fixture *f = fixture_new(1);
		int64_t t = f->now;

		orch_core_lock(&f->core);
		for (int k = 0; k < f->cfg.cb_failure_threshold; k++)
			orch_breaker_record_failure(&f->core.general, t);
		for (int k = 0; k < f->cfg.cb_replacement_threshold; k++)
			orch_breaker_record_failure(&f->core.replacement, t);
		assert_int_equal(f->core.general.state, ORCH_BREAKER_OPEN);
		assert_int_equal(f->core.replacement.state, ORCH_BREAKER_OPEN);
		assert_int_equal(
		    orch_core_reset_breaker_locked(&f->core, cases[i].which),
		    cases[i].want);
		assert_int_equal(f->core.general.state == ORCH_BREAKER_CLOSED,
		    cases[i].general_closed);
		assert_int_equal(
		    f->core.replacement.state == ORCH_BREAKER_CLOSED,
		    cases[i].replacement_closed);
		if (cases[i].general_closed) {
			assert_int_equal(f->core.general.failure_count, 0);
			assert_true(f->core.general.last_failure_us == t);
		}
		orch_core_unlock(&f->core);
		fixture_free(f);
	}
}

/* ---- the race --------------------------------------------------------- */

enum { RACERS = 16 };

typedef struct racer {
	orch_core *core;
	pthread_barrier_t *go;
	orch_err rv;
	orch_engine *got;
	char id[ORCH_RESERVATION_ID_LEN + 1];
} racer;

static void *
race_main(void *arg)
{
	racer *r = arg;

	pthread_barrier_wait(r->go);
	orch_core_lock(r->core);
	r->rv = orch_core_select_locked(r->core, true, &r->got, r->id);
	orch_core_unlock(r->core);
	return NULL;
}

/* One engine, one stream per engine, 16 threads selecting with a
 * reservation at once: exactly one gets it, the others NOT_FOUND. Run for
 * many rounds (the clock moves past the TTL between rounds). */
static void
test_select_race_one_free_slot(void **state)
{
	fixture *f = fixture_new(1);
	orch_engine *a;

	(void) state;
	orch_core_lock(&f->core);
	a = put(f, "aaaa", "acestream-1", 19001, 0);
	orch_core_unlock(&f->core);
	for (int round = 0; round < 50; round++) {
		pthread_t th[RACERS];
		racer rs[RACERS];
		pthread_barrier_t go;
		int winners = 0, losers = 0;

		assert_int_equal(pthread_barrier_init(&go, NULL, RACERS), 0);
		for (int i = 0; i < RACERS; i++) {
			memset(&rs[i], 0, sizeof(rs[i]));
			rs[i].core = &f->core;
			rs[i].go = &go;
			rs[i].rv = ORCH_EUNKNOWN;
			assert_int_equal(
			    pthread_create(&th[i], NULL, race_main, &rs[i]),
			    0);
		}
		for (int i = 0; i < RACERS; i++)
			assert_int_equal(pthread_join(th[i], NULL), 0);
		pthread_barrier_destroy(&go);
		for (int i = 0; i < RACERS; i++) {
			if (rs[i].rv == ORCH_OK) {
				winners++;
				assert_ptr_equal(rs[i].got, a);
				assert_true(is_hex32(rs[i].id));
			} else {
				assert_int_equal(rs[i].rv, ORCH_ENOTFOUND);
				assert_null(rs[i].got);
				assert_string_equal(rs[i].id, "");
				losers++;
			}
		}
		assert_int_equal(winners, 1);
		assert_int_equal(losers, RACERS - 1);
		orch_core_lock(&f->core);
		assert_int_equal(f->core.state.counts.reservations, 1);
		assert_int_equal(a->n_reserved, 1);
		/* Let it lapse before the next round. */
		f->now += S(f->cfg.reservation_ttl_s);
		orch_state_expire(&f->core.state, orch_core_now(&f->core));
		assert_int_equal(f->core.state.counts.reservations, 0);
		orch_core_unlock(&f->core);
	}
	fixture_free(f);
}

/* The generation: every lock bumps it, a read lock never does, and a
 * reply rendered at g stays current exactly while it reads g. */
static void
test_generation_follows_locks(void **state)
{
	fixture *f = fixture_new(1);
	uint64_t g0 = orch_core_generation(&f->core), g1;

	(void) state;
	assert_true(g0 != 0);
	orch_core_read_lock(&f->core);
	orch_core_read_unlock(&f->core);
	assert_true(orch_core_generation(&f->core) == g0);
	orch_core_lock(&f->core);
	/* Bumped as the lock is taken: a read arriving while a change is
	 * under way already sees the new version (and waits for the lock
	 * to render it). */
	g1 = orch_core_generation(&f->core);
	assert_true(g1 == g0 + 1);
	put(f, "e1", "acestream-1", 19001, 45001);
	orch_core_unlock(&f->core);
	assert_true(orch_core_generation(&f->core) == g1);
	/* A controller's read-only query keeps it. */
	assert_int_equal(orch_core_engine_count(&f->core), 1);
	assert_true(orch_core_generation(&f->core) == g1);
	/* Time alone changes nothing while no breaker counts down. */
	f->now += S(3600);
	assert_true(orch_core_generation(&f->core) == g1);
	fixture_free(f);
}

/* A breaker's open countdown is state the clock changes: each whole
 * second of its retry ETA and its end bump the generation once, with no
 * lock taken by the caller. */
static void
test_generation_follows_breaker_clock(void **state)
{
	fixture *f = fixture_new(1);
	int64_t timeout = S(f->cfg.cb_recovery_timeout_s);
	uint64_t g, prev;
	int changes = 0;

	(void) state;
	assert_true(f->cfg.cb_recovery_timeout_s >= 2);
	orch_core_lock(&f->core);
	for (int i = 0; i < f->cfg.cb_failure_threshold; i++)
		orch_breaker_record_failure(&f->core.general, f->now);
	assert_int_equal(f->core.general.state, ORCH_BREAKER_OPEN);
	orch_core_unlock(&f->core);
	g = orch_core_generation(&f->core);
	/* Half a second in: the ETA still reads the same whole seconds. */
	f->now += S(1) / 2;
	assert_true(orch_core_generation(&f->core) == g);
	prev = g;
	for (int64_t t = S(1) / 2; t <= timeout + S(2); t += S(1) / 4) {
		uint64_t now_g;

		f->now = T0 + t;
		now_g = orch_core_generation(&f->core);
		assert_true(now_g >= prev);
		if (now_g != prev)
			changes++;
		prev = now_g;
	}
	/* One change per whole second of the countdown, the last being the
	 * flip to half-open; none after it. */
	assert_int_equal(changes, (int) (timeout / S(1)));
	assert_int_equal(orch_breaker_state_at(&f->core.general, f->now),
	    ORCH_BREAKER_HALF_OPEN);
	f->now += S(60);
	assert_true(orch_core_generation(&f->core) == prev);
	fixture_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_over_manual_clock),
	    cmocka_unit_test(test_can_provision_follows_env),
	    cmocka_unit_test(test_engine_put_and_remove_track_ports),
	    cmocka_unit_test(test_add_remove_cycles_release_every_port),
	    cmocka_unit_test(test_select_reserve_gives_hex_id_and_load),
	    cmocka_unit_test(test_reservation_expires_after_ttl),
	    cmocka_unit_test(test_reset_breaker_by_name),
	    cmocka_unit_test(test_select_race_one_free_slot),
	    cmocka_unit_test(test_generation_follows_locks),
	    cmocka_unit_test(test_generation_follows_breaker_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
