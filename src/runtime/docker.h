/*
 * A synchronous Docker Engine API client over libcurl (docs/RUNTIME.md).
 *
 * Why this shape: the controllers that start, stop and adopt engines run on
 * their own threads and may block, so every call here is a plain blocking
 * function with a hard total timeout; nothing retries, so a Docker that is
 * down costs one failed connect (ORCH_EUNAVAIL), never a minute of retries.
 * The events stream is the one long-lived transfer: it runs on a thread of
 * its own, reconnects with a backoff and stops within ~100 ms.
 *
 * Threads: one orch_docker handle may be used by any number of threads at
 * once; each call borrows a curl easy handle from the handle's small pool
 * (so keep-alive connections are reused), and nothing else is shared but
 * the negotiated API version, under a mutex. The only process-wide state is
 * curl_global_init(), done once (pthread_once) by orch_docker_open().
 *
 * Errors: functions return orch_err; the optional orch_docker_diag out
 * parameter (caller's storage, may be NULL) receives the HTTP status and a
 * one-line message naming the call and what Docker or curl said. HTTP
 * statuses map as: 2xx and 304 (already started / stopped) -> ORCH_OK,
 * 404 -> ORCH_ENOTFOUND, 409 -> ORCH_EEXIST on create (name in use) and
 * ORCH_EPRECOND elsewhere (e.g. removing a running container without
 * force), 401/403 -> ORCH_EPERM, 503 -> ORCH_EUNAVAIL, any other ->
 * ORCH_EINTERNAL. Transport: connection refused, no socket, connect timeout,
 * connection dropped -> ORCH_EUNAVAIL; the total timeout after the request
 * was sent -> ORCH_ETIMEDOUT; a reply that is not what the API documents
 * (bad JSON, wrong types, too large) -> ORCH_EINTERNAL.
 */
#ifndef ORCH_RUNTIME_DOCKER_H
#define ORCH_RUNTIME_DOCKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/base/err.h"

/* The newest API version this code is written against; a newer daemon is
 * spoken to at this version, an older one at its own. */
#define ORCH_DOCKER_API_MAJOR 1
#define ORCH_DOCKER_API_MINOR 41
/* The oldest daemon API accepted (ORCH_EPRECOND below it). */
#define ORCH_DOCKER_API_MIN_MINOR 25

#define ORCH_DOCKER_DEFAULT_HOST "unix:///var/run/docker.sock"
/* Used when orch_docker_open() is given timeout_ms 0. */
#define ORCH_DOCKER_DEFAULT_TIMEOUT_MS 10000
/* Connect timeout of every call (capped by the call's total timeout). */
#define ORCH_DOCKER_CONNECT_TIMEOUT_MS 1000
/* Replies larger than this are refused (ORCH_EINTERNAL). */
#define ORCH_DOCKER_MAX_REPLY (16u << 20)

typedef struct orch_docker orch_docker;

/* What went wrong in one call. Caller-owned; filled by every call that
 * takes one (msg is "" and http_status the reply's status on success). */
/* Long enough for Docker's longest one-line errors: a port conflict is
 * "start <64-hex>: HTTP 500: driver failed programming external
 * connectivity on endpoint <name> (<64-hex>): Bind for <ip>:<port>
 * failed: port is already allocated", and the manager looks for its end. */
#define ORCH_DOCKER_MSG_MAX 1024
typedef struct orch_docker_diag {
	long http_status;             /* 0 when no HTTP reply arrived */
	char msg[ORCH_DOCKER_MSG_MAX]; /* "<call> <target>: <reason>" */
} orch_docker_diag;

/* ------------------------------------------------------------------------ */
/* The handle. */

