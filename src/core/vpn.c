#include "src/core/vpn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/vpncfg.h"

#define US_PER_S 1000000LL
#define PORT_WORDS (65536 / 64)

/* Gluetun's own listeners besides its control server: the HTTP proxy and
 * Shadowsocks. Never engine ports unless VPN_PORT_RANGE says so. */
static const int gluetun_own_ports[] = {8888, 8388};

/* A retired engine waiting to drain. */
struct orch_vpn_retiree {
	char id[ORCH_CORE_ID_MAX];
	int64_t deadline_us;
};

const char *
orch_vpn_control_name(orch_vpn_control c)
{
	switch (c) {
	case ORCH_VPN_CONTROL_OK:
		return "ok";
	case ORCH_VPN_CONTROL_AUTH:
		return "unauthorized";
	case ORCH_VPN_CONTROL_DOWN:
		return "unreachable";
	default:
		return "unknown";
	}
}

/* ---- ports ----------------------------------------------------------- */

static bool
port_used(const orch_vpn *v, int port)
{
	return (v->used[port / 64] >> (port % 64)) & 1;
}

static void
port_set(orch_vpn *v, int port, bool used)
{
	if (port <= 0 || port > 65535)
		return;
	if (used)
		v->used[port / 64] |= 1ULL << (port % 64);
	else
		v->used[port / 64] &= ~(1ULL << (port % 64));
}

/* The pool entry for container port (or, by_host, host port); NULL. */
static const orch_vpn_pub *
pool_find(const orch_vpn *v, int port, bool by_host)
{
	for (size_t i = 0; i < v->n_pool; i++) {
		if ((by_host ? v->pool[i].host_port : v->pool[i].port) == port)
			return &v->pool[i];
	}
	return NULL;
}

/* The next free pool port above the last one handed out, wrapping. */
static const orch_vpn_pub *
pool_alloc(orch_vpn *v)
{
	size_t start = 0;

	if (v->n_pool == 0)
		return NULL;
	while (start < v->n_pool && v->pool[start].port <= v->last_port)
		start++;
	for (size_t k = 0; k < v->n_pool; k++) {
		const orch_vpn_pub *p = &v->pool[(start + k) % v->n_pool];

		if (!port_used(v, p->port)) {
			port_set(v, p->port, true);
			v->last_port = p->port;
			return p;
		}
	}
	return NULL;
}

static int
free_ports(const orch_vpn *v)
{
	int n = 0;

	for (size_t i = 0; i < v->n_pool; i++)
		n += !port_used(v, v->pool[i].port);
	return n;
}

static bool
eligible(const orch_config *cfg, const orch_vpn *v, const orch_vpn_pub *p)
{
	if (p->port == cfg->gluetun_api_port || p->host_port <= 0)
		return false;
	if (v->cfg->ports.lo != 0)
		return p->port >= v->cfg->ports.lo &&
		       p->port <= v->cfg->ports.hi;
	for (size_t i = 0; i < sizeof(gluetun_own_ports) / sizeof(int); i++) {
		if (p->port == gluetun_own_ports[i])
			return false;
	}
	return true;
}

static int
cmp_pub(const void *a, const void *b)
{
	const orch_vpn_pub *x = a, *y = b;

	return x->port < y->port ? -1 : x->port > y->port;
}

/* The pool from what the container publishes now. Ports in use keep
 * their mark whether or not they are still published. */
static void
pool_rebuild(const orch_config *cfg, orch_vpn *v, const orch_vpn_report *r)
{
	orch_vpn_pub *np = calloc(r->n_pubs + 1, sizeof(*np));
	size_t n = 0;

	if (np == NULL)
		return; /* keep the old pool */
	for (size_t i = 0; i < r->n_pubs; i++) {
		if (eligible(cfg, v, &r->pubs[i])) {
			bool dup = false;

			for (size_t j = 0; j < n && !dup; j++)
				dup = np[j].port == r->pubs[i].port;
			if (!dup)
				np[n++] = r->pubs[i];
		}
	}
	qsort(np, n, sizeof(*np), cmp_pub);
	free(v->pool);
	v->pool = np;
	v->n_pool = n;
}

/* ---- set up ----------------------------------------------------------- */

