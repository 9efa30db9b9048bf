/* Ping, GetStatus, GetVpnStatus, GetHealth, ResetCircuitBreaker,
 * GetMetrics: what the orchestrator says about itself. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/arena.h"
#include "src/base/buf.h"
#include "src/base/version.h"
#include "src/core/core.h"
#include "src/core/vpn.h"
#include "src/core/vpncfg.h"
#include "src/service/handlers.h"
#include "src/service/pb.h"
#include "src/service/service.h"

void
orch_svc_ping(void *arg, orch_call *call, const ProtobufCMessage *req)
{
	orch_service *svc = arg;
	Orch__PingReply rep = ORCH__PING_REPLY__INIT;

	(void) req;
	rep.status = "ok";
	rep.version = (char *) orch_version();
	rep.revision =
	    (char *) (svc != NULL && svc->revision != NULL ? svc->revision
	                                                   : "unknown");
	rep.build = (char *) orch_build_mode();
	orch_call_reply(call, &rep.base);
}

/* Every Gluetun as VpnInfo, from a (the handler's arena). NULL with
 * *n 0 without VPN; NULL with *n 1 when out of memory. */
static Orch__VpnInfo **
vpn_infos(orch_arena *a, const orch_core *core, size_t *n)
{
	size_t k = orch_core_vpn_count(core);
	Orch__VpnInfo **pp;
	Orch__VpnInfo *m;
	bool ok = true;

	*n = k;
	if (k == 0)
		return NULL;
	pp = orch_arena_alloc(a, k * sizeof(*pp));
	m = orch_arena_alloc(a, k * sizeof(*m));
	if (pp == NULL || m == NULL)
		return NULL;
	for (size_t i = 0; i < k; i++) {
		const orch_vpn *v = orch_core_vpn_at_locked(core, i);

		orch__vpn_info__init(&m[i]);
		/* Copies of what the VPN monitor rewrites: the reply is
		 * rendered after the lock. */
		m[i].name = v->cfg->name;
		m[i].status = orch_arena_strdup(a, v->status);
		m[i].health = orch_arena_strdup(a, v->health);
		m[i].connected = v->connected;
		m[i].has_forwarded_port =
		    v->connected && v->forwarded_port > 0;
		m[i].forwarded_port = v->forwarded_port;
		m[i].engines = v->engines;
		m[i].last_check_at = orch_pb_ts(a, v->last_check_us, &ok);
		m[i].control = (char *) orch_vpn_control_name(v->control);
		m[i].error = v->error[0] != '\0'
		                 ? orch_arena_strdup(a, v->error)
		                 : NULL;
		m[i].ports_total = (int32_t) v->n_pool;
		m[i].ports_free = orch_core_vpn_free_ports_locked(core, i);
		ok = ok && m[i].status != NULL && m[i].health != NULL &&
		     (v->error[0] == '\0' || m[i].error != NULL);
		pp[i] = &m[i];
	}
	return ok ? pp : NULL;
}

