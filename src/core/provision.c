#include "src/core/provision.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/vpn.h"
#include "src/core/vpncfg.h"

static bool
in_pool(const orch_ports *p, int port)
{
	return port >= p->lo && port < p->lo + p->cap;
}

static void
release_if_pooled(orch_ports *p, int port)
{
	if (in_pool(p, port))
		(void) orch_ports_release(p, port);
}

static bool
probe(const orch_slot *slot, int port)
{
	return slot->probe == NULL || slot->probe(slot->probe_arg, port);
}

static int
cmp_int(const void *a, const void *b)
{
	int x = *(const int *) a, y = *(const int *) b;

	return (x > y) - (x < y);
}

static bool
number_used_locked(orch_core *core, int n)
{
	char name[ORCH_CORE_NAME_MAX];

	for (int i = 0; i < core->n_inflight; i++) {
		if (core->inflight[i] == n)
			return true;
	}
	if (core->n_taken > 0 &&
	    bsearch(&n, core->taken, core->n_taken, sizeof(int), cmp_int))
		return true;
	snprintf(
	    name, sizeof(name), "%s-%d", core->cfg->engine_name_prefix, n);
	return orch_state_engine_by_name(&core->state, name) != NULL;
}

/* The smallest number above `after` that no engine in state and no slot
 * in flight has. */
static int
next_number_locked(orch_core *core, int after)
{
	int n = after + 1;

	while (number_used_locked(core, n))
		n++;
	return n;
}

/* Replaces in-flight number old by n (old -1: adds n; n -1: drops old).
 * Beyond ORCH_CORE_INFLIGHT_MAX a number is not remembered: a clash then
 * costs one name-taken retry, nothing worse. */
static void
inflight_set_locked(orch_core *core, int old, int n)
{
	for (int i = 0; i < core->n_inflight; i++) {
		if (core->inflight[i] == old) {
			if (n >= 0)
				core->inflight[i] = n;
			else
				core->inflight[i] =
				    core->inflight[--core->n_inflight];
			return;
		}
	}
	if (n >= 0 && core->n_inflight < ORCH_CORE_INFLIGHT_MAX)
		core->inflight[core->n_inflight++] = n;
}

/* The HTTP port: the caller's, or the pool's next free one. */
static orch_err
reserve_http_locked(
    orch_core *core, int host_port, orch_slot *slot, orch_diag *diag)
{
	orch_ports *pool = &core->http_ports;
	bool pooled = in_pool(pool, host_port);

	if (host_port == 0) {
		if (orch_ports_alloc(pool, slot->probe, slot->probe_arg,
		        &slot->http_port) == ORCH_OK)
			return ORCH_OK;
		orch_diag_set(diag, "no free port in PORT_RANGE_HOST");
		return ORCH_EEXHAUSTED;
	}
	if (!pooled) {
		/* A port outside the range is not ours to hand out (1 would
		 * publish an engine on a privileged port). */
		orch_diag_field(diag, "host_port",
		    "host_port %d is outside PORT_RANGE_HOST (%d-%d)",
		    host_port, pool->lo, pool->lo + pool->cap - 1);
		return ORCH_EINVAL;
	}
	if (orch_ports_in_use(pool, host_port) || !probe(slot, host_port)) {
		orch_diag_field(
		    diag, "host_port", "host_port %d is in use", host_port);
		return ORCH_EEXIST;
	}
	(void) orch_ports_reserve(pool, host_port);
	slot->http_port = host_port;
	return ORCH_OK;
}

orch_err
orch_core_slot_reserve(orch_core *core, const orch_slot_opts *opts,
    orch_slot *slot, orch_refusal *refusal, orch_diag *diag)
{
	orch_err rv = ORCH_OK;

	memset(slot, 0, sizeof(*slot));
	slot->vpn = -1;
	slot->custom_image = opts->custom_image;
	slot->probe = opts->probe;
	slot->probe_arg = opts->probe_arg;
	refusal->code = ORCH_REFUSE_NONE;
	orch_diag_clear(diag);
	orch_core_lock(core);
	if (!orch_core_can_provision_locked(core, refusal)) {
		core->metrics.provision_engine_refused++;
		rv = orch_refusal_status(refusal->code);
		goto out;
	}
	if (!orch_breaker_try_acquire(&core->general, orch_core_now(core))) {
		orch_policy_refusal(ORCH_REFUSE_BREAKER, core->cfg, &core->env,
		    &core->general, orch_core_now(core), refusal);
		rv = ORCH_EPRECOND;
		goto out;
	}
	if (orch_vpn_enabled(core->cfg)) {
		/* Gluetun's ports, its forwarded port (vpn.h). */
		rv = orch_core_vpn_slot_reserve_locked(
		    core, opts, slot, refusal, diag);
		if (refusal->code != ORCH_REFUSE_NONE)
			core->metrics.provision_engine_refused++;
	} else {
		rv = reserve_http_locked(core, opts->host_port, slot, diag);
		if (rv == ORCH_OK &&
		    orch_ports_alloc(&core->https_ports, slot->probe,
		        slot->probe_arg, &slot->https_port) != ORCH_OK) {
			release_if_pooled(&core->http_ports, slot->http_port);
			orch_diag_set(diag, "no free port in ACE_HTTPS_RANGE");
			rv = ORCH_EEXHAUSTED;
		}
	}
	if (rv != ORCH_OK) {
		orch_breaker_release(&core->general);
		goto out;
	}
	/* Held by this slot, then by its engine until its first probe. */
	slot->trial = core->general.trial_in_flight;
	slot->number = next_number_locked(core, 0);
	inflight_set_locked(core, -1, slot->number);
	core->provisioning++;
	slot->held = true;
out:
	orch_core_unlock(core);
	if (rv != ORCH_OK) {
		slot->http_port = 0;
		slot->https_port = 0;
		slot->host_http_port = 0;
		slot->host_https_port = 0;
		slot->p2p_port = 0;
		slot->vpn = -1;
	}
	return rv;
}

