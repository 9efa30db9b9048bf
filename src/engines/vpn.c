#include "src/engines/vpn.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/cond.h"
#include "src/base/log.h"
#include "src/base/time.h"
#include "src/core/vpn.h"
#include "src/core/vpncfg.h"
#include "src/probe/gluetun.h"
#include "src/probe/http_multi.h"

/* A control-server request's bound (capped at 90% of the period, so a
 * hung Gluetun cannot make rounds overlap). */
#define CONTROL_TIMEOUT_MS 3000
/* Retired engines stopped per step at most. */
#define RETIRE_STEP 16

/* What the monitor keeps per Gluetun between rounds. */
typedef struct mon_vpn {
	const orch_vpn_cfg *cfg;
	bool old_status;    /* this Gluetun lacks /v1/vpn/status */
	bool old_port;      /* ... /v1/portforward */
	int64_t port_at_ms; /* when the forwarded port was read; 0 = due */
	/* this round */
	char status[16];
	char health[16];
	int64_t started_us;
	bool pubs_known;
	orch_vpn_pub *pubs;
	size_t n_pubs;
	char base[ORCH_GLUETUN_URL_MAX];
	char error[256];
	bool tunnel_up;
	orch_vpn_control control;
	int forwarded_port; /* -1: not read this round */
	/* what was logged, so each change is said once */
	orch_vpn_control said_control;
	char said_error[256];
	int said_port;
	int said_pool;
} mon_vpn;

/* One request of a round: which VPN, which question. */
typedef struct ask {
	size_t vpn;
	bool port;
} ask;

struct orch_vpnmon {
	orch_core *core;
	const orch_config *cfg;
	orch_mgr *mgr;
	orch_runtime rt;
	mon_vpn *v;
	size_t n;
	orch_http_batch *batch;
	int timeout_ms;
	bool no_thread;
	orch_reach reach; /* where the control servers are (copied) */

	pthread_mutex_t mu; /* the fields below */
	pthread_cond_t cv;
	bool stop;
	bool kick;
	bool thread_running;
	pthread_t thread;
	orch_rt_events *events;
};

/* ---- one check -------------------------------------------------------- */

/* The TCP ports c publishes on the host, for the pool; *api gets the
 * host port of GLUETUN_API_PORT (0: not published). */
static void
read_pubs(orch_vpnmon *m, mon_vpn *v, const orch_rt_container *c, int *api)
{
	*api = 0;
	free(v->pubs);
	v->pubs = calloc(c->n_ports + 1, sizeof(*v->pubs));
	v->n_pubs = 0;
	v->pubs_known = v->pubs != NULL;
	for (size_t i = 0; v->pubs != NULL && i < c->n_ports; i++) {
		const orch_rt_port *p = &c->ports[i];
		int port = 0, host = 0;
		char proto[8] = "";

		if (sscanf(p->port, "%d/%7s", &port, proto) != 2 ||
		    strcmp(proto, "tcp") != 0)
			continue;
		/* The first binding with a port: IPv4 and IPv6 bindings of
		 * one port share it. */
		for (size_t j = 0; j < p->n_bindings && host == 0; j++)
			host = atoi(p->bindings[j].host_port);
		if (host <= 0 || host > 65535)
			continue;
		if (port == m->cfg->gluetun_api_port)
			*api = host;
		v->pubs[v->n_pubs].port = port;
		v->pubs[v->n_pubs++].host_port = host;
	}
}

/* Docker's view of one Gluetun. Returns whether its control server is
 * worth asking (the container runs). */
static bool
inspect_one(orch_vpnmon *m, mon_vpn *v)
{
	orch_rt_container c;
	orch_diag diag;
	orch_err rv = orch_rt_inspect(&m->rt, v->cfg->name, &c, &diag);
	int api = 0;

	v->pubs_known = false;
	v->started_us = 0;
	v->tunnel_up = false;
	v->forwarded_port = -1;
	v->control = ORCH_VPN_CONTROL_UNKNOWN;
	snprintf(v->health, sizeof(v->health), "unknown");
	if (rv == ORCH_ENOTFOUND) {
		snprintf(v->status, sizeof(v->status), "not_found");
		snprintf(v->error, sizeof(v->error), "no container named %s",
		    v->cfg->name);
		return false;
	}
	if (rv != ORCH_OK) {
		snprintf(v->status, sizeof(v->status), "unknown");
		snprintf(
		    v->error, sizeof(v->error), "inspect: %.200s", diag.msg);
		return false;
	}
	snprintf(v->status, sizeof(v->status), "%s", c.state);
	if (c.health != NULL && c.health[0] != '\0')
		snprintf(v->health, sizeof(v->health), "%s", c.health);
	v->started_us = c.started_us;
	read_pubs(m, v, &c, &api);
	orch_reach_gluetun_base(&m->reach, v->cfg, m->cfg->gluetun_api_port,
	    api, v->base, sizeof(v->base));
	orch_rt_container_fini(&c);
	if (strcmp(v->status, "running") != 0) {
		snprintf(v->error, sizeof(v->error), "container %s is %s",
		    v->cfg->name, v->status);
		return false;
	}
	v->error[0] = '\0';
	return true;
}

