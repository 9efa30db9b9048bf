#include "src/core/restore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/list.h"
#include "src/base/strmap.h"
#include "src/core/sink.h"

/* A stream record waiting for its engine (strings and stats owned). */
typedef struct pend_stream {
	orch_list node; /* on pend_engine.streams, in start order */
	orch_stream_record rec;
	char *strings; /* one block holding every string of rec */
	orch_stat *stats;
} pend_stream;

typedef struct pend_res {
	orch_list node;
	char id[ORCH_RESERVATION_ID_LEN + 1];
	int64_t expires_us;
} pend_res;

/* What waits for one container id. */
typedef struct pend_engine {
	char *container_id; /* the map's key */
	orch_list streams;
	orch_list reservations;
	bool has_record;
	orch_engine_record rec;
} pend_engine;

struct orch_core_pending {
	orch_strmap by_id; /* container id -> pend_engine */
	size_t attached;   /* streams back on their engine */
};

/* ---- copies --------------------------------------------------------- */

static size_t
slen(const char *s)
{
	return s != NULL ? strlen(s) + 1 : 0;
}

/* Copies s into *p (advancing it); NULL stays NULL. */
static const char *
put_str(char **p, const char *s)
{
	char *at = *p;

	if (s == NULL)
		return NULL;
	memcpy(at, s, strlen(s) + 1);
	*p += strlen(s) + 1;
	return at;
}

static pend_stream *
pend_stream_new(const orch_stream_record *r)
{
	pend_stream *ps = calloc(1, sizeof(*ps));
	size_t n;
	char *p;

	if (ps == NULL)
		return NULL;
	n = slen(r->id) + slen(r->key_type) + slen(r->key) +
	    slen(r->container_id) + slen(r->playback_session_id) +
	    slen(r->stat_url) + slen(r->command_url) + slen(r->end_reason);
	ps->strings = malloc(n != 0 ? n : 1);
	ps->stats =
	    r->n_stats != 0 ? malloc(r->n_stats * sizeof(orch_stat)) : NULL;
	if (ps->strings == NULL || (r->n_stats != 0 && ps->stats == NULL)) {
		free(ps->strings);
		free(ps->stats);
		free(ps);
		return NULL;
	}
	ps->rec = *r;
	p = ps->strings;
	ps->rec.id = put_str(&p, r->id);
	ps->rec.key_type = put_str(&p, r->key_type);
	ps->rec.key = put_str(&p, r->key);
	ps->rec.container_id = put_str(&p, r->container_id);
	ps->rec.playback_session_id = put_str(&p, r->playback_session_id);
	ps->rec.stat_url = put_str(&p, r->stat_url);
	ps->rec.command_url = put_str(&p, r->command_url);
	ps->rec.end_reason = put_str(&p, r->end_reason);
	if (r->n_stats != 0)
		memcpy(ps->stats, r->stats, r->n_stats * sizeof(orch_stat));
	ps->rec.stats = ps->stats;
	return ps;
}

static void
pend_stream_free(pend_stream *ps)
{
	free(ps->strings);
	free(ps->stats);
	free(ps);
}

static pend_engine *
pend_get(orch_core *core, const char *id, bool create)
{
	pend_engine *pe;

	if (core->pending == NULL) {
		if (!create)
			return NULL;
		core->pending = calloc(1, sizeof(*core->pending));
		if (core->pending == NULL)
			return NULL;
	}
	pe = orch_strmap_get(&core->pending->by_id, id);
	if (pe != NULL || !create)
		return pe;
	pe = calloc(1, sizeof(*pe));
	if (pe == NULL)
		return NULL;
	pe->container_id = strdup(id);
	orch_list_init(&pe->streams);
	orch_list_init(&pe->reservations);
	if (pe->container_id == NULL || orch_strmap_put(&core->pending->by_id,
	                                    pe->container_id, pe) != ORCH_OK) {
		free(pe->container_id);
		free(pe);
		return NULL;
	}
	return pe;
}

static void
pend_engine_free(pend_engine *pe)
{
	while (!orch_list_empty(&pe->streams)) {
		orch_list *n = pe->streams.next;

		orch_list_remove(n);
		pend_stream_free(ORCH_CONTAINER_OF(n, pend_stream, node));
	}
	while (!orch_list_empty(&pe->reservations)) {
		orch_list *n = pe->reservations.next;

		orch_list_remove(n);
		free(ORCH_CONTAINER_OF(n, pend_res, node));
	}
	free(pe->container_id);
	free(pe);
}

