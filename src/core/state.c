#include "src/core/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPORTS 65536
#define NOT_IN_HEAP ((size_t) -1)

enum acct_bits {
	A_ENGINE = 1u << 0,
	A_RUNNING = 1u << 1,
	A_HEALTHY = 1u << 2,
	A_UNHEALTHY = 1u << 3,
	A_USED = 1u << 4,
	A_FREE = 1u << 5,
	A_MARKED = 1u << 6,
	A_FREE_HEALTHY = 1u << 7,
	A_DRAINING = 1u << 8,
};

const char *
orch_health_name(orch_health h)
{
	switch (h) {
	case ORCH_HEALTH_HEALTHY:
		return "healthy";
	case ORCH_HEALTH_UNHEALTHY:
		return "unhealthy";
	default:
		return "unknown";
	}
}

static char *
xstrdup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* ---- accounting and the selection heap -------------------------------- */

static unsigned
acct_bits(const orch_state *st, const orch_engine *e)
{
	unsigned b = 0;
	int max = st->opts.max_streams_per_engine;

	if (!e->managed)
		return 0;
	b |= A_ENGINE;
	if (e->marked_for_replacement)
		b |= A_MARKED;
	if (e->draining)
		b |= A_DRAINING;
	if (e->n_active >= max)
		b |= A_USED;
	if (e->running) {
		b |= A_RUNNING;
		if (e->health == ORCH_HEALTH_HEALTHY)
			b |= A_HEALTHY;
		if (e->health == ORCH_HEALTH_UNHEALTHY)
			b |= A_UNHEALTHY;
		else if (!e->marked_for_replacement && !e->draining &&
		         !e->vpn_down && orch_engine_load(e) < max)
			b |= A_FREE;
		if ((b & A_FREE) && e->health == ORCH_HEALTH_HEALTHY)
			b |= A_FREE_HEALTHY;
	}
	return b;
}

static void
acct_apply(orch_state *st, unsigned bits, int sign)
{
	orch_state_counts *c = &st->counts;

	c->engines += (bits & A_ENGINE) ? sign : 0;
	c->running += (bits & A_RUNNING) ? sign : 0;
	c->healthy += (bits & A_HEALTHY) ? sign : 0;
	c->unhealthy += (bits & A_UNHEALTHY) ? sign : 0;
	c->used += (bits & A_USED) ? sign : 0;
	c->free += (bits & A_FREE) ? sign : 0;
	c->marked += (bits & A_MARKED) ? sign : 0;
	c->free_healthy += (bits & A_FREE_HEALTHY) ? sign : 0;
	c->draining += (bits & A_DRAINING) ? sign : 0;
}

static bool
is_candidate(const orch_engine *e)
{
	return e->managed && e->running && !e->marked_for_replacement &&
	       !e->draining && e->health != ORCH_HEALTH_UNHEALTHY;
}

/* a before b: the ordering of SelectEngine (see state.h). */
static bool
heap_less(const orch_state *st, const orch_engine *a, const orch_engine *b)
{
	int max = st->opts.max_streams_per_engine;
	int afull = orch_engine_load(a) >= max,
	    bfull = orch_engine_load(b) >= max;
	int ah = a->health == ORCH_HEALTH_HEALTHY ? 0 : 1;
	int bh = b->health == ORCH_HEALTH_HEALTHY ? 0 : 1;

	if (afull != bfull)
		return afull < bfull;
	if (a->vpn_down != b->vpn_down)
		return b->vpn_down;
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

static void
heap_set(orch_state *st, size_t i, orch_engine *e)
{
	st->heap[i] = e;
	e->heap_idx = i;
}

static void
sift_up(orch_state *st, size_t i)
{
	orch_engine *e = st->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!heap_less(st, e, st->heap[p]))
			break;
		heap_set(st, i, st->heap[p]);
		i = p;
	}
	heap_set(st, i, e);
}

static void
sift_down(orch_state *st, size_t i)
{
	orch_engine *e = st->heap[i];

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		orch_engine *best = e;

		if (l < st->heap_len && heap_less(st, st->heap[l], best)) {
			m = l;
			best = st->heap[l];
		}
		if (r < st->heap_len && heap_less(st, st->heap[r], best))
			m = r;
		if (m == i)
			break;
		heap_set(st, i, st->heap[m]);
		i = m;
	}
	heap_set(st, i, e);
}

static void
heap_remove(orch_state *st, orch_engine *e)
{
	size_t i = e->heap_idx;
	orch_engine *last;

	if (i == NOT_IN_HEAP)
		return;
	e->heap_idx = NOT_IN_HEAP;
	last = st->heap[--st->heap_len];
	if (last == e)
		return;
	heap_set(st, i, last);
	sift_down(st, i);
	sift_up(st, last->heap_idx);
}