static const char *
path_of(const mon_vpn *v, bool port)
{
	if (port)
		return v->old_port ? ORCH_GLUETUN_PORT_OLD
		                   : ORCH_GLUETUN_PORT_NEW;
	return v->old_status ? ORCH_GLUETUN_STATUS_OLD
	                     : ORCH_GLUETUN_STATUS_NEW;
}

/* Applies one answer to its VPN; true when it asks for a retry on the
 * other generation's route. */
static bool
apply_answer(orch_vpnmon *m, const ask *a, const orch_http_req *req)
{
	mon_vpn *v = &m->v[a->vpn];
	char why[200];
	int value = 0;
	bool running = false;
	orch_gluetun_verdict r =
	    a->port
	        ? orch_gluetun_read_port(req, &value, why, sizeof(why))
	        : orch_gluetun_read_status(req, &running, why, sizeof(why));

	if (r == ORCH_GLUETUN_MISSING) {
		bool *old = a->port ? &v->old_port : &v->old_status;

		*old = !*old;
		return true; /* the caller tries the other route once */
	}
	if (r == ORCH_GLUETUN_OK && a->port) {
		v->forwarded_port = value;
		v->port_at_ms = orch_mono_ms();
		return false;
	}
	if (r == ORCH_GLUETUN_OK) {
		v->control = ORCH_VPN_CONTROL_OK;
		v->tunnel_up = running;
		if (!running)
			snprintf(v->error, sizeof(v->error),
			    "Gluetun says the tunnel is not running");
		return false;
	}
	/* A failed port read only costs the port; a refused one is a
	 * configuration error either way. */
	if (a->port && r != ORCH_GLUETUN_AUTH)
		return false;
	v->control = r == ORCH_GLUETUN_AUTH ? ORCH_VPN_CONTROL_AUTH
	                                    : ORCH_VPN_CONTROL_DOWN;
	v->tunnel_up = false;
	snprintf(v->error, sizeof(v->error), "control server %.100s: %.130s",
	    req->url, why);
	return false;
}

/* Runs the asks (n of them) in one batch; those that hit a missing route
 * are put back into asks[0..*retry). */
static void
run_asks(orch_vpnmon *m, ask *asks, size_t n, size_t *retry)
{
	orch_http_req *reqs = calloc(n + 1, sizeof(*reqs));
	orch_gluetun_bufs *bufs = calloc(n + 1, sizeof(*bufs));
	size_t k = 0;

	*retry = 0;
	if (reqs == NULL || bufs == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		mon_vpn *v = &m->v[asks[i].vpn];

		if (orch_gluetun_prepare(&reqs[k], &bufs[k], v->cfg, v->base,
		        path_of(v, asks[i].port), m->timeout_ms) != ORCH_OK) {
			v->control = ORCH_VPN_CONTROL_DOWN;
			snprintf(v->error, sizeof(v->error),
			    "control server %.150s: URL or GLUETUN_API_KEY "
			    "unusable",
			    v->base);
			continue;
		}
		reqs[k].user = &asks[i];
		k++;
	}
	if (k > 0)
		(void) orch_http_batch_run(m->batch, reqs, k, 0, NULL, NULL);
	for (size_t i = 0; i < k; i++) {
		ask a = *(ask *) reqs[i].user;

		if (apply_answer(m, &a, &reqs[i]))
			asks[(*retry)++] = a;
	}
out:
	for (size_t i = 0; reqs != NULL && i < n; i++)
		orch_http_req_fini(&reqs[i]);
	free(reqs);
	free(bufs);
}

