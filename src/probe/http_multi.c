#include "src/probe/http_multi.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/time.h"

/* The largest body cap a batch takes (fits curl_off_t everywhere). */
#define MAX_BODY_LIMIT ((size_t) 1 << 30)

/* One in-flight request: an easy handle and what its callbacks need. */
typedef struct slot {
	CURL *h;
	orch_http_batch *b;
	orch_http_req *req;
	size_t idx; /* the request's index in the caller's array */
	size_t pos; /* this slot's index in the batch's pool */
	int64_t start_ms;
	bool too_big;
	bool oom;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
} slot;

struct orch_http_batch {
	CURLM *m;
	slot **slots; /* individually allocated: easy handles point at them */
	size_t n_slots;
	size_t *free; /* stack of free slot indexes */
	size_t n_free;
	size_t max_body;
	char *ua;
	bool running;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void
global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void
orch_http_req_fini(orch_http_req *req)
{
	if (req != NULL)
		orch_buf_fini(&req->body);
}

orch_err
orch_http_batch_open(orch_http_batch **out, const orch_http_opts *opts)
{
	orch_http_batch *b = NULL;
	const char *ua = "orchestrator-probe";
	long max_conns = ORCH_HTTP_DEFAULT_MAX_CONNS;
	orch_err err = ORCH_ENOMEM;

	if (out == NULL)
		return ORCH_EINVAL;
	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return ORCH_EINTERNAL;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		goto out;
	b->max_body = ORCH_HTTP_MAX_BODY;
	if (opts != NULL) {
		if (opts->max_body > 0)
			b->max_body = opts->max_body < MAX_BODY_LIMIT
			                  ? opts->max_body
			                  : MAX_BODY_LIMIT;
		if (opts->max_conns > 0)
			max_conns = opts->max_conns;
		if (opts->user_agent != NULL)
			ua = opts->user_agent;
	}
	b->ua = strdup(ua);
	b->m = curl_multi_init();
	if (b->ua == NULL || b->m == NULL)
		goto out;
	if (curl_multi_setopt(b->m, CURLMOPT_MAXCONNECTS, max_conns) !=
	    CURLM_OK) {
		err = ORCH_EINTERNAL;
		goto out;
	}
	*out = b;
	b = NULL;
	err = ORCH_OK;
out:
	orch_http_batch_close(b);
	return err;
}

void
orch_http_batch_close(orch_http_batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	/* Handles are never left in the multi between runs. */
	for (i = 0; i < b->n_slots; i++) {
		if (b->slots[i]->h != NULL)
			curl_easy_cleanup(b->slots[i]->h);
		free(b->slots[i]);
	}
	if (b->m != NULL)
		curl_multi_cleanup(b->m); /* closes the cached connections */
	free(b->slots);
	free(b->free);
	free(b->ua);
	free(b);
}

/* Grows the pool to at least n slots (between runs only). */
static orch_err
reserve_slots(orch_http_batch *b, size_t n)
{
	slot **slots;
	size_t *fr;

	if (n <= b->n_slots)
		return ORCH_OK;
	slots = realloc(b->slots, n * sizeof(*slots));
	if (slots == NULL)
		return ORCH_ENOMEM;
	b->slots = slots;
	fr = realloc(b->free, n * sizeof(*fr));
	if (fr == NULL)
		return ORCH_ENOMEM;
	b->free = fr;
	while (b->n_slots < n) {
		slot *s = calloc(1, sizeof(*s));

		if (s == NULL)
			return ORCH_ENOMEM;
		s->b = b;
		s->pos = b->n_slots;
		b->slots[b->n_slots++] = s;
	}
	return ORCH_OK;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	slot *s = arg;
	orch_buf *body = &s->req->body;
	size_t n = size * nmemb;

	if (n > s->b->max_body - body->len) {
		s->too_big = true;
		return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
	}
	orch_buf_append(body, data, n);
	if (body->oom) {
		s->oom = true;
		return 0;
	}
	return n;
}

/* Methods a request may name; the body rules below assume these. */
static bool
method_ok(const char *m)
{
	static const char *const known[] = {"GET", "PUT", "POST", "DELETE"};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(m, known[i]) == 0)
			return true;
	return false;
}

