#define H2O_USE_LIBUV 0
#include "src/gateway/gateway.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/buf.h"
#include "src/base/diag.h"
#include "src/base/log.h"
#include "src/base/time.h"
#include "src/gateway/query.h"
#include "src/gateway/routes.h"
#include "src/gateway/snap.h"
#include "src/json/pbjson.h"
#include "src/json/pbparse.h"

#define MAX_THREADS 16
#define STOP_DRAIN_MS 2000
/* How long a stop waits for the calls in flight to be answered. */
#define STOP_CALLS_MS 10000
/* Routes the metrics keep slots for, plus "unmatched". */
#define MAX_ROUTES 62
/* The metrics slot of requests no route matched (404, 405, 503). */
#define UNMATCHED ((int) orch_n_routes)
#define MAX_BODY (64 * 1024) /* CONTRACT.md: larger bodies get 413 */
/* h2o refuses (with its own plain-text 413) only beyond this; between
 * the two we answer 413 ourselves, with the contract's JSON body. */
#define H2O_MAX_BODY (1024 * 1024)
#define N_STATUS 14

/* Per route x status counters and an RPC latency histogram, for /metrics. */
static const int status_codes[N_STATUS] = {
    200, 400, 401, 403, 404, 405, 409, 413, 422, 500, 501, 503, 504, 0};
#define N_LAT 12
static const double lat_bounds_ms[N_LAT] = {
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 50, 250, 1000, 5000};

typedef struct loop loop;

struct orch_gw {
	orch_gw_opts opts;
	char *cors;
	h2o_globalconf_t config;
	int port;
	int nloops;
	loop *loops;
	orch_rpc_client *client;
	/* Each route's method, resolved once at start. */
	const ProtobufCMethodDescriptor *route_md[MAX_ROUTES];
	/* metrics: [route, or UNMATCHED][status] */
	atomic_uint_fast64_t requests[MAX_ROUTES + 1][N_STATUS];
	atomic_uint_fast64_t lat[N_LAT + 1];
	atomic_uint_fast64_t lat_count;
	atomic_uint_fast64_t lat_sum_us;
	/* Calls started and not yet finished on their loop: a stop waits
	 * for them with the loops running, so that no answer ever reaches
	 * a loop that is gone. */
	atomic_int inflight;
	atomic_bool stopping; /* new requests get 503 */
	/* Loop threads inside the request handler: quiesce waits for none,
	 * so that no direct call into the server races its close. */
	atomic_int in_handler;
	/* Each snap route's current body (unused for the others). */
	orch_snap_slot snaps[MAX_ROUTES];
	bool snaps_init;
};

struct loop {
	orch_gw *gw;
	int fd;
	pthread_t thread;
	bool started;
	h2o_evloop_t *evloop;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept;
	h2o_socket_t *listener;
	h2o_multithread_receiver_t replies;
	h2o_multithread_receiver_t stopper;
	h2o_multithread_message_t stop_msg;
	volatile bool exit;
	pthread_mutex_t ready_mu;
	pthread_cond_t ready_cv;
	int ready; /* 1 ok, -1 failed */
	orch_buf scratch;
};

/*
 * One request waiting for its reply. Owned by two sides, both touched
 * only on the loop thread: the request (until h2o disposes its pool) and
 * the call (until its reply has been handled on the loop). A reply from
 * another thread fills `status/body` there and posts `msg`.
 */
typedef struct pending {
	h2o_multithread_message_t msg;
	loop *lp;
	h2o_req_t *req;
	int refs;
	bool gone;
	bool inline_call; /* the call is running on the loop thread now */
	pthread_t loop_thread;
	int route_idx;
	bool text;
	int64_t t0_ns;
	int http;
	orch_buf body;
	const char *ctype;
	/* A pre-rendered read's miss: a 200 fills this slot, tagged with
	 * the generation read before the call. NULL otherwise. */
	orch_snap_slot *fill;
	uint64_t fill_gen;
} pending;

/* ---- helpers ---------------------------------------------------------- */

static int
status_slot(int http)
{
	for (int i = 0; i < N_STATUS - 1; i++) {
		if (status_codes[i] == http)
			return i;
	}
	return N_STATUS - 1;
}

static void
count(orch_gw *gw, int route_idx, int http)
{
	if (route_idx >= 0 && route_idx <= UNMATCHED)
		atomic_fetch_add_explicit(
		    &gw->requests[route_idx][status_slot(http)], 1,
		    memory_order_relaxed);
}

