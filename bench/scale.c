/*
 * bench/scale: 1,000 engines in state without 1,000 containers (issue 14,
 * item 4). What it measures, in one process and one run:
 *
 *   - the REAL health prober (src/engines/monitor) against real HTTP: an
 *     epoll responder in this process listens on one loopback port per
 *     engine and answers the engine's health probe as the simulator does
 *     (ENGINE_PROTOCOL.md: {"result":{"status":1},"error":null}). It
 *     stamps every probe, so the interval between two probes of the same
 *     engine is measured where the engine would see it;
 *   - the REAL gateway (h2o on 127.0.0.1, calling the RPC server's
 *     dispatch table directly, as bench/http_server.c wires it), on two
 *     stacks built in the same run: "small" (10 engines) and "large"
 *     (1,000 engines, 100,000 ended streams). GET /engines, GET
 *     /orchestrator/status, POST /engines/select and the event pair
 *     (stream_started, then stream_ended) with a fixed count of requests,
 *     one in flight, over a keep-alive libcurl handle, in ABBA slices;
 *   - RSS (VmRSS of /proc/self/status) per engine and per stream.
 *
 * Why an in-process responder rather than tools/sim: the simulator runs a
 * thread per connection and one listener, and the figure needs the arrival
 * time of each probe per engine, which only the responder sees.
 *
 * Engines are put in with orch_core_engine_put_locked() (a managed engine
 * as the manager would adopt it, published on 127.0.0.1:<its port>) with
 * health unknown; the monitor's start-up rounds make them healthy. The
 * stats collector's period is set to an hour so that the streams put in
 * for the RSS figure are never polled (the responder answers health only).
 *
 * Budgets are printed as "budget ... met/MISSED"; a miss is not an error
 * (the figures depend on the machine). The program exits non-zero when a
 * request fails, the state is not what was built, or the watchdog fires.
 * The last lines are "RESULT <name> <value>" for bench/run-all.
 *
 *   bazel run -c opt //bench:scale
 *   bazel run -c opt //bench:scale -- --requests 400 --rounds 3
 *
 * See bench/README.md ("scale").
 */
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/engines.h"
#include "proto/orchestrator.pb-c.h"
#include "src/base/log.h"
#include "src/base/time.h"
#include "src/core/clock.h"
#include "src/core/config.h"
#include "src/core/core.h"
#include "src/core/state.h"
#include "src/engines/monitor.h"
#include "src/gateway/gateway.h"
#include "src/rpc/server.h"
#include "src/service/service.h"

#define RESP_CONN_MAX 8192
#define RESP_BUF 2048
#define IV_CAP (1u << 20)
#define SLICE 20 /* requests per ABBA slice */

/* ------------------------------------------------------------------------ */
/* Small helpers. */

static int64_t
now_us(void)
{
	return orch_mono_ns() / 1000;
}

/* VmRSS in KiB, or -1. */
static long
rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

struct pct {
	double p50, p99, max;
	size_t n;
};

/* Sorts v in place. */
static struct pct
percentiles(int64_t *v, size_t n)
{
	struct pct p = {0};

	p.n = n;
	if (n == 0)
		return p;
	qsort(v, n, sizeof(*v), cmp_i64);
	p.p50 = (double) v[n / 2];
	p.p99 = (double) v[(n * 99) / 100];
	p.max = (double) v[n - 1];
	return p;
}

static const char *
verdict(bool ok)
{
	return ok ? "met" : "MISSED";
}

/* ------------------------------------------------------------------------ */
/* The responder: one epoll thread, one listener per engine. */

struct resp_conn {
	int fd;     /* -1: free */
	int port;   /* index of the listener it came in on */
	size_t len; /* bytes in buf */
	char buf[RESP_BUF];
};

struct responder {
	int ep;
	int n_ports;
	int port_base;
	int *lfd;
	struct resp_conn *conns;
	int *free_conns;
	int n_free;
	pthread_t thread;
	bool thread_ok;
	atomic_bool stop;
	atomic_uint_fast64_t errors; /* bad requests, full pool */
	/* Under mu: the probe stamps, and the intervals recorded. */
	pthread_mutex_t mu;
	int64_t *last_us;   /* per port: its last health probe */
	uint64_t *probes;   /* per port */
	int rec_lo, rec_hi; /* ports whose intervals are recorded */
	bool recording;
	int64_t *iv; /* intervals, µs */
	size_t n_iv;
};

#define TAG_LISTEN (1ULL << 32)

