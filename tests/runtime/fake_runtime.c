/*
 * The fake runtime (fake_runtime.h): containers, images and an event log
 * in memory behind one mutex; each events stream is a thread that follows
 * the log. Every op is enter() (log, count, fault, latency, down) and
 * then the work under the lock.
 */
#include "tests/runtime/fake_runtime.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/base/time.h"

#define EPHEMERAL_LO 32768

typedef struct fport {
	int container_port;
	int host_port; /* as configured; 0 = picked at start */
	int live_port; /* while published */
	char proto[8];
	char host_ip[64];
} fport;

typedef struct fcont {
	char id[65];
	char *name;
	char *image;
	orch_rt_kv *labels;
	size_t n_labels;
	char **env;
	size_t n_env;
	fport *ports;
	size_t n_ports;
	char *restart; /* NULL = "no" */
	char *network;
	const char *state; /* static: created, running, ... */
	int64_t created_us;
	int64_t started_us; /* the last start; 0 never */
	char health[16];    /* orch_fake_rt_set_health(); "" = none */
} fcont;

typedef struct strv {
	char **v;
	size_t n;
} strv;

typedef struct fevent {
	orch_rt_event ev;
	orch_rt_kv *labels; /* the container's, for the filters */
	size_t n_labels;
} fevent;

typedef struct fstream {
	orch_fake_rt *f;
	orch_rt_kv *labels;
	size_t n_labels;
	strv containers; /* names or ids; none = every container */
	char *type;
	orch_rt_event_fn on_event;
	orch_rt_events_state_fn on_state;
	void *arg;
	size_t cursor; /* next event of the log to look at */
	bool stop;
	pthread_t thread;
	struct fstream *next;
} fstream;

typedef struct fault {
	int n;
	orch_err err;
	long status;
	char msg[256];
} fault;

struct orch_fake_rt {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* events published, down changed, stop */
	fcont **c;
	size_t n_c;
	strv images, pullable, log;
	int *blocked;
	size_t n_blocked;
	fault fail[ORCH_FAKE_NOPS];
	int delay_ms[ORCH_FAKE_NOPS];
	int calls[ORCH_FAKE_NOPS];
	bool down;
	int drop_events;
	fevent *events;
	size_t n_events;
	int published;
	fstream *streams;
	uint64_t seq;
	int next_ephemeral;
};

static const char *const op_names[ORCH_FAKE_NOPS] = {"ping", "create", "start",
    "stop", "kill", "remove", "inspect", "list", "image inspect", "image pull",
    "events"};

const char *
orch_fake_op_name(orch_fake_op op)
{
	return op >= 0 && op < ORCH_FAKE_NOPS ? op_names[op] : "?";
}

/* ---- small helpers ------------------------------------------------------ */

static char *
xstrdup(const char *s)
{
	char *d = strdup(s != NULL ? s : "");

	if (d == NULL)
		abort(); /* a test double: out of memory is fatal */
	return d;
}

static void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n != 0 ? n : 1);

	if (q == NULL)
		abort();
	return q;
}

static void
strv_add(strv *s, const char *v)
{
	s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n++] = xstrdup(v);
}

static ssize_t
strv_find(const strv *s, const char *v)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->v[i], v) == 0)
			return (ssize_t) i;
	}
	return -1;
}

static void
strv_del(strv *s, size_t i)
{
	free(s->v[i]);
	s->v[i] = s->v[--s->n];
}

