/*
 * ProvisionEngine, ProvisionContainer, Scale, CollectGarbage,
 * DeleteContainer, InspectContainer, FindByLabel: the methods that need
 * the runtime (they run on the RPC workers: PROVISION and BLOCKING lanes).
 * With no manager they answer UNAVAILABLE.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/arena.h"
#include "src/core/core.h"
#include "src/engines/manager.h"
#include "src/service/handlers.h"
#include "src/service/pb.h"
#include "src/service/service.h"

#define GC_MAX 64

/* The manager, or NULL after answering UNAVAILABLE. */
static orch_mgr *
runtime(const orch_service *svc, orch_call *call)
{
	if (svc->mgr == NULL)
		orch_call_fail(call, ORCH_EUNAVAIL, "no Docker runtime");
	return svc->mgr;
}

static void
fail_refusal(orch_call *call, const orch_refusal *r)
{
	Orch__ErrorDetail d = ORCH__ERROR_DETAIL__INIT;
	Orch__ProvisioningRefusal m;

	orch_pb_refusal(r, &m);
	d.refusal = &m;
	orch_call_fail_detail(call, orch_refusal_status(r->code), &d,
	    "provisioning blocked: %s", orch_refusal_reason(r->code));
}

/* Map entries (key/value strings) into orch_label views. */
#define MAP_TO_LABELS(entries, n, out)                                        \
	do {                                                                  \
		for (size_t i_ = 0; i_ < (n); i_++) {                         \
			(out)[i_].key = (entries)[i_]->key;                   \
			(out)[i_].value = (entries)[i_]->value;               \
		}                                                             \
	} while (0)

static bool
check_map(orch_call *call, const char *field, const orch_label *l, size_t n,
    bool env)
{
	for (size_t i = 0; i < n; i++) {
		if (l[i].key == NULL || l[i].key[0] == '\0' ||
		    (env && strchr(l[i].key, '=') != NULL) ||
		    l[i].value == NULL) {
			orch_call_fail_field(call, field,
			    "%s: keys must be non-empty%s", field,
			    env ? " and contain no '='" : "");
			return false;
		}
	}
	return true;
}

/* When a provision stops being worth doing: PROVISION_DEADLINE_S after
 * the request arrived, or the caller's own deadline if sooner (Acexy
 * gives up after 3 s and asks again: an engine made later would be a
 * duplicate). */
static int64_t
provision_deadline(const orch_service *svc, const orch_call *call)
{
	int64_t d = call->received_ms +
	            (int64_t) svc->core->cfg->provision_deadline_s * 1000;

	if (call->deadline_ms != 0 && call->deadline_ms < d)
		d = call->deadline_ms;
	return d;
}

