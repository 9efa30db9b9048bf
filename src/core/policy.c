#include "src/core/policy.h"

#include <stdlib.h>
#include <string.h>

#include "src/core/vpncfg.h"

#define US_PER_S 1000000LL

const char *
orch_refusal_code_name(orch_refusal_code c)
{
	switch (c) {
	case ORCH_REFUSE_DOCKER:
		return "docker_unavailable";
	case ORCH_REFUSE_VPN:
		return "vpn_disconnected";
	case ORCH_REFUSE_IMAGE:
		return "image_unavailable";
	case ORCH_REFUSE_BREAKER:
		return "circuit_breaker";
	case ORCH_REFUSE_MAX:
		return "max_capacity";
	default:
		return "none";
	}
}

const char *
orch_refusal_reason(orch_refusal_code c)
{
	switch (c) {
	case ORCH_REFUSE_DOCKER:
		return "Docker unavailable";
	case ORCH_REFUSE_VPN:
		return "VPN not connected";
	case ORCH_REFUSE_IMAGE:
		return "Engine image unavailable";
	case ORCH_REFUSE_BREAKER:
		return "Circuit breaker is open";
	case ORCH_REFUSE_MAX:
		return "Maximum replicas reached";
	default:
		return NULL;
	}
}

const char *
orch_refusal_message(orch_refusal_code c)
{
	switch (c) {
	case ORCH_REFUSE_DOCKER:
		return "The Docker daemon is unreachable; engines cannot be "
		       "started until it answers again.";
	case ORCH_REFUSE_VPN:
		return "The VPN tunnel is down; engines are started only "
		       "while "
		       "it is connected.";
	case ORCH_REFUSE_IMAGE:
		return "The engine image is not present on the Docker daemon.";
	case ORCH_REFUSE_BREAKER:
		return "Too many recent provisioning failures; the circuit "
		       "breaker is open.";
	case ORCH_REFUSE_MAX:
		return "MAX_REPLICAS engines are running; wait for a stream "
		       "to "
		       "end.";
	default:
		return "";
	}
}

orch_err
orch_refusal_status(orch_refusal_code c)
{
	switch (c) {
	case ORCH_REFUSE_NONE:
		return ORCH_OK;
	case ORCH_REFUSE_DOCKER:
		return ORCH_EUNAVAIL;
	case ORCH_REFUSE_MAX:
		return ORCH_EEXHAUSTED;
	default:
		return ORCH_EPRECOND;
	}
}

void
orch_policy_refusal(orch_refusal_code code, const orch_config *cfg,
    const orch_env *env, const orch_breaker *general, int64_t now_us,
    orch_refusal *out)
{
	out->code = code;
	out->eta_s = -1;
	out->can_retry = true;
	out->should_wait = code != ORCH_REFUSE_NONE;
	out->message = NULL;
	switch (code) {
	case ORCH_REFUSE_DOCKER:
		/* The monitor re-checks Docker every MONITOR_INTERVAL_S. */
		out->eta_s = cfg->monitor_interval_s;
		break;
	case ORCH_REFUSE_VPN:
		out->eta_s = cfg->gluetun_health_check_interval_s;
		if (env->vpn_config_error) {
			/* Waiting does not fix a wrong key. */
			out->eta_s = -1;
			out->should_wait = false;
			out->message =
			    "Gluetun's control server refused the "
			    "orchestrator's credentials (HTTP "
			    "401/403), so the tunnel cannot be "
			    "checked: set GLUETUN_API_KEY, or "
			    "GLUETUN_API_USER and "
			    "GLUETUN_API_PASSWORD (see /vpn/status).";
		}
		break;
	case ORCH_REFUSE_IMAGE:
		/* Only a pull under way brings the image back by itself. */
		out->can_retry = env->image_pulling;
		out->should_wait = env->image_pulling;
		break;
	case ORCH_REFUSE_BREAKER: {
		int64_t eta = orch_breaker_retry_after_s(general, now_us);

		/* Half-open with its trial taken: the trial's outcome is due
		 * within a startup timeout. */
		out->eta_s = (int) (eta > 0 ? eta : cfg->startup_timeout_s);
		break;
	}
	default:
		/* MAX: a slot frees when a stream ends and the idle engine is
		 * collected; no time can be promised. */
		break;
	}
}

bool
orch_policy_can_provision_container(
    const orch_config *cfg, const orch_env *env, orch_refusal *out)
{
	orch_refusal_code code =
	    env->docker_ok ? ORCH_REFUSE_NONE : ORCH_REFUSE_DOCKER;

	orch_policy_refusal(code, cfg, env, NULL, 0, out);
	return code == ORCH_REFUSE_NONE;
}