static const char HEALTH_REPLY[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    "Content-Length: 36\r\n\r\n"
    "{\"result\":{\"status\":1},\"error\":null}";
static const char NOT_FOUND_REPLY[] =
    "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
    "Content-Length: 21\r\n\r\n"
    "{\"error\":\"not found\"}";

static void
resp_stamp(struct responder *r, int port)
{
	int64_t t = now_us();

	pthread_mutex_lock(&r->mu);
	if (r->recording && port >= r->rec_lo && port < r->rec_hi &&
	    r->last_us[port] > 0 && r->n_iv < IV_CAP)
		r->iv[r->n_iv++] = t - r->last_us[port];
	r->last_us[port] = t;
	r->probes[port]++;
	pthread_mutex_unlock(&r->mu);
}

static void
resp_close(struct responder *r, int ci)
{
	struct resp_conn *c = &r->conns[ci];

	(void) epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->len = 0;
	r->free_conns[r->n_free++] = ci;
}

static void
resp_accept(struct responder *r, int port)
{
	for (;;) {
		int fd = accept4(r->lfd[port], NULL, NULL, SOCK_NONBLOCK);
		struct epoll_event ev = {0};
		int ci;

		if (fd < 0)
			break;
		if (r->n_free == 0) {
			atomic_fetch_add(&r->errors, 1);
			close(fd);
			continue;
		}
		ci = r->free_conns[--r->n_free];
		r->conns[ci].fd = fd;
		r->conns[ci].port = port;
		r->conns[ci].len = 0;
		ev.events = EPOLLIN;
		ev.data.u64 = (uint64_t) ci;
		if (epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
			resp_close(r, ci);
	}
}

/* Answers every complete request in c's buffer; false: close it. */
static bool
resp_serve(struct responder *r, struct resp_conn *c)
{
	char *end;

	while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) != NULL) {
		size_t used = (size_t) (end - c->buf) + 4;
		bool health =
		    c->len > 16 &&
		    memcmp(c->buf, "GET /server/api?", 16) == 0 &&
		    memmem(c->buf, used, "method=get_status", 17) != NULL;
		const char *reply = health ? HEALTH_REPLY : NOT_FOUND_REPLY;
		size_t n = health ? sizeof(HEALTH_REPLY) - 1
		                  : sizeof(NOT_FOUND_REPLY) - 1;

		if (!health)
			atomic_fetch_add(&r->errors, 1);
		else
			resp_stamp(r, c->port);
		/* A reply this small fits a fresh socket buffer. */
		if (send(c->fd, reply, n, MSG_NOSIGNAL) != (ssize_t) n)
			return false;
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
	}
	return c->len < sizeof(c->buf);
}

