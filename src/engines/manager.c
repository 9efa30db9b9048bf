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
#include "src/core/control.h"
#include "src/core/provision.h"
#include "src/core/vpncfg.h"
#include "src/runtime/imageref.h"

/* Numbers tried when names are taken on the runtime (leftovers). */
#define NAME_ATTEMPTS 32
/* Times a start may fail on a host port someone else took meanwhile. */
#define PORT_ATTEMPTS 4
#define STOP_TIMEOUT_S ORCH_MGR_STOP_TIMEOUT_S
/* Engines one control step acts on at most (the next pass does more). */
#define STEP_MAX 16
#define SCALE_MAX 64

struct orch_mgr {
	orch_core *core;
	const orch_config *cfg;
	orch_runtime rt;
	orch_rt_kv managed; /* CONTAINER_LABEL as a pair (cfg's strings) */
	orch_port_probe_fn probe;
	void *probe_arg;
	bool no_loops;

	pthread_mutex_t mu; /* the fields below */
	pthread_cond_t cv;
	bool stopping;
	bool kick_reconcile;
	bool control_running;
	pthread_t control;
	bool image_running;
	pthread_t image;
	orch_rt_events *events;
};

/* ---- helpers ---------------------------------------------------------- */

bool
orch_mgr_host_port_free(void *arg, int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	bool free_port;

	(void) arg;
	if (fd < 0)
		return true; /* cannot tell: let the runtime decide */
	/* As Docker's publisher binds (Go sets SO_REUSEADDR): a port whose
	 * last connection is in TIME_WAIT is free for it, and so for us;
	 * one someone listens on is still refused. */
	(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t) port);
	a.sin_addr.s_addr = htonl(INADDR_ANY);
	free_port = bind(fd, (struct sockaddr *) &a, sizeof(a)) == 0;
	close(fd);
	return free_port;
}

/* The runtime did not answer (as opposed to answering "no"). */
static bool
is_transport(orch_err e)
{
	return e == ORCH_EUNAVAIL || e == ORCH_ETIMEDOUT;
}

/* Docker's words for a host port someone else holds. */
static bool
port_conflict(const orch_diag *d)
{
	return strstr(d->msg, "port is already allocated") != NULL ||
	       strstr(d->msg, "address already in use") != NULL;
}

/*
 * Points out[i] at the strings of pairs[i], for i < n: the core's
 * orch_label and the runtime's orch_rt_kv are both (key, value), and each
 * layer takes only its own, so an engine's labels cross as views. out has
 * room for n; the strings stay pairs'.
 */
#define LABEL_VIEWS(out, pairs, n)                                            \
	do {                                                                  \
		for (size_t lv_ = 0; lv_ < (n); lv_++) {                      \
			(out)[lv_].key = (pairs)[lv_].key;                    \
			(out)[lv_].value = (pairs)[lv_].value;                \
		}                                                             \
	} while (0)

static bool
is_managed(const orch_mgr *m, const orch_rt_container *c)
{
	const char *v = orch_rt_container_label(c, m->managed.key);

	return v != NULL && strcmp(v, m->managed.value) == 0;
}

/* The engine spec of container c when it is an engine container (as
 * opposed to a generic one); spec points into c and *labels, which the
 * caller frees after using it (also when false). */
static bool
engine_spec_of(const orch_mgr *m, const orch_rt_container *c,
    orch_label **labels, orch_engine_spec *spec)
{
	orch_container_view view;

	*labels = calloc(c->n_labels + 1, sizeof(**labels));
	if (*labels == NULL)
		return false;
	LABEL_VIEWS(*labels, c->labels, c->n_labels);
	view.id = c->id;
	view.name = c->name;
	view.labels = *labels;
	view.n_labels = c->n_labels;
	view.running = c->running;
	return orch_engine_adopt(m->cfg, &view, spec) == ORCH_OK;
}

static bool
is_engine(const orch_mgr *m, const orch_rt_container *c)
{
	orch_label *labels;
	orch_engine_spec spec;
	bool yes = engine_spec_of(m, c, &labels, &spec);

	free(labels);
	return yes;
}

static void
diag_copy(orch_diag *to, const orch_diag *from)
{
	if (to != NULL)
		*to = *from;
}

/* Removes a container we made and must not leave behind; frees *id. */
static void
drop_container(orch_mgr *m, char **id)
{
	(void) orch_rt_remove(&m->rt, *id, true, NULL);
	free(*id);
	*id = NULL;
}

/* Creates and starts a container from the plan. *id_out (malloc'd) is set
 * once the container exists, even when the start then fails. */
