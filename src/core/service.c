#include "src/core/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/arena.h"
#include "src/core/auth.h"
#include "src/core/core.h"

/* Longest string accepted in an event field (keys, URLs, ids). */
#define FIELD_MAX 4096
#define HOST_MAX 255

#define ARENA_STACK 8192

bool
orch_core_authorize(orch_core *core, orch_rpc_call *call, int cls)
{
	const char *why = NULL;
	orch_err rv = orch_auth_check((orch_auth_class) cls,
	    orch_rpc_call_authorization(call),
	    core->cfg->api_key, core->cfg->read_api_key, &why);

	if (rv != ORCH_OK)
		orch_rpc_fail(call, rv, "%s", why != NULL ? why : "unauthorized");
	return rv == ORCH_OK;
}

static void
fail_nomem(orch_rpc_call *call)
{
	orch_rpc_fail(call, ORCH_EINTERNAL, "out of memory");
}

/* ---- state -> protobuf ------------------------------------------------ */

static Orch__Timestamp *
ts_pb(orch_arena *a, int64_t us, bool *ok)
{
	Orch__Timestamp *t;

	if (us == 0)
		return NULL;
	t = orch_arena_alloc(a, sizeof(*t));
	if (t == NULL) {
		*ok = false;
		return NULL;
	}
	orch__timestamp__init(t);
	t->unix_micros = us;
	return t;
}

static bool
engine_pb(orch_arena *a, const orch_engine *e, Orch__Engine *m)
{
	bool ok = true;
	size_t i = 0;

	orch__engine__init(m);
	m->container_id = e->container_id;
	m->container_name = e->container_name;
	m->host = e->host;
	m->port = e->port;
	m->forwarded = e->forwarded;
	m->health_status = (char *) orch_health_name(e->health);
	m->first_seen = ts_pb(a, e->first_seen_us, &ok);
	m->last_seen = ts_pb(a, e->last_seen_us, &ok);
	m->last_health_check = ts_pb(a, e->last_health_check_us, &ok);
	m->last_stream_usage = ts_pb(a, e->last_stream_usage_us, &ok);
	if (e->n_labels > 0) {
		Orch__Engine__LabelsEntry *ent =
		    orch_arena_alloc(a, e->n_labels * sizeof(*ent));
		Orch__Engine__LabelsEntry **pp =
		    orch_arena_alloc(a, e->n_labels * sizeof(*pp));

		if (ent == NULL || pp == NULL)
			return false;
		for (i = 0; i < e->n_labels; i++) {
			orch__engine__labels_entry__init(&ent[i]);
			ent[i].key = e->labels[i].key;
			ent[i].value = e->labels[i].value;
			pp[i] = &ent[i];
		}
		m->labels = pp;
		m->n_labels = e->n_labels;
	}
	if (e->n_active > 0) {
		char **ids = orch_arena_alloc(a, (size_t) e->n_active * sizeof(*ids));

		if (ids == NULL)
			return false;
		i = 0;
		for (const orch_list *n = e->active.next; n != &e->active;
		     n = n->next)
			ids[i++] = ORCH_CONTAINER_OF(n, orch_stream, eng_active)->id;
		m->streams = ids;
		m->n_streams = i;
	}
	return ok;
}

static bool
stat_pb(orch_arena *a, const orch_stat *s, Orch__StatSnapshot *m)
{
	bool ok = true;

	orch__stat_snapshot__init(m);
	m->ts = ts_pb(a, s->ts_us, &ok);
	m->has_peers = (s->has & ORCH_STAT_PEERS) != 0;
	m->peers = s->peers;
	m->has_speed_down = (s->has & ORCH_STAT_SPEED_DOWN) != 0;
	m->speed_down = s->speed_down;
	m->has_speed_up = (s->has & ORCH_STAT_SPEED_UP) != 0;
	m->speed_up = s->speed_up;
	m->has_downloaded = (s->has & ORCH_STAT_DOWNLOADED) != 0;
	m->downloaded = s->downloaded;
	m->has_uploaded = (s->has & ORCH_STAT_UPLOADED) != 0;
	m->uploaded = s->uploaded;
	if (s->has & ORCH_STAT_STATUS)
		m->status = (char *) s->status;
	return ok;
}

