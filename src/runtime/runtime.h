/*
 * The runtime ops table: everything the engine controllers (src/engines)
 * ask of a container runtime, as a table of function pointers over
 * runtime-neutral types (orch_rt_*).
 *
 * Why: the controllers' rules (name retries, port conflicts, Docker down,
 * adoption, events) must be testable without a daemon, and a second
 * runtime must not mean touching them. The Docker Engine API client is one
 * implementation (src/runtime/docker.h, orch_docker_runtime()); an
 * in-memory fake under tests/runtime is another. The real-daemon tests
 * keep the fake honest: what the fake does is what Docker was seen to do.
 *
 * A handle is a small value, { ops, impl }: copy it freely. It borrows
 * impl, which must outlive every copy.
 *
 * Semantics every implementation keeps (Docker's, docs/RUNTIME.md):
 *   - ids and names: calls taking an id accept the full id, a unique
 *     prefix of it, or the container's name.
 *   - create: a name in use -> ORCH_EEXIST; an unknown image or network ->
 *     ORCH_ENOTFOUND. Labels are key/value pairs and reach the runtime as
 *     such (a key containing '=' is just a key); a key given twice keeps
 *     its first value.
 *   - start: already running -> ORCH_OK; a published host port someone
 *     holds -> ORCH_EINTERNAL with a message containing "port is already
 *     allocated"; the container stays created.
 *   - stop: already stopped -> ORCH_OK. kill: not running ->
 *     ORCH_EPRECOND. remove: running without force -> ORCH_EPRECOND.
 *   - unknown container -> ORCH_ENOTFOUND; runtime unreachable ->
 *     ORCH_EUNAVAIL (at once: no retries); a call that timed out after
 *     the request went out -> ORCH_ETIMEDOUT.
 *   - events: create, start, die, destroy (and more) for containers that
 *     match the filter, on a thread of the implementation's, at least
 *     once; on_state tells connects and drops, and a consumer reconciles
 *     on each connect (events during a gap may be lost).
 *
 * Errors: every op returns orch_err and fills the optional orch_diag
 * (caller's storage, NULL allowed): a one-line message naming the call,
 * its target and what the runtime said, and in `status` the runtime's
 * own status code (Docker's HTTP status; 0 when no reply arrived). On
 * success msg is "".
 *
 * Threads: every op may be called from many threads at once, including
 * from an events callback (which must not close its own stream).
 */
#ifndef ORCH_RUNTIME_RUNTIME_H
#define ORCH_RUNTIME_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/base/diag.h"
#include "src/base/err.h"

/* ------------------------------------------------------------------------ */
/* Types. */

/* A key/value pair: a label, an event attribute, a label filter. In what
 * an op returns, both strings are malloc'd and owned by the enclosing
 * struct; in what a caller passes, they are borrowed for the call. */
typedef struct orch_rt_kv {
	char *key;
	char *value; /* in a filter, NULL = the key is present */
} orch_rt_kv;

/* One published port: "<port>/<proto>" inside -> host_ip:host_port. */
typedef struct orch_rt_publish {
	int container_port; /* 1..65535 */
	int host_port;      /* 1..65535, or 0: the runtime picks one */
	const char *proto;  /* "tcp" (NULL), "udp" or "sctp" */
} orch_rt_publish;

/* Everything create needs. Only image is required; every pointer is
 * borrowed for the duration of the call. */
typedef struct orch_rt_create_spec {
	const char *name;         /* NULL: the runtime picks a name */
	const char *image;        /* "acestream-sim:latest" */
	const char *const *env;   /* NULL-terminated "K=V", or NULL */
	const orch_rt_kv *labels; /* pairs, or NULL */
	size_t n_labels;
	const char *const *cmd; /* NULL-terminated argv, NULL: the image's */
	const orch_rt_publish *ports; /* exposed and published */
	size_t n_ports;
	const char *host_ip;        /* where ports bind; NULL: 127.0.0.1 */
	const char *restart_policy; /* "no", "unless-stopped", ...; NULL: no */
	const char *network;        /* "bridge", "host", "container:<id>" or
	                               a network's name; NULL: the default */
} orch_rt_create_spec;

typedef struct orch_rt_binding {
	char *host_ip;   /* "127.0.0.1", "0.0.0.0", "" */
	char *host_port; /* "29150"; "" when the runtime picks at start */
} orch_rt_binding;

typedef struct orch_rt_port {
	char *port; /* "6878/tcp" */
	orch_rt_binding *bindings;
	size_t n_bindings; /* 0: exposed, not published */
} orch_rt_port;

/*
 * A container as inspect or list report it. Every pointer is malloc'd and
 * owned by the struct; release with orch_rt_container_fini(). Strings are
 * never NULL in what an op returns (possibly ""); arrays are NULL when
 * empty.
 */