static orch_err
create_and_start(
    orch_mgr *m, const orch_engine_plan *p, char **id_out, orch_diag *diag)
{
	orch_rt_create_spec cs;
	orch_rt_publish pub[2];
	orch_rt_kv *labels = calloc(p->n_labels + 1, sizeof(*labels));
	const char **env = calloc(p->n_env + 1, sizeof(*env));
	orch_err rv = ORCH_ENOMEM;

	*id_out = NULL;
	if (labels == NULL || env == NULL)
		goto out;
	/* Views of the plan's strings: the plan owns them. */
	LABEL_VIEWS(labels, p->labels, p->n_labels);
	for (size_t i = 0; i < p->n_env; i++)
		env[i] = p->env[i];
	for (size_t i = 0; i < p->n_publish; i++) {
		pub[i].container_port = p->publish[i].container_port;
		pub[i].host_port = p->publish[i].host_port;
		pub[i].proto = "tcp";
	}
	memset(&cs, 0, sizeof(cs));
	cs.name = p->name;
	cs.image = p->image;
	cs.env = env;
	cs.labels = labels;
	cs.n_labels = p->n_labels;
	cs.ports = pub;
	cs.n_ports = p->n_publish;
	/* Proxies elsewhere reach ENGINE_HOST: publish on every address then;
	 * otherwise on loopback only. */
	cs.host_ip = m->cfg->engine_host != NULL ? "0.0.0.0" : "127.0.0.1";
	cs.restart_policy = p->restart_policy;
	cs.network = p->network_mode != NULL ? p->network_mode : p->network;
	rv = orch_rt_create(&m->rt, &cs, id_out, diag);
	if (rv == ORCH_OK)
		rv = orch_rt_start(&m->rt, *id_out, diag);
out:
	free(labels);
	free(env);
	return rv;
}

/* ---- provisioning ----------------------------------------------------- */

/* One provision's working set: the slot the core reserved, the plan made
 * from it and the container the runtime made of the plan. */
typedef struct prov {
	const orch_engine_request *req;
	orch_slot slot;
	orch_engine_plan plan;
	char *id;        /* the container while it exists */
	bool created;    /* the last attempt got as far as a container */
	bool may_repick; /* the port is ours to change: no explicit
	                    host_port, no VPN (Gluetun publishes them) */
	int64_t t_start_ns;
	bool expired; /* the deadline passed before a create */
} prov;

static void
slot_to_plan(const orch_config *cfg, const orch_slot *s, orch_engine_slot *out)
{
	memset(out, 0, sizeof(*out));
	out->number = s->number;
	out->http_port = s->http_port;
	out->https_port = s->https_port;
	/* VPN mode: the Gluetun the core chose, its ports, its forwarded
	 * port when this engine is to own it (src/core/vpn.h). */
	if (s->vpn >= 0 && (size_t) s->vpn < cfg->n_vpns) {
		out->vpn = cfg->vpns[s->vpn].name;
		out->host_http_port = s->host_http_port;
		out->host_https_port = s->host_https_port;
		out->forwarded = s->p2p_port > 0;
		out->p2p_port = s->p2p_port;
	}
}

/*
 * The runtime part, outside the lock: build the plan, create and start,
 * and retry on what someone else may have taken since the slot was
 * reserved (a name, a host port). ORCH_OK with p->id running; otherwise
 * the failing call's error (diag says it) and nothing left behind.
 */
static orch_err
prov_run(orch_mgr *m, prov *p, orch_diag *diag)
{
	orch_engine_slot es;
	int names = 0, ports = 0;
	orch_err rv;

	for (;;) {
		if (p->req->deadline_ms != 0 &&
		    orch_mono_ms() >= p->req->deadline_ms) {
			/* The caller has given up (Acexy waits 3 s): an engine
			 * made now would be the duplicate it provisions
			 * next. Nothing is created. */
			p->expired = true;
			orch_diag_set(diag, "provision deadline passed before "
			                    "the container was created");
			rv = ORCH_ETIMEDOUT;
			break;
		}
		slot_to_plan(m->cfg, &p->slot, &es);
		orch_engine_plan_fini(&p->plan);
		p->created = false;
		rv = orch_engine_plan_build(
		    m->cfg, p->req, &es, &p->plan, diag);
		if (rv != ORCH_OK)
			break;
		rv = create_and_start(m, &p->plan, &p->id, diag);
		p->created = p->id != NULL;
		if (rv == ORCH_EEXIST && !p->created &&
		    ++names < NAME_ATTEMPTS) {
			/* The name is taken on the runtime (a leftover,
			 * another orchestrator): the next number. */
			orch_core_slot_renumber(m->core, &p->slot);
			continue;
		}
		if (rv != ORCH_OK && p->created && p->may_repick &&
		    port_conflict(diag) && ++ports < PORT_ATTEMPTS) {
			/* Someone bound our port between the probe and the
			 * start: drop this container, take the next port. */
			drop_container(m, &p->id);
			rv = orch_core_slot_repick_port(
			    m->core, &p->slot, diag);
			if (rv != ORCH_OK)
				break;
			continue;
		}
		break;
	}
	if (rv != ORCH_OK && p->id != NULL)
		drop_container(m, &p->id); /* created, not started */
	return rv;
}