/* What the monitor says about a VPN's changes, once each. */
static void
log_changes(mon_vpn *v, const orch_vpn_change *ch, int fwd)
{
	const char *name = v->cfg->name;

	if (ch->up && ch->down_ms == 0)
		ORCH_INFO("VPN %s connected", name);
	else if (ch->up)
		ORCH_INFO("VPN %s connected again after %.1f s%s", name,
		    (double) ch->down_ms / 1000.0,
		    ch->reconnect ? "; its older engines will be replaced"
		                  : "");
	else if (ch->reconnect)
		ORCH_WARN("VPN %s: its container started anew; its engines "
		          "will be replaced",
		    name);
	if (ch->down)
		ORCH_WARN("VPN %s disconnected: %s; provisioning there "
		          "stops",
		    name, v->error[0] != '\0' ? v->error : "?");
	/* A new reason for not being connected (the first check's too). */
	if (v->control == ORCH_VPN_CONTROL_AUTH &&
	    v->said_control != ORCH_VPN_CONTROL_AUTH)
		ORCH_ERROR("VPN %s: configuration error: %s", name, v->error);
	else if (!ch->down && v->error[0] != '\0' &&
	         strcmp(v->error, v->said_error) != 0)
		ORCH_WARN("VPN %s not connected: %s", name, v->error);
	v->said_control = v->control;
	snprintf(v->said_error, sizeof(v->said_error), "%s", v->error);
	if (fwd >= 0 && fwd != v->said_port) {
		ORCH_INFO("VPN %s forwards port %d", name, fwd);
		v->said_port = fwd;
	}
	if (ch->pool_size != v->said_pool &&
	    strcmp(v->status, "running") == 0) {
		if (ch->pool_size == 0)
			ORCH_WARN("VPN %s publishes no port for engines: "
			          "publish a port range on it (docs/VPN.md)",
			    name);
		else
			ORCH_INFO("VPN %s: %d ports for engines", name,
			    ch->pool_size);
		v->said_pool = ch->pool_size;
	}
}

static void
report_one(orch_vpnmon *m, size_t i)
{
	mon_vpn *v = &m->v[i];
	orch_vpn_report r;
	orch_vpn_change ch;

	memset(&r, 0, sizeof(r));
	r.status = v->status;
	r.health = v->health;
	r.started_us = v->started_us;
	r.control = v->control;
	r.tunnel_up = v->tunnel_up;
	/* A port read without a tunnel is no port; read it again as soon
	 * as the tunnel is back. */
	r.forwarded_port = v->tunnel_up ? v->forwarded_port : -1;
	if (!v->tunnel_up)
		v->port_at_ms = 0;
	r.error = v->error[0] != '\0' ? v->error : NULL;
	r.pubs_known = v->pubs_known;
	r.pubs = v->pubs;
	r.n_pubs = v->n_pubs;
	orch_core_vpn_report(m->core, i, &r, &ch);
	log_changes(v, &ch, r.forwarded_port);
}

void
orch_vpnmon_check(orch_vpnmon *m)
{
	ask *asks = calloc(2 * m->n + 1, sizeof(*asks));
	int64_t ttl_ms = (int64_t) m->cfg->gluetun_port_cache_ttl_s * 1000;
	size_t n = 0, retry = 0;

	if (asks == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		mon_vpn *v = &m->v[i];

		if (!inspect_one(m, v))
			continue;
		asks[n++] = (ask){i, false};
		if (v->port_at_ms == 0 ||
		    orch_mono_ms() - v->port_at_ms >= ttl_ms)
			asks[n++] = (ask){i, true};
	}
	run_asks(m, asks, n, &retry);
	if (retry > 0)
		run_asks(m, asks, retry, &retry);
	for (size_t i = 0; i < retry; i++) {
		mon_vpn *v = &m->v[asks[i].vpn];

		/* Neither generation has the route: not a Gluetun. */
		if (!asks[i].port) {
			v->control = ORCH_VPN_CONTROL_DOWN;
			snprintf(v->error, sizeof(v->error),
			    "control server %.120s answers neither %s nor %s",
			    v->base, ORCH_GLUETUN_STATUS_NEW,
			    ORCH_GLUETUN_STATUS_OLD);
		}
	}
	for (size_t i = 0; i < m->n; i++)
		report_one(m, i);
	free(asks);
}

/* ---- actions ---------------------------------------------------------- */

static orch_err
provision_on(orch_vpnmon *m, const char *vpn, bool forwarded,
    orch_refusal *refusal, orch_diag *diag)
{
	orch_engine_request req;
	orch_provision_result res;

	memset(&req, 0, sizeof(req));
	req.vpn = vpn;
	req.forwarded = forwarded;
	return orch_mgr_provision(m->mgr, &req, 0, &res, refusal, diag);
}

static bool
delete_engine(orch_vpnmon *m, const char *id, const char *why)
{
	char gone[ORCH_CORE_ID_MAX];
	orch_diag diag;

	if (orch_mgr_delete(m->mgr, id, gone, sizeof(gone), &diag) != ORCH_OK)
		return false;
	ORCH_INFO("engine %.12s stopped: %s", id, why);
	return true;
}

