#include "src/runtime/docker.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "src/base/buf.h"
#include "src/base/log.h"
#include "src/base/time.h"
#include "src/runtime/docker_parse.h"

#define POOL_MAX 4          /* idle easy handles kept per orch_docker */
#define MAX_LINE (1u << 20) /* longest event / progress line */
#define POLL_MS 100         /* how often a stream looks at its stop flag */
#define SUN_PATH_MAX 108    /* sizeof(sockaddr_un.sun_path) on Linux */
#define DEDUP_RING 128      /* events remembered to skip replays */

/* ------------------------------------------------------------------------ */
/* The handle. */

struct orch_docker {
	char *host;      /* as given, for messages */
	char *base;      /* "http://localhost" or "http://host:port" */
	char *unix_path; /* NULL for tcp */
	int timeout_ms;
	pthread_mutex_t mu; /* api_*, pool */
	int api_major;      /* 0 until negotiated */
	int api_minor;
	CURL *pool[POOL_MAX];
	int n_pool;
};

/* The only process-wide state: curl_global_init, once. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rv;

static void
curl_init_once(void)
{
	curl_init_rv = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Cancels a transfer run through a multi handle: the events stream. */
typedef struct cancel {
	CURLM *multi;
	atomic_bool *stop;
} cancel;

/* Splits a streamed reply into lines; fn returns nonzero to abort. */
typedef struct lines {
	orch_buf part; /* an incomplete last line */
	int (*fn)(void *arg, const char *s, size_t n);
	void *arg;
	bool overflow;
} lines;

/* One HTTP exchange. */
typedef struct req {
	const char *what;   /* "inspect abc", for messages */
	const char *method; /* "GET", "POST", "DELETE" */
	const char *path;   /* below the version prefix: "/containers/json" */
	bool unversioned;   /* /_ping */
	const char *body;   /* JSON, or NULL */
	long timeout_ms;    /* 0: no total timeout (the events stream) */
	bool create;        /* 409 means "name in use" */
	lines *lines;       /* a 2xx body goes here line by line */
	cancel *cancel;     /* run through cancel->multi (may be NULL) */
	/* Called at the end of the reply's headers (may be NULL). */
	void (*on_headers)(void *arg, long status);
	void *arg;
	/* The reply. */
	CURL *easy;
	long status;
	orch_buf reply; /* the body, unless it went to lines */
	bool too_large;
	bool has_version;
	int api_major, api_minor;
	char curl_err[CURL_ERROR_SIZE];
} req;

/* An id or a name: what may go into a URL path unescaped. */
static bool
valid_ref(const char *s)
{
	size_t n = 0;

	if (s == NULL || s[0] == '\0')
		return false;
	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		        c == '-'))
			return false;
	}
	return n <= 128;
}

/* An image reference: also '/', ':' and '@'. */
static bool
valid_image(const char *s)
{
	size_t n = 0;

	if (s == NULL || s[0] == '\0' || s[0] == '/' || s[0] == '.')
		return false;
	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		        c == '-' || c == '/' || c == ':' || c == '@'))
			return false;
		if (c == '.' && n > 0 && s[n - 1] == '.')
			return false; /* no ".." in a URL path */
	}
	return n <= 255;
}

orch_err
orch_docker_open(const char *docker_host, int timeout_ms, orch_docker **out)
{
	orch_docker *d = NULL;
	orch_buf base = ORCH_BUF_INIT;
	const char *rest, *colon, *p;
	orch_err rv = ORCH_EINVAL;
	bool mu_init = false;

	if (out == NULL)
		return ORCH_EINVAL;
	*out = NULL;
	if (docker_host == NULL || timeout_ms < 0)
		goto out;
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rv != CURLE_OK) {
		rv = ORCH_EINTERNAL;
		goto out;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		rv = ORCH_ENOMEM;
		goto out;
	}
	d->timeout_ms =
	    timeout_ms > 0 ? timeout_ms : ORCH_DOCKER_DEFAULT_TIMEOUT_MS;
	if (strncmp(docker_host, "unix://", 7) == 0) {
		rest = docker_host + 7;
		if (rest[0] != '/' || strlen(rest) >= SUN_PATH_MAX)
			goto out;
		d->unix_path = strdup(rest);
		orch_buf_puts(&base, "http://localhost");
	} else if (strncmp(docker_host, "tcp://", 6) == 0) {
		rest = docker_host + 6;
		/* host:port, host being a name, IPv4 or [IPv6]; no path. */
		if (rest[0] == '[') {
			colon = strchr(rest, ']');
			if (colon == NULL || colon == rest + 1 ||
			    colon[1] != ':')
				goto out;
			colon++;
		} else {
			colon = strrchr(rest, ':');
			if (colon == NULL || colon == rest ||
			    memchr(rest, ':', (size_t) (colon - rest)) != NULL)
				goto out;
		}
		for (p = rest; p < colon; p++) {
			if (!((*p >= 'a' && *p <= 'z') ||
			        (*p >= 'A' && *p <= 'Z') ||
			        (*p >= '0' && *p <= '9') || *p == '.' ||
			        *p == '-' || *p == ':' || *p == '[' ||
			        *p == ']'))
				goto out;
		}
		p = colon + 1;
		if (*p == '\0' || strlen(p) > 5 ||
		    strspn(p, "0123456789") != strlen(p) || atoi(p) < 1 ||
		    atoi(p) > 65535)
			goto out;
		orch_buf_printf(&base, "http://%s", rest);
	} else {
		goto out;
	}
	d->host = strdup(docker_host);
	d->base = base.oom ? NULL : strdup(orch_buf_cstr(&base));
	if (d->host == NULL || d->base == NULL ||
	    (strncmp(docker_host, "unix://", 7) == 0 &&
	        d->unix_path == NULL)) {
		rv = ORCH_ENOMEM;
		goto out;
	}
	if (pthread_mutex_init(&d->mu, NULL) != 0) {
		rv = ORCH_ESYS;
		goto out;
	}
	mu_init = true;
	/* Negotiate now if Docker is there; if not, the next call will. */
	(void) orch_docker_ping(d, NULL);
	rv = ORCH_OK;
out:
	if (rv == ORCH_OK) {
		*out = d;
	} else if (d != NULL) {
		if (mu_init)
			pthread_mutex_destroy(&d->mu);
		free(d->host);
		free(d->base);
		free(d->unix_path);
		free(d);
	}
	orch_buf_fini(&base);
	return rv;
}