/* Drops pe from the map and frees it. */
static void
pend_engine_done(orch_core *core, pend_engine *pe)
{
	orch_strmap_del(&core->pending->by_id, pe->container_id);
	pend_engine_free(pe);
}

/* ---- restore -------------------------------------------------------- */

static void
restore_breaker(orch_core *core, const orch_breaker_record *b)
{
	orch_breaker *dst = NULL;

	if (b->name != NULL && strcmp(b->name, "general") == 0)
		dst = &core->general;
	else if (b->name != NULL && strcmp(b->name, "replacement") == 0)
		dst = &core->replacement;
	if (dst == NULL || b->state < ORCH_BREAKER_CLOSED ||
	    b->state > ORCH_BREAKER_HALF_OPEN || b->failure_count < 0)
		return;
	/* A trial in flight died with the process: half-open again. */
	dst->state = (orch_breaker_state) b->state;
	dst->failure_count = b->failure_count;
	dst->opened_at_us = b->opened_at_us;
	dst->last_failure_us = b->last_failure_us;
	dst->last_success_us = b->last_success_us;
	dst->trial_in_flight = false;
}

/* stream_restored, told even while the sink is muted for the records
 * (sink: the one to tell). */
static void
log_restored(orch_core *core, const orch_sink *sink, const orch_stream *s)
{
	const orch_sink *muted = core->state.sink;

	core->state.sink = sink;
	orch_core_log_locked(
	    core, ORCH_LOG_STREAM_RESTORED, s->container_id, s->id, NULL, 0);
	core->state.sink = muted;
}

/* One stream: into the state now, or pending for its engine. */
static orch_err
restore_stream(orch_core *core, const orch_sink *sink,
    const orch_stream_record *r, orch_restore_counts *c)
{
	orch_stream *s = NULL;
	orch_engine *e = NULL;
	pend_engine *pe;
	pend_stream *ps;
	orch_err rv;

	if (r->active && r->managed) {
		e = r->container_id != NULL
		        ? orch_state_engine_get(&core->state, r->container_id)
		        : NULL;
		if (e == NULL || !e->managed) {
			if (r->id == NULL || r->key_type == NULL ||
			    r->key == NULL || r->container_id == NULL) {
				c->skipped++;
				return ORCH_OK;
			}
			pe = pend_get(core, r->container_id, true);
			ps = pe != NULL ? pend_stream_new(r) : NULL;
			if (ps == NULL)
				return ORCH_ENOMEM;
			orch_list_push_back(&pe->streams, &ps->node);
			c->streams_pending++;
			return ORCH_OK;
		}
	}
	rv = orch_state_stream_restore(
	    &core->state, r, e, orch_core_now(core), &s);
	if (rv == ORCH_ENOMEM)
		return rv;
	if (rv != ORCH_OK) {
		c->skipped++;
	} else if (r->active) {
		c->streams_active++;
		log_restored(core, sink, s);
	} else {
		c->streams_ended++;
	}
	return ORCH_OK;
}

static orch_err
restore_reservation(
    orch_core *core, const orch_reservation_record *r, orch_restore_counts *c)
{
	pend_engine *pe;
	pend_res *pr;

	if (r->id == NULL || r->container_id == NULL ||
	    strlen(r->id) > ORCH_RESERVATION_ID_LEN ||
	    r->expires_us <= orch_core_now(core)) {
		c->skipped++;
		return ORCH_OK;
	}
	pe = pend_get(core, r->container_id, true);
	pr = pe != NULL ? calloc(1, sizeof(*pr)) : NULL;
	if (pr == NULL)
		return ORCH_ENOMEM;
	snprintf(pr->id, sizeof(pr->id), "%s", r->id);
	pr->expires_us = r->expires_us;
	orch_list_push_back(&pe->reservations, &pr->node);
	c->reservations_pending++;
	return ORCH_OK;
}

static orch_err
restore_engine(
    orch_core *core, const orch_engine_record *r, orch_restore_counts *c)
{
	pend_engine *pe;

	if (r->container_id == NULL || r->container_id[0] == '\0') {
		c->skipped++;
		return ORCH_OK;
	}
	pe = pend_get(core, r->container_id, true);
	if (pe == NULL)
		return ORCH_ENOMEM;
	pe->has_record = true;
	pe->rec = *r;
	pe->rec.container_id = pe->container_id;
	c->engines_pending++;
	return ORCH_OK;
}

