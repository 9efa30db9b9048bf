/*
 * An in-memory container runtime behind the runtime ops table
 * (src/runtime/runtime.h), for testing the controllers without a daemon.
 *
 * Why: the manager's rules (name and port retries, Docker down, a missing
 * image, adoption, events, the control loop) are about what the runtime
 * answers, and the real daemon can be made to give most of those answers
 * only slowly or not at all. The fake gives them on demand, and keeps a
 * log of the calls so a test can check what the manager asked.
 *
 * What it keeps Docker's way (tests/runtime/docker_test.c and the manager's
 * real-daemon tests are the reference it follows):
 *   - ids are 64 hex digits; calls accept an id, a unique id prefix or a
 *     name; names are unique (create -> ORCH_EEXIST, status 409);
 *   - create needs the image (ORCH_ENOTFOUND, 404 "No such image") and
 *     leaves the container "created"; labels are pairs, first value wins;
 *   - start publishes the ports; a host port held by another running
 *     container or blocked with orch_fake_rt_block_port() fails with
 *     ORCH_EINTERNAL, status 500, "... port is already allocated", and the
 *     container stays created; a host port 0 gets one picked (>= 32768);
 *   - stop of a stopped container and start of a running one are OK;
 *     kill of a stopped one and remove of a running one without force are
 *     ORCH_EPRECOND (409);
 *   - states: created, running, restarting, paused, exited; inspect's
 *     and list's running are true for running, restarting and paused; list
 * reports ports of running containers only and no env;
 *   - events: create, start, die (attribute exitCode), stop, kill,
 *     destroy, pause, unpause, health_status, with the container's labels,
 *     name and image as attributes, on a thread per stream, filtered by
 *     type, labels and container names or ids; on_state(true) on connect;
 *     while down, on_state(false, ORCH_EUNAVAIL) and the events of the gap
 *     are lost (as across a daemon restart), then a reconnect;
 *   - a crash (the process exits by itself) is restarted when the restart
 *     policy says so (unless-stopped, always, on-failure); a kill, a stop
 *     or a die is not (Docker treats them as stopped by hand).
 *
 * Faults: per op, the next N calls fail with a given error and message, a
 * latency in ms before every call (slept outside the fake's lock), the next
 * N events lost, and "down": every op ORCH_EUNAVAIL at once.
 *
 * Threads: every function may be called from any thread.
 *
 * Ownership: the fake owns everything it holds; what its ops return is the
 * caller's per runtime.h. The handle from orch_fake_rt_runtime() borrows
 * the fake, which must outlive it.
 */
#ifndef ORCH_TESTS_RUNTIME_FAKE_RUNTIME_H
#define ORCH_TESTS_RUNTIME_FAKE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

#include "src/base/err.h"
#include "src/runtime/runtime.h"

typedef struct orch_fake_rt orch_fake_rt;

/* The ops, for faults and the call log. */
typedef enum orch_fake_op {
	ORCH_FAKE_PING = 0,
	ORCH_FAKE_CREATE,
	ORCH_FAKE_START,
	ORCH_FAKE_STOP,
	ORCH_FAKE_KILL,
	ORCH_FAKE_REMOVE,
	ORCH_FAKE_INSPECT,
	ORCH_FAKE_LIST,
	ORCH_FAKE_IMAGE_INSPECT,
	ORCH_FAKE_IMAGE_PULL,
	ORCH_FAKE_EVENTS_OPEN,
	ORCH_FAKE_NOPS
} orch_fake_op;

/* "create", "start", ... as in the call log. */
const char *orch_fake_op_name(orch_fake_op op);

orch_err orch_fake_rt_open(orch_fake_rt **out);

/* Frees f; every events stream must be closed first. NULL no-op. */
void orch_fake_rt_close(orch_fake_rt *f);

/* f as a runtime (borrowed). */
void orch_fake_rt_runtime(orch_fake_rt *f, orch_runtime *out);

/* ---- images ------------------------------------------------------------ */