orch_err
orch_core_vpn_init(orch_core *core)
{
	const orch_config *cfg = core->cfg;

	core->vpns = NULL;
	if (!orch_vpn_enabled(cfg))
		return ORCH_OK;
	core->vpns = calloc(cfg->n_vpns, sizeof(*core->vpns));
	if (core->vpns == NULL)
		return ORCH_ENOMEM;
	for (size_t i = 0; i < cfg->n_vpns; i++) {
		orch_vpn *v = &core->vpns[i];

		v->cfg = &cfg->vpns[i];
		snprintf(v->status, sizeof(v->status), "unknown");
		snprintf(v->health, sizeof(v->health), "unknown");
		v->used = calloc(PORT_WORDS, sizeof(*v->used));
		if (v->used == NULL) {
			orch_core_vpn_fini(core);
			return ORCH_ENOMEM;
		}
	}
	return ORCH_OK;
}

void
orch_core_vpn_fini(orch_core *core)
{
	for (size_t i = 0; core->vpns != NULL && i < core->cfg->n_vpns; i++) {
		free(core->vpns[i].pool);
		free(core->vpns[i].used);
	}
	free(core->vpns);
	core->vpns = NULL;
	free(core->retirees);
	core->retirees = NULL;
	core->n_retirees = core->cap_retirees = 0;
}

size_t
orch_core_vpn_count(const orch_core *core)
{
	return core->vpns != NULL ? core->cfg->n_vpns : 0;
}

const orch_vpn *
orch_core_vpn_at_locked(const orch_core *core, size_t i)
{
	return &core->vpns[i];
}

int
orch_core_vpn_free_ports_locked(const orch_core *core, size_t i)
{
	return free_ports(&core->vpns[i]);
}

/* ---- retirees --------------------------------------------------------- */

static struct orch_vpn_retiree *
retiree_find(orch_core *core, const char *id)
{
	for (size_t i = 0; i < core->n_retirees; i++) {
		if (strcmp(core->retirees[i].id, id) == 0)
			return &core->retirees[i];
	}
	return NULL;
}

static void
retiree_drop(orch_core *core, const char *id)
{
	struct orch_vpn_retiree *r = retiree_find(core, id);

	if (r != NULL)
		*r = core->retirees[--core->n_retirees];
}

/* Marks e and lists it to stop by deadline_us (an earlier deadline
 * already listed stays). */
static orch_err
retire_locked(orch_core *core, orch_engine *e, int64_t deadline_us)
{
	struct orch_vpn_retiree *r = retiree_find(core, e->container_id);

	if (r == NULL) {
		if (core->n_retirees == core->cap_retirees) {
			size_t cap =
			    core->cap_retirees ? 2 * core->cap_retirees : 16;
			void *nv = realloc(core->retirees, cap * sizeof(*r));

			if (nv == NULL)
				return ORCH_ENOMEM;
			core->retirees = nv;
			core->cap_retirees = cap;
		}
		r = &core->retirees[core->n_retirees++];
		snprintf(r->id, sizeof(r->id), "%s", e->container_id);
		r->deadline_us = deadline_us;
	} else if (deadline_us < r->deadline_us) {
		r->deadline_us = deadline_us;
	}
	if (!e->marked_for_replacement)
		orch_state_engine_set_marked(&core->state, e, true);
	return ORCH_OK;
}

orch_err
orch_core_vpn_retire(orch_core *core, const char *id, int drain_s)
{
	orch_engine *e;
	orch_err rv = ORCH_ENOTFOUND;

	orch_core_lock(core);
	e = orch_state_engine_get(&core->state, id);
	if (e != NULL && e->managed)
		rv = retire_locked(core, e,
		    orch_core_now(core) + (int64_t) drain_s * US_PER_S);
	orch_core_unlock(core);
	return rv;
}

size_t
orch_core_vpn_retire_due(
    orch_core *core, char (*ids)[ORCH_CORE_ID_MAX], size_t cap)
{
	size_t k = 0;
	int64_t now;

	orch_core_lock(core);
	now = orch_core_now(core);
	for (size_t i = 0; i < core->n_retirees && k < cap;) {
		struct orch_vpn_retiree *r = &core->retirees[i];
		orch_engine *e = orch_state_engine_get(&core->state, r->id);

		if (e == NULL) {
			*r = core->retirees[--core->n_retirees];
			continue;
		}
		if (orch_engine_load(e) == 0 || now >= r->deadline_us)
			snprintf(ids[k++], ORCH_CORE_ID_MAX, "%s", r->id);
		i++;
	}
	orch_core_unlock(core);
	return k;
}

/* ---- engines ---------------------------------------------------------- */

/* Ports of e that came from its VPN's pool: the HTTP one always, the
 * HTTPS one when Gluetun publishes it. */