/* What a failed runtime part means for the core. */
static orch_slot_outcome
prov_outcome(orch_err rv, bool created)
{
	if (is_transport(rv))
		return ORCH_SLOT_DOCKER_DOWN;
	if (rv == ORCH_ENOTFOUND && !created)
		return ORCH_SLOT_IMAGE_MISSING; /* no such image */
	if (rv == ORCH_EINVAL)
		return ORCH_SLOT_INVALID;
	return ORCH_SLOT_FAILED;
}

/* The core records the outcome: commit the engine, or abort the slot.
 * Returns the provision's result. */
static orch_err
prov_record(orch_mgr *m, prov *p, orch_err rv, orch_provision_result *res,
    orch_refusal *refusal, orch_diag *diag)
{
	orch_engine_spec spec;
	orch_slot_outcome outcome;

	if (rv != ORCH_OK) {
		outcome = p->expired ? ORCH_SLOT_CANCELLED
		                     : prov_outcome(rv, p->created);
		orch_core_slot_abort(m->core, &p->slot, outcome, refusal);
		if (outcome == ORCH_SLOT_DOCKER_DOWN)
			rv = ORCH_EUNAVAIL;
		else if (outcome == ORCH_SLOT_IMAGE_MISSING)
			rv = ORCH_EPRECOND;
		return rv;
	}
	{
		orch_container_view view = {p->id, p->plan.name,
		    p->plan.labels, p->plan.n_labels, true};

		(void) orch_engine_adopt(m->cfg, &view, &spec);
		rv = orch_core_slot_commit(m->core, &p->slot, &spec,
		    (double) (orch_mono_ns() - p->t_start_ns) / 1e9, diag);
	}
	if (rv != ORCH_OK) {
		drop_container(
		    m, &p->id); /* nothing the state does not know */
		return rv;
	}
	snprintf(res->container_id, sizeof(res->container_id), "%s", p->id);
	snprintf(res->container_name, sizeof(res->container_name), "%s",
	    p->plan.name);
	res->host_http_port = spec.host_http_port;
	res->container_http_port = spec.container_http_port;
	res->container_https_port = spec.container_https_port;
	return ORCH_OK;
}

orch_err
orch_mgr_provision(orch_mgr *m, const orch_engine_request *req, int host_port,
    orch_provision_result *res, orch_refusal *refusal, orch_diag *diag)
{
	bool vpn = orch_vpn_enabled(m->cfg);
	orch_slot_opts so;
	orch_diag d;
	prov p;
	orch_err rv;

	memset(res, 0, sizeof(*res));
	memset(&p, 0, sizeof(p));
	memset(&so, 0, sizeof(so));
	so.host_port = host_port;
	so.custom_image = req->image != NULL;
	/* With VPN the ports are Gluetun's: it holds them on the host, so
	 * a bind probe would refuse every one (src/core/vpn.h). */
	so.probe = vpn ? NULL : m->probe;
	so.probe_arg = m->probe_arg;
	so.vpn = req->vpn;
	so.forwarded = req->forwarded;
	orch_diag_clear(&d);
	p.req = req;
	p.may_repick = host_port == 0 && !vpn;
	p.t_start_ns = orch_mono_ns();

	refusal->code = ORCH_REFUSE_NONE;
	/* 0. The caller's mistakes are answered before anything is held
	 * (and never count against the breaker). */
	rv = orch_engine_request_check(m->cfg, req, &d);
	if (rv != ORCH_OK)
		goto out;
	/* 1. The core decides: allowed? which number and ports? */
	rv = orch_core_slot_reserve(m->core, &so, &p.slot, refusal, &d);
	if (rv != ORCH_OK)
		goto out;
	/* 2. The runtime, outside the lock. 3. The core records it. */
	rv = prov_run(m, &p, &d);
	rv = prov_record(m, &p, rv, res, refusal, &d);
	if (rv == ORCH_OK)
		ORCH_INFO("engine %s (%.12s) started on port %d", p.plan.name,
		    res->container_id, res->host_http_port);
	else if (refusal->code == ORCH_REFUSE_NONE)
		ORCH_WARN("provision failed: %s",
		    orch_diag_msg(&d, orch_strerror(rv)));
out:
	if (rv != ORCH_OK && refusal->code != ORCH_REFUSE_NONE)
		orch_diag_set(&d, "%s", orch_refusal_reason(refusal->code));
	else if (rv != ORCH_OK && d.msg[0] == '\0')
		orch_diag_set(&d, "%s", orch_strerror(rv));
	diag_copy(diag, &d);
	orch_engine_plan_fini(&p.plan);
	free(p.id);
	return rv;
}