static void
observe_latency(orch_gw *gw, int64_t ns)
{
	double ms = (double) ns / 1e6;

	for (int i = 0; i < N_LAT; i++) {
		if (ms <= lat_bounds_ms[i])
			atomic_fetch_add_explicit(
			    &gw->lat[i], 1, memory_order_relaxed);
	}
	atomic_fetch_add_explicit(&gw->lat[N_LAT], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&gw->lat_count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(
	    &gw->lat_sum_us, (uint64_t) (ns / 1000), memory_order_relaxed);
}

static void
add_cors(orch_gw *gw, h2o_req_t *req)
{
	const char *allow = gw->cors;
	ssize_t i;

	if (allow == NULL || *allow == '\0')
		return;
	if (strcmp(allow, "*") != 0) {
		/* A list: echo the request's Origin when it is on it. */
		const char *p;
		size_t olen;

		i = h2o_find_header_by_str(
		    &req->headers, H2O_STRLIT("origin"), -1);
		if (i < 0)
			return;
		p = req->headers.entries[i].value.base;
		olen = req->headers.entries[i].value.len;
		for (const char *s = allow; *s != '\0';) {
			const char *e = strchr(s, ',');
			size_t n = e != NULL ? (size_t) (e - s) : strlen(s);

			while (n > 0 && *s == ' ') {
				s++;
				n--;
			}
			if (n == olen && memcmp(s, p, n) == 0) {
				h2o_add_header(&req->pool, &req->res.headers,
				    H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN,
				    NULL, p, olen);
				h2o_add_header(&req->pool, &req->res.headers,
				    H2O_TOKEN_VARY, NULL,
				    H2O_STRLIT("Origin"));
				return;
			}
			if (e == NULL)
				break;
			s = e + 1;
		}
		return;
	}
	h2o_add_header(&req->pool, &req->res.headers,
	    H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, NULL, H2O_STRLIT("*"));
}

static void
respond(orch_gw *gw, h2o_req_t *req, int http, const char *ctype,
    const char *body, size_t len)
{
	req->res.status = http;
	req->res.reason = orch_http_reason(http);
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
	    NULL, ctype, strlen(ctype));
	add_cors(gw, req);
	req->res.content_length = len;
	h2o_send_inline(req, body, len);
}

static void
on_snap_disposed(void *ref)
{
	orch_snap_unref(*(orch_snap **) ref);
}

/* 200 with s's bytes, sent from s itself (no copy): the request holds
 * the reference it is given until h2o disposes its pool, after the last
 * byte is written or the client is gone. */
static void
respond_snap(orch_gw *gw, h2o_req_t *req, orch_snap *s)
{
	static h2o_generator_t generator = {NULL, NULL};
	orch_snap **ref =
	    h2o_mem_alloc_shared(&req->pool, sizeof(*ref), on_snap_disposed);
	h2o_iovec_t body = h2o_iovec_init(s->data, s->len);

	*ref = s;
	req->res.status = 200;
	req->res.reason = orch_http_reason(200);
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
	    NULL, H2O_STRLIT("application/json"));
	add_cors(gw, req);
	req->res.content_length = s->len;
	h2o_start_response(req, &generator);
	h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
}

/* {"detail": "<text>"} */
static void
detail_text(orch_buf *b, const char *text)
{
	orch_buf_puts(b, "{\"detail\":");
	orch_pbjson_write_string(b, text, strlen(text));
	orch_buf_putc(b, '}');
}

static void
respond_detail(
    loop *lp, h2o_req_t *req, int route_idx, int http, const char *text)
{
	lp->scratch.len = 0;
	lp->scratch.oom = false;
	detail_text(&lp->scratch, text);
	count(lp->gw, route_idx, http);
	respond(lp->gw, req, http, "application/json", lp->scratch.data,
	    lp->scratch.len);
}

/* The body for an answer: the reply as JSON (or its text), or the error
 * detail. Runs on whatever thread the answer arrives on. */
static void
render(pending *p, orch_err status, const char *message,
    const Orch__ErrorDetail *detail, const ProtobufCMessage *reply)
{
	p->http = orch_http_status(status);
	p->ctype = "application/json";
	if (status == ORCH_OK && reply != NULL) {
		if (p->text) {
			const Orch__MetricsReply *m = (const void *) reply;

			p->ctype = "text/plain; version=0.0.4";
			orch_buf_puts(&p->body, m->text);
		} else {
			orch_pbjson_write(&p->body, reply);
		}
	} else if (detail != NULL && detail->refusal != NULL) {
		/* Provisioning refusals: detail is the structured object. */
		orch_buf_puts(&p->body, "{\"detail\":");
		orch_pbjson_write(&p->body, &detail->refusal->base);
		orch_buf_putc(&p->body, '}');
	} else {
		detail_text(&p->body,
		    message != NULL ? message : orch_strerror(status));
	}
	if (p->body.oom) {
		p->http = 500;
		p->body.len = 0;
		p->body.oom = false;
		detail_text(&p->body, "out of memory");
	}
}

static void
pending_unref(pending *p)
{
	if (--p->refs == 0) {
		orch_buf_fini(&p->body);
		free(p);
	}
}