/* The heap array is sized to the engine count at insert time (engine_put
 * grows it before committing), so adding never fails here. */
static void
heap_add(orch_state *st, orch_engine *e)
{
	st->heap_len++;
	heap_set(st, st->heap_len - 1, e);
	sift_up(st, st->heap_len - 1);
}

/* Call after any change to e that the counters or the heap depend on. */
static void
engine_changed(orch_state *st, orch_engine *e)
{
	unsigned nb = acct_bits(st, e);

	acct_apply(st, e->acct, -1);
	acct_apply(st, nb, +1);
	e->acct = nb;
	if (is_candidate(e)) {
		if (e->heap_idx == NOT_IN_HEAP) {
			heap_add(st, e);
		} else {
			sift_down(st, e->heap_idx);
			sift_up(st, e->heap_idx);
		}
	} else {
		heap_remove(st, e);
	}
}

/* ---- init / fini ------------------------------------------------------ */

orch_err
orch_state_init(orch_state *st, const orch_state_opts *opts)
{
	orch_err rv = ORCH_OK;

	memset(st, 0, sizeof(*st));
	if (opts->max_streams_per_engine < 1 || opts->stats_max < 1 ||
	    opts->ended_max < 1)
		return ORCH_EINVAL;
	st->opts = *opts;
	st->engine_host = xstrdup(opts->engine_host);
	st->opts.engine_host = st->engine_host;
	st->by_host_port = calloc(NPORTS, sizeof(*st->by_host_port));
	if (st->by_host_port == NULL ||
	    (opts->engine_host != NULL && st->engine_host == NULL)) {
		free(st->by_host_port);
		free(st->engine_host);
		memset(st, 0, sizeof(*st));
		rv = ORCH_ENOMEM;
	} else {
		orch_list_init(&st->streams_all);
		orch_list_init(&st->streams_active);
		orch_list_init(&st->streams_ended);
		orch_list_init(&st->reservations);
	}
	return rv;
}

static void
stream_free(orch_stream *s)
{
	free(s->id);
	free(s->key_type);
	free(s->key);
	free(s->container_id);
	free(s->playback_session_id);
	free(s->stat_url);
	free(s->command_url);
	free(s->end_reason);
	free(s->stats);
	free(s);
}

static void
labels_free(orch_label *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(l[i].key);
		free(l[i].value);
	}
	free(l);
}

static void
engine_free(orch_engine *e)
{
	free(e->container_id);
	free(e->container_name);
	free(e->host);
	free(e->addr_key);
	free(e->vpn);
	labels_free(e->labels, e->n_labels);
	free(e);
}

/* ---- stream groups ---------------------------------------------------- */

orch_stream_group *
orch_state_group_get(const orch_state *st, const char *container_id)
{
	return orch_strmap_get(&st->groups, container_id);
}

static orch_stream_group *
group_get_or_create(orch_state *st, const char *container_id)
{
	orch_stream_group *g = orch_strmap_get(&st->groups, container_id);

	if (g != NULL)
		return g;
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return NULL;
	g->container_id = strdup(container_id);
	orch_list_init(&g->streams);
	if (g->container_id == NULL ||
	    orch_strmap_put(&st->groups, g->container_id, g) != ORCH_OK) {
		free(g->container_id);
		free(g);
		return NULL;
	}
	return g;
}

static void
group_maybe_free(orch_state *st, orch_stream_group *g)
{
	if (g->n != 0 || g->engine != NULL)
		return;
	orch_strmap_del(&st->groups, g->container_id);
	free(g->container_id);
	free(g);
}

void
orch_state_fini(orch_state *st)
{
	orch_list *n, *next;

	if (st->by_host_port == NULL)
		return;
	for (n = st->streams_all.next; n != &st->streams_all; n = next) {
		next = n->next;
		stream_free(ORCH_CONTAINER_OF(n, orch_stream, all));
	}
	for (n = st->reservations.next; n != &st->reservations; n = next) {
		next = n->next;
		free(ORCH_CONTAINER_OF(n, orch_reservation, node));
	}
	for (size_t i = 0; i < st->engines_by_id.cap; i++) {
		if (st->engines_by_id.slots[i].key != NULL)
			engine_free(st->engines_by_id.slots[i].val);
	}
	for (size_t i = 0; i < st->groups.cap; i++) {
		orch_stream_group *g = st->groups.slots[i].val;

		if (st->groups.slots[i].key != NULL) {
			free(g->container_id);
			free(g);
		}
	}
	orch_strmap_fini(&st->groups);
	orch_strmap_fini(&st->engines_by_id);
	orch_strmap_fini(&st->engines_by_addr);
	orch_strmap_fini(&st->engines_by_name);
	orch_strmap_fini(&st->streams_by_id);
	orch_strmap_fini(&st->reservations_by_id);
	free(st->by_host_port);
	free(st->heap);
	free(st->sorted);
	free(st->engine_host);
	memset(st, 0, sizeof(*st));
}

