/*
 * orch_state: every rule of state.h and CONTRACT.md "Events".
 *
 *   - the stream id (labels.stream_id, else "<key>|<playback_session_id>");
 *   - the four matching steps in order, an unknown container id ignored,
 *     and the unmanaged "<host>:<port>" entry when nothing matches;
 *   - re-sent starts overwrite; ends by id / by container id; end_reason;
 *     last_stream_usage and idle_since;
 *   - engine removal, die/start, probes and the health threshold;
 *   - the selection order, reservations and their expiry;
 *   - ended_max trimming, the stats ring, engines sorted by port;
 *   - engine_put conflicts and updates;
 *   - 10,000 random operations.
 *
 * check_state() recomputes every counter by walking the engines (and the
 * lists and maps) and compares with st->counts; it runs after every
 * mutation in every test. Time is a number passed in; nothing sleeps.
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

#include "src/core/state.h"

#define S(x) ((int64_t) (x) *INT64_C(1000000))
#define T0 S(1700000000) /* an arbitrary wall-clock start */

/* ---- helpers ---------------------------------------------------------- */

static size_t
list_len(const orch_list *head)
{
	size_t n = 0;

	for (const orch_list *p = head->next; p != head; p = p->next)
		n++;
	return n;
}

static const char *
label_get(const orch_engine *e, const char *key)
{
	for (size_t i = 0; i < e->n_labels; i++) {
		if (strcmp(e->labels[i].key, key) == 0)
			return e->labels[i].value;
	}
	return NULL;
}

static bool
is_candidate(const orch_engine *e)
{
	return e->managed && e->running && !e->marked_for_replacement &&
	       !e->draining && e->health != ORCH_HEALTH_UNHEALTHY;
}

/*
 * Recomputes the counters from the engines and compares them with
 * st->counts, and checks the invariants the indexes and lists must keep.
 */
static void
check_state(const orch_state *st)
{
	const int max = st->opts.max_streams_per_engine;
	orch_state_counts c;
	size_t cur = 0, n = 0, cand = 0;
	orch_engine *e;

	memset(&c, 0, sizeof(c));
	while ((e = orch_state_engine_next(st, &cur)) != NULL) {
		n++;
		assert_ptr_equal(
		    orch_state_engine_get(st, e->container_id), e);
		assert_true(e->n_active >= 0);
		assert_true(e->n_reserved >= 0);
		assert_int_equal((size_t) e->n_active, list_len(&e->active));
		assert_true(
		    list_len(&e->group->streams) >= (size_t) e->n_active);
		c.streams_active += e->n_active;
		c.reservations += e->n_reserved;
		/* Busy engines are not idle; idle ones say since when. */
		if (e->n_active > 0)
			assert_true(e->idle_since_us == 0);
		else
			assert_true(e->idle_since_us != 0);
		/* unhealthy_since is set exactly while unhealthy. */
		assert_int_equal(e->health == ORCH_HEALTH_UNHEALTHY,
		    e->unhealthy_since_us != 0);
		for (const orch_list *p = e->active.next; p != &e->active;
		     p = p->next) {
			const orch_stream *s =
			    ORCH_CONTAINER_OF(p, orch_stream, eng_active);

			assert_true(s->active);
			assert_ptr_equal(s->engine, e);
			assert_string_equal(s->container_id, e->container_id);
		}
		if (!e->managed) {
			/* An unmanaged entry exists only while it carries a
			 * stream, is never a candidate, never counted. */
			assert_true(e->n_active > 0);
			assert_string_equal(label_get(e, "managed"), "false");
			assert_string_equal(e->container_id, e->addr_key);
			continue;
		}
		assert_ptr_equal(
		    orch_state_engine_by_name(st, e->container_name), e);
		assert_ptr_equal(
		    orch_state_engine_by_addr(st, e->host, e->port), e);
		if (e->host_http_port != 0)
			assert_ptr_equal(orch_state_engine_by_host_port(
			                     st, e->host_http_port),
			    e);
		c.engines++;
		if (e->marked_for_replacement)
			c.marked++;
		if (e->draining)
			c.draining++;
		if (e->n_active >= max)
			c.used++;
		if (e->running) {
			c.running++;
			if (e->health == ORCH_HEALTH_HEALTHY)
				c.healthy++;
			if (e->health == ORCH_HEALTH_UNHEALTHY)
				c.unhealthy++;
			else if (!e->marked_for_replacement && !e->draining &&
			         orch_engine_load(e) < max) {
				c.free++;
				if (e->health == ORCH_HEALTH_HEALTHY)
					c.free_healthy++;
			}
		}
		if (is_candidate(e))
			cand++;
	}
	assert_int_equal(n, st->n_engines);
	assert_int_equal(cand, st->heap_len);

	/* Streams: the map, the global lists, the ended list's bound. */
	c.streams_total = (int) orch_strmap_len(&st->streams_by_id);
	assert_int_equal(list_len(&st->streams_all), (size_t) c.streams_total);
	assert_int_equal(
	    list_len(&st->streams_active), (size_t) c.streams_active);
	assert_int_equal(list_len(&st->streams_ended),
	    (size_t) (c.streams_total - c.streams_active));
	assert_true(c.streams_total - c.streams_active <= st->opts.ended_max);
	for (const orch_list *p = st->streams_all.next; p != &st->streams_all;
	     p = p->next) {
		const orch_stream *s = ORCH_CONTAINER_OF(p, orch_stream, all);

		assert_ptr_equal(orch_state_stream_get(st, s->id), s);
		assert_non_null(s->container_id);
		if (s->active) {
			assert_non_null(s->engine);
			assert_true(s->ended_at_us == 0);
		} else {
			assert_true(s->ended_at_us != 0);
		}
		assert_true(s->stats_count <= s->stats_cap);
		assert_true(s->stats_cap <= (uint32_t) st->opts.stats_max);
	}
	assert_int_equal(
	    orch_strmap_len(&st->reservations_by_id), (size_t) c.reservations);
	assert_int_equal(list_len(&st->reservations), (size_t) c.reservations);

	if (memcmp(&c, &st->counts, sizeof(c)) != 0)
		fail_msg(
		    "counts differ (want/got): engines %d/%d running %d/%d "
		    "healthy %d/%d unhealthy %d/%d used %d/%d free %d/%d "
		    "marked %d/%d streams_active %d/%d streams_total %d/%d "
		    "reservations %d/%d",
		    c.engines, st->counts.engines, c.running,
		    st->counts.running, c.healthy, st->counts.healthy,
		    c.unhealthy, st->counts.unhealthy, c.used, st->counts.used,
		    c.free, st->counts.free, c.marked, st->counts.marked,
		    c.streams_active, st->counts.streams_active,
		    c.streams_total, st->counts.streams_total, c.reservations,
		    st->counts.reservations);
}

/* The selection order of state.h, by brute force: a before b. */
static bool
sel_before(const orch_engine *a, const orch_engine *b)
{
	int ah = a->health == ORCH_HEALTH_HEALTHY ? 0 : 1;
	int bh = b->health == ORCH_HEALTH_HEALTHY ? 0 : 1;

	if (ah != bh)
		return ah < bh;
	if (orch_engine_load(a) != orch_engine_load(b))
		return orch_engine_load(a) < orch_engine_load(b);
	if (a->forwarded != b->forwarded)
		return a->forwarded;
	if (a->last_stream_usage_us != b->last_stream_usage_us)
		return a->last_stream_usage_us < b->last_stream_usage_us;
	return strcmp(a->container_id, b->container_id) < 0;
}

static orch_engine *
brute_select(const orch_state *st)
{
	orch_engine *e, *best = NULL;
	size_t cur = 0;

	while ((e = orch_state_engine_next(st, &cur)) != NULL) {
		if (!is_candidate(e) ||
		    orch_engine_load(e) >= st->opts.max_streams_per_engine)
			continue;
		if (best == NULL || sel_before(e, best))
			best = e;
	}
	return best;
}

/* Selects (which may expire reservations), checks the counters and the
 * brute-force choice. */
static orch_engine *
sel(orch_state *st, int64_t now)
{
	orch_engine *e = orch_state_select(st, now);

	check_state(st);
	assert_ptr_equal(e, brute_select(st));
	return e;
}

static orch_state_opts
opts_of(int max_streams, int stats_max, int ended_max, const char *engine_host)
{
	orch_state_opts o;

	o.max_streams_per_engine = max_streams;
	o.stats_max = stats_max;
	o.ended_max = ended_max;
	o.engine_host = engine_host;
	return o;
}

static void
state_new(
    orch_state *st, int max_streams, int ended_max, const char *engine_host)
{
	orch_state_opts o = opts_of(max_streams, 720, ended_max, engine_host);

	assert_int_equal(orch_state_init(st, &o), ORCH_OK);
	check_state(st);
}

static orch_engine_spec
spec_of(const char *id, const char *name, const char *host, int port,
    int host_http_port)
{
	orch_engine_spec sp;

	memset(&sp, 0, sizeof(sp));
	sp.container_id = id;
	sp.container_name = name;
	sp.host = host;
	sp.port = port;
	sp.host_http_port = host_http_port;
	sp.container_http_port = port;
	sp.running = true;
	return sp;
}

static orch_engine *
put_spec(orch_state *st, const orch_engine_spec *sp, int64_t now)
{
	orch_engine *e = NULL;

	assert_int_equal(orch_state_engine_put(st, sp, now, &e), ORCH_OK);
	assert_non_null(e);
	check_state(st);
	return e;
}

static orch_engine *
put_eng(orch_state *st, const char *id, const char *name, const char *host,
    int port, int host_http_port, int64_t now)
{
	orch_engine_spec sp = spec_of(id, name, host, port, host_http_port);

	return put_spec(st, &sp, now);
}

/* Engine number n: id "eng-nn", name "acestream-n", 127.0.0.1:19000+n. */
static orch_engine *
put_num(orch_state *st, int n, int64_t now)
{
	char id[32], name[32];

	snprintf(id, sizeof(id), "eng-%02d", n);
	snprintf(name, sizeof(name), "acestream-%d", n);
	return put_eng(st, id, name, "127.0.0.1", 19000 + n, 19000 + n, now);
}

static orch_stream_start
ev_of(const char *container_id, const char *host, int port, const char *key,
    const char *psid)
{
	orch_stream_start ev;

	memset(&ev, 0, sizeof(ev));
	ev.container_id = container_id;
	ev.host = host;
	ev.port = port;
	ev.key_type = "content_id";
	ev.key = key;
	ev.playback_session_id = psid;
	ev.stat_url = "http://127.0.0.1:6878/ace/stat/x/y";
	ev.command_url = "http://127.0.0.1:6878/ace/cmd/x/y";
	ev.is_live = true;
	return ev;
}

static orch_stream *
start_ev(orch_state *st, const orch_stream_start *ev, int64_t now)
{
	orch_stream *s = NULL;

	assert_int_equal(orch_state_stream_start(st, ev, now, &s), ORCH_OK);
	assert_non_null(s);
	assert_true(s->active);
	assert_true(s->started_at_us == now);
	check_state(st);
	return s;
}

/* A stream with an explicit id (labels.stream_id) on engine e by id. */
static orch_stream *
start_on(orch_state *st, orch_engine *e, const char *stream_id, int64_t now)
{
	orch_stream_start ev = ev_of(e->container_id, NULL, 0, "key", NULL);

	ev.stream_id = stream_id;
	return start_ev(st, &ev, now);
}

