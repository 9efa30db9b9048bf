/* StreamStarted, StreamEnded: the events proxies send. */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/arena.h"
#include "src/core/core.h"
#include "src/service/handlers.h"
#include "src/service/pb.h"
#include "src/service/service.h"

/* Longest string accepted in an event field (keys, URLs, ids). */
#define FIELD_MAX 4096
#define HOST_MAX 255

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

/* Whether s holds a control character (CR, LF, NUL-like bytes, DEL):
 * none belongs in an id, a key or a URL, and CR/LF in a stream id would
 * end up in logs and headers. */
static bool
has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return true;
	}
	return false;
}

/* An id-like string: too long or holding control characters is refused
 * (NULL is fine: the caller decides whether it is required). */
static bool
check_text(orch_diag *d, const char *field, const char *v, size_t max)
{
	if (too_long(v, max)) {
		orch_diag_field(
		    d, field, "%s: longer than %zu bytes", field, max);
		return false;
	}
	if (v != NULL && has_control(v)) {
		orch_diag_field(d, field,
		    "%s: must not contain control characters", field);
		return false;
	}
	return true;
}

static bool
check_stream(orch_diag *d, const Orch__StreamKey *k, orch_stream_start *ev)
{
	if (k == NULL) {
		orch_diag_field(d, "stream", "stream: required");
		return false;
	}
	if (k->key_type == NULL || !valid_key_type(k->key_type)) {
		orch_diag_field(d, "stream.key_type",
		    "stream.key_type: expected one of content_id, infohash, "
		    "url, "
		    "magnet");
		return false;
	}
	if (k->key == NULL || k->key[0] == '\0' ||
	    too_long(k->key, FIELD_MAX)) {
		orch_diag_field(d, "stream.key",
		    "stream.key: required, a non-empty string of at most %d "
		    "bytes",
		    FIELD_MAX);
		return false;
	}
	if (!check_text(d, "stream.key", k->key, FIELD_MAX))
		return false;
	ev->key_type = k->key_type;
	ev->key = k->key;
	return true;
}

static bool
check_engine(orch_diag *d, const Orch__EngineAddress *e, orch_stream_start *ev)
{
	if (e == NULL)
		return true;
	if (e->host == NULL || e->host[0] == '\0' ||
	    too_long(e->host, HOST_MAX) || has_control(e->host)) {
		orch_diag_field(d, "engine.host",
		    "engine.host: required, a host name of at most %d bytes",
		    HOST_MAX);
		return false;
	}
	if (!e->has_port || e->port < 1 || e->port > 65535) {
		orch_diag_field(d, "engine.port",
		    "engine.port: expected a port from 1 to 65535");
		return false;
	}
	ev->host = e->host;
	ev->port = e->port;
	return true;
}

static bool
check_labels(
    orch_diag *d, const Orch__StreamStartedRequest *req, orch_stream_start *ev)
{
	for (size_t i = 0; i < req->n_labels; i++) {
		const char *k = req->labels[i]->key,
		           *v = req->labels[i]->value;

		if (k == NULL || v == NULL)
			continue;
		if (strcmp(k, "stream_id") == 0) {
			if (v[0] == '\0' || too_long(v, FIELD_MAX)) {
				orch_diag_field(d, "labels.stream_id",
				    "labels.stream_id: a non-empty string of "
				    "at "
				    "most %d bytes",
				    FIELD_MAX);
				return false;
			}
			if (!check_text(d, "labels.stream_id", v, FIELD_MAX))
				return false;
			ev->stream_id = v;
		} else if (strcmp(k, "reservation_id") == 0) {
			ev->reservation_id = v;
		}
	}
	return true;
}

static bool
check_url(orch_diag *d, const char *field, const char *v)
{
	if (v != NULL && (!is_http_url(v) || too_long(v, FIELD_MAX))) {
		orch_diag_field(d, field,
		    "%s: expected an http:// or https:// URL", field);
		return false;
	}
	return true;
}

/* A session, when given, says where its stats are: stat_url is required
 * (the collector polls it; a session without one was accepted and never
 * polled). */