void
orch_docker_close(orch_docker *d)
{
	if (d == NULL)
		return;
	for (int i = 0; i < d->n_pool; i++)
		curl_easy_cleanup(d->pool[i]);
	pthread_mutex_destroy(&d->mu);
	free(d->host);
	free(d->base);
	free(d->unix_path);
	free(d);
}

orch_err
orch_docker_api_version(orch_docker *d, char *buf, size_t len)
{
	orch_err rv = ORCH_EUNAVAIL;
	int n;

	if (d == NULL || buf == NULL || len == 0)
		return ORCH_EINVAL;
	pthread_mutex_lock(&d->mu);
	if (d->api_major > 0) {
		n = snprintf(buf, len, "%d.%d", d->api_major, d->api_minor);
		rv = (n > 0 && (size_t) n < len) ? ORCH_OK : ORCH_EINVAL;
	}
	pthread_mutex_unlock(&d->mu);
	return rv;
}

/* ------------------------------------------------------------------------ */
/* Transport. */

static CURL *
borrow(orch_docker *d)
{
	CURL *e = NULL;

	pthread_mutex_lock(&d->mu);
	if (d->n_pool > 0)
		e = d->pool[--d->n_pool];
	pthread_mutex_unlock(&d->mu);
	if (e != NULL)
		curl_easy_reset(e); /* options go; live connections stay */
	else
		e = curl_easy_init();
	return e;
}

static void
give_back(orch_docker *d, CURL *e)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&d->mu);
	if (d->n_pool < POOL_MAX) {
		d->pool[d->n_pool++] = e;
		e = NULL;
	}
	pthread_mutex_unlock(&d->mu);
	if (e != NULL)
		curl_easy_cleanup(e);
}

/* Feeds n bytes to l; nonzero when the transfer must stop. */
static int
lines_feed(lines *l, const char *p, size_t n)
{
	const char *nl;
	size_t k;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		k = nl != NULL ? (size_t) (nl - p) : n;
		if (l->part.len + k > MAX_LINE) {
			l->overflow = true;
			return 1;
		}
		if (nl == NULL) {
			orch_buf_append(&l->part, p, k);
			return l->part.oom ? 1 : 0;
		}
		if (l->part.len > 0) {
			orch_buf_append(&l->part, p, k);
			if (l->part.oom ||
			    l->fn(l->arg, l->part.data, l->part.len))
				return 1;
			l->part.len = 0;
		} else if (l->fn(l->arg, p, k)) {
			return 1;
		}
		p += k + 1;
		n -= k + 1;
	}
	return 0;
}

static size_t
write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	req *r = arg;
	size_t n = size * nmemb;

	if (r->lines != NULL && r->status >= 200 && r->status < 300)
		return lines_feed(r->lines, p, n) ? 0 : n;
	if (r->reply.len + n > ORCH_DOCKER_MAX_REPLY) {
		r->too_large = true;
		return 0;
	}
	orch_buf_append(&r->reply, p, n);
	return r->reply.oom ? 0 : n;
}

static size_t
header_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	static const char name[] = "api-version:";
	req *r = arg;
	size_t n = size * nmemb;

	if (n >= sizeof(name) - 1 &&
	    strncasecmp(p, name, sizeof(name) - 1) == 0)
		r->has_version =
		    orch_docker_parse_api_version(p + sizeof(name) - 1,
		        n - (sizeof(name) - 1), &r->api_major,
		        &r->api_minor) == ORCH_OK;
	if ((n == 2 && p[0] == '\r' && p[1] == '\n') ||
	    (n == 1 && p[0] == '\n')) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
		if (r->status >= 200 && r->on_headers != NULL)
			r->on_headers(r->arg, r->status);
	}
	return n;
}

/* Runs e through the cancel's multi handle until done or stopped. */
static CURLcode
run_multi(CURL *e, cancel *cx)
{
	CURLcode cc = CURLE_ABORTED_BY_CALLBACK;
	CURLMsg *m;
	int running = 1, left;

	if (curl_multi_add_handle(cx->multi, e) != CURLM_OK)
		return CURLE_FAILED_INIT;
	while (!atomic_load(cx->stop)) {
		if (curl_multi_perform(cx->multi, &running) != CURLM_OK) {
			cc = CURLE_FAILED_INIT;
			break;
		}
		if (running == 0) {
			cc = CURLE_RECV_ERROR; /* unless the message says */
			while ((m = curl_multi_info_read(cx->multi, &left)))
				if (m->msg == CURLMSG_DONE &&
				    m->easy_handle == e)
					cc = m->data.result;
			break;
		}
		/* curl_multi_wakeup() from the closing thread ends this at
		 * once; the timeout only bounds curl's own timers. */
		if (curl_multi_poll(cx->multi, NULL, 0, POLL_MS, NULL) !=
		    CURLM_OK) {
			cc = CURLE_FAILED_INIT;
			break;
		}
	}
	curl_multi_remove_handle(cx->multi, e);
	return cc;
}

/* Maps a failed transfer; sent: the request went out (we were connected). */
static orch_err
curl_err(CURLcode cc, bool sent)
{
	switch (cc) {
	case CURLE_OK:
		return ORCH_OK;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return ORCH_EUNAVAIL;
	case CURLE_OPERATION_TIMEDOUT:
		return sent ? ORCH_ETIMEDOUT : ORCH_EUNAVAIL;
	case CURLE_ABORTED_BY_CALLBACK:
		return ORCH_ECANCELLED;
	case CURLE_OUT_OF_MEMORY:
		return ORCH_ENOMEM;
	default:
		return ORCH_EINTERNAL; /* weird reply, bad framing, ... */
	}
}

/*
 * One HTTP exchange on a borrowed easy handle. ORCH_OK when an HTTP reply
 * arrived whole (any status: see http_result); otherwise the transport's
 * error, described in diag.
 */
