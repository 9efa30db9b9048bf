#include "src/core/metrics.h"

#include <stdio.h>

#include "src/core/core.h"
#include "src/core/vpn.h"

const double orch_metrics_prov_bounds[ORCH_METRICS_PROV_BUCKETS] = {
    0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30};

void
orch_metrics_provision_latency(orch_metrics *m, double s)
{
	for (int i = 0; i < ORCH_METRICS_PROV_BUCKETS; i++) {
		if (s <= orch_metrics_prov_bounds[i])
			m->prov_bucket[i]++;
	}
	m->prov_bucket[ORCH_METRICS_PROV_BUCKETS]++;
	m->prov_sum_s += s;
	m->prov_count++;
}

static void
counter(orch_buf *out, const char *name, const char *help, uint64_t v)
{
	orch_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
	    name, help, name, name, (unsigned long long) v);
}

static void
gauge(orch_buf *out, const char *name, const char *help, long long v)
{
	orch_buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name,
	    help, name, name, v);
}

void
orch_metrics_render_locked(const orch_core *core, orch_buf *out)
{
	const orch_metrics *m = &core->metrics;
	const orch_state_counts *c = &core->state.counts;

	counter(out, "orch_events_started_total",
	    "stream_started events accepted", m->events_started);
	counter(out, "orch_events_ended_total",
	    "stream_ended events that ended a stream", m->events_ended);
	counter(out, "orch_collector_errors_total",
	    "stat fetches from engines that failed", m->collector_errors);
	counter(out, "orch_probe_failures_total",
	    "engine health probes that failed", m->probe_failures);
	gauge(out, "orch_streams_active", "streams now active",
	    c->streams_active);
	gauge(out, "orch_reservations", "engine reservations pending",
	    c->reservations);
	orch_buf_printf(out,
	    "# HELP orch_provision_total provisions by kind and result\n"
	    "# TYPE orch_provision_total counter\n"
	    "orch_provision_total{kind=\"engine\",result=\"ok\"} %llu\n"
	    "orch_provision_total{kind=\"engine\",result=\"failed\"} %llu\n"
	    "orch_provision_total{kind=\"engine\",result=\"refused\"} %llu\n"
	    "orch_provision_total{kind=\"container\",result=\"ok\"} %llu\n"
	    "orch_provision_total{kind=\"container\",result=\"failed\"} "
	    "%llu\n",
	    (unsigned long long) m->provision_engine_ok,
	    (unsigned long long) m->provision_engine_failed,
	    (unsigned long long) m->provision_engine_refused,
	    (unsigned long long) m->provision_container_ok,
	    (unsigned long long) m->provision_container_failed);
	orch_buf_printf(out,
	    "# HELP orch_engines managed engines by health\n"
	    "# TYPE orch_engines gauge\n"
	    "orch_engines{health=\"healthy\"} %d\n"
	    "orch_engines{health=\"unhealthy\"} %d\n"
	    "orch_engines{health=\"unknown\"} %d\n",
	    c->healthy, c->unhealthy, c->running - c->healthy - c->unhealthy);
	gauge(out, "orch_engines_managed", "managed engines in state",
	    c->engines);
	gauge(out, "orch_engines_used",
	    "engines at MAX_STREAMS_PER_ENGINE active streams", c->used);
	orch_buf_printf(out,
	    "# HELP orch_provision_seconds time of successful engine "
	    "provisions\n# TYPE orch_provision_seconds histogram\n");
	for (int i = 0; i < ORCH_METRICS_PROV_BUCKETS; i++)
		orch_buf_printf(out,
		    "orch_provision_seconds_bucket{le=\"%g\"} %llu\n",
		    orch_metrics_prov_bounds[i],
		    (unsigned long long) m->prov_bucket[i]);
	orch_buf_printf(out,
	    "orch_provision_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "orch_provision_seconds_sum %.6f\n"
	    "orch_provision_seconds_count %llu\n",
	    (unsigned long long) m->prov_bucket[ORCH_METRICS_PROV_BUCKETS],
	    m->prov_sum_s, (unsigned long long) m->prov_count);
	orch_core_vpn_metrics_locked(core, out);
}