static orch_stream *
end_id(orch_state *st, const char *stream_id, const char *reason, int64_t now)
{
	orch_stream *s = (orch_stream *) 1;

	assert_int_equal(
	    orch_state_stream_end(st, stream_id, NULL, reason, now, &s),
	    ORCH_OK);
	check_state(st);
	return s;
}

static orch_stream *
end_cid(
    orch_state *st, const char *container_id, const char *reason, int64_t now)
{
	orch_stream *s = (orch_stream *) 1;

	assert_int_equal(
	    orch_state_stream_end(st, NULL, container_id, reason, now, &s),
	    ORCH_OK);
	check_state(st);
	return s;
}

static void
reserve(orch_state *st, orch_engine *e, const char *id, int64_t expires)
{
	orch_reservation *r = NULL;

	assert_int_equal(orch_state_reserve(st, e, id, expires, &r), ORCH_OK);
	assert_non_null(r);
	assert_string_equal(r->id, id);
	assert_ptr_equal(r->engine, e);
	check_state(st);
}

static void
probe(orch_state *st, orch_engine *e, bool ok, int64_t now)
{
	(void) orch_state_engine_probe(st, e, ok, 3, now);
	check_state(st);
}

/* A compact fingerprint of the whole state, to show "unchanged". */
static void
fingerprint(orch_state *st, char *buf, size_t len)
{
	orch_engine *const *v;
	size_t n, off = 0;

	off += (size_t) snprintf(buf + off, len - off,
	    "%d,%d,%d,%d,%d,%d,%d,%d,%d,%d|", st->counts.engines,
	    st->counts.running, st->counts.healthy, st->counts.unhealthy,
	    st->counts.used, st->counts.free, st->counts.marked,
	    st->counts.streams_active, st->counts.streams_total,
	    st->counts.reservations);
	v = orch_state_engines_sorted(st, &n);
	for (size_t i = 0; i < n && off < len; i++)
		off += (size_t) snprintf(buf + off, len - off,
		    "%s/%s/%s/%d/%d/%d/%d/%d;", v[i]->container_id,
		    v[i]->container_name, v[i]->addr_key, v[i]->host_http_port,
		    v[i]->host_https_port, v[i]->n_active, v[i]->running,
		    v[i]->health);
	assert_true(off < len);
}

/* ---- init ------------------------------------------------------------- */

static void
test_init_rejects_bad_opts(void **state)
{
	static const struct {
		int max_streams, stats_max, ended_max;
		orch_err want;
	} cases[] = {
	    {1, 1, 1, ORCH_OK},
	    {0, 720, 100, ORCH_EINVAL},
	    {-1, 720, 100, ORCH_EINVAL},
	    {1, 0, 100, ORCH_EINVAL},
	    {1, 720, -1, ORCH_EINVAL},
	    {3, 720, 100000, ORCH_OK},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		orch_state st;
		orch_state_opts o = opts_of(cases[i].max_streams,
		    cases[i].stats_max, cases[i].ended_max, "gw.example");

		assert_int_equal(orch_state_init(&st, &o), cases[i].want);
		if (cases[i].want == ORCH_OK) {
			/* engine_host is copied */
			assert_non_null(st.opts.engine_host);
			assert_ptr_not_equal(
			    st.opts.engine_host, o.engine_host);
			check_state(&st);
		}
		orch_state_fini(&st); /* safe after a failed init too */
	}
	assert_string_equal(orch_health_name(ORCH_HEALTH_UNKNOWN), "unknown");
	assert_string_equal(orch_health_name(ORCH_HEALTH_HEALTHY), "healthy");
	assert_string_equal(
	    orch_health_name(ORCH_HEALTH_UNHEALTHY), "unhealthy");
}

/* ---- stream id -------------------------------------------------------- */

static void
test_stream_id_from_label_or_key_and_session(void **state)
{
	orch_state st;
	orch_engine *e;
	orch_stream *s;
	orch_stream_start ev;
	char before[4096], after[4096];

	(void) state;
	state_new(&st, 5, 100, NULL);
	e = put_num(&st, 1, T0);

	/* No stream_id: "<key>|<playback_session_id>". */
	ev = ev_of("eng-01", NULL, 0, "abc123", "sess-9");
	s = start_ev(&st, &ev, T0 + 1);
	assert_string_equal(s->id, "abc123|sess-9");
	assert_string_equal(s->key, "abc123");
	assert_string_equal(s->key_type, "content_id");
	assert_string_equal(s->playback_session_id, "sess-9");
	assert_string_equal(s->stat_url, "http://127.0.0.1:6878/ace/stat/x/y");
	assert_string_equal(
	    s->command_url, "http://127.0.0.1:6878/ace/cmd/x/y");
	assert_true(s->is_live);
	assert_null(s->end_reason);
	assert_true(s->ended_at_us == 0);
	assert_ptr_equal(orch_state_stream_get(&st, "abc123|sess-9"), s);

	/* labels.stream_id wins over key|session. */
	ev = ev_of("eng-01", NULL, 0, "abc123", "sess-10");
	ev.stream_id = "my-own-id";
	ev.is_live = false;
	ev.stat_url = NULL;
	ev.command_url = NULL;
	s = start_ev(&st, &ev, T0 + 2);
	assert_string_equal(s->id, "my-own-id");
	assert_null(orch_state_stream_get(&st, "abc123|sess-10"));
	assert_false(s->is_live);
	assert_null(s->stat_url);
	assert_null(s->command_url);

	/* labels.stream_id without a session is fine; playback id null. */
	ev = ev_of("eng-01", NULL, 0, "k2", NULL);
	ev.stream_id = "sid-2";
	s = start_ev(&st, &ev, T0 + 3);
	assert_null(s->playback_session_id);
	assert_int_equal(e->n_active, 3);

	/* Refusals, each leaving the state unchanged. */
	fingerprint(&st, before, sizeof(before));
	{
		static const struct {
			const char *key_type, *key, *psid, *sid;
		} bad[] = {
		    {"content_id", "k", NULL, NULL}, /* id cannot be formed */
		    {"content_id", "", "s", NULL},   /* empty key */
		    {"content_id", NULL, "s", NULL}, /* no key */
		    {NULL, "k", "s", NULL},          /* no key type */
		    {"content_id", "", NULL, "sid"}, /* empty key with id */
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			orch_stream *out = (orch_stream *) 1;

			ev = ev_of("eng-01", NULL, 0, bad[i].key, bad[i].psid);
			ev.key_type = bad[i].key_type;
			ev.stream_id = bad[i].sid;
			assert_int_equal(
			    orch_state_stream_start(&st, &ev, T0 + 4, &out),
			    ORCH_EINVAL);
			assert_null(out);
			check_state(&st);
		}
	}
	/* Neither a known container id nor a host. */
	{
		orch_stream *out = (orch_stream *) 1;

		ev = ev_of("acexy-self", NULL, 0, "k", "s");
		assert_int_equal(
		    orch_state_stream_start(&st, &ev, T0 + 4, &out),
		    ORCH_EINVAL);
		assert_null(out);
		ev = ev_of(NULL, NULL, 0, "k", "s");
		assert_int_equal(
		    orch_state_stream_start(&st, &ev, T0 + 4, &out),
		    ORCH_EINVAL);
		/* A host that matches nothing with an invalid port cannot
		 * form an unmanaged entry. */
		ev = ev_of(NULL, "10.9.9.9", 0, "k", "s");
		assert_int_equal(
		    orch_state_stream_start(&st, &ev, T0 + 4, &out),
		    ORCH_EINVAL);
		ev = ev_of(NULL, "10.9.9.9", 70000, "k", "s");
		assert_int_equal(
		    orch_state_stream_start(&st, &ev, T0 + 4, &out),
		    ORCH_EINVAL);
		check_state(&st);
	}
	fingerprint(&st, after, sizeof(after));
	assert_string_equal(before, after);
	orch_state_fini(&st);
}

/* ---- engine matching -------------------------------------------------- */

/* (1) a known container_id wins over an address naming another engine. */
static void
test_match_step1_container_id_before_address(void **state)
{
	orch_state st;
	orch_engine *a, *b;
	orch_stream_start ev;
	orch_stream *s;

	(void) state;
	state_new(&st, 3, 100, NULL);
	a = put_eng(&st, "aaaa", "acestream-1", "127.0.0.1", 19001, 19001, T0);
	b = put_eng(&st, "bbbb", "acestream-2", "127.0.0.1", 19002, 19002, T0);

	ev = ev_of("aaaa", "127.0.0.1", 19002, "k", "s1");
	s = start_ev(&st, &ev, T0 + 1);
	assert_ptr_equal(s->engine, a);
	assert_string_equal(s->container_id, "aaaa");
	assert_int_equal(a->n_active, 1);
	assert_int_equal(b->n_active, 0);

	/* Also when the container id is the only thing given. */
	ev = ev_of("bbbb", NULL, 0, "k", "s2");
	s = start_ev(&st, &ev, T0 + 2);
	assert_ptr_equal(s->engine, b);
	orch_state_fini(&st);
}

/* A container id naming no engine (Acexy's own) is ignored; matching goes
 * on with the address. */
static void
test_match_unknown_container_id_ignored(void **state)
{
	orch_state st;
	orch_engine *b;
	orch_stream_start ev;
	orch_stream *s;

	(void) state;
	state_new(&st, 3, 100, NULL);
	(void) put_eng(
	    &st, "aaaa", "acestream-1", "127.0.0.1", 19001, 19001, T0);
	b = put_eng(&st, "bbbb", "acestream-2", "127.0.0.1", 19002, 19002, T0);

	ev = ev_of("acexy-container-0123", "127.0.0.1", 19002, "k", "s1");
	s = start_ev(&st, &ev, T0 + 1);
	assert_ptr_equal(s->engine, b);
	assert_string_equal(s->container_id, "bbbb");
	/* ... and by name (step 4). */
	ev = ev_of("acexy-container-0123", "acestream-2", 6878, "k", "s2");
	s = start_ev(&st, &ev, T0 + 2);
	assert_ptr_equal(s->engine, b);
	assert_int_equal(st.counts.engines, 2); /* no unmanaged entry */
	assert_int_equal(st.n_engines, 2);
	orch_state_fini(&st);
}

/*
 * Steps 2, 3, 4 and the unmanaged fallback, one fresh state per row.
 * Engines (ENGINE_HOST as given):
 *   A  advertised 127.0.0.1:19000, published 19005, name acestream-1
 *   B  advertised acestream-2:19000, published 19000, name acestream-2
 *   C  advertised acestream-3:6878, published 19003, name acestream-3
 *   D  advertised 10.0.0.9:7000, not published, name "localhost"
 */