static orch_err
perform(orch_docker *d, req *r, orch_diag *diag)
{
	struct curl_slist *hdrs = NULL, *h;
	orch_buf url = ORCH_BUF_INIT;
	long sent = 0;
	CURLcode cc;
	orch_err rv = ORCH_OK;

	r->curl_err[0] = '\0';
	r->status = 0;
	orch_buf_puts(&url, d->base);
	if (!r->unversioned) {
		pthread_mutex_lock(&d->mu);
		orch_buf_printf(&url, "/v%d.%d", d->api_major, d->api_minor);
		pthread_mutex_unlock(&d->mu);
	}
	orch_buf_puts(&url, r->path);
	h = curl_slist_append(NULL, "Expect:");
	if (h != NULL && r->body != NULL) {
		hdrs = curl_slist_append(h, "Content-Type: application/json");
		if (hdrs == NULL)
			curl_slist_free_all(h);
	} else {
		hdrs = h;
	}
	if (url.oom || hdrs == NULL || (r->easy = borrow(d)) == NULL) {
		rv = ORCH_ENOMEM;
		orch_diag_set(diag, "%s: out of memory", r->what);
		goto out;
	}
	curl_easy_setopt(r->easy, CURLOPT_URL, orch_buf_cstr(&url));
	if (d->unix_path != NULL)
		curl_easy_setopt(
		    r->easy, CURLOPT_UNIX_SOCKET_PATH, d->unix_path);
	else
		curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http");
#else
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS, (long) CURLPROTO_HTTP);
#endif
	/* Never through a proxy from the environment. */
	curl_easy_setopt(r->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    (long) (r->timeout_ms > 0 &&
	                    r->timeout_ms < ORCH_DOCKER_CONNECT_TIMEOUT_MS
	                ? r->timeout_ms
	                : ORCH_DOCKER_CONNECT_TIMEOUT_MS));
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, r->timeout_ms);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->curl_err);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "orchestrator");
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	if (strcmp(r->method, "POST") == 0) {
		curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS,
		    r->body != NULL ? r->body : "");
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE,
		    (long) (r->body != NULL ? strlen(r->body) : 0));
	} else if (strcmp(r->method, "GET") != 0) {
		curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, r->method);
	}
	cc = r->cancel != NULL ? run_multi(r->easy, r->cancel)
	                       : curl_easy_perform(r->easy);
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(r->easy, CURLINFO_REQUEST_SIZE, &sent);
	if (cc == CURLE_OK)
		goto out;
	if (cc == CURLE_WRITE_ERROR && r->too_large) {
		rv = ORCH_EINTERNAL;
		orch_diag_set(diag, "%s: reply larger than %u bytes", r->what,
		    ORCH_DOCKER_MAX_REPLY);
	} else if (cc == CURLE_WRITE_ERROR && r->lines != NULL &&
	           r->lines->overflow) {
		rv = ORCH_EINTERNAL;
		orch_diag_set(diag, "%s: a line of the reply is over %u bytes",
		    r->what, MAX_LINE);
	} else {
		rv = cc == CURLE_WRITE_ERROR ? ORCH_ENOMEM
		                             : curl_err(cc, sent > 0);
		orch_diag_set(diag, "%s: %s (%s)", r->what,
		    r->curl_err[0] != '\0' ? r->curl_err
		                           : curl_easy_strerror(cc),
		    d->host);
	}
out:
	give_back(d, r->easy);
	r->easy = NULL;
	curl_slist_free_all(hdrs);
	orch_buf_fini(&url);
	return rv;
}

/* The error for an HTTP status, with Docker's message in diag. */
static orch_err
http_result(req *r, orch_diag *diag)
{
	char m[ORCH_DIAG_MSG_MAX];

	if ((r->status >= 200 && r->status < 300) || r->status == 304)
		return ORCH_OK;
	orch_docker_parse_message(r->reply.data, r->reply.len, m, sizeof(m));
	orch_diag_set(diag, "%s: HTTP %ld: %s", r->what, r->status,
	    m[0] != '\0' ? m : "(no message)");
	switch (r->status) {
	case 404:
		return ORCH_ENOTFOUND;
	case 409:
		return r->create ? ORCH_EEXIST : ORCH_EPRECOND;
	case 401:
	case 403:
		return ORCH_EPERM;
	case 503:
		return ORCH_EUNAVAIL;
	default:
		return ORCH_EINTERNAL;
	}
}

/* /_ping: takes the version it offers (capped) when none is set yet or
 * when force; ORCH_OK when Docker answered 200. */
static orch_err
ping(orch_docker *d, cancel *cx, bool force, orch_diag *diag)
{
	req r;
	orch_err rv = ORCH_OK;
	int ma, mi;
	bool have;

	memset(&r, 0, sizeof(r));
	pthread_mutex_lock(&d->mu);
	have = d->api_major > 0;
	pthread_mutex_unlock(&d->mu);
	if (have && !force)
		goto out;
	r.what = "ping";
	r.method = "GET";
	r.path = "/_ping";
	r.unversioned = true;
	r.timeout_ms = d->timeout_ms;
	r.cancel = cx;
	if ((rv = perform(d, &r, diag)) != ORCH_OK)
		goto out;
	/* Docker sends its version even when it answers 500 (unhealthy). */
	if (!r.has_version) {
		rv = r.status == 200 ? ORCH_EINTERNAL : http_result(&r, diag);
		if (rv == ORCH_EINTERNAL)
			orch_diag_set(diag,
			    "ping: HTTP %ld without an Api-Version "
			    "header: is %s a Docker daemon?",
			    r.status, d->host);
		goto out;
	}
	ma = r.api_major;
	mi = r.api_minor;
	if (ma > ORCH_DOCKER_API_MAJOR ||
	    (ma == ORCH_DOCKER_API_MAJOR && mi > ORCH_DOCKER_API_MINOR)) {
		ma = ORCH_DOCKER_API_MAJOR;
		mi = ORCH_DOCKER_API_MINOR;
	}
	if (ma < 1 || (ma == 1 && mi < ORCH_DOCKER_API_MIN_MINOR)) {
		rv = ORCH_EPRECOND;
		orch_diag_set(diag,
		    "ping: Docker API %d.%d is older than 1.%d", r.api_major,
		    r.api_minor, ORCH_DOCKER_API_MIN_MINOR);
		goto out;
	}
	pthread_mutex_lock(&d->mu);
	if (d->api_major == 0 || force) {
		d->api_major = ma;
		d->api_minor = mi;
	}
	pthread_mutex_unlock(&d->mu);
	rv = http_result(&r, diag);
out:
	if (diag != NULL)
		diag->status = r.status;
	orch_buf_fini(&r.reply);
	return rv;
}

