/*
 * GetEventLog: the store's append-only event log (GET /events/log,
 * orchctl events [--follow]). A BLOCKING row: the query reads the
 * database (its own connection, beside the writer), so it runs on a
 * worker, never on the RPC server's or the gateway's threads and never
 * under the core's lock.
 */
#include "proto/orchestrator.pb-c.h"
#include "src/base/arena.h"
#include "src/service/handlers.h"
#include "src/service/pb.h"
#include "src/service/service.h"
#include "src/store/store.h"

void
orch_svc_get_event_log(void *arg, orch_call *call, const ProtobufCMessage *msg)
{
	orch_service *svc = arg;
	const Orch__GetEventLogRequest *req = (const void *) msg;
	Orch__LogEventList rep = ORCH__LOG_EVENT_LIST__INIT;
	char stack[ORCH_PB_ARENA_STACK];
	orch_store_query q;
	orch_store_log log = {0};
	orch_arena a;
	orch_diag d;
	bool ok = true;

	if (orch_store_query_parse(req->since, req->has_limit, req->limit,
	        req->type, &q, &d) != ORCH_OK) {
		orch_call_fail_diag(call, ORCH_EINVAL, &d);
		return;
	}
	if (svc->store == NULL) {
		orch_call_fail(
		    call, ORCH_EUNAVAIL, "no event log: persistence is off");
		return;
	}
	if (orch_store_query_log(svc->store, &q, &log, &d) != ORCH_OK) {
		orch_call_fail(call, ORCH_EINTERNAL, "%s", d.msg);
		return;
	}
	orch_arena_init(&a, stack, sizeof(stack));
	rep.n_events = log.n;
	rep.events = orch_arena_alloc(
	    &a, (log.n != 0 ? log.n : 1) * sizeof(*rep.events));
	ok = rep.events != NULL;
	for (size_t i = 0; ok && i < log.n; i++) {
		Orch__LogEvent *m = orch_arena_alloc(&a, sizeof(*m));

		ok = m != NULL && orch_pb_log_event(&a, &log.v[i], m);
		rep.events[i] = m;
	}
	if (ok)
		orch_call_reply(call, &rep.base);
	else
		orch_svc_fail_nomem(call);
	orch_arena_fini(&a);
	orch_store_log_fini(&log);
}