void
orch_svc_get_status(void *arg, orch_call *call, const ProtobufCMessage *req)
{
	orch_service *svc = arg;
	orch_core *core = svc->core;
	const orch_config *cfg = core->cfg;
	Orch__OrchestratorStatus rep = ORCH__ORCHESTRATOR_STATUS__INIT;
	Orch__EngineCounts engines = ORCH__ENGINE_COUNTS__INIT;
	Orch__StreamCounts streams = ORCH__STREAM_COUNTS__INIT;
	Orch__Capacity cap = ORCH__CAPACITY__INIT;
	Orch__VpnSummary vpn = ORCH__VPN_SUMMARY__INIT;
	Orch__ProvisioningState prov = ORCH__PROVISIONING_STATE__INIT;
	Orch__ConfigSummary cs = ORCH__CONFIG_SUMMARY__INIT;
	Orch__ProvisioningRefusal refusal;
	Orch__Timestamp last_failure = ORCH__TIMESTAMP__INIT;
	orch_refusal why;
	const orch_state_counts *c;
	bool allowed;
	int64_t now;
	char stack[ORCH_PB_ARENA_STACK];
	orch_arena a;

	(void) req;
	orch_arena_init(&a, stack, sizeof(stack));
	orch_core_read_lock(core);
	now = orch_core_now(core);
	c = &core->state.counts;
	allowed = orch_core_can_provision_locked(core, &why);
	rep.status =
	    (char *) orch_policy_status(c, cfg, core->env.docker_ok, !allowed);
	engines.total = c->engines;
	engines.running = c->running;
	engines.healthy = c->healthy;
	engines.unhealthy = c->unhealthy;
	streams.active = c->streams_active;
	streams.total = c->streams_total;
	cap.total = c->engines;
	cap.used = c->used;
	cap.available = c->engines - c->used;
	cap.max_replicas = cfg->max_replicas;
	cap.min_replicas = cfg->min_replicas;
	vpn.enabled = orch_vpn_enabled(cfg);
	vpn.connected = vpn.enabled && core->env.vpn_connected;
	vpn.health = vpn.enabled ? orch_arena_strdup(&a, core->env.vpn_health)
	                         : "unknown";
	vpn.container = vpn.enabled ? cfg->vpns[0].name : NULL;
	vpn.has_forwarded_port =
	    vpn.enabled && core->env.vpn_forwarded_port != 0;
	vpn.forwarded_port = core->env.vpn_forwarded_port;
	vpn.vpns = vpn_infos(&a, core, &vpn.n_vpns);
	prov.can_provision = allowed;
	prov.circuit_breaker_state = (char *) orch_breaker_state_name(
	    orch_breaker_state_at(&core->general, now));
	if (core->general.last_failure_us != 0) {
		last_failure.unix_micros = core->general.last_failure_us;
		prov.last_failure = &last_failure;
	}
	if (!allowed) {
		orch_pb_refusal(&why, &refusal);
		prov.blocked_reason = (char *) orch_refusal_reason(why.code);
		prov.blocked_reason_details = &refusal;
	}
	cs.auto_delete = cfg->auto_delete;
	cs.grace_period_s = cfg->engine_grace_period_s;
	cs.target_image = cfg->target_image;
	rep.engines = &engines;
	rep.streams = &streams;
	rep.capacity = &cap;
	rep.vpn = &vpn;
	rep.provisioning = &prov;
	rep.config = &cs;
	rep.version = (char *) orch_version();
	/* Every string is constant, configuration or a copy: rendered
	 * outside the lock. */
	orch_core_read_unlock(core);
	if ((vpn.n_vpns > 0 && vpn.vpns == NULL) || vpn.health == NULL)
		orch_svc_fail_nomem(call);
	else
		orch_call_reply(call, &rep.base);
	orch_arena_fini(&a);
}

void
orch_svc_get_vpn_status(
    void *arg, orch_call *call, const ProtobufCMessage *req)
{
	orch_service *svc = arg;
	orch_core *core = svc->core;
	const orch_config *cfg = core->cfg;
	Orch__VpnStatus rep = ORCH__VPN_STATUS__INIT;
	char stack[ORCH_PB_ARENA_STACK];
	orch_arena a;

	(void) req;
	orch_arena_init(&a, stack, sizeof(stack));
	bool ok = true;

	orch_core_read_lock(core);
	rep.enabled = orch_vpn_enabled(cfg);
	if (!rep.enabled) {
		rep.status = "disabled";
		rep.health = "unknown";
	} else {
		/* The contract's single-VPN shape is the first Gluetun's. */
		const orch_vpn *v = orch_core_vpn_at_locked(core, 0);

		rep.container = v->cfg->name;
		rep.status = orch_arena_strdup(&a, v->status);
		rep.health = orch_arena_strdup(&a, v->health);
		rep.connected = v->connected;
		rep.has_forwarded_port = v->connected && v->forwarded_port > 0;
		rep.forwarded_port = v->forwarded_port;
		rep.last_check_at = orch_pb_ts(&a, v->last_check_us, &ok);
		rep.error = v->error[0] != '\0'
		                ? orch_arena_strdup(&a, v->error)
		                : NULL;
		rep.vpns = vpn_infos(&a, core, &rep.n_vpns);
		ok = ok && rep.status != NULL && rep.health != NULL &&
		     (v->error[0] == '\0' || rep.error != NULL);
	}
	/* Copies (vpn_infos too): rendered outside the lock. */
	orch_core_read_unlock(core);
	if (!ok || (rep.n_vpns > 0 && rep.vpns == NULL))
		orch_svc_fail_nomem(call);
	else
		orch_call_reply(call, &rep.base);
	orch_arena_fini(&a);
}