orch_err
orch_docker_ping(orch_docker *d, orch_diag *diag)
{
	orch_diag_clear(diag);
	if (d == NULL)
		return ORCH_EINVAL;
	return ping(d, NULL, true, diag);
}

/* Negotiates when needed, then runs r; ORCH_OK only for a 2xx/304. */
static orch_err
call(orch_docker *d, req *r, orch_diag *diag)
{
	orch_err rv;

	if ((rv = ping(d, r->cancel, false, diag)) != ORCH_OK)
		goto out;
	if (r->timeout_ms == 0 && r->lines == NULL)
		r->timeout_ms = d->timeout_ms;
	if ((rv = perform(d, r, diag)) != ORCH_OK)
		goto out;
	rv = http_result(r, diag);
out:
	if (diag != NULL)
		diag->status = r->status;
	return rv;
}

/* A call without a reply body worth keeping. */
static orch_err
simple(orch_docker *d, const char *what, const char *method, const char *path,
    long timeout_ms, orch_diag *diag)
{
	req r;
	orch_err rv;

	memset(&r, 0, sizeof(r));
	r.what = what;
	r.method = method;
	r.path = path;
	r.timeout_ms = timeout_ms;
	rv = call(d, &r, diag);
	orch_buf_fini(&r.reply);
	return rv;
}

/* ------------------------------------------------------------------------ */
/* Containers. */

/* Sets key to v in o, taking v; false (and *ok false) on failure. */
static bool
put(json_t *o, const char *key, json_t *v, bool *ok)
{
	if (v == NULL || json_object_set_new(o, key, v) != 0)
		*ok = false;
	return *ok;
}

static json_t *
strv_json(const char *const *v, bool *ok)
{
	json_t *a = json_array();

	if (a == NULL) {
		*ok = false;
		return NULL;
	}
	for (; v != NULL && *v != NULL; v++) {
		if (json_array_append_new(a, json_string(*v)) != 0)
			*ok = false; /* not UTF-8 */
	}
	return a;
}

static const char why_oom[] = "out of memory";

/* The create body; NULL with *why set when the spec is wrong (why_oom
 * when memory ran out). */
static char *
create_body(const orch_rt_create_spec *s, const char **why)
{
	json_t *root = json_object(), *labels = json_object(),
	       *exposed = json_object(), *bindings = json_object(),
	       *host = json_object();
	char key[32], hp[12], *body = NULL;
	const char *proto;
	bool ok = root != NULL && labels != NULL && exposed != NULL &&
	          bindings != NULL && host != NULL;

	*why = why_oom;
	for (size_t i = 0; ok && i < s->n_labels; i++) {
		const orch_rt_kv *l = &s->labels[i];

		if (l->key == NULL || l->key[0] == '\0' || l->value == NULL) {
			*why = "a label has an empty key or no value";
			ok = false;
			break;
		}
		/* The first value of a key stands: whoever lists a key first
		 * (the orchestrator puts its own first) keeps it. */
		if (json_object_get(labels, l->key) != NULL)
			continue;
		*why = "a label is not valid UTF-8";
		put(labels, l->key, json_string(l->value), &ok);
	}
	for (size_t i = 0; ok && i < s->n_ports; i++) {
		const orch_rt_publish *p = &s->ports[i];
		json_t *list, *b;

		proto = p->proto != NULL ? p->proto : "tcp";
		if (p->container_port < 1 || p->container_port > 65535 ||
		    p->host_port < 0 || p->host_port > 65535 ||
		    (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0 &&
		        strcmp(proto, "sctp") != 0)) {
			*why = "a port is out of range or not tcp/udp/sctp";
			ok = false;
			break;
		}
		snprintf(key, sizeof(key), "%d/%s", p->container_port, proto);
		if (p->host_port > 0)
			snprintf(hp, sizeof(hp), "%d", p->host_port);
		else
			hp[0] = '\0';
		put(exposed, key, json_object(), &ok);
		list = json_object_get(bindings, key);
		if (list == NULL && !put(bindings, key, json_array(), &ok))
			break;
		list = json_object_get(bindings, key);
		b = json_pack("{s:s, s:s}", "HostIp",
		    s->host_ip != NULL ? s->host_ip : "127.0.0.1", "HostPort",
		    hp);
		*why = "host_ip is not valid UTF-8";
		if (b == NULL || json_array_append_new(list, b) != 0)
			ok = false;
	}
	if (ok) {
		*why = "a string is not UTF-8";
		put(root, "Image", json_string(s->image), &ok);
		if (s->env != NULL)
			put(root, "Env", strv_json(s->env, &ok), &ok);
		if (s->cmd != NULL)
			put(root, "Cmd", strv_json(s->cmd, &ok), &ok);
		put(host, "PortBindings", json_incref(bindings), &ok);
		if (s->restart_policy != NULL)
			put(host, "RestartPolicy",
			    json_pack("{s:s}", "Name", s->restart_policy),
			    &ok);
		if (s->network != NULL)
			put(host, "NetworkMode", json_string(s->network), &ok);
		put(root, "Labels", json_incref(labels), &ok);
		put(root, "ExposedPorts", json_incref(exposed), &ok);
		put(root, "HostConfig", json_incref(host), &ok);
	}
	if (ok && (body = json_dumps(root, JSON_COMPACT)) == NULL)
		*why = why_oom;
	json_decref(root);
	json_decref(labels);
	json_decref(exposed);
	json_decref(bindings);
	json_decref(host);
	return body;
}

