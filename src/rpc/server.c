/*
 * RPC server. See server.h for the model; the notes here are about why.
 *
 * - A context's request is unpacked and its nng message freed before the
 *   handler runs: protobuf-c copies bytes fields, so nothing points into it.
 * - A BLOCKING call is recorded as in flight by its request id. REQ resends
 *   a request when its timer fires or its pipe drops; a resend that arrives
 *   while the first copy still runs is parked as a "waiter" of the first
 *   call and gets a copy of its reply, so a slow call (a provision) never
 *   runs twice because of a resend. A resend that arrives after the first
 *   copy has answered (the reply crossed it on the wire, or the connection
 *   dropped before the reply got through) finds that reply in a small ring
 *   of recent BLOCKING replies and gets it again. Request id 0 is never
 *   de-duplicated (raw clients that set no id).
 * - A duplicate is the *same request*: same id and the same digest of
 *   method, Authorization and payload. The id alone let two callers that
 *   picked the same id share one answer (the second never ran, and got
 *   the first's reply). Keying by the connection instead would break the
 *   case the cache is for: a client resends after its connection dropped,
 *   on a new pipe. With the digest, a stranger who reuses an id gets his
 *   own call run; only a byte-identical request is answered again.
 * - Close: nng_close() fails every pending operation with NNG_ECLOSED; each
 *   context then stops (state IDLE) without re-arming, and close waits for
 *   all of them before freeing their aios, so no callback can touch freed
 *   memory.
 */
#include "src/rpc/server.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "src/base/log.h"
#include "src/base/time.h"
#include "src/rpc/envelope.h"

enum call_state {
	CALL_IDLE, /* nothing pending: never started, or stopped by close */
	CALL_RECV, /* waiting for a request */
	CALL_WORK, /* handler queued or running on a worker */
	CALL_WAIT, /* a resent duplicate waiting for the first copy's reply */
	CALL_SEND, /* reply being sent */
};

/* A call's state; `base` first, so the handler's orch_call * is ours. */
typedef struct orch_rpc_call orch_rpc_call;

struct orch_rpc_call {
	orch_call base;
	orch_rpc_server *srv;
	nng_ctx ctx;
	nng_aio *aio;
	enum call_state state;

	/* The request being served. */
	Orch__RequestEnvelope *env;
	ProtobufCMessage *req;
	const orch_method *method;
	uint64_t request_id;
	uint64_t digest; /* of method, Authorization and payload */
	bool blocking;   /* the method is BLOCKING */
	bool inflight;   /* a BLOCKING call others may attach to (srv->mtx) */
	orch_rpc_call *waiter; /* a resent duplicate (srv->mtx) */

	/* The answer, packed as soon as the handler gives it. */
	nng_msg *reply;

	/* A direct (in-process) call: heap-allocated, no context; the answer
	 * goes to direct_fn unpacked instead of into `reply`. */
	orch_rpc_direct_fn direct_fn;
	void *direct_arg;
	char *direct_auth; /* owned copy of the Authorization value */
	bool owns_req;     /* req is freed with the call */

	orch_rpc_call *next; /* worker queue link (srv->mtx) */
};

/* Recent BLOCKING replies, for resends that arrive after the answer. */
#define RECENT_MAX 64
#define RECENT_TTL_MS 120000

struct recent_reply {
	uint64_t request_id;
	uint64_t digest;
	int64_t at_ms;
	nng_msg *reply;
};

/* A blocking lane: calls waiting for one of its workers. */
struct lane {
	orch_rpc_call *head;
	orch_rpc_call *tail;
	int len;
	int max;
	pthread_cond_t cv; /* queue non-empty, or quit */
	int nworkers;
	pthread_t *workers;
	struct worker_arg *args;
};

struct worker_arg {
	orch_rpc_server *srv;
	struct lane *lane;
};

struct orch_rpc_server {
	const ProtobufCServiceDescriptor *service;
	const orch_method **by_index; /* service method index -> row */
	void *arg;
	orch_authorize_fn authorize;
	size_t max_frame;