/* ---- engines ---------------------------------------------------------- */

orch_engine *
orch_state_engine_get(const orch_state *st, const char *id)
{
	return orch_strmap_get(&st->engines_by_id, id);
}

orch_engine *
orch_state_engine_by_addr(const orch_state *st, const char *host, int port)
{
	char key[512];
	int n = snprintf(key, sizeof(key), "%s:%d", host, port);

	if (n < 0 || (size_t) n >= sizeof(key))
		return NULL;
	return orch_strmap_get(&st->engines_by_addr, key);
}

orch_engine *
orch_state_engine_by_name(const orch_state *st, const char *name)
{
	return orch_strmap_get(&st->engines_by_name, name);
}

orch_engine *
orch_state_engine_by_host_port(const orch_state *st, int port)
{
	return (port > 0 && port < NPORTS) ? st->by_host_port[port] : NULL;
}

static char *
addr_key(const char *host, int port)
{
	size_t n = strlen(host) + 8;
	char *k = malloc(n);

	if (k != NULL)
		snprintf(k, n, "%s:%d", host, port);
	return k;
}

static orch_err
reserve_arrays(orch_state *st, size_t need)
{
	if (need > st->heap_cap) {
		size_t ncap = st->heap_cap != 0 ? st->heap_cap * 2 : 16;
		orch_engine **nh;

		while (ncap < need)
			ncap *= 2;
		nh = realloc(st->heap, ncap * sizeof(*nh));
		if (nh == NULL)
			return ORCH_ENOMEM;
		st->heap = nh;
		st->heap_cap = ncap;
	}
	return ORCH_OK;
}

/* Index e under its id (always), address and name (when free or held by
 * an unmanaged entry, which yields) and published port. The maps were
 * checked for room by the caller's put of the id; a failure here is
 * ENOMEM from growth, reported after undoing. */
static orch_err
engine_index(orch_state *st, orch_engine *e)
{
	orch_err rv = orch_strmap_put(&st->engines_by_id, e->container_id, e);

	if (rv == ORCH_OK) {
		rv = orch_strmap_put(&st->engines_by_addr, e->addr_key, e);
		if (rv == ORCH_OK && e->managed) {
			rv = orch_strmap_put(
			    &st->engines_by_name, e->container_name, e);
			if (rv != ORCH_OK)
				orch_strmap_del(
				    &st->engines_by_addr, e->addr_key);
		}
		if (rv != ORCH_OK)
			orch_strmap_del(&st->engines_by_id, e->container_id);
	}
	if (rv == ORCH_OK && e->host_http_port > 0)
		st->by_host_port[e->host_http_port] = e;
	return rv;
}

static void
engine_unindex(orch_state *st, orch_engine *e)
{
	if (orch_strmap_get(&st->engines_by_id, e->container_id) == e)
		orch_strmap_del(&st->engines_by_id, e->container_id);
	if (orch_strmap_get(&st->engines_by_addr, e->addr_key) == e) {
		orch_engine *u;

		orch_strmap_del(&st->engines_by_addr, e->addr_key);
		/* An unmanaged entry that yielded this address to e gets it
		 * back; else the next event there would make a second entry
		 * under the same id. A put right after a delete cannot grow.
		 */
		u = orch_strmap_get(&st->engines_by_id, e->addr_key);
		if (u != NULL && u != e && !u->managed)
			(void) orch_strmap_put(
			    &st->engines_by_addr, u->addr_key, u);
	}
	if (orch_strmap_get(&st->engines_by_name, e->container_name) == e)
		orch_strmap_del(&st->engines_by_name, e->container_name);
	if (e->host_http_port > 0 && st->by_host_port[e->host_http_port] == e)
		st->by_host_port[e->host_http_port] = NULL;
}

static bool
port_ok(int p)
{
	return p >= 1 && p <= 65535;
}

static orch_err
labels_copy(const orch_label *in, size_t n, orch_label **out)
{
	orch_label *l = NULL;

	*out = NULL;
	if (n == 0)
		return ORCH_OK;
	l = calloc(n, sizeof(*l));
	if (l == NULL)
		return ORCH_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		l[i].key = strdup(in[i].key);
		l[i].value = strdup(in[i].value);
		if (l[i].key == NULL || l[i].value == NULL) {
			labels_free(l, n);
			return ORCH_ENOMEM;
		}
	}
	*out = l;
	return ORCH_OK;
}

/* Whether `holder` (the current owner of an index slot) blocks e. */
static bool
blocks(const orch_engine *holder, const orch_engine *self)
{
	return holder != NULL && holder != self && holder->managed;
}