orch_err
orch_docker_create(orch_docker *d, const orch_rt_create_spec *spec,
    char **id_out, orch_diag *diag)
{
	req r;
	orch_buf path = ORCH_BUF_INIT;
	char what[160], *body = NULL, *esc = NULL;
	orch_diag pd;
	const char *bad = NULL;
	orch_err rv = ORCH_EINVAL;

	memset(&r, 0, sizeof(r));
	orch_diag_clear(diag);
	if (id_out != NULL)
		*id_out = NULL;
	if (d == NULL || spec == NULL || id_out == NULL)
		goto out;
	snprintf(what, sizeof(what), "create %s",
	    spec->name != NULL ? spec->name : "(unnamed)");
	if (!valid_image(spec->image) ||
	    (spec->name != NULL && !valid_ref(spec->name)) ||
	    (spec->n_ports > 0 && spec->ports == NULL) ||
	    (spec->n_labels > 0 && spec->labels == NULL)) {
		orch_diag_set(diag, "%s: bad image, name or ports", what);
		goto out;
	}
	if ((body = create_body(spec, &bad)) == NULL) {
		rv = bad == why_oom ? ORCH_ENOMEM : ORCH_EINVAL;
		orch_diag_set(diag, "%s: %s", what, bad);
		goto out;
	}
	orch_buf_puts(&path, "/containers/create");
	if (spec->name != NULL) {
		esc = curl_easy_escape(NULL, spec->name, 0);
		orch_buf_printf(&path, "?name=%s", esc != NULL ? esc : "");
	}
	if (path.oom || (spec->name != NULL && esc == NULL)) {
		rv = ORCH_ENOMEM;
		goto out;
	}
	r.what = what;
	r.method = "POST";
	r.path = orch_buf_cstr(&path);
	r.body = body;
	r.create = true;
	if ((rv = call(d, &r, diag)) != ORCH_OK)
		goto out;
	rv = orch_docker_parse_create(r.reply.data, r.reply.len, id_out, &pd);
	if (rv == ORCH_EINTERNAL)
		orch_diag_set(diag, "%s: malformed reply: %s", what, pd.msg);
out:
	curl_free(esc);
	free(body);
	orch_buf_fini(&path);
	orch_buf_fini(&r.reply);
	return rv;
}

/* Runs METHOD /containers/<id><suffix>; for the simple container calls. */
static orch_err
container_call(orch_docker *d, const char *verb, const char *id,
    const char *method, const char *suffix, long timeout_ms, orch_diag *diag)
{
	char what[192], path[320];

	orch_diag_clear(diag);
	if (d == NULL || !valid_ref(id)) {
		orch_diag_set(diag, "%s: bad container id", verb);
		return ORCH_EINVAL;
	}
	snprintf(what, sizeof(what), "%s %s", verb, id);
	snprintf(path, sizeof(path), "/containers/%s%s", id, suffix);
	return simple(d, what, method, path, timeout_ms, diag);
}

orch_err
orch_docker_start(orch_docker *d, const char *id, orch_diag *diag)
{
	return container_call(d, "start", id, "POST", "/start", 0, diag);
}

orch_err
orch_docker_stop(
    orch_docker *d, const char *id, int timeout_s, orch_diag *diag)
{
	char suffix[48];

	if (timeout_s < 0 || timeout_s > 86400) {
		orch_diag_clear(diag);
		orch_diag_set(diag, "stop: timeout_s out of range");
		return ORCH_EINVAL;
	}
	snprintf(suffix, sizeof(suffix), "/stop?t=%d", timeout_s);
	return container_call(d, "stop", id, "POST", suffix,
	    d != NULL ? (long) timeout_s * 1000 + d->timeout_ms : 0, diag);
}

orch_err
orch_docker_kill(
    orch_docker *d, const char *id, const char *sig, orch_diag *diag)
{
	char suffix[64];

	if (sig != NULL && (strlen(sig) > 16 || !valid_ref(sig))) {
		orch_diag_clear(diag);
		orch_diag_set(diag, "kill: bad signal");
		return ORCH_EINVAL;
	}
	snprintf(suffix, sizeof(suffix), "/kill?signal=%s",
	    sig != NULL ? sig : "SIGKILL");
	return container_call(d, "kill", id, "POST", suffix, 0, diag);
}

orch_err
orch_docker_remove(orch_docker *d, const char *id, bool force, orch_diag *diag)
{
	return container_call(d, "remove", id, "DELETE",
	    force ? "?force=true&v=false" : "?force=false&v=false", 0, diag);
}

orch_err
orch_docker_inspect(
    orch_docker *d, const char *id, orch_rt_container *out, orch_diag *diag)
{
	req r;
	char what[192], path[320];
	orch_diag pd;
	orch_err rv = ORCH_EINVAL;

	memset(&r, 0, sizeof(r));
	orch_diag_clear(diag);
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (d == NULL || out == NULL || !valid_ref(id)) {
		orch_diag_set(diag, "inspect: bad container id");
		goto out;
	}
	snprintf(what, sizeof(what), "inspect %s", id);
	snprintf(path, sizeof(path), "/containers/%s/json", id);
	r.what = what;
	r.method = "GET";
	r.path = path;
	if ((rv = call(d, &r, diag)) != ORCH_OK)
		goto out;
	rv = orch_docker_parse_inspect(r.reply.data, r.reply.len, out, &pd);
	if (rv == ORCH_EINTERNAL)
		orch_diag_set(diag, "%s: malformed reply: %s", what, pd.msg);
out:
	orch_buf_fini(&r.reply);
	return rv;
}

/* Whether Docker's "key=value" filter syntax can say pair p. */
static bool
filter_sayable(const orch_rt_kv *p)
{
	return strchr(p->key, '=') == NULL;
}

/* ?filters= for label filter pairs (those Docker's syntax can say), a
 * type and container names: escaped JSON, or NULL with *rv set. */
static char *
filters_query(const orch_rt_kv *match, size_t n_match, const char *type,
    const char *const *containers, size_t n_containers, orch_err *rv)
{
	json_t *f = json_object(), *l = json_array(), *cl = json_array();
	char *s = NULL, *esc = NULL, *one;
	bool ok = f != NULL && l != NULL && cl != NULL, utf8 = true;

	*rv = ORCH_ENOMEM;
	for (size_t i = 0; ok && i < n_match; i++) {
		if (match[i].key == NULL || match[i].key[0] == '\0') {
			*rv = ORCH_EINVAL;
			ok = false;
			break;
		}
		if (!filter_sayable(&match[i]))
			continue;
		if (match[i].value != NULL)
			ok = asprintf(&one, "%s=%s", match[i].key,
			         match[i].value) >= 0;
		else
			ok = (one = strdup(match[i].key)) != NULL;
		if (!ok)
			break;
		if (json_array_append_new(l, json_string(one)) != 0)
			ok = utf8 = false; /* not UTF-8 */
		free(one);
	}
	if (ok && json_array_size(l) > 0)
		put(f, "label", json_incref(l), &ok);
	if (ok && type != NULL)
		put(f, "type", json_pack("[s]", type), &ok);
	for (size_t i = 0; ok && i < n_containers; i++) {
		if (containers[i] == NULL || containers[i][0] == '\0') {
			*rv = ORCH_EINVAL;
			ok = false;
		} else if (json_array_append_new(
		               cl, json_string(containers[i])) != 0) {
			ok = utf8 = false;
		}
	}
	if (ok && n_containers > 0)
		put(f, "container", json_incref(cl), &ok);
	if (!utf8)
		*rv = ORCH_EINVAL; /* a label that is not UTF-8 */
	if (ok && (s = json_dumps(f, JSON_COMPACT)) != NULL &&
	    (esc = curl_easy_escape(NULL, s, 0)) != NULL)
		*rv = ORCH_OK;
	free(s);
	json_decref(cl);
	json_decref(l);
	json_decref(f);
	return esc;
}

