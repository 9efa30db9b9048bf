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
 * This is one implementation of the runtime ops table (runtime.h):
 * orch_docker_runtime() wraps a handle as an orch_runtime, and the calls
 * below take and return the same runtime-neutral types (orch_rt_*).
 *
 * Errors: functions return orch_err; the optional orch_diag out parameter
 * (caller's storage, may be NULL) receives the HTTP status (`status`) and
 * a one-line message naming the call and what Docker or curl said. HTTP
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

#include "src/base/diag.h"
#include "src/base/err.h"
#include "src/runtime/runtime.h"

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
orch_err orch_docker_open(
    const char *docker_host, int timeout_ms, orch_docker **out);

/* Releases d. No call on d may be in flight and every events stream opened
 * on it must be closed first. NULL is a no-op. */
void orch_docker_close(orch_docker *d);

/*
 * GET /_ping now, and negotiate the API version if that was not done yet.
 * ORCH_OK when Docker answered; a cheap liveness check.
 */
orch_err orch_docker_ping(orch_docker *d, orch_diag *diag);

/*
 * Copies the negotiated version ("1.41") into buf (len >= 8 suffices).
 * ORCH_EUNAVAIL when no /_ping has succeeded yet (no I/O is done here);
 * ORCH_EINVAL for a buffer too small.
 */
orch_err orch_docker_api_version(orch_docker *d, char *buf, size_t len);

/* ------------------------------------------------------------------------ */
/* Containers. */

/*
 * POST /containers/create. On success *id_out is the new container's id,
 * a malloc'd string the caller frees; on failure it is NULL. A name in use
 * -> ORCH_EEXIST; an unknown image or network -> ORCH_ENOTFOUND; a spec
 * Docker refuses -> ORCH_EINTERNAL with its message; a bad spec caught here
 * (no image, port out of range, an empty label key, a name with
 * characters outside [A-Za-z0-9_.-]) -> ORCH_EINVAL. Labels go to Docker
 * as one JSON object built from the pairs (a key containing '=' is just a
 * key; a key given twice keeps its first value).
 */
orch_err orch_docker_create(orch_docker *d, const orch_rt_create_spec *spec,
    char **id_out, orch_diag *diag);

/* POST /containers/{id}/start. Already running is ORCH_OK. id is an id or a
 * name. */
orch_err orch_docker_start(orch_docker *d, const char *id, orch_diag *diag);

/*
 * POST /containers/{id}/stop?t=timeout_s: SIGTERM, then SIGKILL after
 * timeout_s (>= 0). The call waits up to timeout_s plus the handle's
 * timeout. Already stopped is ORCH_OK.
 */
orch_err orch_docker_stop(
    orch_docker *d, const char *id, int timeout_s, orch_diag *diag);

/* POST /containers/{id}/kill?signal=sig (NULL: SIGKILL). Not running ->
 * ORCH_EPRECOND. sig is a name ("SIGUSR1") or a number. */
orch_err orch_docker_kill(
    orch_docker *d, const char *id, const char *sig, orch_diag *diag);

/* DELETE /containers/{id}?force=…. Running without force -> ORCH_EPRECOND;
 * gone already -> ORCH_ENOTFOUND. Anonymous volumes are kept (v=false). */
orch_err orch_docker_remove(
    orch_docker *d, const char *id, bool force, orch_diag *diag);

/*
 * GET /containers/{id}/json into *out (zeroed first; the caller finalizes
 * it on success; on failure it holds nothing). ports: while the container
 * runs, the live bindings (NetworkSettings.Ports, ports Docker picked
 * included); otherwise the configured ones (HostConfig.PortBindings).
 * Unknown -> ORCH_ENOTFOUND.
 */
orch_err orch_docker_inspect(
    orch_docker *d, const char *id, orch_rt_container *out, orch_diag *diag);

/*
 * GET /containers/json?all=true with the label filter pairs (all must
 * match; value NULL: the key is present; n_match 0: every container).
 * Docker's filter syntax is "key=value" split at the first '=', so a pair
 * whose key contains '=' is not sent to Docker but checked here on the
 * reply (exact either way). Filled from that one reply, no inspect per
 * container: created is made
 * from the epoch Docker gives there, ports are reported for running
 * containers only (Docker lists none for stopped ones) and env is empty;
 * inspect a container for those. On success *out (NULL when *n_out is 0)
 * is released by the caller with orch_rt_container_list_free(); on
 * failure *out is NULL and *n_out 0.
 */
orch_err orch_docker_list(orch_docker *d, const orch_rt_kv *match,
    size_t n_match, orch_rt_container **out, size_t *n_out, orch_diag *diag);

/* ------------------------------------------------------------------------ */
/* Images. */

/* GET /images/{image}/json: ORCH_OK when the image is present locally,
 * ORCH_ENOTFOUND when not. */
orch_err orch_docker_image_inspect(
    orch_docker *d, const char *image, orch_diag *diag);

/*
 * POST /images/create?fromImage=…&tag=… and reads the progress stream to
 * its end. image is "name", "name:tag" (default tag "latest") or
 * "name@sha256:…". An error line in the stream -> ORCH_EINTERNAL with its
 * text; a refusal before the stream (registry unreachable: HTTP 500) ->
 * ORCH_EINTERNAL; no such repository -> ORCH_ENOTFOUND. timeout_ms bounds
 * the whole pull (0: the handle's timeout).
 */
orch_err orch_docker_image_pull(
    orch_docker *d, const char *image, int timeout_ms, orch_diag *diag);

/* ------------------------------------------------------------------------ */
/* The events stream. */

typedef struct orch_docker_events orch_docker_events;

/*
 * Starts a thread that follows GET /events (filtered by opts) and calls
 * opts->on_event for each event, reconnecting with a doubling backoff
 * (reset once a connection was established) whenever the connection fails
 * or drops. After a reconnect, the gap is asked for again (since=) and
 * events already delivered are skipped; delivery is at least once, so a
 * consumer must be idempotent. opts is copied; d must outlive the stream.
 * Every event carries its type, action, Actor.ID, the name and every
 * Actor.Attributes entry (labels, image, exitCode, ...); the pre-1.22
 * fields (status, id, time) are understood too. The callbacks run on the
 * stream's thread; they may call anything on the same handle but must not
 * close their own stream. On success *out is the caller's, released with
 * orch_docker_events_close(); ORCH_EINVAL (no callback, a label filter
 * key containing '=': Docker's syntax cannot say it), ORCH_ENOMEM,
 * ORCH_ESYS (no thread).
 */
orch_err orch_docker_events_open(
    orch_docker *d, const orch_rt_events_opts *opts, orch_docker_events **out);

/* Stops the stream and joins its thread; returns within ~100 ms (plus
 * the time a running callback takes). NULL is a no-op. */
void orch_docker_events_close(orch_docker_events *ev);

/* ------------------------------------------------------------------------ */
/* As a runtime. */

/* Fills *out with an orch_runtime whose ops are the calls above on d
 * (borrowed: d must outlive every copy of *out). */
void orch_docker_runtime(orch_docker *d, orch_runtime *out);

#endif