/* A provision with the defaults (the autoscaler, a replacement). */
static orch_err
provision_default(orch_mgr *m, orch_diag *diag)
{
	orch_engine_request req = {0};
	orch_provision_result res;
	orch_refusal refusal;

	return orch_mgr_provision(m, &req, 0, &res, &refusal, diag);
}

/* ---- stopping --------------------------------------------------------- */

/* Stops and removes a container, then drops its engine from state. */
static orch_err
stop_engine(orch_mgr *m, const char *id, const char *reason)
{
	orch_diag diag;
	orch_err rv;

	rv = orch_rt_stop(&m->rt, id, STOP_TIMEOUT_S, &diag);
	if (rv == ORCH_OK || rv == ORCH_ENOTFOUND)
		rv = orch_rt_remove(&m->rt, id, true, &diag);
	if (rv == ORCH_ENOTFOUND)
		rv = ORCH_OK; /* gone already: what we wanted */
	if (rv != ORCH_OK)
		ORCH_WARN("stopping %.12s: %s", id, diag.msg);
	if (rv == ORCH_OK)
		(void) orch_core_engine_drop(m->core, id, reason);
	if (is_transport(rv))
		orch_core_set_docker_ok(m->core, false);
	return rv;
}

/* Stops an engine GC or Scale chose (and the core drained): only if it
 * is still idle now, else it serves again (ORCH_EABORTED). A failed stop
 * puts it back in service too: it still runs. */
static orch_err
stop_drained(orch_mgr *m, const char *id, const char *reason)
{
	orch_err rv = ORCH_EABORTED;

	if (orch_core_drain_confirm(m->core, id)) {
		rv = stop_engine(m, id, reason);
		if (rv != ORCH_OK)
			orch_core_drain_cancel(m->core, id);
	}
	return rv;
}

/* The full id of a managed container that is not an engine in state (a
 * stopped one, a generic one), from the runtime. */
static orch_err
resolve_container(
    orch_mgr *m, const char *id, char full[ORCH_CORE_ID_MAX], orch_diag *diag)
{
	orch_rt_container c;
	orch_err rv;

	rv = orch_rt_inspect(&m->rt, id, &c, diag);
	if (rv == ORCH_EINVAL)
		rv = ORCH_ENOTFOUND; /* an id no container can have */
	if (rv == ORCH_ENOTFOUND)
		orch_diag_set(diag, "no such container");
	if (rv != ORCH_OK)
		return rv;
	if (is_managed(m, &c))
		snprintf(full, ORCH_CORE_ID_MAX, "%s", c.id);
	else
		rv = ORCH_ENOTFOUND;
	orch_rt_container_fini(&c);
	if (rv != ORCH_OK)
		orch_diag_set(diag, "container %s is not managed", id);
	return rv;
}

orch_err
orch_mgr_delete(orch_mgr *m, const char *id, char *deleted, size_t deleted_len,
    orch_diag *diag)
{
	char full[ORCH_CORE_ID_MAX];
	orch_diag d;
	orch_err rv;

	orch_diag_clear(&d);
	if (orch_core_engine_resolve(m->core, id, full) != ORCH_OK &&
	    (rv = resolve_container(m, id, full, &d)) != ORCH_OK)
		goto out;
	rv = stop_engine(m, full, "engine_gone");
	if (rv == ORCH_OK)
		snprintf(deleted, deleted_len, "%s", full);
	else
		orch_diag_set(&d, "%s", orch_strerror(rv));
out:
	diag_copy(diag, &d);
	return rv;
}

void
orch_mgr_cleanup(orch_mgr *m)
{
	orch_rt_container *v = NULL;
	size_t n = 0;

	if (orch_rt_list(&m->rt, &m->managed, 1, &v, &n, NULL) != ORCH_OK)
		return;
	for (size_t i = 0; i < n; i++)
		(void) stop_engine(m, v[i].id, "orchestrator_exit");
	orch_rt_container_list_free(v, n);
}

/* ---- reconcile -------------------------------------------------------- */

/* Adopts (or refreshes) one container. */
static void
adopt_one(orch_mgr *m, const orch_rt_container *c)
{
	orch_label *labels;
	orch_engine_spec spec;

	if (engine_spec_of(m, c, &labels, &spec) &&
	    orch_core_adopt(m->core, &spec))
		ORCH_INFO("adopted engine %s (%.12s)", c->name, c->id);
	free(labels);
}

/* Every managed container's name: numbers they hold are not offered to
 * a new engine (a leftover's name would cost a failed create). */
static void
note_names(orch_mgr *m, const orch_rt_container *v, size_t n, const bool *gone)
{
	const char **names = calloc(n + 1, sizeof(*names));
	size_t k = 0;

	if (names == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		if (!gone[i])
			names[k++] = v[i].name;
	}
	(void) orch_core_set_taken_names(m->core, names, k);
	free(names);
}