static void
test_match_steps_in_order(void **state)
{
	static const struct {
		const char *what;
		const char *engine_host;
		const char *host;
		int port;
		const char *want; /* container id, or NULL = unmanaged */
	} cases[] = {
	    /* step 2 before step 3: A's address beats B's published port */
	    {"advertised address before published port", NULL, "127.0.0.1",
	        19000, "aaaa"},
	    {"step 3 localhost + published", NULL, "localhost", 19000, "bbbb"},
	    {"step 3 127.0.0.1 + published", NULL, "127.0.0.1", 19003, "cccc"},
	    {"step 3 loopback + A's published", NULL, "127.0.0.1", 19005,
	        "aaaa"},
	    {"step 3 ENGINE_HOST + published", "gw.example", "gw.example",
	        19003, "cccc"},
	    {"ENGINE_HOST unset: no step 3", NULL, "gw.example", 19003, NULL},
	    {"other host + published: no step 3", "gw.example",
	        "other.example", 19003, NULL},
	    {"loopback + unpublished port", NULL, "127.0.0.1", 19004, NULL},
	    {"step 2 by name address", NULL, "acestream-3", 6878, "cccc"},
	    {"step 4 name with any port", NULL, "acestream-3", 9999, "cccc"},
	    {"step 4 name with published port", NULL, "acestream-2", 19003,
	        "bbbb"},
	    /* step 3 before step 4: "localhost" is D's name */
	    {"step 3 before step 4", NULL, "localhost", 19003, "cccc"},
	    {"step 4 after step 3 fails", NULL, "localhost", 1234, "dddd"},
	    {"step 2 for D", NULL, "10.0.0.9", 7000, "dddd"},
	    {"nothing: unmanaged", NULL, "10.0.0.9", 7001, NULL},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		orch_state st;
		orch_stream_start ev;
		orch_stream *s;
		char key[64];

		state_new(&st, 3, 100, cases[i].engine_host);
		(void) put_eng(
		    &st, "aaaa", "acestream-1", "127.0.0.1", 19000, 19005, T0);
		(void) put_eng(&st, "bbbb", "acestream-2", "acestream-2",
		    19000, 19000, T0);
		(void) put_eng(&st, "cccc", "acestream-3", "acestream-3", 6878,
		    19003, T0);
		(void) put_eng(
		    &st, "dddd", "localhost", "10.0.0.9", 7000, 0, T0);
		ev = ev_of(NULL, cases[i].host, cases[i].port, "k", "s");
		s = start_ev(&st, &ev, T0 + 1);
		if (cases[i].want != NULL) {
			if (strcmp(s->container_id, cases[i].want) != 0)
				fail_msg("%s: matched %s, want %s",
				    cases[i].what, s->container_id,
				    cases[i].want);
			assert_true(s->engine->managed);
			assert_int_equal(st.n_engines, 4);
		} else {
			snprintf(key, sizeof(key), "%s:%d", cases[i].host,
			    cases[i].port);
			if (strcmp(s->container_id, key) != 0)
				fail_msg("%s: matched %s, want unmanaged %s",
				    cases[i].what, s->container_id, key);
			assert_false(s->engine->managed);
			assert_int_equal(st.n_engines, 5);
		}
		assert_int_equal(st.counts.engines, 4);
		orch_state_fini(&st);
	}
}

/* No match: an unmanaged "<host>:<port>" entry, labels {"managed":"false"},
 * listed but not counted, never selected, removed with its last stream. */
static void
test_unmanaged_entry_lifecycle(void **state)
{
	orch_state st;
	orch_engine *a, *u, *u2, *found;
	orch_stream_start ev;
	orch_stream *s1, *s2, *s3, *out;
	orch_engine *const *v;
	size_t n;

	(void) state;
	state_new(&st, 1, 100, NULL);
	a = put_num(&st, 1, T0);

	ev = ev_of("acexy-self", "192.168.1.50", 6878, "k1", "s1");
	s1 = start_ev(&st, &ev, T0 + S(1));
	u = s1->engine;
	assert_false(u->managed);
	assert_string_equal(u->container_id, "192.168.1.50:6878");
	assert_string_equal(u->container_name, "192.168.1.50:6878");
	assert_string_equal(u->addr_key, "192.168.1.50:6878");
	assert_string_equal(u->host, "192.168.1.50");
	assert_int_equal(u->port, 6878);
	assert_int_equal(u->host_http_port, 0);
	assert_int_equal(u->n_labels, 1);
	assert_string_equal(u->labels[0].key, "managed");
	assert_string_equal(u->labels[0].value, "false");
	assert_int_equal(u->health, ORCH_HEALTH_UNKNOWN);
	assert_true(u->first_seen_us == T0 + S(1));
	assert_string_equal(s1->container_id, "192.168.1.50:6878");
	assert_ptr_equal(orch_state_engine_get(&st, "192.168.1.50:6878"), u);
	assert_ptr_equal(
	    orch_state_engine_by_addr(&st, "192.168.1.50", 6878), u);
	assert_int_equal(st.counts.engines, 1);
	assert_int_equal(st.counts.streams_active, 1);
	assert_int_equal(st.n_engines, 2);
	v = orch_state_engines_sorted(&st, &n);
	assert_int_equal(n, 2);
	assert_ptr_equal(v[0], u); /* port 6878 < 19001 */
	assert_ptr_equal(v[1], a);

	/* Never selected, even though the managed one is busy. */
	s3 = start_on(&st, a, "on-a", T0 + S(2));
	assert_null(sel(&st, T0 + S(2)));
	(void) end_id(&st, "on-a", NULL, T0 + S(3));
	assert_ptr_equal(sel(&st, T0 + S(3)), a);
	(void) s3;

	/* A managed engine cannot take an unmanaged entry's id. */
	{
		orch_engine_spec sp =
		    spec_of("192.168.1.50:6878", "x", "1.1.1.1", 1, 0);
		orch_engine *o = (orch_engine *) 1;

		assert_int_equal(
		    orch_state_engine_put(&st, &sp, T0, &o), ORCH_EEXIST);
		assert_null(o);
		check_state(&st);
	}

	/* Second stream at the same address: same entry. */
	ev = ev_of(NULL, "192.168.1.50", 6878, "k2", "s2");
	s2 = start_ev(&st, &ev, T0 + S(4));
	assert_ptr_equal(s2->engine, u);
	assert_int_equal(u->n_active, 2);
	assert_int_equal(st.n_engines, 2);

	/* By container id: two active streams -> ambiguous, nothing ends. */
	assert_null(end_cid(&st, "192.168.1.50:6878", NULL, T0 + S(5)));
	assert_int_equal(u->n_active, 2);

	/* First end keeps the entry. */
	out = end_id(&st, "k1|s1", "stopped", T0 + S(6));
	assert_ptr_equal(out, s1);
	found = orch_state_engine_get(&st, "192.168.1.50:6878");
	assert_ptr_equal(found, u);
	assert_int_equal(u->n_active, 1);

	/* Last end (by container id: exactly one) removes it. */
	out = end_cid(&st, "192.168.1.50:6878", "done", T0 + S(7));
	assert_ptr_equal(out, s2);
	assert_false(s2->active);
	assert_string_equal(s2->end_reason, "done");
	assert_null(s2->engine);
	assert_null(s1->engine);
	assert_string_equal(s2->container_id, "192.168.1.50:6878");
	assert_null(orch_state_engine_get(&st, "192.168.1.50:6878"));
	assert_null(orch_state_engine_by_addr(&st, "192.168.1.50", 6878));
	assert_int_equal(st.n_engines, 1);
	v = orch_state_engines_sorted(&st, &n);
	assert_int_equal(n, 1);
	assert_ptr_equal(v[0], a);

	/* The address comes back as a fresh entry later. */
	ev = ev_of(NULL, "192.168.1.50", 6878, "k3", "s3");
	s3 = start_ev(&st, &ev, T0 + S(8));
	u2 = s3->engine;
	assert_false(u2->managed);
	assert_true(u2->first_seen_us == T0 + S(8));
	orch_state_fini(&st);
}

/* A managed engine may take an unmanaged entry's address (the entry yields);
 * when that engine leaves, the entry must be found again by its address
 * and must not be duplicated. */
static void
test_unmanaged_entry_address_shadowed_by_managed(void **state)
{
	orch_state st;
	orch_engine *m, *u;
	orch_stream_start ev;
	orch_stream *s1, *s2, *s3;

	(void) state;
	state_new(&st, 2, 100, NULL);
	ev = ev_of(NULL, "acestream-7", 6878, "k1", "s1");
	s1 = start_ev(&st, &ev, T0 + 1);
	u = s1->engine;
	assert_false(u->managed);

	/* The managed engine comes up at that address: allowed. */
	m = put_eng(
	    &st, "mmmm", "acestream-7", "acestream-7", 6878, 19007, T0 + 2);
	assert_ptr_equal(
	    orch_state_engine_by_addr(&st, "acestream-7", 6878), m);
	assert_ptr_equal(orch_state_engine_get(&st, "acestream-7:6878"), u);
	ev = ev_of(NULL, "acestream-7", 6878, "k2", "s2");
	s2 = start_ev(&st, &ev, T0 + 3);
	assert_ptr_equal(s2->engine, m);

	/* The managed engine goes; the unmanaged entry still carries s1 and
	 * is again the one at that address. */
	orch_state_engine_remove(&st, m, T0 + 4, NULL);
	check_state(&st);
	assert_ptr_equal(
	    orch_state_engine_by_addr(&st, "acestream-7", 6878), u);
	ev = ev_of(NULL, "acestream-7", 6878, "k3", "s3");
	s3 = start_ev(&st, &ev, T0 + 5);
	assert_ptr_equal(s3->engine, u);
	assert_int_equal(u->n_active, 2);
	assert_int_equal(st.n_engines, 1);
	assert_ptr_equal(end_id(&st, "k1|s1", NULL, T0 + 6), s1);
	assert_ptr_equal(end_id(&st, "k3|s3", NULL, T0 + 7), s3);
	assert_int_equal(st.n_engines, 0);

	/* Same with an address change (update) instead of a removal. */
	ev = ev_of(NULL, "acestream-8", 6878, "k4", "s4");
	s1 = start_ev(&st, &ev, T0 + 8);
	u = s1->engine;
	m = put_eng(
	    &st, "nnnn", "acestream-8", "acestream-8", 6878, 19008, T0 + 9);
	m = put_eng(
	    &st, "nnnn", "acestream-8", "127.0.0.1", 19008, 19008, T0 + 10);
	assert_ptr_equal(
	    orch_state_engine_by_addr(&st, "acestream-8", 6878), u);
	orch_state_fini(&st);
}

/* ---- overwrite, end --------------------------------------------------- */

