#include "src/engines/monitor.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/base/cond.h"
#include "src/base/log.h"
#include "src/base/time.h"
#include "src/core/control.h"
#include "src/probe/engine.h"
#include "src/probe/http_multi.h"

#define PROBE_TIMEOUT_MS 5000 /* CONTRACT.md "Health": within 5 s */
#define URL_MAX 2400
typedef struct target {
	/* engine container id, or stream id: as long as the id is (a
	 * stream id is key|session and may be kilobytes; a fixed 512-byte
	 * buffer left such streams unpolled). Reused across rounds. */
	char *id;
	size_t id_cap;
	char url[URL_MAX];
} target;

struct orch_monitor {
	orch_core *core;
	const orch_config *cfg;
	orch_http_batch *probe_batch;
	orch_http_batch *stat_batch;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;
	bool probe_running, stat_running;
	pthread_t probe_thread, stat_thread;

	atomic_uint_fast64_t probes, probe_failures, collections,
	    collector_errors, sessions_gone;
	orch_reach reach; /* set before start; read-only after */
};

/* Round buffers: targets and requests, grown as needed. */
typedef struct round {
	target *t;
	orch_http_req *r;
	size_t n, cap;
	const orch_monitor *m; /* set by each round before its visit */
	/* A start-up round: only engines whose health is unknown, and only
	 * answers count (a failure there says nothing yet: an engine's API
	 * may take seconds to come up, and the health policy's failures are
	 * the regular rounds' to count). */
	bool startup;
} round;

/* The address the orchestrator itself reaches e at (src/engines/reach.h:
 * on the host, or from inside a container). */
static void
probe_base(const round *rd, const orch_engine *e, char *out, size_t len)
{
	(void) orch_reach_engine_base(&rd->m->reach, e, out, len);
}

static bool
round_reserve(round *rd, size_t need)
{
	if (need <= rd->cap)
		return true;
	{
		size_t ncap = rd->cap ? rd->cap * 2 : 64;
		target *nt;
		orch_http_req *nr;

		while (ncap < need)
			ncap *= 2;
		nt = realloc(rd->t, ncap * sizeof(*nt));
		if (nt == NULL)
			return false;
		memset(nt + rd->cap, 0, (ncap - rd->cap) * sizeof(*nt));
		rd->t = nt;
		nr = realloc(rd->r, ncap * sizeof(*nr));
		if (nr == NULL)
			return false;
		for (size_t i = rd->cap; i < ncap; i++) {
			orch_http_req z = ORCH_HTTP_REQ_INIT;

			nr[i] = z;
		}
		rd->r = nr;
		rd->cap = ncap;
	}
	return true;
}

/* Target i's id := id, growing its buffer as needed. */
static bool
target_set_id(target *t, const char *id)
{
	size_t n = strlen(id) + 1;

	if (n > t->id_cap) {
		char *nid = realloc(t->id, n);

		if (nid == NULL)
			return false;
		t->id = nid;
		t->id_cap = n;
	}
	memcpy(t->id, id, n);
	return true;
}

static void
round_fini(round *rd)
{
	for (size_t i = 0; i < rd->cap; i++) {
		orch_http_req_fini(&rd->r[i]);
		free(rd->t[i].id);
	}
	free(rd->r);
	free(rd->t);
	memset(rd, 0, sizeof(*rd));
}

/*
 * A request's timeout: CONTRACT.md's 5 s, but never more than 90% of the
 * round's period. A round waits for its slowest request, so this is what
 * keeps a hung engine from pushing everyone's next probe back: rounds
 * never overlap and start on schedule.
 */
static int
request_timeout_ms(int period_s)
{
	int cap = period_s * 900;

	return cap < PROBE_TIMEOUT_MS ? cap : PROBE_TIMEOUT_MS;
}

static void
round_set(round *rd, size_t i, int timeout_ms)
{
	orch_http_req *r = &rd->r[i];
	orch_buf keep = r->body;

	memset(r, 0, sizeof(*r));
	r->body = keep;
	r->url = rd->t[i].url;
	r->timeout_ms = timeout_ms;
	r->connect_timeout_ms = timeout_ms < 2000 ? timeout_ms : 2000;
}

/* ---- health ----------------------------------------------------------- */

static void
probe_done(void *arg, orch_http_req *req, size_t index)
{
	orch_monitor *m = arg;
	round *rd = req->user;
	char why[128], name[ORCH_CORE_NAME_MAX];
	orch_health health;
	bool ok = req->err == ORCH_OK &&
	          orch_probe_parse_health(req->status, req->body.data,
	              req->body.len, why, sizeof(why));

	if (!ok && rd->startup)
		return;
	atomic_fetch_add(&m->probes, 1);
	if (!ok)
		atomic_fetch_add(&m->probe_failures, 1);
	if (orch_core_apply_probe(
	        m->core, rd->t[index].id, ok, name, sizeof(name), &health))
		ORCH_INFO("engine %s is %s%s%s", name,
		    orch_health_name(health), ok ? "" : ": ",
		    ok ? "" : (req->err != ORCH_OK ? req->error : why));
}