/* The gateway's own metrics, appended after the core's exposition. */
static void
render_gateway_metrics(orch_gw *gw, orch_buf *out)
{
	orch_buf_printf(out,
	    "# HELP orch_http_requests_total HTTP requests by "
	    "route and status\n# TYPE orch_http_requests_total "
	    "counter\n");
	for (size_t r = 0; r <= orch_n_routes; r++) {
		const char *name =
		    r < orch_n_routes ? orch_routes[r].pattern : "unmatched";
		const char *meth =
		    r < orch_n_routes ? orch_routes[r].method : "GET";

		for (int s = 0; s < N_STATUS; s++) {
			uint64_t v = atomic_load(&gw->requests[r][s]);

			if (v == 0)
				continue;
			orch_buf_printf(out,
			    "orch_http_requests_total{method=\"%s\","
			    "route=\"%s\",status=\"%d\"} %llu\n",
			    meth, name, status_codes[s],
			    (unsigned long long) v);
		}
	}
	orch_buf_printf(out,
	    "# HELP orch_http_snapshot_hits_total Reads answered from "
	    "pre-rendered bytes\n# TYPE orch_http_snapshot_hits_total "
	    "counter\n");
	for (size_t r = 0; r < orch_n_routes; r++) {
		if (orch_routes[r].snap != NULL)
			orch_buf_printf(out,
			    "orch_http_snapshot_hits_total{route=\"%s\"} "
			    "%llu\n",
			    orch_routes[r].pattern,
			    (unsigned long long) atomic_load(
			        &gw->snaps[r].hits));
	}
	orch_buf_printf(out,
	    "# HELP orch_http_snapshot_renders_total Bodies rendered for "
	    "the pre-rendered reads (one per state version read)\n"
	    "# TYPE orch_http_snapshot_renders_total counter\n");
	for (size_t r = 0; r < orch_n_routes; r++) {
		if (orch_routes[r].snap != NULL)
			orch_buf_printf(out,
			    "orch_http_snapshot_renders_total{route=\"%s\"} "
			    "%llu\n",
			    orch_routes[r].pattern,
			    (unsigned long long) atomic_load(
			        &gw->snaps[r].renders));
	}
	orch_buf_printf(out,
	    "# HELP orch_rpc_seconds RPC call latency as the "
	    "gateway sees it\n# TYPE orch_rpc_seconds histogram\n");
	for (int i = 0; i < N_LAT; i++)
		orch_buf_printf(out,
		    "orch_rpc_seconds_bucket{le=\"%g\"} %llu\n",
		    lat_bounds_ms[i] / 1000.0,
		    (unsigned long long) atomic_load(&gw->lat[i]));
	orch_buf_printf(out,
	    "orch_rpc_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "orch_rpc_seconds_sum %.6f\n"
	    "orch_rpc_seconds_count %llu\n",
	    (unsigned long long) atomic_load(&gw->lat[N_LAT]),
	    (double) atomic_load(&gw->lat_sum_us) / 1e6,
	    (unsigned long long) atomic_load(&gw->lat_count));
}

static void
finish(pending *p)
{
	loop *lp = p->lp;
	orch_snap *snap;

	observe_latency(lp->gw, orch_mono_ns() - p->t0_ns);
	if (!p->gone) {
		count(lp->gw, p->route_idx, p->http);
		if (p->route_idx >= 0 && p->http == 200 && p->text)
			/* /metrics: the core's text, then the gateway's. */
			render_gateway_metrics(lp->gw, &p->body);
		ORCH_DEBUG("%.*s %.*s -> %d (%.2f ms)",
		    (int) p->req->method.len, p->req->method.base,
		    (int) p->req->path.len, p->req->path.base, p->http,
		    (double) (orch_mono_ns() - p->t0_ns) / 1e6);
	}
	if (p->fill != NULL && p->http == 200 &&
	    (snap = orch_snap_new(p->fill_gen, &p->body)) != NULL) {
		/* Installed even for a client gone: the body is right. */
		orch_snap_slot_put(p->fill, snap);
		if (!p->gone)
			respond_snap(lp->gw, p->req, snap);
		else
			orch_snap_unref(snap);
	} else if (!p->gone) {
		respond(lp->gw, p->req, p->http, p->ctype, p->body.data,
		    p->body.len);
	}
	pending_unref(p);
	atomic_fetch_sub(&lp->gw->inflight, 1);
}

/* The answer of a call, on whatever thread it completes. */
static void
on_answer(pending *p, orch_err status, const char *message,
    const Orch__ErrorDetail *detail, const ProtobufCMessage *reply)
{
	render(p, status, message, detail, reply);
	/* inline_call is only read on the loop thread: a worker may answer
	 * a BLOCKING call before the loop has cleared it. */
	if (pthread_equal(pthread_self(), p->loop_thread) && p->inline_call) {
		finish(p); /* on the loop thread, inside on_req */
		return;
	}
	memset(&p->msg, 0, sizeof(p->msg));
	h2o_multithread_send_message(&p->lp->replies, &p->msg);
}