static void
test_restart_same_id_overwrites(void **state)
{
	orch_state st;
	orch_engine *a, *b, *u;
	orch_stream_start ev;
	orch_stream *s, *out;

	(void) state;
	state_new(&st, 2, 100, NULL);
	a = put_num(&st, 1, T0);
	b = put_num(&st, 2, T0);

	ev = ev_of("eng-01", NULL, 0, "k", "p");
	s = start_ev(&st, &ev, T0 + S(1));
	assert_ptr_equal(s->engine, a);

	/* Same start again: still one stream, on the same engine. */
	ev.is_live = false;
	s = start_ev(&st, &ev, T0 + S(2));
	assert_ptr_equal(orch_state_stream_get(&st, "k|p"), s);
	assert_false(s->is_live);
	assert_int_equal(st.counts.streams_active, 1);
	assert_int_equal(st.counts.streams_total, 1);
	assert_int_equal(a->n_active, 1);
	assert_int_equal(list_len(&a->group->streams), 1);
	assert_true(a->idle_since_us == 0);

	/* Same id on another engine: moved. */
	ev = ev_of("eng-02", NULL, 0, "k", "p");
	s = start_ev(&st, &ev, T0 + S(3));
	assert_ptr_equal(s->engine, b);
	assert_string_equal(s->container_id, "eng-02");
	assert_int_equal(a->n_active, 0);
	assert_int_equal(b->n_active, 1);
	assert_int_equal(list_len(&a->group->streams), 0);
	assert_true(a->idle_since_us == T0 + S(3));
	assert_true(a->last_stream_usage_us == T0 + S(3));
	assert_int_equal(st.counts.streams_total, 1);
	assert_int_equal(st.counts.free, 2);

	/* An ended stream started again: active again, still one record. */
	out = end_id(&st, "k|p", "stopped", T0 + S(4));
	assert_ptr_equal(out, s);
	assert_int_equal(st.counts.streams_active, 0);
	assert_int_equal(st.counts.streams_total, 1);
	s = start_ev(&st, &ev, T0 + S(5));
	assert_null(s->end_reason);
	assert_int_equal(st.counts.streams_active, 1);
	assert_int_equal(st.counts.streams_total, 1);
	assert_int_equal(list_len(&st.streams_ended), 0);

	/* Moved from a managed engine onto an unmanaged entry and back:
	 * the entry goes when the stream leaves it. */
	ev = ev_of(NULL, "10.1.2.3", 6878, "k", "p");
	s = start_ev(&st, &ev, T0 + S(6));
	u = s->engine;
	assert_false(u->managed);
	assert_int_equal(b->n_active, 0);
	assert_int_equal(st.n_engines, 3);
	s = start_ev(&st, &ev, T0 + S(7)); /* same entry again: it stays */
	assert_ptr_equal(s->engine, u);
	assert_int_equal(u->n_active, 1);
	assert_int_equal(st.n_engines, 3);
	ev = ev_of("eng-01", NULL, 0, "k", "p");
	s = start_ev(&st, &ev, T0 + S(8));
	assert_ptr_equal(s->engine, a);
	assert_null(orch_state_engine_get(&st, "10.1.2.3:6878"));
	assert_int_equal(st.n_engines, 2);
	assert_int_equal(st.counts.streams_total, 1);
	orch_state_fini(&st);
}

static void
test_stream_end_rules(void **state)
{
	orch_state st;
	orch_engine *a, *b;
	orch_stream *s1, *s2, *s3, *out;
	char before[4096], after[4096];

	(void) state;
	state_new(&st, 3, 100, NULL);
	a = put_num(&st, 1, T0);
	b = put_num(&st, 2, T0);
	s1 = start_on(&st, a, "s1", T0 + S(1));
	s2 = start_on(&st, a, "s2", T0 + S(2));
	s3 = start_on(&st, b, "s3", T0 + S(3));
	assert_true(a->last_stream_usage_us == T0 + S(2));

	/* With stream_id: that stream ends; reason stored. */
	out = end_id(&st, "s1", "stopped", T0 + S(10));
	assert_ptr_equal(out, s1);
	assert_false(s1->active);
	assert_true(s1->ended_at_us == T0 + S(10));
	assert_string_equal(s1->end_reason, "stopped");
	assert_null(s1->engine); /* ended: history lives in the group */
	assert_ptr_equal(s1->group, a->group);
	assert_int_equal(a->n_active, 1);
	assert_true(a->last_stream_usage_us == T0 + S(10));
	assert_true(a->idle_since_us == 0); /* s2 still on it */

	/* Already ended: nothing, reason untouched. */
	fingerprint(&st, before, sizeof(before));
	assert_null(end_id(&st, "s1", "again", T0 + S(11)));
	assert_string_equal(s1->end_reason, "stopped");
	assert_true(s1->ended_at_us == T0 + S(10));
	/* Unknown id: nothing ends (not even on an engine with one). */
	assert_null(end_id(&st, "nope", NULL, T0 + S(11)));
	/* stream_id wins: an unknown id with a container id ends nothing. */
	{
		orch_stream *o = (orch_stream *) 1;

		assert_int_equal(orch_state_stream_end(&st, "nope", "eng-02",
		                     NULL, T0 + S(11), &o),
		    ORCH_OK);
		assert_null(o);
	}
	/* By container id: unknown engine, none given. */
	assert_null(end_cid(&st, "eng-99", NULL, T0 + S(11)));
	assert_null(end_cid(&st, NULL, NULL, T0 + S(11)));
	fingerprint(&st, after, sizeof(after));
	assert_string_equal(before, after);
	assert_true(s3->active);

	/* By container id with exactly one active stream: it ends. */
	out = end_cid(&st, "eng-02", NULL, T0 + S(12));
	assert_ptr_equal(out, s3);
	assert_null(s3->end_reason); /* NULL reason = null */
	assert_true(b->idle_since_us == T0 + S(12));
	assert_true(b->last_stream_usage_us == T0 + S(12));
	/* Zero active: nothing. */
	assert_null(end_cid(&st, "eng-02", NULL, T0 + S(13)));
	/* Two active: ambiguous, nothing. */
	(void) start_on(&st, a, "s4", T0 + S(14));
	assert_int_equal(a->n_active, 2);
	assert_null(end_cid(&st, "eng-01", NULL, T0 + S(15)));
	assert_int_equal(a->n_active, 2);
	assert_ptr_equal(end_id(&st, "s4", "x", T0 + S(16)),
	    orch_state_stream_get(&st, "s4"));
	assert_ptr_equal(end_cid(&st, "eng-01", "last", T0 + S(17)), s2);
	assert_string_equal(s2->end_reason, "last");
	assert_true(a->idle_since_us == T0 + S(17));
	assert_int_equal(st.counts.streams_active, 0);
	assert_int_equal(st.counts.streams_total, 4);
	assert_int_equal(st.counts.used, 0);
	orch_state_fini(&st);
}

/* idle_since: set when the engine becomes idle, cleared when busy. */
static void
test_idle_since(void **state)
{
	orch_state st;
	orch_engine *a;
	orch_stream_start ev;

	(void) state;
	state_new(&st, 2, 100, NULL);
	a = put_num(&st, 1, T0);
	assert_true(a->idle_since_us == T0); /* idle from its first sight */
	assert_true(a->last_stream_usage_us == 0);

	(void) start_on(&st, a, "x", T0 + S(1));
	assert_true(a->idle_since_us == 0);
	(void) start_on(&st, a, "y", T0 + S(2));
	(void) end_id(&st, "x", NULL, T0 + S(3));
	assert_true(a->idle_since_us == 0); /* y still runs */
	(void) end_id(&st, "y", NULL, T0 + S(4));
	assert_true(a->idle_since_us == T0 + S(4));

	/* A reservation does not make it busy. */
	reserve(&st, a, "r1", T0 + S(100));
	assert_true(a->idle_since_us == T0 + S(4));
	/* A re-sent start of an active stream keeps it busy. */
	ev = ev_of("eng-01", NULL, 0, "k", "p");
	(void) start_ev(&st, &ev, T0 + S(5));
	(void) start_ev(&st, &ev, T0 + S(6));
	assert_true(a->idle_since_us == 0);
	assert_int_equal(a->n_active, 1);
	orch_state_fini(&st);
}

/* ---- engines ---------------------------------------------------------- */

static void
test_engine_remove_ends_streams_drops_reservations(void **state)
{
	orch_state st;
	orch_engine *a, *b;
	orch_stream *s0, *s1, *s2, *sb;

	(void) state;
	state_new(&st, 3, 100, NULL);
	a = put_num(&st, 1, T0);
	b = put_num(&st, 2, T0);
	s0 = start_on(&st, a, "s0", T0 + S(1));
	(void) end_id(&st, "s0", "stopped", T0 + S(2));
	s1 = start_on(&st, a, "s1", T0 + S(3));
	s2 = start_on(&st, a, "s2", T0 + S(4));
	sb = start_on(&st, b, "sb", T0 + S(5));
	reserve(&st, a, "ra", T0 + S(60));
	reserve(&st, b, "rb", T0 + S(60));
	assert_int_equal(st.counts.reservations, 2);

	orch_state_engine_remove(&st, a, T0 + S(6), NULL);
	check_state(&st);
	assert_null(orch_state_engine_get(&st, "eng-01"));
	assert_null(orch_state_engine_by_name(&st, "acestream-1"));
	assert_null(orch_state_engine_by_addr(&st, "127.0.0.1", 19001));
	assert_null(orch_state_engine_by_host_port(&st, 19001));
	for (int i = 0; i < 3; i++) {
		orch_stream *s = i == 0 ? s0 : i == 1 ? s1 : s2;

		assert_false(s->active);
		assert_null(s->engine);
		assert_string_equal(s->container_id, "eng-01");
	}
	assert_string_equal(s0->end_reason, "stopped");
	assert_true(s0->ended_at_us == T0 + S(2));
	assert_string_equal(s1->end_reason, "engine_gone");
	assert_string_equal(s2->end_reason, "engine_gone");
	assert_true(s1->ended_at_us == T0 + S(6));
	assert_null(orch_strmap_get(&st.reservations_by_id, "ra"));
	assert_non_null(orch_strmap_get(&st.reservations_by_id, "rb"));
	assert_int_equal(st.counts.reservations, 1);
	assert_int_equal(st.counts.engines, 1);
	assert_int_equal(st.counts.streams_active, 1);
	assert_int_equal(st.counts.streams_total, 4);
	assert_true(sb->active);

	/* A given reason is used instead. */
	orch_state_engine_remove(&st, b, T0 + S(7), "deleted");
	check_state(&st);
	assert_string_equal(sb->end_reason, "deleted");
	assert_int_equal(st.counts.reservations, 0);
	assert_int_equal(st.counts.engines, 0);
	assert_int_equal(st.n_engines, 0);
	assert_null(sel(&st, T0 + S(8)));

	/* The freed address, name and port can be taken again. */
	a = put_num(&st, 1, T0 + S(9));
	assert_true(a->first_seen_us == T0 + S(9));
	/* Same id again: the history of eng-01 continues (its group). */
	assert_ptr_equal(orch_state_group_get(&st, "eng-01"), a->group);
	assert_int_equal(list_len(&a->group->streams), 3);
	orch_state_fini(&st);
}

