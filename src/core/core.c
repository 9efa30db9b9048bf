#include "src/core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "src/core/restore.h"
#include "src/core/vpn.h"
#include "src/core/vpncfg.h"

#define US_PER_S 1000000LL

orch_err
orch_core_init(orch_core *core, const orch_config *cfg, orch_clock clock,
    const orch_core_opts *opts)
{
	orch_state_opts so;
	orch_err rv;

	memset(core, 0, sizeof(*core));
	so.max_streams_per_engine = cfg->max_streams_per_engine;
	so.stats_max = cfg->stats_history_max;
	so.ended_max = (opts != NULL && opts->ended_max > 0)
	                   ? opts->ended_max
	                   : ORCH_CORE_ENDED_MAX;
	so.stats_ended_max = cfg->stats_ended_max;
	so.engine_host = cfg->engine_host;
	so.crash_window_us = (int64_t) cfg->crash_loop_window_s * US_PER_S;
	rv = orch_state_init(&core->state, &so);
	if (rv != ORCH_OK)
		return rv;
	rv = orch_ports_init(&core->http_ports, cfg->port_range_host.lo,
	    cfg->port_range_host.hi);
	if (rv == ORCH_OK) {
		rv = orch_ports_init(&core->https_ports,
		    cfg->ace_https_range.lo, cfg->ace_https_range.hi);
		if (rv != ORCH_OK)
			orch_ports_fini(&core->http_ports);
	}
	if (rv != ORCH_OK) {
		orch_state_fini(&core->state);
		return rv;
	}
	pthread_mutex_init(&core->mu, NULL);
	atomic_init(&core->generation, 1);
	atomic_init(&core->stable_until_us, INT64_MAX);
	core->cfg = cfg;
	core->clock = clock;
	orch_breaker_init(&core->general, cfg->cb_failure_threshold,
	    cfg->cb_recovery_timeout_s);
	orch_breaker_init(&core->replacement, cfg->cb_replacement_threshold,
	    cfg->cb_replacement_timeout_s);
	snprintf(core->env.vpn_status, sizeof(core->env.vpn_status), "%s",
	    orch_vpn_enabled(cfg) ? "unknown" : "disabled");
	snprintf(
	    core->env.vpn_health, sizeof(core->env.vpn_health), "unknown");
	rv = orch_core_vpn_init(core);
	if (rv != ORCH_OK) {
		pthread_mutex_destroy(&core->mu);
		orch_ports_fini(&core->http_ports);
		orch_ports_fini(&core->https_ports);
		orch_state_fini(&core->state);
		memset(core, 0, sizeof(*core));
	}
	return rv;
}

void
orch_core_fini(orch_core *core)
{
	if (core->cfg == NULL)
		return;
	orch_core_restore_drop_pending(core);
	orch_state_fini(&core->state);
	free(core->taken);
	orch_ports_fini(&core->http_ports);
	orch_ports_fini(&core->https_ports);
	orch_core_vpn_fini(core);
	pthread_mutex_destroy(&core->mu);
	memset(core, 0, sizeof(*core));
}

void
orch_core_lock(orch_core *core)
{
	pthread_mutex_lock(&core->mu);
	atomic_fetch_add(&core->generation, 1);
}

/* The next instant the clock alone changes a reply: the breakers'. */
static int64_t
stable_until_locked(const orch_core *core)
{
	int64_t now = orch_core_now(core);
	int64_t g = orch_breaker_next_change_us(&core->general, now);
	int64_t r = orch_breaker_next_change_us(&core->replacement, now);

	return g < r ? g : r;
}

void
orch_core_unlock(orch_core *core)
{
	atomic_store(&core->stable_until_us, stable_until_locked(core));
	pthread_mutex_unlock(&core->mu);
}

void
orch_core_read_lock(orch_core *core)
{
	pthread_mutex_lock(&core->mu);
}

void
orch_core_read_unlock(orch_core *core)
{
	pthread_mutex_unlock(&core->mu);
}

uint64_t
orch_core_generation(orch_core *core)
{
	int64_t until = atomic_load(&core->stable_until_us);

	if (until != INT64_MAX && orch_core_now(core) >= until) {
		/* The clock changed a reply: a change like any other (the
		 * unlock finds the next such instant). */
		orch_core_lock(core);
		orch_core_unlock(core);
	}
	return atomic_load(&core->generation);
}