/*
 * Opens a handle for docker_host, which is "unix:///abs/path.sock" (HTTP
 * over that socket) or "tcp://host:port" (plain HTTP; "[v6]:port" allowed).
 * Anything else, a unix path of 108 bytes or more, or timeout_ms < 0 ->
 * ORCH_EINVAL. timeout_ms is every call's total timeout (0: the default
 * above). Tries GET /_ping once to negotiate the API version; when that
 * fails the open still succeeds and the next call negotiates (Docker may
 * come up later). On success *out is the caller's, released with
 * orch_docker_close(); on failure *out is NULL. ORCH_ENOMEM.
 */
orch_err orch_docker_open(const char *docker_host, int timeout_ms,
    orch_docker **out);

/* Releases d. No call on d may be in flight and every events stream opened
 * on it must be closed first. NULL is a no-op. */
void orch_docker_close(orch_docker *d);

/*
 * GET /_ping now, and negotiate the API version if that was not done yet.
 * ORCH_OK when Docker answered; a cheap liveness check.
 */
orch_err orch_docker_ping(orch_docker *d, orch_docker_diag *diag);

/*
 * Copies the negotiated version ("1.41") into buf (len >= 8 suffices).
 * ORCH_EUNAVAIL when no /_ping has succeeded yet (no I/O is done here);
 * ORCH_EINVAL for a buffer too small.
 */
orch_err orch_docker_api_version(orch_docker *d, char *buf, size_t len);

/* ------------------------------------------------------------------------ */
/* Containers. */

/* One published port: "<port>/tcp" inside -> host_ip:host_port outside. */
typedef struct orch_docker_publish {
	int container_port; /* 1..65535 */
	int host_port;      /* 1..65535, or 0: Docker picks one */
	const char *proto;  /* "tcp" (NULL) or "udp" */
} orch_docker_publish;

/* Everything orch_docker_create() needs. Only image is required; all the
 * pointers are borrowed for the duration of the call. */
typedef struct orch_docker_create_spec {
	const char *name;          /* NULL: Docker picks a name */
	const char *image;         /* "acestream-sim:latest" */
	const char *const *env;    /* NULL-terminated "K=V", or NULL */
	const char *const *labels; /* NULL-terminated "key=value", or NULL */
	const char *const *cmd;    /* NULL-terminated argv, NULL: the image's */
	const orch_docker_publish *ports; /* exposed and published */
	size_t n_ports;
	const char *host_ip;        /* where ports are bound; NULL: 127.0.0.1 */
	const char *restart_policy; /* "no", "unless-stopped", ...; NULL: no */
	const char *network;        /* HostConfig.NetworkMode: "bridge",
	                               "host", "container:<id>" or a network's
	                               name; NULL: Docker's default */
} orch_docker_create_spec;

/*
 * POST /containers/create. On success *id_out is the new container's id,
 * a malloc'd string the caller frees; on failure it is NULL. A name in use
 * -> ORCH_EEXIST; an unknown image or network -> ORCH_ENOTFOUND; a spec
 * Docker refuses -> ORCH_EINTERNAL with its message; a bad spec caught here
 * (no image, port out of range, a label without '=', a name with
 * characters outside [A-Za-z0-9_.-]) -> ORCH_EINVAL.
 */
orch_err orch_docker_create(orch_docker *d, const orch_docker_create_spec *spec,
    char **id_out, orch_docker_diag *diag);

/* POST /containers/{id}/start. Already running is ORCH_OK. id is an id or a
 * name. */
orch_err orch_docker_start(orch_docker *d, const char *id,
    orch_docker_diag *diag);

/*
 * POST /containers/{id}/stop?t=timeout_s: SIGTERM, then SIGKILL after
 * timeout_s (>= 0). The call waits up to timeout_s plus the handle's
 * timeout. Already stopped is ORCH_OK.
 */
orch_err orch_docker_stop(orch_docker *d, const char *id, int timeout_s,
    orch_docker_diag *diag);

/* POST /containers/{id}/kill?signal=sig (NULL: SIGKILL). Not running ->
 * ORCH_EPRECOND. sig is a name ("SIGUSR1") or a number. */