static void
engine_ports(orch_vpn *v, const orch_engine *e, bool used)
{
	port_set(v, e->container_http_port, used);
	if (e->host_https_port != 0)
		port_set(v, e->container_https_port, used);
}

/* Keeps one forwarded engine on VPN idx: keep (the one just added), or
 * the one that has the current port. The others are retired. */
static void
one_forwarded_locked(orch_core *core, int idx, orch_engine *keep)
{
	orch_vpn *v = &core->vpns[idx];
	int64_t deadline =
	    orch_core_now(core) +
	    (int64_t) core->cfg->vpn_port_change_drain_s * US_PER_S;
	orch_engine *e;
	size_t cur = 0;

	/* An adopted engine that lacks the current port yields to one
	 * that has it. */
	if (v->forwarded_port != 0 && keep->p2p_port != v->forwarded_port) {
		while ((e = orch_state_engine_next(&core->state, &cur))) {
			if (e != keep && e->vpn_idx == idx && e->forwarded &&
			    e->p2p_port == v->forwarded_port) {
				keep = e;
				break;
			}
		}
		cur = 0;
	}
	while ((e = orch_state_engine_next(&core->state, &cur)) != NULL) {
		if (e == keep || e->vpn_idx != idx || !e->forwarded)
			continue;
		orch_state_engine_set_forwarded(&core->state, e, false);
		(void) retire_locked(core, e, deadline);
	}
}

void
orch_core_vpn_engine_added_locked(orch_core *core, orch_engine *e)
{
	int idx;
	orch_vpn *v;

	if (core->vpns == NULL || !e->managed)
		return;
	idx = orch_vpncfg_find(core->cfg, e->vpn);
	e->vpn_idx = idx;
	if (idx < 0)
		return; /* a VPN this configuration does not know */
	v = &core->vpns[idx];
	engine_ports(v, e, true);
	v->engines++;
	orch_state_engine_set_vpn_down(&core->state, e, !v->connected);
	if (e->forwarded)
		one_forwarded_locked(core, idx, e);
}

void
orch_core_vpn_engine_removed_locked(orch_core *core, orch_engine *e)
{
	orch_vpn *v;

	if (core->vpns == NULL || e->vpn_idx < 0)
		return;
	v = &core->vpns[e->vpn_idx];
	engine_ports(v, e, false);
	v->engines--;
	e->vpn_idx = -1;
	retiree_drop(core, e->container_id);
}

/* ---- slots ------------------------------------------------------------ */

static bool
has_port_owner(orch_core *core, int idx, int port)
{
	orch_engine *e;
	size_t cur = 0;

	while ((e = orch_state_engine_next(&core->state, &cur)) != NULL) {
		if (e->vpn_idx == idx && e->forwarded && e->p2p_port == port)
			return true;
	}
	return false;
}

/* The VPN for a new engine: the named one, or the connected one with the
 * fewest engines that has a free port (the host port host_port, when
 * given). -1 when none; *named_down when the named one is down. */
static int
pick_locked(orch_core *core, const orch_slot_opts *opts, bool *named_down)
{
	int best = -1, load = 0;

	*named_down = false;
	if (opts->vpn != NULL) {
		int i = orch_vpncfg_find(core->cfg, opts->vpn);

		if (i >= 0 && !core->vpns[i].connected) {
			*named_down = true;
			return -1;
		}
		return i;
	}
	for (size_t i = 0; i < core->cfg->n_vpns; i++) {
		orch_vpn *v = &core->vpns[i];
		int l = v->engines + v->inflight;

		if (!v->connected || free_ports(v) == 0)
			continue;
		if (opts->host_port != 0) {
			const orch_vpn_pub *p =
			    pool_find(v, opts->host_port, true);

			if (p == NULL || port_used(v, p->port))
				continue;
		}
		if (best < 0 || l < load) {
			best = (int) i;
			load = l;
		}
	}
	return best;
}

/* Free ports per VPN, for the "exhausted" message. */
static void
exhausted(orch_core *core, orch_diag *diag)
{
	char text[512];
	size_t n = 0;

	text[0] = '\0';
	for (size_t i = 0; i < core->cfg->n_vpns && n < sizeof(text); i++) {
		const orch_vpn *v = &core->vpns[i];

		n += (size_t) snprintf(text + n, sizeof(text) - n,
		    "%s%s: %d of %zu free%s", i ? ", " : "", v->cfg->name,
		    free_ports(v), v->n_pool, v->connected ? "" : " (down)");
	}
	orch_diag_set(diag,
	    "no free port among those Gluetun publishes (%s); publish more "
	    "ports on it or set VPN_PORT_RANGE (docs/VPN.md)",
	    text);
}