void
orch_svc_get_health(void *arg, orch_call *call, const ProtobufCMessage *req)
{
	orch_service *svc = arg;
	orch_core *core = svc->core;
	Orch__HealthSummary rep = ORCH__HEALTH_SUMMARY__INIT;
	Orch__CircuitBreakers cbs = ORCH__CIRCUIT_BREAKERS__INIT;
	Orch__Breaker g, r;
	Orch__Timestamp t[4];
	const orch_state_counts *c;
	int64_t now;

	(void) req;
	orch_core_read_lock(core);
	now = orch_core_now(core);
	c = &core->state.counts;
	rep.total_engines = c->engines;
	rep.healthy_engines = c->healthy;
	rep.unhealthy_engines = c->unhealthy;
	rep.marked_for_replacement = c->marked;
	rep.minimum_required = core->cfg->min_replicas;
	rep.health_check_interval = core->cfg->health_check_interval_s;
	orch_pb_breaker(&core->general, now, &g, &t[0], &t[1]);
	orch_pb_breaker(&core->replacement, now, &r, &t[2], &t[3]);
	cbs.general = &g;
	cbs.replacement = &r;
	rep.circuit_breakers = &cbs;
	orch_core_read_unlock(core); /* numbers and constants only */
	orch_call_reply(call, &rep.base);
}

void
orch_svc_reset_breaker(void *arg, orch_call *call, const ProtobufCMessage *msg)
{
	orch_service *svc = arg;
	orch_core *core = svc->core;
	const Orch__ResetCircuitBreakerRequest *req = (const void *) msg;
	Orch__MessageReply rep = ORCH__MESSAGE_REPLY__INIT;
	const char *which = req->operation_type;
	char text[96];
	orch_err rv;

	/* Absent means both; empty is a bad name, not "both". */
	orch_core_lock(core);
	rv = orch_core_reset_breaker_locked(core, which);
	orch_core_unlock(core);
	if (rv != ORCH_OK) {
		orch_call_fail_field(call, "operation_type",
		    "operation_type: expected \"general\" or \"replacement\"");
		return;
	}
	if (which != NULL)
		snprintf(
		    text, sizeof(text), "Circuit breaker '%s' reset", which);
	else
		snprintf(text, sizeof(text), "All circuit breakers reset");
	rep.message = text;
	orch_call_reply(call, &rep.base);
}

void
orch_svc_get_metrics(void *arg, orch_call *call, const ProtobufCMessage *req)
{
	orch_service *svc = arg;
	orch_core *core = svc->core;
	Orch__MetricsReply rep = ORCH__METRICS_REPLY__INIT;
	orch_buf text = ORCH_BUF_INIT;

	(void) req;
	orch_core_read_lock(core);
	orch_metrics_render_locked(core, &text);
	orch_core_read_unlock(core);
	/* The store's counters are its own (no core lock, no disk). */
	if (svc->store != NULL)
		orch_store_metrics_render(svc->store, &text);
	rep.text = (char *) orch_buf_cstr(&text);
	if (rep.text == NULL)
		orch_svc_fail_nomem(call);
	else
		orch_call_reply(call, &rep.base);
	orch_buf_fini(&text);
}