static bool
stream_pb(orch_arena *a, const orch_stream *s, Orch__Stream *m)
{
	bool ok = true;
	const orch_stat *last = orch_stream_latest_stat(s);

	orch__stream__init(m);
	m->id = s->id;
	m->key_type = s->key_type;
	m->key = s->key;
	m->container_id = s->container_id;
	m->playback_session_id = s->playback_session_id;
	m->stat_url = s->stat_url;
	m->command_url = s->command_url;
	m->is_live = s->is_live;
	m->started_at = ts_pb(a, s->started_at_us, &ok);
	m->ended_at = ts_pb(a, s->ended_at_us, &ok);
	m->status = s->active ? "started" : "ended";
	m->end_reason = s->end_reason;
	if (last != NULL) {
		m->stats = orch_arena_alloc(a, sizeof(*m->stats));
		if (m->stats == NULL || !stat_pb(a, last, m->stats))
			return false;
	}
	return ok;
}

/* An array of n stream messages from v[0..n). */
static Orch__Stream **
streams_pb(orch_arena *a, orch_stream *const *v, size_t n)
{
	Orch__Stream *ms = orch_arena_alloc(a, (n ? n : 1) * sizeof(*ms));
	Orch__Stream **pp = orch_arena_alloc(a, (n ? n : 1) * sizeof(*pp));

	if (ms == NULL || pp == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!stream_pb(a, v[i], &ms[i]))
			return NULL;
		pp[i] = &ms[i];
	}
	return pp;
}

void
orch_refusal_pb(const orch_refusal *r, Orch__ProvisioningRefusal *m)
{
	orch__provisioning_refusal__init(m);
	m->error = "provisioning_blocked";
	m->code = (char *) orch_refusal_code_name(r->code);
	m->message = (char *) orch_refusal_message(r->code);
	m->has_recovery_eta_seconds = r->eta_s >= 0;
	m->recovery_eta_seconds = r->eta_s;
	m->can_retry = r->can_retry;
	m->should_wait = r->should_wait;
}

/* ---- request validation ----------------------------------------------- */

static bool
is_http_url(const char *s)
{
	size_t skip;

	if (strncasecmp(s, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		skip = 8;
	else
		return false;
	if (s[skip] == '\0' || s[skip] == '/' || s[skip] == '?' ||
	    s[skip] == '#')
		return false;
	for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
		if (*p <= 0x20 || *p == 0x7f)
			return false;
	}
	return true;
}

static bool
valid_key_type(const char *t)
{
	static const char *const types[] = {
	    "content_id", "infohash", "url", "magnet"};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(t, types[i]) == 0)
			return true;
	}
	return false;
}

static bool
too_long(const char *s, size_t max)
{
	return s != NULL && strnlen(s, max + 1) > max;
}

/* ---- handlers --------------------------------------------------------- */

static void
h_ping(void *arg, orch_rpc_call *call, const ProtobufCMessage *req)
{
	Orch__PingReply rep = ORCH__PING_REPLY__INIT;

	(void) arg;
	(void) req;
	rep.status = "ok";
	orch_rpc_reply(call, &rep.base);
}

static void
h_list_engines(void *arg, orch_rpc_call *call, const ProtobufCMessage *req)
{
	orch_core *core = arg;
	Orch__EngineList rep = ORCH__ENGINE_LIST__INIT;
	char stack[ARENA_STACK];
	orch_arena a;
	orch_engine *const *v;
	size_t n;
	bool ok = true;

	(void) req;
	if (!orch_core_authorize(core, call, ORCH_AUTH_READ))
		return;
	orch_arena_init(&a, stack, sizeof(stack));
	orch_core_lock(core);
	v = orch_state_engines_sorted(&core->state, &n);
	if (n > 0) {
		Orch__Engine *ms = orch_arena_alloc(&a, n * sizeof(*ms));
		Orch__Engine **pp = orch_arena_alloc(&a, n * sizeof(*pp));

		ok = v != NULL && ms != NULL && pp != NULL;
		for (size_t i = 0; ok && i < n; i++) {
			ok = engine_pb(&a, v[i], &ms[i]);
			pp[i] = &ms[i];
		}
		rep.engines = pp;
		rep.n_engines = n;
	}
	if (ok)
		orch_rpc_reply(call, &rep.base);
	else
		fail_nomem(call);
	orch_core_unlock(core);
	orch_arena_fini(&a);
}