/* The HTTPS port: from the VPN's pool when Gluetun must publish it
 * (ACE_MAP_HTTPS), else from ACE_HTTPS_RANGE (it only has to be unique
 * inside Gluetun's namespace, so no host probe). */
static orch_err
reserve_https_locked(
    orch_core *core, orch_vpn *v, orch_slot *slot, orch_diag *diag)
{
	if (core->cfg->ace_map_https) {
		const orch_vpn_pub *p = pool_alloc(v);

		if (p == NULL) {
			orch_diag_set(diag,
			    "no second free port on Gluetun %s for HTTPS "
			    "(ACE_MAP_HTTPS)",
			    v->cfg->name);
			return ORCH_EEXHAUSTED;
		}
		slot->https_port = p->port;
		slot->host_https_port = p->host_port;
		return ORCH_OK;
	}
	if (orch_ports_alloc(&core->https_ports, NULL, NULL,
	        &slot->https_port) != ORCH_OK) {
		orch_diag_set(diag, "no free port in ACE_HTTPS_RANGE");
		return ORCH_EEXHAUSTED;
	}
	return ORCH_OK;
}

orch_err
orch_core_vpn_slot_reserve_locked(orch_core *core, const orch_slot_opts *opts,
    orch_slot *slot, orch_refusal *refusal, orch_diag *diag)
{
	const orch_vpn_pub *p;
	bool named_down;
	int idx = pick_locked(core, opts, &named_down);
	orch_vpn *v;
	orch_err rv;

	if (named_down) {
		orch_policy_refusal(ORCH_REFUSE_VPN, core->cfg, &core->env,
		    &core->general, orch_core_now(core), refusal);
		return orch_refusal_status(ORCH_REFUSE_VPN);
	}
	if (idx < 0 && opts->vpn != NULL) {
		orch_diag_set(diag, "no Gluetun named %s", opts->vpn);
		return ORCH_ENOTFOUND;
	}
	if (idx < 0 && opts->host_port != 0) {
		orch_diag_field(diag, "host_port",
		    "host_port %d is not a free port a connected Gluetun "
		    "publishes",
		    opts->host_port);
		return ORCH_EEXIST;
	}
	if (idx < 0) {
		exhausted(core, diag);
		return ORCH_EEXHAUSTED;
	}
	v = &core->vpns[idx];
	if (opts->host_port != 0) {
		p = pool_find(v, opts->host_port, true);
		if (p == NULL || port_used(v, p->port)) {
			orch_diag_field(diag, "host_port",
			    "host_port %d is not a free port Gluetun %s "
			    "publishes",
			    opts->host_port, v->cfg->name);
			return ORCH_EEXIST;
		}
		port_set(v, p->port, true);
	} else if ((p = pool_alloc(v)) == NULL) {
		exhausted(core, diag);
		return ORCH_EEXHAUSTED;
	}
	slot->http_port = p->port;
	slot->host_http_port = p->host_port;
	if ((rv = reserve_https_locked(core, v, slot, diag)) != ORCH_OK) {
		port_set(v, slot->http_port, false);
		slot->http_port = slot->host_http_port = 0;
		return rv;
	}
	slot->vpn = idx;
	v->inflight++;
	/* The VPN's forwarded port, when its owner does not have it. */
	if (v->forwarded_port > 0 && !v->fwd_inflight &&
	    (opts->forwarded ||
	        !has_port_owner(core, idx, v->forwarded_port))) {
		slot->p2p_port = v->forwarded_port;
		v->fwd_inflight = true;
	}
	return ORCH_OK;
}

void
orch_core_vpn_slot_release_locked(
    orch_core *core, orch_slot *slot, bool release_ports)
{
	orch_vpn *v;

	if (core->vpns == NULL || slot->vpn < 0)
		return;
	v = &core->vpns[slot->vpn];
	v->inflight--;
	if (slot->p2p_port != 0)
		v->fwd_inflight = false;
	if (!release_ports)
		return;
	port_set(v, slot->http_port, false);
	if (slot->host_https_port != 0)
		port_set(v, slot->https_port, false);
	else if (slot->https_port != 0)
		(void) orch_ports_release(
		    &core->https_ports, slot->https_port);
}