	nng_socket sock;
	bool started;

	int ncalls;
	orch_rpc_call *calls;
	int live; /* calls not IDLE (mtx) */

	pthread_mutex_t mtx;
	pthread_cond_t cv; /* live changed */
	/* One queue and worker set per blocking lane (index lane - 1). */
	struct lane lanes[ORCH_LANE_COUNT - 1];
	bool closing; /* socket closed: workers answer nothing new */
	bool quit;    /* workers exit when their queue is empty */

	nng_listener listeners[8];
	int nlisteners;

	struct recent_reply recent[RECENT_MAX]; /* ring (mtx) */
	int recent_next;
};

/* FNV-1a, 64 bits, continued from h. */
static uint64_t
fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* What makes two envelopes the same request (besides the id). */
static uint64_t
request_digest(const Orch__RequestEnvelope *env)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const char *auth =
	    env->authorization != NULL ? env->authorization : "";

	h = fnv1a(h, env->method, strlen(env->method) + 1);
	h = fnv1a(h, auth, strlen(auth) + 1);
	if (env->has_payload)
		h = fnv1a(h, env->payload.data, env->payload.len);
	return h;
}

/* ------------------------------------------------------------------------ */
/* Reply packing. */

struct msg_alloc {
	nng_msg *msg;
};

static uint8_t *
msg_alloc(void *actx, size_t n)
{
	struct msg_alloc *a = actx;

	if (nng_msg_alloc(&a->msg, n) != 0) {
		a->msg = NULL;
		return NULL;
	}
	return nng_msg_body(a->msg);
}

/* The orch_call answer operation: packs the reply envelope into
 * c->reply, or hands a direct call's answer to its caller. orch_call
 * keeps only the first answer. */
static void
set_reply(orch_call *call, orch_err status, const char *message,
    const Orch__ErrorDetail *detail, const ProtobufCMessage *payload)
{
	orch_rpc_call *c = (orch_rpc_call *) call;
	Orch__ReplyEnvelope env = ORCH__REPLY_ENVELOPE__INIT;
	struct msg_alloc a = {NULL};
	size_t len;

	if (c->direct_fn != NULL) {
		/* In-process: the caller reads the message itself, while the
		 * handler still holds what the message points into. */
		c->direct_fn(c->direct_arg, status, message, detail,
		    status == ORCH_OK ? payload : NULL);
		return;
	}
	env.request_id = c->request_id;
	env.status = (Orch__StatusCode) orch_err_to_status(status);
	env.message = (char *) message;
	env.detail = (Orch__ErrorDetail *) detail;
	if (orch_rpc_pack_reply(&env, payload, msg_alloc, &a, &len) !=
	    ORCH_OK) {
		if (a.msg != NULL)
			nng_msg_free(a.msg);
		ORCH_ERROR("rpc: out of memory packing a reply");
		return; /* the caller will see its deadline pass */
	}
	c->reply = a.msg;
}

/* Readies c's orch_call for a new request. */
static void
call_reset(orch_rpc_call *c)
{
	c->base.answer = set_reply;
	c->base.method = NULL;
	c->base.authorization = NULL;
	c->base.deadline_ms = 0;
	c->base.received_ms = orch_mono_ms();
	c->base.answered = false;
}

/* Judges the caller's Authorization for c's method; on refusal answers
 * and returns false. */
static bool
authorized(orch_rpc_call *c)
{
	orch_diag why;
	orch_err rv;

	if (c->method->auth == ORCH_AUTH_OPEN)
		return true;
	rv = c->srv->authorize(
	    c->srv->arg, c->method->auth, c->base.authorization, &why);
	if (rv != ORCH_OK)
		orch_call_fail(
		    &c->base, rv, "%s", orch_diag_msg(&why, "unauthorized"));
	return rv == ORCH_OK;
}

/* ------------------------------------------------------------------------ */
/* The context state machine. */