/* Adds e's probe to the round (under the core's lock: memory only). */
static void
probe_target(void *arg, const orch_engine *e)
{
	round *rd = arg;
	char base[300];

	if ((rd->startup && e->health != ORCH_HEALTH_UNKNOWN) ||
	    !round_reserve(rd, rd->n + 1) ||
	    !target_set_id(&rd->t[rd->n], e->container_id))
		return;
	probe_base(rd, e, base, sizeof(base));
	snprintf(rd->t[rd->n].url, URL_MAX,
	    "%s/server/api?api_version=3&method=get_status", base);
	rd->n++;
}

static size_t
probe_round(orch_monitor *m, round *rd)
{
	rd->n = 0;
	rd->m = m;
	(void) orch_core_visit_probe_targets(m->core, probe_target, rd);
	for (size_t i = 0; i < rd->n; i++) {
		round_set(rd, i,
		    request_timeout_ms(m->cfg->health_check_interval_s));
		rd->r[i].user = rd;
	}
	if (rd->n > 0)
		(void) orch_http_batch_run(
		    m->probe_batch, rd->r, rd->n, 0, probe_done, m);
	return rd->n;
}

size_t
orch_monitor_probe_once(orch_monitor *m)
{
	round rd;
	size_t n;

	memset(&rd, 0, sizeof(rd));
	n = probe_round(m, &rd);
	round_fini(&rd);
	return n;
}

/* ---- stats ------------------------------------------------------------ */

static void
stat_done(void *arg, orch_http_req *req, size_t index)
{
	orch_monitor *m = arg;
	round *rd = req->user;
	orch_stat snap;
	char why[128] = "";
	orch_probe_result pr = ORCH_PROBE_FAIL;

	atomic_fetch_add(&m->collections, 1);
	if (req->err == ORCH_OK)
		pr = orch_probe_parse_stat(req->status, req->body.data,
		    req->body.len, orch_core_now(m->core), &snap, why,
		    sizeof(why));
	if (pr == ORCH_PROBE_FAIL) {
		atomic_fetch_add(&m->collector_errors, 1);
		orch_core_count(m->core, ORCH_COUNT_COLLECTOR_ERROR);
	} else if (pr == ORCH_PROBE_OK) {
		(void) orch_core_apply_stat(m->core, rd->t[index].id, &snap);
	} else if (pr == ORCH_PROBE_GONE &&
	           orch_core_stream_session_gone(m->core, rd->t[index].id)) {
		/* The engine itself says the session is over: no ghost
		 * streams when a proxy never reports the end. */
		atomic_fetch_add(&m->sessions_gone, 1);
	}
}

/* Adds s's stats fetch to the round (under the core's lock). */
static void
stat_target(void *arg, const orch_stream *s)
{
	round *rd = arg;
	char base[300], path[ORCH_PROBE_URL_MAX + 1];

	if (orch_probe_stat_path(s->stat_url, path, sizeof(path)) != ORCH_OK ||
	    !round_reserve(rd, rd->n + 1) ||
	    !target_set_id(&rd->t[rd->n], s->id))
		return;
	probe_base(rd, s->engine, base, sizeof(base));
	snprintf(rd->t[rd->n].url, URL_MAX, "%s%s", base, path);
	rd->n++;
}

static size_t
stat_round(orch_monitor *m, round *rd)
{
	rd->n = 0;
	rd->m = m;
	(void) orch_core_visit_polled_streams(m->core, stat_target, rd);
	for (size_t i = 0; i < rd->n; i++) {
		round_set(
		    rd, i, request_timeout_ms(m->cfg->collect_interval_s));
		rd->r[i].user = rd;
	}
	if (rd->n > 0)
		(void) orch_http_batch_run(
		    m->stat_batch, rd->r, rd->n, 0, stat_done, m);
	return rd->n;
}

size_t
orch_monitor_collect_once(orch_monitor *m)
{
	round rd;
	size_t n;

	memset(&rd, 0, sizeof(rd));
	n = stat_round(m, &rd);
	round_fini(&rd);
	return n;
}

/* ---- threads ---------------------------------------------------------- */

/* Sleeps until deadline_ms (monotonic); false when stopping. */
static bool
sleep_until(orch_monitor *m, int64_t deadline_ms)
{
	bool run;

	pthread_mutex_lock(&m->mu);
	while (!m->stopping &&
	       orch_cond_wait_until(&m->cv, &m->mu, deadline_ms) == 0)
		;
	run = !m->stopping;
	pthread_mutex_unlock(&m->mu);
	return run;
}