static void *
resp_main(void *arg)
{
	struct responder *r = arg;
	struct epoll_event evs[256];

	while (!atomic_load(&r->stop)) {
		int n = epoll_wait(r->ep, evs, 256, 100);

		for (int i = 0; i < n; i++) {
			uint64_t d = evs[i].data.u64;
			struct resp_conn *c;
			ssize_t got;

			if (d & TAG_LISTEN) {
				resp_accept(r, (int) (d & 0xffffffffu));
				continue;
			}
			c = &r->conns[d];
			got = read(
			    c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
			if (got < 0 && errno == EAGAIN)
				continue;
			if (got <= 0) {
				resp_close(r, (int) d);
				continue;
			}
			c->len += (size_t) got;
			if (!resp_serve(r, c))
				resp_close(r, (int) d);
		}
	}
	return NULL;
}

static void
resp_close_all(struct responder *r)
{
	if (r->thread_ok) {
		atomic_store(&r->stop, true);
		pthread_join(r->thread, NULL);
	}
	for (int i = 0; r->conns != NULL && i < RESP_CONN_MAX; i++)
		if (r->conns[i].fd >= 0)
			close(r->conns[i].fd);
	for (int i = 0; r->lfd != NULL && i < r->n_ports; i++)
		if (r->lfd[i] >= 0)
			close(r->lfd[i]);
	if (r->ep >= 0)
		close(r->ep);
	free(r->lfd);
	free(r->conns);
	free(r->free_conns);
	free(r->last_us);
	free(r->probes);
	free(r->iv);
	pthread_mutex_destroy(&r->mu);
}

/* Listens on 127.0.0.1:port_base .. port_base + n - 1. Everything it
 * will use is allocated and touched here, so that its memory is in the
 * RSS before any engine is. */
static int
resp_open(struct responder *r, int port_base, int n)
{
	memset(r, 0, sizeof(*r));
	r->ep = -1;
	pthread_mutex_init(&r->mu, NULL);
	r->n_ports = n;
	r->port_base = port_base;
	r->lfd = malloc((size_t) n * sizeof(int));
	r->conns = calloc(RESP_CONN_MAX, sizeof(*r->conns));
	r->free_conns = malloc(RESP_CONN_MAX * sizeof(int));
	r->last_us = calloc((size_t) n, sizeof(int64_t));
	r->probes = calloc((size_t) n, sizeof(uint64_t));
	r->iv = calloc(IV_CAP, sizeof(int64_t));
	if (r->lfd == NULL || r->conns == NULL || r->free_conns == NULL ||
	    r->last_us == NULL || r->probes == NULL || r->iv == NULL)
		return -1;
	memset(r->iv, 0, IV_CAP * sizeof(int64_t));
	memset(r->conns, 0, RESP_CONN_MAX * sizeof(*r->conns));
	for (int i = 0; i < n; i++)
		r->lfd[i] = -1;
	for (int i = 0; i < RESP_CONN_MAX; i++) {
		r->conns[i].fd = -1;
		r->free_conns[i] = RESP_CONN_MAX - 1 - i;
	}
	r->n_free = RESP_CONN_MAX;
	r->ep = epoll_create1(0);
	if (r->ep < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		struct sockaddr_in a = {0};
		struct epoll_event ev = {0};
		int one = 1;

		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a.sin_port = htons((uint16_t) (port_base + i));
		r->lfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (r->lfd[i] < 0)
			return -1;
		(void) setsockopt(
		    r->lfd[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(r->lfd[i], (struct sockaddr *) &a, sizeof(a)) != 0 ||
		    listen(r->lfd[i], 64) != 0) {
			fprintf(stderr,
			    "scale: 127.0.0.1:%d: %s (--port-base)\n",
			    port_base + i, strerror(errno));
			return -1;
		}
		ev.events = EPOLLIN;
		ev.data.u64 = TAG_LISTEN | (uint64_t) i;
		if (epoll_ctl(r->ep, EPOLL_CTL_ADD, r->lfd[i], &ev) != 0)
			return -1;
	}
	r->thread_ok = pthread_create(&r->thread, NULL, resp_main, r) == 0;
	return r->thread_ok ? 0 : -1;
}

static void
resp_record(struct responder *r, bool on, int lo, int hi)
{
	pthread_mutex_lock(&r->mu);
	r->recording = on;
	r->rec_lo = lo;
	r->rec_hi = hi;
	pthread_mutex_unlock(&r->mu);
}

/* ------------------------------------------------------------------------ */
/* A stack: core, RPC server, gateway, monitor. */

struct stack {
	const char *name;
	int n_engines;
	int port0; /* its engines' first port */
	orch_config cfg;
	bool cfg_ok;
	orch_core core;
	bool core_ok;
	orch_service svc;
	orch_rpc_server *srv;
	orch_gw *gw;
	orch_monitor *mon;
	char base[64]; /* http://127.0.0.1:<gateway port> */
	uint64_t seq;  /* streams started through it */
};

static int
stack_open(struct stack *s, const char *name, int ended_max, int interval_s,
    int port_lo, int port_hi)
{
	orch_rpc_server_opts so = {0};
	orch_core_opts co = {0};
	orch_gw_opts go = {0};
	orch_env env = {0};
	char url[64];

	memset(s, 0, sizeof(*s));
	s->name = name;
	orch_config_defaults(&s->cfg);
	s->cfg_ok = true;
	s->cfg.max_replicas = 2000;
	s->cfg.max_streams_per_engine = 1000; /* streams never fill one */
	s->cfg.port_range_host.lo = port_lo;
	s->cfg.port_range_host.hi = port_hi;
	s->cfg.health_check_interval_s = interval_s;
	s->cfg.collect_interval_s = 3600; /* no stats polls (see top) */
	co.ended_max = ended_max;
	if (orch_core_init(&s->core, &s->cfg, orch_clock_system(), &co) !=
	    ORCH_OK)
		return -1;
	s->core_ok = true;
	env.docker_ok = true;
	env.image_ok = true;
	orch_core_set_env(&s->core, &env);
	s->svc.core = &s->core;
	so.methods = orch_service_methods(&so.n_methods);
	so.authorize = orch_service_authorize;
	so.service = &orch__orchestrator__descriptor;
	so.arg = &s->svc;
	snprintf(url, sizeof(url), "inproc://bench-scale-%s", name);
	if (orch_rpc_server_open(&so, &s->srv) != ORCH_OK ||
	    orch_rpc_server_listen(s->srv, url) != ORCH_OK)
		return -1;
	go.host = "127.0.0.1";
	go.port = 0;
	go.threads = 2; /* as http_server and orchestratord on 2 CPUs */
	go.direct = s->srv;
	if (orch_gw_start(&go, &s->gw) != ORCH_OK)
		return -1;
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d",
	    orch_gw_port(s->gw));
	if (orch_monitor_open(&s->core, &s->mon) != ORCH_OK ||
	    orch_monitor_start(s->mon) != ORCH_OK)
		return -1;
	return 0;
}

static void
stack_close(struct stack *s)
{
	orch_monitor_close(s->mon);
	s->mon = NULL;
	orch_gw_stop(s->gw);
	s->gw = NULL;
	orch_rpc_server_close(s->srv);
	s->srv = NULL;
	if (s->core_ok)
		orch_core_fini(&s->core);
	s->core_ok = false;
	if (s->cfg_ok)
		orch_config_fini(&s->cfg);
	s->cfg_ok = false;
}

/* Puts n managed engines on ports port0 .. port0 + n - 1, health
 * unknown: the monitor is what makes them healthy. */
static int
stack_put_engines(struct stack *s, int n, int port0)
{
	int bad = 0;

	s->port0 = port0;
	orch_core_lock(&s->core);
	for (int i = 0; i < n && !bad; i++) {
		if (bench_put_engine_locked(&s->core, (uint64_t) (port0 + i),
		        i + 1, port0 + i) == NULL)
			bad = 1;
	}
	if (!bad && s->core.state.counts.engines != n)
		bad = 1;
	orch_core_unlock(&s->core);
	s->n_engines = n;
	if (bad)
		fprintf(
		    stderr, "scale: %s: cannot put %d engines\n", s->name, n);
	return bad ? -1 : 0;
}

static orch_state_counts
stack_counts(struct stack *s)
{
	orch_state_counts c;

	orch_core_lock(&s->core);
	c = s->core.state.counts;
	orch_core_unlock(&s->core);
	return c;
}

/* Waits until every engine is healthy; ms it took, or -1 after limit_ms. */
static int64_t
stack_wait_healthy(struct stack *s, int64_t t0_ms, int64_t limit_ms)
{
	for (;;) {
		int64_t t = orch_mono_ms();

		if (stack_counts(s).healthy == s->n_engines)
			return t - t0_ms;
		if (t - t0_ms > limit_ms)
			return -1;
		usleep(2000);
	}
}

/* The fields of stream number n on s. */
static void
stream_body(struct stack *s, uint64_t n, char *key, char *session,
    char *stat_url, char *cmd_url, int *port)
{
	*port = s->port0 + (int) (n % (uint64_t) s->n_engines);
	snprintf(key, 48, "%016llx%016llx%08llx",
	    (unsigned long long) bench_mix64(n),
	    (unsigned long long) bench_mix64(~n),
	    (unsigned long long) (n & 0xffffffffu));
	snprintf(session, 48, "%s-%llx", s->name, (unsigned long long) n);
	snprintf(stat_url, 160, "http://127.0.0.1:%d/ace/stat/%s/%s", *port,
	    key, session);
	snprintf(cmd_url, 160, "http://127.0.0.1:%d/ace/cmd/%s/%s", *port, key,
	    session);
}

/* Starts `active` streams (left active) on s directly in state. */
static int
stack_start_streams(struct stack *s, int count, bool end)
{
	int bad = 0;
	int64_t now;

	orch_core_lock(&s->core);
	now = orch_core_now(&s->core);
	for (int i = 0; i < count && !bad; i++) {
		char key[48], session[48], stat_url[160], cmd_url[160];
		orch_stream_start ev = {0};
		orch_stream *st = NULL, *ended = NULL;
		int port;

		stream_body(
		    s, s->seq++, key, session, stat_url, cmd_url, &port);
		ev.host = "127.0.0.1";
		ev.port = port;
		ev.key_type = "content_id";
		ev.key = key;
		ev.playback_session_id = session;
		ev.stat_url = stat_url;
		ev.command_url = cmd_url;
		ev.is_live = true;
		if (orch_state_stream_start(&s->core.state, &ev, now, &st) !=
		        ORCH_OK ||
		    st == NULL)
			bad = 1;
		else if (end && (orch_state_stream_end(&s->core.state, st->id,
		                     NULL, NULL, now, &ended) != ORCH_OK ||
		                    ended != st))
			bad = 1;
	}
	orch_core_unlock(&s->core);
	return bad ? -1 : 0;
}

/* Ends every active stream of s. */
static int
stack_end_all(struct stack *s)
{
	int bad = 0;
	int64_t now;
	uint64_t n_active;

	orch_core_lock(&s->core);
	now = orch_core_now(&s->core);
	n_active = s->seq;
	for (uint64_t n = 0; n < n_active && !bad; n++) {
		char key[48], session[48], stat_url[160], cmd_url[160];
		char id[128];
		orch_stream *ended = NULL;
		int port;

		stream_body(s, n, key, session, stat_url, cmd_url, &port);
		/* CONTRACT.md's default stream id: "<key>|<session>". */
		snprintf(id, sizeof(id), "%s|%s", key, session);
		if (orch_state_stream_get(&s->core.state, id) == NULL)
			continue;
		if (orch_state_stream_end(&s->core.state, id, NULL, NULL, now,
		        &ended) != ORCH_OK ||
		    ended == NULL)
			bad = 1;
	}
	orch_core_unlock(&s->core);
	return bad ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* The HTTP client: one keep-alive libcurl handle per stack. */

struct client {
	CURL *h;
	struct curl_slist *hdr;
	char *body;
	size_t len, cap;
	bool oom;
};

static size_t
client_write(char *p, size_t size, size_t n, void *arg)
{
	struct client *c = arg;
	size_t add = size * n;

	if (c->len + add + 1 > c->cap) {
		size_t ncap = c->cap ? c->cap : 4096;
		char *nb;

		while (ncap < c->len + add + 1)
			ncap *= 2;
		nb = realloc(c->body, ncap);
		if (nb == NULL) {
			c->oom = true;
			return 0;
		}
		c->body = nb;
		c->cap = ncap;
	}
	memcpy(c->body + c->len, p, add);
	c->len += add;
	c->body[c->len] = '\0';
	return add;
}

static int
client_open(struct client *c)
{
	memset(c, 0, sizeof(*c));
	c->h = curl_easy_init();
	c->hdr = curl_slist_append(NULL, "Content-Type: application/json");
	if (c->h == NULL || c->hdr == NULL)
		return -1;
	curl_easy_setopt(c->h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, client_write);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdr);
	return 0;
}

static void
client_close(struct client *c)
{
	if (c->h != NULL)
		curl_easy_cleanup(c->h);
	curl_slist_free_all(c->hdr);
	free(c->body);
	memset(c, 0, sizeof(*c));
}

/* One request; its HTTP status (0: transport error). The reply's body is
 * in c->body until the next call. */
static long
client_call(
    struct client *c, const char *base, const char *path, const char *post)
{
	char url[256];
	long st = 0;

	snprintf(url, sizeof(url), "%s%s", base, path);
	c->len = 0;
	if (c->body != NULL)
		c->body[0] = '\0';
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	if (post != NULL) {
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, post);
		curl_easy_setopt(
		    c->h, CURLOPT_POSTFIELDSIZE, (long) strlen(post));
	} else {
		curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
	}
	if (curl_easy_perform(c->h) == CURLE_OK && !c->oom)
		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &st);
	return st;
}