static void
set_error(orch_http_req *req, orch_err err, const char *fmt, const char *s)
{
	req->err = err;
	snprintf(req->error, sizeof(req->error), fmt, s);
}

static orch_err
map_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return ORCH_OK;
	case CURLE_OPERATION_TIMEDOUT:
		return ORCH_ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
		return ORCH_EUNAVAIL;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return ORCH_EINVAL;
	case CURLE_OUT_OF_MEMORY:
		return ORCH_ENOMEM;
	case CURLE_FILESIZE_EXCEEDED:
		return ORCH_EEXHAUSTED;
	default:
		return ORCH_EUNKNOWN;
	}
}

/* Appends one "Name: value" line to the slot's header list. */
static bool
add_header(slot *s, const char *line)
{
	struct curl_slist *l = curl_slist_append(s->hdrs, line);

	if (l == NULL)
		return false;
	s->hdrs = l;
	return true;
}

/*
 * Sets every option of one request on s->h (fresh or reset). Returns
 * ORCH_OK, or an error with req->error filled.
 */
static orch_err
setup(orch_http_batch *b, slot *s)
{
	orch_http_req *req = s->req;
	const char *method = req->method != NULL ? req->method : "GET";
	long timeout = req->timeout_ms > 0 ? req->timeout_ms
	                                   : ORCH_HTTP_DEFAULT_TIMEOUT_MS;
	long conn = req->connect_timeout_ms > 0 ? req->connect_timeout_ms
	                                        : ORCH_HTTP_DEFAULT_CONNECT_MS;
	CURL *h = s->h;
	CURLcode rc = CURLE_OK;

	if (req->url == NULL || !method_ok(method)) {
		set_error(req, ORCH_EINVAL, "%s",
		    req->url == NULL ? "no url" : "unsupported method");
		return ORCH_EINVAL;
	}
	if (conn > timeout)
		conn = timeout;
	s->errbuf[0] = '\0';
	s->too_big = s->oom = false;
	/* Each setopt below only fails on a bad value or out of memory; the
	 * first failure is kept and reported. */
#define SET(opt, val)                                                         \
	do {                                                                  \
		if (rc == CURLE_OK)                                           \
			rc = curl_easy_setopt(h, opt, val);                   \
	} while (0)
	SET(CURLOPT_ERRORBUFFER, s->errbuf);
	SET(CURLOPT_PRIVATE, s);
	SET(CURLOPT_URL, req->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_NOPROXY, "*"); /* probes go straight to the engine */
	SET(CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_TIMEOUT_MS, timeout);
	SET(CURLOPT_CONNECTTIMEOUT_MS, conn);
	SET(CURLOPT_USERAGENT, b->ua);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, s);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) b->max_body);
	if (req->username != NULL) {
		SET(CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
		SET(CURLOPT_USERNAME, req->username);
		SET(CURLOPT_PASSWORD,
		    req->password != NULL ? req->password : "");
	}
	if (strcmp(method, "GET") == 0 && req->send == NULL) {
		SET(CURLOPT_HTTPGET, 1L);
	} else {
		char ctype[128];

		/* A body (possibly empty, so that Content-Length: 0 is sent
		 * and no server waits for one) under the named verb. */
		SET(CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t) (req->send != NULL ? req->send_len : 0));
		SET(CURLOPT_POSTFIELDS, req->send != NULL ? req->send : "");
		SET(CURLOPT_CUSTOMREQUEST, method);
		snprintf(ctype, sizeof(ctype), "Content-Type: %s",
		    req->send_type != NULL ? req->send_type
		                           : "application/json");
		if (!add_header(s, ctype) || !add_header(s, "Expect:"))
			goto nomem;
	}
	for (size_t i = 0; req->headers != NULL && req->headers[i]; i++) {
		if (!add_header(s, req->headers[i]))
			goto nomem;
	}
	if (s->hdrs != NULL)
		SET(CURLOPT_HTTPHEADER, s->hdrs);