/*
 * Engine containers that stopped for good ("exited", "dead": no restart
 * policy will bring them back, or Docker would show them restarting):
 * removed, so that they hold no name and no port and are not left behind
 * unlisted (gone[i] tells which). "created" ones are left alone: a provision
 * in flight is between its create and its start. Generic containers (POST
 * /provision) are their owner's.
 */
static void
remove_leftovers(orch_mgr *m, const orch_rt_container *v, size_t n, bool *gone)
{
	for (size_t i = 0; i < n; i++) {
		const orch_rt_container *c = &v[i];

		if (c->running || c->state == NULL ||
		    (strcmp(c->state, "exited") != 0 &&
		        strcmp(c->state, "dead") != 0) ||
		    !is_engine(m, c))
			continue;
		gone[i] = orch_rt_remove(&m->rt, c->id, true, NULL) == ORCH_OK;
		if (gone[i])
			ORCH_INFO(
			    "removed stopped engine container %s (%.12s)",
			    c->name, c->id);
	}
}

static void
log_gone(void *arg, const orch_engine *e)
{
	(void) arg;
	ORCH_INFO(
	    "engine %s left (container gone or stopped)", e->container_name);
}

void
orch_mgr_reconcile(orch_mgr *m)
{
	orch_rt_container *v = NULL;
	orch_core_seen *seen = NULL;
	bool *gone = NULL;
	orch_diag diag;
	size_t n = 0;
	int64_t t0 = orch_core_now(m->core);
	orch_err rv;

	rv = orch_rt_list(&m->rt, &m->managed, 1, &v, &n, &diag);
	if (rv != ORCH_OK) {
		ORCH_WARN("reconcile: %s", diag.msg);
		if (is_transport(rv))
			orch_core_set_docker_ok(m->core, false);
		return;
	}
	orch_core_set_docker_ok(m->core, true);
	for (size_t i = 0; i < n; i++)
		adopt_one(m, &v[i]);
	if ((gone = calloc(n + 1, sizeof(*gone))) != NULL) {
		remove_leftovers(m, v, n, gone);
		note_names(m, v, n, gone);
	}
	free(gone);
	/* Engines whose container is gone, or stopped for good (the
	 * runtime did not restart it), leave the state; engines put after
	 * the list was taken (a provision that just finished) are not
	 * judged by it. */
	if ((seen = calloc(n + 1, sizeof(*seen))) != NULL) {
		for (size_t i = 0; i < n; i++) {
			seen[i].id = v[i].id;
			seen[i].running = v[i].running;
		}
		(void) orch_core_drop_unlisted(
		    m->core, t0, seen, n, log_gone, m);
	}
	free(seen);
	orch_rt_container_list_free(v, n);

	rv = orch_rt_image_inspect(&m->rt, m->cfg->target_image, NULL);
	if (rv == ORCH_OK || rv == ORCH_ENOTFOUND)
		orch_core_set_image_present(m->core, rv == ORCH_OK);
}

/* ---- events ----------------------------------------------------------- */

