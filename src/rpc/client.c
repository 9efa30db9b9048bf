/*
 * RPC client. A call takes a slot (an nng REQ context and its aio) from a
 * free list, sends, receives, decodes, runs the completion, and puts the slot
 * back: no allocation of nng objects per call once the pool is warm.
 *
 * A connection that drops under a call (reset by the server, which is what
 * nng does to a frame over its size limit, or a server restart) is not the
 * end of the call: the request is sent again after a short pause until the
 * deadline, and the server's request-id de-duplication keeps a resent slow
 * call from running twice. So a caller sees its status or
 * DEADLINE_EXCEEDED, never a transport hiccup.
 */
#include "src/rpc/client.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "src/base/log.h"
#include "src/base/time.h"
#include "src/rpc/envelope.h"

/* Internal completion: nng result code and the reply frame (taken). */
typedef void (*slot_done_fn)(void *arg, int nrv, nng_msg *reply,
    uint64_t request_id, const ProtobufCMessageDescriptor *out);

enum slot_state { SLOT_SEND, SLOT_RECV, SLOT_PAUSE };

/* Pause between two tries of a call whose connection dropped. */
#define RETRY_PAUSE_MS 50

struct slot {
	orch_rpc_client *cli;
	nng_ctx ctx;
	nng_aio *aio;
	enum slot_state state;
	nng_msg *frame; /* the request, kept for a resend */
	uint64_t request_id;
	int64_t deadline_ms;
	const ProtobufCMessageDescriptor *out;
	slot_done_fn done;
	void *arg;
	struct slot *next_free;
	struct slot *next_all;
};

struct orch_rpc_client {
	nng_socket sock;
	nng_dialer dialer;
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	struct slot *free_list;
	struct slot *all;
	int inflight;
	bool closing;
	uint64_t nonce;
	_Atomic uint32_t counter;
};

void
orch_rpc_result_fini(orch_rpc_result *res)
{
	if (res == NULL)
		return;
	free(res->message);
	if (res->detail != NULL)
		orch__error_detail__free_unpacked(res->detail, NULL);
	if (res->reply != NULL)
		protobuf_c_message_free_unpacked(res->reply, NULL);
	memset(res, 0, sizeof(*res));
}

static orch_err
from_nng(int nrv)
{
	switch (nrv) {
	case 0:
		return ORCH_OK;
	case NNG_ETIMEDOUT:
		return ORCH_ETIMEDOUT;
	case NNG_ECLOSED:
	case NNG_ECANCELED:
		return ORCH_ECLOSED;
	case NNG_ENOMEM:
		return ORCH_ENOMEM;
	default:
		return ORCH_EUNAVAIL;
	}
}

static void
set_message(orch_rpc_result *res, const char *msg)
{
	free(res->message);
	res->message = msg != NULL ? strdup(msg) : NULL;
}

/* ------------------------------------------------------------------------ */
/* Slots. */

static void slot_cb(void *arg);

static orch_err
slot_get(orch_rpc_client *c, struct slot **out)
{
	struct slot *s;
	orch_err rv = ORCH_OK;

	pthread_mutex_lock(&c->mtx);
	if (c->closing) {
		rv = ORCH_ECLOSED;
		goto out;
	}
	s = c->free_list;
	if (s != NULL) {
		c->free_list = s->next_free;
	} else {
		s = calloc(1, sizeof(*s));
		if (s == NULL) {
			rv = ORCH_ENOMEM;
			goto out;
		}
		s->cli = c;
		if (nng_aio_alloc(&s->aio, slot_cb, s) != 0 ||
		    nng_ctx_open(&s->ctx, c->sock) != 0) {
			if (s->aio != NULL)
				nng_aio_free(s->aio);
			free(s);
			rv = ORCH_ENOMEM;
			goto out;
		}
		s->next_all = c->all;
		c->all = s;
	}
	c->inflight++;
	*out = s;
out:
	pthread_mutex_unlock(&c->mtx);
	return rv;
}

static void
slot_put(struct slot *s)
{
	orch_rpc_client *c = s->cli;

	pthread_mutex_lock(&c->mtx);
	s->next_free = c->free_list;
	c->free_list = s;
	c->inflight--;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mtx);
}

static nng_duration
remaining(const struct slot *s)
{
	int64_t left = s->deadline_ms - orch_mono_ms();

	return left > 0 ? (nng_duration) left : 1;
}

static void
slot_finish(struct slot *s, int nrv, nng_msg *reply)
{
	slot_done_fn done = s->done;
	void *arg = s->arg;
	uint64_t id = s->request_id;
	const ProtobufCMessageDescriptor *out = s->out;

	nng_msg_free(s->frame);
	s->frame = NULL;
	/* The completion runs before the slot goes back, so that close (which
	 * waits for every slot) never frees the client under a completion. */
	done(arg, nrv, reply, id, out);
	slot_put(s);
}