/* Keeps the containers of v whose labels match every pair (the ones
 * Docker could not filter on: keys containing '='). */
static void
list_keep_matching(
    const orch_rt_kv *match, size_t n_match, orch_rt_container *v, size_t *n)
{
	size_t k = 0;

	for (size_t i = 0; i < *n; i++) {
		if (orch_rt_labels_match(
		        v[i].labels, v[i].n_labels, match, n_match)) {
			if (k != i)
				v[k] = v[i];
			k++;
		} else {
			orch_rt_container_fini(&v[i]);
		}
	}
	*n = k;
}

orch_err
orch_docker_list(orch_docker *d, const orch_rt_kv *match, size_t n_match,
    orch_rt_container **out, size_t *n_out, orch_diag *diag)
{
	req r;
	orch_buf path = ORCH_BUF_INIT;
	char *filters = NULL;
	orch_diag pd;
	orch_err rv = ORCH_EINVAL;

	memset(&r, 0, sizeof(r));
	orch_diag_clear(diag);
	if (out != NULL)
		*out = NULL;
	if (n_out != NULL)
		*n_out = 0;
	if (d == NULL || out == NULL || n_out == NULL ||
	    (n_match > 0 && match == NULL))
		goto out;
	if ((filters = filters_query(match, n_match, NULL, NULL, 0, &rv)) ==
	    NULL) {
		orch_diag_set(diag, "list: bad label filter");
		goto out;
	}
	orch_buf_printf(
	    &path, "/containers/json?all=true&filters=%s", filters);
	if (path.oom) {
		rv = ORCH_ENOMEM;
		goto out;
	}
	r.what = "list";
	r.method = "GET";
	r.path = orch_buf_cstr(&path);
	if ((rv = call(d, &r, diag)) != ORCH_OK)
		goto out;
	rv =
	    orch_docker_parse_list(r.reply.data, r.reply.len, out, n_out, &pd);
	if (rv == ORCH_EINTERNAL)
		orch_diag_set(diag, "list: malformed reply: %s", pd.msg);
	if (rv == ORCH_OK)
		list_keep_matching(match, n_match, *out, n_out);
	if (rv == ORCH_OK && *n_out == 0) {
		free(*out);
		*out = NULL;
	}
out:
	curl_free(filters);
	orch_buf_fini(&path);
	orch_buf_fini(&r.reply);
	return rv;
}

/* ------------------------------------------------------------------------ */
/* Images. */

orch_err
orch_docker_image_inspect(orch_docker *d, const char *image, orch_diag *diag)
{
	char what[300], path[320];

	orch_diag_clear(diag);
	if (d == NULL || !valid_image(image)) {
		orch_diag_set(diag, "image inspect: bad image name");
		return ORCH_EINVAL;
	}
	snprintf(what, sizeof(what), "image inspect %s", image);
	snprintf(path, sizeof(path), "/images/%s/json", image);
	return simple(d, what, "GET", path, 0, diag);
}

typedef struct pull_ctx {
	char err[ORCH_DIAG_MSG_MAX]; /* the first error line's text */
	bool failed;
} pull_ctx;

static int
pull_line(void *arg, const char *s, size_t n)
{
	pull_ctx *p = arg;
	orch_diag pd;

	if (!p->failed && orch_docker_parse_pull_line(s, n, &pd) != ORCH_OK) {
		p->failed = true;
		snprintf(p->err, sizeof(p->err), "%s", pd.msg);
	}
	return 0; /* read to the end: Docker closes the stream itself */
}

orch_err
orch_docker_image_pull(
    orch_docker *d, const char *image, int timeout_ms, orch_diag *diag)
{
	req r;
	lines l;
	pull_ctx pc;
	orch_buf path = ORCH_BUF_INIT;
	char what[300], *name = NULL, *en = NULL, *et = NULL;
	const char *tag = "latest", *at, *slash, *colon;
	orch_err rv = ORCH_EINVAL;

	memset(&r, 0, sizeof(r));
	memset(&l, 0, sizeof(l));
	memset(&pc, 0, sizeof(pc));
	orch_diag_clear(diag);
	if (d == NULL || !valid_image(image) || timeout_ms < 0) {
		orch_diag_set(diag, "pull: bad image name or timeout");
		goto out;
	}
	snprintf(what, sizeof(what), "pull %s", image);
	/* Always name a tag (or digest): without one Docker pulls every tag.
	 */
	at = strchr(image, '@');
	slash = strrchr(image, '/');
	colon = strrchr(image, ':');
	if (at != NULL) {
		name = strndup(image, (size_t) (at - image));
		tag = at + 1;
	} else if (colon != NULL && (slash == NULL || colon > slash)) {
		name = strndup(image, (size_t) (colon - image));
		tag = colon + 1;
	} else {
		name = strdup(image);
	}
	if (name == NULL || (en = curl_easy_escape(NULL, name, 0)) == NULL ||
	    (et = curl_easy_escape(NULL, tag, 0)) == NULL) {
		rv = ORCH_ENOMEM;
		goto out;
	}
	orch_buf_printf(&path, "/images/create?fromImage=%s&tag=%s", en, et);
	if (path.oom) {
		rv = ORCH_ENOMEM;
		goto out;
	}
	l.fn = pull_line;
	l.arg = &pc;
	r.what = what;
	r.method = "POST";
	r.path = orch_buf_cstr(&path);
	r.lines = &l;
	r.timeout_ms = timeout_ms > 0 ? timeout_ms : d->timeout_ms;
	if ((rv = call(d, &r, diag)) != ORCH_OK)
		goto out;
	if (l.part.len > 0) /* a last line without its newline */
		pull_line(&pc, l.part.data, l.part.len);
	if (pc.failed) {
		rv = ORCH_EINTERNAL;
		orch_diag_set(diag, "%s: %s", what, pc.err);
	}
out:
	free(name);
	curl_free(en);
	curl_free(et);
	orch_buf_fini(&l.part);
	orch_buf_fini(&path);
	orch_buf_fini(&r.reply);
	return rv;
}