orch_err orch_docker_kill(orch_docker *d, const char *id, const char *sig,
    orch_docker_diag *diag);

/* DELETE /containers/{id}?force=…. Running without force -> ORCH_EPRECOND;
 * gone already -> ORCH_ENOTFOUND. Anonymous volumes are kept (v=false). */
orch_err orch_docker_remove(orch_docker *d, const char *id, bool force,
    orch_docker_diag *diag);

typedef struct orch_docker_kv {
	char *key;
	char *value;
} orch_docker_kv;

typedef struct orch_docker_binding {
	char *host_ip;   /* "127.0.0.1", "0.0.0.0", "" */
	char *host_port; /* "29150"; "" when Docker picks at start */
} orch_docker_binding;

typedef struct orch_docker_port {
	char *port; /* "6878/tcp" */
	orch_docker_binding *bindings;
	size_t n_bindings; /* 0: exposed, not published */
} orch_docker_port;

/*
 * A container as inspect or list report it. Every pointer is owned by the
 * struct; release with orch_docker_container_fini(). Strings are never
 * NULL after a successful parse (possibly ""); arrays are NULL when empty.
 */
typedef struct orch_docker_container {
	char *id;
	char *name;    /* without the leading '/' */
	char *image;   /* the name it was created from ("acestream-sim:latest") */
	char *created; /* inspect: as Docker gives it; list: RFC 3339 (UTC,
	                  whole seconds) made from the epoch Docker gives */
	int64_t created_us; /* the same, microseconds since the epoch; 0 when
	                       Docker's string did not parse */
	char *state;   /* "created", "running", "exited", ... */
	bool running;
	orch_docker_kv *labels;
	size_t n_labels;
	orch_docker_port *ports;
	size_t n_ports;
	char **env; /* "K=V"; inspect only (list leaves it empty) */
	size_t n_env;
} orch_docker_container;

/* Frees what c owns and zeroes it. Safe on a zeroed struct; NULL no-op. */
void orch_docker_container_fini(orch_docker_container *c);

/* Finalizes n containers and frees the array (orch_docker_list's). */
void orch_docker_container_list_free(orch_docker_container *v, size_t n);

/* The value of label key, or NULL. Borrowed from c. */
const char *orch_docker_container_label(const orch_docker_container *c,
    const char *key);

/* The port entry for "6878/tcp", or NULL. Borrowed from c. */
const orch_docker_port *orch_docker_container_port(
    const orch_docker_container *c, const char *port);

/*
 * GET /containers/{id}/json into *out (zeroed first; the caller finalizes
 * it on success; on failure it holds nothing). ports: while the container
 * runs, the live bindings (NetworkSettings.Ports, ports Docker picked
 * included); otherwise the configured ones (HostConfig.PortBindings).
 * Unknown -> ORCH_ENOTFOUND.
 */
orch_err orch_docker_inspect(orch_docker *d, const char *id,
    orch_docker_container *out, orch_docker_diag *diag);

/*
 * GET /containers/json?all=true with the label filters (NULL-terminated
 * "key" or "key=value", all must match; NULL or empty: every container).
 * Filled from that one reply, no inspect per container: created is made
 * from the epoch Docker gives there, ports are reported for running
 * containers only (Docker lists none for stopped ones) and env is empty;
 * inspect a container for those. On success *out (NULL when *n_out is 0)
 * is released by the caller with orch_docker_container_list_free(); on
 * failure *out is NULL and *n_out 0.
 */
orch_err orch_docker_list(orch_docker *d, const char *const *labels,
    orch_docker_container **out, size_t *n_out, orch_docker_diag *diag);

/* ------------------------------------------------------------------------ */
/* Images. */

/* GET /images/{image}/json: ORCH_OK when the image is present locally,
 * ORCH_ENOTFOUND when not. */