bool
orch_policy_can_provision(const orch_state_counts *c, const orch_config *cfg,
    const orch_env *env, const orch_breaker *general, int64_t now_us,
    orch_refusal *out)
{
	orch_breaker_state bs = orch_breaker_state_at(general, now_us);
	orch_refusal_code code = ORCH_REFUSE_NONE;

	if (!env->docker_ok)
		code = ORCH_REFUSE_DOCKER;
	else if (orch_vpn_enabled(cfg) && !env->vpn_connected)
		code = ORCH_REFUSE_VPN;
	else if (!env->image_ok)
		code = ORCH_REFUSE_IMAGE;
	else if (bs == ORCH_BREAKER_OPEN ||
	         (bs == ORCH_BREAKER_HALF_OPEN && general->trial_in_flight))
		code = ORCH_REFUSE_BREAKER;
	else if (c->engines >= cfg->max_replicas)
		code = ORCH_REFUSE_MAX;
	orch_policy_refusal(code, cfg, env, general, now_us, out);
	return code == ORCH_REFUSE_NONE;
}

const char *
orch_policy_status(const orch_state_counts *c, const orch_config *cfg,
    bool docker_ok, bool provisioning_blocked)
{
	if (!docker_ok)
		return "unavailable";
	if (provisioning_blocked || c->healthy < cfg->min_replicas)
		return "degraded";
	return "healthy";
}

int
orch_policy_autoscale(const orch_state_counts *c, const orch_config *cfg)
{
	int need = cfg->min_replicas - c->free;
	int room = cfg->max_replicas - c->engines;

	if (need > room)
		need = room;
	return need > 0 ? need : 0;
}

/* An engine carrying nothing and promised to no one. */
static bool
is_idle(const orch_engine *e)
{
	return e->managed && e->n_active == 0 && e->n_reserved == 0 &&
	       !e->draining;
}

/* Stop order for Scale: engines that do not run first, then unhealthy,
 * then marked, then the longest idle; the container id breaks ties so the
 * plan is deterministic. */
static int
stop_rank(const orch_engine *e)
{
	if (!e->running)
		return 0;
	if (e->health == ORCH_HEALTH_UNHEALTHY)
		return 1;
	if (e->marked_for_replacement)
		return 2;
	return 3;
}

static int
cmp_stop(const void *pa, const void *pb)
{
	const orch_engine *a = *(orch_engine *const *) pa;
	const orch_engine *b = *(orch_engine *const *) pb;
	int ra = stop_rank(a), rb = stop_rank(b);

	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (a->idle_since_us != b->idle_since_us)
		return a->idle_since_us < b->idle_since_us ? -1 : 1;
	return strcmp(a->container_id, b->container_id);
}

/* Collects engines matching pred into a malloc'd array sorted by cmp_stop.
 * Returns NULL (and *n 0) when none or out of memory. */
static orch_engine **
collect(const orch_state *st, bool (*pred)(const orch_engine *, const void *),
    const void *arg, size_t *n)
{
	orch_engine **v = NULL;
	orch_engine *e;
	size_t cur = 0, k = 0, cap = 0;

	while ((e = orch_state_engine_next(st, &cur)) != NULL) {
		if (!pred(e, arg))
			continue;
		if (k == cap) {
			size_t ncap = cap != 0 ? cap * 2 : 16;
			orch_engine **nv = realloc(v, ncap * sizeof(*nv));

			if (nv == NULL) {
				free(v);
				*n = 0;
				return NULL;
			}
			v = nv;
			cap = ncap;
		}
		v[k++] = e;
	}
	if (k > 1)
		qsort(v, k, sizeof(*v), cmp_stop);
	*n = k;
	return v;
}

static bool
pred_idle(const orch_engine *e, const void *arg)
{
	(void) arg;
	return is_idle(e);
}

orch_scale_plan
orch_policy_scale(const orch_state *st, const orch_config *cfg, int n,
    orch_engine **stop, size_t stop_cap)
{
	orch_scale_plan p = {0, 0, 0, false};
	/* Engines already chosen to stop are as good as gone. */
	int total = st->counts.engines - st->counts.draining;

	if (n < cfg->min_replicas)
		n = cfg->min_replicas;
	if (n > cfg->max_replicas)
		n = cfg->max_replicas;
	p.scaled_to = n;
	if (total < n) {
		p.start = n - total;
	} else if (total > n) {
		size_t k = 0;
		orch_engine **v = collect(st, pred_idle, NULL, &k);
		size_t want = (size_t) (total - n);

		if (want > k)
			want = k;
		if (want > stop_cap)
			want = stop_cap;
		for (size_t i = 0; i < want; i++)
			stop[i] = v[i];
		p.n_stop = want;
		free(v);
	}
	return p;
}