/* Call with srv->mtx held. */
static void
set_idle_locked(orch_rpc_call *c)
{
	c->state = CALL_IDLE;
	c->srv->live--;
	pthread_cond_broadcast(&c->srv->cv);
}

static void
set_idle(orch_rpc_call *c)
{
	pthread_mutex_lock(&c->srv->mtx);
	set_idle_locked(c);
	pthread_mutex_unlock(&c->srv->mtx);
}

/*
 * Every operation is started under srv->mtx and only while the server is
 * not closing: nng 1.5.2 can use a freed mutex when an operation is started
 * on a context while nng_close() tears its socket down (seen as "panic:
 * pthread_mutex_lock: Invalid argument"). Close sets `closing` under the
 * same lock before calling nng_close(), so no start can race it. Starting an
 * operation never runs its callback inline, so holding the lock is safe.
 */
static void
recv_next(orch_rpc_call *c)
{
	pthread_mutex_lock(&c->srv->mtx);
	if (c->srv->closing) {
		set_idle_locked(c);
	} else {
		c->state = CALL_RECV;
		nng_ctx_recv(c->ctx, c->aio);
	}
	pthread_mutex_unlock(&c->srv->mtx);
}

/* Sends msg (taken) on c's context. */
static void
send_msg(orch_rpc_call *c, nng_msg *msg)
{
	pthread_mutex_lock(&c->srv->mtx);
	if (c->srv->closing) {
		nng_msg_free(msg);
		set_idle_locked(c);
	} else {
		c->state = CALL_SEND;
		nng_aio_set_msg(c->aio, msg);
		nng_ctx_send(c->ctx, c->aio);
	}
	pthread_mutex_unlock(&c->srv->mtx);
}

static void
release_request(orch_rpc_call *c)
{
	if (c->direct_fn != NULL && !c->owns_req)
		c->req = NULL; /* the direct caller's */
	if (c->req != NULL) {
		protobuf_c_message_free_unpacked(c->req, NULL);
		c->req = NULL;
	}
	orch_rpc_request_free(c->env);
	c->env = NULL;
	c->method = NULL;
}

/* Sends the packed reply (and a copy to a parked duplicate), then re-arms. */
static void
send_reply(orch_rpc_call *c)
{
	orch_rpc_server *srv = c->srv;
	orch_rpc_call *w;
	nng_msg *msg = c->reply;

	c->reply = NULL;
	pthread_mutex_lock(&srv->mtx);
	w = c->waiter;
	c->waiter = NULL;
	if (c->inflight && msg != NULL) {
		struct recent_reply *r = &srv->recent[srv->recent_next];

		if (r->reply != NULL)
			nng_msg_free(r->reply);
		r->reply = NULL;
		if (nng_msg_dup(&r->reply, msg) == 0) {
			r->request_id = c->request_id;
			r->digest = c->digest;
			r->at_ms = orch_mono_ms();
			srv->recent_next = (srv->recent_next + 1) % RECENT_MAX;
		}
	}
	c->inflight = false;
	pthread_mutex_unlock(&srv->mtx);

	if (w != NULL) {
		nng_msg *dup = NULL;

		if (msg != NULL && nng_msg_dup(&dup, msg) == 0) {
			send_msg(w, dup);
		} else {
			recv_next(w);
		}
	}
	if (msg == NULL) {
		recv_next(c); /* nothing to say (out of memory) */
		return;
	}
	send_msg(c, msg);
}

static void
run_handler(orch_rpc_call *c)
{
	orch_rpc_server *srv = c->srv;

	c->method->fn(srv->arg, &c->base, c->req);
	if (!c->base.answered)
		orch_call_fail(&c->base, ORCH_EINTERNAL,
		    "%s: handler gave no answer", c->method->name);
	release_request(c);
}