orch_err
orch_state_engine_put(orch_state *st, const orch_engine_spec *spec,
    int64_t now_us, orch_engine **out)
{
	orch_engine *old, *e = NULL;
	orch_engine *holder;
	orch_err rv = ORCH_OK;

	if (out != NULL)
		*out = NULL;
	if (spec->container_id == NULL || spec->container_id[0] == '\0' ||
	    spec->container_name == NULL || spec->container_name[0] == '\0' ||
	    spec->host == NULL || spec->host[0] == '\0' ||
	    strlen(spec->host) > 255 || !port_ok(spec->port) ||
	    (spec->host_http_port != 0 && !port_ok(spec->host_http_port)) ||
	    (spec->host_https_port != 0 && !port_ok(spec->host_https_port)))
		return ORCH_EINVAL;
	old = orch_state_engine_get(st, spec->container_id);
	if (old != NULL && !old->managed)
		return ORCH_EEXIST;
	holder = orch_state_engine_by_addr(st, spec->host, spec->port);
	if (blocks(holder, old))
		return ORCH_EEXIST;
	if (blocks(orch_state_engine_by_name(st, spec->container_name), old))
		return ORCH_EEXIST;
	if (blocks(orch_state_engine_by_host_port(st, spec->host_http_port),
	        old) &&
	    spec->host_http_port != 0)
		return ORCH_EEXIST;
	if (reserve_arrays(st, st->n_engines + 1) != ORCH_OK)
		return ORCH_ENOMEM;

	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return ORCH_ENOMEM;
	e->container_id = strdup(spec->container_id);
	e->container_name = strdup(spec->container_name);
	e->host = strdup(spec->host);
	e->addr_key = addr_key(spec->host, spec->port);
	e->vpn = xstrdup(spec->vpn);
	if (e->container_id == NULL || e->container_name == NULL ||
	    e->host == NULL || e->addr_key == NULL ||
	    (spec->vpn != NULL && e->vpn == NULL) ||
	    labels_copy(spec->labels, spec->n_labels, &e->labels) != ORCH_OK) {
		engine_free(e);
		return ORCH_ENOMEM;
	}
	e->n_labels = spec->n_labels;
	e->port = spec->port;
	e->host_http_port = spec->host_http_port;
	e->host_https_port = spec->host_https_port;
	e->container_http_port = spec->container_http_port;
	e->container_https_port = spec->container_https_port;
	e->forwarded = spec->forwarded;
	e->p2p_port = spec->p2p_port;
	e->vpn_idx = -1;
	e->managed = true;
	e->heap_idx = NOT_IN_HEAP;

	if (old == NULL) {
		e->running = spec->running;
		e->health = ORCH_HEALTH_UNKNOWN;
		e->first_seen_us = now_us;
		e->last_seen_us = now_us;
		e->started_us = now_us;
		e->idle_since_us = now_us;
		orch_list_init(&e->active);
		e->group = group_get_or_create(st, e->container_id);
		rv = e->group != NULL ? engine_index(st, e) : ORCH_ENOMEM;
		if (rv != ORCH_OK) {
			if (e->group != NULL)
				group_maybe_free(st, e->group);
			engine_free(e);
			return rv;
		}
		e->group->engine = e;
		st->n_engines++;
		st->sorted_dirty = true;
		engine_changed(st, e);
		if (out != NULL)
			*out = e;
		return ORCH_OK;
	}

	/* Update in place: swap the new identity fields into old. */
	engine_unindex(st, old);
	{
		orch_engine tmp = *old;

		old->container_name = e->container_name;
		old->host = e->host;
		old->addr_key = e->addr_key;
		old->labels = e->labels;
		old->n_labels = e->n_labels;
		old->port = e->port;
		old->host_http_port = e->host_http_port;
		old->host_https_port = e->host_https_port;
		old->container_http_port = e->container_http_port;
		old->container_https_port = e->container_https_port;
		old->forwarded = e->forwarded;
		old->p2p_port = e->p2p_port;
		old->vpn = e->vpn;
		old->last_seen_us = now_us;
		e->vpn = tmp.vpn;
		e->container_name = tmp.container_name;
		e->host = tmp.host;
		e->addr_key = tmp.addr_key;
		e->labels = tmp.labels;
		e->n_labels = tmp.n_labels;
	}
	rv = engine_index(st, old);
	engine_free(e);
	if (rv != ORCH_OK) {
		/* Only the id index can be missing now (out of memory while
		 * re-inserting into a map that just shrank cannot happen: a
		 * delete never shrinks). Keep the engine reachable anyway. */
		return rv;
	}
	st->sorted_dirty = true;
	if (old->running != spec->running)
		orch_state_engine_set_running(st, old, spec->running, now_us);
	engine_changed(st, old);
	if (out != NULL)
		*out = old;
	return ORCH_OK;
}

static void stream_end(orch_state *st, orch_stream *s, const char *reason,
    int64_t now_us, bool drop_unmanaged);