typedef struct orch_rt_container {
	char *id;
	char *name;         /* without Docker's leading '/' */
	char *image;        /* the name it was created from */
	char *created;      /* RFC 3339 (list: UTC, whole seconds) */
	int64_t created_us; /* the same, microseconds since the epoch; 0 when
	                       it did not parse */
	char *state;        /* "created", "running", "restarting", "paused",
	                       "exited", ... */
	bool running;       /* alive: State.Running, true while restarting or
	                       paused too (list and inspect alike) */
	orch_rt_kv *labels;
	size_t n_labels;
	orch_rt_port *ports; /* inspect: live bindings while running, the
	                        configured ones otherwise; list: running
	                        containers only */
	size_t n_ports;
	char **env; /* "K=V"; inspect only (list leaves it empty) */
	size_t n_env;
	/* inspect only (list leaves them empty): HostConfig.NetworkMode
	 * ("default", "bridge", "host", "none", "container:<id>" or a
	 * network's name), and the networks the container is attached to,
	 * each as name -> its gateway's IPv4 address ("" when it has none,
	 * e.g. "host"). How the orchestrator, run in a container, learns
	 * how it can reach the engines (src/engines/reach.h). */
	char *network_mode;
	orch_rt_kv *networks;
	size_t n_networks;
	char *health; /* inspect: the healthcheck's "healthy", "unhealthy"
	                 or "starting"; "" without one (and in a list) */
	int64_t started_us; /* inspect: when it last started (State.
	                       StartedAt); 0 never or unknown */
} orch_rt_container;

/* Frees what c owns and zeroes it. Safe on a zeroed struct; NULL no-op. */
void orch_rt_container_fini(orch_rt_container *c);

/* Finalizes n containers and frees the array (list's). NULL no-op. */
void orch_rt_container_list_free(orch_rt_container *v, size_t n);

/* The value of label key, or NULL. Borrowed from c. */
const char *orch_rt_container_label(
    const orch_rt_container *c, const char *key);

/* The port entry for "6878/tcp", or NULL. Borrowed from c. */
const orch_rt_port *orch_rt_container_port(
    const orch_rt_container *c, const char *port);

/* Whether every pair of match holds in labels (value NULL: key present). */
bool orch_rt_labels_match(const orch_rt_kv *labels, size_t n_labels,
    const orch_rt_kv *match, size_t n_match);

/* One event. Owned by the implementation and valid only during the
 * callback; copy what you keep. */
typedef struct orch_rt_event {
	char *type;        /* "container", "image", ... ("" if absent) */
	char *action;      /* "create", "start", "die", "destroy", ... */
	char *id;          /* the container's id ("" if absent) */
	char *name;        /* the container's name, or NULL */
	orch_rt_kv *attrs; /* labels, image, name, exitCode, ... */
	size_t n_attrs;
	int64_t time_ns; /* 0 if unknown */
} orch_rt_event;

/* Frees what ev owns (malloc'd fields) and zeroes it. NULL no-op. */
void orch_rt_event_fini(orch_rt_event *ev);

/* The attribute key of ev, or NULL. Borrowed from ev. */
const char *orch_rt_event_attr(const orch_rt_event *ev, const char *key);

/* Called on the stream's thread for every event. */
typedef void (*orch_rt_event_fn)(void *arg, const orch_rt_event *ev);

/* Called on the stream's thread on a connect (true, ORCH_OK, "") and when
 * an attempt failed or a connected stream dropped (false, why). */
typedef void (*orch_rt_events_state_fn)(
    void *arg, bool connected, orch_err err, const char *msg);

typedef struct orch_rt_events_opts {
	const orch_rt_kv *labels; /* label filter pairs, all must match */
	size_t n_labels;
	/* Containers (names or ids), any of them; none: every container.
	 * With labels too, an event must pass both. */
	const char *const *containers;
	size_t n_containers;
	const char *type;          /* "container" etc., NULL: every type */
	orch_rt_event_fn on_event; /* required */
	orch_rt_events_state_fn on_state; /* may be NULL */
	void *arg;                        /* passed to both */
	int backoff_min_ms; /* first reconnect delay; 0: the default */
	int backoff_max_ms; /* doubling stops here; 0: the default */
} orch_rt_events_opts;

/* An open events stream; the implementation's own type. */
typedef struct orch_rt_events orch_rt_events;

/* ------------------------------------------------------------------------ */
/* The table. impl is the handle's impl. Ownership as in the wrappers. */