static void
test_set_running_die_and_start(void **state)
{
	orch_state st;
	orch_engine *a;
	orch_stream *s;

	(void) state;
	state_new(&st, 1, 100, NULL);
	a = put_num(&st, 1, T0);
	probe(&st, a, true, T0 + S(1));
	assert_int_equal(st.counts.healthy, 1);
	s = start_on(&st, a, "s", T0 + S(2));
	reserve(&st, a, "r", T0 + S(100));

	/* die: streams end engine_gone; not running, not free, not chosen. */
	orch_state_engine_set_running(&st, a, false, T0 + S(3));
	check_state(&st);
	assert_false(a->running);
	assert_false(s->active);
	assert_string_equal(s->end_reason, "engine_gone");
	assert_null(s->engine);
	assert_ptr_equal(s->group, a->group);
	assert_int_equal(st.counts.engines, 1);
	assert_int_equal(st.counts.running, 0);
	assert_int_equal(st.counts.healthy, 0);
	assert_int_equal(st.counts.free, 0);
	assert_null(sel(&st, T0 + S(3)));
	assert_true(a->idle_since_us == T0 + S(3));

	/* start: health back to unknown, startup clock restarts. */
	orch_state_engine_set_running(&st, a, true, T0 + S(10));
	check_state(&st);
	assert_true(a->running);
	assert_int_equal(a->health, ORCH_HEALTH_UNKNOWN);
	assert_false(a->ever_healthy);
	assert_int_equal(a->consecutive_failures, 0);
	assert_true(a->started_us == T0 + S(10));
	assert_true(a->first_seen_us == T0);
	assert_int_equal(st.counts.running, 1);
	assert_int_equal(st.counts.healthy, 0);

	/* From unhealthy too. */
	for (int i = 0; i < 3; i++)
		probe(&st, a, false, T0 + S(11 + i));
	assert_int_equal(a->health, ORCH_HEALTH_UNHEALTHY);
	assert_int_equal(st.counts.unhealthy, 1);
	orch_state_engine_set_running(&st, a, false, T0 + S(20));
	check_state(&st);
	assert_int_equal(st.counts.unhealthy, 0); /* counted only running */
	orch_state_engine_set_running(&st, a, true, T0 + S(21));
	check_state(&st);
	assert_int_equal(a->health, ORCH_HEALTH_UNKNOWN);
	assert_true(a->unhealthy_since_us == 0);
	assert_int_equal(st.counts.unhealthy, 0);
	assert_int_equal(st.counts.free, 0); /* "r" still holds the slot... */
	orch_state_expire(&st, T0 + S(100));
	check_state(&st);
	assert_int_equal(st.counts.free, 1); /* ... until it expires */

	/* An engine first seen not running. */
	{
		orch_engine_spec sp = spec_of(
		    "eng-02", "acestream-2", "127.0.0.1", 19002, 19002);
		orch_engine *b;

		sp.running = false;
		b = put_spec(&st, &sp, T0 + S(30));
		assert_false(b->running);
		assert_int_equal(st.counts.engines, 2);
		assert_int_equal(st.counts.running, 1);
		assert_ptr_equal(sel(&st, T0 + S(30)), a);
	}
	orch_state_fini(&st);
}

static void
test_probe_threshold_and_reset(void **state)
{
	orch_state st;
	orch_engine *a;

	(void) state;
	state_new(&st, 1, 100, NULL);
	a = put_num(&st, 1, T0);

	/* Threshold 3: two failures leave it unknown. */
	assert_false(orch_state_engine_probe(&st, a, false, 3, T0 + S(1)));
	check_state(&st);
	assert_false(orch_state_engine_probe(&st, a, false, 3, T0 + S(2)));
	check_state(&st);
	assert_int_equal(a->health, ORCH_HEALTH_UNKNOWN);
	assert_int_equal(a->consecutive_failures, 2);
	assert_true(a->last_health_check_us == T0 + S(2));
	assert_int_equal(st.counts.free, 1);
	/* The third turns it unhealthy. */
	assert_true(orch_state_engine_probe(&st, a, false, 3, T0 + S(3)));
	check_state(&st);
	assert_int_equal(a->health, ORCH_HEALTH_UNHEALTHY);
	assert_true(a->unhealthy_since_us == T0 + S(3));
	assert_int_equal(st.counts.unhealthy, 1);
	assert_int_equal(st.counts.free, 0);
	assert_null(sel(&st, T0 + S(3)));
	/* More failures keep the first time. */
	assert_false(orch_state_engine_probe(&st, a, false, 3, T0 + S(4)));
	check_state(&st);
	assert_true(a->unhealthy_since_us == T0 + S(3));
	/* One success: healthy, counters reset. */
	assert_true(orch_state_engine_probe(&st, a, true, 3, T0 + S(5)));
	check_state(&st);
	assert_int_equal(a->health, ORCH_HEALTH_HEALTHY);
	assert_true(a->unhealthy_since_us == 0);
	assert_int_equal(a->consecutive_failures, 0);
	assert_true(a->ever_healthy);
	assert_true(a->last_seen_us == T0 + S(5));
	assert_int_equal(st.counts.healthy, 1);
	assert_int_equal(st.counts.unhealthy, 0);
	assert_ptr_equal(sel(&st, T0 + S(5)), a);
	/* A success in between restarts the count. */
	assert_false(orch_state_engine_probe(&st, a, false, 3, T0 + S(6)));
	check_state(&st);
	assert_false(orch_state_engine_probe(&st, a, false, 3, T0 + S(7)));
	check_state(&st);
	assert_false(orch_state_engine_probe(&st, a, true, 3, T0 + S(8)));
	check_state(&st);
	assert_false(orch_state_engine_probe(&st, a, false, 3, T0 + S(9)));
	check_state(&st);
	assert_false(orch_state_engine_probe(&st, a, false, 3, T0 + S(10)));
	check_state(&st);
	assert_int_equal(a->health, ORCH_HEALTH_HEALTHY);
	/* Threshold 1: one failure is enough. */
	assert_true(orch_state_engine_probe(&st, a, false, 1, T0 + S(11)));
	check_state(&st);
	assert_int_equal(a->health, ORCH_HEALTH_UNHEALTHY);
	assert_true(a->unhealthy_since_us == T0 + S(11));
	orch_state_fini(&st);
}

static void
test_marked_and_forwarded_counts(void **state)
{
	orch_state st;
	orch_engine *a, *b, *c;

	(void) state;
	state_new(&st, 2, 100, NULL);
	a = put_num(&st, 1, T0);
	b = put_num(&st, 2, T0);
	c = put_num(&st, 3, T0);
	assert_int_equal(st.counts.free, 3);

	orch_state_engine_set_marked(&st, c, true);
	check_state(&st);
	assert_int_equal(st.counts.marked, 1);
	assert_int_equal(st.counts.free, 2);
	assert_int_equal(st.counts.running, 3);

	(void) start_on(&st, a, "a1", T0 + 1);
	(void) start_on(&st, a, "a2", T0 + 2);
	assert_int_equal(st.counts.used, 1);
	assert_int_equal(st.counts.free, 1);
	(void) start_on(&st, b, "b1", T0 + 3);
	reserve(&st, b, "rb", T0 + S(10)); /* load 2: not free, not used */
	assert_int_equal(st.counts.used, 1);
	assert_int_equal(st.counts.free, 0);
	(void) start_on(&st, c, "c1", T0 + 4); /* a marked engine still takes
	                                        * streams sent to it */
	(void) start_on(&st, c, "c2", T0 + 5);
	assert_int_equal(st.counts.used, 2);

	orch_state_engine_set_marked(&st, c, false);
	check_state(&st);
	assert_int_equal(st.counts.marked, 0);
	orch_state_engine_set_forwarded(&st, c, true);
	check_state(&st);
	assert_true(c->forwarded);
	orch_state_fini(&st);
}

static void
test_engines_sorted_by_port_then_id(void **state)
{
	orch_state st;
	orch_engine *const *v;
	orch_stream_start ev;
	size_t n;

	(void) state;
	state_new(&st, 1, 100, NULL);
	v = orch_state_engines_sorted(&st, &n);
	assert_int_equal(n, 0);
	(void) put_eng(&st, "e5", "n5", "127.0.0.1", 19005, 19005, T0);
	(void) put_eng(&st, "e1", "n1", "127.0.0.1", 19001, 19001, T0);
	(void) put_eng(&st, "zz", "n3", "acestream-3", 6878, 19003, T0);
	(void) put_eng(&st, "aa", "n4", "acestream-4", 6878, 19004, T0);
	ev = ev_of(NULL, "10.0.0.1", 5000, "k", "s");
	(void) start_ev(&st, &ev, T0);

	{
		static const char *want[] = {
		    "10.0.0.1:5000", "aa", "zz", "e1", "e5"};

		v = orch_state_engines_sorted(&st, &n);
		assert_int_equal(n, 5);
		for (size_t i = 0; i < n; i++)
			assert_string_equal(v[i]->container_id, want[i]);
	}
	/* An update moves an engine; a removal drops it. */
	(void) put_eng(&st, "e1", "n1", "127.0.0.1", 19009, 19009, T0 + 1);
	orch_state_engine_remove(
	    &st, orch_state_engine_get(&st, "zz"), T0 + 2, NULL);
	check_state(&st);
	{
		static const char *want[] = {
		    "10.0.0.1:5000", "aa", "e5", "e1"};

		v = orch_state_engines_sorted(&st, &n);
		assert_int_equal(n, 4);
		for (size_t i = 0; i < n; i++)
			assert_string_equal(v[i]->container_id, want[i]);
	}
	/* Many engines: sorted and complete. */
	for (int i = 0; i < 100; i++) {
		char id[16], name[16];

		snprintf(id, sizeof(id), "m%03d", i);
		snprintf(name, sizeof(name), "nm%03d", i);
		(void) put_eng(&st, id, name, "127.0.0.1",
		    30000 + (i * 37) % 100, 30000 + (i * 37) % 100, T0);
	}
	v = orch_state_engines_sorted(&st, &n);
	assert_int_equal(n, 104);
	for (size_t i = 1; i < n; i++)
		assert_true(v[i - 1]->port < v[i]->port ||
		            (v[i - 1]->port == v[i]->port &&
		                strcmp(v[i - 1]->container_id,
		                    v[i]->container_id) < 0));
	orch_state_fini(&st);
}

/* EEXIST for a held address, name or published port; EINVAL for bad
 * fields; either way nothing changes. */