orch_err
orch_core_restore(
    orch_core *core, const orch_restore *r, orch_restore_counts *counts)
{
	orch_restore_counts c;
	const orch_sink *sink;
	orch_err rv = ORCH_OK;

	memset(&c, 0, sizeof(c));
	orch_core_lock(core);
	/* The store has all of this: tell it nothing. */
	sink = core->state.sink;
	core->state.sink = NULL;
	for (size_t i = 0; i < r->n_breakers; i++)
		restore_breaker(core, &r->breakers[i]);
	for (size_t i = 0; rv == ORCH_OK && i < r->n_engines; i++)
		rv = restore_engine(core, &r->engines[i], &c);
	for (size_t i = 0; rv == ORCH_OK && i < r->n_streams; i++)
		rv = restore_stream(core, sink, &r->streams[i], &c);
	for (size_t i = 0; rv == ORCH_OK && i < r->n_reservations; i++)
		rv = restore_reservation(core, &r->reservations[i], &c);
	core->state.sink = sink;
	/* Engines already in state (adopted before the restore) take what
	 * is theirs now. */
	if (core->pending != NULL) {
		size_t cur = 0;
		orch_engine *e;

		while (
		    (e = orch_state_engine_next(&core->state, &cur)) != NULL) {
			if (e->managed &&
			    orch_strmap_get(&core->pending->by_id,
			        e->container_id) != NULL) {
				/* Attaching changes no engine map. */
				orch_core_restore_attach_locked(core, e);
			}
		}
	}
	/* Even with nothing pending: the verdict logs what came back. */
	core->restoring = true;
	orch_core_unlock(core);
	if (counts != NULL)
		*counts = c;
	return rv;
}

bool
orch_core_restoring(orch_core *core)
{
	bool r;

	orch_core_lock(core);
	r = core->restoring;
	orch_core_unlock(core);
	return r;
}

/* ---- adoption and the verdict --------------------------------------- */

void
orch_core_restore_attach_locked(orch_core *core, orch_engine *e)
{
	pend_engine *pe = pend_get(core, e->container_id, false);
	int64_t now = orch_core_now(core);
	const orch_sink *sink = core->state.sink;

	if (pe == NULL)
		return;
	core->state.sink = NULL;
	if (pe->has_record)
		orch_state_engine_restore(&core->state, e,
		    pe->rec.first_seen_us, pe->rec.last_stream_usage_us,
		    pe->rec.forwarded);
	while (!orch_list_empty(&pe->streams)) {
		pend_stream *ps =
		    ORCH_CONTAINER_OF(pe->streams.next, pend_stream, node);
		orch_stream *s = NULL;

		orch_list_remove(&ps->node);
		/* A stream started again since (same id) is newer: keep it. */
		if (orch_state_stream_restore(
		        &core->state, &ps->rec, e, now, &s) == ORCH_OK) {
			core->pending->attached++;
			log_restored(core, sink, s);
		}
		pend_stream_free(ps);
	}
	while (!orch_list_empty(&pe->reservations)) {
		pend_res *pr =
		    ORCH_CONTAINER_OF(pe->reservations.next, pend_res, node);

		orch_list_remove(&pr->node);
		if (pr->expires_us > now)
			(void) orch_state_reserve(
			    &core->state, e, pr->id, pr->expires_us, NULL);
		free(pr);
	}
	core->state.sink = sink;
	pend_engine_done(core, pe);
}

/* The stream never found its engine again: it ends now, "engine_gone". */
static void
end_pending_stream(orch_core *core, pend_stream *ps, size_t *ended)
{
	orch_stream_record r = ps->rec;
	orch_stream *s = NULL;
	const orch_sink *sink = core->state.sink;

	r.active = false;
	r.ended_at_us = orch_core_now(core);
	r.end_reason = "engine_gone";
	core->state.sink = NULL;
	if (orch_state_stream_restore(
	        &core->state, &r, NULL, r.ended_at_us, &s) == ORCH_OK) {
		(*ended)++;
		core->state.sink = sink;
		if (s != NULL)
			ORCH_SINK_CALL(sink, stream, s, NULL);
	}
	core->state.sink = sink;
}