#undef SET
	if (rc != CURLE_OK) {
		set_error(req,
		    map_curl(rc) == ORCH_ENOMEM ? ORCH_ENOMEM : ORCH_EINVAL,
		    "%s", curl_easy_strerror(rc));
		return req->err;
	}
	return ORCH_OK;
nomem:
	set_error(req, ORCH_ENOMEM, "%s", "out of memory");
	return ORCH_ENOMEM;
}

/* Fills req's results from a finished transfer (handle already removed). */
static void
finish(orch_http_batch *b, slot *s, CURLcode rc)
{
	orch_http_req *req = s->req;
	long status = 0, conns = 0;

	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(s->h, CURLINFO_NUM_CONNECTS, &conns);
	req->status = status;
	req->new_conns = (int) conns;
	req->curl_code = (int) rc;
	if (s->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		req->err = ORCH_EEXHAUSTED;
		snprintf(req->error, sizeof(req->error),
		    "body too large (over %zu bytes)", b->max_body);
	} else if (s->oom) {
		set_error(req, ORCH_ENOMEM, "%s", "out of memory");
	} else if (rc != CURLE_OK) {
		set_error(req, map_curl(rc), "%s",
		    s->errbuf[0] != '\0' ? s->errbuf : curl_easy_strerror(rc));
	} else {
		req->err = ORCH_OK;
		req->error[0] = '\0';
	}
	if (req->err != ORCH_OK)
		req->body.len = 0; /* a partial body is no body */
	if (req->body.data != NULL)
		req->body.data[req->body.len] = '\0';
}

static void
complete(orch_http_req *req, size_t idx, int64_t start_ms,
    orch_http_done_fn done, void *arg)
{
	req->elapsed_ms = orch_mono_ms() - start_ms;
	req->done = true;
	if (done != NULL)
		done(arg, req, idx);
}

static void
release(orch_http_batch *b, slot *s)
{
	curl_slist_free_all(s->hdrs);
	s->hdrs = NULL;
	s->req = NULL;
	b->free[b->n_free++] = s->pos;
}

static void
reset_out(orch_http_req *req)
{
	req->err = ORCH_EUNKNOWN;
	req->status = 0;
	req->curl_code = 0;
	req->error[0] = '\0';
	req->body.len = 0;
	req->body.oom = false;
	if (req->body.data != NULL)
		req->body.data[0] = '\0';
	req->elapsed_ms = 0;
	req->new_conns = 0;
	req->done = false;
}

/* Readies s's easy handle for s->req and adds it to the multi handle. */
static orch_err
start(orch_http_batch *b, slot *s)
{
	orch_err err;
	CURLMcode mc;

	if (s->h == NULL)
		s->h = curl_easy_init();
	else
		curl_easy_reset(s->h); /* connections stay in the multi */
	if (s->h == NULL) {
		set_error(s->req, ORCH_ENOMEM, "%s", "out of memory");
		return ORCH_ENOMEM;
	}
	err = setup(b, s);
	if (err != ORCH_OK)
		return err;
	mc = curl_multi_add_handle(b->m, s->h);
	if (mc != CURLM_OK) {
		set_error(s->req,
		    mc == CURLM_OUT_OF_MEMORY ? ORCH_ENOMEM : ORCH_EINTERNAL,
		    "%s", curl_multi_strerror(mc));
		return s->req->err;
	}
	return ORCH_OK;
}

/* Returns s to the pool and reports its request. */
static void
retire(orch_http_batch *b, slot *s, orch_http_done_fn done, void *arg)
{
	orch_http_req *req = s->req;
	size_t idx = s->idx;
	int64_t start_ms = s->start_ms;

	release(b, s);
	complete(req, idx, start_ms, done, arg);
}

