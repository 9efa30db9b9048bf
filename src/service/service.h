/*
 * The orchestrator's RPC service: every method of `service Orchestrator`
 * (proto/orchestrator.proto) as one table of handlers over the core and
 * the engine manager.
 *
 * A handler validates its request (INVALID_ARGUMENT naming the field,
 * nothing changed), calls the core (FAST methods: in-memory work under
 * its short lock) or the manager (BLOCKING methods: Docker), and maps the
 * result to the reply message (src/service/pb.h). It never checks auth:
 * the table's auth column is judged by the transport before dispatch
 * (src/service/call.h), with orch_service_authorize() below.
 *
 * Files by resource: engines.c (ListEngines, GetEngine, SelectEngine),
 * streams.c (ListStreams, GetStreamStats), events.c (StreamStarted,
 * StreamEnded), status.c (Ping, GetStatus, GetVpnStatus, GetHealth,
 * ResetCircuitBreaker, GetMetrics), containers.c (ProvisionEngine,
 * ProvisionContainer, Scale, CollectGarbage, DeleteContainer,
 * InspectContainer, FindByLabel), eventlog.c (GetEventLog); table.c
 * holds the one method table.
 */
#ifndef ORCH_SERVICE_SERVICE_H
#define ORCH_SERVICE_SERVICE_H

#include <stddef.h>

#include "src/service/call.h"

struct orch_core;
struct orch_mgr;
struct orch_store;

/*
 * What every handler works on; the transport's handler argument. The
 * pointers are borrowed and must outlive every call. mgr NULL: the
 * process runs without a runtime, and the methods that need one answer
 * UNAVAILABLE. store NULL: persistence is off, GetEventLog answers
 * UNAVAILABLE and GetMetrics has no store section.
 * revision: the git revision Ping reports (the binary's
 * stamp, src/cmd/stamp.h); NULL reads "unknown".
 */
typedef struct orch_service {
	struct orch_core *core;
	struct orch_mgr *mgr;
	struct orch_store *store;
	const char *revision;
} orch_service;

/* The method table, one row per method of the service; rows valid for
 * the program's life. */
const orch_method *orch_service_methods(size_t *n);

/* The table row of a method, or NULL. */
const orch_method *orch_service_method(const char *name);

/*
 * orch_authorize_fn for the transports (arg = the orch_service): the
 * core's rule (src/core/auth.h) against its API_KEY / READ_API_KEY.
 */
orch_err orch_service_authorize(
    void *arg, orch_auth_class cls, const char *authorization, orch_diag *why);

/* Default `limit` of ListStreams (active streams are never cut by it). */
#define ORCH_LIST_STREAMS_DEFAULT 1000
/* The largest page: one request's work under the core lock is bounded
 * (GET /streams?limit=1000000 used to copy the whole history there).
 * Further pages with ?before=<last stream id>. */
#define ORCH_LIST_STREAMS_MAX 1000

#endif