static void
slot_send(struct slot *s)
{
	nng_msg *m;

	if (nng_msg_dup(&m, s->frame) != 0) {
		slot_finish(s, NNG_ENOMEM, NULL);
		return;
	}
	/* Operations start under the client's lock and never once it is
	 * closing: nng 1.5.2 can use a freed mutex when an operation starts on
	 * a context while nng_close() tears the socket down. */
	pthread_mutex_lock(&s->cli->mtx);
	if (s->cli->closing) {
		pthread_mutex_unlock(&s->cli->mtx);
		nng_msg_free(m);
		slot_finish(s, NNG_ECLOSED, NULL);
		return;
	}
	s->state = SLOT_SEND;
	nng_aio_set_timeout(s->aio, remaining(s));
	nng_aio_set_msg(s->aio, m);
	nng_ctx_send(s->ctx, s->aio);
	pthread_mutex_unlock(&s->cli->mtx);
}

static void
slot_recv(struct slot *s)
{
	pthread_mutex_lock(&s->cli->mtx);
	if (s->cli->closing) {
		pthread_mutex_unlock(&s->cli->mtx);
		slot_finish(s, NNG_ECLOSED, NULL);
		return;
	}
	s->state = SLOT_RECV;
	nng_aio_set_timeout(s->aio, remaining(s));
	nng_ctx_recv(s->ctx, s->aio);
	pthread_mutex_unlock(&s->cli->mtx);
}

/* The connection under the call went away: worth another try. */
static bool
retryable(int nrv)
{
	/* NNG_ESTATE: nng 1.5.2's REQ fails a receive that way when the
	 * pipe under a resent request was reset. */
	return nrv == NNG_ECONNRESET || nrv == NNG_ECONNSHUT ||
	       nrv == NNG_ECONNREFUSED || nrv == NNG_ECONNABORTED ||
	       nrv == NNG_ESTATE;
}

static void
pause_or_finish(struct slot *s, int nrv)
{
	int64_t left = s->deadline_ms - orch_mono_ms();

	if (!retryable(nrv) || left <= 0) {
		slot_finish(s,
		    left <= 0 && retryable(nrv) ? NNG_ETIMEDOUT : nrv, NULL);
		return;
	}
	s->state = SLOT_PAUSE;
	nng_aio_set_timeout(s->aio, NNG_DURATION_INFINITE);
	nng_sleep_aio(
	    left < RETRY_PAUSE_MS ? (nng_duration) left : RETRY_PAUSE_MS,
	    s->aio);
}

static void
slot_cb(void *arg)
{
	struct slot *s = arg;
	int nrv = nng_aio_result(s->aio);

	switch (s->state) {
	case SLOT_SEND:
		if (nrv != 0) {
			nng_msg_free(nng_aio_get_msg(s->aio));
			nng_aio_set_msg(s->aio, NULL);
			pause_or_finish(s, nrv);
			return;
		}
		slot_recv(s);
		return;
	case SLOT_RECV:
		if (nrv != 0) {
			/* nng 1.5.2's REQ can fail a receive (NNG_ESTATE)
			 * after a resend with the request still on the aio and
			 * no longer referenced by the protocol: it is ours. */
			nng_msg_free(nng_aio_get_msg(s->aio));
			nng_aio_set_msg(s->aio, NULL);
			pause_or_finish(s, nrv);
			return;
		}
		slot_finish(s, 0, nng_aio_get_msg(s->aio));
		return;
	case SLOT_PAUSE:
		if (nrv != 0) {
			slot_finish(s, NNG_ECLOSED, NULL);
			return;
		}
		if (s->deadline_ms - orch_mono_ms() <= 0) {
			slot_finish(s, NNG_ETIMEDOUT, NULL);
			return;
		}
		slot_send(s); /* fails with NNG_ECLOSED if the client closed */
		return;
	}
}

/* Sends frame (taken) on a slot; done runs exactly once on ORCH_OK. */
static orch_err
start(orch_rpc_client *c, nng_msg *frame, uint64_t request_id,
    uint32_t timeout_ms, const ProtobufCMessageDescriptor *out,
    slot_done_fn done, void *arg)
{
	struct slot *s;
	orch_err rv;

	rv = slot_get(c, &s);
	if (rv != ORCH_OK) {
		nng_msg_free(frame);
		return rv;
	}
	s->request_id = request_id;
	s->deadline_ms = orch_mono_ms() + timeout_ms;
	s->out = out;
	s->done = done;
	s->arg = arg;
	s->frame = frame;
	slot_send(s);
	return ORCH_OK;
}

/* ------------------------------------------------------------------------ */
/* Life cycle. */