/* A new engine on VPN i (forwarded: taking its forwarded port); at
 * MAX_REPLICAS, or with every port of that VPN taken, an idle engine of
 * it (replace, when given: that one) is stopped first. Returns the
 * provision's result. */
static orch_err
replace_on(orch_vpnmon *m, size_t i, bool forwarded, const char *replace)
{
	const char *name = m->v[i].cfg->name;
	char victim[ORCH_CORE_ID_MAX];
	orch_refusal refusal;
	orch_diag diag;
	orch_err rv = provision_on(m, name, forwarded, &refusal, &diag);

	if (rv != ORCH_OK &&
	    (refusal.code == ORCH_REFUSE_MAX || rv == ORCH_EEXHAUSTED)) {
		if (replace != NULL)
			snprintf(victim, sizeof(victim), "%s", replace);
		else if (!orch_core_vpn_idle_victim(m->core, i, victim))
			return rv; /* all busy: the next step tries again */
		delete_engine(m, victim, "making room at MAX_REPLICAS");
		rv = provision_on(m, name, forwarded, &refusal, &diag);
	}
	if (rv != ORCH_OK)
		ORCH_DEBUG("VPN %s: new engine: %s", name, diag.msg);
	return rv;
}

/* Retired engines that drained (or waited long enough) stop. */
static int
act_retired(orch_vpnmon *m)
{
	char ids[RETIRE_STEP][ORCH_CORE_ID_MAX];
	size_t n = orch_core_vpn_retire_due(m->core, ids, RETIRE_STEP);
	int done = 0;

	/* Only what worked counts as a step: a failing stop is tried again
	 * after the next check, not in a tight loop. */
	for (size_t i = 0; i < n; i++)
		done += delete_engine(m, ids[i], "replaced, and drained");
	return done;
}

/* A VPN whose forwarded port has no owner gets one. */
static int
act_forwarded(orch_vpnmon *m, size_t i)
{
	int port = 0;

	if (!orch_core_vpn_forward_need(m->core, i, &port))
		return 0;
	ORCH_INFO("VPN %s: starting the engine for its forwarded port %d",
	    m->v[i].cfg->name, port);
	/* A refusal is tried again after the next check. */
	return replace_on(m, i, true, NULL) == ORCH_OK;
}

/* One engine that predates a reconnect: an idle one is replaced now
 * (new one first), a busy one drains. */
static int
act_reconnect(orch_vpnmon *m, size_t i)
{
	char id[ORCH_CORE_ID_MAX];
	bool idle = false, fwd = false;

	if (!orch_core_vpn_reconnect_next(m->core, i, id, &idle, &fwd))
		return 0;
	if (!idle) {
		ORCH_INFO("engine %.12s predates VPN %s's reconnect and "
		          "carries streams: draining it (%d s at most)",
		    id, m->v[i].cfg->name, m->cfg->vpn_reconnect_drain_s);
		(void) orch_core_vpn_retire(
		    m->core, id, m->cfg->vpn_reconnect_drain_s);
		return 1;
	}
	ORCH_INFO("engine %.12s predates VPN %s's reconnect: replacing it", id,
	    m->v[i].cfg->name);
	/* Marked first: no stream lands on it meanwhile, and it is not
	 * picked again. */
	(void) orch_core_vpn_retire(m->core, id, 0);
	(void) replace_on(m, i, fwd, id);
	delete_engine(m, id, "replaced after the VPN reconnected");
	return 1;
}

int
orch_vpnmon_act(orch_vpnmon *m)
{
	int steps = act_retired(m);

	for (size_t i = 0; i < m->n; i++) {
		steps += act_forwarded(m, i);
		steps += act_reconnect(m, i);
	}
	return steps;
}

/* ---- the thread ------------------------------------------------------- */

static bool
wants_kick(const char *action)
{
	static const char *const acts[] = {"start", "die", "stop", "kill",
	    "destroy", "restart", "pause", "unpause", "health_status"};

	for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++) {
		if (strncmp(action, acts[i], strlen(acts[i])) == 0)
			return true;
	}
	return false;
}