static void
on_event(void *arg, const orch_rt_event *ev)
{
	orch_mgr *m = arg;
	char name[ORCH_CORE_NAME_MAX];
	bool changed = false;

	if (strcmp(ev->type, "container") != 0 || ev->id[0] == '\0')
		return;
	if (strcmp(ev->action, "die") == 0) {
		if (orch_core_engine_set_running(m->core, ev->id, false,
		        &changed, name, sizeof(name)) == ORCH_OK &&
		    changed) {
			const char *code = orch_rt_event_attr(ev, "exitCode");

			ORCH_INFO("engine %s died (exit code %s)", name,
			    code != NULL ? code : "?");
		}
	} else if (strcmp(ev->action, "destroy") == 0) {
		(void) orch_core_engine_drop(m->core, ev->id, "engine_gone");
	} else if (strcmp(ev->action, "start") == 0 &&
	           orch_core_engine_set_running(m->core, ev->id, true, NULL,
	               NULL, 0) == ORCH_ENOTFOUND) {
		/* A managed container we do not know started: a restart of
		 * an engine that left, or another tool. */
		orch_rt_container c;

		if (orch_rt_inspect(&m->rt, ev->id, &c, NULL) == ORCH_OK) {
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
		ORCH_DEBUG("runtime events: %s", msg != NULL ? msg : "down");
	}
}

/* ---- the control pass ------------------------------------------------- */

/* Up to AUTOSCALE_PARALLEL provisions at a time: the runtime creates and
 * starts containers concurrently, and 50 engines one after the other
 * would take 50 create+start round trips. */
#define AUTOSCALE_PARALLEL 8

typedef struct many {
	orch_mgr *m;
	pthread_mutex_t mu;
	int left;  /* provisions still to start */
	bool stop; /* one failed: start no more */
} many;

static void *
many_main(void *arg)
{
	many *w = arg;

	for (;;) {
		orch_diag diag;
		bool go;

		pthread_mutex_lock(&w->mu);
		go = !w->stop && w->left > 0;
		if (go)
			w->left--;
		pthread_mutex_unlock(&w->mu);
		if (!go)
			break;
		if (provision_default(w->m, &diag) != ORCH_OK) {
			ORCH_DEBUG("autoscale: %s", diag.msg);
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

/* Engines provisioned here and never healthy within STARTUP_TIMEOUT_S,
 * and engines in a crash loop: removed (the core counted each against
 * the general breaker when it named them). */
static void
control_startup_timeouts(orch_mgr *m)
{
	char ids[STEP_MAX][ORCH_CORE_ID_MAX];
	size_t n;

	orch_core_expire_reservations(m->core);
	n = orch_core_startup_expired(m->core, ids, STEP_MAX);
	for (size_t i = 0; i < n; i++) {
		ORCH_WARN("engine %.12s not healthy within %d s: removing",
		    ids[i], m->cfg->startup_timeout_s);
		(void) stop_engine(m, ids[i], "engine_gone");
	}
	n = orch_core_crash_looping(m->core, ids, STEP_MAX);
	for (size_t i = 0; i < n; i++) {
		ORCH_WARN("engine %.12s restarted %d times within %d s: "
		          "removing",
		    ids[i], m->cfg->crash_loop_restarts,
		    m->cfg->crash_loop_window_s);
		(void) stop_engine(m, ids[i], "engine_gone");
	}
}

/* One health replacement at a time; below MAX_REPLICAS the new engine
 * starts first. Its outcome feeds the replacement breaker. */
static void
control_replacement(orch_mgr *m)
{
	char sick[ORCH_CORE_ID_MAX];
	bool start_first;
	orch_diag diag;
	orch_err rv, stopped;

	if (!orch_core_replacement_begin(m->core, sick, &start_first))
		return;
	ORCH_WARN("replacing unhealthy engine %.12s (%s)", sick,
	    start_first ? "new one first" : "stopping it first");
	if (start_first) {
		rv = provision_default(m, &diag);
		stopped = stop_engine(m, sick, "engine_unhealthy");
	} else {
		stopped = stop_engine(m, sick, "engine_unhealthy");
		rv = stopped == ORCH_OK ? provision_default(m, &diag)
		                        : ORCH_EABORTED;
	}
	if (stopped != ORCH_OK)
		orch_core_replacement_unmark(m->core, sick);
	orch_core_replacement_end(m->core, rv == ORCH_OK);
}

/* Keep MIN_REPLICAS free engines. */
static void
control_autoscale(orch_mgr *m)
{
	int start = orch_core_autoscale_need(m->core);

	if (start > 0)
		provision_many(m, start);
}

/* Idle engines past their grace period (AUTO_DELETE). */
static void
control_idle_gc(orch_mgr *m)
{
	char ids[STEP_MAX][ORCH_CORE_ID_MAX];
	size_t n = orch_core_gc_candidates(m->core, false, ids, STEP_MAX);

	for (size_t i = 0; i < n; i++) {
		if (stop_drained(m, ids[i], "idle") == ORCH_OK)
			ORCH_INFO("engine %.12s idle past its grace period: "
			          "stopped",
			    ids[i]);
	}
}

void
orch_mgr_control_pass(orch_mgr *m)
{
	control_startup_timeouts(m);
	control_replacement(m);
	control_autoscale(m);
	control_idle_gc(m);
}

orch_err
orch_mgr_scale(orch_mgr *m, int n, int *scaled_to, orch_diag *diag)
{
	char ids[SCALE_MAX][ORCH_CORE_ID_MAX];
	orch_scale_plan plan;
	orch_err rv = ORCH_OK;

	orch_diag_clear(diag);
	plan = orch_core_scale_candidates(m->core, n, ids, SCALE_MAX);
	*scaled_to = plan.scaled_to;
	if (plan.deferred) {
		orch_diag_set(diag, "restoring streams from the database: "
		                    "scale again once the engines are back");
		return ORCH_EUNAVAIL;
	}
	for (size_t i = 0; i < plan.n_stop; i++)
		(void) stop_drained(m, ids[i], "scaled_down");
	if (plan.start > 0) {
		int before = orch_core_engine_count(m->core), after;

		provision_many(m, plan.start);
		after = orch_core_engine_count(m->core);
		if (after - before < plan.start) {
			orch_diag_set(diag, "started %d of %d engines",
			    after - before, plan.start);
			rv = ORCH_EUNAVAIL;
		}
	}
	return rv;
}

size_t
orch_mgr_gc(orch_mgr *m, char (*ids)[80], size_t cap)
{
	size_t n, k = 0;

	n = orch_core_gc_candidates(m->core, true, ids, cap);
	for (size_t i = 0; i < n; i++) {
		if (stop_drained(m, ids[i], "idle") == ORCH_OK) {
			if (k != i)
				memcpy(ids[k], ids[i], sizeof(ids[0]));
			k++;
		}
	}
	return k;
}

/* ---- generic containers ----------------------------------------------- */

/* The create spec's arrays for a generic container: "K=V" strings (owned)
 * and label pairs (views, CONTAINER_LABEL first so that no caller label
 * can take it over). */
typedef struct generic {
	orch_rt_publish *pub;
	char **env;
	size_t n_env;
	orch_rt_kv *labels;
	size_t n_labels;
} generic;

static orch_err
generic_build(orch_mgr *m, const orch_container_request *req, generic *g,
    orch_diag *diag)
{
	const char *why;

	if (!orch_rt_image_ref_valid(req->image, &why)) {
		orch_diag_field(
		    diag, "image", "image: not a valid reference (%s)", why);
		return ORCH_EINVAL;
	}
	g->pub = calloc(req->n_ports + 1, sizeof(*g->pub));
	g->env = calloc(req->n_env + 1, sizeof(*g->env));
	g->labels = calloc(req->n_labels + 1, sizeof(*g->labels));
	if (g->pub == NULL || g->env == NULL || g->labels == NULL) {
		orch_diag_set(diag, "out of memory");
		return ORCH_ENOMEM;
	}
	for (size_t i = 0; i < req->n_ports; i++) {
		g->pub[i].container_port = req->ports[i].container_port;
		g->pub[i].host_port = req->ports[i].host_port;
		g->pub[i].proto = "tcp";
	}
	for (size_t i = 0; i < req->n_env; i++) {
		const char *k = req->env[i].key;

		if (k == NULL || k[0] == '\0' || strchr(k, '=') != NULL ||
		    req->env[i].value == NULL) {
			orch_diag_field(diag, "env",
			    "env: keys must be non-empty "
			    "and contain no '='");
			return ORCH_EINVAL;
		}
		if (asprintf(&g->env[g->n_env], "%s=%s", k,
		        req->env[i].value) < 0) {
			orch_diag_set(diag, "out of memory");
			return ORCH_ENOMEM;
		}
		g->n_env++;
	}
	/* Marked managed, so delete and find-by-label see it. */
	g->labels[g->n_labels++] = m->managed;
	for (size_t i = 0; i < req->n_labels; i++) {
		const orch_label *l = &req->labels[i];

		if (l->key == NULL || l->key[0] == '\0' || l->value == NULL) {
			orch_diag_field(
			    diag, "labels", "labels: keys must be non-empty");
			return ORCH_EINVAL;
		}
		if (strcmp(l->key, m->managed.key) == 0)
			continue;
		g->labels[g->n_labels].key = l->key;
		g->labels[g->n_labels++].value = l->value;
	}
	return ORCH_OK;
}

static void
generic_fini(generic *g)
{
	for (size_t i = 0; i < g->n_env; i++)
		free(g->env[i]);
	free(g->env);
	free(g->pub);
	free(g->labels);
}

orch_err
orch_mgr_provision_container(orch_mgr *m, const orch_container_request *req,
    orch_container_result *res, orch_refusal *refusal, orch_diag *diag)
{
	orch_rt_create_spec cs;
	generic g;
	char *id = NULL;
	unsigned r;
	orch_err rv;

	memset(res, 0, sizeof(*res));
	memset(&g, 0, sizeof(g));
	orch_diag_clear(diag);
	refusal->code = ORCH_REFUSE_NONE;
	if ((rv = generic_build(m, req, &g, diag)) != ORCH_OK)
		goto out;
	if (!orch_core_container_allowed(m->core, refusal)) {
		rv = orch_refusal_status(refusal->code);
		orch_diag_set(diag, "%s", orch_refusal_reason(refusal->code));
		goto out;
	}
	r = (unsigned) rand() ^ (unsigned) orch_core_now(m->core);
	snprintf(res->container_name, sizeof(res->container_name), "%s-%08x",
	    req->name_prefix != NULL ? req->name_prefix : "container", r);
	memset(&cs, 0, sizeof(cs));
	cs.name = res->container_name;
	cs.image = req->image;
	cs.env = (const char *const *) g.env;
	cs.labels = g.labels;
	cs.n_labels = g.n_labels;
	cs.ports = g.pub;
	cs.n_ports = req->n_ports;
	cs.restart_policy = "unless-stopped";
	rv = orch_rt_create(&m->rt, &cs, &id, diag);
	if (rv == ORCH_OK)
		rv = orch_rt_start(&m->rt, id, diag);
	orch_core_count(m->core, rv == ORCH_OK ? ORCH_COUNT_CONTAINER_OK
	                                       : ORCH_COUNT_CONTAINER_FAILED);
	if (rv == ORCH_OK)
		snprintf(
		    res->container_id, sizeof(res->container_id), "%s", id);
	else if (id != NULL)
		drop_container(m, &id);
out:
	if (rv != ORCH_OK)
		res->container_name[0] = '\0';
	generic_fini(&g);
	free(id);
	return rv;
}

orch_err
orch_mgr_inspect(
    orch_mgr *m, const char *id, orch_rt_container *out, orch_diag *diag)
{
	orch_err rv = orch_rt_inspect(&m->rt, id, out, diag);

	/* An id that fails the runtime's validation names no container:
	 * 404, as any unknown id (not a 422 about the caller's input). */
	if (rv == ORCH_EINVAL)
		rv = ORCH_ENOTFOUND;
	if (rv == ORCH_OK && !is_managed(m, out)) {
		orch_rt_container_fini(out);
		rv = ORCH_ENOTFOUND;
	}
	if (rv == ORCH_ENOTFOUND)
		orch_diag_set(diag, "container %s not found", id);
	return rv;
}

orch_err
orch_mgr_find_by_label(orch_mgr *m, const char *key, const char *value,
    orch_rt_container **out, size_t *n, orch_diag *diag)
{
	orch_rt_kv match[2];

	match[0] = m->managed;
	match[1].key = (char *) key;
	match[1].value = (char *) value;
	return orch_rt_list(&m->rt, match, 2, out, n, diag);
}

const orch_runtime *
orch_mgr_runtime(orch_mgr *m)
{
	return &m->rt;
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
	int64_t next_reconcile =
	    orch_mono_ms() + (int64_t) m->cfg->monitor_interval_s * 1000;
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
			next_reconcile =
			    orch_mono_ms() +
			    (int64_t) m->cfg->monitor_interval_s * 1000;
		}
		if (now >= next_pass) {
			orch_mgr_control_pass(m);
			next_pass =
			    orch_mono_ms() +
			    (int64_t) m->cfg->autoscale_interval_s * 1000;
		}
		if (!wait_until(m, next_pass < next_reconcile
		                       ? next_pass
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
	orch_err rv = orch_rt_image_inspect(&m->rt, image, &diag);
	bool present = rv == ORCH_OK;

	if (rv == ORCH_OK || rv == ORCH_ENOTFOUND) {
		orch_core_set_docker_ok(m->core, true);
		orch_core_set_image_present(m->core, present);
	}
	if (m->cfg->image_pull == ORCH_IMAGE_PULL_ALWAYS ||
	    (m->cfg->image_pull == ORCH_IMAGE_PULL_MISSING &&
	        rv == ORCH_ENOTFOUND)) {
		ORCH_INFO("pulling %s", image);
		orch_core_set_image_pulling(m->core, true);
		rv = orch_rt_image_pull(&m->rt, image, 30 * 60 * 1000, &diag);
		if (rv != ORCH_OK)
			ORCH_WARN("pull of %s failed: %s", image, diag.msg);
		rv = orch_rt_image_inspect(&m->rt, image, NULL);
		orch_core_set_image_present(m->core, rv == ORCH_OK);
		orch_core_set_image_pulling(m->core, false);
	} else if (!present && rv == ORCH_ENOTFOUND) {
		ORCH_WARN(
		    "image %s is not present and IMAGE_PULL=never", image);
	}
	return NULL;
}

orch_err
orch_mgr_open(const orch_mgr_opts *opts, orch_mgr **out)
{
	orch_mgr *m;

	*out = NULL;
	if (opts->core == NULL || opts->rt == NULL || opts->rt->ops == NULL)
		return ORCH_EINVAL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return ORCH_ENOMEM;
	m->core = opts->core;
	m->cfg = orch_core_config(opts->core);
	m->rt = *opts->rt;
	m->managed.key = m->cfg->container_label_key;
	m->managed.value = m->cfg->container_label_value;
	m->probe = opts->port_probe != NULL ? opts->port_probe
	                                    : orch_mgr_host_port_free;
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
	orch_err rv = ORCH_OK;

	if (orch_rt_ping(&m->rt, NULL) == ORCH_OK)
		orch_core_set_docker_ok(m->core, true);
	orch_mgr_reconcile(m);
	if (m->no_loops)
		return ORCH_OK;
	memset(&eo, 0, sizeof(eo));
	eo.labels = &m->managed;
	eo.n_labels = 1;
	eo.type = "container";
	eo.on_event = on_event;
	eo.on_state = on_events_state;
	eo.arg = m;
	eo.backoff_max_ms = 2000;
	rv = orch_rt_events_open(&m->rt, &eo, &m->events);
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
	orch_rt_events_close(&m->rt, m->events);
	if (m->control_running)
		pthread_join(m->control, NULL);
	if (m->image_running)
		pthread_join(m->image, NULL);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	free(m);
}
