#include "src/cmd/stub_service.h"


#include "proto/orchestrator.pb-c.h"
#include "src/core/config.h"

static void
h_ping(void *arg, orch_rpc_call *call, const ProtobufCMessage *req)
{
	Orch__PingReply rep = ORCH__PING_REPLY__INIT;

	(void) arg;
	(void) req;
	rep.status = "ok";
	orch_rpc_reply(call, &rep.base);
}

static void
h_list_engines(void *arg, orch_rpc_call *call, const ProtobufCMessage *req)
{
	Orch__EngineList rep = ORCH__ENGINE_LIST__INIT;

	(void) arg;
	(void) req;
	orch_rpc_reply(call, &rep.base);
}

static void
h_list_streams(void *arg, orch_rpc_call *call, const ProtobufCMessage *req)
{
	Orch__StreamList rep = ORCH__STREAM_LIST__INIT;

	(void) arg;
	(void) req;
	orch_rpc_reply(call, &rep.base);
}

static void
h_get_engine(void *arg, orch_rpc_call *call, const ProtobufCMessage *msg)
{
	const Orch__GetEngineRequest *req = (const void *) msg;

	(void) arg;
	if (req->container_id == NULL || req->container_id[0] == '\0') {
		orch_rpc_fail_field(call, "container_id",
		    "container_id: required");
		return;
	}
	orch_rpc_fail(call, ORCH_ENOTFOUND, "engine %s not found",
	    req->container_id);
}

static void
h_get_status(void *arg, orch_rpc_call *call, const ProtobufCMessage *req)
{
	Orch__OrchestratorStatus rep = ORCH__ORCHESTRATOR_STATUS__INIT;
	Orch__EngineCounts engines = ORCH__ENGINE_COUNTS__INIT;
	Orch__StreamCounts streams = ORCH__STREAM_COUNTS__INIT;
	Orch__Capacity cap = ORCH__CAPACITY__INIT;
	Orch__VpnSummary vpn = ORCH__VPN_SUMMARY__INIT;
	Orch__ProvisioningState prov = ORCH__PROVISIONING_STATE__INIT;
	Orch__ConfigSummary cfg = ORCH__CONFIG_SUMMARY__INIT;
	const orch_config *config = arg;

	(void) req;
	/* No engines exist in the stub, so fewer than MIN_REPLICAS are
	 * healthy: degraded, as CONTRACT.md's formula says. */
	rep.status = config->min_replicas > 0 ? "degraded" : "healthy";
	cap.max_replicas = config->max_replicas;
	cap.min_replicas = config->min_replicas;
	vpn.health = "unknown";
	prov.can_provision = 0;
	prov.circuit_breaker_state = "closed";
	prov.blocked_reason = "Docker unavailable";
	cfg.auto_delete = config->auto_delete;
	cfg.grace_period_s = config->engine_grace_period_s;
	cfg.target_image = config->target_image;
	rep.engines = &engines;
	rep.streams = &streams;
	rep.capacity = &cap;
	rep.vpn = &vpn;
	rep.provisioning = &prov;
	rep.config = &cfg;
	orch_rpc_reply(call, &rep.base);
}

static void
h_get_vpn_status(void *arg, orch_rpc_call *call, const ProtobufCMessage *req)
{
	const orch_config *config = arg;
	Orch__VpnStatus rep = ORCH__VPN_STATUS__INIT;

	(void) req;
	rep.enabled = config->gluetun_container_name != NULL;
	rep.status = rep.enabled ? "not_found" : "disabled";
	rep.container = config->gluetun_container_name;
	rep.health = "unknown";
	orch_rpc_reply(call, &rep.base);
}

static const orch_rpc_method stub_methods[] = {
	{"Ping", h_ping, ORCH_RPC_FAST},
	{"ListEngines", h_list_engines, ORCH_RPC_FAST},
	{"GetEngine", h_get_engine, ORCH_RPC_FAST},
	{"ListStreams", h_list_streams, ORCH_RPC_FAST},
	{"GetStatus", h_get_status, ORCH_RPC_FAST},
	{"GetVpnStatus", h_get_vpn_status, ORCH_RPC_FAST},
};

const orch_rpc_method *
orch_stub_methods(size_t *n)
{
	*n = sizeof(stub_methods) / sizeof(stub_methods[0]);
	return stub_methods;
}
