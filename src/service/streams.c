/* ListStreams, GetStreamStats. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/arena.h"
#include "src/core/core.h"
#include "src/service/handlers.h"
#include "src/service/pb.h"
#include "src/service/service.h"

/* A list of streams to output, newest first. */
typedef struct pick {
	orch_stream **v;
	size_t n;
	size_t cap;
	int status;   /* 0 both, 1 started, 2 ended */
	size_t limit; /* stop after this many */
	size_t active_seen;
	const orch_stream *cursor; /* page after this one; NULL = first */
} pick;

#define NODE_STREAM(n, off) ((orch_stream *) (void *) ((char *) (n) - (off)))

static bool
pick_match(const pick *p, const orch_stream *s)
{
	if (p->status == 1 && !s->active)
		return false;
	return !(p->status == 2 && s->active);
}

/* Walks head's list from the start, or from after the cursor's node
 * (p->after: a node of this same list) when paging. */
static void
pick_walk(pick *p, const orch_list *head, size_t off)
{
	const orch_list *first = head->next;

	if (p->cursor != NULL) {
		const orch_list *at = (const orch_list *) (const void
		        *) ((const char *) p->cursor + off);

		first = at->next;
	}

	for (const orch_list *n = first; n != head && p->n < p->limit;
	     n = n->next) {
		orch_stream *s = NODE_STREAM(n, off);

		if (!pick_match(p, s))
			continue;
		p->v[p->n++] = s;
		p->active_seen += s->active;
	}
}

/* Appends the `missing` oldest active streams of an active list (its
 * tail), newest first: they are the active streams a default-limited walk
 * of the matching all-list did not reach. */
static void
pick_tail(pick *p, const orch_list *head, size_t off, size_t missing)
{
	const orch_list *n = head;

	for (size_t i = 0; i < missing; i++)
		n = n->prev;
	for (; n != head; n = n->next)
		p->v[p->n++] = NODE_STREAM(n, off);
}

/* The cursor stream, if it is in the listing the filters make (status,
 * container): its list node is where the next page starts. */
static bool
cursor_of(pick *p, const orch_state *st, const char *id, const char *cid)
{
	const orch_stream *s = orch_state_stream_get(st, id);

	if (s == NULL || !pick_match(p, s) ||
	    (cid != NULL && strcmp(s->container_id, cid) != 0))
		return false;
	p->cursor = s;
	return true;
}

