#include "src/engines/manager.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "src/base/cond.h"
#include "src/base/log.h"
#include "src/base/time.h"

#define US_PER_S 1000000LL
/* Numbers tried when names are taken on the daemon (leftovers). */
#define NAME_ATTEMPTS 32
/* Times a start may fail on a host port someone else took meanwhile. */
#define PORT_ATTEMPTS 4
#define INFLIGHT_MAX 64
/* Seconds Docker waits for an engine to stop before killing it. */
#define STOP_TIMEOUT_S 5
#define LIST_MAX 1024

struct orch_mgr {
	orch_core *core;
	const orch_config *cfg;
	orch_docker *docker;
	orch_port_probe_fn probe;
	void *probe_arg;
	bool no_loops;

	/* Name numbers being provisioned (core lock). */
	int inflight[INFLIGHT_MAX];
	int n_inflight;

	pthread_mutex_t mu; /* the fields below */
	pthread_cond_t cv;
	bool stopping;
	bool kick_reconcile;
	bool control_running;
	pthread_t control;
	bool image_running;
	pthread_t image;
	orch_docker_events *events;
};

/* ---- helpers ---------------------------------------------------------- */

static bool
bind_probe(void *arg, int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool free_port;

	(void) arg;
	if (fd < 0)
		return true; /* cannot tell: let Docker decide */
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t) port);
	a.sin_addr.s_addr = htonl(INADDR_ANY);
	free_port = bind(fd, (struct sockaddr *) &a, sizeof(a)) == 0;
	close(fd);
	return free_port;
}

static bool
port_free(orch_mgr *m, int port)
{
	return m->probe(m->probe_arg, port);
}

static void
env_update(orch_mgr *m, int docker_ok, int image_ok, int pulling)
{
	orch_core *c = m->core;

	orch_core_lock(c);
	if (docker_ok >= 0)
		c->env.docker_ok = docker_ok;
	if (image_ok >= 0)
		c->env.image_ok = image_ok;
	if (pulling >= 0)
		c->env.image_pulling = pulling;
	orch_core_unlock(c);
}

static bool
is_transport(orch_err e)
{
	return e == ORCH_EUNAVAIL || e == ORCH_ETIMEDOUT;
}

static bool
number_used_locked(orch_mgr *m, int n)
{
	char name[160];

	for (int i = 0; i < m->n_inflight; i++) {
		if (m->inflight[i] == n)
			return true;
	}
	snprintf(name, sizeof(name), "%s-%d", m->cfg->engine_name_prefix, n);
	return orch_state_engine_by_name(&m->core->state, name) != NULL;
}

/* The smallest number above `after` not used by an engine in state or a
 * provision in flight. */
static int
next_number_locked(orch_mgr *m, int after)
{
	int n = after + 1;

	while (number_used_locked(m, n))
		n++;
	return n;
}

static void
inflight_set_locked(orch_mgr *m, int old, int n)
{
	for (int i = 0; i < m->n_inflight; i++) {
		if (m->inflight[i] == old) {
			if (n >= 0)
				m->inflight[i] = n;
			else
				m->inflight[i] = m->inflight[--m->n_inflight];
			return;
		}
	}
	if (n >= 0 && m->n_inflight < INFLIGHT_MAX)
		m->inflight[m->n_inflight++] = n;
}

static orch_err
alloc_port_locked(orch_mgr *m, orch_ports *pool, int *out)
{
	return orch_ports_alloc(pool, m->probe, m->probe_arg, out);
}

static void
release_port_locked(orch_ports *pool, int port)
{
	if (port >= pool->lo && port < pool->lo + pool->cap)
		orch_ports_release(pool, port);
}