static bool
check_session(
    orch_diag *d, const Orch__SessionInfo *ses, orch_stream_start *ev)
{
	if (ses == NULL)
		return true;
	if (!check_text(d, "session.playback_session_id",
	        ses->playback_session_id, FIELD_MAX))
		return false;
	if (!check_url(d, "session.stat_url", ses->stat_url) ||
	    !check_url(d, "session.command_url", ses->command_url))
		return false;
	if (ses->has_is_live && ses->is_live != 0 && ses->is_live != 1) {
		orch_diag_field(d, "session.is_live",
		    "session.is_live: expected 0 or 1, got %d",
		    (int) ses->is_live);
		return false;
	}
	if (ses->stat_url == NULL) {
		orch_diag_field(d, "session.stat_url",
		    "session.stat_url: required, an http:// or https:// URL");
		return false;
	}
	if (ses->playback_session_id != NULL &&
	    ses->playback_session_id[0] != '\0')
		ev->playback_session_id = ses->playback_session_id;
	ev->stat_url = ses->stat_url;
	ev->command_url = ses->command_url;
	ev->is_live = ses->has_is_live && ses->is_live == 1;
	return true;
}

/* Static checks of a stream_started body, in field order; fills ev
 * (pointing into req) or d. */
static bool
check_started(
    orch_diag *d, const Orch__StreamStartedRequest *req, orch_stream_start *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (req->container_id != NULL && req->container_id[0] != '\0') {
		if (!check_text(
		        d, "container_id", req->container_id, FIELD_MAX))
			return false;
		ev->container_id = req->container_id;
	}
	if (!check_stream(d, req->stream, ev) ||
	    !check_engine(d, req->engine, ev) || !check_labels(d, req, ev) ||
	    !check_session(d, req->session, ev))
		return false;
	if (ev->stream_id == NULL && ev->playback_session_id == NULL) {
		orch_diag_field(d, "session.playback_session_id",
		    "session.playback_session_id: required unless "
		    "labels.stream_id is given");
		return false;
	}
	return true;
}

void
orch_svc_stream_started(
    void *arg, orch_call *call, const ProtobufCMessage *msg)
{
	orch_service *svc = arg;
	orch_core *core = svc->core;
	const Orch__StreamStartedRequest *req = (const void *) msg;
	orch_stream_start ev;
	char stack[ORCH_PB_ARENA_STACK];
	orch_arena a;
	orch_stream *s = NULL;
	Orch__Stream rep;
	orch_diag d;
	orch_err rv;

	if (!check_started(&d, req, &ev)) {
		orch_call_fail_diag(call, ORCH_EINVAL, &d);
		return;
	}
	orch_arena_init(&a, stack, sizeof(stack));
	orch_core_lock(core);
	rv = orch_state_stream_start(
	    &core->state, &ev, orch_core_now(core), &s);
	if (rv == ORCH_EINVAL)
		/* The only thing left for the state to refuse: no engine. */
		orch_call_fail_field(call, "engine",
		    "engine: required (host and port) when container_id names "
		    "no known engine");
	else if (rv != ORCH_OK || !orch_pb_stream(&a, s, &rep))
		orch_svc_fail_nomem(call);
	else {
		core->metrics.events_started++;
		orch_call_reply(call, &rep.base);
	}
	orch_core_unlock(core);
	orch_arena_fini(&a);
}

void
orch_svc_stream_ended(void *arg, orch_call *call, const ProtobufCMessage *msg)
{
	orch_service *svc = arg;
	orch_core *core = svc->core;
	const Orch__StreamEndedRequest *req = (const void *) msg;
	Orch__StreamEndedReply rep = ORCH__STREAM_ENDED_REPLY__INIT;
	Orch__Stream sm;
	char stack[ORCH_PB_ARENA_STACK];
	orch_arena a;
	orch_stream *s = NULL;

	if (req->stream_id != NULL &&
	    (req->stream_id[0] == '\0' ||
	        too_long(req->stream_id, 2 * FIELD_MAX))) {
		orch_call_fail_field(call, "stream_id",
		    "stream_id: a non-empty string when given");
		return;
	}
	if (too_long(req->container_id, FIELD_MAX)) {
		orch_call_fail_field(call, "container_id",
		    "container_id: longer than %d bytes", FIELD_MAX);
		return;
	}
	if (too_long(req->reason, 256)) {
		orch_call_fail_field(
		    call, "reason", "reason: longer than 256 bytes");
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
	if (s != NULL && !orch_pb_stream(&a, s, &sm)) {
		orch_svc_fail_nomem(call);
	} else {
		rep.stream = s != NULL ? &sm : NULL;
		orch_call_reply(call, &rep.base);
	}
	orch_core_unlock(core);
	orch_arena_fini(&a);
}