void orch_fake_rt_image_add(orch_fake_rt *f, const char *image);
void orch_fake_rt_image_remove(orch_fake_rt *f, const char *image);
/* A pull of image succeeds (and adds it); others fail (ORCH_EINTERNAL,
 * 500: no registry). */
void orch_fake_rt_image_pullable(orch_fake_rt *f, const char *image);

/* ---- faults ------------------------------------------------------------ */

/* The next n calls of op fail with err (status, e.g. 500; msg appended to
 * "<op> <target>: " in the diag). n 0 clears. */
void orch_fake_rt_fail(orch_fake_rt *f, orch_fake_op op, int n, orch_err err,
    long status, const char *msg);

/* Every call of op first waits ms (outside the fake's lock); 0 clears. */
void orch_fake_rt_delay(orch_fake_rt *f, orch_fake_op op, int ms);

/* Down: every op answers ORCH_EUNAVAIL at once ("cannot connect") and the
 * events streams drop; up again: they reconnect. */
void orch_fake_rt_set_down(orch_fake_rt *f, bool down);

/* The next n events are lost for every stream. */
void orch_fake_rt_drop_events(orch_fake_rt *f, int n);

/* A host port held outside the runtime (another process): a start that
 * publishes it fails as Docker's does. */
void orch_fake_rt_block_port(orch_fake_rt *f, int port, bool blocked);

/* ---- containers, changed from outside ----------------------------------- */

/* A container someone else made (a leftover, another tool): as create
 * (and start), without faults and not logged. *id_out (may be NULL) gets
 * its id (malloc'd). */
orch_err orch_fake_rt_add(orch_fake_rt *f, const orch_rt_create_spec *spec,
    bool start, char **id_out);

/* The process exited (exit_code), not restarted: "exited", a die event. */
orch_err orch_fake_rt_die(orch_fake_rt *f, const char *id, int exit_code);

/*
 * The process crashed (exit code 1): a die event; then, when the restart
 * policy restarts it, "restarting", and unless hold, started again at once
 * (a start event, same id, same ports). With hold it stays restarting
 * until orch_fake_rt_start().
 */
orch_err orch_fake_rt_crash(orch_fake_rt *f, const char *id, bool hold);

/* n crash-and-restart cycles (a crash loop). */
orch_err orch_fake_rt_crash_loop(orch_fake_rt *f, const char *id, int n);

/* Started from outside (docker start; the restart after a held crash). */
orch_err orch_fake_rt_start(orch_fake_rt *f, const char *id);

/* Removed from outside (docker rm -f): die if running, then destroy. */
orch_err orch_fake_rt_destroy(orch_fake_rt *f, const char *id);

/* docker pause / unpause. */
orch_err orch_fake_rt_pause(orch_fake_rt *f, const char *id, bool paused);

/* Its healthcheck now says health ("healthy", "unhealthy", "starting");
 * a "health_status: <health>" event when it changed. Inspect reports it
 * (and the last start time, set by every start). */
orch_err orch_fake_rt_set_health(
    orch_fake_rt *f, const char *id, const char *health);

/* ---- looking ------------------------------------------------------------ */

/* Like inspect, without faults and not logged. ORCH_ENOTFOUND. */
orch_err orch_fake_rt_get(
    orch_fake_rt *f, const char *id, orch_rt_container *out);

/* Containers in state (NULL: all). */
size_t orch_fake_rt_count(orch_fake_rt *f, const char *state);

/* Calls of op so far (faulted ones too). */
int orch_fake_rt_calls(orch_fake_rt *f, orch_fake_op op);

/* Log lines ("<op> <target>", e.g. "create acestream-1", "remove <id>",
 * "list") that start with prefix. */
int orch_fake_rt_log_count(orch_fake_rt *f, const char *prefix);

/* The whole log, one line per call (malloc'd; for failure messages). */
char *orch_fake_rt_log_dump(orch_fake_rt *f);

void orch_fake_rt_log_clear(orch_fake_rt *f);

/* Events published so far (delivered or lost). */
int orch_fake_rt_events_published(orch_fake_rt *f);

#endif