static void
on_direct_done(void *arg, orch_err status, const char *message,
    const Orch__ErrorDetail *detail, const ProtobufCMessage *reply)
{
	on_answer(arg, status, message, detail, reply);
}

static void
on_remote_done(void *arg, orch_rpc_result *res)
{
	on_answer(arg, res->status, res->message, res->detail, res->reply);
	orch_rpc_result_fini(res);
}

static void
on_replies(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
	(void) receiver;
	while (!h2o_linklist_is_empty(messages)) {
		pending *p =
		    H2O_STRUCT_FROM_MEMBER(pending, msg.link, messages->next);

		h2o_linklist_unlink(&p->msg.link);
		finish(p);
	}
}

static void
on_req_disposed(void *slot)
{
	pending *p = *(pending **) slot;

	p->gone = true;
	pending_unref(p);
}

/* CORS preflight: what the API allows, for any path. */
static void
respond_preflight(orch_gw *gw, h2o_req_t *req)
{
	h2o_add_header_by_str(&req->pool, &req->res.headers,
	    H2O_STRLIT("access-control-allow-methods"), 0, NULL,
	    H2O_STRLIT("GET, POST, DELETE, OPTIONS"));
	h2o_add_header_by_str(&req->pool, &req->res.headers,
	    H2O_STRLIT("access-control-allow-headers"), 0, NULL,
	    H2O_STRLIT("Authorization, Content-Type"));
	respond(gw, req, 200, "application/json", "{}", 2);
}

/* Path parameters into their request fields. ORCH_EINVAL with d. */
static orch_err
set_params(h2o_req_t *req, ProtobufCMessage *msg,
    const orch_route_param *params, size_t n_params, orch_diag *d)
{
	orch_diag part;

	for (size_t i = 0; i < n_params; i++) {
		char name[64];
		char *value =
		    h2o_mem_alloc_pool(&req->pool, params[i].value_len + 1);

		snprintf(name, sizeof(name), "%.*s", (int) params[i].name_len,
		    params[i].name);
		if (orch_path_decode(params[i].value, params[i].value_len,
		        value, params[i].value_len + 1, &part) != ORCH_OK) {
			orch_diag_field(d, name, "%s: %s", name,
			    orch_diag_msg(&part, "bad percent-encoding"));
			return ORCH_EINVAL;
		}
		if (orch_pbparse_set_field(msg, name, value, NULL, d) !=
		    ORCH_OK)
			return ORCH_EINVAL;
	}
	return ORCH_OK;
}

/* The route's query keys into their request fields. ORCH_EINVAL with d. */
static orch_err
set_query(h2o_req_t *req, const orch_route *route, ProtobufCMessage *msg,
    orch_diag *d)
{
	orch_diag part;
	orch_query q;

	if (route->query[0] == NULL || req->query_at == SIZE_MAX)
		return ORCH_OK;
	if (orch_query_parse(req->path.base + req->query_at + 1,
	        req->path.len - req->query_at - 1, &q, &part) != ORCH_OK) {
		orch_diag_set(d, "query: %s", part.msg);
		return ORCH_EINVAL;
	}
	for (int i = 0; i < ORCH_ROUTE_MAX_QUERY && route->query[i]; i++) {
		const char *v = orch_query_get(&q, route->query[i]);

		if (v != NULL && orch_pbparse_set_field(msg, route->query[i],
		                     v, NULL, d) != ORCH_OK)
			return ORCH_EINVAL;
	}
	return ORCH_OK;
}

/*
 * The route's request message from the body, the path and the query.
 * Returns 0 with *out (the caller frees it), or the HTTP status of the
 * refusal with d saying why: 413 (body too large), 400 (malformed body:
 * no field), 422 (a field's fault), 500 (out of memory).
 */
static int
build_request(h2o_req_t *req, const orch_route *route,
    const ProtobufCMethodDescriptor *md, const orch_route_param *params,
    size_t n_params, ProtobufCMessage **out, orch_diag *d)
{
	ProtobufCMessage *msg = NULL;
	orch_err rv;

	*out = NULL;
	orch_diag_clear(d);
	if (req->entity.base != NULL && req->entity.len > MAX_BODY) {
		orch_diag_set(d, "request body larger than 64 KiB");
		return 413;
	}
	if (route->body && req->entity.base != NULL && req->entity.len > 0) {
		rv = orch_pbparse(md->input, req->entity.base, req->entity.len,
		    NULL, &msg, d);
		if (rv != ORCH_OK)
			return rv == ORCH_EINVAL && d->field[0] == '\0' ? 400
			       : rv == ORCH_EINVAL                      ? 422
			                                                : 500;
	} else if (orch_pbparse_new(md->input, NULL, &msg) != ORCH_OK) {
		orch_diag_set(d, "out of memory");
		return 500;
	}
	if (set_params(req, msg, params, n_params, d) != ORCH_OK ||
	    set_query(req, route, msg, d) != ORCH_OK) {
		protobuf_c_message_free_unpacked(msg, NULL);
		return 422;
	}
	*out = msg;
	return 0;
}