/* ---- reports ---------------------------------------------------------- */

static void
mark_engines_locked(orch_core *core, int idx, bool down)
{
	orch_engine *e;
	size_t cur = 0;

	while ((e = orch_state_engine_next(&core->state, &cur)) != NULL) {
		if (e->vpn_idx == idx)
			orch_state_engine_set_vpn_down(&core->state, e, down);
	}
}

/* env: the gate (any VPN connected), the configuration error, and the
 * first VPN's facts in the contract's single-VPN fields. */
static void
env_update_locked(orch_core *core)
{
	orch_env *env = &core->env;
	const orch_vpn *first = &core->vpns[0];
	bool any = false, auth = false;

	for (size_t i = 0; i < core->cfg->n_vpns; i++) {
		any |= core->vpns[i].connected;
		auth |= core->vpns[i].control == ORCH_VPN_CONTROL_AUTH;
	}
	env->vpn_connected = any;
	env->vpn_config_error = !any && auth;
	snprintf(
	    env->vpn_status, sizeof(env->vpn_status), "%s", first->status);
	snprintf(
	    env->vpn_health, sizeof(env->vpn_health), "%s", first->health);
	env->vpn_forwarded_port = first->connected ? first->forwarded_port : 0;
	env->vpn_last_check_us = first->last_check_us;
}

/* Connected, or not: the transition's bookkeeping. */
static void
transition_locked(
    orch_core *core, int idx, bool connected, int64_t now, orch_vpn_change *ch)
{
	orch_vpn *v = &core->vpns[idx];
	int64_t stable =
	    (int64_t) core->cfg->vpn_reconnect_stable_s * US_PER_S;

	if (connected && !v->connected) {
		ch->up = true;
		ch->down_ms = v->down_since_us != 0
		                  ? (now - v->down_since_us) / 1000
		                  : 0;
		v->to_connected++;
		if (core->cfg->vpn_restart_engines_on_reconnect &&
		    v->ever_connected &&
		    (v->restarted || now - v->down_since_us >= stable)) {
			v->reconnect_cutoff_us = now;
			ch->reconnect = true;
		}
		v->down_since_us = 0;
		v->ever_connected = true;
		v->restarted = false;
		mark_engines_locked(core, idx, false);
	} else if (!connected && v->connected) {
		ch->down = true;
		v->to_disconnected++;
		v->down_since_us = now;
		v->fwd_fresh = false;
		mark_engines_locked(core, idx, true);
	} else if (connected && ch->restarted &&
	           core->cfg->vpn_restart_engines_on_reconnect) {
		/* Started anew between two rounds: its engines lost their
		 * network namespace just the same. */
		v->to_disconnected++;
		v->to_connected++;
		v->reconnect_cutoff_us = now;
		v->restarted = false;
		ch->reconnect = true;
	}
	v->connected = connected;
}

void
orch_core_vpn_report(orch_core *core, size_t i, const orch_vpn_report *r,
    orch_vpn_change *change)
{
	orch_vpn_change ch;
	orch_vpn *v;
	bool connected = strcmp(r->status, "running") == 0 &&
	                 r->control == ORCH_VPN_CONTROL_OK && r->tunnel_up;
	int64_t now;

	memset(&ch, 0, sizeof(ch));
	orch_core_lock(core);
	if (core->vpns == NULL || i >= core->cfg->n_vpns)
		goto out;
	v = &core->vpns[i];
	now = orch_core_now(core);
	snprintf(v->status, sizeof(v->status), "%s", r->status);
	snprintf(v->health, sizeof(v->health), "%s",
	    r->health != NULL ? r->health : "unknown");
	ch.control = v->control != r->control;
	v->control = r->control;
	snprintf(v->error, sizeof(v->error), "%s",
	    r->error != NULL ? r->error : "");
	if (r->pubs_known)
		pool_rebuild(core->cfg, v, r);
	if (r->started_us != 0 && v->started_us != 0 &&
	    r->started_us != v->started_us) {
		ch.restarted = true;
		v->restarted = true;
	}
	if (r->started_us != 0)
		v->started_us = r->started_us;
	transition_locked(core, (int) i, connected, now, &ch);
	if (connected && r->forwarded_port >= 0) {
		v->forwarded_port = r->forwarded_port;
		v->fwd_fresh = true;
	}
	v->last_check_us = now;
	ch.pool_size = (int) v->n_pool;
	env_update_locked(core);
out:
	orch_core_unlock(core);
	if (change != NULL)
		*change = ch;
}

