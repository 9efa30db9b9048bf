/*
 * The handlers of the method table (table.c), one per method, by
 * resource file. Internal to src/service: callers go through the table.
 * Every handler is an orch_method_fn whose arg is the orch_service.
 */
#ifndef ORCH_SERVICE_HANDLERS_H
#define ORCH_SERVICE_HANDLERS_H

#include "src/service/call.h"

#define ORCH_SVC_HANDLER(name)                                                \
	void name(void *arg, orch_call *call, const ProtobufCMessage *req)

/* engines.c */
ORCH_SVC_HANDLER(orch_svc_list_engines);
ORCH_SVC_HANDLER(orch_svc_get_engine);
ORCH_SVC_HANDLER(orch_svc_select_engine);
/* streams.c */
ORCH_SVC_HANDLER(orch_svc_list_streams);
ORCH_SVC_HANDLER(orch_svc_get_stream_stats);
/* events.c */
ORCH_SVC_HANDLER(orch_svc_stream_started);
ORCH_SVC_HANDLER(orch_svc_stream_ended);
/* status.c */
ORCH_SVC_HANDLER(orch_svc_ping);
ORCH_SVC_HANDLER(orch_svc_get_status);
ORCH_SVC_HANDLER(orch_svc_get_vpn_status);
ORCH_SVC_HANDLER(orch_svc_get_health);
ORCH_SVC_HANDLER(orch_svc_reset_breaker);
ORCH_SVC_HANDLER(orch_svc_get_metrics);
/* containers.c */
ORCH_SVC_HANDLER(orch_svc_provision_engine);
ORCH_SVC_HANDLER(orch_svc_provision_container);
ORCH_SVC_HANDLER(orch_svc_scale);
ORCH_SVC_HANDLER(orch_svc_gc);
ORCH_SVC_HANDLER(orch_svc_delete);
ORCH_SVC_HANDLER(orch_svc_inspect);
ORCH_SVC_HANDLER(orch_svc_find_by_label);

/* eventlog.c */
ORCH_SVC_HANDLER(orch_svc_get_event_log);

/* INTERNAL "out of memory". */
void orch_svc_fail_nomem(orch_call *call);

#endif