/* The Authorization header's value as a string in the request's pool,
 * or NULL when there is none. */
static const char *
request_auth(h2o_req_t *req)
{
	ssize_t i =
	    h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
	char *auth;

	if (i < 0)
		return NULL;
	auth = h2o_mem_alloc_pool(
	    &req->pool, req->headers.entries[i].value.len + 1);
	memcpy(auth, req->headers.entries[i].value.base,
	    req->headers.entries[i].value.len);
	auth[req->headers.entries[i].value.len] = '\0';
	return auth;
}

/* Calls the route's RPC with msg (borrowed); the answer reaches the
 * client through finish(), inline or from another thread. */
static void
start_call(loop *lp, h2o_req_t *req, int route_idx, ProtobufCMessage *msg,
    const char *auth, orch_snap_slot *fill, uint64_t fill_gen)
{
	orch_gw *gw = lp->gw;
	const orch_route *route = &orch_routes[route_idx];
	pending *p = calloc(1, sizeof(*p)), **slot;
	orch_err rv;

	if (p == NULL) {
		respond_detail(lp, req, route_idx, 500, "out of memory");
		return;
	}
	p->lp = lp;
	p->req = req;
	p->refs = 2;
	p->route_idx = route_idx;
	p->text = route->text;
	p->t0_ns = orch_mono_ns();
	p->loop_thread = pthread_self();
	p->fill = fill;
	p->fill_gen = fill_gen;
	slot =
	    h2o_mem_alloc_shared(&req->pool, sizeof(*slot), on_req_disposed);
	*slot = p;
	atomic_fetch_add(&gw->inflight, 1); /* until finish() */
	if (gw->opts.direct != NULL) {
		p->inline_call = true;
		rv = orch_rpc_server_call(gw->opts.direct, route->rpc, auth,
		    gw->opts.timeout_ms, msg, on_direct_done, p);
		p->inline_call = false;
	} else {
		orch_rpc_call_opts co = {auth, gw->opts.timeout_ms};

		rv = orch_rpc_invoke_async(
		    gw->client, route->rpc, msg, &co, on_remote_done, p);
	}
	if (rv != ORCH_OK) {
		/* Never called back: answer here and drop the call's ref. */
		render(p, rv == ORCH_ENOTSUP ? ORCH_ENOTSUP : ORCH_EUNAVAIL,
		    "backend unavailable", NULL, NULL);
		finish(p);
	}
}

/*
 * Whether req may be answered from route's pre-rendered body: a snap
 * route with its exact query, the in-process backend with a generation,
 * and a caller the server would let call (a refused one calls, for the
 * refusal's answer). Sets *gen to the version the body must have.
 */
static bool
snap_read(orch_gw *gw, h2o_req_t *req, const orch_route *route,
    const char *auth, uint64_t *gen)
{
	size_t qlen;
	const char *q;

	if (route->snap == NULL || gw->opts.generation == NULL ||
	    gw->opts.direct == NULL)
		return false;
	if (req->query_at == SIZE_MAX) {
		q = "";
		qlen = 0;
	} else {
		q = req->path.base + req->query_at + 1;
		qlen = req->path.len - req->query_at - 1;
	}
	if (qlen != strlen(route->snap) || memcmp(q, route->snap, qlen) != 0)
		return false;
	if (orch_rpc_server_authorize(gw->opts.direct, route->rpc, auth) !=
	    ORCH_OK)
		return false;
	*gen = gw->opts.generation(gw->opts.generation_arg);
	return true;
}