/* Reports every finished transfer; returns how many there were. */
static size_t
drain(orch_http_batch *b, orch_http_done_fn done, void *arg)
{
	CURLMsg *msg;
	size_t n = 0;
	int queued;

	while ((msg = curl_multi_info_read(b->m, &queued)) != NULL) {
		CURLcode rc = msg->data.result;
		char *priv = NULL;
		slot *s;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		s = (slot *) (void *) priv;
		/* msg is invalid from here on. */
		curl_multi_remove_handle(b->m, s->h);
		finish(b, s, rc);
		retire(b, s, done, arg);
		n++;
	}
	return n;
}

/* The multi handle failed: everything in flight or not started fails. */
static void
fail_rest(orch_http_batch *b, orch_http_req *reqs, size_t n, size_t next,
    orch_err err, const char *why, orch_http_done_fn done, void *arg)
{
	size_t i;

	for (i = 0; i < b->n_slots; i++) {
		slot *s = b->slots[i];

		if (s->req == NULL)
			continue;
		curl_multi_remove_handle(b->m, s->h);
		set_error(s->req, err, "%s", why);
		retire(b, s, done, arg);
	}
	for (; next < n; next++) {
		set_error(&reqs[next], err, "%s", why);
		complete(&reqs[next], next, orch_mono_ms(), done, arg);
	}
}

orch_err
orch_http_batch_run(orch_http_batch *b, orch_http_req *reqs, size_t n,
    int max_parallel, orch_http_done_fn done, void *arg)
{
	size_t cap, next = 0, left = n, i;
	CURLMcode mc = CURLM_OK;
	orch_err err;
	int still;

	if (b == NULL || (reqs == NULL && n > 0))
		return ORCH_EINVAL;
	if (b->running)
		return ORCH_EPRECOND;
	if (n == 0)
		return ORCH_OK;
	cap = max_parallel <= 0 || (size_t) max_parallel > n
	          ? n
	          : (size_t) max_parallel;
	for (i = 0; i < n; i++)
		reset_out(&reqs[i]);
	b->running = true;
	err = reserve_slots(b, cap);
	if (err != ORCH_OK) {
		fail_rest(b, reqs, n, 0, err, "out of memory", done, arg);
		goto out;
	}
	b->n_free = 0;
	for (i = cap; i-- > 0;)
		b->free[b->n_free++] = i;
	while (left > 0) {
		size_t drained;

		while (next < n && b->n_free > 0) {
			slot *s = b->slots[b->free[--b->n_free]];

			s->req = &reqs[next];
			s->idx = next++;
			s->start_ms = orch_mono_ms();
			if (start(b, s) != ORCH_OK) {
				retire(b, s, done, arg);
				left--;
			}
		}
		if (left == 0)
			break;
		mc = curl_multi_perform(b->m, &still);
		if (mc != CURLM_OK)
			break;
		drained = drain(b, done, arg);
		left -= drained;
		if (left == 0 || (drained > 0 && next < n))
			continue; /* free slots: start more before waiting */
		mc = curl_multi_poll(b->m, NULL, 0, 1000, NULL);
		if (mc != CURLM_OK)
			break;
	}
	if (mc != CURLM_OK) {
		err = mc == CURLM_OUT_OF_MEMORY ? ORCH_ENOMEM : ORCH_EINTERNAL;
		fail_rest(
		    b, reqs, n, next, err, curl_multi_strerror(mc), done, arg);
	}
out:
	b->running = false;
	return err;
}

orch_err
orch_http_run(orch_http_req *reqs, size_t n, int max_parallel,
    orch_http_done_fn done, void *arg)
{
	orch_http_batch *b;
	orch_err err;

	if (reqs == NULL && n > 0)
		return ORCH_EINVAL;
	err = orch_http_batch_open(&b, NULL);
	if (err != ORCH_OK)
		return err;
	err = orch_http_batch_run(b, reqs, n, max_parallel, done, arg);
	orch_http_batch_close(b);
	return err;
}