/* Queues c on its lane (srv->mtx held); false when the lane is full. */
static bool
enqueue_locked(orch_rpc_server *srv, orch_rpc_call *c)
{
	struct lane *l = &srv->lanes[c->method->lane - 1];

	if (l->len >= l->max)
		return false;
	c->next = NULL;
	if (l->tail != NULL)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
	l->len++;
	pthread_cond_signal(&l->cv);
	return true;
}

static void
fail_busy(orch_rpc_call *c)
{
	orch_call_fail(&c->base, ORCH_EEXHAUSTED,
	    "%s: server busy (%d calls waiting on its lane)", c->method->name,
	    c->srv->lanes[c->method->lane - 1].max);
}

/*
 * Records a BLOCKING call as in flight and queues it, or parks it behind
 * the copy of the same request already in flight, or refuses it when its
 * lane is full. Returns true when it was parked or refused.
 */
static bool
park_if_duplicate(orch_rpc_call *c)
{
	orch_rpc_server *srv = c->srv;
	orch_rpc_call *old = NULL;
	nng_msg *again = NULL;
	bool parked = false, busy = false, waiting = false;
	int64_t now = orch_mono_ms();
	uint64_t request_id = c->request_id; /* c may be gone when logged */

	pthread_mutex_lock(&srv->mtx);
	for (int i = 0; c->request_id != 0 && i < RECENT_MAX; i++) {
		struct recent_reply *r = &srv->recent[i];

		if (r->reply != NULL && r->request_id == c->request_id &&
		    r->digest == c->digest && now - r->at_ms < RECENT_TTL_MS) {
			if (nng_msg_dup(&again, r->reply) != 0)
				again = NULL;
			parked = true;
			break;
		}
	}
	for (int i = 0; !parked && c->request_id != 0 && i < srv->ncalls;
	     i++) {
		orch_rpc_call *o = &srv->calls[i];

		if (o != c && o->inflight && o->request_id == c->request_id &&
		    o->digest == c->digest) {
			/* Released before c is published as o's waiter: from
			 * then on o's worker owns c (send_reply -> send_msg,
			 * and nng re-arms it), so this thread may touch
			 * neither c->state nor its request after unlocking
			 * (a data race TSan found on c->state). */
			release_request(c);
			old = o->waiter;
			o->waiter = c;
			c->state = CALL_WAIT;
			parked = waiting = true;
			break;
		}
	}
	if (!parked) {
		c->state = CALL_WORK;
		c->inflight = enqueue_locked(srv, c);
		busy = !c->inflight;
	}
	pthread_mutex_unlock(&srv->mtx);
	if (busy) {
		fail_busy(c);
		release_request(c);
		send_reply(c);
		return true;
	}
	if (parked) {
		ORCH_DEBUG("rpc: request %llu resent; %s",
		    (unsigned long long) request_id,
		    waiting ? "parked" : "answered again");
		if (!waiting)
			release_request(c);
		if (old != NULL)
			recv_next(old); /* an older duplicate: drop it */
		if (!waiting) {
			c->reply = again; /* NULL (no memory): just re-arm */
			send_reply(c);
		}
	}
	return parked;
}