static int
handle_req(h2o_req_t *req)
{
	/* The handler is shared by every loop; the context is the loop's. */
	loop *lp = H2O_STRUCT_FROM_MEMBER(loop, ctx, req->conn->ctx);
	orch_gw *gw = lp->gw;
	const orch_route *route;
	orch_route_param params[ORCH_ROUTE_MAX_PARAMS];
	size_t n_params = 0;
	size_t path_len =
	    req->query_at != SIZE_MAX ? req->query_at : req->path.len;
	ProtobufCMessage *msg = NULL;
	orch_diag diag;
	int route_idx, http;
	const char *auth;
	orch_snap_slot *fill = NULL;
	uint64_t fill_gen = 0;

	if (h2o_memis(
	        req->method.base, req->method.len, H2O_STRLIT("OPTIONS"))) {
		respond_preflight(gw, req);
		return 0;
	}
	switch (orch_route_match(req->method.base, req->method.len,
	    req->path.base, path_len, &route, params, &n_params)) {
	case ORCH_ROUTE_NO_PATH:
		respond_detail(lp, req, UNMATCHED, 404, "Not Found");
		return 0;
	case ORCH_ROUTE_NO_METHOD:
		respond_detail(lp, req, UNMATCHED, 405, "Method Not Allowed");
		return 0;
	default:
		break;
	}
	route_idx = (int) (route - orch_routes);
	if (route->fixed != NULL) {
		/* Answered by the gateway itself (/healthz): no call. */
		count(gw, route_idx, 200);
		respond(gw, req, 200, "application/json", route->fixed,
		    strlen(route->fixed));
		return 0;
	}
	auth = request_auth(req);
	if (snap_read(gw, req, route, auth, &fill_gen)) {
		orch_snap *snap =
		    orch_snap_slot_get(&gw->snaps[route_idx], fill_gen);

		if (snap != NULL) {
			count(gw, route_idx, 200);
			respond_snap(gw, req, snap);
			return 0;
		}
		fill = &gw->snaps[route_idx]; /* a miss: this call renders */
	}
	http = build_request(req, route, gw->route_md[route_idx], params,
	    n_params, &msg, &diag);
	if (http != 0) {
		respond_detail(lp, req, route_idx, http, diag.msg);
		return 0;
	}
	start_call(lp, req, route_idx, msg, auth, fill, fill_gen);
	protobuf_c_message_free_unpacked(msg, NULL);
	return 0;
}

/* Counts the loop thread in while it handles a request (see in_handler)
 * and refuses new requests once the gateway is stopping. */
static int
on_req(h2o_handler_t *self, h2o_req_t *req)
{
	loop *lp = H2O_STRUCT_FROM_MEMBER(loop, ctx, req->conn->ctx);
	orch_gw *gw = lp->gw;
	int rv = 0;

	(void) self;
	atomic_fetch_add(&gw->in_handler, 1);
	if (atomic_load(&gw->stopping))
		respond_detail(lp, req, UNMATCHED, 503, "shutting down");
	else
		rv = handle_req(req);
	atomic_fetch_sub(&gw->in_handler, 1);
	return rv;
}

/* ---- loops ------------------------------------------------------------ */

static void
on_accept(h2o_socket_t *listener, const char *err)
{
	loop *lp = listener->data;
	h2o_socket_t *sock;

	if (err != NULL)
		return;
	if ((sock = h2o_evloop_socket_accept(listener)) == NULL)
		return;
	h2o_accept(&lp->accept, sock);
}

static void
on_stop(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
	loop *lp = H2O_STRUCT_FROM_MEMBER(loop, stopper, receiver);

	while (!h2o_linklist_is_empty(messages))
		h2o_linklist_unlink(messages->next);
	lp->exit = true;
}

static int
open_listener(orch_gw *gw, int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t) port);
	if (inet_pton(AF_INET,
	        gw->opts.host != NULL ? gw->opts.host : "0.0.0.0",
	        &a.sin_addr) != 1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *) &a, sizeof(a)) != 0 ||
	    listen(fd, SOMAXCONN) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Whether anything in the context still waits on a timer: a live
 * connection (idle keep-alive, a request being read or answered) always
 * does, and h2o_context_dispose asserts that none does. Every
 * h2o_timeout_t of h2o 2.2's h2o_context_t is listed. */
static bool
ctx_busy(h2o_context_t *c)
{
	h2o_timeout_t *t[] = {&c->zero_timeout, &c->one_sec_timeout,
	    &c->hundred_ms_timeout, &c->handshake_timeout,
	    &c->http1.req_timeout, &c->http2.idle_timeout,
	    &c->http2.graceful_shutdown_timeout, &c->proxy.io_timeout};

	if (!h2o_linklist_is_empty(&c->http1._conns) ||
	    !h2o_linklist_is_empty(&c->http2._conns))
		return true;
	/* h2o_context_request_shutdown links HTTP/2's graceful-shutdown
	 * timer into one_sec_timeout; with no HTTP/2 connection left it has
	 * nothing to do, and only blocks the dispose. */
	if (h2o_timeout_is_linked(&c->http2._graceful_shutdown_timeout))
		h2o_timeout_unlink(&c->http2._graceful_shutdown_timeout);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (!h2o_linklist_is_empty(&t[i]->_entries))
			return true;
	}
	return false;
}

/* Everything h2o of a loop is created in its own thread: an evloop socket
 * belongs to the allocator of the thread that created it. */