typedef struct gc_arg {
	int64_t now_us;
	int64_t grace_us;
} gc_arg;

static bool
pred_gc(const orch_engine *e, const void *arg)
{
	const gc_arg *g = arg;

	/* Only healthy free engines count here: an unhealthy one is the
	 * replacement's business, a stopped one the reconcile's, and one
	 * whose health is still unknown may be the only engine about to
	 * serve (stopping a healthy one for it left none). The VPN's
	 * forwarded engine stays: it is the one with incoming peers, and
	 * the VPN monitor would only start it again. */
	return is_idle(e) && e->running && !e->marked_for_replacement &&
	       !e->forwarded && e->health == ORCH_HEALTH_HEALTHY &&
	       e->idle_since_us != 0 &&
	       g->now_us - e->idle_since_us >= g->grace_us;
}

size_t
orch_policy_gc(const orch_state *st, const orch_config *cfg, int64_t now_us,
    bool forced, orch_engine **out, size_t cap)
{
	gc_arg g = {now_us, (int64_t) cfg->engine_grace_period_s * US_PER_S};
	orch_engine **v;
	size_t k = 0, allowed;

	if (!forced && !cfg->auto_delete)
		return 0;
	if (st->counts.free_healthy <= cfg->min_replicas)
		return 0;
	allowed = (size_t) (st->counts.free_healthy - cfg->min_replicas);
	v = collect(st, pred_gc, &g, &k);
	if (k > allowed)
		k = allowed;
	if (k > cap)
		k = cap;
	for (size_t i = 0; i < k; i++)
		out[i] = v[i];
	free(v);
	return k;
}

static bool
pred_startup(const orch_engine *e, const void *arg)
{
	const gc_arg *g = arg;

	/* The clock is the provision's, not the last restart's: a
	 * container that crashes and restarts keeps its deadline. */
	return e->managed && e->startup_pending &&
	       g->now_us - e->pending_since_us >= g->grace_us;
}

size_t
orch_policy_startup_expired(const orch_state *st, const orch_config *cfg,
    int64_t now_us, orch_engine **out, size_t cap)
{
	gc_arg g = {now_us, (int64_t) cfg->startup_timeout_s * US_PER_S};
	size_t k = 0;
	orch_engine **v = collect(st, pred_startup, &g, &k);

	if (k > cap)
		k = cap;
	for (size_t i = 0; i < k; i++)
		out[i] = v[i];
	free(v);
	return k;
}

static bool
pred_crash(const orch_engine *e, const void *arg)
{
	const orch_config *cfg = arg;

	return e->managed && !e->crash_counted &&
	       e->restarts >= cfg->crash_loop_restarts;
}

size_t
orch_policy_crash_looping(const orch_state *st, const orch_config *cfg,
    orch_engine **out, size_t cap)
{
	size_t k = 0;
	orch_engine **v = collect(st, pred_crash, cfg, &k);

	if (k > cap)
		k = cap;
	for (size_t i = 0; i < k; i++)
		out[i] = v[i];
	free(v);
	return k;
}

bool
orch_policy_replacement(const orch_state *st, const orch_config *cfg,
    int64_t now_us, int64_t last_replacement_us, bool in_progress,
    const orch_breaker *replacement, orch_replacement *out)
{
	int64_t grace =
	    (int64_t) cfg->health_unhealthy_grace_period_s * US_PER_S;
	int64_t cooldown =
	    (int64_t) cfg->health_replacement_cooldown_s * US_PER_S;
	orch_breaker_state bs = orch_breaker_state_at(replacement, now_us);
	orch_engine *e, *best = NULL;
	size_t cur = 0;

	out->engine = NULL;
	out->start_first = false;
	if (in_progress || bs == ORCH_BREAKER_OPEN ||
	    (bs == ORCH_BREAKER_HALF_OPEN && replacement->trial_in_flight))
		return false;
	if (last_replacement_us != 0 &&
	    now_us - last_replacement_us < cooldown)
		return false;
	while ((e = orch_state_engine_next(st, &cur)) != NULL) {
		/* An engine on a VPN that is down is sick because of the
		 * VPN: a new one there would be no better. */
		if (!e->managed || !e->running || e->marked_for_replacement ||
		    e->vpn_down || e->health != ORCH_HEALTH_UNHEALTHY ||
		    now_us - e->unhealthy_since_us < grace)
			continue;
		if (best == NULL ||
		    e->unhealthy_since_us < best->unhealthy_since_us ||
		    (e->unhealthy_since_us == best->unhealthy_since_us &&
		        strcmp(e->container_id, best->container_id) < 0))
			best = e;
	}
	if (best == NULL)
		return false;
	out->engine = best;
	out->start_first = st->counts.engines < cfg->max_replicas;
	return true;
}