static void
handle_request(orch_rpc_call *c, nng_msg *msg)
{
	orch_rpc_server *srv = c->srv;
	const ProtobufCMethodDescriptor *md;
	orch_diag why;
	size_t len = nng_msg_len(msg);
	orch_err rv;

	call_reset(c);
	c->request_id = 0;
	if (len > srv->max_frame) {
		/* Only inproc gets here: ipc/tcp drop it (NNG_OPT_RECVMAXSZ).
		 */
		nng_msg_free(msg);
		orch_call_fail(&c->base, ORCH_EINVAL,
		    "request frame of %zu bytes exceeds %zu", len,
		    srv->max_frame);
		send_reply(c);
		return;
	}
	rv = orch_rpc_request_decode(nng_msg_body(msg), len, &c->env, &why);
	nng_msg_free(msg);
	if (rv != ORCH_OK) {
		orch_call_fail(&c->base, ORCH_EINVAL, "%s", why.msg);
		send_reply(c);
		return;
	}
	c->request_id = c->env->request_id;
	c->digest = request_digest(c->env);
	c->base.authorization = c->env->authorization;
	if (c->env->has_timeout_ms && c->env->timeout_ms > 0)
		c->base.deadline_ms = orch_mono_ms() + c->env->timeout_ms;
	md = protobuf_c_service_descriptor_get_method_by_name(
	    srv->service, c->env->method);
	if (md == NULL || srv->by_index[md - srv->service->methods] == NULL) {
		orch_call_fail(&c->base, ORCH_ENOTSUP, "unknown method \"%s\"",
		    c->env->method);
		release_request(c);
		send_reply(c);
		return;
	}
	c->method = srv->by_index[md - srv->service->methods];
	c->base.method = c->method->name;
	c->req = protobuf_c_message_unpack(md->input, NULL,
	    c->env->has_payload ? c->env->payload.len : 0,
	    c->env->has_payload ? c->env->payload.data : NULL);
	if (c->req == NULL) {
		orch_call_fail(&c->base, ORCH_EINVAL, "payload is not a %s",
		    md->input->name);
		release_request(c);
		send_reply(c);
		return;
	}
	/* Judged before dispatch: a refused call never reaches a handler,
	 * nor the worker queue. */
	if (!authorized(c)) {
		release_request(c);
		send_reply(c);
		return;
	}
	c->blocking = c->method->lane != ORCH_LANE_FAST;
	if (!c->blocking) {
		run_handler(c);
		send_reply(c);
		return;
	}
	park_if_duplicate(c);
}

/* The socket or context is gone (nng_ctx_* on a closed context fails with
 * NNG_ENOENT rather than NNG_ECLOSED). */
static bool
stopped(orch_rpc_call *c, int rv)
{
	bool closing;

	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED || rv == NNG_ENOENT)
		return true;
	if (rv == 0)
		return false;
	/* Any other error while closing: re-arming would keep a reference
	 * on the context and hold nng_close() up. */
	pthread_mutex_lock(&c->srv->mtx);
	closing = c->srv->closing;
	pthread_mutex_unlock(&c->srv->mtx);
	return closing;
}

static void
call_cb(void *arg)
{
	orch_rpc_call *c = arg;
	int rv = nng_aio_result(c->aio);

	switch (c->state) {
	case CALL_RECV:
		if (stopped(c, rv)) {
			set_idle(c);
			return;
		}
		if (rv != 0) {
			recv_next(c);
			return;
		}
		handle_request(c, nng_aio_get_msg(c->aio));
		return;
	case CALL_SEND:
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(c->aio));
		if (stopped(c, rv)) {
			set_idle(c);
			return;
		}
		recv_next(c);
		return;
	default:
		ORCH_ERROR("rpc: callback in unexpected state %d", c->state);
		return;
	}
}

/* ------------------------------------------------------------------------ */
/* Direct (in-process) calls. */

static void
direct_free(orch_rpc_call *c)
{
	release_request(c);
	free(c->direct_auth);
	free(c);
}

/* A private copy of req for a worker that may run after the caller's
 * request is gone (a pack/unpack; BLOCKING calls are rare). */
static ProtobufCMessage *
copy_request(const ProtobufCMessageDescriptor *d, const ProtobufCMessage *req)
{
	size_t len = protobuf_c_message_get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);
	ProtobufCMessage *copy = NULL;

	if (buf != NULL) {
		protobuf_c_message_pack(req, buf);
		copy = protobuf_c_message_unpack(d, NULL, len, buf);
		free(buf);
	}
	return copy;
}

/* Queues a BLOCKING direct call: ORCH_OK, ORCH_ECLOSED when the server
 * is closing, ORCH_EEXHAUSTED when the lane is full. */