orch_err
orch_rpc_client_open(const char *url, orch_rpc_client **out)
{
	orch_rpc_client *c;
	orch_err rv = ORCH_OK;
	int nrv;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return ORCH_ENOMEM;
	pthread_mutex_init(&c->mtx, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (getrandom(&c->nonce, sizeof(c->nonce), 0) != sizeof(c->nonce))
		c->nonce = (uint64_t) orch_mono_ns();
	c->nonce <<= 32;
	if (nng_req0_open(&c->sock) != 0) {
		rv = ORCH_ESYS;
		goto out;
	}
	/* Deadlines decide failure; the server de-duplicates resends. */
	nng_socket_set_ms(
	    c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	/* Replies (a long stream list) may be large; requests are bounded. */
	nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, 256u * 1024u * 1024u);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 20);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 500);
	nrv = nng_dial(c->sock, url, &c->dialer, NNG_FLAG_NONBLOCK);
	if (nrv != 0) {
		ORCH_ERROR("rpc: cannot dial %s: %s", url, nng_strerror(nrv));
		rv = nrv == NNG_EADDRINVAL || nrv == NNG_ENOTSUP
		         ? ORCH_EINVAL
		         : ORCH_EUNAVAIL;
		goto out;
	}
out:
	if (rv != ORCH_OK) {
		orch_rpc_client_close(c);
		return rv;
	}
	*out = c;
	return ORCH_OK;
}

void
orch_rpc_client_close(orch_rpc_client *c)
{
	struct slot *s, *next;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mtx);
	c->closing = true;
	pthread_mutex_unlock(&c->mtx);
	/* The dialer first: nng 1.5.2 can deadlock in nng_close() when it
	 * races the dialer's own close (nng issue #1543). */
	if (nng_dialer_id(c->dialer) > 0)
		nng_dialer_close(c->dialer);
	if (nng_socket_id(c->sock) > 0)
		nng_close(c->sock); /* in-flight calls fail with NNG_ECLOSED */
	pthread_mutex_lock(&c->mtx);
	while (c->inflight > 0)
		pthread_cond_wait(&c->cv, &c->mtx);
	pthread_mutex_unlock(&c->mtx);
	for (s = c->all; s != NULL; s = next) {
		next = s->next_all;
		nng_aio_free(s->aio);
		free(s);
	}
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mtx);
	free(c);
}

/* ------------------------------------------------------------------------ */
/* Calls. */

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

/* Decodes a reply frame (taken) into *res. */
static void
decode_reply(int nrv, nng_msg *frame, uint64_t request_id,
    const ProtobufCMessageDescriptor *out, orch_rpc_result *res)
{
	Orch__ReplyEnvelope *env = NULL;

	memset(res, 0, sizeof(*res));
	if (nrv != 0) {
		res->status = from_nng(nrv);
		set_message(res, nrv == NNG_ETIMEDOUT ? "deadline exceeded"
		                                      : nng_strerror(nrv));
		goto out;
	}
	if (orch_rpc_reply_decode(
	        nng_msg_body(frame), nng_msg_len(frame), &env) != ORCH_OK) {
		res->status = ORCH_EINTERNAL;
		set_message(res, "reply frame is not a ReplyEnvelope");
		goto out;
	}
	/* id 0: the server could not read our frame, so could not echo it. */
	if (env->request_id != request_id && env->request_id != 0) {
		res->status = ORCH_EINTERNAL;
		set_message(res, "reply for another request");
		goto out;
	}
	res->status = (orch_err) env->status;
	set_message(res, env->message);
	res->detail = env->detail;
	env->detail = NULL;
	if (res->status == ORCH_OK) {
		res->reply = protobuf_c_message_unpack(out, NULL,
		    env->has_payload ? env->payload.len : 0,
		    env->has_payload ? env->payload.data : NULL);
		if (res->reply == NULL) {
			res->status = ORCH_EINTERNAL;
			set_message(res, "reply payload does not decode");
		}
	}
out:
	orch_rpc_reply_free(env);
	if (frame != NULL)
		nng_msg_free(frame);
}

struct async_ctx {
	orch_rpc_done_fn done;
	void *arg;
};

static void
async_done(void *arg, int nrv, nng_msg *reply, uint64_t request_id,
    const ProtobufCMessageDescriptor *out)
{
	struct async_ctx ac = *(struct async_ctx *) arg;
	orch_rpc_result res;

	free(arg);
	decode_reply(nrv, reply, request_id, out, &res);
	ac.done(ac.arg, &res);
}