static void
kick(orch_vpnmon *m)
{
	pthread_mutex_lock(&m->mu);
	m->kick = true;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

/* A Gluetun container changed: check now (a stop is seen at once, not
 * at the next period). */
static void
on_event(void *arg, const orch_rt_event *ev)
{
	if (wants_kick(ev->action))
		kick(arg);
}

static void
on_events_state(void *arg, bool connected, orch_err err, const char *msg)
{
	(void) err;
	(void) msg;
	if (connected)
		kick(arg);
}

/* Waits until deadline_ms or a kick; false when stopping. */
static bool
wait_until(orch_vpnmon *m, int64_t deadline_ms, bool *kicked)
{
	bool go;

	pthread_mutex_lock(&m->mu);
	while (!m->stop && !m->kick &&
	       orch_cond_wait_until(&m->cv, &m->mu, deadline_ms) == 0)
		;
	*kicked = m->kick;
	m->kick = false;
	go = !m->stop;
	pthread_mutex_unlock(&m->mu);
	return go;
}

static void *
thread_main(void *arg)
{
	orch_vpnmon *m = arg;
	int64_t period =
	    (int64_t) m->cfg->gluetun_health_check_interval_s * 1000;
	int64_t next = orch_mono_ms() + period;
	bool kicked = false;

	for (;;) {
		int64_t now = orch_mono_ms();

		if (kicked || now >= next) {
			orch_vpnmon_check(m);
			if (now >= next)
				next = now + period;
		}
		/* Actions between checks, one pass at a time: a provision
		 * takes about a second, so a check is late by one at most. */
		if (orch_vpnmon_act(m) > 0 && orch_mono_ms() < next) {
			if (!wait_until(m, orch_mono_ms(), &kicked))
				break;
			continue;
		}
		if (!wait_until(m, next, &kicked))
			break;
	}
	return NULL;
}

/* ---- life cycle ------------------------------------------------------- */

orch_err
orch_vpnmon_open(const orch_vpnmon_opts *opts, orch_vpnmon **out)
{
	orch_vpnmon *m;
	const orch_config *cfg;
	int cap;

	*out = NULL;
	if (opts->core == NULL || opts->mgr == NULL)
		return ORCH_EINVAL;
	cfg = orch_core_config(opts->core);
	if (orch_core_vpn_count(opts->core) == 0)
		return ORCH_OK;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return ORCH_ENOMEM;
	m->core = opts->core;
	m->cfg = cfg;
	m->mgr = opts->mgr;
	m->rt = *orch_mgr_runtime(opts->mgr);
	m->no_thread = opts->no_thread;
	if (opts->reach != NULL)
		m->reach = *opts->reach;
	else
		orch_reach_decide(cfg, NULL, &m->reach);
	m->n = orch_core_vpn_count(opts->core);
	cap = cfg->gluetun_health_check_interval_s * 900;
	m->timeout_ms = cap < CONTROL_TIMEOUT_MS ? cap : CONTROL_TIMEOUT_MS;
	pthread_mutex_init(&m->mu, NULL);
	orch_cond_init_mono(&m->cv);
	m->v = calloc(m->n, sizeof(*m->v));
	if (m->v == NULL || orch_http_batch_open(&m->batch, NULL) != ORCH_OK) {
		orch_vpnmon_close(m);
		return ORCH_ENOMEM;
	}
	for (size_t i = 0; i < m->n; i++) {
		m->v[i].cfg = &cfg->vpns[i];
		m->v[i].said_port = -1;
		m->v[i].said_pool = -1;
	}
	*out = m;
	return ORCH_OK;
}

orch_err
orch_vpnmon_start(orch_vpnmon *m)
{
	orch_rt_events_opts eo;
	const char *names[ORCH_VPN_MAX];
	orch_err rv;

	if (m == NULL)
		return ORCH_OK;
	orch_vpnmon_check(m);
	if (m->no_thread)
		return ORCH_OK;
	for (size_t i = 0; i < m->n; i++)
		names[i] = m->v[i].cfg->name;
	memset(&eo, 0, sizeof(eo));
	eo.type = "container";
	eo.containers = names;
	eo.n_containers = m->n;
	eo.on_event = on_event;
	eo.on_state = on_events_state;
	eo.arg = m;
	eo.backoff_max_ms = 2000;
	rv = orch_rt_events_open(&m->rt, &eo, &m->events);
	if (rv != ORCH_OK)
		ORCH_WARN("VPN monitor: no events stream (%s); checking every "
		          "%d s only",
		    orch_strerror(rv),
		    m->cfg->gluetun_health_check_interval_s);
	if (pthread_create(&m->thread, NULL, thread_main, m) != 0)
		return ORCH_ESYS;
	m->thread_running = true;
	return ORCH_OK;
}

void
orch_vpnmon_close(orch_vpnmon *m)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	m->stop = true;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	orch_rt_events_close(&m->rt, m->events);
	if (m->thread_running)
		pthread_join(m->thread, NULL);
	for (size_t i = 0; m->v != NULL && i < m->n; i++)
		free(m->v[i].pubs);
	free(m->v);
	orch_http_batch_close(m->batch);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	free(m);
}