static orch_err
enqueue_direct(orch_rpc_call *c)
{
	orch_rpc_server *srv = c->srv;
	orch_err rv = ORCH_OK;

	pthread_mutex_lock(&srv->mtx);
	if (srv->closing || srv->quit)
		rv = ORCH_ECLOSED;
	else if (!enqueue_locked(srv, c))
		rv = ORCH_EEXHAUSTED;
	pthread_mutex_unlock(&srv->mtx);
	return rv;
}

orch_err
orch_rpc_server_call(orch_rpc_server *srv, const char *method,
    const char *authorization, uint32_t timeout_ms,
    const ProtobufCMessage *req, orch_rpc_direct_fn done, void *arg)
{
	const ProtobufCMethodDescriptor *md;
	orch_rpc_call *c;
	orch_err rv = ORCH_OK;

	md = protobuf_c_service_descriptor_get_method_by_name(
	    srv->service, method);
	if (md == NULL || srv->by_index[md - srv->service->methods] == NULL)
		return ORCH_ENOTSUP;
	if (req == NULL || req->descriptor != md->input)
		return ORCH_EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return ORCH_ENOMEM;
	c->srv = srv;
	call_reset(c);
	c->method = srv->by_index[md - srv->service->methods];
	c->base.method = c->method->name;
	c->blocking = c->method->lane != ORCH_LANE_FAST;
	c->direct_fn = done;
	c->direct_arg = arg;
	c->state = CALL_WORK;
	if (timeout_ms > 0)
		c->base.deadline_ms = orch_mono_ms() + timeout_ms;
	if (authorization != NULL) {
		c->direct_auth = strdup(authorization);
		if (c->direct_auth == NULL) {
			rv = ORCH_ENOMEM;
			goto out;
		}
		c->base.authorization = c->direct_auth;
	}
	if (!authorized(c) || !c->blocking) {
		/* Refused, or FAST: answered on the caller's thread. */
		c->req = (ProtobufCMessage *) req;
		if (!c->base.answered)
			run_handler(c);
		goto out;
	}
	c->req = copy_request(md->input, req);
	c->owns_req = true;
	if (c->req == NULL)
		rv = ORCH_ENOMEM;
	else if ((rv = enqueue_direct(c)) == ORCH_EEXHAUSTED) {
		fail_busy(c); /* answered here, like a refusal */
		rv = ORCH_OK;
	} else if (rv == ORCH_OK)
		c = NULL; /* the worker's now */
out:
	if (c != NULL)
		direct_free(c);
	return rv;
}

orch_err
orch_rpc_server_authorize(
    orch_rpc_server *srv, const char *method, const char *authorization)
{
	const ProtobufCMethodDescriptor *md =
	    protobuf_c_service_descriptor_get_method_by_name(
	        srv->service, method);
	const orch_method *row;
	orch_diag why;

	if (md == NULL || srv->by_index[md - srv->service->methods] == NULL)
		return ORCH_ENOTSUP;
	row = srv->by_index[md - srv->service->methods];
	if (row->auth == ORCH_AUTH_OPEN)
		return ORCH_OK;
	return srv->authorize(srv->arg, row->auth, authorization, &why);
}

/* ------------------------------------------------------------------------ */
/* Workers. */