typedef struct orch_runtime_ops {
	const char *name; /* "docker", "fake": for messages */
	orch_err (*ping)(void *impl, orch_diag *diag);
	orch_err (*create)(void *impl, const orch_rt_create_spec *spec,
	    char **id_out, orch_diag *diag);
	orch_err (*start)(void *impl, const char *id, orch_diag *diag);
	orch_err (*stop)(
	    void *impl, const char *id, int timeout_s, orch_diag *diag);
	orch_err (*kill)(
	    void *impl, const char *id, const char *sig, orch_diag *diag);
	orch_err (*remove)(
	    void *impl, const char *id, bool force, orch_diag *diag);
	orch_err (*inspect)(void *impl, const char *id, orch_rt_container *out,
	    orch_diag *diag);
	orch_err (*list)(void *impl, const orch_rt_kv *match, size_t n_match,
	    orch_rt_container **out, size_t *n_out, orch_diag *diag);
	orch_err (*image_inspect)(
	    void *impl, const char *image, orch_diag *diag);
	orch_err (*image_pull)(
	    void *impl, const char *image, int timeout_ms, orch_diag *diag);
	orch_err (*events_open)(
	    void *impl, const orch_rt_events_opts *opts, orch_rt_events **out);
	void (*events_close)(void *impl, orch_rt_events *ev);
} orch_runtime_ops;

typedef struct orch_runtime {
	const orch_runtime_ops *ops;
	void *impl;
} orch_runtime;

/* A liveness check: ORCH_OK when the runtime answered. */
static inline orch_err
orch_rt_ping(const orch_runtime *rt, orch_diag *diag)
{
	return rt->ops->ping(rt->impl, diag);
}

/* On success *id_out is the new container's id (malloc'd, the caller
 * frees it); on failure NULL. */
static inline orch_err
orch_rt_create(const orch_runtime *rt, const orch_rt_create_spec *spec,
    char **id_out, orch_diag *diag)
{
	return rt->ops->create(rt->impl, spec, id_out, diag);
}

static inline orch_err
orch_rt_start(const orch_runtime *rt, const char *id, orch_diag *diag)
{
	return rt->ops->start(rt->impl, id, diag);
}

/* SIGTERM, then SIGKILL after timeout_s; waits for it. */
static inline orch_err
orch_rt_stop(
    const orch_runtime *rt, const char *id, int timeout_s, orch_diag *diag)
{
	return rt->ops->stop(rt->impl, id, timeout_s, diag);
}

/* sig: a name ("SIGUSR1") or a number; NULL: SIGKILL. */
static inline orch_err
orch_rt_kill(
    const orch_runtime *rt, const char *id, const char *sig, orch_diag *diag)
{
	return rt->ops->kill(rt->impl, id, sig, diag);
}

static inline orch_err
orch_rt_remove(
    const orch_runtime *rt, const char *id, bool force, orch_diag *diag)
{
	return rt->ops->remove(rt->impl, id, force, diag);
}

/* *out zeroed first; the caller finalizes it on success; on failure it
 * holds nothing. */
static inline orch_err
orch_rt_inspect(const orch_runtime *rt, const char *id, orch_rt_container *out,
    orch_diag *diag)
{
	return rt->ops->inspect(rt->impl, id, out, diag);
}

/* Every container (running or not) whose labels match every pair of
 * match (n_match 0: all). On success *out (NULL when *n_out is 0) is the
 * caller's, released with orch_rt_container_list_free(); on failure NULL
 * and 0. */
static inline orch_err
orch_rt_list(const orch_runtime *rt, const orch_rt_kv *match, size_t n_match,
    orch_rt_container **out, size_t *n_out, orch_diag *diag)
{
	return rt->ops->list(rt->impl, match, n_match, out, n_out, diag);
}

/* ORCH_OK when the image is present, ORCH_ENOTFOUND when not. */
static inline orch_err
orch_rt_image_inspect(
    const orch_runtime *rt, const char *image, orch_diag *diag)
{
	return rt->ops->image_inspect(rt->impl, image, diag);
}

/* Pulls image to its end; timeout_ms bounds it (0: the default). */
static inline orch_err
orch_rt_image_pull(
    const orch_runtime *rt, const char *image, int timeout_ms, orch_diag *diag)
{
	return rt->ops->image_pull(rt->impl, image, timeout_ms, diag);
}

/* Starts a stream; opts is copied. On success *out is the caller's,
 * released with orch_rt_events_close(). */
static inline orch_err
orch_rt_events_open(const orch_runtime *rt, const orch_rt_events_opts *opts,
    orch_rt_events **out)
{
	return rt->ops->events_open(rt->impl, opts, out);
}

/* Stops the stream and waits for a running callback. NULL no-op. */
static inline void
orch_rt_events_close(const orch_runtime *rt, orch_rt_events *ev)
{
	if (ev != NULL)
		rt->ops->events_close(rt->impl, ev);
}

#endif