static void drop_reservation(orch_state *st, orch_reservation *r);

static void
end_active(orch_state *st, orch_engine *e, const char *reason, int64_t now_us)
{
	while (!orch_list_empty(&e->active)) {
		orch_stream *s =
		    ORCH_CONTAINER_OF(e->active.next, orch_stream, eng_active);

		stream_end(st, s, reason, now_us, false);
	}
}

static void
engine_remove(
    orch_state *st, orch_engine *e, int64_t now_us, const char *reason)
{
	orch_list *n, *next;

	end_active(st, e, reason != NULL ? reason : "engine_gone", now_us);
	/* The history stays in the group (streams ended above hold no
	 * engine pointer any more). */
	e->group->engine = NULL;
	group_maybe_free(st, e->group);
	e->group = NULL;
	for (n = st->reservations.next; n != &st->reservations; n = next) {
		orch_reservation *r =
		    ORCH_CONTAINER_OF(n, orch_reservation, node);

		next = n->next;
		if (r->engine == e)
			drop_reservation(st, r);
	}
	heap_remove(st, e);
	acct_apply(st, e->acct, -1);
	engine_unindex(st, e);
	st->n_engines--;
	st->sorted_dirty = true;
	engine_free(e);
}

void
orch_state_engine_remove(
    orch_state *st, orch_engine *e, int64_t now_us, const char *reason)
{
	engine_remove(st, e, now_us, reason);
}

void
orch_state_engine_set_running(
    orch_state *st, orch_engine *e, bool running, int64_t now_us)
{
	if (!running) {
		end_active(st, e, "engine_gone", now_us);
		e->running = false;
	} else if (!e->running) {
		/* Docker restarted it: counted, so that a crash loop is
		 * seen (policy.h orch_policy_crash_looping). */
		if (e->restarts_since_us == 0 ||
		    now_us - e->restarts_since_us > st->opts.crash_window_us) {
			e->restarts_since_us = now_us;
			e->restarts = 0;
		}
		e->restarts++;
		e->running = true;
		e->health = ORCH_HEALTH_UNKNOWN;
		e->consecutive_failures = 0;
		e->unhealthy_since_us = 0;
		e->ever_healthy = false;
		e->started_us = now_us;
		e->last_seen_us = now_us;
		if (e->n_active == 0)
			e->idle_since_us = now_us;
	}
	engine_changed(st, e);
}

bool
orch_state_engine_probe(orch_state *st, orch_engine *e, bool ok,
    int failure_threshold, int64_t now_us)
{
	orch_health before = e->health;

	e->last_health_check_us = now_us;
	if (ok) {
		e->consecutive_failures = 0;
		e->health = ORCH_HEALTH_HEALTHY;
		e->unhealthy_since_us = 0;
		e->ever_healthy = true;
		e->last_seen_us = now_us;
	} else {
		e->consecutive_failures++;
		if (e->consecutive_failures >= failure_threshold &&
		    e->health != ORCH_HEALTH_UNHEALTHY) {
			e->health = ORCH_HEALTH_UNHEALTHY;
			e->unhealthy_since_us = now_us;
		}
	}
	if (before != e->health)
		engine_changed(st, e);
	return before != e->health;
}

void
orch_state_engine_set_marked(orch_state *st, orch_engine *e, bool marked)
{
	e->marked_for_replacement = marked;
	engine_changed(st, e);
}

void
orch_state_engine_set_draining(orch_state *st, orch_engine *e, bool draining)
{
	e->draining = draining;
	engine_changed(st, e);
}

void
orch_state_engine_set_forwarded(orch_state *st, orch_engine *e, bool fwd)
{
	e->forwarded = fwd;
	engine_changed(st, e);
}

void
orch_state_engine_set_vpn_down(orch_state *st, orch_engine *e, bool down)
{
	if (e->vpn_down == down)
		return;
	e->vpn_down = down;
	st->sorted_dirty = true;
	engine_changed(st, e);
}

orch_engine *
orch_state_engine_next(const orch_state *st, size_t *cursor)
{
	while (*cursor < st->engines_by_id.cap) {
		const orch_strmap_slot *slot =
		    &st->engines_by_id.slots[(*cursor)++];

		if (slot->key != NULL)
			return slot->val;
	}
	return NULL;
}

static int
cmp_port(const void *a, const void *b)
{
	const orch_engine *x = *(orch_engine *const *) a;
	const orch_engine *y = *(orch_engine *const *) b;

	if (x->vpn_down != y->vpn_down)
		return x->vpn_down ? 1 : -1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return strcmp(x->container_id, y->container_id);
}