static void
test_engine_put_conflicts_and_invalid(void **state)
{
	static const struct {
		const char *what;
		const char *id, *name, *host;
		int port, hport, hsport;
		orch_err want;
	} cases[] = {
	    {"address held", "new1", "acestream-9", "127.0.0.1", 19001, 19009,
	        0, ORCH_EEXIST},
	    {"name held", "new1", "acestream-1", "127.0.0.1", 19009, 19009, 0,
	        ORCH_EEXIST},
	    {"published port held", "new1", "acestream-9", "acestream-9", 6878,
	        19001, 0, ORCH_EEXIST},
	    {"B taking A's address", "bbbb", "acestream-2", "127.0.0.1", 19001,
	        19002, 0, ORCH_EEXIST},
	    {"B taking A's name", "bbbb", "acestream-1", "127.0.0.1", 19002,
	        19002, 0, ORCH_EEXIST},
	    {"B taking A's published port", "bbbb", "acestream-2", "127.0.0.1",
	        19002, 19001, 0, ORCH_EEXIST},
	    {"no id", NULL, "n", "h", 1, 0, 0, ORCH_EINVAL},
	    {"empty id", "", "n", "h", 1, 0, 0, ORCH_EINVAL},
	    {"no name", "x", NULL, "h", 1, 0, 0, ORCH_EINVAL},
	    {"empty name", "x", "", "h", 1, 0, 0, ORCH_EINVAL},
	    {"no host", "x", "n", NULL, 1, 0, 0, ORCH_EINVAL},
	    {"empty host", "x", "n", "", 1, 0, 0, ORCH_EINVAL},
	    {"port 0", "x", "n", "h", 0, 0, 0, ORCH_EINVAL},
	    {"port -1", "x", "n", "h", -1, 0, 0, ORCH_EINVAL},
	    {"port 65536", "x", "n", "h", 65536, 0, 0, ORCH_EINVAL},
	    {"published 65536", "x", "n", "h", 1, 65536, 0, ORCH_EINVAL},
	    {"published -5", "x", "n", "h", 1, -5, 0, ORCH_EINVAL},
	    {"https 70000", "x", "n", "h", 1, 0, 70000, ORCH_EINVAL},
	    {"https -1", "x", "n", "h", 1, 0, -1, ORCH_EINVAL},
	    {"bad field wins over conflict", "bbbb", "acestream-1", "h", 0, 0,
	        0, ORCH_EINVAL},
	};
	static char longhost[300];
	orch_state st;
	orch_engine *a, *b;
	char before[8192], after[8192];

	(void) state;
	memset(longhost, 'h', 256);
	longhost[256] = '\0';
	state_new(&st, 1, 100, NULL);
	a = put_eng(&st, "aaaa", "acestream-1", "127.0.0.1", 19001, 19001, T0);
	b = put_eng(&st, "bbbb", "acestream-2", "127.0.0.1", 19002, 19002, T0);
	(void) start_on(&st, a, "sa", T0 + 1);
	reserve(&st, b, "rb", T0 + S(30));
	fingerprint(&st, before, sizeof(before));

	for (size_t i = 0; i <= sizeof(cases) / sizeof(cases[0]); i++) {
		orch_engine_spec sp;
		orch_engine *out = (orch_engine *) 1;
		orch_err want;
		const char *what;

		if (i < sizeof(cases) / sizeof(cases[0])) {
			sp = spec_of(cases[i].id, cases[i].name, cases[i].host,
			    cases[i].port, cases[i].hport);
			sp.host_https_port = cases[i].hsport;
			want = cases[i].want;
			what = cases[i].what;
		} else {
			sp = spec_of("x", "n", longhost, 1, 0);
			want = ORCH_EINVAL;
			what = "host over 255 bytes";
		}
		if (orch_state_engine_put(&st, &sp, T0 + S(5), &out) != want)
			fail_msg("%s: wrong result", what);
		assert_null(out);
		check_state(&st);
		fingerprint(&st, after, sizeof(after));
		if (strcmp(before, after) != 0)
			fail_msg(
			    "%s: state changed:\n%s\n%s", what, before, after);
	}
	assert_ptr_equal(
	    orch_state_engine_by_addr(&st, "127.0.0.1", 19001), a);
	assert_ptr_equal(orch_state_engine_by_name(&st, "acestream-1"), a);
	assert_ptr_equal(orch_state_engine_by_host_port(&st, 19001), a);
	assert_ptr_equal(orch_state_engine_by_host_port(&st, 19002), b);
	assert_true(b->last_seen_us == T0);

	/* An engine may re-put its own address, name and port. */
	(void) put_eng(
	    &st, "aaaa", "acestream-1", "127.0.0.1", 19001, 19001, T0 + S(6));
	/* out may be NULL. */
	{
		orch_engine_spec sp =
		    spec_of("cccc", "acestream-3", "127.0.0.1", 19003, 19003);

		assert_int_equal(
		    orch_state_engine_put(&st, &sp, T0, NULL), ORCH_OK);
		check_state(&st);
		assert_int_equal(
		    orch_state_engine_put(&st, &sp, T0, NULL), ORCH_OK);
		check_state(&st);
		sp.container_id = "dddd";
		assert_int_equal(
		    orch_state_engine_put(&st, &sp, T0, NULL), ORCH_EEXIST);
		check_state(&st);
	}
	/* Unpublished engines do not conflict over port 0. */
	(void) put_eng(&st, "e0", "n0", "10.0.0.1", 6878, 0, T0);
	(void) put_eng(&st, "e00", "n00", "10.0.0.2", 6878, 0, T0);
	assert_null(orch_state_engine_by_host_port(&st, 0));
	orch_state_fini(&st);
}

/* An update of an existing engine keeps first_seen, its streams and their
 * history; indexes follow the new address, name and port. */
static void
test_engine_update_keeps_first_seen_and_streams(void **state)
{
	orch_state st;
	orch_engine *a, *a2;
	orch_stream *s1, *s2;
	orch_engine_spec sp;
	orch_label l1[] = {{"acestream.http_port", "19001"}};
	orch_label l2[] = {{"acestream.http_port", "19011"}, {"x", "y"}};

	(void) state;
	state_new(&st, 2, 100, NULL);
	sp = spec_of("aaaa", "acestream-1", "127.0.0.1", 19001, 19001);
	sp.labels = l1;
	sp.n_labels = 1;
	sp.host_https_port = 45001;
	a = put_spec(&st, &sp, T0);
	assert_int_equal(a->n_labels, 1);
	assert_ptr_not_equal(a->labels[0].key, l1[0].key); /* copied */
	s1 = start_on(&st, a, "s1", T0 + S(1));
	(void) end_id(&st, "s1", NULL, T0 + S(2));
	s2 = start_on(&st, a, "s2", T0 + S(3));
	probe(&st, a, true, T0 + S(4));
	reserve(&st, a, "r", T0 + S(60));

	sp = spec_of("aaaa", "acestream-1b", "127.0.0.1", 19011, 19011);
	sp.labels = l2;
	sp.n_labels = 2;
	sp.host_https_port = 45011;
	sp.container_https_port = 45011;
	sp.forwarded = true;
	a2 = put_spec(&st, &sp, T0 + S(10));
	assert_ptr_equal(a2, a);
	assert_true(a->first_seen_us == T0);
	assert_true(a->last_seen_us == T0 + S(10));
	assert_true(a->started_us == T0);
	assert_int_equal(a->health, ORCH_HEALTH_HEALTHY);
	assert_int_equal(a->n_active, 1);
	assert_int_equal(a->n_reserved, 1);
	assert_int_equal(list_len(&a->group->streams), 2);
	assert_null(s1->engine); /* ended */
	assert_ptr_equal(s1->group, a->group);
	assert_ptr_equal(s2->engine, a);
	assert_true(s2->active);
	assert_string_equal(a->container_name, "acestream-1b");
	assert_int_equal(a->port, 19011);
	assert_string_equal(a->addr_key, "127.0.0.1:19011");
	assert_int_equal(a->host_https_port, 45011);
	assert_int_equal(a->container_https_port, 45011);
	assert_true(a->forwarded);
	assert_int_equal(a->n_labels, 2);
	assert_string_equal(label_get(a, "acestream.http_port"), "19011");
	assert_string_equal(label_get(a, "x"), "y");
	assert_null(orch_state_engine_by_addr(&st, "127.0.0.1", 19001));
	assert_null(orch_state_engine_by_name(&st, "acestream-1"));
	assert_null(orch_state_engine_by_host_port(&st, 19001));
	assert_ptr_equal(orch_state_engine_by_host_port(&st, 19011), a);
	/* The old address, name and port are free for another engine. */
	(void) put_eng(
	    &st, "bbbb", "acestream-1", "127.0.0.1", 19001, 19001, T0 + S(11));

	/* An update saying "not running" is a die; then "running" a start. */
	sp.running = false;
	(void) put_spec(&st, &sp, T0 + S(12));
	assert_false(s2->active);
	assert_string_equal(s2->end_reason, "engine_gone");
	assert_int_equal(st.counts.running, 1);
	sp.running = true;
	(void) put_spec(&st, &sp, T0 + S(13));
	assert_int_equal(a->health, ORCH_HEALTH_UNKNOWN);
	assert_true(a->started_us == T0 + S(13));
	assert_true(a->first_seen_us == T0);
	assert_int_equal(list_len(&a->group->streams), 2);
	orch_state_fini(&st);
}

/* ---- selection -------------------------------------------------------- */

/*
 * Two engines "a" and "b" (ids given per row), max 2 streams per engine.
 * Per engine: healthy (one good probe) or unknown; active streams (started
 * at T0+100 on both, so their last use is equal); reservations; forwarded;
 * a last use at T0+usage (a stream started and ended then; 0 = never).
 */
typedef struct sel_side {
	const char *id;
	bool healthy;
	int streams;
	int reserved;
	bool forwarded;
	int usage_s;
} sel_side;

static void
test_selection_order(void **state)
{
	static const struct {
		const char *what;
		sel_side a, b;
		char want; /* 'a', 'b' or '-' (none) */
	} cases[] = {
	    {"free slot before a full one", {"e1", true, 2, 0, true, 0},
	        {"e2", false, 1, 0, false, 0}, 'b'},
	    {"full by reservations", {"e1", true, 0, 2, false, 0},
	        {"e2", false, 1, 0, false, 0}, 'b'},
	    {"healthy before unknown (even if more loaded)",
	        {"e1", false, 0, 0, true, 0}, {"e2", true, 1, 0, false, 0},
	        'b'},
	    {"fewest load", {"e1", true, 1, 0, true, 0},
	        {"e2", true, 0, 0, false, 5}, 'b'},
	    {"fewest load counts reservations", {"e1", true, 0, 1, false, 0},
	        {"e2", true, 0, 0, false, 0}, 'b'},
	    {"forwarded first", {"e2", true, 0, 0, true, 50},
	        {"e1", true, 0, 0, false, 5}, 'a'},
	    {"oldest last use", {"e1", true, 0, 0, false, 50},
	        {"e2", true, 0, 0, false, 5}, 'b'},
	    {"never used before used", {"e1", true, 0, 0, false, 1},
	        {"e2", true, 0, 0, false, 0}, 'b'},
	    {"id breaks the tie", {"e2", true, 0, 0, false, 7},
	        {"e1", true, 0, 0, false, 7}, 'b'},
	    {"id breaks the tie, unknown health",
	        {"e1", false, 1, 0, false, 0}, {"e2", false, 1, 0, false, 0},
	        'a'},
	    {"both full", {"e1", true, 2, 0, false, 0},
	        {"e2", true, 1, 1, false, 0}, '-'},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const sel_side *sides[2] = {&cases[i].a, &cases[i].b};
		orch_engine *e[2];
		orch_engine *got, *want;
		orch_state st;

		state_new(&st, 2, 100, NULL);
		for (int k = 0; k < 2; k++) {
			char name[32];

			snprintf(name, sizeof(name), "name-%s", sides[k]->id);
			e[k] = put_eng(&st, sides[k]->id, name, "127.0.0.1",
			    19001 + k, 19001 + k, T0);
		}
		for (int k = 0; k < 2; k++) {
			const sel_side *sd = sides[k];
			char sid[32];

			if (sd->healthy)
				probe(&st, e[k], true, T0 + S(1));
			if (sd->forwarded) {
				orch_state_engine_set_forwarded(
				    &st, e[k], true);
				check_state(&st);
			}
			if (sd->usage_s != 0) {
				snprintf(sid, sizeof(sid), "u-%d", k);
				(void) start_on(
				    &st, e[k], sid, T0 + S(sd->usage_s));
				(void) end_id(
				    &st, sid, NULL, T0 + S(sd->usage_s));
				assert_true(e[k]->last_stream_usage_us ==
				            T0 + S(sd->usage_s));
			}
			for (int j = 0; j < sd->reserved; j++) {
				snprintf(sid, sizeof(sid), "r-%d-%d", k, j);
				reserve(&st, e[k], sid, T0 + S(1000));
			}
			for (int j = 0; j < sd->streams; j++) {
				snprintf(sid, sizeof(sid), "s-%d-%d", k, j);
				(void) start_on(&st, e[k], sid, T0 + S(100));
			}
		}
		got = sel(&st, T0 + S(200));
		check_state(&st);
		want = cases[i].want == 'a'   ? e[0]
		       : cases[i].want == 'b' ? e[1]
		                              : NULL;
		if (got != want)
			fail_msg("%s: chose %s, want %s", cases[i].what,
			    got ? got->container_id : "none",
			    want ? want->container_id : "none");
		assert_ptr_equal(got, brute_select(&st));
		orch_state_fini(&st);
	}
}