orch_err orch_docker_image_inspect(orch_docker *d, const char *image,
    orch_docker_diag *diag);

/*
 * POST /images/create?fromImage=…&tag=… and reads the progress stream to
 * its end. image is "name", "name:tag" (default tag "latest") or
 * "name@sha256:…". An error line in the stream -> ORCH_EINTERNAL with its
 * text; a refusal before the stream (registry unreachable: HTTP 500) ->
 * ORCH_EINTERNAL; no such repository -> ORCH_ENOTFOUND. timeout_ms bounds
 * the whole pull (0: the handle's timeout).
 */
orch_err orch_docker_image_pull(orch_docker *d, const char *image,
    int timeout_ms, orch_docker_diag *diag);

/* ------------------------------------------------------------------------ */
/* The events stream. */

/* One event. Every pointer is owned by the library and valid only during
 * the callback; copy what you keep. */
typedef struct orch_docker_event {
	char *type;   /* "container", "image", "network", ... ("" if absent) */
	char *action; /* "create", "start", "die", "destroy",
	                 "health_status: healthy", ... */
	char *id;     /* Actor.ID ("" if absent) */
	char *name;   /* Actor.Attributes.name, or NULL */
	orch_docker_kv *attrs; /* Actor.Attributes: labels, image, name,
	                          exitCode, ... (NULL when none) */
	size_t n_attrs;
	int64_t time_ns; /* timeNano (or time * 1e9); 0 if absent */
} orch_docker_event;

/* Frees what ev owns and zeroes it (for orch_docker_parse_event users). */
void orch_docker_event_fini(orch_docker_event *ev);

/* The attribute key of ev, or NULL. Borrowed from ev. */
const char *orch_docker_event_attr(const orch_docker_event *ev,
    const char *key);

/* Called on the stream's thread for every event. Must not call
 * orch_docker_events_close() on its own stream; may call anything else,
 * including blocking calls on the same orch_docker. */
typedef void (*orch_docker_event_fn)(void *arg, const orch_docker_event *ev);

/*
 * Called on the stream's thread when the stream is connected (connected
 * true, err ORCH_OK) and when a connection attempt failed or a connected
 * stream dropped (false, the error, a message). A controller reconciles
 * on each connect: events during a gap are replayed from Docker's own
 * event log where it still has them, but not after a daemon restart.
 */
typedef void (*orch_docker_events_state_fn)(void *arg, bool connected,
    orch_err err, const char *msg);

typedef struct orch_docker_events_opts {
	const char *const *labels; /* NULL-terminated label filters, or NULL */
	const char *type;          /* "container" etc., NULL: every type */
	orch_docker_event_fn on_event;          /* required */
	orch_docker_events_state_fn on_state;   /* may be NULL */
	void *arg;                              /* passed to both */
	int backoff_min_ms; /* first reconnect delay; 0: 100 */
	int backoff_max_ms; /* doubling stops here; 0: 5000 */
} orch_docker_events_opts;

typedef struct orch_docker_events orch_docker_events;

/*
 * Starts a thread that follows GET /events (filtered by opts) and calls
 * opts->on_event for each event, reconnecting with a doubling backoff
 * (reset once a connection was established) whenever the connection fails
 * or drops. After a reconnect, the gap is asked for again (since=) and
 * events already delivered are skipped; delivery is at least once, so a
 * consumer must be idempotent. opts is copied; d must outlive the stream.
 * On success *out is the caller's, released with orch_docker_events_close();
 * ORCH_EINVAL (no callback), ORCH_ENOMEM, ORCH_ESYS (no thread).
 */
orch_err orch_docker_events_open(orch_docker *d,
    const orch_docker_events_opts *opts, orch_docker_events **out);

/* Stops the stream and joins its thread; returns within ~100 ms (plus
 * the time a running callback takes). NULL is a no-op. */
void orch_docker_events_close(orch_docker_events *ev);

#endif