static void *
loop_main(void *arg)
{
	loop *lp = arg;
	int ok;

	lp->evloop = h2o_evloop_create();
	h2o_context_init(&lp->ctx, lp->evloop, &lp->gw->config);
	lp->accept.ctx = &lp->ctx;
	lp->accept.hosts = lp->gw->config.hosts;
	h2o_multithread_register_receiver(
	    lp->ctx.queue, &lp->replies, on_replies);
	h2o_multithread_register_receiver(
	    lp->ctx.queue, &lp->stopper, on_stop);
	lp->listener = h2o_evloop_socket_create(
	    lp->evloop, lp->fd, H2O_SOCKET_FLAG_DONT_READ);
	ok = lp->listener != NULL;
	if (ok) {
		lp->listener->data = lp;
		h2o_socket_read_start(lp->listener, on_accept);
	}
	pthread_mutex_lock(&lp->ready_mu);
	lp->ready = ok ? 1 : -1;
	pthread_cond_broadcast(&lp->ready_cv);
	pthread_mutex_unlock(&lp->ready_mu);
	while (ok && !lp->exit && h2o_evloop_run(lp->evloop, INT32_MAX) == 0)
		;
	if (lp->listener != NULL) {
		h2o_socket_read_stop(lp->listener);
		h2o_socket_close(lp->listener);
	}
	/* Graceful: idle keep-alive connections close now, busy ones after
	 * their response; give them STOP_DRAIN_MS. h2o asserts if the
	 * context is disposed while connections live, so if one outlasts the
	 * deadline (a client that stopped mid-request) the context is left
	 * for the process exit to reclaim rather than crash. */
	h2o_context_request_shutdown(&lp->ctx);
	{
		int64_t deadline = orch_mono_ms() + STOP_DRAIN_MS;

		while (ctx_busy(&lp->ctx) && orch_mono_ms() < deadline) {
			/* h2o 2.2 closes an idle keep-alive connection only
			 * when its request timer fires: fire the request, idle
			 * and handshake timers now ("a day later"), which
			 * closes idle and half-sent connections; connections
			 * answering a request finish first. */
			uint64_t later = h2o_now(lp->evloop) + 86400000ULL;

			h2o_timeout_run(
			    lp->evloop, &lp->ctx.http1.req_timeout, later);
			h2o_timeout_run(
			    lp->evloop, &lp->ctx.http2.idle_timeout, later);
			h2o_timeout_run(
			    lp->evloop, &lp->ctx.handshake_timeout, later);
			h2o_evloop_run(lp->evloop, 50);
		}
	}
	h2o_multithread_unregister_receiver(lp->ctx.queue, &lp->replies);
	h2o_multithread_unregister_receiver(lp->ctx.queue, &lp->stopper);
	if (ctx_busy(&lp->ctx)) {
		ORCH_WARN("gateway: connections still open after %d ms; "
		          "leaving them to the process exit",
		    STOP_DRAIN_MS);
		return NULL;
	}
	h2o_context_dispose(&lp->ctx);
	/* The queue's socket is freed by the loop: one more turn. */
	h2o_evloop_run(lp->evloop, 0);
	h2o_evloop_destroy(lp->evloop);
	return NULL;
}

