/*
 * Engine health probes and stream stats collection (CONTRACT.md "Health",
 * "Stats collection"), each on one thread with one libcurl multi batch
 * (src/probe): 1,000 engines cost one thread, and each request has its
 * own timeout (5 s, capped at 90% of the period so rounds never overlap),
 * so a hung engine delays only its own probe. Results
 * are applied as each request completes (a short critical section under
 * the core's lock), and rounds start on a fixed schedule (every
 * HEALTH_CHECK_INTERVAL_S / COLLECT_INTERVAL_S from the previous round's
 * start), so a slow engine does not push the others' probes back.
 *
 * Probe address (src/engines/reach.h): on a host, 127.0.0.1:<published
 * host port> when the engine's port is published, else its advertised
 * host:port; in a container, by name on DOCKER_NETWORK or through the
 * host gateway, as orch_monitor_set_reach() says. The stats
 * collector fetches the *path* of a stream's stat_url from that stream's
 * engine at the probe address, never the host the event named. Streams
 * on unmanaged engines are not polled.
 */
#ifndef ORCH_ENGINES_MONITOR_H
#define ORCH_ENGINES_MONITOR_H

#include <stddef.h>
#include <stdint.h>

#include "src/base/err.h"
#include "src/core/core.h"
#include "src/engines/reach.h"

typedef struct orch_monitor orch_monitor;

/* Counters for /metrics (read without the lock: approximate). */
typedef struct orch_monitor_stats {
	uint64_t probes; /* health probes answered or failed */
	uint64_t probe_failures;
	uint64_t collections; /* stat fetches */
	uint64_t collector_errors;
	uint64_t sessions_gone; /* streams ended because the engine
	                           no longer knew the session */
} orch_monitor_stats;

orch_err orch_monitor_open(orch_core *core, orch_monitor **out);

/* Where probes go (copied); before orch_monitor_start(). Until called:
 * on the host (ORCH_REACH_HOST). */
void orch_monitor_set_reach(orch_monitor *m, const orch_reach *r);

/* Starts the probe and collector threads. */
orch_err orch_monitor_start(orch_monitor *m);

/* Stops the threads (within a request timeout at worst) and frees m. */
void orch_monitor_close(orch_monitor *m);

/* One health round now, on the caller's thread; returns engines probed. */
size_t orch_monitor_probe_once(orch_monitor *m);

/* One stats round now; returns streams polled. */
size_t orch_monitor_collect_once(orch_monitor *m);

void orch_monitor_get_stats(orch_monitor *m, orch_monitor_stats *out);

#endif