/*
 * Regular rounds every HEALTH_CHECK_INTERVAL_S probe every engine. In
 * between, while some engine's health is unknown (just provisioned or
 * adopted), start-up rounds probe those alone, STARTUP_STEP_MS after a
 * new one appears and backing off to STARTUP_STEP_MAX_MS, so that an
 * engine is healthy in /engines within a fraction of a second of
 * answering instead of up to a whole period later (proxies that prefer
 * healthy engines skipped the engine they had just asked for).
 */
#define STARTUP_STEP_MS 250
#define STARTUP_STEP_MAX_MS 1000

static void *
probe_main(void *arg)
{
	orch_monitor *m = arg;
	int64_t period = (int64_t) m->cfg->health_check_interval_s * 1000;
	int64_t now = orch_mono_ms(), next = now, next_fast = now;
	int64_t step = STARTUP_STEP_MS;
	int unknown_before = 0;
	round rd;

	memset(&rd, 0, sizeof(rd));
	while (sleep_until(m, next < next_fast ? next : next_fast)) {
		int unknown;

		now = orch_mono_ms();
		rd.startup = now < next;
		if (rd.startup) {
			if (orch_core_health_unknown(m->core) > 0)
				probe_round(m, &rd);
		} else {
			next += period;
			probe_round(m, &rd);
			/* A round longer than the period: start the next
			 * one now rather than piling rounds up. */
			if (next < orch_mono_ms())
				next = orch_mono_ms();
		}
		/* A new engine to wait for restarts the back-off. */
		unknown = orch_core_health_unknown(m->core);
		step = unknown > unknown_before
		           ? STARTUP_STEP_MS
		           : (step * 2 < STARTUP_STEP_MAX_MS
		                     ? step * 2
		                     : STARTUP_STEP_MAX_MS);
		unknown_before = unknown;
		/* Polled at the first step even with none unknown: the check
		 * is a counter read, and a provision may land any time. */
		next_fast =
		    orch_mono_ms() + (unknown > 0 ? step : STARTUP_STEP_MS);
	}
	round_fini(&rd);
	return NULL;
}

static void *
stat_main(void *arg)
{
	orch_monitor *m = arg;
	int64_t period = (int64_t) m->cfg->collect_interval_s * 1000;
	int64_t next = orch_mono_ms() + period;
	round rd;

	memset(&rd, 0, sizeof(rd));
	while (sleep_until(m, next)) {
		next += period;
		stat_round(m, &rd);
		if (next < orch_mono_ms())
			next = orch_mono_ms();
	}
	round_fini(&rd);
	return NULL;
}

orch_err
orch_monitor_open(orch_core *core, orch_monitor **out)
{
	orch_monitor *m = calloc(1, sizeof(*m));
	orch_err rv;

	*out = NULL;
	if (m == NULL)
		return ORCH_ENOMEM;
	m->core = core;
	m->cfg = orch_core_config(core);
	/* On the host until told otherwise (orch_monitor_set_reach). */
	orch_reach_decide(m->cfg, NULL, &m->reach);
	rv = orch_http_batch_open(&m->probe_batch, NULL);
	if (rv == ORCH_OK)
		rv = orch_http_batch_open(&m->stat_batch, NULL);
	if (rv != ORCH_OK) {
		orch_http_batch_close(m->probe_batch);
		free(m);
		return rv;
	}
	pthread_mutex_init(&m->mu, NULL);
	orch_cond_init_mono(&m->cv);
	*out = m;
	return ORCH_OK;
}

void
orch_monitor_set_reach(orch_monitor *m, const orch_reach *r)
{
	m->reach = *r;
}

orch_err
orch_monitor_start(orch_monitor *m)
{
	m->probe_running =
	    pthread_create(&m->probe_thread, NULL, probe_main, m) == 0;
	m->stat_running =
	    pthread_create(&m->stat_thread, NULL, stat_main, m) == 0;
	return m->probe_running && m->stat_running ? ORCH_OK : ORCH_ESYS;
}

void
orch_monitor_close(orch_monitor *m)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	m->stopping = true;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	if (m->probe_running)
		pthread_join(m->probe_thread, NULL);
	if (m->stat_running)
		pthread_join(m->stat_thread, NULL);
	orch_http_batch_close(m->probe_batch);
	orch_http_batch_close(m->stat_batch);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	free(m);
}

void
orch_monitor_get_stats(orch_monitor *m, orch_monitor_stats *out)
{
	out->probes = atomic_load(&m->probes);
	out->probe_failures = atomic_load(&m->probe_failures);
	out->collections = atomic_load(&m->collections);
	out->collector_errors = atomic_load(&m->collector_errors);
	out->sessions_gone = atomic_load(&m->sessions_gone);
}