/* ---- the monitor's decisions ------------------------------------------ */

bool
orch_core_vpn_forward_need(orch_core *core, size_t i, int *port)
{
	bool need = false;
	orch_vpn *v;

	orch_core_lock(core);
	if (core->vpns != NULL && i < core->cfg->n_vpns) {
		v = &core->vpns[i];
		need = v->connected && v->fwd_fresh && v->forwarded_port > 0 &&
		       !v->fwd_inflight &&
		       !has_port_owner(core, (int) i, v->forwarded_port);
		*port = v->forwarded_port;
	}
	orch_core_unlock(core);
	return need;
}

bool
orch_core_vpn_reconnect_next(orch_core *core, size_t i,
    char id[ORCH_CORE_ID_MAX], bool *idle, bool *forwarded)
{
	orch_engine *e, *best = NULL;
	size_t cur = 0;
	orch_vpn *v;

	orch_core_lock(core);
	if (core->vpns == NULL || i >= core->cfg->n_vpns)
		goto out;
	v = &core->vpns[i];
	if (v->reconnect_cutoff_us == 0 || !v->connected)
		goto out;
	while ((e = orch_state_engine_next(&core->state, &cur)) != NULL) {
		if (e->vpn_idx != (int) i || e->marked_for_replacement ||
		    e->started_us >= v->reconnect_cutoff_us)
			continue;
		if (best == NULL ||
		    (orch_engine_load(e) == 0 && orch_engine_load(best) != 0))
			best = e;
	}
	if (best == NULL) {
		v->reconnect_cutoff_us = 0; /* every one of them done */
		goto out;
	}
	snprintf(id, ORCH_CORE_ID_MAX, "%s", best->container_id);
	*idle = orch_engine_load(best) == 0;
	*forwarded = best->forwarded;
out:
	orch_core_unlock(core);
	return best != NULL;
}

bool
orch_core_vpn_idle_victim(orch_core *core, size_t i, char id[ORCH_CORE_ID_MAX])
{
	orch_engine *e, *best = NULL;
	size_t cur = 0;

	orch_core_lock(core);
	while (core->vpns != NULL &&
	       (e = orch_state_engine_next(&core->state, &cur)) != NULL) {
		if (e->vpn_idx != (int) i || !e->managed ||
		    orch_engine_load(e) != 0)
			continue;
		if (best == NULL || (e->forwarded && !best->forwarded))
			best = e;
	}
	if (best != NULL)
		snprintf(id, ORCH_CORE_ID_MAX, "%s", best->container_id);
	orch_core_unlock(core);
	return best != NULL;
}

/* ---- metrics ---------------------------------------------------------- */

void
orch_core_vpn_metrics_locked(const orch_core *core, orch_buf *out)
{
	size_t n = orch_core_vpn_count(core);

	if (n == 0)
		return;
	orch_buf_printf(out, "# HELP orch_vpn_connected 1 while the VPN's "
	                     "tunnel is up per its control server\n"
	                     "# TYPE orch_vpn_connected gauge\n");
	for (size_t i = 0; i < n; i++)
		orch_buf_printf(out, "orch_vpn_connected{vpn=\"%s\"} %d\n",
		    core->vpns[i].cfg->name, core->vpns[i].connected ? 1 : 0);
	orch_buf_printf(out, "# HELP orch_vpn_forwarded_port the port the "
	                     "VPN forwards (0: none)\n"
	                     "# TYPE orch_vpn_forwarded_port gauge\n");
	for (size_t i = 0; i < n; i++)
		orch_buf_printf(out,
		    "orch_vpn_forwarded_port{vpn=\"%s\"} %d\n",
		    core->vpns[i].cfg->name,
		    core->vpns[i].connected ? core->vpns[i].forwarded_port
		                            : 0);
	orch_buf_printf(out, "# HELP orch_vpn_transitions_total VPN "
	                     "connection changes\n"
	                     "# TYPE orch_vpn_transitions_total counter\n");
	for (size_t i = 0; i < n; i++) {
		const orch_vpn *v = &core->vpns[i];

		orch_buf_printf(out,
		    "orch_vpn_transitions_total{vpn=\"%s\",to=\"connected\"} "
		    "%llu\n"
		    "orch_vpn_transitions_total{vpn=\"%s\",to="
		    "\"disconnected\"} %llu\n",
		    v->cfg->name, (unsigned long long) v->to_connected,
		    v->cfg->name, (unsigned long long) v->to_disconnected);
	}
}
