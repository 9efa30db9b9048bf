/* ListEngines, GetEngine, SelectEngine. */
#include <stdbool.h>
#include <string.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/arena.h"
#include "src/core/core.h"
#include "src/service/handlers.h"
#include "src/service/pb.h"
#include "src/service/service.h"

void
orch_svc_list_engines(void *arg, orch_call *call, const ProtobufCMessage *req)
{
	orch_service *svc = arg;
	orch_core *core = svc->core;
	Orch__EngineList rep = ORCH__ENGINE_LIST__INIT;
	char stack[ORCH_PB_ARENA_STACK];
	orch_arena a;
	orch_engine *const *v;
	size_t n;
	bool ok = true;

	(void) req;
	orch_arena_init(&a, stack, sizeof(stack));
	orch_core_read_lock(core);
	v = orch_state_engines_sorted(&core->state, &n);
	if (n > 0) {
		Orch__Engine *ms = orch_arena_alloc(&a, n * sizeof(*ms));
		Orch__Engine **pp = orch_arena_alloc(&a, n * sizeof(*pp));

		ok = v != NULL && ms != NULL && pp != NULL;
		for (size_t i = 0; ok && i < n; i++) {
			ok = orch_pb_engine(&a, v[i], &ms[i]);
			pp[i] = &ms[i];
		}
		rep.engines = pp;
		rep.n_engines = n;
	}
	/* The engines are copies: packed or rendered outside the lock. */
	orch_core_read_unlock(core);
	if (ok)
		orch_call_reply(call, &rep.base);
	else
		orch_svc_fail_nomem(call);
	orch_arena_fini(&a);
}

void
orch_svc_get_engine(void *arg, orch_call *call, const ProtobufCMessage *msg)
{
	orch_service *svc = arg;
	orch_core *core = svc->core;
	const Orch__GetEngineRequest *req = (const void *) msg;
	Orch__GetEngineReply rep = ORCH__GET_ENGINE_REPLY__INIT;
	Orch__Engine em;
	char stack[ORCH_PB_ARENA_STACK];
	orch_arena a;
	orch_engine *e;
	bool ok;

	if (req->container_id == NULL || req->container_id[0] == '\0') {
		orch_call_fail_field(
		    call, "container_id", "container_id: required");
		return;
	}
	orch_arena_init(&a, stack, sizeof(stack));
	orch_core_read_lock(core);
	e = orch_state_engine_get(&core->state, req->container_id);
	if (e == NULL) {
		orch_call_fail(call, ORCH_ENOTFOUND, "engine %s not found",
		    req->container_id);
	} else {
		orch_stream **v = orch_arena_alloc(
		    &a, ((size_t) e->n_active + 1) * sizeof(*v));
		size_t k = 0;

		ok = v != NULL && orch_pb_engine(&a, e, &em);
		if (ok) {
			for (orch_list *n = e->active.next; n != &e->active;
			     n = n->next)
				v[k++] = ORCH_CONTAINER_OF(
				    n, orch_stream, eng_active);
			rep.engine = &em;
			rep.streams = orch_pb_streams(&a, v, k);
			rep.n_streams = k;
			ok = rep.streams != NULL;
		}
		if (ok)
			orch_call_reply(call, &rep.base);
		else
			orch_svc_fail_nomem(call);
	}
	orch_core_read_unlock(core);
	orch_arena_fini(&a);
}

void
orch_svc_select_engine(void *arg, orch_call *call, const ProtobufCMessage *msg)
{
	orch_service *svc = arg;
	orch_core *core = svc->core;
	const Orch__SelectEngineRequest *req = (const void *) msg;
	Orch__SelectEngineReply rep = ORCH__SELECT_ENGINE_REPLY__INIT;
	Orch__Engine em;
	char stack[ORCH_PB_ARENA_STACK];
	char rid[ORCH_RESERVATION_ID_LEN + 1];
	orch_arena a;
	orch_engine *e = NULL;
	orch_err rv;

	orch_arena_init(&a, stack, sizeof(stack));
	orch_core_lock(core);
	rv = orch_core_select_locked(
	    core, req->has_reserve && req->reserve, &e, rid);
	if (rv == ORCH_ENOTFOUND) {
		Orch__ErrorDetail d = ORCH__ERROR_DETAIL__INIT;
		Orch__ProvisioningRefusal r;
		orch_refusal why;

		if (!orch_core_can_provision_locked(core, &why)) {
			orch_pb_refusal(&why, &r);
			d.refusal = &r;
			orch_call_fail_detail(call,
			    orch_refusal_status(why.code), &d,
			    "no free engine and provisioning is blocked: %s",
			    orch_refusal_reason(why.code));
		} else {
			/* Not a refusal: the caller should provision. */
			orch__provisioning_refusal__init(&r);
			r.error = "no_free_engine";
			r.code = "provision_required";
			r.message =
			    "No engine is free; provision one with "
			    "ProvisionEngine (POST /provision/acestream).";
			r.can_retry = true;
			r.should_wait = false;
			d.refusal = &r;
			orch_call_fail_detail(call, ORCH_EPRECOND, &d,
			    "no free engine: provision one");
		}
	} else if (rv != ORCH_OK || !orch_pb_engine(&a, e, &em)) {
		orch_svc_fail_nomem(call);
	} else {
		rep.engine = &em;
		rep.reservation_id = rid[0] != '\0' ? rid : NULL;
		orch_call_reply(call, &rep.base);
	}
	orch_core_unlock(core);
	orch_arena_fini(&a);
}
