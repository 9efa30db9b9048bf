/*
 * The one method table: every method of the service, its handler, its
 * lane (FAST on the caller's thread; BLOCKING on the workers; PROVISION on
 * workers of their own, so slow inspections never hold a provision up)
 * and who may call it (CONTRACT.md "Authentication": Ping is open;
 * reads need READ_API_KEY or API_KEY when READ_API_KEY is set; the rest
 * need API_KEY when it is set). Read top to bottom, it is the API.
 */
#include "src/service/service.h"

#include <string.h>

#include "src/core/core.h"
#include "src/service/handlers.h"

#define FAST ORCH_LANE_FAST
#define BLOCKING ORCH_LANE_BLOCKING
#define PROVISION ORCH_LANE_PROVISION
#define OPEN ORCH_AUTH_OPEN
#define READ ORCH_AUTH_READ
#define MUTATE ORCH_AUTH_MUTATE

static const orch_method methods[] = {
    /* {name, handler, lane, auth} */
    {"Ping", orch_svc_ping, FAST, OPEN},
    {"ListEngines", orch_svc_list_engines, FAST, READ},
    {"GetEngine", orch_svc_get_engine, FAST, READ},
    {"ListStreams", orch_svc_list_streams, FAST, READ},
    {"GetStreamStats", orch_svc_get_stream_stats, FAST, READ},
    {"StreamStarted", orch_svc_stream_started, FAST, MUTATE},
    {"StreamEnded", orch_svc_stream_ended, FAST, MUTATE},
    {"SelectEngine", orch_svc_select_engine, FAST, MUTATE},
    {"GetStatus", orch_svc_get_status, FAST, READ},
    {"GetVpnStatus", orch_svc_get_vpn_status, FAST, READ},
    {"GetHealth", orch_svc_get_health, FAST, READ},
    {"ResetCircuitBreaker", orch_svc_reset_breaker, FAST, MUTATE},
    {"GetMetrics", orch_svc_get_metrics, FAST, READ},
    {"ProvisionEngine", orch_svc_provision_engine, PROVISION, MUTATE},
    {"ProvisionContainer", orch_svc_provision_container, PROVISION, MUTATE},
    {"Scale", orch_svc_scale, PROVISION, MUTATE},
    {"CollectGarbage", orch_svc_gc, BLOCKING, MUTATE},
    {"DeleteContainer", orch_svc_delete, BLOCKING, MUTATE},
    {"InspectContainer", orch_svc_inspect, BLOCKING, READ},
    {"FindByLabel", orch_svc_find_by_label, BLOCKING, MUTATE},
    {"GetEventLog", orch_svc_get_event_log, BLOCKING, READ},
};

const orch_method *
orch_service_methods(size_t *n)
{
	*n = sizeof(methods) / sizeof(methods[0]);
	return methods;
}

const orch_method *
orch_service_method(const char *name)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (strcmp(methods[i].name, name) == 0)
			return &methods[i];
	}
	return NULL;
}

orch_err
orch_service_authorize(
    void *arg, orch_auth_class cls, const char *authorization, orch_diag *why)
{
	const orch_service *svc = arg;
	const orch_config *cfg = svc->core->cfg;

	return orch_auth_check(
	    cls, authorization, cfg->api_key, cfg->read_api_key, why);
}

void
orch_svc_fail_nomem(orch_call *call)
{
	orch_call_fail(call, ORCH_EINTERNAL, "out of memory");
}