/* ------------------------------------------------------------------------ */
/* Events. */

struct orch_docker_events {
	orch_docker *d;
	orch_rt_event_fn on_event;
	orch_rt_events_state_fn on_state;
	void *arg;
	int backoff_min_ms, backoff_max_ms;
	char *filters; /* escaped ?filters= value */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_bool stop;
	CURLM *multi;
	cancel cx;
	lines lines;
	bool connected;   /* this attempt got its 200 */
	int64_t cover_ns; /* events up to here were delivered */
	struct {
		int64_t t;
		uint64_t h;
	} seen[DEDUP_RING];
	size_t n_seen;
};

static uint64_t
fnv1a(uint64_t h, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		h ^= (unsigned char) *s;
		h *= 1099511628211ULL;
	}
	return h;
}

static int
event_line(void *arg, const char *s, size_t n)
{
	orch_docker_events *ev = arg;
	orch_rt_event e;
	orch_diag pd;
	uint64_t h;
	size_t i, lim;

	if (n == 0 || (n == 1 && s[0] == '\r'))
		return 0;
	if (orch_docker_parse_event(s, n, &e, &pd) != ORCH_OK) {
		ORCH_WARN(
		    "docker events: skipping a malformed event: %s", pd.msg);
		return 0;
	}
	/* A replay after a reconnect repeats what was delivered already. */
	h = fnv1a(fnv1a(fnv1a(1469598103934665603ULL, e.id), "\n"), e.action);
	lim = ev->n_seen < DEDUP_RING ? ev->n_seen : DEDUP_RING;
	for (i = 0; i < lim; i++) {
		if (ev->seen[i].t == e.time_ns && ev->seen[i].h == h)
			break;
	}
	if (i == lim) {
		ev->seen[ev->n_seen % DEDUP_RING].t = e.time_ns;
		ev->seen[ev->n_seen % DEDUP_RING].h = h;
		ev->n_seen++;
		if (e.time_ns > ev->cover_ns)
			ev->cover_ns = e.time_ns;
		ev->on_event(ev->arg, &e);
	}
	orch_rt_event_fini(&e);
	return 0;
}

static void
events_headers(void *arg, long status)
{
	orch_docker_events *ev = arg;

	if (status != 200)
		return;
	ev->connected = true;
	if (ev->cover_ns == 0)
		ev->cover_ns = orch_wall_us() * 1000;
	ORCH_DEBUG("docker events: connected to %s", ev->d->host);
	if (ev->on_state != NULL)
		ev->on_state(ev->arg, true, ORCH_OK, "");
}

/* One connection, followed until it ends or the stream is stopped. */
static orch_err
events_once(orch_docker_events *ev, orch_diag *diag)
{
	req r;
	orch_buf path = ORCH_BUF_INIT;
	int64_t since;
	orch_err rv;

	memset(&r, 0, sizeof(r));
	orch_diag_clear(diag);
	ev->connected = false;
	ev->lines.part.len = 0;
	ev->lines.overflow = false;
	orch_buf_printf(&path, "/events?filters=%s", ev->filters);
	/* Ask for the gap again (a second back: clocks and ordering). */
	if (ev->cover_ns > 0) {
		since = ev->cover_ns - 1000000000LL;
		orch_buf_printf(&path, "&since=%lld.%09lld",
		    (long long) (since / 1000000000LL),
		    (long long) (since % 1000000000LL));
	}
	if (path.oom) {
		rv = ORCH_ENOMEM;
		goto out;
	}
	r.what = "events";
	r.method = "GET";
	r.path = orch_buf_cstr(&path);
	r.lines = &ev->lines;
	r.cancel = &ev->cx;
	r.on_headers = events_headers;
	r.arg = ev;
	rv = call(ev->d, &r, diag);
	if (rv == ORCH_OK) {
		rv = ORCH_EUNAVAIL;
		orch_diag_set(diag, "events: Docker ended the stream");
	}
out:
	orch_buf_fini(&path);
	orch_buf_fini(&r.reply);
	return rv;
}

/* Sleeps ms unless stopped first; true when stopped. */
static bool
nap(orch_docker_events *ev, int ms)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long) (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&ev->mu);
	while (!(stop = atomic_load(&ev->stop)) &&
	       pthread_cond_timedwait(&ev->cv, &ev->mu, &ts) == 0)
		;
	stop = atomic_load(&ev->stop);
	pthread_mutex_unlock(&ev->mu);
	return stop;
}

static void *
events_main(void *arg)
{
	orch_docker_events *ev = arg;
	orch_diag diag;
	int backoff = ev->backoff_min_ms;
	bool was_up = true;
	orch_err rv;

	while (!atomic_load(&ev->stop)) {
		rv = events_once(ev, &diag);
		if (atomic_load(&ev->stop))
			break;
		if (ev->connected)
			backoff = ev->backoff_min_ms;
		/* Warn on the way down, not on every failed retry. */
		if (ev->connected || was_up)
			ORCH_WARN("docker: %s; reconnecting", diag.msg);
		was_up = ev->connected;
		if (ev->on_state != NULL)
			ev->on_state(ev->arg, false, rv, diag.msg);
		if (nap(ev, backoff))
			break;
		backoff = backoff > ev->backoff_max_ms / 2 ? ev->backoff_max_ms
		                                           : backoff * 2;
	}
	return NULL;
}

static void
events_free(orch_docker_events *ev)
{
	if (ev == NULL)
		return;
	if (ev->multi != NULL)
		curl_multi_cleanup(ev->multi);
	curl_free(ev->filters);
	orch_buf_fini(&ev->lines.part);
	free(ev);
}