orch_engine *const *
orch_state_engines_sorted(orch_state *st, size_t *n)
{
	if (st->sorted_dirty || st->sorted_len != st->n_engines) {
		size_t k = 0;

		if (st->sorted_cap < st->n_engines) {
			orch_engine **ns =
			    realloc(st->sorted, st->heap_cap * sizeof(*ns));

			if (ns == NULL) {
				*n = 0;
				return NULL;
			}
			st->sorted = ns;
			st->sorted_cap = st->heap_cap;
		}
		for (size_t i = 0; i < st->engines_by_id.cap; i++) {
			if (st->engines_by_id.slots[i].key != NULL)
				st->sorted[k++] =
				    st->engines_by_id.slots[i].val;
		}
		/* Not with k == 0: st->sorted may still be NULL, and qsort's
		 * array is declared non-null (UBSan caught it). */
		if (k > 1)
			qsort(st->sorted, k, sizeof(*st->sorted), cmp_port);
		st->sorted_len = k;
		st->sorted_dirty = false;
	}
	*n = st->sorted_len;
	return st->sorted;
}

/* ---- selection and reservations --------------------------------------- */

static void
drop_reservation(orch_state *st, orch_reservation *r)
{
	orch_strmap_del(&st->reservations_by_id, r->id);
	orch_list_remove(&r->node);
	r->engine->n_reserved--;
	st->counts.reservations--;
	engine_changed(st, r->engine);
	free(r);
}

void
orch_state_expire(orch_state *st, int64_t now_us)
{
	while (!orch_list_empty(&st->reservations)) {
		orch_reservation *r = ORCH_CONTAINER_OF(
		    st->reservations.next, orch_reservation, node);

		if (r->expires_us > now_us)
			break;
		drop_reservation(st, r);
	}
}

orch_engine *
orch_state_select(orch_state *st, int64_t now_us)
{
	orch_engine *top;

	orch_state_expire(st, now_us);
	if (st->heap_len == 0)
		return NULL;
	top = st->heap[0];
	return orch_engine_load(top) < st->opts.max_streams_per_engine ? top
	                                                               : NULL;
}

orch_err
orch_state_reserve(orch_state *st, orch_engine *e, const char *id,
    int64_t expires_us, orch_reservation **out)
{
	orch_reservation *r;
	orch_list *pos;

	if (strlen(id) > ORCH_RESERVATION_ID_LEN)
		return ORCH_EINVAL;
	if (orch_strmap_get(&st->reservations_by_id, id) != NULL)
		return ORCH_EEXIST;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return ORCH_ENOMEM;
	memcpy(r->id, id, strlen(id) + 1);
	r->engine = e;
	r->expires_us = expires_us;
	if (orch_strmap_put(&st->reservations_by_id, r->id, r) != ORCH_OK) {
		free(r);
		return ORCH_ENOMEM;
	}
	/* Keep the list sorted by expiry; with a fixed TTL the new one is
	 * nearly always the last, so walk from the tail. */
	for (pos = st->reservations.prev; pos != &st->reservations;
	     pos = pos->prev) {
		if (ORCH_CONTAINER_OF(pos, orch_reservation, node)
		        ->expires_us <= expires_us)
			break;
	}
	orch_list_insert_after(pos, &r->node);
	e->n_reserved++;
	st->counts.reservations++;
	engine_changed(st, e);
	if (out != NULL)
		*out = r;
	return ORCH_OK;
}

/* ---- streams ---------------------------------------------------------- */

orch_stream *
orch_state_stream_get(const orch_state *st, const char *id)
{
	return orch_strmap_get(&st->streams_by_id, id);
}

/* Unlinks s from everything and frees it. */
static void
stream_destroy(orch_state *st, orch_stream *s, int64_t now_us)
{
	if (s->active) {
		orch_engine *e = s->engine;

		orch_list_remove(&s->eng_active);
		e->n_active--;
		e->last_stream_usage_us = now_us;
		if (e->n_active == 0)
			e->idle_since_us = now_us;
		st->counts.streams_active--;
		engine_changed(st, e);
	}
	if (s->group != NULL) {
		orch_list_remove(&s->group_node);
		s->group->n--;
		group_maybe_free(st, s->group);
		s->group = NULL;
	}
	orch_list_remove(&s->all);
	orch_list_remove(&s->by_status);
	if (orch_strmap_get(&st->streams_by_id, s->id) == s)
		orch_strmap_del(&st->streams_by_id, s->id);
	st->counts.streams_total--;
	stream_free(s);
}

static void
trim_ended(orch_state *st, int keep, int64_t now_us)
{
	while (st->counts.streams_total - st->counts.streams_active > keep &&
	       !orch_list_empty(&st->streams_ended)) {
		orch_stream *s = ORCH_CONTAINER_OF(
		    st->streams_ended.prev, orch_stream, by_status);

		stream_destroy(st, s, now_us);
	}
}