void
orch_svc_provision_engine(
    void *arg, orch_call *call, const ProtobufCMessage *msg)
{
	orch_service *svc = arg;
	const Orch__ProvisionEngineRequest *req = (const void *) msg;
	Orch__ProvisionResult rep = ORCH__PROVISION_RESULT__INIT;
	orch_mgr *m = runtime(svc, call);
	orch_label *labels = NULL, *env = NULL;
	orch_engine_request er;
	orch_provision_result res;
	orch_refusal refusal;
	orch_diag diag;
	orch_err rv;

	if (m == NULL)
		return;
	if (req->has_host_port &&
	    (req->host_port < 1 || req->host_port > 65535)) {
		orch_call_fail_field(call, "host_port",
		    "host_port: expected a port from 1 to 65535");
		return;
	}
	if (req->image != NULL && req->image[0] == '\0') {
		orch_call_fail_field(
		    call, "image", "image: must not be empty when given");
		return;
	}
	labels = calloc(req->n_labels + 1, sizeof(*labels));
	env = calloc(req->n_env + 1, sizeof(*env));
	if (labels == NULL || env == NULL) {
		orch_call_fail(call, ORCH_EINTERNAL, "out of memory");
		goto out;
	}
	MAP_TO_LABELS(req->labels, req->n_labels, labels);
	MAP_TO_LABELS(req->env, req->n_env, env);
	if (!check_map(call, "labels", labels, req->n_labels, false) ||
	    !check_map(call, "env", env, req->n_env, true))
		goto out;
	er.labels = labels;
	er.n_labels = req->n_labels;
	er.env = env;
	er.n_env = req->n_env;
	er.image = req->image;
	er.deadline_ms = provision_deadline(svc, call);
	rv = orch_mgr_provision(m, &er,
	    req->has_host_port ? req->host_port : 0, &res, &refusal, &diag);
	if (rv == ORCH_OK) {
		rep.container_id = res.container_id;
		rep.container_name = res.container_name;
		rep.host_http_port = res.host_http_port;
		rep.container_http_port = res.container_http_port;
		rep.container_https_port = res.container_https_port;
		orch_call_reply(call, &rep.base);
	} else if (refusal.code != ORCH_REFUSE_NONE) {
		fail_refusal(call, &refusal);
	} else if (rv == ORCH_EEXIST) {
		orch_call_fail_field(
		    call, "host_port", "host_port: %s", diag.msg);
	} else if (rv == ORCH_ETIMEDOUT) {
		orch_call_fail(call, ORCH_ETIMEDOUT, "%s", diag.msg);
	} else if (rv == ORCH_EINVAL) {
		orch_call_fail_field(call,
		    diag.field[0] != '\0' ? diag.field : "labels", "%s",
		    diag.msg);
	} else {
		orch_call_fail(call, ORCH_EINTERNAL,
		    "Failed to provision engine: %s", diag.msg);
	}
out:
	free(labels);
	free(env);
}

/* "<port>/tcp" -> port, or 0. */
static int
parse_port_key(const char *k)
{
	char *end;
	long p = strtol(k, &end, 10);

	if (end == k || (strcmp(end, "/tcp") != 0 && *end != '\0') || p < 1 ||
	    p > 65535)
		return 0;
	return (int) p;
}