void
orch_core_slot_renumber(orch_core *core, orch_slot *slot)
{
	int old = slot->number;

	orch_core_lock(core);
	slot->number = next_number_locked(core, old);
	inflight_set_locked(core, old, slot->number);
	orch_core_unlock(core);
}

orch_err
orch_core_slot_repick_port(orch_core *core, orch_slot *slot, orch_diag *diag)
{
	int port = 0;
	orch_err rv;

	orch_core_lock(core);
	/* The old port is still held while the pool searches, so the
	 * search cannot hand it out again. */
	rv = orch_ports_alloc(
	    &core->http_ports, slot->probe, slot->probe_arg, &port);
	if (rv == ORCH_OK) {
		release_if_pooled(&core->http_ports, slot->http_port);
		slot->http_port = port;
	}
	orch_core_unlock(core);
	if (rv != ORCH_OK) {
		orch_diag_set(diag, "no free port in PORT_RANGE_HOST");
		rv = ORCH_EEXHAUSTED;
	}
	return rv;
}

/* Gives back what the slot holds: its place among the provisions in
 * flight, its number and its ports. The one unwind path. */
static void
slot_unwind_locked(orch_core *core, orch_slot *slot, bool release_ports)
{
	core->provisioning--;
	inflight_set_locked(core, slot->number, -1);
	if (slot->vpn >= 0) {
		/* Its ports are the VPN's (or the HTTPS range's, which the
		 * VPN's release gives back too). */
		orch_core_vpn_slot_release_locked(core, slot, release_ports);
	} else if (release_ports) {
		release_if_pooled(&core->http_ports, slot->http_port);
		release_if_pooled(&core->https_ports, slot->https_port);
	}
	slot->held = false;
}

orch_err
orch_core_slot_commit(orch_core *core, orch_slot *slot,
    const orch_engine_spec *spec, double latency_s, orch_diag *diag)
{
	orch_engine *e = NULL;
	orch_err rv;

	if (!slot->held)
		return ORCH_EINVAL;
	orch_core_lock(core);
	rv = orch_core_engine_put_locked(core, spec, &e);
	/* On success the engine holds the ports now; otherwise they go back.
	 */
	slot_unwind_locked(core, slot, rv != ORCH_OK);
	if (rv == ORCH_OK) {
		core->metrics.provision_engine_ok++;
		orch_metrics_provision_latency(&core->metrics, latency_s);
		/* Not a breaker success yet: the first healthy probe is
		 * (control.h orch_core_apply_probe). */
		e->startup_pending = true;
		e->pending_since_us = orch_core_now(core);
		e->breaker_trial = slot->trial;
		core->env.docker_ok = true;
	} else {
		core->metrics.provision_engine_failed++;
		orch_breaker_release(&core->general);
	}
	orch_core_unlock(core);
	if (rv != ORCH_OK)
		orch_diag_set(
		    diag, "engine not recorded: %s", orch_strerror(rv));
	return rv;
}

void
orch_core_slot_abort(orch_core *core, orch_slot *slot,
    orch_slot_outcome outcome, orch_refusal *refusal)
{
	orch_refusal_code code = ORCH_REFUSE_NONE;

	if (refusal != NULL)
		refusal->code = ORCH_REFUSE_NONE;
	if (!slot->held)
		return;
	orch_core_lock(core);
	slot_unwind_locked(core, slot, true);
	switch (outcome) {
	case ORCH_SLOT_DOCKER_DOWN:
		core->metrics.provision_engine_refused++;
		orch_breaker_release(&core->general);
		core->env.docker_ok = false;
		code = ORCH_REFUSE_DOCKER;
		break;
	case ORCH_SLOT_IMAGE_MISSING:
		core->metrics.provision_engine_refused++;
		orch_breaker_release(&core->general);
		if (!slot->custom_image)
			core->env.image_ok = false;
		code = ORCH_REFUSE_IMAGE;
		break;
	case ORCH_SLOT_INVALID:
		core->metrics.provision_engine_failed++;
		orch_breaker_release(&core->general);
		break;
	case ORCH_SLOT_CANCELLED:
		orch_breaker_release(&core->general);
		break;
	case ORCH_SLOT_FAILED:
	default:
		core->metrics.provision_engine_failed++;
		orch_breaker_record_failure(
		    &core->general, orch_core_now(core));
		break;
	}
	if (code != ORCH_REFUSE_NONE && refusal != NULL)
		orch_policy_refusal(code, core->cfg, &core->env,
		    &core->general, orch_core_now(core), refusal);
	orch_core_unlock(core);
}

orch_err
orch_core_set_taken_names(orch_core *core, const char *const *names, size_t n)
{
	size_t plen = strlen(core->cfg->engine_name_prefix), k = 0;
	int *v = calloc(n + 1, sizeof(*v));

	if (v == NULL)
		return ORCH_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *s = names[i];
		char *end;
		long num;

		if (s == NULL ||
		    strncmp(s, core->cfg->engine_name_prefix, plen) != 0 ||
		    s[plen] != '-')
			continue;
		num = strtol(s + plen + 1, &end, 10);
		if (*end == '\0' && end != s + plen + 1 && num > 0 &&
		    num <= 1000000)
			v[k++] = (int) num;
	}
	qsort(v, k, sizeof(*v), cmp_int);
	orch_core_lock(core);
	free(core->taken);
	core->taken = v;
	core->n_taken = k;
	orch_core_unlock(core);
	return ORCH_OK;
}