orch_err
orch_rpc_invoke_async(orch_rpc_client *c, const char *method,
    const ProtobufCMessage *req, const orch_rpc_call_opts *opts,
    orch_rpc_done_fn done, void *arg)
{
	Orch__RequestEnvelope env = ORCH__REQUEST_ENVELOPE__INIT;
	const ProtobufCMethodDescriptor *md;
	struct msg_alloc a = {NULL};
	struct async_ctx *ac;
	uint32_t timeout;
	size_t len;
	orch_err rv;

	md = protobuf_c_service_descriptor_get_method_by_name(
	    &orch__orchestrator__descriptor, method);
	if (md == NULL || req == NULL || req->descriptor != md->input)
		return ORCH_EINVAL;
	timeout = opts != NULL && opts->timeout_ms > 0
	              ? opts->timeout_ms
	              : ORCH_RPC_DEFAULT_TIMEOUT_MS;
	env.method = (char *) method;
	env.request_id = c->nonce | atomic_fetch_add(&c->counter, 1);
	env.authorization = opts != NULL ? (char *) opts->authorization : NULL;
	env.has_timeout_ms = 1;
	env.timeout_ms = timeout;
	rv = orch_rpc_pack_request(&env, req, msg_alloc, &a, &len);
	if (rv != ORCH_OK) {
		if (a.msg != NULL)
			nng_msg_free(a.msg);
		return rv;
	}
	ac = malloc(sizeof(*ac));
	if (ac == NULL) {
		nng_msg_free(a.msg);
		return ORCH_ENOMEM;
	}
	ac->done = done;
	ac->arg = arg;
	rv = start(
	    c, a.msg, env.request_id, timeout, md->output, async_done, ac);
	if (rv != ORCH_OK)
		free(ac);
	return rv;
}

/* A synchronous call waits on one of these. */
struct waiter {
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	bool done;
	orch_rpc_result res;
	int nrv;
	nng_msg *raw;
};

static void
waiter_init(struct waiter *w)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->mtx, NULL);
	pthread_cond_init(&w->cv, NULL);
}

static void
waiter_wait_fini(struct waiter *w)
{
	pthread_mutex_lock(&w->mtx);
	while (!w->done)
		pthread_cond_wait(&w->cv, &w->mtx);
	pthread_mutex_unlock(&w->mtx);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mtx);
}

static void
waiter_signal(struct waiter *w)
{
	pthread_mutex_lock(&w->mtx);
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mtx);
}

static void
sync_done(void *arg, orch_rpc_result *res)
{
	struct waiter *w = arg;

	w->res = *res;
	waiter_signal(w);
}

orch_err
orch_rpc_invoke(orch_rpc_client *c, const char *method,
    const ProtobufCMessage *req, const orch_rpc_call_opts *opts,
    orch_rpc_result *res)
{
	struct waiter w;
	orch_err rv;

	waiter_init(&w);
	rv = orch_rpc_invoke_async(c, method, req, opts, sync_done, &w);
	if (rv != ORCH_OK) {
		w.done = true;
		waiter_wait_fini(&w);
		memset(res, 0, sizeof(*res));
		res->status = rv;
		set_message(res, rv == ORCH_EINVAL
		                     ? "unknown method or wrong request type"
		                     : orch_strerror(rv));
		return rv;
	}
	waiter_wait_fini(&w);
	*res = w.res;
	return res->status;
}

static void
raw_done(void *arg, int nrv, nng_msg *reply, uint64_t request_id,
    const ProtobufCMessageDescriptor *out)
{
	struct waiter *w = arg;

	(void) request_id;
	(void) out;
	w->nrv = nrv;
	w->raw = reply;
	waiter_signal(w);
}

orch_err
orch_rpc_invoke_raw(orch_rpc_client *c, const uint8_t *frame, size_t len,
    uint32_t timeout_ms, uint8_t **reply, size_t *reply_len)
{
	struct waiter w;
	nng_msg *msg;
	orch_err rv;

	*reply = NULL;
	*reply_len = 0;
	if (nng_msg_alloc(&msg, len) != 0)
		return ORCH_ENOMEM;
	memcpy(nng_msg_body(msg), frame, len);
	waiter_init(&w);
	rv = start(
	    c, msg, 0, timeout_ms > 0 ? timeout_ms : 1000, NULL, raw_done, &w);
	if (rv != ORCH_OK)
		w.done = true;
	waiter_wait_fini(&w);
	if (rv != ORCH_OK)
		return rv;
	if (w.nrv != 0) {
		ORCH_DEBUG("rpc: raw call failed: %s", nng_strerror(w.nrv));
		return from_nng(w.nrv);
	}
	*reply_len = nng_msg_len(w.raw);
	*reply = malloc(*reply_len > 0 ? *reply_len : 1);
	if (*reply == NULL) {
		nng_msg_free(w.raw);
		return ORCH_ENOMEM;
	}
	memcpy(*reply, nng_msg_body(w.raw), *reply_len);
	nng_msg_free(w.raw);
	return ORCH_OK;
}