static void
strv_fini(strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static orch_rt_kv *
kv_copy(const orch_rt_kv *kv, size_t n)
{
	orch_rt_kv *c = xrealloc(NULL, (n + 1) * sizeof(*c));

	for (size_t i = 0; i < n; i++) {
		c[i].key = xstrdup(kv[i].key);
		c[i].value = kv[i].value != NULL ? xstrdup(kv[i].value) : NULL;
	}
	return c;
}

static void
kv_free(orch_rt_kv *kv, size_t n)
{
	for (size_t i = 0; kv != NULL && i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* A success's status, as Docker answers it (201, 204, 304). */
static void
ok_status(orch_diag *d, long status)
{
	if (d != NULL)
		d->status = status;
}

static void diag_status(orch_diag *d, long status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
diag_status(orch_diag *d, long status, const char *fmt, ...)
{
	va_list ap;

	if (d == NULL)
		return;
	d->status = status;
	va_start(ap, fmt);
	orch_diag_vset(d, fmt, ap);
	va_end(ap);
}

/* splitmix64: unique, random-looking ids from a counter. */
static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static bool
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                 "0123456789_.-") == n;
}

/* ---- containers --------------------------------------------------------- */

static void
cont_free(fcont *c)
{
	free(c->name);
	free(c->image);
	kv_free(c->labels, c->n_labels);
	for (size_t i = 0; i < c->n_env; i++)
		free(c->env[i]);
	free(c->env);
	free(c->ports);
	free(c->restart);
	free(c->network);
	free(c);
}

/* By full id, unique id prefix, or name; NULL when none (or ambiguous). */
static fcont *
find_locked(orch_fake_rt *f, const char *ref)
{
	fcont *hit = NULL;
	size_t n = ref != NULL ? strlen(ref) : 0;

	if (n == 0)
		return NULL;
	for (size_t i = 0; i < f->n_c; i++) {
		if (strcmp(f->c[i]->id, ref) == 0 ||
		    strcmp(f->c[i]->name, ref) == 0)
			return f->c[i];
	}
	for (size_t i = 0; i < f->n_c; i++) {
		if (strncmp(f->c[i]->id, ref, n) == 0) {
			if (hit != NULL)
				return NULL;
			hit = f->c[i];
		}
	}
	return hit;
}

static bool
is_up(const fcont *c)
{
	return strcmp(c->state, "running") == 0 ||
	       strcmp(c->state, "restarting") == 0 ||
	       strcmp(c->state, "paused") == 0;
}

static bool
restarts(const fcont *c)
{
	return c->restart != NULL &&
	       (strcmp(c->restart, "unless-stopped") == 0 ||
	           strcmp(c->restart, "always") == 0 ||
	           strcmp(c->restart, "on-failure") == 0);
}

/* ---- events ------------------------------------------------------------- */

/* Appends an event about c (lost when drops are pending). */
static void
publish_locked(
    orch_fake_rt *f, const fcont *c, const char *action, const char *exit_code)
{
	fevent *e;
	size_t k = 0;

	f->published++;
	if (f->drop_events > 0) {
		f->drop_events--;
		return;
	}
	f->events =
	    xrealloc(f->events, (f->n_events + 1) * sizeof(*f->events));
	e = &f->events[f->n_events++];
	memset(e, 0, sizeof(*e));
	e->ev.type = xstrdup("container");
	e->ev.action = xstrdup(action);
	e->ev.id = xstrdup(c->id);
	e->ev.name = xstrdup(c->name);
	e->ev.attrs = xrealloc(NULL, (c->n_labels + 3) * sizeof(*e->ev.attrs));
	for (size_t i = 0; i < c->n_labels; i++) {
		e->ev.attrs[k].key = xstrdup(c->labels[i].key);
		e->ev.attrs[k++].value = xstrdup(c->labels[i].value);
	}
	e->ev.attrs[k].key = xstrdup("name");
	e->ev.attrs[k++].value = xstrdup(c->name);
	e->ev.attrs[k].key = xstrdup("image");
	e->ev.attrs[k++].value = xstrdup(c->image);
	if (exit_code != NULL) {
		e->ev.attrs[k].key = xstrdup("exitCode");
		e->ev.attrs[k++].value = xstrdup(exit_code);
	}
	e->ev.n_attrs = k;
	e->ev.time_ns = orch_wall_us() * 1000;
	e->labels = kv_copy(c->labels, c->n_labels);
	e->n_labels = c->n_labels;
	pthread_cond_broadcast(&f->cv);
}

static bool
stream_wants(const fstream *s, const fevent *e)
{
	bool named = s->containers.n == 0;

	for (size_t i = 0; !named && i < s->containers.n; i++) {
		const char *x = s->containers.v[i];

		named = strcmp(x, e->ev.name) == 0 ||
		        strncmp(e->ev.id, x, strlen(x)) == 0;
	}
	return named &&
	       (s->type == NULL || strcmp(s->type, e->ev.type) == 0) &&
	       orch_rt_labels_match(
	           e->labels, e->n_labels, s->labels, s->n_labels);
}

/* A deep copy for delivery outside the lock (the log may grow). */
static void
event_copy(orch_rt_event *to, const orch_rt_event *from)
{
	*to = *from;
	to->type = xstrdup(from->type);
	to->action = xstrdup(from->action);
	to->id = xstrdup(from->id);
	to->name = from->name != NULL ? xstrdup(from->name) : NULL;
	to->attrs = kv_copy(from->attrs, from->n_attrs);
}

static void *
stream_main(void *arg)
{
	fstream *s = arg;
	orch_fake_rt *f = s->f;
	bool connected = false;

	pthread_mutex_lock(&f->mu);
	while (!s->stop) {
		orch_rt_event ev;
		bool want;

		if (f->down) {
			if (connected) {
				connected = false;
				pthread_mutex_unlock(&f->mu);
				if (s->on_state != NULL)
					s->on_state(s->arg, false,
					    ORCH_EUNAVAIL,
					    "events: fake runtime is down");
				pthread_mutex_lock(&f->mu);
				continue;
			}
			pthread_cond_wait(&f->cv, &f->mu);
			continue;
		}
		if (!connected) {
			/* (What happened while down is not replayed:
			 * set_down moved the cursor on.) */
			connected = true;
			pthread_mutex_unlock(&f->mu);
			if (s->on_state != NULL)
				s->on_state(s->arg, true, ORCH_OK, "");
			pthread_mutex_lock(&f->mu);
			continue;
		}
		if (s->cursor >= f->n_events) {
			pthread_cond_wait(&f->cv, &f->mu);
			continue;
		}
		want = stream_wants(s, &f->events[s->cursor]);
		if (want)
			event_copy(&ev, &f->events[s->cursor].ev);
		s->cursor++;
		if (!want)
			continue;
		pthread_mutex_unlock(&f->mu);
		s->on_event(s->arg, &ev);
		orch_rt_event_fini(&ev);
		pthread_mutex_lock(&f->mu);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* ---- the ops ------------------------------------------------------------ */

/*
 * The start of every op: logs and counts the call, then the fault (a
 * pending failure, down) and the latency. ORCH_OK to go on; otherwise
 * diag is filled and the op returns that.
 */
static orch_err
enter(orch_fake_rt *f, orch_fake_op op, const char *target, orch_diag *diag)
{
	char line[320];
	fault flt = {0};
	bool down;
	int delay;

	orch_diag_clear(diag);
	snprintf(line, sizeof(line), "%s%s%s", op_names[op],
	    target != NULL ? " " : "", target != NULL ? target : "");
	pthread_mutex_lock(&f->mu);
	strv_add(&f->log, line);
	f->calls[op]++;
	if (f->fail[op].n > 0) {
		flt = f->fail[op];
		f->fail[op].n--;
	}
	delay = f->delay_ms[op];
	down = f->down;
	pthread_mutex_unlock(&f->mu);
	if (delay > 0)
		sleep_ms(delay);
	if (down) {
		orch_diag_set(diag,
		    "%s: Cannot connect to the fake runtime "
		    "(down)",
		    line);
		return ORCH_EUNAVAIL;
	}
	if (flt.n > 0) {
		diag_status(diag, flt.status, "%s: %s", line, flt.msg);
		return flt.err;
	}
	return ORCH_OK;
}

static orch_err
fk_ping(void *impl, orch_diag *diag)
{
	return enter(impl, ORCH_FAKE_PING, NULL, diag);
}

static orch_err
check_spec(const orch_rt_create_spec *s, orch_diag *diag)
{
	if (s->image == NULL || s->image[0] == '\0' ||
	    (s->name != NULL && !valid_name(s->name)) ||
	    (s->n_ports > 0 && s->ports == NULL) ||
	    (s->n_labels > 0 && s->labels == NULL)) {
		orch_diag_set(diag, "create: bad image, name or ports");
		return ORCH_EINVAL;
	}
	for (size_t i = 0; i < s->n_labels; i++) {
		if (s->labels[i].key == NULL || s->labels[i].key[0] == '\0' ||
		    s->labels[i].value == NULL) {
			orch_diag_set(diag, "create: a label has an empty key "
			                    "or no value");
			return ORCH_EINVAL;
		}
	}
	for (size_t i = 0; i < s->n_ports; i++) {
		const orch_rt_publish *p = &s->ports[i];

		if (p->container_port < 1 || p->container_port > 65535 ||
		    p->host_port < 0 || p->host_port > 65535) {
			orch_diag_set(diag, "create: a port is out of range");
			return ORCH_EINVAL;
		}
	}
	return ORCH_OK;
}

static void
cont_labels(fcont *c, const orch_rt_create_spec *s)
{
	c->labels = xrealloc(NULL, (s->n_labels + 1) * sizeof(*c->labels));
	for (size_t i = 0; i < s->n_labels; i++) {
		/* First value wins, as the Docker client writes them. */
		if (orch_rt_labels_match(c->labels, c->n_labels,
		        &(orch_rt_kv){s->labels[i].key, NULL}, 1))
			continue;
		c->labels[c->n_labels].key = xstrdup(s->labels[i].key);
		c->labels[c->n_labels++].value = xstrdup(s->labels[i].value);
	}
}

static fcont *
cont_new_locked(orch_fake_rt *f, const orch_rt_create_spec *s)
{
	fcont *c = xrealloc(NULL, sizeof(*c));
	uint64_t seq = ++f->seq;
	char gen[32];

	memset(c, 0, sizeof(*c));
	for (int i = 0; i < 4; i++)
		snprintf(c->id + 16 * i, 17, "%016llx",
		    (unsigned long long) mix(seq * 4 + (uint64_t) i));
	snprintf(gen, sizeof(gen), "fake_%llu", (unsigned long long) seq);
	c->name = xstrdup(s->name != NULL ? s->name : gen);
	c->image = xstrdup(s->image);
	cont_labels(c, s);
	for (size_t i = 0; s->env != NULL && s->env[i] != NULL; i++) {
		c->env = xrealloc(c->env, (c->n_env + 1) * sizeof(*c->env));
		c->env[c->n_env++] = xstrdup(s->env[i]);
	}
	c->ports = xrealloc(NULL, (s->n_ports + 1) * sizeof(*c->ports));
	for (size_t i = 0; i < s->n_ports; i++) {
		fport *p = &c->ports[c->n_ports++];

		memset(p, 0, sizeof(*p));
		p->container_port = s->ports[i].container_port;
		p->host_port = s->ports[i].host_port;
		snprintf(p->proto, sizeof(p->proto), "%s",
		    s->ports[i].proto != NULL ? s->ports[i].proto : "tcp");
		snprintf(p->host_ip, sizeof(p->host_ip), "%s",
		    s->host_ip != NULL ? s->host_ip : "127.0.0.1");
	}
	c->restart =
	    s->restart_policy != NULL ? xstrdup(s->restart_policy) : NULL;
	c->network = s->network != NULL ? xstrdup(s->network) : NULL;
	c->state = "created";
	c->created_us = orch_wall_us();
	f->c = xrealloc(f->c, (f->n_c + 1) * sizeof(*f->c));
	f->c[f->n_c++] = c;
	return c;
}

/* The create itself (lock held): Docker's checks, then the container. */
static orch_err
create_locked(orch_fake_rt *f, const orch_rt_create_spec *s, char **id_out,
    orch_diag *diag)
{
	const char *what = s->name != NULL ? s->name : "(unnamed)";
	fcont *c;

	if (strv_find(&f->images, s->image) < 0) {
		diag_status(diag, 404,
		    "create %s: HTTP 404: No such image: %s", what, s->image);
		return ORCH_ENOTFOUND;
	}
	if (s->name != NULL && (c = find_locked(f, s->name)) != NULL &&
	    strcmp(c->name, s->name) == 0) {
		diag_status(diag, 409,
		    "create %s: HTTP 409: Conflict. The "
		    "container name \"/%s\" is already in use by container "
		    "\"%s\". You have to remove (or rename) that container to "
		    "be able to reuse that name.",
		    what, s->name, c->id);
		return ORCH_EEXIST;
	}
	if (s->network != NULL && strncmp(s->network, "container:", 10) == 0 &&
	    find_locked(f, s->network + 10) == NULL) {
		diag_status(diag, 404,
		    "create %s: HTTP 404: No such container: "
		    "%s",
		    what, s->network + 10);
		return ORCH_ENOTFOUND;
	}
	c = cont_new_locked(f, s);
	publish_locked(f, c, "create", NULL);
	ok_status(diag, 201);
	if (id_out != NULL)
		*id_out = xstrdup(c->id);
	return ORCH_OK;
}

static orch_err
fk_create(void *impl, const orch_rt_create_spec *spec, char **id_out,
    orch_diag *diag)
{
	orch_fake_rt *f = impl;
	orch_err rv;

	if (id_out != NULL)
		*id_out = NULL;
	if (spec == NULL || id_out == NULL)
		return ORCH_EINVAL;
	rv = enter(
	    f, ORCH_FAKE_CREATE, spec->name != NULL ? spec->name : "", diag);
	if (rv == ORCH_OK)
		rv = check_spec(spec, diag);
	if (rv != ORCH_OK)
		return rv;
	pthread_mutex_lock(&f->mu);
	rv = create_locked(f, spec, id_out, diag);
	pthread_mutex_unlock(&f->mu);
	return rv;
}

/* Whether host port p is held: blocked, or live on an up container. */
static bool
port_held_locked(orch_fake_rt *f, const fcont *self, int p)
{
	for (size_t i = 0; i < f->n_blocked; i++) {
		if (f->blocked[i] == p)
			return true;
	}
	for (size_t i = 0; i < f->n_c; i++) {
		const fcont *c = f->c[i];

		if (c == self || !is_up(c))
			continue;
		for (size_t j = 0; j < c->n_ports; j++) {
			if (c->ports[j].live_port == p)
				return true;
		}
	}
	return false;
}

/* Starts c (lock held): publishes its ports first, as Docker does. */
static orch_err
start_locked(orch_fake_rt *f, fcont *c, orch_diag *diag)
{
	if (strcmp(c->state, "running") == 0 ||
	    strcmp(c->state, "paused") == 0) {
		ok_status(diag, 304);
		return ORCH_OK;
	}
	if (c->network != NULL && strncmp(c->network, "container:", 10) == 0) {
		fcont *host = find_locked(f, c->network + 10);

		if (host == NULL || strcmp(host->state, "running") != 0) {
			diag_status(diag, 500,
			    "start %s: HTTP 500: cannot join "
			    "network of a non running container: %s",
			    c->id, c->network + 10);
			return ORCH_EINTERNAL;
		}
	}
	for (size_t i = 0; i < c->n_ports; i++) {
		fport *p = &c->ports[i];

		if (p->host_port > 0 && port_held_locked(f, c, p->host_port)) {
			diag_status(diag, 500,
			    "start %s: HTTP 500: driver "
			    "failed programming external connectivity on "
			    "endpoint %s (%s): Bind for %s:%d failed: port is "
			    "already allocated",
			    c->id, c->name, c->id, p->host_ip, p->host_port);
			for (size_t j = 0; j < i; j++)
				c->ports[j].live_port = 0;
			return ORCH_EINTERNAL;
		}
		p->live_port =
		    p->host_port > 0 ? p->host_port : f->next_ephemeral++;
	}
	c->state = "running";
	c->started_us = orch_wall_us();
	publish_locked(f, c, "start", NULL);
	ok_status(diag, 204);
	return ORCH_OK;
}

/* The process ended (lock held): ports unpublished, a die event; then a
 * restart if policy (and not by hand). */
static void
exit_locked(orch_fake_rt *f, fcont *c, int code, bool by_hand, bool hold)
{
	char ec[16];

	snprintf(ec, sizeof(ec), "%d", code);
	for (size_t i = 0; i < c->n_ports; i++)
		c->ports[i].live_port = 0;
	c->state = "exited";
	publish_locked(f, c, "die", ec);
	if (by_hand || !restarts(c))
		return;
	c->state = "restarting";
	if (!hold) {
		c->state = "exited"; /* start_locked publishes again */
		(void) start_locked(f, c, NULL);
	}
}

/* Looks c up for an op on it; ORCH_ENOTFOUND as Docker says it. */
static fcont *
lookup_locked(
    orch_fake_rt *f, const char *verb, const char *id, orch_diag *diag)
{
	fcont *c = find_locked(f, id);

	if (c == NULL)
		diag_status(diag, 404,
		    "%s %s: HTTP 404: No such container: %s", verb,
		    id != NULL ? id : "", id != NULL ? id : "");
	return c;
}

static orch_err
fk_start(void *impl, const char *id, orch_diag *diag)
{
	orch_fake_rt *f = impl;
	orch_err rv = enter(f, ORCH_FAKE_START, id, diag);
	fcont *c;

	if (rv != ORCH_OK)
		return rv;
	pthread_mutex_lock(&f->mu);
	if ((c = lookup_locked(f, "start", id, diag)) == NULL)
		rv = ORCH_ENOTFOUND;
	else
		rv = start_locked(f, c, diag);
	pthread_mutex_unlock(&f->mu);
	return rv;
}

static orch_err
fk_stop(void *impl, const char *id, int timeout_s, orch_diag *diag)
{
	orch_fake_rt *f = impl;
	orch_err rv = enter(f, ORCH_FAKE_STOP, id, diag);
	fcont *c;

	if (rv != ORCH_OK)
		return rv;
	if (timeout_s < 0)
		return ORCH_EINVAL;
	pthread_mutex_lock(&f->mu);
	if ((c = lookup_locked(f, "stop", id, diag)) == NULL) {
		rv = ORCH_ENOTFOUND;
	} else if (is_up(c)) {
		publish_locked(f, c, "kill", NULL);
		exit_locked(f, c, 143, true, false);
		publish_locked(f, c, "stop", NULL);
		ok_status(diag, 204);
	} else {
		ok_status(diag, 304);
	}
	pthread_mutex_unlock(&f->mu);
	return rv;
}

static orch_err
fk_kill(void *impl, const char *id, const char *sig, orch_diag *diag)
{
	orch_fake_rt *f = impl;
	orch_err rv = enter(f, ORCH_FAKE_KILL, id, diag);
	fcont *c;

	(void) sig;
	if (rv != ORCH_OK)
		return rv;
	pthread_mutex_lock(&f->mu);
	if ((c = lookup_locked(f, "kill", id, diag)) == NULL) {
		rv = ORCH_ENOTFOUND;
	} else if (!is_up(c)) {
		diag_status(diag, 409,
		    "kill %s: HTTP 409: Container %s is not "
		    "running",
		    id, c->id);
		rv = ORCH_EPRECOND;
	} else {
		publish_locked(f, c, "kill", NULL);
		exit_locked(f, c, 137, true, false);
		ok_status(diag, 204);
	}
	pthread_mutex_unlock(&f->mu);
	return rv;
}

/* Removes c (lock held): die first if it runs, then destroy. */
static void
remove_locked(orch_fake_rt *f, fcont *c)
{
	if (is_up(c)) {
		publish_locked(f, c, "kill", NULL);
		exit_locked(f, c, 137, true, false);
	}
	publish_locked(f, c, "destroy", NULL);
	for (size_t i = 0; i < f->n_c; i++) {
		if (f->c[i] == c) {
			memmove(&f->c[i], &f->c[i + 1],
			    (f->n_c - i - 1) * sizeof(*f->c));
			f->n_c--;
			break;
		}
	}
	cont_free(c);
}

static orch_err
fk_remove(void *impl, const char *id, bool force, orch_diag *diag)
{
	orch_fake_rt *f = impl;
	orch_err rv = enter(f, ORCH_FAKE_REMOVE, id, diag);
	fcont *c;

	if (rv != ORCH_OK)
		return rv;
	pthread_mutex_lock(&f->mu);
	if ((c = lookup_locked(f, "remove", id, diag)) == NULL) {
		rv = ORCH_ENOTFOUND;
	} else if (is_up(c) && !force) {
		diag_status(diag, 409,
		    "remove %s: HTTP 409: You cannot remove "
		    "a running container %s. Stop the container before "
		    "attempting removal or force remove",
		    id, c->id);
		rv = ORCH_EPRECOND;
	} else {
		remove_locked(f, c);
		ok_status(diag, 204);
	}
	pthread_mutex_unlock(&f->mu);
	return rv;
}

static void
add_binding(orch_rt_port *p, const char *ip, const char *port)
{
	p->bindings =
	    xrealloc(p->bindings, (p->n_bindings + 1) * sizeof(*p->bindings));
	p->bindings[p->n_bindings].host_ip = xstrdup(ip);
	p->bindings[p->n_bindings++].host_port = xstrdup(port);
}

/* c as inspect (list false) or list (true) reports it. */
/*
 * Docker's network answer in inspect: NetworkMode "default" on the
 * default bridge (attached to "bridge", gateway 172.17.0.1), "host"
 * (attached to "host", no gateway), "container:<id>" (attached to none),
 * a network's name (attached to it; the fake's gateway 172.31.0.1).
 * Addresses, the gateway's too, exist only while it runs: "" before.
 */
static void
net_view(const fcont *c, bool list, orch_rt_container *out)
{
	const char *net = c->network, *gw = "172.31.0.1";

	out->network_mode = xstrdup(list ? "" : net != NULL ? net : "default");
	if (list || (net != NULL && strncmp(net, "container:", 10) == 0))
		return;
	if (net == NULL || strcmp(net, "bridge") == 0) {
		net = "bridge";
		gw = "172.17.0.1";
	}
	if (strcmp(net, "host") == 0 || !is_up(c))
		gw = "";
	out->networks = xrealloc(NULL, sizeof(*out->networks));
	out->networks[0].key = xstrdup(net);
	out->networks[0].value = xstrdup(gw);
	out->n_networks = 1;
}

static void
view_locked(const fcont *c, bool list, orch_rt_container *out)
{
	char ts[ORCH_RFC3339_MAX], num[16];
	int64_t us = list ? c->created_us / 1000000 * 1000000 : c->created_us;
	bool live = strcmp(c->state, "running") == 0 || (!list && is_up(c));

	memset(out, 0, sizeof(*out));
	out->id = xstrdup(c->id);
	out->name = xstrdup(c->name);
	out->image = xstrdup(c->image);
	orch_rfc3339_format(us, ts);
	out->created = xstrdup(ts);
	out->created_us = us;
	out->state = xstrdup(c->state);
	out->running = is_up(c);
	out->health = xstrdup(list ? "" : c->health);
	out->started_us = list ? 0 : c->started_us;
	if (c->n_labels > 0) {
		out->labels = kv_copy(c->labels, c->n_labels);
		out->n_labels = c->n_labels;
	}
	/* list: ports of running containers only; inspect: live bindings
	 * while up, the configured ones otherwise. */
	for (size_t i = 0; i < c->n_ports && (live || !list); i++) {
		const fport *p = &c->ports[i];
		orch_rt_port *rp;

		out->ports = xrealloc(
		    out->ports, (out->n_ports + 1) * sizeof(*out->ports));
		rp = &out->ports[out->n_ports++];
		memset(rp, 0, sizeof(*rp));
		snprintf(
		    num, sizeof(num), "%d/%s", p->container_port, p->proto);
		rp->port = xstrdup(num);
		if (live)
			snprintf(num, sizeof(num), "%d", p->live_port);
		else if (p->host_port > 0)
			snprintf(num, sizeof(num), "%d", p->host_port);
		else
			num[0] = '\0';
		add_binding(rp, p->host_ip, num);
	}
	for (size_t i = 0; !list && i < c->n_env; i++) {
		out->env =
		    xrealloc(out->env, (out->n_env + 1) * sizeof(*out->env));
		out->env[out->n_env++] = xstrdup(c->env[i]);
	}
	net_view(c, list, out);
}

static orch_err
fk_inspect(void *impl, const char *id, orch_rt_container *out, orch_diag *diag)
{
	orch_fake_rt *f = impl;
	orch_err rv;
	fcont *c;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (out == NULL)
		return ORCH_EINVAL;
	if ((rv = enter(f, ORCH_FAKE_INSPECT, id, diag)) != ORCH_OK)
		return rv;
	pthread_mutex_lock(&f->mu);
	if ((c = lookup_locked(f, "inspect", id, diag)) == NULL)
		rv = ORCH_ENOTFOUND;
	else
		view_locked(c, false, out);
	pthread_mutex_unlock(&f->mu);
	return rv;
}

static orch_err
fk_list(void *impl, const orch_rt_kv *match, size_t n_match,
    orch_rt_container **out, size_t *n_out, orch_diag *diag)
{
	orch_fake_rt *f = impl;
	orch_rt_container *v = NULL;
	size_t n = 0;
	orch_err rv;

	if (out != NULL)
		*out = NULL;
	if (n_out != NULL)
		*n_out = 0;
	if (out == NULL || n_out == NULL || (n_match > 0 && match == NULL))
		return ORCH_EINVAL;
	if ((rv = enter(f, ORCH_FAKE_LIST, NULL, diag)) != ORCH_OK)
		return rv;
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->n_c; i++) {
		if (!orch_rt_labels_match(
		        f->c[i]->labels, f->c[i]->n_labels, match, n_match))
			continue;
		v = xrealloc(v, (n + 1) * sizeof(*v));
		view_locked(f->c[i], true, &v[n++]);
	}
	pthread_mutex_unlock(&f->mu);
	*out = n > 0 ? v : NULL;
	if (n == 0)
		free(v);
	*n_out = n;
	return ORCH_OK;
}

static orch_err
fk_image_inspect(void *impl, const char *image, orch_diag *diag)
{
	orch_fake_rt *f = impl;
	orch_err rv = enter(f, ORCH_FAKE_IMAGE_INSPECT, image, diag);

	if (rv != ORCH_OK)
		return rv;
	if (image == NULL || image[0] == '\0')
		return ORCH_EINVAL;
	pthread_mutex_lock(&f->mu);
	if (strv_find(&f->images, image) < 0) {
		diag_status(diag, 404,
		    "image inspect %s: HTTP 404: No such "
		    "image: %s",
		    image, image);
		rv = ORCH_ENOTFOUND;
	}
	pthread_mutex_unlock(&f->mu);
	return rv;
}

static orch_err
fk_image_pull(void *impl, const char *image, int timeout_ms, orch_diag *diag)
{
	orch_fake_rt *f = impl;
	orch_err rv = enter(f, ORCH_FAKE_IMAGE_PULL, image, diag);

	(void) timeout_ms;
	if (rv != ORCH_OK)
		return rv;
	if (image == NULL || image[0] == '\0')
		return ORCH_EINVAL;
	pthread_mutex_lock(&f->mu);
	if (strv_find(&f->pullable, image) < 0) {
		diag_status(diag, 500,
		    "pull %s: HTTP 500: Get "
		    "\"https://registry-1.docker.io/v2/\": no registry here "
		    "(fake)",
		    image);
		rv = ORCH_EINTERNAL;
	} else if (strv_find(&f->images, image) < 0) {
		strv_add(&f->images, image);
	}
	pthread_mutex_unlock(&f->mu);
	return rv;
}

static orch_err
fk_events_open(
    void *impl, const orch_rt_events_opts *opts, orch_rt_events **out)
{
	orch_fake_rt *f = impl;
	fstream *s;
	orch_err rv;

	*out = NULL;
	if (opts == NULL || opts->on_event == NULL ||
	    (opts->n_labels > 0 && opts->labels == NULL) ||
	    (opts->n_containers > 0 && opts->containers == NULL))
		return ORCH_EINVAL;
	for (size_t i = 0; i < opts->n_containers; i++) {
		if (opts->containers[i] == NULL || opts->containers[i][0] == 0)
			return ORCH_EINVAL;
	}
	for (size_t i = 0; i < opts->n_labels; i++) {
		if (opts->labels[i].key == NULL ||
		    strchr(opts->labels[i].key, '=') != NULL)
			return ORCH_EINVAL; /* as Docker's filter syntax */
	}
	/* Down or not, the stream opens and connects when it can (Docker's
	 * client does the same); a fault injected on it refuses the open. */
	pthread_mutex_lock(&f->mu);
	f->calls[ORCH_FAKE_EVENTS_OPEN]++;
	strv_add(&f->log, "events");
	rv = ORCH_OK;
	if (f->fail[ORCH_FAKE_EVENTS_OPEN].n > 0) {
		f->fail[ORCH_FAKE_EVENTS_OPEN].n--;
		rv = f->fail[ORCH_FAKE_EVENTS_OPEN].err;
	}
	pthread_mutex_unlock(&f->mu);
	if (rv != ORCH_OK)
		return rv;
	s = xrealloc(NULL, sizeof(*s));
	memset(s, 0, sizeof(*s));
	s->f = f;
	s->labels = kv_copy(opts->labels, opts->n_labels);
	s->n_labels = opts->n_labels;
	s->type = opts->type != NULL ? xstrdup(opts->type) : NULL;
	for (size_t i = 0; i < opts->n_containers; i++)
		strv_add(&s->containers, opts->containers[i]);
	s->on_event = opts->on_event;
	s->on_state = opts->on_state;
	s->arg = opts->arg;
	pthread_mutex_lock(&f->mu);
	s->cursor = f->n_events; /* from now on */
	s->next = f->streams;
	f->streams = s;
	pthread_mutex_unlock(&f->mu);
	if (pthread_create(&s->thread, NULL, stream_main, s) != 0)
		abort();
	*out = (orch_rt_events *) s;
	return ORCH_OK;
}

static void
fk_events_close(void *impl, orch_rt_events *ev)
{
	orch_fake_rt *f = impl;
	fstream *s = (fstream *) ev, **pp;

	pthread_mutex_lock(&f->mu);
	s->stop = true;
	pthread_cond_broadcast(&f->cv);
	for (pp = &f->streams; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	pthread_mutex_unlock(&f->mu);
	pthread_join(s->thread, NULL);
	kv_free(s->labels, s->n_labels);
	strv_fini(&s->containers);
	free(s->type);
	free(s);
}

static const orch_runtime_ops fake_ops = {
    .name = "fake",
    .ping = fk_ping,
    .create = fk_create,
    .start = fk_start,
    .stop = fk_stop,
    .kill = fk_kill,
    .remove = fk_remove,
    .inspect = fk_inspect,
    .list = fk_list,
    .image_inspect = fk_image_inspect,
    .image_pull = fk_image_pull,
    .events_open = fk_events_open,
    .events_close = fk_events_close,
};

/* ---- the fake itself ---------------------------------------------------- */

orch_err
orch_fake_rt_open(orch_fake_rt **out)
{
	orch_fake_rt *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (f == NULL)
		return ORCH_ENOMEM;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->next_ephemeral = EPHEMERAL_LO;
	*out = f;
	return ORCH_OK;
}

void
orch_fake_rt_close(orch_fake_rt *f)
{
	if (f == NULL)
		return;
	while (f->streams != NULL)
		fk_events_close(f, (orch_rt_events *) f->streams);
	for (size_t i = 0; i < f->n_c; i++)
		cont_free(f->c[i]);
	free(f->c);
	for (size_t i = 0; i < f->n_events; i++) {
		orch_rt_event_fini(&f->events[i].ev);
		kv_free(f->events[i].labels, f->events[i].n_labels);
	}
	free(f->events);
	strv_fini(&f->images);
	strv_fini(&f->pullable);
	strv_fini(&f->log);
	free(f->blocked);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

void
orch_fake_rt_runtime(orch_fake_rt *f, orch_runtime *out)
{
	out->ops = &fake_ops;
	out->impl = f;
}

void
orch_fake_rt_image_add(orch_fake_rt *f, const char *image)
{
	pthread_mutex_lock(&f->mu);
	if (strv_find(&f->images, image) < 0)
		strv_add(&f->images, image);
	pthread_mutex_unlock(&f->mu);
}

void
orch_fake_rt_image_remove(orch_fake_rt *f, const char *image)
{
	ssize_t i;

	pthread_mutex_lock(&f->mu);
	if ((i = strv_find(&f->images, image)) >= 0)
		strv_del(&f->images, (size_t) i);
	pthread_mutex_unlock(&f->mu);
}

void
orch_fake_rt_image_pullable(orch_fake_rt *f, const char *image)
{
	pthread_mutex_lock(&f->mu);
	if (strv_find(&f->pullable, image) < 0)
		strv_add(&f->pullable, image);
	pthread_mutex_unlock(&f->mu);
}

void
orch_fake_rt_fail(orch_fake_rt *f, orch_fake_op op, int n, orch_err err,
    long status, const char *msg)
{
	pthread_mutex_lock(&f->mu);
	f->fail[op].n = n;
	f->fail[op].err = err;
	f->fail[op].status = status;
	snprintf(f->fail[op].msg, sizeof(f->fail[op].msg), "%s",
	    msg != NULL ? msg : orch_strerror(err));
	pthread_mutex_unlock(&f->mu);
}

void
orch_fake_rt_delay(orch_fake_rt *f, orch_fake_op op, int ms)
{
	pthread_mutex_lock(&f->mu);
	f->delay_ms[op] = ms;
	pthread_mutex_unlock(&f->mu);
}

void
orch_fake_rt_set_down(orch_fake_rt *f, bool down)
{
	pthread_mutex_lock(&f->mu);
	f->down = down;
	if (!down) {
		/* A daemon back from a restart has no memory of the gap. */
		for (fstream *s = f->streams; s != NULL; s = s->next)
			s->cursor = f->n_events;
	}
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

void
orch_fake_rt_drop_events(orch_fake_rt *f, int n)
{
	pthread_mutex_lock(&f->mu);
	f->drop_events = n;
	pthread_mutex_unlock(&f->mu);
}

void
orch_fake_rt_block_port(orch_fake_rt *f, int port, bool blocked)
{
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->n_blocked; i++) {
		if (f->blocked[i] == port) {
			if (!blocked)
				f->blocked[i] = f->blocked[--f->n_blocked];
			pthread_mutex_unlock(&f->mu);
			return;
		}
	}
	if (blocked) {
		f->blocked = xrealloc(
		    f->blocked, (f->n_blocked + 1) * sizeof(*f->blocked));
		f->blocked[f->n_blocked++] = port;
	}
	pthread_mutex_unlock(&f->mu);
}

orch_err
orch_fake_rt_add(orch_fake_rt *f, const orch_rt_create_spec *spec, bool start,
    char **id_out)
{
	char *id = NULL;
	orch_err rv;

	if (id_out != NULL)
		*id_out = NULL;
	if ((rv = check_spec(spec, NULL)) != ORCH_OK)
		return rv;
	pthread_mutex_lock(&f->mu);
	rv = create_locked(f, spec, &id, NULL);
	if (rv == ORCH_OK && start)
		rv = start_locked(f, find_locked(f, id), NULL);
	pthread_mutex_unlock(&f->mu);
	if (id_out != NULL)
		*id_out = id;
	else
		free(id);
	return rv;
}

/* The controls that change one container from outside. */
enum ctl { CTL_DIE, CTL_CRASH, CTL_START, CTL_DESTROY, CTL_PAUSE };

/* Applies control what to container id under the lock; ORCH_ENOTFOUND
 * when there is none, ORCH_EPRECOND when its state does not allow it. */
static orch_err
with_cont(orch_fake_rt *f, const char *id, enum ctl what, int arg)
{
	orch_err rv = ORCH_OK;
	fcont *c;

	pthread_mutex_lock(&f->mu);
	c = find_locked(f, id);
	if (c == NULL) {
		rv = ORCH_ENOTFOUND;
	} else if (what == CTL_DIE) {
		if (is_up(c))
			exit_locked(f, c, arg, true, false);
		else
			rv = ORCH_EPRECOND;
	} else if (what == CTL_CRASH) { /* arg: hold */
		if (is_up(c))
			exit_locked(f, c, 1, false, arg != 0);
		else
			rv = ORCH_EPRECOND;
	} else if (what == CTL_START) {
		if (strcmp(c->state, "restarting") == 0)
			c->state = "exited";
		rv = start_locked(f, c, NULL);
	} else if (what == CTL_DESTROY) {
		remove_locked(f, c);
	} else if (what == CTL_PAUSE) { /* arg: pause, else unpause */
		if (arg && strcmp(c->state, "running") == 0) {
			c->state = "paused";
			publish_locked(f, c, "pause", NULL);
		} else if (!arg && strcmp(c->state, "paused") == 0) {
			c->state = "running";
			publish_locked(f, c, "unpause", NULL);
		} else {
			rv = ORCH_EPRECOND;
		}
	}
	pthread_mutex_unlock(&f->mu);
	return rv;
}

orch_err
orch_fake_rt_die(orch_fake_rt *f, const char *id, int exit_code)
{
	return with_cont(f, id, CTL_DIE, exit_code);
}

orch_err
orch_fake_rt_crash(orch_fake_rt *f, const char *id, bool hold)
{
	return with_cont(f, id, CTL_CRASH, hold);
}

orch_err
orch_fake_rt_crash_loop(orch_fake_rt *f, const char *id, int n)
{
	orch_err rv = ORCH_OK;

	for (int i = 0; i < n && rv == ORCH_OK; i++)
		rv = with_cont(f, id, CTL_CRASH, 0);
	return rv;
}

orch_err
orch_fake_rt_start(orch_fake_rt *f, const char *id)
{
	return with_cont(f, id, CTL_START, 0);
}

orch_err
orch_fake_rt_destroy(orch_fake_rt *f, const char *id)
{
	return with_cont(f, id, CTL_DESTROY, 0);
}

orch_err
orch_fake_rt_pause(orch_fake_rt *f, const char *id, bool paused)
{
	return with_cont(f, id, CTL_PAUSE, paused);
}

orch_err
orch_fake_rt_set_health(orch_fake_rt *f, const char *id, const char *health)
{
	orch_err rv = ORCH_OK;
	char action[48];
	fcont *c;

	pthread_mutex_lock(&f->mu);
	if ((c = find_locked(f, id)) == NULL) {
		rv = ORCH_ENOTFOUND;
	} else if (strcmp(c->health, health) != 0) {
		snprintf(c->health, sizeof(c->health), "%s", health);
		snprintf(action, sizeof(action), "health_status: %s", health);
		publish_locked(f, c, action, NULL);
	}
	pthread_mutex_unlock(&f->mu);
	return rv;
}

orch_err
orch_fake_rt_get(orch_fake_rt *f, const char *id, orch_rt_container *out)
{
	orch_err rv = ORCH_OK;
	fcont *c;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&f->mu);
	if ((c = find_locked(f, id)) == NULL)
		rv = ORCH_ENOTFOUND;
	else
		view_locked(c, false, out);
	pthread_mutex_unlock(&f->mu);
	return rv;
}

size_t
orch_fake_rt_count(orch_fake_rt *f, const char *state)
{
	size_t n = 0;

	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->n_c; i++) {
		if (state == NULL || strcmp(f->c[i]->state, state) == 0)
			n++;
	}
	pthread_mutex_unlock(&f->mu);
	return n;
}

int
orch_fake_rt_calls(orch_fake_rt *f, orch_fake_op op)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->calls[op];
	pthread_mutex_unlock(&f->mu);
	return n;
}

int
orch_fake_rt_log_count(orch_fake_rt *f, const char *prefix)
{
	int n = 0;

	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->log.n; i++) {
		if (strncmp(f->log.v[i], prefix, strlen(prefix)) == 0)
			n++;
	}
	pthread_mutex_unlock(&f->mu);
	return n;
}

char *
orch_fake_rt_log_dump(orch_fake_rt *f)
{
	size_t len = 1, at = 0;
	char *out;

	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->log.n; i++)
		len += strlen(f->log.v[i]) + 1;
	out = xrealloc(NULL, len);
	for (size_t i = 0; i < f->log.n; i++)
		at += (size_t) sprintf(out + at, "%s\n", f->log.v[i]);
	out[at] = '\0';
	pthread_mutex_unlock(&f->mu);
	return out;
}

void
orch_fake_rt_log_clear(orch_fake_rt *f)
{
	pthread_mutex_lock(&f->mu);
	strv_fini(&f->log);
	memset(f->calls, 0, sizeof(f->calls));
	pthread_mutex_unlock(&f->mu);
}

int
orch_fake_rt_events_published(orch_fake_rt *f)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->published;
	pthread_mutex_unlock(&f->mu);
	return n;
}