orch_err
orch_docker_events_open(
    orch_docker *d, const orch_rt_events_opts *opts, orch_docker_events **out)
{
	orch_docker_events *ev = NULL;
	pthread_condattr_t ca;
	int sync = 0; /* 1 mutex, 2 + cond, 3 + thread */
	orch_err rv = ORCH_EINVAL;

	if (out == NULL)
		return ORCH_EINVAL;
	*out = NULL;
	if (d == NULL || opts == NULL || opts->on_event == NULL ||
	    opts->backoff_min_ms < 0 || opts->backoff_max_ms < 0 ||
	    (opts->n_labels > 0 && opts->labels == NULL) ||
	    (opts->n_containers > 0 && opts->containers == NULL))
		goto out;
	if ((ev = calloc(1, sizeof(*ev))) == NULL) {
		rv = ORCH_ENOMEM;
		goto out;
	}
	ev->d = d;
	ev->on_event = opts->on_event;
	ev->on_state = opts->on_state;
	ev->arg = opts->arg;
	ev->backoff_min_ms =
	    opts->backoff_min_ms > 0 ? opts->backoff_min_ms : 100;
	ev->backoff_max_ms =
	    opts->backoff_max_ms > 0 ? opts->backoff_max_ms : 5000;
	if (ev->backoff_max_ms < ev->backoff_min_ms)
		ev->backoff_max_ms = ev->backoff_min_ms;
	atomic_init(&ev->stop, false);
	ev->lines.fn = event_line;
	ev->lines.arg = ev;
	for (size_t i = 0; i < opts->n_labels; i++) {
		if (opts->labels[i].key == NULL ||
		    !filter_sayable(&opts->labels[i]))
			goto out; /* ORCH_EINVAL */
	}
	if ((ev->filters = filters_query(opts->labels, opts->n_labels,
	         opts->type, opts->containers, opts->n_containers, &rv)) ==
	    NULL)
		goto out;
	rv = ORCH_ENOMEM;
	if ((ev->multi = curl_multi_init()) == NULL)
		goto out;
	ev->cx.multi = ev->multi;
	ev->cx.stop = &ev->stop;
	rv = ORCH_ESYS;
	if (pthread_mutex_init(&ev->mu, NULL) != 0)
		goto out;
	sync = 1;
	if (pthread_condattr_init(&ca) != 0)
		goto out;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&ev->cv, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		goto out;
	}
	pthread_condattr_destroy(&ca);
	sync = 2;
	if (pthread_create(&ev->thread, NULL, events_main, ev) != 0)
		goto out;
	sync = 3;
	rv = ORCH_OK;
out:
	if (rv == ORCH_OK) {
		*out = ev;
	} else if (ev != NULL) {
		if (sync >= 2)
			pthread_cond_destroy(&ev->cv);
		if (sync >= 1)
			pthread_mutex_destroy(&ev->mu);
		events_free(ev);
	}
	return rv;
}

void
orch_docker_events_close(orch_docker_events *ev)
{
	if (ev == NULL)
		return;
	pthread_mutex_lock(&ev->mu);
	atomic_store(&ev->stop, true);
	pthread_cond_broadcast(&ev->cv);
	pthread_mutex_unlock(&ev->mu);
	curl_multi_wakeup(ev->multi);
	pthread_join(ev->thread, NULL);
	pthread_cond_destroy(&ev->cv);
	pthread_mutex_destroy(&ev->mu);
	events_free(ev);
}

/* ------------------------------------------------------------------------ */
/* As a runtime: the ops table over an orch_docker. */

static orch_err
rt_ping(void *impl, orch_diag *diag)
{
	return orch_docker_ping(impl, diag);
}

static orch_err
rt_create(void *impl, const orch_rt_create_spec *spec, char **id_out,
    orch_diag *diag)
{
	return orch_docker_create(impl, spec, id_out, diag);
}

static orch_err
rt_start(void *impl, const char *id, orch_diag *diag)
{
	return orch_docker_start(impl, id, diag);
}

static orch_err
rt_stop(void *impl, const char *id, int timeout_s, orch_diag *diag)
{
	return orch_docker_stop(impl, id, timeout_s, diag);
}

static orch_err
rt_kill(void *impl, const char *id, const char *sig, orch_diag *diag)
{
	return orch_docker_kill(impl, id, sig, diag);
}

static orch_err
rt_remove(void *impl, const char *id, bool force, orch_diag *diag)
{
	return orch_docker_remove(impl, id, force, diag);
}

static orch_err
rt_inspect(void *impl, const char *id, orch_rt_container *out, orch_diag *diag)
{
	return orch_docker_inspect(impl, id, out, diag);
}

static orch_err
rt_list(void *impl, const orch_rt_kv *match, size_t n_match,
    orch_rt_container **out, size_t *n_out, orch_diag *diag)
{
	return orch_docker_list(impl, match, n_match, out, n_out, diag);
}

static orch_err
rt_image_inspect(void *impl, const char *image, orch_diag *diag)
{
	return orch_docker_image_inspect(impl, image, diag);
}

static orch_err
rt_image_pull(void *impl, const char *image, int timeout_ms, orch_diag *diag)
{
	return orch_docker_image_pull(impl, image, timeout_ms, diag);
}

static orch_err
rt_events_open(
    void *impl, const orch_rt_events_opts *opts, orch_rt_events **out)
{
	orch_docker_events *ev = NULL;
	orch_err rv = orch_docker_events_open(impl, opts, &ev);

	/* The runtime's handle type is opaque: it is this stream. */
	*out = (orch_rt_events *) ev;
	return rv;
}

static void
rt_events_close(void *impl, orch_rt_events *ev)
{
	(void) impl;
	orch_docker_events_close((orch_docker_events *) ev);
}

static const orch_runtime_ops docker_ops = {
    .name = "docker",
    .ping = rt_ping,
    .create = rt_create,
    .start = rt_start,
    .stop = rt_stop,
    .kill = rt_kill,
    .remove = rt_remove,
    .inspect = rt_inspect,
    .list = rt_list,
    .image_inspect = rt_image_inspect,
    .image_pull = rt_image_pull,
    .events_open = rt_events_open,
    .events_close = rt_events_close,
};

void
orch_docker_runtime(orch_docker *d, orch_runtime *out)
{
	out->ops = &docker_ops;
	out->impl = d;
}
