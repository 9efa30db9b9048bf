/*
 * The core's counters and their Prometheus text exposition (GetMetrics).
 * Counters are updated under the core's lock by whoever changes the
 * state (events, provisioning, the collector); the exposition reads them
 * under the same lock. The gateway appends its own (HTTP by route and
 * status, RPC latency) to this text for GET /metrics.
 */
#ifndef ORCH_CORE_METRICS_H
#define ORCH_CORE_METRICS_H

#include <stdint.h>

#include "src/base/buf.h"

/* Upper bounds (seconds) of the provision latency histogram buckets. */
#define ORCH_METRICS_PROV_BUCKETS 10

typedef struct orch_metrics {
	uint64_t events_started; /* StreamStarted accepted */
	uint64_t events_ended;   /* StreamEnded that ended a stream */
	uint64_t provision_engine_ok;
	uint64_t provision_engine_failed;
	uint64_t provision_engine_refused;
	uint64_t provision_container_ok;
	uint64_t provision_container_failed;
	uint64_t collector_errors; /* stat fetches that failed */
	uint64_t probe_failures;   /* health probes that failed */
	/* provision latency (successful ProvisionEngine), cumulative */
	uint64_t prov_bucket[ORCH_METRICS_PROV_BUCKETS + 1]; /* last: +Inf */
	double prov_sum_s;
	uint64_t prov_count;
} orch_metrics;

extern const double orch_metrics_prov_bounds[ORCH_METRICS_PROV_BUCKETS];

/* Records one successful provision that took seconds. */
void orch_metrics_provision_latency(orch_metrics *m, double seconds);

struct orch_core;

/* Appends the core's exposition to out (caller holds the core's lock). */
void orch_metrics_render_locked(const struct orch_core *core, orch_buf *out);

#endif