/* Labels of a plan as Docker's NULL-terminated "k=v" list. */
static char **
label_strings(const orch_engine_plan *p)
{
	char **v = calloc(p->n_labels + 1, sizeof(*v));

	for (size_t i = 0; v != NULL && i < p->n_labels; i++) {
		if (asprintf(&v[i], "%s=%s", p->labels[i].key,
		        p->labels[i].value) < 0) {
			for (size_t j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return NULL;
		}
	}
	return v;
}

static void
strings_free(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* Creates and starts a container from the plan. *id_out (malloc'd) is set
 * once the container exists, even when the start then fails. */
static orch_err
create_and_start(orch_mgr *m, const orch_engine_plan *p, char **id_out,
    orch_diag *diag)
{
	orch_rt_create_spec cs;
	orch_rt_publish pub[2];
	char **labels = label_strings(p);
	char **env = calloc(p->n_env + 1, sizeof(*env));
	orch_err rv;

	*id_out = NULL;
	if (labels == NULL || env == NULL) {
		strings_free(labels);
		free(env);
		return ORCH_ENOMEM;
	}
	for (size_t i = 0; i < p->n_env; i++)
		env[i] = p->env[i];
	memset(&cs, 0, sizeof(cs));
	for (size_t i = 0; i < p->n_publish; i++) {
		pub[i].container_port = p->publish[i].container_port;
		pub[i].host_port = p->publish[i].host_port;
		pub[i].proto = "tcp";
	}
	cs.name = p->name;
	cs.image = p->image;
	cs.env = (const char *const *) env;
	cs.labels = (const char *const *) labels;
	cs.ports = pub;
	cs.n_ports = p->n_publish;
	/* Proxies elsewhere reach ENGINE_HOST: publish on every address then;
	 * otherwise on loopback only. */
	cs.host_ip = m->cfg->engine_host != NULL ? "0.0.0.0" : "127.0.0.1";
	cs.restart_policy = p->restart_policy;
	cs.network = p->network_mode != NULL ? p->network_mode : p->network;
	rv = orch_docker_create(m->docker, &cs, id_out, diag);
	if (rv == ORCH_OK)
		rv = orch_docker_start(m->docker, *id_out, diag);
	strings_free(labels);
	free(env); /* the strings are the plan's */
	return rv;
}

static bool
port_conflict(const orch_diag *d)
{
	return strstr(d->msg, "port is already allocated") != NULL ||
	    strstr(d->msg, "address already in use") != NULL;
}

/* The policy's refusal for a reason found mid-way (core lock held). */
static void
refuse_locked(orch_mgr *m, orch_refusal *r, orch_refusal_code code)
{
	orch_policy_refusal(code, m->cfg, &m->core->env, &m->core->general,
	    orch_core_now(m->core), r);
}

/* ---- provisioning ----------------------------------------------------- */

orch_err
orch_mgr_provision(orch_mgr *m, const orch_engine_request *req, int host_port,
    orch_provision_result *res, orch_refusal *refusal, char *why,
    size_t whylen)
{
	orch_core *core = m->core;
	const orch_config *cfg = m->cfg;
	orch_engine_slot slot;
	orch_engine_plan plan;
	orch_diag diag;
	char *id = NULL;
	bool vpn = cfg->gluetun_container_name != NULL;
	orch_err rv = ORCH_OK;
	int number;

	int64_t t_start = orch_mono_ns();

	memset(res, 0, sizeof(*res));
	memset(&plan, 0, sizeof(plan));
	memset(&diag, 0, sizeof(diag));
	refusal->code = ORCH_REFUSE_NONE;
	if (whylen > 0)
		why[0] = '\0';

	/* 1. Decide under the lock: allowed? which number and ports? */
	orch_core_lock(core);
	if (!orch_core_can_provision_locked(core, refusal)) {
		core->metrics.provision_engine_refused++;
		orch_core_unlock(core);
		return orch_refusal_status(refusal->code);
	}
	if (!orch_breaker_try_acquire(&core->general, orch_core_now(core))) {
		refuse_locked(m, refusal, ORCH_REFUSE_BREAKER);
		orch_core_unlock(core);
		return ORCH_EPRECOND;
	}
	memset(&slot, 0, sizeof(slot));
	if (host_port != 0) {
		bool in_pool = host_port >= core->http_ports.lo &&
		    host_port < core->http_ports.lo + core->http_ports.cap;

		if ((in_pool && orch_ports_in_use(&core->http_ports, host_port)) ||
		    !port_free(m, host_port)) {
			orch_breaker_release(&core->general);
			orch_core_unlock(core);
			snprintf(why, whylen, "host_port %d is in use", host_port);
			return ORCH_EEXIST;
		}
		if (in_pool)
			(void) orch_ports_reserve(&core->http_ports, host_port);
		slot.http_port = host_port;
	} else if (alloc_port_locked(m, &core->http_ports, &slot.http_port) !=
	    ORCH_OK) {
		orch_breaker_release(&core->general);
		orch_core_unlock(core);
		snprintf(why, whylen, "no free port in PORT_RANGE_HOST");
		return ORCH_EEXHAUSTED;
	}
	if (alloc_port_locked(m, &core->https_ports, &slot.https_port) !=
	    ORCH_OK) {
		release_port_locked(&core->http_ports, slot.http_port);
		orch_breaker_release(&core->general);
		orch_core_unlock(core);
		snprintf(why, whylen, "no free port in ACE_HTTPS_RANGE");
		return ORCH_EEXHAUSTED;
	}
	number = next_number_locked(m, 0);
	inflight_set_locked(m, -1, number);
	core->provisioning++;
	orch_core_unlock(core);

	/* 2. Docker, outside the lock. */
	for (int names = 0, ports = 0;;) {
		slot.number = number;
		orch_engine_plan_fini(&plan);
		rv = orch_engine_plan_build(cfg, req, &slot, &plan, why, whylen);
		if (rv != ORCH_OK)
			break;
		rv = create_and_start(m, &plan, &id, &diag);
		if (rv == ORCH_EEXIST && id == NULL && ++names < NAME_ATTEMPTS) {
			/* The name is taken on the daemon (a leftover, another
			 * orchestrator): move on to the next number. */
			int old = number;

			orch_core_lock(core);
			number = next_number_locked(m, number);
			inflight_set_locked(m, old, number);
			orch_core_unlock(core);
			continue;
		}
		if (rv != ORCH_OK && id != NULL && !vpn && host_port == 0 &&
		    port_conflict(&diag) && ++ports < PORT_ATTEMPTS) {
			/* Someone bound our port between the probe and the
			 * start: drop this container, take the next port. */
			int old = slot.http_port;

			(void) orch_docker_remove(m->docker, id, true, NULL);
			free(id);
			id = NULL;
			orch_core_lock(core);
			rv = alloc_port_locked(m, &core->http_ports, &slot.http_port);
			release_port_locked(&core->http_ports, old);
			orch_core_unlock(core);
			if (rv != ORCH_OK) {
				snprintf(why, whylen, "no free port in "
				                      "PORT_RANGE_HOST");
				break;
			}
			continue;
		}
		if (rv != ORCH_OK && whylen > 0 && why[0] == '\0')
			snprintf(why, whylen, "%s", diag.msg[0] != '\0'
			                                ? diag.msg
			                                : orch_strerror(rv));
		break;
	}
	if (rv != ORCH_OK && id != NULL) {
		/* Created but not started: leave nothing behind. */
		(void) orch_docker_remove(m->docker, id, true, NULL);
	}

	/* 3. Record the outcome under the lock. */
	orch_core_lock(core);
	core->provisioning--;
	inflight_set_locked(m, number, -1);
	if (rv == ORCH_OK) {
		orch_engine_spec spec;
		orch_container_view view = {id, plan.name, plan.labels,
		    plan.n_labels, true};
		orch_engine *e = NULL;

		(void) orch_engine_adopt(cfg, &view, &spec);
		rv = orch_core_engine_put_locked(core, &spec, &e);
		if (rv == ORCH_OK) {
			core->metrics.provision_engine_ok++;
			orch_metrics_provision_latency(&core->metrics,
			    (double) (orch_mono_ns() - t_start) / 1e9);
			orch_breaker_record_success(&core->general,
			    orch_core_now(core));
			core->env.docker_ok = true;
			snprintf(res->container_id, sizeof(res->container_id),
			    "%s", id);
			snprintf(res->container_name, sizeof(res->container_name),
			    "%s", plan.name);
			res->host_http_port = spec.host_http_port;
			res->container_http_port = spec.container_http_port;
			res->container_https_port = spec.container_https_port;
		} else {
			orch_breaker_release(&core->general);
			snprintf(why, whylen, "engine not recorded: %s",
			    orch_strerror(rv));
		}
	} else {
		release_port_locked(&core->http_ports, slot.http_port);
		release_port_locked(&core->https_ports, slot.https_port);
		if (is_transport(rv) || (rv == ORCH_ENOTFOUND && id == NULL))
			core->metrics.provision_engine_refused++;
		else
			core->metrics.provision_engine_failed++;
		if (is_transport(rv)) {
			/* Not the engine's fault: Docker is down. */
			orch_breaker_release(&core->general);
			core->env.docker_ok = false;
			refuse_locked(m, refusal, ORCH_REFUSE_DOCKER);
			rv = ORCH_EUNAVAIL;
		} else if (rv == ORCH_ENOTFOUND && id == NULL) {
			/* No such image. */
			orch_breaker_release(&core->general);
			if (req->image == NULL)
				core->env.image_ok = false;
			refuse_locked(m, refusal, ORCH_REFUSE_IMAGE);
			rv = ORCH_EPRECOND;
		} else if (rv == ORCH_EINVAL) {
			orch_breaker_release(&core->general);
		} else {
			orch_breaker_record_failure(&core->general,
			    orch_core_now(core));
		}
	}
	orch_core_unlock(core);
	if (rv == ORCH_OK)
		ORCH_INFO("engine %s (%.12s) started on port %d", plan.name, id,
		    res->host_http_port);
	else if (refusal->code == ORCH_REFUSE_NONE)
		ORCH_WARN("provision failed: %s", why);
	if (rv != ORCH_OK && refusal->code != ORCH_REFUSE_NONE && whylen > 0)
		snprintf(why, whylen, "%s", orch_refusal_reason(refusal->code));
	orch_engine_plan_fini(&plan);
	free(id);
	return rv;
}

/* ---- stopping --------------------------------------------------------- */

/* Stops and removes a container, then drops its engine from state. */
static orch_err
stop_engine(orch_mgr *m, const char *id, const char *reason)
{
	orch_diag diag;
	orch_err rv;
	orch_engine *e;

	rv = orch_docker_stop(m->docker, id, STOP_TIMEOUT_S, &diag);
	if (rv == ORCH_OK || rv == ORCH_ENOTFOUND)
		rv = orch_docker_remove(m->docker, id, true, &diag);
	if (rv == ORCH_ENOTFOUND)
		rv = ORCH_OK; /* gone already: what we wanted */
	if (rv != ORCH_OK)
		ORCH_WARN("stopping %.12s: %s", id, diag.msg);
	orch_core_lock(m->core);
	if (rv == ORCH_OK && (e = orch_state_engine_get(&m->core->state, id)))
		orch_core_engine_remove_locked(m->core, e, reason);
	if (is_transport(rv))
		m->core->env.docker_ok = false;
	orch_core_unlock(m->core);
	return rv;
}

orch_err
orch_mgr_delete(orch_mgr *m, const char *id, char *deleted,
    size_t deleted_len, char *why, size_t whylen)
{
	char full[80] = "";
	orch_engine *e;
	orch_err rv = ORCH_OK;

	orch_core_lock(m->core);
	e = orch_state_engine_get(&m->core->state, id);
	if (e == NULL)
		e = orch_state_engine_by_name(&m->core->state, id);
	if (e != NULL && e->managed)
		snprintf(full, sizeof(full), "%s", e->container_id);
	orch_core_unlock(m->core);
	if (full[0] == '\0') {
		/* Not an engine in state: maybe a managed container that is
		 * not (a stopped one, a generic one). */
		orch_rt_container c;
		orch_diag diag;
		const char *v;

		rv = orch_docker_inspect(m->docker, id, &c, &diag);
		if (rv != ORCH_OK) {
			snprintf(why, whylen, "%s",
			    rv == ORCH_ENOTFOUND ? "no such container" : diag.msg);
			return rv;
		}
		v = orch_rt_container_label(&c, m->cfg->container_label_key);
		if (v != NULL && strcmp(v, m->cfg->container_label_value) == 0)
			snprintf(full, sizeof(full), "%s", c.id);
		orch_rt_container_fini(&c);
		if (full[0] == '\0') {
			snprintf(why, whylen, "container %s is not managed", id);
			return ORCH_ENOTFOUND;
		}
	}
	rv = stop_engine(m, full, "engine_gone");
	if (rv == ORCH_OK)
		snprintf(deleted, deleted_len, "%s", full);
	else
		snprintf(why, whylen, "%s", orch_strerror(rv));
	return rv;
}

void
orch_mgr_cleanup(orch_mgr *m)
{
	const char *filter[2] = {NULL, NULL};
	char label[512];
	orch_rt_container *v = NULL;
	size_t n = 0;

	snprintf(label, sizeof(label), "%s=%s", m->cfg->container_label_key,
	    m->cfg->container_label_value);
	filter[0] = label;
	if (orch_docker_list(m->docker, filter, &v, &n, NULL) != ORCH_OK)
		return;
	for (size_t i = 0; i < n; i++)
		(void) stop_engine(m, v[i].id, "orchestrator_exit");
	orch_rt_container_list_free(v, n);
}

/* ---- reconcile -------------------------------------------------------- */

static void
kv_to_labels(const orch_rt_container *c, orch_label *out)
{
	for (size_t i = 0; i < c->n_labels; i++) {
		out[i].key = c->labels[i].key;
		out[i].value = c->labels[i].value;
	}
}

/* Adopts (or refreshes) one container; called without the lock. */
static void
adopt_one(orch_mgr *m, const orch_rt_container *c)
{
	orch_label *labels = calloc(c->n_labels + 1, sizeof(*labels));
	orch_container_view view;
	orch_engine_spec spec;
	orch_engine *e;

	if (labels == NULL)
		return;
	kv_to_labels(c, labels);
	view.id = c->id;
	view.name = c->name;
	view.labels = labels;
	view.n_labels = c->n_labels;
	view.running = c->running;
	if (orch_engine_adopt(m->cfg, &view, &spec) == ORCH_OK) {
		orch_core_lock(m->core);
		e = orch_state_engine_get(&m->core->state, c->id);
		if (e == NULL && c->running) {
			if (orch_core_engine_put_locked(m->core, &spec, &e) ==
			    ORCH_OK)
				ORCH_INFO("adopted engine %s (%.12s)", c->name,
				    c->id);
		} else if (e != NULL && e->running != c->running) {
			orch_state_engine_set_running(&m->core->state, e,
			    c->running, orch_core_now(m->core));
		}
		orch_core_unlock(m->core);
	}
	free(labels);
}

void
orch_mgr_reconcile(orch_mgr *m)
{
	const char *filter[2] = {NULL, NULL};
	char label[512];
	orch_rt_container *v = NULL;
	orch_diag diag;
	size_t n = 0, cur = 0, ngone = 0;
	char (*gone)[80] = NULL;
	orch_engine *e;
	int64_t t0 = orch_core_now(m->core);
	orch_err rv;

	snprintf(label, sizeof(label), "%s=%s", m->cfg->container_label_key,
	    m->cfg->container_label_value);
	filter[0] = label;
	rv = orch_docker_list(m->docker, filter, &v, &n, &diag);
	if (rv != ORCH_OK) {
		ORCH_WARN("reconcile: %s", diag.msg);
		if (is_transport(rv))
			env_update(m, 0, -1, -1);
		return;
	}
	for (size_t i = 0; i < n; i++)
		adopt_one(m, &v[i]);

	/* Engines whose container is gone, or stopped for good (Docker did
	 * not restart it), leave the state; engines put after the list was
	 * taken (a provision that just finished) are not judged by it. */
	orch_core_lock(m->core);
	m->core->env.docker_ok = true;
	gone = calloc(m->core->state.n_engines + 1, sizeof(*gone));
	while (gone != NULL &&
	    (e = orch_state_engine_next(&m->core->state, &cur)) != NULL) {
		bool present = false, running = false;

		if (!e->managed || e->last_seen_us >= t0)
			continue;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(v[i].id, e->container_id) == 0) {
				present = true;
				running = v[i].running;
				break;
			}
		}
		if (!present || (!running && !e->running))
			snprintf(gone[ngone++], sizeof(gone[0]), "%s",
			    e->container_id);
	}
	for (size_t i = 0; i < ngone; i++) {
		e = orch_state_engine_get(&m->core->state, gone[i]);
		if (e != NULL) {
			ORCH_INFO("engine %s left (container gone or stopped)",
			    e->container_name);
			orch_core_engine_remove_locked(m->core, e, "engine_gone");
		}
	}
	orch_core_unlock(m->core);
	free(gone);
	orch_rt_container_list_free(v, n);

	rv = orch_docker_image_inspect(m->docker, m->cfg->target_image, NULL);
	if (rv == ORCH_OK || rv == ORCH_ENOTFOUND)
		env_update(m, -1, rv == ORCH_OK, -1);
}

/* ---- events ----------------------------------------------------------- */

static void
on_event(void *arg, const orch_rt_event *ev)
{
	orch_mgr *m = arg;
	orch_core *core = m->core;
	orch_engine *e;
	bool inspect = false;

	if (strcmp(ev->type, "container") != 0 || ev->id[0] == '\0')
		return;
	orch_core_lock(core);
	e = orch_state_engine_get(&core->state, ev->id);
	if (strcmp(ev->action, "die") == 0) {
		if (e != NULL && e->running) {
			const char *code = orch_rt_event_attr(ev, "exitCode");

			ORCH_INFO("engine %s died (exit code %s)", e->container_name,
			    code != NULL ? code : "?");
			orch_state_engine_set_running(&core->state, e, false,
			    orch_core_now(core));
		}
	} else if (strcmp(ev->action, "destroy") == 0) {
		if (e != NULL)
			orch_core_engine_remove_locked(core, e, "engine_gone");
	} else if (strcmp(ev->action, "start") == 0) {
		if (e != NULL)
			orch_state_engine_set_running(&core->state, e, true,
			    orch_core_now(core));
		else
			inspect = true;
	}
	orch_core_unlock(core);
	if (inspect) {
		/* A managed container we do not know started: a Docker
		 * restart of an engine that left, or another tool. */
		orch_rt_container c;

		if (orch_docker_inspect(m->docker, ev->id, &c, NULL) == ORCH_OK) {
			adopt_one(m, &c);
			orch_rt_container_fini(&c);
		}
	}
}

static void
on_events_state(void *arg, bool connected, orch_err err, const char *msg)
{
	orch_mgr *m = arg;

	(void) err;
	if (connected) {
		/* Whatever happened during a gap: reconcile now. */
		pthread_mutex_lock(&m->mu);
		m->kick_reconcile = true;
		pthread_cond_broadcast(&m->cv);
		pthread_mutex_unlock(&m->mu);
	} else {
		ORCH_DEBUG("docker events: %s", msg != NULL ? msg : "down");
	}
}

/* ---- the control pass ------------------------------------------------- */

/* Up to AUTOSCALE_PARALLEL provisions at a time: Docker creates and
 * starts containers concurrently, and 50 engines one after the other
 * would take 50 create+start round trips. */
#define AUTOSCALE_PARALLEL 8

typedef struct many {
	orch_mgr *m;
	pthread_mutex_t mu;
	int left;     /* provisions still to start */
	bool stop;    /* one failed: start no more */
} many;

static void *
many_main(void *arg)
{
	many *w = arg;

	for (;;) {
		orch_engine_request req = {0};
		orch_provision_result res;
		orch_refusal refusal;
		char why[256];
		bool go;

		pthread_mutex_lock(&w->mu);
		go = !w->stop && w->left > 0;
		if (go)
			w->left--;
		pthread_mutex_unlock(&w->mu);
		if (!go)
			break;
		if (orch_mgr_provision(w->m, &req, 0, &res, &refusal, why,
		        sizeof(why)) != ORCH_OK) {
			ORCH_DEBUG("autoscale: %s", why);
			pthread_mutex_lock(&w->mu);
			w->stop = true;
			pthread_mutex_unlock(&w->mu);
		}
	}
	return NULL;
}

static void
provision_many(orch_mgr *m, int n)
{
	pthread_t t[AUTOSCALE_PARALLEL];
	int nt = n < AUTOSCALE_PARALLEL ? n : AUTOSCALE_PARALLEL, started = 0;
	many w;

	w.m = m;
	w.left = n;
	w.stop = false;
	pthread_mutex_init(&w.mu, NULL);
	for (int i = 1; i < nt; i++) {
		if (pthread_create(&t[started], NULL, many_main, &w) == 0)
			started++;
	}
	many_main(&w); /* this thread is a worker too */
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	pthread_mutex_destroy(&w.mu);
}

void
orch_mgr_control_pass(orch_mgr *m)
{
	orch_core *core = m->core;
	orch_engine *expired[16];
	char ids[16][80];
	size_t n;
	int start;
	orch_replacement rep;
	bool due;
	char sick[80] = "";

	/* Engines never healthy within STARTUP_TIMEOUT_S: removed, and
	 * counted against the general breaker. */
	orch_core_lock(core);
	orch_state_expire(&core->state, orch_core_now(core));
	n = orch_policy_startup_expired(&core->state, m->cfg,
	    orch_core_now(core), expired, 16);
	for (size_t i = 0; i < n; i++)
		snprintf(ids[i], sizeof(ids[i]), "%s", expired[i]->container_id);
	orch_core_unlock(core);
	for (size_t i = 0; i < n; i++) {
		ORCH_WARN("engine %.12s not healthy within %d s: removing",
		    ids[i], m->cfg->startup_timeout_s);
		if (stop_engine(m, ids[i], "engine_gone") == ORCH_OK) {
			orch_core_lock(core);
			orch_breaker_record_failure(&core->general,
			    orch_core_now(core));
			orch_core_unlock(core);
		}
	}

	/* One health replacement at a time. */
	orch_core_lock(core);
	due = orch_policy_replacement(&core->state, m->cfg, orch_core_now(core),
	    core->last_replacement_us, core->replacement_in_progress,
	    &core->replacement, &rep);
	if (due) {
		snprintf(sick, sizeof(sick), "%s", rep.engine->container_id);
		orch_state_engine_set_marked(&core->state, rep.engine, true);
		core->replacement_in_progress = true;
		(void) orch_breaker_try_acquire(&core->replacement,
		    orch_core_now(core));
	}
	orch_core_unlock(core);
	if (due) {
		orch_engine_request req = {0};
		orch_provision_result res;
		orch_refusal refusal;
		char why[256];
		orch_err rv = ORCH_OK;

		ORCH_WARN("replacing unhealthy engine %.12s (%s)", sick,
		    rep.start_first ? "new one first" : "stopping it first");
		if (rep.start_first) {
			rv = orch_mgr_provision(m, &req, 0, &res, &refusal, why,
			    sizeof(why));
			(void) stop_engine(m, sick, "engine_unhealthy");
		} else {
			(void) stop_engine(m, sick, "engine_unhealthy");
			rv = orch_mgr_provision(m, &req, 0, &res, &refusal, why,
			    sizeof(why));
		}
		orch_core_lock(core);
		if (rv == ORCH_OK)
			orch_breaker_record_success(&core->replacement,
			    orch_core_now(core));
		else
			orch_breaker_record_failure(&core->replacement,
			    orch_core_now(core));
		core->last_replacement_us = orch_core_now(core);
		core->replacement_in_progress = false;
		orch_core_unlock(core);
	}

	/* Keep MIN_REPLICAS free engines. */
	orch_core_lock(core);
	{
		orch_state_counts c = core->state.counts;

		c.engines += core->provisioning;
		c.free += core->provisioning;
		start = orch_policy_autoscale(&c, m->cfg);
	}
	orch_core_unlock(core);
	if (start > 0)
		provision_many(m, start);

	/* Idle engines past their grace period (AUTO_DELETE). */
	orch_core_lock(core);
	n = orch_policy_gc(&core->state, m->cfg, orch_core_now(core), false,
	    expired, 16);
	for (size_t i = 0; i < n; i++)
		snprintf(ids[i], sizeof(ids[i]), "%s", expired[i]->container_id);
	orch_core_unlock(core);
	for (size_t i = 0; i < n; i++) {
		ORCH_INFO("engine %.12s idle past its grace period: stopping",
		    ids[i]);
		(void) stop_engine(m, ids[i], "idle");
	}
}

orch_err
orch_mgr_scale(orch_mgr *m, int n, int *scaled_to, char *why, size_t whylen)
{
	orch_engine *stop[64];
	char ids[64][80];
	orch_scale_plan plan;
	orch_err rv = ORCH_OK;

	orch_core_lock(m->core);
	plan = orch_policy_scale(&m->core->state, m->cfg, n, stop, 64);
	for (size_t i = 0; i < plan.n_stop; i++)
		snprintf(ids[i], sizeof(ids[i]), "%s", stop[i]->container_id);
	orch_core_unlock(m->core);
	*scaled_to = plan.scaled_to;
	for (size_t i = 0; i < plan.n_stop; i++)
		(void) stop_engine(m, ids[i], "scaled_down");
	if (plan.start > 0) {
		int before, after;

		orch_core_lock(m->core);
		before = m->core->state.counts.engines;
		orch_core_unlock(m->core);
		provision_many(m, plan.start);
		orch_core_lock(m->core);
		after = m->core->state.counts.engines;
		orch_core_unlock(m->core);
		if (after - before < plan.start) {
			snprintf(why, whylen, "started %d of %d engines",
			    after - before, plan.start);
			rv = ORCH_EUNAVAIL;
		}
	}
	return rv;
}

size_t
orch_mgr_gc(orch_mgr *m, char (*ids)[80], size_t cap)
{
	orch_engine *v[64];
	size_t n, k = 0;

	if (cap > 64)
		cap = 64;
	orch_core_lock(m->core);
	n = orch_policy_gc(&m->core->state, m->cfg, orch_core_now(m->core),
	    true, v, cap);
	for (size_t i = 0; i < n; i++)
		snprintf(ids[i], 80, "%s", v[i]->container_id);
	orch_core_unlock(m->core);
	for (size_t i = 0; i < n; i++) {
		if (stop_engine(m, ids[i], "idle") == ORCH_OK) {
			if (k != i)
				memcpy(ids[k], ids[i], 80);
			k++;
		}
	}
	return k;
}

/* ---- threads ---------------------------------------------------------- */

/* Waits until `deadline_ms` (monotonic) or a kick/stop; returns false
 * when stopping. */
static bool
wait_until(orch_mgr *m, int64_t deadline_ms)
{
	bool running;

	pthread_mutex_lock(&m->mu);
	while (!m->stopping && !m->kick_reconcile &&
	    orch_cond_wait_until(&m->cv, &m->mu, deadline_ms) == 0)
		;
	running = !m->stopping;
	pthread_mutex_unlock(&m->mu);
	return running;
}

static void *
control_main(void *arg)
{
	orch_mgr *m = arg;
	int64_t next_reconcile = orch_mono_ms() +
	    (int64_t) m->cfg->monitor_interval_s * 1000;
	int64_t next_pass = orch_mono_ms();

	for (;;) {
		int64_t now = orch_mono_ms();
		bool kick;

		pthread_mutex_lock(&m->mu);
		kick = m->kick_reconcile;
		m->kick_reconcile = false;
		pthread_mutex_unlock(&m->mu);
		if (kick || now >= next_reconcile) {
			orch_mgr_reconcile(m);
			next_reconcile = orch_mono_ms() +
			    (int64_t) m->cfg->monitor_interval_s * 1000;
		}
		if (now >= next_pass) {
			orch_mgr_control_pass(m);
			next_pass = orch_mono_ms() +
			    (int64_t) m->cfg->autoscale_interval_s * 1000;
		}
		if (!wait_until(m, next_pass < next_reconcile ? next_pass
		                                              : next_reconcile))
			break;
	}
	return NULL;
}

/* TARGET_IMAGE per IMAGE_PULL, on its own thread: a pull can take
 * minutes and must not hold up the control loop. */
static void *
image_main(void *arg)
{
	orch_mgr *m = arg;
	const char *image = m->cfg->target_image;
	orch_diag diag;
	orch_err rv = orch_docker_image_inspect(m->docker, image, &diag);
	bool present = rv == ORCH_OK;

	if (rv == ORCH_OK || rv == ORCH_ENOTFOUND)
		env_update(m, 1, present, -1);
	if (m->cfg->image_pull == ORCH_IMAGE_PULL_ALWAYS ||
	    (m->cfg->image_pull == ORCH_IMAGE_PULL_MISSING && rv == ORCH_ENOTFOUND)) {
		ORCH_INFO("pulling %s", image);
		env_update(m, -1, -1, 1);
		rv = orch_docker_image_pull(m->docker, image, 30 * 60 * 1000,
		    &diag);
		if (rv != ORCH_OK)
			ORCH_WARN("pull of %s failed: %s", image, diag.msg);
		rv = orch_docker_image_inspect(m->docker, image, NULL);
		env_update(m, -1, rv == ORCH_OK, 0);
	} else if (!present && rv == ORCH_ENOTFOUND) {
		ORCH_WARN("image %s is not present and IMAGE_PULL=never", image);
	}
	return NULL;
}

orch_err
orch_mgr_open(const orch_mgr_opts *opts, orch_mgr **out)
{
	orch_mgr *m;

	*out = NULL;
	if (opts->core == NULL || opts->docker == NULL)
		return ORCH_EINVAL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return ORCH_ENOMEM;
	m->core = opts->core;
	m->cfg = opts->core->cfg;
	m->docker = opts->docker;
	m->probe = opts->port_probe != NULL ? opts->port_probe : bind_probe;
	m->probe_arg = opts->port_probe_arg;
	m->no_loops = opts->no_loops;
	pthread_mutex_init(&m->mu, NULL);
	orch_cond_init_mono(&m->cv);
	*out = m;
	return ORCH_OK;
}

orch_err
orch_mgr_start(orch_mgr *m)
{
	orch_rt_events_opts eo;
	const char *filter[2] = {NULL, NULL};
	char label[512];
	orch_err rv = ORCH_OK;

	if (orch_docker_ping(m->docker, NULL) == ORCH_OK)
		env_update(m, 1, -1, -1);
	orch_mgr_reconcile(m);
	if (m->no_loops)
		return ORCH_OK;
	snprintf(label, sizeof(label), "%s=%s", m->cfg->container_label_key,
	    m->cfg->container_label_value);
	filter[0] = label;
	memset(&eo, 0, sizeof(eo));
	eo.labels = filter;
	eo.type = "container";
	eo.on_event = on_event;
	eo.on_state = on_events_state;
	eo.arg = m;
	eo.backoff_max_ms = 2000;
	rv = orch_docker_events_open(m->docker, &eo, &m->events);
	if (rv == ORCH_OK) {
		m->image_running =
		    pthread_create(&m->image, NULL, image_main, m) == 0;
		m->control_running =
		    pthread_create(&m->control, NULL, control_main, m) == 0;
		if (!m->control_running)
			rv = ORCH_ESYS;
	}
	return rv;
}

void
orch_mgr_close(orch_mgr *m)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	m->stopping = true;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	orch_docker_events_close(m->events);
	if (m->control_running)
		pthread_join(m->control, NULL);
	if (m->image_running)
		pthread_join(m->image, NULL);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	free(m);
}

orch_docker *
orch_mgr_docker(orch_mgr *m)
{
	return m->docker;
}