static void
h_get_engine(void *arg, orch_rpc_call *call, const ProtobufCMessage *msg)
{
	orch_core *core = arg;
	const Orch__GetEngineRequest *req = (const void *) msg;
	Orch__GetEngineReply rep = ORCH__GET_ENGINE_REPLY__INIT;
	Orch__Engine em;
	char stack[ARENA_STACK];
	orch_arena a;
	orch_engine *e;
	bool ok;

	if (!orch_core_authorize(core, call, ORCH_AUTH_READ))
		return;
	if (req->container_id == NULL || req->container_id[0] == '\0') {
		orch_rpc_fail_field(call, "container_id",
		    "container_id: required");
		return;
	}
	orch_arena_init(&a, stack, sizeof(stack));
	orch_core_lock(core);
	e = orch_state_engine_get(&core->state, req->container_id);
	if (e == NULL) {
		orch_rpc_fail(call, ORCH_ENOTFOUND, "engine %s not found",
		    req->container_id);
	} else {
		orch_stream **v = orch_arena_alloc(&a,
		    ((size_t) e->n_active + 1) * sizeof(*v));
		size_t k = 0;

		ok = v != NULL && engine_pb(&a, e, &em);
		if (ok) {
			for (orch_list *n = e->active.next; n != &e->active;
			     n = n->next)
				v[k++] = ORCH_CONTAINER_OF(n, orch_stream,
				    eng_active);
			rep.engine = &em;
			rep.streams = streams_pb(&a, v, k);
			rep.n_streams = k;
			ok = rep.streams != NULL;
		}
		if (ok)
			orch_rpc_reply(call, &rep.base);
		else
			fail_nomem(call);
	}
	orch_core_unlock(core);
	orch_arena_fini(&a);
}

/* A list of streams to output, newest first. */
typedef struct pick {
	orch_stream **v;
	size_t n;
	size_t cap;
	int status; /* 0 both, 1 started, 2 ended */
	size_t limit; /* stop after this many */
	size_t active_seen;
} pick;

#define NODE_STREAM(n, off) ((orch_stream *) (void *) ((char *) (n) - (off)))

static bool
pick_match(const pick *p, const orch_stream *s)
{
	if (p->status == 1 && !s->active)
		return false;
	return !(p->status == 2 && s->active);
}