orch_err
orch_gw_start(const orch_gw_opts *opts, orch_gw **out)
{
	orch_gw *gw;
	h2o_hostconf_t *host;
	h2o_pathconf_t *path;
	h2o_handler_t *h;
	int n = opts->threads > 0 ? opts->threads
	                          : (int) sysconf(_SC_NPROCESSORS_ONLN);
	orch_err rv = ORCH_OK;

	*out = NULL;
	if ((opts->direct == NULL) == (opts->rpc_connect == NULL))
		return ORCH_EINVAL;
	if (n < 1)
		n = 1;
	if (n > MAX_THREADS)
		n = MAX_THREADS;
	gw = calloc(1, sizeof(*gw));
	if (gw == NULL)
		return ORCH_ENOMEM;
	gw->opts = *opts;
	if (gw->opts.timeout_ms == 0)
		gw->opts.timeout_ms = 30000;
	gw->cors =
	    opts->cors_origins != NULL ? strdup(opts->cors_origins) : NULL;
	if (opts->rpc_connect != NULL &&
	    orch_rpc_client_open(opts->rpc_connect, &gw->client) != ORCH_OK) {
		free(gw->cors);
		free(gw);
		return ORCH_EUNAVAIL;
	}
	for (size_t i = 0; i < orch_n_routes; i++) {
		if (i < MAX_ROUTES && orch_routes[i].fixed != NULL)
			continue; /* answered by the gateway itself */
		gw->route_md[i] =
		    i >= MAX_ROUTES
		        ? NULL
		        : protobuf_c_service_descriptor_get_method_by_name(
		              &orch__orchestrator__descriptor,
		              orch_routes[i].rpc);
		if (i >= MAX_ROUTES || gw->route_md[i] == NULL) {
			/* A route table naming no method: a build mistake. */
			ORCH_ERROR("gateway: route %s names no RPC method %s",
			    orch_routes[i].pattern, orch_routes[i].rpc);
			orch_rpc_client_close(gw->client);
			free(gw->cors);
			free(gw);
			return ORCH_EINVAL;
		}
	}
	for (size_t i = 0; i < MAX_ROUTES; i++)
		orch_snap_slot_init(&gw->snaps[i]);
	gw->snaps_init = true;
	h2o_config_init(&gw->config);
	gw->config.max_request_entity_size = H2O_MAX_BODY;
	host = h2o_config_register_host(
	    &gw->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	path = h2o_config_register_path(host, "/", 0);
	h = h2o_create_handler(path, sizeof(*h));
	h->on_req = on_req;
	gw->loops = calloc((size_t) n, sizeof(*gw->loops));
	if (gw->loops == NULL) {
		rv = ORCH_ENOMEM;
		goto out;
	}
	/* The first listener picks the port (0 = the kernel's); the others
	 * join it with SO_REUSEPORT. */
	gw->port = opts->port;
	for (int i = 0; i < n; i++) {
		loop *lp = &gw->loops[i];

		lp->fd = open_listener(gw, gw->port);
		if (lp->fd < 0) {
			ORCH_ERROR("gateway: cannot listen on %s:%d: %s",
			    opts->host != NULL ? opts->host : "0.0.0.0",
			    gw->port, strerror(errno));
			rv = ORCH_ESYS;
			goto out;
		}
		if (gw->port == 0) {
			struct sockaddr_in a;
			socklen_t al = sizeof(a);

			getsockname(lp->fd, (struct sockaddr *) &a, &al);
			gw->port = ntohs(a.sin_port);
		}
		gw->nloops++;
	}
	for (int i = 0; i < gw->nloops; i++) {
		loop *lp = &gw->loops[i];

		lp->gw = gw;
		pthread_mutex_init(&lp->ready_mu, NULL);
		pthread_cond_init(&lp->ready_cv, NULL);
	}
	for (int i = 0; i < gw->nloops; i++) {
		loop *lp = &gw->loops[i];

		if (pthread_create(&lp->thread, NULL, loop_main, lp) != 0) {
			rv = ORCH_ESYS;
			goto out;
		}
		lp->started = true;
		pthread_mutex_lock(&lp->ready_mu);
		while (lp->ready == 0)
			pthread_cond_wait(&lp->ready_cv, &lp->ready_mu);
		pthread_mutex_unlock(&lp->ready_mu);
		if (lp->ready < 0) {
			rv = ORCH_ESYS;
			goto out;
		}
	}
	ORCH_INFO("gateway: listening on %s:%d (%d loop%s)",
	    opts->host != NULL ? opts->host : "0.0.0.0", gw->port, gw->nloops,
	    gw->nloops == 1 ? "" : "s");
out:
	if (rv != ORCH_OK) {
		orch_gw_stop(gw);
		return rv;
	}
	*out = gw;
	return ORCH_OK;
}

int
orch_gw_port(const orch_gw *gw)
{
	return gw->port;
}

void
orch_gw_quiesce(orch_gw *gw)
{
	if (gw == NULL)
		return;
	atomic_store(&gw->stopping, true);
	/* A handler never blocks: this wait is a few microseconds. */
	while (atomic_load(&gw->in_handler) > 0)
		sched_yield();
}

/* Waits, with the loops running, until every call started has been
 * answered and finished on its loop; false after STOP_CALLS_MS. */
static bool
wait_calls(orch_gw *gw)
{
	int64_t deadline = orch_mono_ms() + STOP_CALLS_MS;

	while (atomic_load(&gw->inflight) > 0) {
		if (orch_mono_ms() >= deadline)
			return false;
		usleep(5000);
	}
	return true;
}

void
orch_gw_stop(orch_gw *gw)
{
	if (gw == NULL)
		return;
	orch_gw_quiesce(gw);
	/* Remote calls in flight fail with ECLOSED here; their callbacks
	 * post to loops that still run. */
	orch_rpc_client_close(gw->client);
	gw->client = NULL;
	if (!wait_calls(gw)) {
		/* A call outlives the wait: its answer would reach freed
		 * loops. Leave everything to the process exit instead. */
		ORCH_WARN("gateway: %d call(s) still running after %d ms; "
		          "not freeing the loops",
		    atomic_load(&gw->inflight), STOP_CALLS_MS);
		return;
	}
	for (int i = 0; i < gw->nloops; i++) {
		loop *lp = &gw->loops[i];

		if (lp->started) {
			h2o_multithread_send_message(
			    &lp->stopper, &lp->stop_msg);
			pthread_join(lp->thread, NULL);
		} else if (lp->fd >= 0) {
			close(lp->fd);
		}
		orch_buf_fini(&lp->scratch);
	}
	h2o_config_dispose(&gw->config);
	/* The loops are gone, and every response with them: the slots
	 * hold the last references. */
	for (size_t i = 0; gw->snaps_init && i < MAX_ROUTES; i++)
		orch_snap_slot_fini(&gw->snaps[i]);
	free(gw->loops);
	free(gw->cors);
	free(gw);
}