/* Everything still pending for pe's container id lapses. */
static void
verdict_one(orch_core *core, pend_engine *pe, size_t *ended, size_t *lost,
    size_t *lapsed)
{
	while (!orch_list_empty(&pe->streams)) {
		pend_stream *ps =
		    ORCH_CONTAINER_OF(pe->streams.next, pend_stream, node);

		orch_list_remove(&ps->node);
		end_pending_stream(core, ps, ended);
		pend_stream_free(ps);
	}
	while (!orch_list_empty(&pe->reservations)) {
		pend_res *pr =
		    ORCH_CONTAINER_OF(pe->reservations.next, pend_res, node);
		orch_reservation gone;

		memset(&gone, 0, sizeof(gone));
		memcpy(gone.id, pr->id, sizeof(gone.id));
		gone.expires_us = pr->expires_us;
		ORCH_SINK_CALL(core->state.sink, reservation, &gone,
		    pe->container_id, false);
		orch_list_remove(&pr->node);
		free(pr);
		(*lapsed)++;
	}
	if (pe->has_record) {
		orch_sink_engine r;

		memset(&r, 0, sizeof(r));
		r.change = ORCH_SINK_LOST;
		r.container_id = pe->container_id;
		r.reason = "engine_gone";
		r.first_seen_us = pe->rec.first_seen_us;
		r.last_stream_usage_us = pe->rec.last_stream_usage_us;
		r.at_us = orch_core_now(core);
		ORCH_SINK_CALL(core->state.sink, engine, &r);
		(*lost)++;
	}
}

void
orch_core_restore_verdict_locked(orch_core *core)
{
	size_t ended = 0, lost = 0, lapsed = 0, attached;
	char a[24], b[24], c[24], d[24];
	orch_kv kv[4] = {{"streams_restored", a}, {"streams_ended", b},
	    {"engines_lost", c}, {"reservations_lapsed", d}};
	orch_strmap *m;

	if (!core->restoring)
		return;
	core->restoring = false;
	m = core->pending != NULL ? &core->pending->by_id : NULL;
	/* The map is not changed while walked: drop_pending frees it. */
	for (size_t i = 0; m != NULL && i < m->cap; i++) {
		if (m->slots[i].key != NULL)
			verdict_one(
			    core, m->slots[i].val, &ended, &lost, &lapsed);
	}
	attached = core->pending != NULL ? core->pending->attached : 0;
	snprintf(a, sizeof(a), "%zu", attached);
	snprintf(b, sizeof(b), "%zu", ended);
	snprintf(c, sizeof(c), "%zu", lost);
	snprintf(d, sizeof(d), "%zu", lapsed);
	orch_core_log_locked(core, ORCH_LOG_RESTORED, NULL, NULL, kv, 4);
	orch_core_restore_drop_pending(core);
}

void
orch_core_restore_drop_pending(orch_core *core)
{
	orch_strmap *m;

	if (core->pending == NULL)
		return;
	m = &core->pending->by_id;
	for (size_t i = 0; i < m->cap; i++) {
		if (m->slots[i].key != NULL)
			pend_engine_free(m->slots[i].val);
	}
	orch_strmap_fini(m);
	free(core->pending);
	core->pending = NULL;
}

/* ---- replay --------------------------------------------------------- */

void
orch_core_replay(orch_core *core, const orch_sink *sink,
    void (*first)(void *arg), void *arg)
{
	orch_state *st = &core->state;
	int64_t now;
	size_t cur = 0;
	orch_engine *e;

	orch_core_lock(core);
	now = orch_core_now(core);
	if (first != NULL)
		first(arg);
	while ((e = orch_state_engine_next(st, &cur)) != NULL) {
		if (e->managed)
			orch_sink_engine_record(
			    sink, e, ORCH_SINK_PUT, NULL, now);
	}
	for (orch_list *l = st->streams_all.prev; l != &st->streams_all;
	     l = l->prev) {
		const orch_stream *s = ORCH_CONTAINER_OF(l, orch_stream, all);

		ORCH_SINK_CALL(sink, stream, s, s->engine);
		for (uint32_t i = 0; i < s->stats_count; i++)
			ORCH_SINK_CALL(
			    sink, stat, s, orch_stream_stat_at(s, i));
	}
	for (orch_list *l = st->reservations.next; l != &st->reservations;
	     l = l->next) {
		const orch_reservation *r =
		    ORCH_CONTAINER_OF(l, orch_reservation, node);

		ORCH_SINK_CALL(
		    sink, reservation, r, r->engine->container_id, true);
	}
	ORCH_SINK_CALL(sink, breaker, "general", &core->general,
	    (int) core->general.state, now);
	ORCH_SINK_CALL(sink, breaker, "replacement", &core->replacement,
	    (int) core->replacement.state, now);
	orch_core_unlock(core);
}