/* The VPN's changes that are events: the tunnel up or down, another
 * forwarded port. */
static void
log_vpn_locked(orch_core *core, const orch_env *was, const orch_env *now)
{
	char a[16], b[16];
	orch_kv kv[2] = {{"from", a}, {"to", b}};

	if (core->cfg->gluetun_container_name == NULL)
		return;
	if (was->vpn_connected != now->vpn_connected)
		orch_core_log_locked(core,
		    now->vpn_connected ? ORCH_LOG_VPN_UP : ORCH_LOG_VPN_DOWN,
		    NULL, NULL, NULL, 0);
	if (was->vpn_forwarded_port != now->vpn_forwarded_port) {
		snprintf(a, sizeof(a), "%d", was->vpn_forwarded_port);
		snprintf(b, sizeof(b), "%d", now->vpn_forwarded_port);
		orch_core_log_locked(
		    core, ORCH_LOG_VPN_PORT, NULL, NULL, kv, 2);
	}
}

void
orch_core_set_env(orch_core *core, const orch_env *env)
{
	orch_env was;

	orch_core_lock(core);
	was = core->env;
	core->env = *env;
	log_vpn_locked(core, &was, env);
	orch_core_unlock(core);
}

void
orch_core_set_sink(orch_core *core, const orch_sink *sink)
{
	orch_core_lock(core);
	if (sink != NULL)
		core->sink = *sink;
	else
		memset(&core->sink, 0, sizeof(core->sink));
	core->state.sink = &core->sink;
	orch_core_unlock(core);
}

void
orch_core_log_locked(orch_core *core, orch_log_type type,
    const char *container_id, const char *stream_id, const orch_kv *data,
    size_t n)
{
	ORCH_SINK_CALL(core->state.sink, log, orch_core_now(core), type,
	    container_id, stream_id, data, n);
}

void
orch_core_log(orch_core *core, orch_log_type type, const char *container_id,
    const char *stream_id, const orch_kv *data, size_t n)
{
	orch_core_lock(core);
	orch_core_log_locked(core, type, container_id, stream_id, data, n);
	orch_core_unlock(core);
}

static const char *
breaker_name(const orch_core *core, const orch_breaker *b)
{
	return b == &core->general ? "general" : "replacement";
}

void
orch_core_breaker_note_locked(
    orch_core *core, const orch_breaker *b, const orch_breaker *before)
{
	if (b->state == before->state &&
	    b->failure_count == before->failure_count &&
	    b->opened_at_us == before->opened_at_us &&
	    b->last_failure_us == before->last_failure_us &&
	    b->last_success_us == before->last_success_us)
		return;
	ORCH_SINK_CALL(core->state.sink, breaker, breaker_name(core, b), b,
	    (int) before->state, orch_core_now(core));
}

static bool
in_pool(const orch_ports *p, int port)
{
	return port >= p->lo && port < p->lo + p->cap;
}

orch_err
orch_core_engine_put_locked(
    orch_core *core, const orch_engine_spec *spec, orch_engine **out)
{
	orch_engine *old =
	    orch_state_engine_get(&core->state, spec->container_id);
	/* With VPN the host ports are Gluetun's, kept in its pool (vpn.h);
	 * PORT_RANGE_HOST is not used. */
	bool host_pool = !orch_vpn_enabled(core->cfg);
	int old_http = old != NULL && host_pool ? old->host_http_port : 0;
	int old_https = old != NULL ? old->container_https_port : 0;
	orch_engine *e = NULL;
	orch_err rv;

	if (old != NULL)
		orch_core_vpn_engine_removed_locked(core, old);
	rv =
	    orch_state_engine_put(&core->state, spec, orch_core_now(core), &e);
	if (out != NULL)
		*out = e;
	if (rv != ORCH_OK) {
		if (old != NULL)
			orch_core_vpn_engine_added_locked(core, old);
		return rv;
	}
	orch_core_vpn_engine_added_locked(core, e);
	/* Re-reserving a port the engine already held is harmless (EEXIST
	 * ignored); a port it no longer holds goes back to its pool. */
	if (old_http != 0 && old_http != spec->host_http_port &&
	    in_pool(&core->http_ports, old_http))
		orch_ports_release(&core->http_ports, old_http);
	if (old_https != 0 && old_https != spec->container_https_port &&
	    in_pool(&core->https_ports, old_https))
		orch_ports_release(&core->https_ports, old_https);
	if (host_pool && in_pool(&core->http_ports, spec->host_http_port))
		(void) orch_ports_reserve(
		    &core->http_ports, spec->host_http_port);
	/* The HTTPS pool hands out the engine's HTTPS port whether or not
	 * it is published (ACE_MAP_HTTPS): the container port is the one
	 * allocated, in every mode. */
	if (in_pool(&core->https_ports, spec->container_https_port))
		(void) orch_ports_reserve(
		    &core->https_ports, spec->container_https_port);
	return ORCH_OK;
}