void
orch_svc_list_streams(void *arg, orch_call *call, const ProtobufCMessage *msg)
{
	orch_service *svc = arg;
	orch_core *core = svc->core;
	const Orch__ListStreamsRequest *req = (const void *) msg;
	Orch__StreamList rep = ORCH__STREAM_LIST__INIT;
	char stack[ORCH_PB_ARENA_STACK];
	orch_arena a;
	orch_state *st = &core->state;
	orch_engine *e = NULL;
	orch_stream_group *g = NULL;
	pick p;
	bool explicit_limit = req->has_limit;

	memset(&p, 0, sizeof(p));
	if (req->status != NULL) {
		if (strcmp(req->status, "started") == 0)
			p.status = 1;
		else if (strcmp(req->status, "ended") == 0)
			p.status = 2;
		else {
			orch_call_fail_field(call, "status",
			    "status: expected \"started\" or \"ended\", got "
			    "\"%.64s\"",
			    req->status);
			return;
		}
	}
	if (explicit_limit &&
	    (req->limit < 1 || req->limit > ORCH_LIST_STREAMS_MAX)) {
		orch_call_fail_field(call, "limit",
		    "limit: expected an integer from 1 to %d, got %d",
		    ORCH_LIST_STREAMS_MAX, (int) req->limit);
		return;
	}
	if (req->container_id != NULL && req->container_id[0] == '\0') {
		orch_call_fail_field(
		    call, "container_id", "container_id: must not be empty");
		return;
	}
	if (req->before != NULL && req->before[0] == '\0') {
		orch_call_fail_field(
		    call, "before", "before: must not be empty");
		return;
	}
	/* A later page is a plain page: the default's "every active
	 * stream" belongs to the first. */
	explicit_limit = explicit_limit || req->before != NULL;
	orch_arena_init(&a, stack, sizeof(stack));
	orch_core_read_lock(core);
	if (req->container_id != NULL) {
		g = orch_state_group_get(st, req->container_id);
		e = g != NULL ? g->engine : NULL;
	}
	if (req->before != NULL &&
	    !cursor_of(&p, st, req->before, req->container_id)) {
		orch_core_read_unlock(core);
		orch_call_fail_field(call, "before",
		    "before: no stream \"%.64s\" in this listing",
		    req->before);
		orch_arena_fini(&a);
		return;
	}
	p.limit =
	    req->has_limit ? (size_t) req->limit : ORCH_LIST_STREAMS_DEFAULT;
	{
		/* Room for everything this call can output. */
		size_t active = req->container_id == NULL
		                    ? (size_t) st->counts.streams_active
		                    : (e != NULL ? (size_t) e->n_active : 0);
		size_t cap = p.limit + (explicit_limit ? 0 : active);

		if (cap > (size_t) st->counts.streams_total)
			cap = (size_t) st->counts.streams_total;
		p.cap = cap;
		p.v = orch_arena_alloc(&a, (cap ? cap : 1) * sizeof(*p.v));
	}
	if (p.v == NULL) {
		orch_svc_fail_nomem(call);
		goto out;
	}
	if (!explicit_limit && p.status == 1)
		p.limit = p.cap; /* active streams are never cut by default */
	if (req->container_id != NULL) {
		/* The container id's stream group holds its whole history,
		 * whether its engine is still in state or not. */
		if (p.status == 1 && e != NULL)
			pick_walk(
			    &p, &e->active, offsetof(orch_stream, eng_active));
		else if (p.status != 1 && g != NULL)
			pick_walk(&p, &g->streams,
			    offsetof(orch_stream, group_node));
		if (!explicit_limit && p.status == 0 && e != NULL)
			pick_tail(&p, &e->active,
			    offsetof(orch_stream, eng_active),
			    (size_t) e->n_active - p.active_seen);
	} else if (p.status == 1) {
		pick_walk(
		    &p, &st->streams_active, offsetof(orch_stream, by_status));
	} else if (p.status == 2) {
		pick_walk(
		    &p, &st->streams_ended, offsetof(orch_stream, by_status));
	} else {
		pick_walk(&p, &st->streams_all, offsetof(orch_stream, all));
		if (!explicit_limit)
			pick_tail(&p, &st->streams_active,
			    offsetof(orch_stream, by_status),
			    (size_t) st->counts.streams_active -
			        p.active_seen);
	}
	/* Copied out (pb.c copies every string): packed after the lock. */
	rep.streams = orch_pb_streams(&a, p.v, p.n);
	rep.n_streams = p.n;
	orch_core_read_unlock(core);
	if (rep.streams != NULL)
		orch_call_reply(call, &rep.base);
	else
		orch_svc_fail_nomem(call);
	orch_arena_fini(&a);
	return;
out:
	orch_core_read_unlock(core);
	orch_arena_fini(&a);
}

void
orch_svc_get_stream_stats(
    void *arg, orch_call *call, const ProtobufCMessage *msg)
{
	orch_service *svc = arg;
	orch_core *core = svc->core;
	const Orch__GetStreamStatsRequest *req = (const void *) msg;
	Orch__StatSnapshotList rep = ORCH__STAT_SNAPSHOT_LIST__INIT;
	char stack[ORCH_PB_ARENA_STACK];
	orch_arena a;
	orch_stream *s;
	int64_t since =
	    req->since != NULL ? req->since->unix_micros : INT64_MIN;

	if (req->stream_id == NULL || req->stream_id[0] == '\0') {
		orch_call_fail_field(call, "stream_id", "stream_id: required");
		return;
	}
	orch_arena_init(&a, stack, sizeof(stack));
	orch_core_read_lock(core);
	s = orch_state_stream_get(&core->state, req->stream_id);
	if (s == NULL) {
		orch_call_fail(call, ORCH_ENOTFOUND, "stream %.256s not found",
		    req->stream_id);
	} else {
		uint32_t first = 0, n;
		Orch__StatSnapshot *ms;
		Orch__StatSnapshot **pp;
		bool ok = true;

		/* Snapshots are in time order: skip the older ones. */
		while (first < s->stats_count &&
		       orch_stream_stat_at(s, first)->ts_us < since)
			first++;
		n = s->stats_count - first;
		ms = orch_arena_alloc(&a, (n ? n : 1) * sizeof(*ms));
		pp = orch_arena_alloc(&a, (n ? n : 1) * sizeof(*pp));
		ok = ms != NULL && pp != NULL;
		for (uint32_t i = 0; ok && i < n; i++) {
			ok = orch_pb_stat(
			    &a, orch_stream_stat_at(s, first + i), &ms[i]);
			pp[i] = &ms[i];
		}
		rep.stats = pp;
		rep.n_stats = n;
		if (ok)
			orch_call_reply(call, &rep.base);
		else
			orch_svc_fail_nomem(call);
	}
	orch_core_read_unlock(core);
	orch_arena_fini(&a);
}