/* Unhealthy, marked, stopped and unmanaged engines are never chosen, however
 * good they otherwise look. */
static void
test_selection_never_unhealthy_marked_stopped(void **state)
{
	static const struct {
		const char *what;
		int kind; /* 0 unhealthy, 1 marked, 2 not running, 3 unmanaged
		           */
	} cases[] = {
	    {"unhealthy", 0},
	    {"marked", 1},
	    {"not running", 2},
	    {"unmanaged", 3},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		orch_state st;
		orch_engine *bad = NULL, *ok;

		state_new(&st, 3, 100, NULL);
		if (cases[i].kind == 3) {
			orch_stream_start ev =
			    ev_of(NULL, "10.0.0.1", 1, "k", "s");

			bad = start_ev(&st, &ev, T0)->engine;
		} else {
			bad = put_eng(&st, "a-best-id", "n-a", "127.0.0.1",
			    19001, 19001, T0);
			orch_state_engine_set_forwarded(&st, bad, true);
			check_state(&st);
			if (cases[i].kind != 0)
				probe(&st, bad, true, T0 + 1);
		}
		switch (cases[i].kind) {
		case 0:
			for (int k = 0; k < 3; k++)
				probe(&st, bad, false, T0 + 1 + k);
			break;
		case 1:
			orch_state_engine_set_marked(&st, bad, true);
			break;
		case 2:
			orch_state_engine_set_running(&st, bad, false, T0 + 2);
			break;
		default:
			break;
		}
		check_state(&st);
		if (sel(&st, T0 + 5) != NULL)
			fail_msg("%s: chosen while alone", cases[i].what);
		/* A worse but eligible engine is chosen instead. */
		ok = put_eng(&st, "z-worst-id", "n-z", "127.0.0.1", 19009,
		    19009, T0 + 6);
		(void) start_on(&st, ok, "s1", T0 + 7);
		(void) start_on(&st, ok, "s2", T0 + 8);
		if (sel(&st, T0 + 9) != ok)
			fail_msg("%s: not skipped", cases[i].what);
		check_state(&st);
		orch_state_fini(&st);
	}
}

static void
test_reservations_load_expiry_and_consumption(void **state)
{
	orch_state st;
	orch_engine *a, *b;
	orch_reservation *r = NULL;
	orch_stream_start ev;
	orch_stream *s;
	char before[4096], after[4096];

	(void) state;
	state_new(&st, 1, 100, NULL);
	a = put_num(&st, 1, T0);
	assert_ptr_equal(sel(&st, T0), a);

	/* A reservation is load: the only slot is taken until it expires. */
	reserve(&st, a, "r1", T0 + S(15));
	assert_int_equal(a->n_reserved, 1);
	assert_int_equal(orch_engine_load(a), 1);
	assert_int_equal(st.counts.reservations, 1);
	assert_int_equal(st.counts.free, 0);
	assert_int_equal(st.counts.used, 0); /* used counts streams only */
	assert_null(sel(&st, T0 + S(1)));
	check_state(&st);
	assert_null(sel(&st, T0 + S(15) - 1));
	check_state(&st);
	assert_int_equal(st.counts.reservations, 1);
	/* Expires at exactly its time. */
	assert_ptr_equal(sel(&st, T0 + S(15)), a);
	check_state(&st);
	assert_int_equal(st.counts.reservations, 0);
	assert_int_equal(a->n_reserved, 0);
	assert_int_equal(st.counts.free, 1);
	assert_null(orch_strmap_get(&st.reservations_by_id, "r1"));

	/* orch_state_expire drops only those due, in expiry order, whatever
	 * the insertion order. */
	orch_state_fini(&st);
	state_new(&st, 5, 100, NULL);
	a = put_num(&st, 1, T0);
	b = put_num(&st, 2, T0);
	reserve(&st, a, "late", T0 + S(20));
	reserve(&st, b, "early", T0 + S(5));
	reserve(&st, a, "mid", T0 + S(10));
	reserve(&st, b, "mid2", T0 + S(10));
	orch_state_expire(&st, T0 + S(4));
	check_state(&st);
	assert_int_equal(st.counts.reservations, 4);
	orch_state_expire(&st, T0 + S(5));
	check_state(&st);
	assert_int_equal(st.counts.reservations, 3);
	assert_null(orch_strmap_get(&st.reservations_by_id, "early"));
	assert_int_equal(b->n_reserved, 1);
	orch_state_expire(&st, T0 + S(19));
	check_state(&st);
	assert_int_equal(st.counts.reservations, 1);
	assert_non_null(orch_strmap_get(&st.reservations_by_id, "late"));
	orch_state_expire(&st, T0 + S(100));
	check_state(&st);
	assert_int_equal(st.counts.reservations, 0);
	assert_int_equal(a->n_reserved, 0);

	/* Duplicate id: EEXIST; over 32 characters: EINVAL; nothing changes.
	 */
	reserve(&st, a, "dup", T0 + S(30));
	fingerprint(&st, before, sizeof(before));
	assert_int_equal(
	    orch_state_reserve(&st, b, "dup", T0 + S(40), &r), ORCH_EEXIST);
	assert_int_equal(
	    orch_state_reserve(
	        &st, b, "0123456789abcdef0123456789abcdef0", T0 + S(40), &r),
	    ORCH_EINVAL);
	check_state(&st);
	fingerprint(&st, after, sizeof(after));
	assert_string_equal(before, after);
	/* Exactly 32 is fine (the core's ids). */
	reserve(&st, b, "0123456789abcdef0123456789abcdef", T0 + S(40));

	/* A start carrying reservation_id consumes it. */
	ev = ev_of("eng-01", NULL, 0, "k", "p");
	ev.reservation_id = "dup";
	s = start_ev(&st, &ev, T0 + S(31));
	assert_ptr_equal(s->engine, a);
	assert_int_equal(a->n_reserved, 0);
	assert_int_equal(a->n_active, 1);
	assert_int_equal(orch_engine_load(a), 1);
	assert_null(orch_strmap_get(&st.reservations_by_id, "dup"));
	/* ... even when the stream lands on another engine. */
	ev = ev_of("eng-01", NULL, 0, "k", "q");
	ev.reservation_id = "0123456789abcdef0123456789abcdef";
	(void) start_ev(&st, &ev, T0 + S(32));
	assert_int_equal(b->n_reserved, 0);
	assert_int_equal(a->n_active, 2);
	assert_int_equal(st.counts.reservations, 0);
	/* An unknown (or expired) reservation id is ignored. */
	ev = ev_of("eng-02", NULL, 0, "k", "r");
	ev.reservation_id = "never-issued";
	s = start_ev(&st, &ev, T0 + S(33));
	assert_ptr_equal(s->engine, b);
	orch_state_fini(&st);

	/* With one slot: reserve, start with it, load stays 1, not 2. */
	state_new(&st, 1, 100, NULL);
	a = put_num(&st, 1, T0);
	reserve(&st, a, "only", T0 + S(15));
	ev = ev_of(NULL, "127.0.0.1", 19001, "k", "p");
	ev.reservation_id = "only";
	(void) start_ev(&st, &ev, T0 + S(1));
	assert_int_equal(orch_engine_load(a), 1);
	assert_int_equal(st.counts.used, 1);
	assert_int_equal(st.counts.free, 0);
	assert_null(sel(&st, T0 + S(16)));
	orch_state_fini(&st);
}

/* ---- retention -------------------------------------------------------- */

static void
test_ended_max_trims_oldest_ended(void **state)
{
	orch_state st;
	orch_engine *a;
	char sid[16];

	(void) state;
	state_new(&st, 100, 3, NULL);
	a = put_num(&st, 1, T0);
	for (int i = 0; i < 10; i++) {
		snprintf(sid, sizeof(sid), "s%d", i);
		(void) start_on(&st, a, sid, T0 + S(i));
	}
	/* End s5, s4, s3, s2, s1 (in that order): the first ended go first,
	 * whatever their start order. */
	for (int i = 5; i >= 1; i--) {
		snprintf(sid, sizeof(sid), "s%d", i);
		assert_non_null(end_id(&st, sid, NULL, T0 + S(100 - i)));
		assert_true(
		    st.counts.streams_total - st.counts.streams_active <= 3);
	}
	assert_null(orch_state_stream_get(&st, "s5"));
	assert_null(orch_state_stream_get(&st, "s4"));
	for (int i = 1; i <= 3; i++) {
		snprintf(sid, sizeof(sid), "s%d", i);
		assert_non_null(orch_state_stream_get(&st, sid));
		assert_false(orch_state_stream_get(&st, sid)->active);
	}
	for (int i = 6; i < 10; i++) {
		snprintf(sid, sizeof(sid), "s%d", i);
		assert_true(orch_state_stream_get(&st, sid)->active);
	}
	assert_non_null(orch_state_stream_get(&st, "s0"));
	assert_int_equal(st.counts.streams_total, 8);
	assert_int_equal(st.counts.streams_active, 5);
	assert_int_equal(list_len(&a->group->streams), 8);

	/* Engine removal ends five at once: still at most 3 ended kept. */
	orch_state_engine_remove(&st, a, T0 + S(200), NULL);
	check_state(&st);
	assert_int_equal(st.counts.streams_active, 0);
	assert_int_equal(st.counts.streams_total, 3);
	orch_state_fini(&st);

	/* ended_max 1 with many active: the active are never trimmed. */
	state_new(&st, 100, 1, NULL);
	a = put_num(&st, 1, T0);
	for (int i = 0; i < 20; i++) {
		snprintf(sid, sizeof(sid), "s%d", i);
		(void) start_on(&st, a, sid, T0 + S(i));
	}
	assert_int_equal(st.counts.streams_total, 20);
	(void) end_id(&st, "s0", NULL, T0 + S(30));
	(void) end_id(&st, "s1", NULL, T0 + S(31));
	assert_null(orch_state_stream_get(&st, "s0"));
	assert_non_null(orch_state_stream_get(&st, "s1"));
	assert_int_equal(st.counts.streams_total, 19);
	assert_int_equal(st.counts.streams_active, 18);
	/* The stream that ends now is never the one trimmed. */
	{
		orch_stream *s = end_id(&st, "s2", "r", T0 + S(32));

		assert_non_null(s);
		assert_ptr_equal(orch_state_stream_get(&st, "s2"), s);
		assert_string_equal(s->end_reason, "r");
	}
	orch_state_fini(&st);
}

static orch_stat
stat_of(int64_t ts)
{
	orch_stat s;

	memset(&s, 0, sizeof(s));
	s.ts_us = ts;
	s.peers = ts % 97;
	s.speed_down = ts * 2;
	s.has = ORCH_STAT_PEERS | ORCH_STAT_SPEED_DOWN |
	        ((ts & 1) ? ORCH_STAT_STATUS : 0);
	snprintf(s.status, sizeof(s.status), "dl-%lld", (long long) ts);
	return s;
}