/* ------------------------------------------------------------------------ */
/* The rows. */

enum row_kind { ROW_ENGINES, ROW_STATUS, ROW_SELECT, ROW_EVENTS, N_ROWS };

static const char *const ROW_NAME[N_ROWS] = {
    "GET /engines",
    "GET /orchestrator/status",
    "POST /engines/select",
    "event pair (started+ended)",
};

static const char *const ROW_KEY[N_ROWS] = {
    "engines", "status", "select", "events"};

struct samples {
	int64_t *v; /* µs */
	size_t n, cap;
	uint64_t errors;
	size_t body; /* last GET /engines body, bytes */
};

/* Counts occurrences of needle in hay. */
static int
count_of(const char *hay, const char *needle)
{
	int n = 0;
	size_t l = strlen(needle);

	while (hay != NULL && (hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += l;
	}
	return n;
}

/* One request (or pair) of kind k on s; its time in µs, or -1. */
static int64_t
one_call(struct client *c, struct stack *s, enum row_kind k, bool check)
{
	char body[768], want[64];
	int64_t t0 = now_us(), t1;
	long st;

	switch (k) {
	case ROW_ENGINES:
		st = client_call(c, s->base, "/engines", NULL);
		t1 = now_us();
		if (st != 200 ||
		    (check &&
		        count_of(c->body, "\"container_id\"") != s->n_engines))
			return -1;
		return t1 - t0;
	case ROW_STATUS:
		st = client_call(c, s->base, "/orchestrator/status", NULL);
		t1 = now_us();
		snprintf(want, sizeof(want), "\"healthy\":%d", s->n_engines);
		if (st != 200 || (check && strstr(c->body, want) == NULL))
			return -1;
		return t1 - t0;
	case ROW_SELECT:
		st = client_call(
		    c, s->base, "/engines/select", "{\"reserve\":false}");
		t1 = now_us();
		if (st != 200 ||
		    (check && strstr(c->body, "\"container_id\"") == NULL))
			return -1;
		return t1 - t0;
	case ROW_EVENTS: {
		char key[48], session[48], stat_url[160], cmd_url[160];
		char id[128];
		int port;

		stream_body(
		    s, s->seq++, key, session, stat_url, cmd_url, &port);
		snprintf(body, sizeof(body),
		    "{\"container_id\":\"acexy-bench\","
		    "\"engine\":{\"host\":\"127.0.0.1\",\"port\":%d},"
		    "\"stream\":{\"key_type\":\"content_id\",\"key\":\"%s\"},"
		    "\"session\":{\"playback_session_id\":\"%s\","
		    "\"stat_url\":\"%s\",\"command_url\":\"%s\","
		    "\"is_live\":1},\"labels\":{}}",
		    port, key, session, stat_url, cmd_url);
		st = client_call(c, s->base, "/events/stream_started", body);
		if (st != 200 || c->body == NULL ||
		    sscanf(c->body, "{\"id\":\"%127[^\"]\"", id) != 1)
			return -1;
		snprintf(body, sizeof(body),
		    "{\"stream_id\":\"%s\",\"reason\":\"bench\"}", id);
		st = client_call(c, s->base, "/events/stream_ended", body);
		t1 = now_us();
		if (st != 200 || strstr(c->body, "\"updated\":true") == NULL)
			return -1;
		return t1 - t0;
	}
	default:
		return -1;
	}
}

/* A slice: warm requests unrecorded, then count recorded ones. */
static int
slice(struct client *c, struct stack *s, enum row_kind k, int warm, int count,
    struct samples *out)
{
	for (int i = 0; i < warm + count; i++) {
		int64_t us =
		    one_call(c, s, k, i == warm || i + 1 == warm + count);

		if (us < 0) {
			out->errors++;
			if (out->errors <= 3)
				fprintf(stderr,
				    "scale: %s %s failed: %.200s\n", s->name,
				    ROW_NAME[k],
				    c->body ? c->body : "(no body)");
			continue;
		}
		if (i < warm)
			continue;
		if (out->n == out->cap) {
			size_t ncap = out->cap ? out->cap * 2 : 1024;
			int64_t *nv = realloc(out->v, ncap * sizeof(*nv));

			if (nv == NULL)
				return -1;
			out->v = nv;
			out->cap = ncap;
		}
		out->v[out->n++] = us;
	}
	if (k == ROW_ENGINES)
		out->body = c->len;
	return 0;
}

/*
 * Puts the whole process (every thread started after this) on one CPU of
 * those it may use; that CPU's number, or -1. Why: on 2 cores, a request
 * over loopback takes ~50 µs when the client and the gateway's loop thread
 * hand off on one core and ~130 µs when the loop thread is woken on the
 * other, and which of the two a stack settles in depends on where its
 * threads land, not on its size (10 against 11 engines gave large/small
 * ratios from 0.9 to 6.8 unpinned, 0.96 to 1.08 pinned). On one CPU both
 * stacks pay the same hand-off, so the ratio shows the state's cost.
 */
static int
pin_one_cpu(void)
{
	cpu_set_t set;
	int cpu = -1;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return -1;
	for (int i = 0; i < CPU_SETSIZE && cpu < 0; i++)
		if (CPU_ISSET(i, &set))
			cpu = i;
	if (cpu < 0)
		return -1;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0 ? cpu : -1;
}

/* ------------------------------------------------------------------------ */

static void
usage(FILE *f)
{
	fprintf(f, "usage: scale [--engines N] [--small N] [--requests N] "
	           "[--interval S]\n"
	           "             [--rounds R] [--streams N] [--ended N] "
	           "[--port-base P] [--max-seconds S] [--pin 0|1]\n");
}

struct opts {
	int engines, small, requests, interval, rounds, streams, ended;
	int port_base, max_s, pin;
};

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	o->engines = 1000;
	o->small = 10;
	o->requests = 2000;
	o->interval = 2;
	o->rounds = 6;
	o->streams = 10000;
	o->ended = 100000;
	o->port_base = 23000;
	o->max_s = 300;
	o->pin = 1;
	for (int i = 1; i < argc; i++) {
		int *dst = NULL;

		if (i + 1 >= argc)
			return -1;
		if (strcmp(argv[i], "--engines") == 0)
			dst = &o->engines;
		else if (strcmp(argv[i], "--small") == 0)
			dst = &o->small;
		else if (strcmp(argv[i], "--requests") == 0)
			dst = &o->requests;
		else if (strcmp(argv[i], "--interval") == 0)
			dst = &o->interval;
		else if (strcmp(argv[i], "--rounds") == 0)
			dst = &o->rounds;
		else if (strcmp(argv[i], "--streams") == 0)
			dst = &o->streams;
		else if (strcmp(argv[i], "--ended") == 0)
			dst = &o->ended;
		else if (strcmp(argv[i], "--port-base") == 0)
			dst = &o->port_base;
		else if (strcmp(argv[i], "--max-seconds") == 0)
			dst = &o->max_s;
		else if (strcmp(argv[i], "--pin") == 0)
			dst = &o->pin;
		else
			return -1;
		*dst = atoi(argv[++i]);
	}
	if (o->engines < 10 || o->engines > 5000 || o->small < 1 ||
	    o->small >= o->engines || o->requests < 8 || o->interval < 1 ||
	    o->rounds < 2 || o->streams < 1 || o->ended < o->streams ||
	    o->ended > ORCH_CORE_ENDED_MAX || o->port_base < 1024 ||
	    o->port_base + o->engines + o->small > 65535 || o->max_s < 10)
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct responder resp;
	bool resp_ok = false;
	struct stack small = {0}, large = {0};
	struct client cs = {0}, cl = {0};
	struct samples sm[N_ROWS], lg[N_ROWS];
	struct pct ps[N_ROWS], pl[N_ROWS], piv;
	struct rlimit rl;
	long rss0, rss1, rss2, rss3, rss4;
	int64_t healthy_ms, rec_t0, period_us;
	uint64_t errors = 0, probes_large = 0, probes_min = UINT64_MAX;
	size_t over = 0;
	int rv = 1, cpu = -1;

	memset(sm, 0, sizeof(sm));
	memset(lg, 0, sizeof(lg));
	if (parse_opts(argc, argv, &o) != 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned) o.max_s); /* the watchdog: SIGALRM's default */
	/* Before any thread: they inherit it. */
	if (o.pin && (cpu = pin_one_cpu()) < 0) {
		fprintf(stderr, "scale: cannot pin to one CPU (--pin 0)\n");
		goto out;
	}
	/* 2,000 "engine is healthy" lines would bury the report. */
	orch_log_set_level(ORCH_LOG_WARN);
	/* 1,000 listeners, their connections, the prober's sockets. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void) setrlimit(RLIMIT_NOFILE, &rl);
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	period_us = (int64_t) o.interval * 1000000;

	/* Ports: large's engines first, then small's. */
	if (resp_open(&resp, o.port_base, o.engines + o.small) != 0) {
		fprintf(stderr, "scale: cannot start the responder\n");
		goto out;
	}
	resp_ok = true;
	if (stack_open(&small, "small", 1, o.interval, o.port_base + o.engines,
	        o.port_base + o.engines + o.small) != 0 ||
	    stack_put_engines(&small, o.small, o.port_base + o.engines) != 0 ||
	    stack_open(&large, "large", o.ended, o.interval, o.port_base,
	        o.port_base + o.engines) != 0 ||
	    client_open(&cs) != 0 || client_open(&cl) != 0) {
		fprintf(stderr, "scale: cannot build the stacks\n");
		goto out;
	}
	large.port0 = o.port_base;
	if (stack_wait_healthy(&small, orch_mono_ms(), 10000) < 0) {
		fprintf(stderr, "scale: small: engines not healthy in 10 s\n");
		goto out;
	}
	/* The large stack with no engine, its gateway warm: the base. */
	for (int i = 0; i < 50; i++)
		if (client_call(&cl, large.base, "/orchestrator/status",
		        NULL) != 200 ||
		    client_call(&cl, large.base, "/engines", NULL) != 200) {
			fprintf(
			    stderr, "scale: large: gateway not answering\n");
			goto out;
		}
	rss0 = rss_kib();

	/* 1,000 engines, health unknown; the real prober makes them
	 * healthy (start-up rounds), then probes them every period. */
	{
		int64_t t0 = orch_mono_ms();

		if (stack_put_engines(&large, o.engines, o.port_base) != 0)
			goto out;
		healthy_ms = stack_wait_healthy(&large, t0, 30000);
		if (healthy_ms < 0) {
			fprintf(stderr,
			    "scale: large: %d of %d engines healthy after 30 "
			    "s\n",
			    stack_counts(&large).healthy, o.engines);
			goto out;
		}
	}
	/* A regular round over all of them, and a GET /engines. */
	usleep((useconds_t) (period_us + 200000));
	if (one_call(&cl, &large, ROW_ENGINES, true) < 0) {
		fprintf(stderr,
		    "scale: large: GET /engines is not %d engines\n",
		    o.engines);
		goto out;
	}
	rss1 = rss_kib();

	/* Streams, put in state directly: active, then ended. */
	if (stack_start_streams(&large, o.streams, false) != 0)
		goto out;
	rss2 = rss_kib();
	if (stack_end_all(&large) != 0 ||
	    stack_start_streams(&large, o.ended - o.streams, true) != 0)
		goto out;
	rss3 = rss_kib();
	{
		orch_state_counts c = stack_counts(&large);

		if (c.streams_active != 0 || c.streams_total != o.ended) {
			fprintf(stderr,
			    "scale: large: %d active, %d streams held (want "
			    "0, "
			    "%d)\n",
			    c.streams_active, c.streams_total, o.ended);
			goto out;
		}
	}

	/* Probe intervals of the large stack's engines, recorded while the
	 * HTTP rows run and until `rounds` periods have passed. */
	resp_record(&resp, true, 0, o.engines);
	rec_t0 = orch_mono_ms();
	for (int k = 0; k < N_ROWS; k++) {
		/* GET /engines at 1,000 engines is ~100x the others. */
		int count = k == ROW_ENGINES ? o.requests / 4 : o.requests;
		int per = count / 4 < SLICE ? count / 4 : SLICE;
		int n_sl = 2 * (count / per);

		/* ABBA in short slices (small, large, large, small, ...): the
		 * machine's changes of pace, and the large stack's probe
		 * rounds, fall on both stacks alike. */
		for (int sl = 0; sl < n_sl; sl++) {
			bool lg_turn = (sl % 4 == 1 || sl % 4 == 2);
			int warm = sl < 2 ? 20 : 0;

			if (slice(lg_turn ? &cl : &cs,
			        lg_turn ? &large : &small, (enum row_kind) k,
			        warm, per, lg_turn ? &lg[k] : &sm[k]) != 0)
				goto out;
		}
	}
	while (
	    orch_mono_ms() - rec_t0 < (int64_t) o.rounds * o.interval * 1000)
		usleep(50000);
	resp_record(&resp, false, 0, 0);
	rss4 = rss_kib();

	/* ---- the report ---- */
	pthread_mutex_lock(&resp.mu);
	piv = percentiles(resp.iv, resp.n_iv);
	for (size_t i = 0; i < resp.n_iv; i++)
		if (resp.iv[i] > period_us + period_us / 2)
			over++;
	for (int i = 0; i < o.engines; i++) {
		probes_large += resp.probes[i];
		if (resp.probes[i] < probes_min)
			probes_min = resp.probes[i];
	}
	pthread_mutex_unlock(&resp.mu);
	for (int k = 0; k < N_ROWS; k++) {
		errors += sm[k].errors + lg[k].errors;
		ps[k] = percentiles(sm[k].v, sm[k].n);
		pl[k] = percentiles(lg[k].v, lg[k].n);
	}
	errors += atomic_load(&resp.errors);

	printf("scale: %ld CPUs, %s; %d engines (large) vs %d (small), each "
	       "stack: core + RPC server + h2o gateway (2 loops) + monitor; "
	       "HEALTH_CHECK_INTERVAL_S=%d\n",
	    sysconf(_SC_NPROCESSORS_ONLN),
	    cpu >= 0 ? "the process pinned to one (--pin 0: not)"
	             : "not pinned",
	    o.engines, o.small, o.interval);
	printf("\nprober (real monitor, real HTTP to %d loopback ports):\n",
	    o.engines);
	printf("  all %d engines healthy %lld ms after they were put in state "
	       "(start-up rounds)\n",
	    o.engines, (long long) healthy_ms);
	printf("  interval between two probes of one engine, %zu samples "
	       "over %d periods:\n"
	       "    p50 %.0f ms  p99 %.0f ms  max %.0f ms  (period %d ms); "
	       "gaps > 1.5 periods: %zu\n",
	    piv.n, o.rounds, piv.p50 / 1e3, piv.p99 / 1e3, piv.max / 1e3,
	    o.interval * 1000, over);

	printf("\nHTTP over the gateway, one request in flight, keep-alive "
	       "(GET /engines %zu requests a stack, the others %zu; ABBA "
	       "slices of %d):\n",
	    lg[ROW_ENGINES].n, lg[ROW_STATUS].n, SLICE);
	printf("  %-28s %9s %9s %9s %9s %8s %8s %6s\n", "row", "small p50",
	    "small p99", "large p50", "large p99", "x p50", "x p99", "errs");
	for (int k = 0; k < N_ROWS; k++)
		printf("  %-28s %9.0f %9.0f %9.0f %9.0f %8.2f %8.2f %6llu\n",
		    ROW_NAME[k], ps[k].p50, ps[k].p99, pl[k].p50, pl[k].p99,
		    ps[k].p50 > 0 ? pl[k].p50 / ps[k].p50 : 0,
		    ps[k].p99 > 0 ? pl[k].p99 / ps[k].p99 : 0,
		    (unsigned long long) (sm[k].errors + lg[k].errors));
	printf("  (µs; x = large / small)\n");
	{
		double per_engine =
		    (pl[ROW_ENGINES].p50 - ps[ROW_ENGINES].p50) /
		    (double) (o.engines - o.small);
		double per_kb =
		    (pl[ROW_ENGINES].p50 - ps[ROW_ENGINES].p50) /
		    ((double) (lg[ROW_ENGINES].body - sm[ROW_ENGINES].body) /
		        1024.0);

		printf("  GET /engines body: %zu bytes (small), %zu bytes "
		       "(large); %.2f µs per engine, %.2f µs per KiB at p50\n",
		    sm[ROW_ENGINES].body, lg[ROW_ENGINES].body, per_engine,
		    per_kb);

		printf("\nmemory (VmRSS):\n");
		printf("  base %ld KiB; +%d engines %ld KiB; +%d active "
		       "streams %ld KiB; %d ended %ld KiB; after the rows %ld "
		       "KiB\n",
		    rss0, o.engines, rss1, o.streams, rss2, o.ended, rss3,
		    rss4);
		{
			double kib_engine = (double) (rss1 - rss0) / o.engines;
			double b_active =
			    (double) (rss2 - rss1) * 1024.0 / o.streams;
			double b_ended =
			    (double) (rss3 - rss1) * 1024.0 / o.ended;
			bool iv_ok = piv.n > 0 &&
			             piv.p50 >= 0.95 * period_us &&
			             piv.p50 <= 1.05 * period_us &&
			             piv.p99 <= 1.10 * period_us && over == 0;
			const int fast[3] = {
			    ROW_STATUS, ROW_SELECT, ROW_EVENTS};
			bool p99_ok = true;

			printf("  per engine %.1f KiB; per active stream %.0f "
			       "bytes; per ended stream %.0f bytes\n",
			    kib_engine, b_active, b_ended);

			printf("\nbudgets:\n");
			printf("  budget all engines healthy <= 1000 ms after "
			       "put: %lld ms %s\n",
			    (long long) healthy_ms,
			    verdict(healthy_ms <= 1000));
			printf("  budget probe interval p50 within 5%% of the "
			       "period, p99 <= 1.10 x, no gap > 1.5 x: p50 "
			       "%.3f x, p99 %.3f x, %zu gaps %s\n",
			    piv.p50 / period_us, piv.p99 / period_us, over,
			    verdict(iv_ok));
			for (int i = 0; i < 3; i++) {
				int k = fast[i];
				double x = pl[k].p50 / ps[k].p50;

				if (pl[k].p99 > 5000)
					p99_ok = false;
				printf(
				    "  budget %s large/small p50 <= 1.5: %.2f "
				    "%s\n",
				    ROW_NAME[k], x, verdict(x <= 1.5));
			}
			printf(
			    "  budget status, select, events p99 <= 5 ms at "
			    "%d engines: %.0f / %.0f / %.0f µs %s\n",
			    o.engines, pl[ROW_STATUS].p99, pl[ROW_SELECT].p99,
			    pl[ROW_EVENTS].p99, verdict(p99_ok));
			printf("  budget GET /engines p99 <= 50 ms at %d "
			       "engines: "
			       "%.0f µs %s\n",
			    o.engines, pl[ROW_ENGINES].p99,
			    verdict(pl[ROW_ENGINES].p99 <= 50000));
			printf("  budget GET /engines <= 10 µs per engine at "
			       "p50: "
			       "%.2f %s\n",
			    per_engine, verdict(per_engine <= 10.0));
			printf("  budget RSS <= 32 KiB per engine: %.1f %s\n",
			    kib_engine, verdict(kib_engine <= 32.0));
			printf("  budget RSS <= 4096 bytes per active stream: "
			       "%.0f %s\n",
			    b_active, verdict(b_active <= 4096.0));
			printf("  budget RSS <= 2048 bytes per ended stream: "
			       "%.0f "
			       "%s\n",
			    b_ended, verdict(b_ended <= 2048.0));

			printf(
			    "\nprobes answered: %llu to the large stack's "
			    "engines (fewest for one engine: %llu); errors: "
			    "%llu\n",
			    (unsigned long long) probes_large,
			    (unsigned long long) probes_min,
			    (unsigned long long) errors);

			printf("\nRESULT scale.healthy_ms %lld\n",
			    (long long) healthy_ms);
			printf("RESULT scale.probe_interval_p50_ms %.1f\n",
			    piv.p50 / 1e3);
			printf("RESULT scale.probe_interval_p99_ms %.1f\n",
			    piv.p99 / 1e3);
			printf("RESULT scale.probe_interval_max_ms %.1f\n",
			    piv.max / 1e3);
			printf(
			    "RESULT scale.period_ms %d\n", o.interval * 1000);
			for (int k = 0; k < N_ROWS; k++) {
				printf("RESULT scale.%s.small_p50_us %.0f\n",
				    ROW_KEY[k], ps[k].p50);
				printf("RESULT scale.%s.small_p99_us %.0f\n",
				    ROW_KEY[k], ps[k].p99);
				printf("RESULT scale.%s.large_p50_us %.0f\n",
				    ROW_KEY[k], pl[k].p50);
				printf("RESULT scale.%s.large_p99_us %.0f\n",
				    ROW_KEY[k], pl[k].p99);
			}
			printf("RESULT scale.engines_us_per_engine %.2f\n",
			    per_engine);
			printf("RESULT scale.engines_body_large %zu\n",
			    lg[ROW_ENGINES].body);
			printf("RESULT scale.rss_kib_per_engine %.1f\n",
			    kib_engine);
			printf(
			    "RESULT scale.rss_bytes_per_active_stream %.0f\n",
			    b_active);
			printf(
			    "RESULT scale.rss_bytes_per_ended_stream %.0f\n",
			    b_ended);
			printf("RESULT scale.errors %llu\n",
			    (unsigned long long) errors);
		}
	}
	rv = errors == 0 && probes_min > 0 ? 0 : 1;
out:
	client_close(&cs);
	client_close(&cl);
	stack_close(&large);
	stack_close(&small);
	if (resp_ok)
		resp_close_all(&resp);
	for (int k = 0; k < N_ROWS; k++) {
		free(sm[k].v);
		free(lg[k].v);
	}
	curl_global_cleanup();
	return rv;
}