static void
stream_end(orch_state *st, orch_stream *s, const char *reason, int64_t now_us,
    bool drop_unmanaged)
{
	orch_engine *e = s->engine;

	/* Make room first, so the stream ending now is never the one
	 * trimmed (ended_max >= 1). */
	trim_ended(st, st->opts.ended_max - 1, now_us);
	s->active = false;
	s->ended_at_us = now_us;
	free(s->end_reason);
	/* An allocation failure here leaves end_reason null: the end itself
	 * must not fail. */
	s->end_reason = xstrdup(reason);
	orch_list_remove(&s->eng_active);
	orch_list_remove(&s->by_status);
	orch_list_push_front(&st->streams_ended, &s->by_status);
	st->counts.streams_active--;
	e->n_active--;
	e->last_stream_usage_us = now_us;
	if (e->n_active == 0)
		e->idle_since_us = now_us;
	s->engine = NULL;
	engine_changed(st, e);
	if (drop_unmanaged && !e->managed && e->n_active == 0)
		engine_remove(st, e, now_us, NULL);
}

static bool
is_loopback_or_self(const orch_state *st, const char *host)
{
	return strcmp(host, "localhost") == 0 ||
	       strcmp(host, "127.0.0.1") == 0 ||
	       (st->engine_host != NULL && strcmp(host, st->engine_host) == 0);
}

static orch_engine *
find_engine(const orch_state *st, const orch_stream_start *ev)
{
	orch_engine *e = NULL;

	if (ev->container_id != NULL)
		e = orch_state_engine_get(st, ev->container_id);
	if (e == NULL && ev->host != NULL) {
		e = orch_state_engine_by_addr(st, ev->host, ev->port);
		if (e == NULL && is_loopback_or_self(st, ev->host))
			e = orch_state_engine_by_host_port(st, ev->port);
		if (e == NULL)
			e = orch_state_engine_by_name(st, ev->host);
	}
	return e;
}

static orch_engine *
unmanaged_new(orch_state *st, const char *host, int port, int64_t now_us)
{
	orch_engine *e = calloc(1, sizeof(*e));

	if (e == NULL || reserve_arrays(st, st->n_engines + 1) != ORCH_OK) {
		free(e);
		return NULL;
	}
	e->vpn_idx = -1;
	e->addr_key = addr_key(host, port);
	e->container_id = xstrdup(e->addr_key);
	e->container_name = xstrdup(e->addr_key);
	e->host = strdup(host);
	e->labels = calloc(1, sizeof(*e->labels));
	if (e->labels != NULL) {
		e->n_labels = 1;
		e->labels[0].key = strdup("managed");
		e->labels[0].value = strdup("false");
	}
	if (e->addr_key == NULL || e->container_id == NULL ||
	    e->container_name == NULL || e->host == NULL ||
	    e->labels == NULL || e->labels[0].key == NULL ||
	    e->labels[0].value == NULL) {
		engine_free(e);
		return NULL;
	}
	e->port = port;
	e->running = true;
	e->first_seen_us = now_us;
	e->last_seen_us = now_us;
	e->heap_idx = NOT_IN_HEAP;
	orch_list_init(&e->active);
	e->group = group_get_or_create(st, e->container_id);
	/* An unmanaged entry is indexed by id and address only. */
	if (e->group == NULL || orch_strmap_put(&st->engines_by_id,
	                            e->container_id, e) != ORCH_OK) {
		if (e->group != NULL)
			group_maybe_free(st, e->group);
		engine_free(e);
		return NULL;
	}
	e->group->engine = e;
	if (orch_strmap_put(&st->engines_by_addr, e->addr_key, e) != ORCH_OK) {
		orch_strmap_del(&st->engines_by_id, e->container_id);
		e->group->engine = NULL;
		group_maybe_free(st, e->group);
		engine_free(e);
		return NULL;
	}
	st->n_engines++;
	st->sorted_dirty = true;
	return e;
}

static orch_stream *
stream_new(const orch_stream_start *ev, const char *id)
{
	orch_stream *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->id = strdup(id);
	s->key_type = strdup(ev->key_type);
	s->key = strdup(ev->key);
	s->playback_session_id = xstrdup(ev->playback_session_id);
	s->stat_url = xstrdup(ev->stat_url);
	s->command_url = xstrdup(ev->command_url);
	if (s->id == NULL || s->key_type == NULL || s->key == NULL ||
	    (ev->playback_session_id != NULL &&
	        s->playback_session_id == NULL) ||
	    (ev->stat_url != NULL && s->stat_url == NULL) ||
	    (ev->command_url != NULL && s->command_url == NULL)) {
		stream_free(s);
		return NULL;
	}
	s->is_live = ev->is_live;
	return s;
}