static void *
worker_main(void *arg)
{
	struct worker_arg *wa = arg;
	orch_rpc_server *srv = wa->srv;
	struct lane *l = wa->lane;
	orch_rpc_call *c;
	bool closing;

	for (;;) {
		pthread_mutex_lock(&srv->mtx);
		while (l->head == NULL && !srv->quit)
			pthread_cond_wait(&l->cv, &srv->mtx);
		c = l->head;
		if (c == NULL) {
			pthread_mutex_unlock(&srv->mtx);
			break;
		}
		l->head = c->next;
		if (l->head == NULL)
			l->tail = NULL;
		l->len--;
		closing = srv->closing;
		pthread_mutex_unlock(&srv->mtx);

		if (closing) {
			orch_call_fail(
			    &c->base, ORCH_ECLOSED, "server shutting down");
			release_request(c);
		} else if (c->base.deadline_ms != 0 &&
		           orch_mono_ms() >= c->base.deadline_ms) {
			/* The caller has stopped waiting: don't do the work.
			 */
			orch_call_fail(&c->base, ORCH_ETIMEDOUT,
			    "%s: deadline passed in queue", c->method->name);
			release_request(c);
		} else {
			run_handler(c);
		}
		if (c->direct_fn != NULL)
			direct_free(c);
		else
			send_reply(c);
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Life cycle. */

static orch_err
start_workers(orch_rpc_server *srv, struct lane *l, int n)
{
	l->workers = calloc((size_t) n, sizeof(*l->workers));
	l->args = calloc((size_t) n, sizeof(*l->args));
	if (l->workers == NULL || l->args == NULL)
		return ORCH_ENOMEM;
	for (int i = 0; i < n; i++) {
		l->args[i].srv = srv;
		l->args[i].lane = l;
		if (pthread_create(
		        &l->workers[i], NULL, worker_main, &l->args[i]) != 0)
			return ORCH_ESYS;
		l->nworkers = i + 1;
	}
	return ORCH_OK;
}

orch_err
orch_rpc_server_open(const orch_rpc_server_opts *opts, orch_rpc_server **out)
{
	orch_rpc_server *srv;
	orch_err rv = ORCH_OK;

	*out = NULL;
	if (opts == NULL || opts->service == NULL || opts->methods == NULL)
		return ORCH_EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return ORCH_ENOMEM;
	pthread_mutex_init(&srv->mtx, NULL);
	pthread_cond_init(&srv->cv, NULL);
	for (int i = 0; i < ORCH_LANE_COUNT - 1; i++) {
		pthread_cond_init(&srv->lanes[i].cv, NULL);
		srv->lanes[i].max =
		    opts->queue_max > 0 ? opts->queue_max : ORCH_RPC_QUEUE_MAX;
	}
	srv->service = opts->service;
	srv->arg = opts->arg;
	srv->authorize = opts->authorize;
	srv->max_frame =
	    opts->max_frame > 0 ? opts->max_frame : ORCH_RPC_MAX_FRAME;
	srv->ncalls = opts->contexts > 0 ? opts->contexts : 64;
	srv->by_index =
	    calloc(opts->service->n_methods, sizeof(*srv->by_index));
	srv->calls = calloc((size_t) srv->ncalls, sizeof(*srv->calls));
	if (srv->by_index == NULL || srv->calls == NULL) {
		rv = ORCH_ENOMEM;
		goto out;
	}

	for (size_t i = 0; i < opts->n_methods; i++) {
		const ProtobufCMethodDescriptor *md =
		    protobuf_c_service_descriptor_get_method_by_name(
		        opts->service, opts->methods[i].name);

		if (md == NULL || opts->methods[i].fn == NULL ||
		    (unsigned) opts->methods[i].lane >= ORCH_LANE_COUNT) {
			ORCH_ERROR("rpc: method \"%s\" is not in service %s",
			    opts->methods[i].name, opts->service->name);
			rv = ORCH_EINVAL;
			goto out;
		}
		if (opts->methods[i].auth != ORCH_AUTH_OPEN &&
		    opts->authorize == NULL) {
			ORCH_ERROR("rpc: method \"%s\" needs auth and the "
			           "server has no authorize function",
			    opts->methods[i].name);
			rv = ORCH_EINVAL;
			goto out;
		}
		srv->by_index[md - opts->service->methods] = &opts->methods[i];
	}
	if (nng_rep0_open(&srv->sock) != 0) {
		rv = ORCH_ESYS;
		goto out;
	}
	srv->started = false;
	nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, srv->max_frame);
	for (int i = 0; i < srv->ncalls; i++) {
		orch_rpc_call *c = &srv->calls[i];

		c->srv = srv;
		if (nng_aio_alloc(&c->aio, call_cb, c) != 0 ||
		    nng_ctx_open(&c->ctx, srv->sock) != 0) {
			rv = ORCH_ENOMEM;
			goto out;
		}
	}
	rv = start_workers(srv, &srv->lanes[ORCH_LANE_BLOCKING - 1],
	    opts->workers > 0 ? opts->workers : 4);
	if (rv == ORCH_OK)
		rv = start_workers(srv, &srv->lanes[ORCH_LANE_PROVISION - 1],
		    opts->provision_workers > 0 ? opts->provision_workers : 4);
out:
	if (rv != ORCH_OK) {
		orch_rpc_server_close(srv);
		return rv;
	}
	*out = srv;
	return ORCH_OK;
}

orch_err
orch_rpc_server_listen(orch_rpc_server *srv, const char *url)
{
	nng_listener l;
	int rv;

	if (srv->nlisteners >= 8)
		return ORCH_EEXHAUSTED;
	rv = nng_listen(srv->sock, url, &l, 0);

	if (rv != 0) {
		ORCH_ERROR(
		    "rpc: cannot listen on %s: %s", url, nng_strerror(rv));
		return rv == NNG_EADDRINUSE ? ORCH_EEXIST
		       : rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP
		           ? ORCH_EINVAL
		           : ORCH_ESYS;
	}
	pthread_mutex_lock(&srv->mtx);
	srv->listeners[srv->nlisteners++] = l;
	if (srv->started) {
		pthread_mutex_unlock(&srv->mtx);
		return ORCH_OK;
	}
	srv->started = true;
	srv->live = srv->ncalls;
	pthread_mutex_unlock(&srv->mtx);
	for (int i = 0; i < srv->ncalls; i++)
		recv_next(&srv->calls[i]);
	return ORCH_OK;
}

void
orch_rpc_server_close(orch_rpc_server *srv)
{
	if (srv == NULL)
		return;
	pthread_mutex_lock(&srv->mtx);
	srv->closing = true;
	pthread_mutex_unlock(&srv->mtx);
	/* Listeners first: nng 1.5.2 can miss a wake-up in nng_close() when
	 * it races an endpoint's close (nng issue #1543). */
	for (int i = 0; i < srv->nlisteners; i++)
		nng_listener_close(srv->listeners[i]);
	/* Fails every pending receive and send with NNG_ECLOSED. */
	if (nng_socket_id(srv->sock) > 0)
		nng_close(srv->sock);

	pthread_mutex_lock(&srv->mtx);
	srv->quit = true;
	for (int i = 0; i < ORCH_LANE_COUNT - 1; i++)
		pthread_cond_broadcast(&srv->lanes[i].cv);
	pthread_mutex_unlock(&srv->mtx);
	for (int i = 0; i < ORCH_LANE_COUNT - 1; i++) {
		for (int j = 0; j < srv->lanes[i].nworkers; j++)
			pthread_join(srv->lanes[i].workers[j], NULL);
	}

	/* Every context reaches IDLE once its last operation has failed. */
	pthread_mutex_lock(&srv->mtx);
	while (srv->live > 0)
		pthread_cond_wait(&srv->cv, &srv->mtx);
	pthread_mutex_unlock(&srv->mtx);

	for (int i = 0; srv->calls != NULL && i < srv->ncalls; i++) {
		orch_rpc_call *c = &srv->calls[i];

		if (c->aio != NULL)
			nng_aio_free(c->aio);
		release_request(c);
		if (c->reply != NULL)
			nng_msg_free(c->reply);
	}
	for (int i = 0; i < RECENT_MAX; i++) {
		if (srv->recent[i].reply != NULL)
			nng_msg_free(srv->recent[i].reply);
	}
	free(srv->calls);
	for (int i = 0; i < ORCH_LANE_COUNT - 1; i++) {
		free(srv->lanes[i].workers);
		free(srv->lanes[i].args);
		pthread_cond_destroy(&srv->lanes[i].cv);
	}
	free(srv->by_index);
	pthread_cond_destroy(&srv->cv);
	pthread_mutex_destroy(&srv->mtx);
	free(srv);
}
