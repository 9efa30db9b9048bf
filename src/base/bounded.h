/*
 * Runs a call that may never return with a time bound. Exists for nng
 * 1.5.2's nng_close(), which can miss a wake-up and hang after connection
 * resets (nng issue #1543): shutting down must not wait on it forever.
 */
#ifndef ORCH_BASE_BOUNDED_H
#define ORCH_BASE_BOUNDED_H

#include <stdbool.h>

/*
 * Runs fn(arg) on a new thread and waits up to timeout_ms for it. Returns
 * true when it finished in time. Otherwise returns false and leaves the
 * thread running detached: arg must then stay valid until process exit.
 * If no thread can be created, runs fn(arg) inline and returns true.
 */
bool orch_run_bounded(void (*fn)(void *), void *arg, int timeout_ms);

#endif