void
orch_core_engine_remove_locked(
    orch_core *core, orch_engine *e, const char *reason)
{
	orch_core_vpn_engine_removed_locked(core, e);
	if (e->managed) {
		if (!orch_vpn_enabled(core->cfg) &&
		    in_pool(&core->http_ports, e->host_http_port))
			orch_ports_release(
			    &core->http_ports, e->host_http_port);
		if (in_pool(&core->https_ports, e->container_https_port))
			orch_ports_release(
			    &core->https_ports, e->container_https_port);
	}
	/* Removed before its first probe decided the half-open trial
	 * (a DELETE, a die): neither outcome, the trial goes back. */
	if (e->breaker_trial)
		orch_breaker_release(&core->general);
	orch_state_engine_remove(&core->state, e, orch_core_now(core), reason);
}

bool
orch_core_can_provision_locked(orch_core *core, orch_refusal *out)
{
	orch_state_counts c = core->state.counts;

	c.engines += core->provisioning;
	return orch_policy_can_provision(&c, core->cfg, &core->env,
	    &core->general, orch_core_now(core), out);
}

/* A reservation id: 128 random bits in hex. getrandom() may fail only
 * before the kernel's pool is ready; the sequence number then keeps ids
 * unique within this process, which is all an id needs. */
static void
new_reservation_id(orch_core *core, char out[ORCH_RESERVATION_ID_LEN + 1])
{
	unsigned char r[16];
	uint64_t seq = ++core->reservation_seq;

	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t) sizeof(r)) {
		memset(r, 0, sizeof(r));
		memcpy(r, &seq, sizeof(seq));
	}
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

orch_err
orch_core_select_locked(orch_core *core, bool reserve, orch_engine **out,
    char reservation_id[ORCH_RESERVATION_ID_LEN + 1])
{
	int64_t now = orch_core_now(core);
	orch_engine *e = orch_state_select(&core->state, now);
	orch_err rv = ORCH_OK;

	*out = NULL;
	reservation_id[0] = '\0';
	if (e == NULL)
		return ORCH_ENOTFOUND;
	if (reserve) {
		int64_t exp =
		    now + (int64_t) core->cfg->reservation_ttl_s * US_PER_S;

		do {
			new_reservation_id(core, reservation_id);
			rv = orch_state_reserve(
			    &core->state, e, reservation_id, exp, NULL);
		} while (rv == ORCH_EEXIST);
		if (rv != ORCH_OK) {
			reservation_id[0] = '\0';
			return rv;
		}
	}
	*out = e;
	return ORCH_OK;
}

orch_err
orch_core_reset_breaker_locked(orch_core *core, const char *which)
{
	orch_breaker g = core->general, r = core->replacement;

	if (which == NULL) {
		orch_breaker_reset(&core->general);
		orch_breaker_reset(&core->replacement);
	} else if (strcmp(which, "general") == 0) {
		orch_breaker_reset(&core->general);
	} else if (strcmp(which, "replacement") == 0) {
		orch_breaker_reset(&core->replacement);
	} else {
		return ORCH_EINVAL;
	}
	orch_core_breaker_note_locked(core, &core->general, &g);
	orch_core_breaker_note_locked(core, &core->replacement, &r);
	return ORCH_OK;
}
