#include "src/core/sink.h"

#include <string.h>

/* In enum order; the names are the event log's `type` (docs/STORE.md). */
static const char *const names[ORCH_LOG_TYPE_COUNT] = {
    [ORCH_LOG_NONE] = NULL,
    [ORCH_LOG_CONFIG] = "config",
    [ORCH_LOG_STARTED] = "orchestrator_started",
    [ORCH_LOG_STOPPING] = "orchestrator_stopping",
    [ORCH_LOG_RESTORED] = "restored",
    [ORCH_LOG_ENGINE_PROVISIONED] = "engine_provisioned",
    [ORCH_LOG_ENGINE_ADOPTED] = "engine_adopted",
    [ORCH_LOG_ENGINE_HEALTHY] = "engine_healthy",
    [ORCH_LOG_ENGINE_UNHEALTHY] = "engine_unhealthy",
    [ORCH_LOG_ENGINE_REPLACED] = "engine_replaced",
    [ORCH_LOG_ENGINE_STOPPED] = "engine_stopped",
    [ORCH_LOG_ENGINE_DIED] = "engine_died",
    [ORCH_LOG_ENGINE_RESTARTED] = "engine_restarted",
    [ORCH_LOG_STREAM_STARTED] = "stream_started",
    [ORCH_LOG_STREAM_ENDED] = "stream_ended",
    [ORCH_LOG_STREAM_RESTORED] = "stream_restored",
    [ORCH_LOG_VPN_UP] = "vpn_up",
    [ORCH_LOG_VPN_DOWN] = "vpn_down",
    [ORCH_LOG_VPN_PORT] = "vpn_forwarded_port",
    [ORCH_LOG_PROVISION_REFUSED] = "provision_refused",
    [ORCH_LOG_BREAKER] = "breaker",
    [ORCH_LOG_STORE_GAP] = "store_gap",
};

const char *
orch_log_type_name(orch_log_type t)
{
	return (t > ORCH_LOG_NONE && t < ORCH_LOG_TYPE_COUNT) ? names[t]
	                                                      : NULL;
}

orch_log_type
orch_log_type_from_name(const char *s)
{
	for (int t = ORCH_LOG_NONE + 1; s != NULL && t < ORCH_LOG_TYPE_COUNT;
	     t++) {
		if (strcmp(names[t], s) == 0)
			return (orch_log_type) t;
	}
	return ORCH_LOG_NONE;
}

void
orch_sink_engine_record(const orch_sink *sink, const orch_engine *e,
    orch_sink_change change, const char *reason, int64_t at_us)
{
	orch_sink_engine r;

	if (sink == NULL || sink->ops == NULL || sink->ops->engine == NULL)
		return;
	memset(&r, 0, sizeof(r));
	r.change = change;
	r.container_id = e->container_id;
	r.container_name = e->container_name;
	r.reason = reason;
	r.running = e->running;
	r.forwarded = e->forwarded;
	r.health = e->health;
	r.first_seen_us = e->first_seen_us;
	r.last_seen_us = e->last_seen_us;
	r.last_stream_usage_us = e->last_stream_usage_us;
	r.at_us = at_us;
	sink->ops->engine(sink->arg, &r);
}