orch_err
orch_state_stream_start(orch_state *st, const orch_stream_start *ev,
    int64_t now_us, orch_stream **out)
{
	orch_engine *e, *old_engine = NULL;
	orch_stream *s, *old;
	char *idbuf = NULL;
	const char *id = ev->stream_id;
	bool created = false;
	orch_reservation *r;

	*out = NULL;
	if (ev->key_type == NULL || ev->key == NULL || ev->key[0] == '\0')
		return ORCH_EINVAL;
	if (id == NULL) {
		size_t n;

		if (ev->playback_session_id == NULL)
			return ORCH_EINVAL;
		n = strlen(ev->key) + strlen(ev->playback_session_id) + 2;
		idbuf = malloc(n);
		if (idbuf == NULL)
			return ORCH_ENOMEM;
		snprintf(idbuf, n, "%s|%s", ev->key, ev->playback_session_id);
		id = idbuf;
	}
	e = find_engine(st, ev);
	if (e == NULL && (ev->host == NULL || !port_ok(ev->port))) {
		free(idbuf);
		return ORCH_EINVAL;
	}
	s = stream_new(ev, id);
	free(idbuf);
	if (s == NULL)
		return ORCH_ENOMEM;
	old = orch_state_stream_get(st, s->id);
	if (e == NULL) {
		e = unmanaged_new(st, ev->host, ev->port, now_us);
		created = e != NULL;
	}
	if (e != NULL)
		s->container_id = strdup(e->container_id);
	if (e == NULL || s->container_id == NULL ||
	    orch_strmap_put(&st->streams_by_id, s->id, s) != ORCH_OK) {
		if (created)
			engine_remove(st, e, now_us, NULL);
		stream_free(s);
		return ORCH_ENOMEM;
	}
	/* Committed: nothing below fails. The id now maps to s; a previous
	 * record of the same id (a re-sent start) is replaced. */
	if (old != NULL) {
		old_engine = old->active ? old->engine : NULL;
		stream_destroy(st, old, now_us);
		if (old_engine != NULL && old_engine != e &&
		    !old_engine->managed && old_engine->n_active == 0)
			engine_remove(st, old_engine, now_us, NULL);
	}
	st->counts.streams_total++;
	s->engine = e;
	s->active = true;
	s->started_at_us = now_us;
	orch_list_push_front(&st->streams_all, &s->all);
	orch_list_push_front(&st->streams_active, &s->by_status);
	orch_list_push_front(&e->active, &s->eng_active);
	s->group = e->group;
	orch_list_push_front(&e->group->streams, &s->group_node);
	e->group->n++;
	st->counts.streams_active++;
	e->n_active++;
	e->last_stream_usage_us = now_us;
	e->idle_since_us = 0;
	if (ev->reservation_id != NULL) {
		r = orch_strmap_get(
		    &st->reservations_by_id, ev->reservation_id);
		if (r != NULL)
			drop_reservation(st, r);
	}
	engine_changed(st, e);
	*out = s;
	return ORCH_OK;
}

orch_err
orch_state_stream_end(orch_state *st, const char *stream_id,
    const char *container_id, const char *reason, int64_t now_us,
    orch_stream **out)
{
	orch_stream *s = NULL;

	*out = NULL;
	if (stream_id != NULL) {
		s = orch_state_stream_get(st, stream_id);
	} else if (container_id != NULL) {
		orch_engine *e = orch_state_engine_get(st, container_id);

		if (e != NULL && e->n_active == 1)
			s = ORCH_CONTAINER_OF(
			    e->active.next, orch_stream, eng_active);
	}
	if (s == NULL || !s->active)
		return ORCH_OK;
	stream_end(st, s, reason, now_us, true);
	*out = s;
	return ORCH_OK;
}

orch_err
orch_state_stream_add_stat(
    orch_state *st, orch_stream *s, const orch_stat *snap)
{
	uint32_t max = (uint32_t) st->opts.stats_max;

	if (s->stats_count == s->stats_cap && s->stats_cap < max) {
		uint32_t ncap = s->stats_cap != 0 ? s->stats_cap * 2 : 4;
		orch_stat *ns;

		if (ncap > max)
			ncap = max;
		ns = malloc((size_t) ncap * sizeof(*ns));
		if (ns == NULL)
			return ORCH_ENOMEM;
		for (uint32_t i = 0; i < s->stats_count; i++)
			ns[i] = *orch_stream_stat_at(s, i);
		free(s->stats);
		s->stats = ns;
		s->stats_cap = ncap;
		s->stats_head = 0;
	}
	if (s->stats_count == s->stats_cap) {
		/* Full at stats_max: overwrite the oldest. */
		s->stats[s->stats_head] = *snap;
		s->stats_head = (s->stats_head + 1) % s->stats_cap;
	} else {
		s->stats[(s->stats_head + s->stats_count) % s->stats_cap] =
		    *snap;
		s->stats_count++;
	}
	return ORCH_OK;
}