static void
pick_walk(pick *p, const orch_list *head, size_t off)
{
	for (const orch_list *n = head->next; n != head && p->n < p->limit;
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

static void
h_list_streams(void *arg, orch_rpc_call *call, const ProtobufCMessage *msg)
{
	orch_core *core = arg;
	const Orch__ListStreamsRequest *req = (const void *) msg;
	Orch__StreamList rep = ORCH__STREAM_LIST__INIT;
	char stack[ARENA_STACK];
	orch_arena a;
	orch_state *st = &core->state;
	orch_engine *e = NULL;
	orch_stream_group *g = NULL;
	pick p;
	bool explicit_limit = req->has_limit;

	if (!orch_core_authorize(core, call, ORCH_AUTH_READ))
		return;
	memset(&p, 0, sizeof(p));
	if (req->status != NULL) {
		if (strcmp(req->status, "started") == 0)
			p.status = 1;
		else if (strcmp(req->status, "ended") == 0)
			p.status = 2;
		else {
			orch_rpc_fail_field(call, "status",
			    "status: expected \"started\" or \"ended\", got "
			    "\"%.64s\"",
			    req->status);
			return;
		}
	}
	if (explicit_limit &&
	    (req->limit < 1 || req->limit > ORCH_LIST_STREAMS_MAX)) {
		orch_rpc_fail_field(call, "limit",
		    "limit: expected an integer from 1 to %d, got %d",
		    ORCH_LIST_STREAMS_MAX, (int) req->limit);
		return;
	}
	if (req->container_id != NULL && req->container_id[0] == '\0') {
		orch_rpc_fail_field(call, "container_id",
		    "container_id: must not be empty");
		return;
	}
	orch_arena_init(&a, stack, sizeof(stack));
	orch_core_lock(core);
	if (req->container_id != NULL) {
		g = orch_state_group_get(st, req->container_id);
		e = g != NULL ? g->engine : NULL;
	}
	p.limit = explicit_limit ? (size_t) req->limit
	                         : ORCH_LIST_STREAMS_DEFAULT;
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
		fail_nomem(call);
		goto out;
	}
	if (!explicit_limit && p.status == 1)
		p.limit = p.cap; /* active streams are never cut by default */
	if (req->container_id != NULL) {
		/* The container id's stream group holds its whole history,
		 * whether its engine is still in state or not. */
		if (p.status == 1 && e != NULL)
			pick_walk(&p, &e->active, offsetof(orch_stream, eng_active));
		else if (p.status != 1 && g != NULL)
			pick_walk(&p, &g->streams, offsetof(orch_stream, group_node));
		if (!explicit_limit && p.status == 0 && e != NULL)
			pick_tail(&p, &e->active, offsetof(orch_stream, eng_active),
			    (size_t) e->n_active - p.active_seen);
	} else if (p.status == 1) {
		pick_walk(&p, &st->streams_active, offsetof(orch_stream, by_status));
	} else if (p.status == 2) {
		pick_walk(&p, &st->streams_ended, offsetof(orch_stream, by_status));
	} else {
		pick_walk(&p, &st->streams_all, offsetof(orch_stream, all));
		if (!explicit_limit)
			pick_tail(&p, &st->streams_active,
			    offsetof(orch_stream, by_status),
			    (size_t) st->counts.streams_active - p.active_seen);
	}
	rep.streams = streams_pb(&a, p.v, p.n);
	rep.n_streams = p.n;
	if (rep.streams != NULL)
		orch_rpc_reply(call, &rep.base);
	else
		fail_nomem(call);
out:
	orch_core_unlock(core);
	orch_arena_fini(&a);
}

static void
h_get_stream_stats(void *arg, orch_rpc_call *call, const ProtobufCMessage *msg)
{
	orch_core *core = arg;
	const Orch__GetStreamStatsRequest *req = (const void *) msg;
	Orch__StatSnapshotList rep = ORCH__STAT_SNAPSHOT_LIST__INIT;
	char stack[ARENA_STACK];
	orch_arena a;
	orch_stream *s;
	int64_t since = req->since != NULL ? req->since->unix_micros : INT64_MIN;

	if (!orch_core_authorize(core, call, ORCH_AUTH_READ))
		return;
	if (req->stream_id == NULL || req->stream_id[0] == '\0') {
		orch_rpc_fail_field(call, "stream_id", "stream_id: required");
		return;
	}
	orch_arena_init(&a, stack, sizeof(stack));
	orch_core_lock(core);
	s = orch_state_stream_get(&core->state, req->stream_id);
	if (s == NULL) {
		orch_rpc_fail(call, ORCH_ENOTFOUND, "stream %.256s not found",
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
			ok = stat_pb(&a, orch_stream_stat_at(s, first + i), &ms[i]);
			pp[i] = &ms[i];
		}
		rep.stats = pp;
		rep.n_stats = n;
		if (ok)
			orch_rpc_reply(call, &rep.base);
		else
			fail_nomem(call);
	}
	orch_core_unlock(core);
	orch_arena_fini(&a);
}

/* Static checks of a stream_started body; on failure replies and returns
 * false. Fills ev (pointing into req). */
static bool
check_started(orch_rpc_call *call, const Orch__StreamStartedRequest *req,
    orch_stream_start *ev)
{
	const Orch__SessionInfo *ses = req->session;

	memset(ev, 0, sizeof(*ev));
	if (req->container_id != NULL && req->container_id[0] != '\0') {
		if (too_long(req->container_id, FIELD_MAX)) {
			orch_rpc_fail_field(call, "container_id",
			    "container_id: longer than %d bytes", FIELD_MAX);
			return false;
		}
		ev->container_id = req->container_id;
	}
	if (req->stream == NULL) {
		orch_rpc_fail_field(call, "stream", "stream: required");
		return false;
	}
	if (req->stream->key_type == NULL ||
	    !valid_key_type(req->stream->key_type)) {
		orch_rpc_fail_field(call, "stream.key_type",
		    "stream.key_type: expected one of content_id, infohash, url, "
		    "magnet");
		return false;
	}
	if (req->stream->key == NULL || req->stream->key[0] == '\0' ||
	    too_long(req->stream->key, FIELD_MAX)) {
		orch_rpc_fail_field(call, "stream.key",
		    "stream.key: required, a non-empty string of at most %d "
		    "bytes",
		    FIELD_MAX);
		return false;
	}
	ev->key_type = req->stream->key_type;
	ev->key = req->stream->key;
	if (req->engine != NULL) {
		if (req->engine->host == NULL || req->engine->host[0] == '\0' ||
		    too_long(req->engine->host, HOST_MAX)) {
			orch_rpc_fail_field(call, "engine.host",
			    "engine.host: required, a host name of at most %d "
			    "bytes",
			    HOST_MAX);
			return false;
		}
		if (!req->engine->has_port || req->engine->port < 1 ||
		    req->engine->port > 65535) {
			orch_rpc_fail_field(call, "engine.port",
			    "engine.port: expected a port from 1 to 65535");
			return false;
		}
		ev->host = req->engine->host;
		ev->port = req->engine->port;
	}
	for (size_t i = 0; i < req->n_labels; i++) {
		const char *k = req->labels[i]->key, *v = req->labels[i]->value;

		if (k == NULL || v == NULL)
			continue;
		if (strcmp(k, "stream_id") == 0) {
			if (v[0] == '\0' || too_long(v, FIELD_MAX)) {
				orch_rpc_fail_field(call, "labels.stream_id",
				    "labels.stream_id: a non-empty string of at "
				    "most %d bytes",
				    FIELD_MAX);
				return false;
			}
			ev->stream_id = v;
		} else if (strcmp(k, "reservation_id") == 0) {
			ev->reservation_id = v;
		}
	}
	if (ses != NULL) {
		if (too_long(ses->playback_session_id, FIELD_MAX)) {
			orch_rpc_fail_field(call, "session.playback_session_id",
			    "session.playback_session_id: longer than %d bytes",
			    FIELD_MAX);
			return false;
		}
		if (ses->stat_url != NULL &&
		    (!is_http_url(ses->stat_url) ||
		        too_long(ses->stat_url, FIELD_MAX))) {
			orch_rpc_fail_field(call, "session.stat_url",
			    "session.stat_url: expected an http:// or https:// "
			    "URL");
			return false;
		}
		if (ses->command_url != NULL &&
		    (!is_http_url(ses->command_url) ||
		        too_long(ses->command_url, FIELD_MAX))) {
			orch_rpc_fail_field(call, "session.command_url",
			    "session.command_url: expected an http:// or "
			    "https:// URL");
			return false;
		}
		if (ses->has_is_live && ses->is_live != 0 && ses->is_live != 1) {
			orch_rpc_fail_field(call, "session.is_live",
			    "session.is_live: expected 0 or 1, got %d",
			    (int) ses->is_live);
			return false;
		}
		if (ses->playback_session_id != NULL &&
		    ses->playback_session_id[0] != '\0')
			ev->playback_session_id = ses->playback_session_id;
		ev->stat_url = ses->stat_url;
		ev->command_url = ses->command_url;
		ev->is_live = ses->has_is_live && ses->is_live == 1;
	}
	if (ev->stream_id == NULL && ev->playback_session_id == NULL) {
		orch_rpc_fail_field(call, "session.playback_session_id",
		    "session.playback_session_id: required unless "
		    "labels.stream_id is given");
		return false;
	}
	return true;
}

static void
h_stream_started(void *arg, orch_rpc_call *call, const ProtobufCMessage *msg)
{
	orch_core *core = arg;
	const Orch__StreamStartedRequest *req = (const void *) msg;
	orch_stream_start ev;
	char stack[ARENA_STACK];
	orch_arena a;
	orch_stream *s = NULL;
	Orch__Stream rep;
	orch_err rv;

	if (!orch_core_authorize(core, call, ORCH_AUTH_MUTATE))
		return;
	if (!check_started(call, req, &ev))
		return;
	orch_arena_init(&a, stack, sizeof(stack));
	orch_core_lock(core);
	rv = orch_state_stream_start(&core->state, &ev, orch_core_now(core), &s);
	if (rv == ORCH_EINVAL)
		/* The only thing left for the state to refuse: no engine. */
		orch_rpc_fail_field(call, "engine",
		    "engine: required (host and port) when container_id names "
		    "no known engine");
	else if (rv != ORCH_OK || !stream_pb(&a, s, &rep))
		fail_nomem(call);
	else {
		core->metrics.events_started++;
		orch_rpc_reply(call, &rep.base);
	}
	orch_core_unlock(core);
	orch_arena_fini(&a);
}

static void
h_stream_ended(void *arg, orch_rpc_call *call, const ProtobufCMessage *msg)
{
	orch_core *core = arg;
	const Orch__StreamEndedRequest *req = (const void *) msg;
	Orch__StreamEndedReply rep = ORCH__STREAM_ENDED_REPLY__INIT;
	Orch__Stream sm;
	char stack[ARENA_STACK];
	orch_arena a;
	orch_stream *s = NULL;

	if (!orch_core_authorize(core, call, ORCH_AUTH_MUTATE))
		return;
	if (req->stream_id != NULL &&
	    (req->stream_id[0] == '\0' || too_long(req->stream_id, 2 * FIELD_MAX))) {
		orch_rpc_fail_field(call, "stream_id",
		    "stream_id: a non-empty string when given");
		return;
	}
	if (too_long(req->container_id, FIELD_MAX)) {
		orch_rpc_fail_field(call, "container_id",
		    "container_id: longer than %d bytes", FIELD_MAX);
		return;
	}
	if (too_long(req->reason, 256)) {
		orch_rpc_fail_field(call, "reason",
		    "reason: longer than 256 bytes");
		return;
	}
	orch_arena_init(&a, stack, sizeof(stack));
	orch_core_lock(core);
	(void) orch_state_stream_end(&core->state, req->stream_id,
	    req->container_id != NULL && req->container_id[0] != '\0'
	        ? req->container_id
	        : NULL,
	    req->reason != NULL && req->reason[0] != '\0' ? req->reason : NULL,
	    orch_core_now(core), &s);
	rep.updated = s != NULL;
	if (s != NULL)
		core->metrics.events_ended++;
	if (s != NULL && !stream_pb(&a, s, &sm)) {
		fail_nomem(call);
	} else {
		rep.stream = s != NULL ? &sm : NULL;
		orch_rpc_reply(call, &rep.base);
	}
	orch_core_unlock(core);
	orch_arena_fini(&a);
}

static void
h_select_engine(void *arg, orch_rpc_call *call, const ProtobufCMessage *msg)
{
	orch_core *core = arg;
	const Orch__SelectEngineRequest *req = (const void *) msg;
	Orch__SelectEngineReply rep = ORCH__SELECT_ENGINE_REPLY__INIT;
	Orch__Engine em;
	char stack[ARENA_STACK];
	char rid[ORCH_RESERVATION_ID_LEN + 1];
	orch_arena a;
	orch_engine *e = NULL;
	orch_err rv;

	if (!orch_core_authorize(core, call, ORCH_AUTH_MUTATE))
		return;
	orch_arena_init(&a, stack, sizeof(stack));
	orch_core_lock(core);
	rv = orch_core_select_locked(core, req->has_reserve && req->reserve, &e,
	    rid);
	if (rv == ORCH_ENOTFOUND) {
		Orch__ErrorDetail d = ORCH__ERROR_DETAIL__INIT;
		Orch__ProvisioningRefusal r;
		orch_refusal why;

		if (!orch_core_can_provision_locked(core, &why)) {
			orch_refusal_pb(&why, &r);
			d.refusal = &r;
			orch_rpc_fail_detail(call, orch_refusal_status(why.code),
			    &d, "no free engine and provisioning is blocked: %s",
			    orch_refusal_reason(why.code));
		} else {
			/* Not a refusal: the caller should provision. */
			orch__provisioning_refusal__init(&r);
			r.error = "no_free_engine";
			r.code = "provision_required";
			r.message = "No engine is free; provision one with "
			            "ProvisionEngine (POST /provision/acestream).";
			r.can_retry = true;
			r.should_wait = false;
			d.refusal = &r;
			orch_rpc_fail_detail(call, ORCH_EPRECOND, &d,
			    "no free engine: provision one");
		}
	} else if (rv != ORCH_OK || !engine_pb(&a, e, &em)) {
		fail_nomem(call);
	} else {
		rep.engine = &em;
		rep.reservation_id = rid[0] != '\0' ? rid : NULL;
		orch_rpc_reply(call, &rep.base);
	}
	orch_core_unlock(core);
	orch_arena_fini(&a);
}

static void
h_get_status(void *arg, orch_rpc_call *call, const ProtobufCMessage *req)
{
	orch_core *core = arg;
	const orch_config *cfg = core->cfg;
	Orch__OrchestratorStatus rep = ORCH__ORCHESTRATOR_STATUS__INIT;
	Orch__EngineCounts engines = ORCH__ENGINE_COUNTS__INIT;
	Orch__StreamCounts streams = ORCH__STREAM_COUNTS__INIT;
	Orch__Capacity cap = ORCH__CAPACITY__INIT;
	Orch__VpnSummary vpn = ORCH__VPN_SUMMARY__INIT;
	Orch__ProvisioningState prov = ORCH__PROVISIONING_STATE__INIT;
	Orch__ConfigSummary cs = ORCH__CONFIG_SUMMARY__INIT;
	Orch__ProvisioningRefusal refusal;
	Orch__Timestamp last_failure = ORCH__TIMESTAMP__INIT;
	orch_refusal why;
	const orch_state_counts *c;
	bool allowed;
	int64_t now;

	(void) req;
	if (!orch_core_authorize(core, call, ORCH_AUTH_READ))
		return;
	orch_core_lock(core);
	now = orch_core_now(core);
	c = &core->state.counts;
	allowed = orch_core_can_provision_locked(core, &why);
	rep.status = (char *) orch_policy_status(c, cfg, core->env.docker_ok,
	    !allowed);
	engines.total = c->engines;
	engines.running = c->running;
	engines.healthy = c->healthy;
	engines.unhealthy = c->unhealthy;
	streams.active = c->streams_active;
	streams.total = c->streams_total;
	cap.total = c->engines;
	cap.used = c->used;
	cap.available = c->engines - c->used;
	cap.max_replicas = cfg->max_replicas;
	cap.min_replicas = cfg->min_replicas;
	vpn.enabled = cfg->gluetun_container_name != NULL;
	vpn.connected = vpn.enabled && core->env.vpn_connected;
	vpn.health = vpn.enabled ? core->env.vpn_health : "unknown";
	vpn.container = cfg->gluetun_container_name;
	vpn.has_forwarded_port = vpn.enabled && core->env.vpn_forwarded_port != 0;
	vpn.forwarded_port = core->env.vpn_forwarded_port;
	prov.can_provision = allowed;
	prov.circuit_breaker_state = (char *) orch_breaker_state_name(
	    orch_breaker_state_at(&core->general, now));
	if (core->general.last_failure_us != 0) {
		last_failure.unix_micros = core->general.last_failure_us;
		prov.last_failure = &last_failure;
	}
	if (!allowed) {
		orch_refusal_pb(&why, &refusal);
		prov.blocked_reason = (char *) orch_refusal_reason(why.code);
		prov.blocked_reason_details = &refusal;
	}
	cs.auto_delete = cfg->auto_delete;
	cs.grace_period_s = cfg->engine_grace_period_s;
	cs.target_image = cfg->target_image;
	rep.engines = &engines;
	rep.streams = &streams;
	rep.capacity = &cap;
	rep.vpn = &vpn;
	rep.provisioning = &prov;
	rep.config = &cs;
	orch_rpc_reply(call, &rep.base);
	orch_core_unlock(core);
}

static void
h_get_vpn_status(void *arg, orch_rpc_call *call, const ProtobufCMessage *req)
{
	orch_core *core = arg;
	const orch_config *cfg = core->cfg;
	Orch__VpnStatus rep = ORCH__VPN_STATUS__INIT;
	Orch__Timestamp last = ORCH__TIMESTAMP__INIT;

	(void) req;
	if (!orch_core_authorize(core, call, ORCH_AUTH_READ))
		return;
	orch_core_lock(core);
	rep.enabled = cfg->gluetun_container_name != NULL;
	rep.container = cfg->gluetun_container_name;
	if (!rep.enabled) {
		rep.status = "disabled";
		rep.health = "unknown";
	} else {
		rep.status = core->env.vpn_status;
		rep.health = core->env.vpn_health;
		rep.connected = core->env.vpn_connected;
		rep.has_forwarded_port = core->env.vpn_forwarded_port != 0;
		rep.forwarded_port = core->env.vpn_forwarded_port;
		if (core->env.vpn_last_check_us != 0) {
			last.unix_micros = core->env.vpn_last_check_us;
			rep.last_check_at = &last;
		}
	}
	orch_rpc_reply(call, &rep.base);
	orch_core_unlock(core);
}

static void
breaker_pb(const orch_breaker *b, int64_t now, Orch__Breaker *m,
    Orch__Timestamp *fail, Orch__Timestamp *ok)
{
	orch__breaker__init(m);
	m->state = (char *) orch_breaker_state_name(orch_breaker_state_at(b, now));
	m->failure_count = b->failure_count;
	m->failure_threshold = b->failure_threshold;
	m->recovery_timeout = (int32_t) (b->recovery_timeout_us / 1000000);
	if (b->last_failure_us != 0) {
		orch__timestamp__init(fail);
		fail->unix_micros = b->last_failure_us;
		m->last_failure_time = fail;
	}
	if (b->last_success_us != 0) {
		orch__timestamp__init(ok);
		ok->unix_micros = b->last_success_us;
		m->last_success_time = ok;
	}
}

static void
h_get_health(void *arg, orch_rpc_call *call, const ProtobufCMessage *req)
{
	orch_core *core = arg;
	Orch__HealthSummary rep = ORCH__HEALTH_SUMMARY__INIT;
	Orch__CircuitBreakers cbs = ORCH__CIRCUIT_BREAKERS__INIT;
	Orch__Breaker g, r;
	Orch__Timestamp t[4];
	const orch_state_counts *c;
	int64_t now;

	(void) req;
	if (!orch_core_authorize(core, call, ORCH_AUTH_READ))
		return;
	orch_core_lock(core);
	now = orch_core_now(core);
	c = &core->state.counts;
	rep.total_engines = c->engines;
	rep.healthy_engines = c->healthy;
	rep.unhealthy_engines = c->unhealthy;
	rep.marked_for_replacement = c->marked;
	rep.minimum_required = core->cfg->min_replicas;
	rep.health_check_interval = core->cfg->health_check_interval_s;
	breaker_pb(&core->general, now, &g, &t[0], &t[1]);
	breaker_pb(&core->replacement, now, &r, &t[2], &t[3]);
	cbs.general = &g;
	cbs.replacement = &r;
	rep.circuit_breakers = &cbs;
	orch_rpc_reply(call, &rep.base);
	orch_core_unlock(core);
}

static void
h_reset_breaker(void *arg, orch_rpc_call *call, const ProtobufCMessage *msg)
{
	orch_core *core = arg;
	const Orch__ResetCircuitBreakerRequest *req = (const void *) msg;
	Orch__MessageReply rep = ORCH__MESSAGE_REPLY__INIT;
	const char *which = req->operation_type;
	char text[96];
	orch_err rv;

	if (!orch_core_authorize(core, call, ORCH_AUTH_MUTATE))
		return;
	if (which != NULL && which[0] == '\0')
		which = NULL;
	orch_core_lock(core);
	rv = orch_core_reset_breaker_locked(core, which);
	orch_core_unlock(core);
	if (rv != ORCH_OK) {
		orch_rpc_fail_field(call, "operation_type",
		    "operation_type: expected \"general\" or \"replacement\"");
		return;
	}
	if (which != NULL)
		snprintf(text, sizeof(text), "Circuit breaker '%s' reset", which);
	else
		snprintf(text, sizeof(text), "All circuit breakers reset");
	rep.message = text;
	orch_rpc_reply(call, &rep.base);
}

static void
h_get_metrics(void *arg, orch_rpc_call *call, const ProtobufCMessage *req)
{
	orch_core *core = arg;
	Orch__MetricsReply rep = ORCH__METRICS_REPLY__INIT;
	orch_buf text = ORCH_BUF_INIT;

	(void) req;
	if (!orch_core_authorize(core, call, ORCH_AUTH_READ))
		return;
	orch_core_lock(core);
	orch_metrics_render_locked(core, &text);
	orch_core_unlock(core);
	rep.text = (char *) orch_buf_cstr(&text);
	if (rep.text == NULL)
		fail_nomem(call);
	else
		orch_rpc_reply(call, &rep.base);
	orch_buf_fini(&text);
}

static const orch_rpc_method core_methods[] = {
	{"Ping", h_ping, ORCH_RPC_FAST},
	{"ListEngines", h_list_engines, ORCH_RPC_FAST},
	{"GetEngine", h_get_engine, ORCH_RPC_FAST},
	{"ListStreams", h_list_streams, ORCH_RPC_FAST},
	{"GetStreamStats", h_get_stream_stats, ORCH_RPC_FAST},
	{"StreamStarted", h_stream_started, ORCH_RPC_FAST},
	{"StreamEnded", h_stream_ended, ORCH_RPC_FAST},
	{"SelectEngine", h_select_engine, ORCH_RPC_FAST},
	{"GetStatus", h_get_status, ORCH_RPC_FAST},
	{"GetVpnStatus", h_get_vpn_status, ORCH_RPC_FAST},
	{"GetHealth", h_get_health, ORCH_RPC_FAST},
	{"ResetCircuitBreaker", h_reset_breaker, ORCH_RPC_FAST},
	{"GetMetrics", h_get_metrics, ORCH_RPC_FAST},
};

const orch_rpc_method *
orch_core_methods(size_t *n)
{
	*n = sizeof(core_methods) / sizeof(core_methods[0]);
	return core_methods;
}
