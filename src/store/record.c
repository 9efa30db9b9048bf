/*
 * Records: what the sink copies out of the core. One allocation each,
 * the strings packed behind the struct, so a record costs one malloc
 * under the core's lock and one free on the writer's side.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/breaker.h"
#include "src/store/impl.h"

void
rec_list_push(rec_list *l, rec *r)
{
	r->next = NULL;
	if (l->tail != NULL)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
	l->n++;
}

void
rec_list_splice(rec_list *to, rec_list *from)
{
	if (from->head == NULL)
		return;
	if (to->tail != NULL)
		to->tail->next = from->head;
	else
		to->head = from->head;
	to->tail = from->tail;
	to->n += from->n;
	memset(from, 0, sizeof(*from));
}

void
rec_list_free(rec_list *l)
{
	rec *r = l->head;

	while (r != NULL) {
		rec *next = r->next;

		free(r);
		r = next;
	}
	memset(l, 0, sizeof(*l));
}

/* ---- packing ---------------------------------------------------------- */

/* The room a string takes behind a record (NULL takes none). */
static size_t
room(const char *s)
{
	return s != NULL ? strlen(s) + 1 : 0;
}

/* Copies s to *at and advances it; NULL stays NULL. */
static const char *
pack(char **at, const char *s)
{
	char *p = *at;
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	memcpy(p, s, n);
	*at += n;
	return p;
}

static rec *
rec_new(rec_kind kind, size_t strings, int64_t ts)
{
	rec *r = malloc(sizeof(*r) + (strings != 0 ? strings : 1));

	if (r == NULL)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->ts_us = ts;
	return r;
}

rec *
rec_stream(const orch_stream *s, const orch_engine *e, int64_t now)
{
	rec *r;
	char *at;

	r = rec_new(REC_STREAM,
	    room(s->id) + room(s->key_type) + room(s->key) +
	        room(s->container_id) + room(s->playback_session_id) +
	        room(s->stat_url) + room(s->command_url) + room(s->end_reason),
	    s->active ? s->started_at_us : s->ended_at_us);
	if (r == NULL)
		return NULL;
	(void) now;
	at = r->strings;
	r->u.stream.id = pack(&at, s->id);
	r->u.stream.key_type = pack(&at, s->key_type);
	r->u.stream.key = pack(&at, s->key);
	r->u.stream.container_id = pack(&at, s->container_id);
	r->u.stream.psid = pack(&at, s->playback_session_id);
	r->u.stream.stat_url = pack(&at, s->stat_url);
	r->u.stream.command_url = pack(&at, s->command_url);
	r->u.stream.end_reason = pack(&at, s->end_reason);
	r->u.stream.is_live = s->is_live;
	r->u.stream.active = s->active;
	/* An entry whose id is its address ("host:port") is unmanaged. */
	r->u.stream.managed =
	    e != NULL ? e->managed : strchr(s->container_id, ':') == NULL;
	r->u.stream.started_us = s->started_at_us;
	r->u.stream.ended_us = s->ended_at_us;
	return r;
}

rec *
rec_stat(const orch_stream *s, const orch_stat *snap)
{
	rec *r = rec_new(REC_STAT, room(s->id), snap->ts_us);
	char *at;

	if (r == NULL)
		return NULL;
	at = r->strings;
	r->u.stat.stream_id = pack(&at, s->id);
	r->u.stat.snap = *snap;
	return r;
}

rec *
rec_engine(const orch_sink_engine *e, int64_t now)
{
	rec *r = rec_new(REC_ENGINE,
	    room(e->container_id) + room(e->container_name) + room(e->reason),
	    e->at_us != 0 ? e->at_us : now);
	char *at;

	if (r == NULL)
		return NULL;
	at = r->strings;
	r->u.engine.change = e->change;
	r->u.engine.id = pack(&at, e->container_id);
	r->u.engine.name = pack(&at, e->container_name);
	r->u.engine.reason = pack(&at, e->reason);
	r->u.engine.running = e->running;
	r->u.engine.forwarded = e->forwarded;
	r->u.engine.health = (int) e->health;
	r->u.engine.first_seen_us = e->first_seen_us;
	r->u.engine.last_seen_us = e->last_seen_us;
	r->u.engine.last_usage_us = e->last_stream_usage_us;
	return r;
}

rec *
rec_reservation(const orch_reservation *res, const char *container_id,
    bool live, int64_t now)
{
	rec *r =
	    rec_new(REC_RESERVATION, room(res->id) + room(container_id), now);
	char *at;

	if (r == NULL)
		return NULL;
	at = r->strings;
	r->u.res.id = pack(&at, res->id);
	r->u.res.container_id = pack(&at, container_id);
	r->u.res.expires_us = res->expires_us;
	r->u.res.live = live;
	return r;
}

rec *
rec_breaker(const char *name, const orch_breaker *b, int from, int64_t at_us)
{
	rec *r = rec_new(REC_BREAKER, room(name), at_us);
	char *at;

	if (r == NULL)
		return NULL;
	at = r->strings;
	r->u.breaker.name = pack(&at, name);
	r->u.breaker.state = (int) b->state;
	r->u.breaker.from = from;
	r->u.breaker.failure_count = b->failure_count;
	r->u.breaker.opened_us = b->opened_at_us;
	r->u.breaker.last_failure_us = b->last_failure_us;
	r->u.breaker.last_success_us = b->last_success_us;
	return r;
}

/* ---- log entries: their data as a JSON object ----------------------- */

/* The length of s as a JSON string body (escapes counted). */
static size_t
json_len(const char *s)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
		if (*p == '"' || *p == '\\')
			n += 2;
		else if (*p < 0x20)
			n += 6;
		else
			n++;
	}
	return n;
}

static char *
json_put(char *at, const char *s)
{
	*at++ = '"';
	for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			*at++ = '\\';
			*at++ = (char) *p;
		} else if (*p < 0x20) {
			snprintf(at, 7, "\\u%04x", *p);
			at += 6;
		} else {
			*at++ = (char) *p;
		}
	}
	*at++ = '"';
	return at;
}

rec *
rec_log(int64_t ts, int type, const char *container_id, const char *stream_id,
    const orch_kv *data, size_t n)
{
	size_t json = 0;
	rec *r;
	char *at;

	if (n != 0) {
		json = 3; /* {} and the NUL */
		for (size_t i = 0; i < n; i++)
			json += json_len(data[i].key) +
			        json_len(data[i].value != NULL ? data[i].value
			                                       : "") +
			        6;
	}
	r = rec_new(REC_LOG, room(container_id) + room(stream_id) + json, ts);
	if (r == NULL)
		return NULL;
	at = r->strings;
	r->u.log.type = type;
	r->u.log.container_id = pack(&at, container_id);
	r->u.log.stream_id = pack(&at, stream_id);
	if (n != 0) {
		r->u.log.data = at;
		*at++ = '{';
		for (size_t i = 0; i < n; i++) {
			if (i != 0)
				*at++ = ',';
			at = json_put(at, data[i].key);
			*at++ = ':';
			at = json_put(
			    at, data[i].value != NULL ? data[i].value : "");
		}
		*at++ = '}';
		*at = '\0';
	}
	return r;
}