void
orch_svc_provision_container(
    void *arg, orch_call *call, const ProtobufCMessage *msg)
{
	orch_service *svc = arg;
	const Orch__ProvisionContainerRequest *req = (const void *) msg;
	Orch__ProvisionContainerReply rep =
	    ORCH__PROVISION_CONTAINER_REPLY__INIT;
	orch_mgr *m = runtime(svc, call);
	orch_container_request cr;
	orch_container_result res;
	orch_port_publish *pub = NULL;
	orch_label *env = NULL, *labels = NULL;
	orch_refusal refusal;
	orch_diag diag;
	orch_err rv;

	if (m == NULL)
		return;
	if (req->image == NULL || req->image[0] == '\0') {
		orch_call_fail_field(call, "image", "image: required");
		return;
	}
	if (req->name_prefix != NULL &&
	    (req->name_prefix[0] == '\0' || strlen(req->name_prefix) > 64 ||
	        strspn(req->name_prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
	                                 "KLMNOPQRSTUVWXYZ0123456789_.-") !=
	            strlen(req->name_prefix))) {
		orch_call_fail_field(call, "name_prefix",
		    "name_prefix: 1 to 64 of [A-Za-z0-9_.-]");
		return;
	}
	pub = calloc(req->n_ports + 1, sizeof(*pub));
	env = calloc(req->n_env + 1, sizeof(*env));
	labels = calloc(req->n_labels + 1, sizeof(*labels));
	if (pub == NULL || env == NULL || labels == NULL) {
		orch_call_fail(call, ORCH_EINTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < req->n_ports; i++) {
		int cp = parse_port_key(req->ports[i]->key);

		if (cp == 0 || req->ports[i]->value < 0 ||
		    req->ports[i]->value > 65535) {
			orch_call_fail_field(call, "ports",
			    "ports: expected {\"<port>/tcp\": <host port>}");
			goto out;
		}
		pub[i].container_port = cp;
		pub[i].host_port = req->ports[i]->value;
	}
	for (size_t i = 0; i < req->n_env; i++) {
		const char *k = req->env[i]->key;

		if (k == NULL || k[0] == '\0' || strchr(k, '=') != NULL) {
			orch_call_fail_field(call, "env",
			    "env: keys must be non-empty and contain no '='");
			goto out;
		}
	}
	for (size_t i = 0; i < req->n_labels; i++) {
		const char *key = req->labels[i]->key;

		if (key == NULL || key[0] == '\0') {
			orch_call_fail_field(
			    call, "labels", "labels: keys must be non-empty");
			goto out;
		}
	}
	MAP_TO_LABELS(req->env, req->n_env, env);
	MAP_TO_LABELS(req->labels, req->n_labels, labels);
	memset(&cr, 0, sizeof(cr));
	cr.image = req->image;
	cr.name_prefix = req->name_prefix;
	cr.env = env;
	cr.n_env = req->n_env;
	cr.labels = labels;
	cr.n_labels = req->n_labels;
	cr.ports = pub;
	cr.n_ports = req->n_ports;
	rv = orch_mgr_provision_container(m, &cr, &res, &refusal, &diag);
	if (rv == ORCH_OK) {
		rep.container_id = res.container_id;
		rep.container_name = res.container_name;
		orch_call_reply(call, &rep.base);
	} else if (refusal.code != ORCH_REFUSE_NONE) {
		fail_refusal(call, &refusal);
	} else if (rv == ORCH_EINVAL) {
		orch_call_fail_diag(call, ORCH_EINVAL, &diag);
	} else {
		orch_call_fail(call,
		    rv == ORCH_EUNAVAIL ? ORCH_EUNAVAIL : ORCH_EINTERNAL,
		    "Failed to provision container: %s", diag.msg);
	}
out:
	free(pub);
	free(env);
	free(labels);
}

void
orch_svc_scale(void *arg, orch_call *call, const ProtobufCMessage *msg)
{
	orch_service *svc = arg;
	const Orch__ScaleRequest *req = (const void *) msg;
	Orch__ScaleReply rep = ORCH__SCALE_REPLY__INIT;
	orch_mgr *m = runtime(svc, call);
	orch_diag diag;
	int scaled_to = 0;
	orch_err rv;

	if (m == NULL)
		return;
	if (!req->has_n || req->n < 0) {
		orch_call_fail_field(call, "n", "n: expected an integer >= 0");
		return;
	}
	rv = orch_mgr_scale(m, req->n, &scaled_to, &diag);
	if (rv != ORCH_OK && diag.msg[0] != '\0')
		/* Engines started before the failure stay; the answer is
		 * still the target (the autoscaler keeps trying). */
		ORCH_WARN("scale to %d: %s", scaled_to, diag.msg);
	rep.scaled_to = scaled_to;
	orch_call_reply(call, &rep.base);
}

void
orch_svc_gc(void *arg, orch_call *call, const ProtobufCMessage *msg)
{
	orch_service *svc = arg;
	Orch__CollectGarbageReply rep = ORCH__COLLECT_GARBAGE_REPLY__INIT;
	orch_mgr *m = runtime(svc, call);
	char ids[GC_MAX][80];
	char *ptrs[GC_MAX];
	size_t n;

	(void) msg;
	if (m == NULL)
		return;
	n = orch_mgr_gc(m, ids, GC_MAX);
	for (size_t i = 0; i < n; i++)
		ptrs[i] = ids[i];
	rep.stopped = ptrs;
	rep.n_stopped = n;
	orch_call_reply(call, &rep.base);
}

void
orch_svc_delete(void *arg, orch_call *call, const ProtobufCMessage *msg)
{
	orch_service *svc = arg;
	const Orch__DeleteContainerRequest *req = (const void *) msg;
	Orch__DeleteContainerReply rep = ORCH__DELETE_CONTAINER_REPLY__INIT;
	orch_mgr *m = runtime(svc, call);
	char deleted[80];
	orch_diag diag;
	orch_err rv;

	if (m == NULL)
		return;
	if (req->id == NULL || req->id[0] == '\0') {
		orch_call_fail_field(call, "id", "id: required");
		return;
	}
	rv = orch_mgr_delete(m, req->id, deleted, sizeof(deleted), &diag);
	if (rv == ORCH_OK) {
		rep.deleted = deleted;
		orch_call_reply(call, &rep.base);
	} else {
		orch_call_fail(
		    call, rv, "container %s: %s", req->id, diag.msg);
	}
}

void
orch_svc_inspect(void *arg, orch_call *call, const ProtobufCMessage *msg)
{
	orch_service *svc = arg;
	const Orch__InspectContainerRequest *req = (const void *) msg;
	orch_mgr *m = runtime(svc, call);
	orch_rt_container c;
	orch_diag diag;
	Orch__ContainerInfo rep;
	char stack[ORCH_PB_ARENA_STACK];
	orch_arena a;
	orch_err rv;

	if (m == NULL)
		return;
	if (req->id == NULL || req->id[0] == '\0') {
		orch_call_fail_field(call, "id", "id: required");
		return;
	}
	rv = orch_mgr_inspect(m, req->id, &c, &diag);
	if (rv == ORCH_ENOTFOUND) {
		orch_call_fail(
		    call, ORCH_ENOTFOUND, "container %s not found", req->id);
	} else if (rv != ORCH_OK) {
		orch_call_fail(call, rv, "%s", diag.msg);
		return;
	} else {
		orch_arena_init(&a, stack, sizeof(stack));
		if (orch_pb_container(&a, &c, &rep))
			orch_call_reply(call, &rep.base);
		else
			orch_call_fail(call, ORCH_EINTERNAL, "out of memory");
		orch_arena_fini(&a);
	}
	if (rv == ORCH_OK)
		orch_rt_container_fini(&c);
}

void
orch_svc_find_by_label(void *arg, orch_call *call, const ProtobufCMessage *msg)
{
	orch_service *svc = arg;
	const Orch__FindByLabelRequest *req = (const void *) msg;
	Orch__ContainerInfoList rep = ORCH__CONTAINER_INFO_LIST__INIT;
	orch_mgr *m = runtime(svc, call);
	orch_rt_container *v = NULL;
	orch_diag diag;
	char stack[ORCH_PB_ARENA_STACK];
	orch_arena a;
	size_t n = 0;
	orch_err rv;

	if (m == NULL)
		return;
	if (req->key == NULL || req->key[0] == '\0' ||
	    strlen(req->key) > 256) {
		orch_call_fail_field(call, "key", "key: required");
		return;
	}
	if (req->value == NULL || strlen(req->value) > 512) {
		orch_call_fail_field(call, "value", "value: required");
		return;
	}
	rv = orch_mgr_find_by_label(m, req->key, req->value, &v, &n, &diag);
	if (rv != ORCH_OK) {
		orch_call_fail(call, rv, "%s", diag.msg);
		return;
	}
	orch_arena_init(&a, stack, sizeof(stack));
	{
		Orch__ContainerInfo *ms =
		    orch_arena_alloc(&a, (n + 1) * sizeof(*ms));
		Orch__ContainerInfo **pp =
		    orch_arena_alloc(&a, (n + 1) * sizeof(*pp));
		bool ok = ms != NULL && pp != NULL;

		for (size_t i = 0; ok && i < n; i++) {
			ok = orch_pb_container(&a, &v[i], &ms[i]);
			pp[i] = &ms[i];
		}
		rep.containers = pp;
		rep.n_containers = n;
		if (ok)
			orch_call_reply(call, &rep.base);
		else
			orch_call_fail(call, ORCH_EINTERNAL, "out of memory");
	}
	orch_arena_fini(&a);
	orch_rt_container_list_free(v, n);
}