/* The ring grows geometrically up to stats_max, then keeps the newest
 * stats_max snapshots, oldest first. */
static void
test_stats_ring_grows_and_caps(void **state)
{
	static const int maxes[] = {1, 2, 3, 4, 5, 7, 10, 33, 720};

	(void) state;
	for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++) {
		const int max = maxes[m];
		orch_state_opts o = opts_of(1, max, 10, NULL);
		orch_state st;
		orch_engine *a;
		orch_stream *s;
		int total = 2 * max + 5;

		assert_int_equal(orch_state_init(&st, &o), ORCH_OK);
		a = put_num(&st, 1, T0);
		s = start_on(&st, a, "s", T0);
		assert_null(orch_stream_latest_stat(s));
		assert_int_equal(s->stats_count, 0);
		for (int n = 1; n <= total; n++) {
			orch_stat snap = stat_of(n);
			uint32_t want = (uint32_t) (n < max ? n : max);

			assert_int_equal(
			    orch_state_stream_add_stat(&st, s, &snap),
			    ORCH_OK);
			check_state(&st);
			assert_int_equal(s->stats_count, want);
			assert_true(s->stats_cap >= want);
			assert_true(s->stats_cap <= (uint32_t) max);
			/* geometric: 4, 8, 16, ... or the cap itself */
			assert_true(
			    s->stats_cap == (uint32_t) max ||
			    (s->stats_cap >= 4 &&
			        (s->stats_cap & (s->stats_cap - 1)) == 0));
			for (uint32_t i = 0; i < s->stats_count; i++) {
				const orch_stat *got =
				    orch_stream_stat_at(s, i);
				orch_stat exp =
				    stat_of(n - (int) want + 1 + (int) i);

				assert_true(got->ts_us == exp.ts_us);
				assert_true(got->peers == exp.peers);
				assert_true(got->speed_down == exp.speed_down);
				assert_int_equal(got->has, exp.has);
				assert_string_equal(got->status, exp.status);
			}
			assert_true(orch_stream_latest_stat(s)->ts_us == n);
		}
		/* An ended stream keeps its snapshots. */
		(void) end_id(&st, "s", NULL, T0 + 1);
		assert_int_equal(s->stats_count, (uint32_t) max);
		check_state(&st);
		orch_state_fini(&st);
	}
}

/* ---- randomized ------------------------------------------------------- */

static uint64_t
rnd_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int
rnd(uint64_t *s, int n)
{
	return (int) (rnd_next(s) % (uint64_t) n);
}

/*
 * 10,000 random operations over 12 engine slots, 40 stream ids and a few
 * unmanaged addresses, with max 2 streams per engine and 50 ended kept.
 * After each: check_state(), and the heap's choice equals the brute-force
 * choice. Ends with orch_state_fini (LeakSanitizer checks the rest).
 */
static void
test_random_operations(void **state)
{
	enum { SLOTS = 12, SIDS = 40, OPS = 10000 };
	orch_state st;
	orch_state_opts o = opts_of(2, 6, 50, "gw.example");
	uint64_t seed = 0xC0FFEE;
	int64_t now = T0;
	char res_ids[64][24];
	int n_res_ids = 0, res_seq = 0;
	int counts_op[10] = {0};

	(void) state;
	assert_int_equal(orch_state_init(&st, &o), ORCH_OK);
	for (int op = 0; op < OPS; op++) {
		int kind = rnd(&seed, 10);
		int slot = rnd(&seed, SLOTS);
		char id[16], name[24], sid[16];
		orch_engine *e;

		snprintf(id, sizeof(id), "eng-%02d", slot);
		snprintf(name, sizeof(name), "acestream-%d", slot);
		snprintf(sid, sizeof(sid), "st-%d", rnd(&seed, SIDS));
		e = orch_state_engine_get(&st, id);
		now += rnd(&seed, 3) * S(1) + rnd(&seed, 1000);
		counts_op[kind]++;

		switch (kind) {
		case 0: { /* put (new or update) */
			/* Published port per slot; advertised either
			 * 127.0.0.1:<published> or <name>:6878|<published>
			 * (addresses unmanaged entries may already hold). */
			int hport = 19000 + slot * 2 + rnd(&seed, 2);
			int how = rnd(&seed, 3);
			orch_engine_spec sp =
			    spec_of(id, name, how == 0 ? "127.0.0.1" : name,
			        how == 1 ? 6878 : hport, hport);
			orch_engine *out;

			sp.running = rnd(&seed, 8) != 0;
			sp.forwarded = rnd(&seed, 10) == 0;
			assert_int_equal(
			    orch_state_engine_put(&st, &sp, now, &out),
			    ORCH_OK);
			break;
		}
		case 1: /* a put that conflicts with another slot's port */
			if (e == NULL) {
				orch_engine *other;
				size_t cur = 0;

				while ((other = orch_state_engine_next(
				            &st, &cur)) != NULL) {
					if (other->managed &&
					    other->host_http_port != 0)
						break;
				}
				if (other != NULL) {
					orch_engine_spec sp = spec_of(id, name,
					    "10.200.0.1", 7000 + slot,
					    other->host_http_port);
					orch_engine *out;

					assert_int_equal(
					    orch_state_engine_put(
					        &st, &sp, now, &out),
					    ORCH_EEXIST);
				}
			} else if (rnd(&seed, 3) == 0) {
				orch_state_engine_remove(&st, e, now,
				    rnd(&seed, 2) ? NULL : "deleted");
			}
			break;
		case 2:
		case 3: { /* stream start */
			orch_stream_start ev;
			orch_stream *s;
			char host[32];
			int how = rnd(&seed, 6);

			memset(&ev, 0, sizeof(ev));
			ev.key_type = "infohash";
			ev.key = "k";
			ev.stream_id = sid;
			switch (how) {
			case 0:
				ev.container_id = id;
				ev.host = "acexy";
				ev.port = 1;
				break;
			case 1:
				ev.host =
				    rnd(&seed, 2) ? "localhost" : "gw.example";
				ev.port = 19000 + slot * 2 + rnd(&seed, 2);
				break;
			case 2:
				ev.host = name;
				ev.port = 6878;
				break;
			case 3:
				snprintf(host, sizeof(host), "10.1.0.%d",
				    rnd(&seed, 3));
				ev.host = host;
				ev.port = 6878;
				break;
			default:
				ev.container_id = "acexy-self";
				ev.host = "127.0.0.1";
				ev.port = 19000 + slot * 2 + rnd(&seed, 2);
				break;
			}
			if (n_res_ids > 0 && rnd(&seed, 2))
				ev.reservation_id =
				    res_ids[rnd(&seed, n_res_ids)];
			assert_int_equal(
			    orch_state_stream_start(&st, &ev, now, &s),
			    ORCH_OK);
			assert_non_null(s);
			break;
		}
		case 4: { /* stream end */
			orch_stream *s;

			if (rnd(&seed, 3) == 0)
				assert_int_equal(
				    orch_state_stream_end(&st, NULL, id,
				        "by-container", now, &s),
				    ORCH_OK);
			else
				assert_int_equal(
				    orch_state_stream_end(&st, sid, NULL,
				        rnd(&seed, 2) ? NULL : "stopped", now,
				        &s),
				    ORCH_OK);
			break;
		}
		case 5: { /* select + reserve */
			orch_engine *chosen = sel(&st, now);

			if (chosen != NULL) {
				char *rid =
				    res_ids[n_res_ids < 64 ? n_res_ids
				                           : rnd(&seed, 64)];

				snprintf(rid, 24, "res-%d", res_seq++);
				assert_int_equal(
				    orch_state_reserve(&st, chosen, rid,
				        now + S(1 + rnd(&seed, 20)), NULL),
				    ORCH_OK);
				if (n_res_ids < 64)
					n_res_ids++;
			}
			break;
		}
		case 6: /* expire, after a jump in time */
			now += rnd(&seed, 10) * S(1);
			orch_state_expire(&st, now);
			break;
		case 7: /* probe */
			if (e != NULL)
				(void) orch_state_engine_probe(
				    &st, e, rnd(&seed, 3) != 0, 2, now);
			break;
		case 8: /* die / start / mark / forward */
			if (e != NULL) {
				switch (rnd(&seed, 4)) {
				case 0:
					orch_state_engine_set_running(
					    &st, e, false, now);
					break;
				case 1:
					orch_state_engine_set_running(
					    &st, e, true, now);
					break;
				case 2:
					orch_state_engine_set_marked(&st, e,
					    !e->marked_for_replacement);
					break;
				default:
					orch_state_engine_set_forwarded(
					    &st, e, !e->forwarded);
					break;
				}
			}
			break;
		default: { /* a stat snapshot */
			orch_stream *s = orch_state_stream_get(&st, sid);

			if (s != NULL) {
				orch_stat snap = stat_of(now);

				assert_int_equal(
				    orch_state_stream_add_stat(&st, s, &snap),
				    ORCH_OK);
			}
			break;
		}
		}
		check_state(&st);
		/* The heap agrees with a brute-force choice. */
		orch_state_expire(&st, now);
		check_state(&st);
		if (orch_state_select(&st, now) != brute_select(&st))
			fail_msg(
			    "op %d: heap choice differs from brute force", op);
		if (op % 500 == 0) {
			size_t n;
			orch_engine *const *v =
			    orch_state_engines_sorted(&st, &n);

			assert_int_equal(n, st.n_engines);
			for (size_t i = 1; i < n; i++)
				assert_true(v[i - 1]->port <= v[i]->port);
		}
	}
	for (int k = 0; k < 10; k++)
		assert_true(counts_op[k] > 0);
	orch_state_fini(&st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_rejects_bad_opts),
	    cmocka_unit_test(test_stream_id_from_label_or_key_and_session),
	    cmocka_unit_test(test_match_step1_container_id_before_address),
	    cmocka_unit_test(test_match_unknown_container_id_ignored),
	    cmocka_unit_test(test_match_steps_in_order),
	    cmocka_unit_test(test_unmanaged_entry_lifecycle),
	    cmocka_unit_test(test_unmanaged_entry_address_shadowed_by_managed),
	    cmocka_unit_test(test_restart_same_id_overwrites),
	    cmocka_unit_test(test_stream_end_rules),
	    cmocka_unit_test(test_idle_since),
	    cmocka_unit_test(
	        test_engine_remove_ends_streams_drops_reservations),
	    cmocka_unit_test(test_set_running_die_and_start),
	    cmocka_unit_test(test_probe_threshold_and_reset),
	    cmocka_unit_test(test_marked_and_forwarded_counts),
	    cmocka_unit_test(test_engines_sorted_by_port_then_id),
	    cmocka_unit_test(test_engine_put_conflicts_and_invalid),
	    cmocka_unit_test(test_engine_update_keeps_first_seen_and_streams),
	    cmocka_unit_test(test_selection_order),
	    cmocka_unit_test(test_selection_never_unhealthy_marked_stopped),
	    cmocka_unit_test(test_reservations_load_expiry_and_consumption),
	    cmocka_unit_test(test_ended_max_trims_oldest_ended),
	    cmocka_unit_test(test_stats_ring_grows_and_caps),
	    cmocka_unit_test(test_random_operations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
