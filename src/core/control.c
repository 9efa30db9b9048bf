#include "src/core/control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/restore.h"
#include "src/core/sink.h"

static void
copy_id(char out[ORCH_CORE_ID_MAX], const char *id)
{
	snprintf(out, ORCH_CORE_ID_MAX, "%s", id);
}

/* ---- the outside world --------------------------------------------- */

void
orch_core_set_docker_ok(orch_core *core, bool ok)
{
	orch_core_lock(core);
	core->env.docker_ok = ok;
	orch_core_unlock(core);
}

void
orch_core_set_image_present(orch_core *core, bool present)
{
	orch_core_lock(core);
	core->env.image_ok = present;
	orch_core_unlock(core);
}

void
orch_core_set_image_pulling(orch_core *core, bool pulling)
{
	orch_core_lock(core);
	core->env.image_pulling = pulling;
	orch_core_unlock(core);
}

/* ---- engines as the runtime reports them ---------------------------- */

bool
orch_core_container_allowed(orch_core *core, orch_refusal *out)
{
	bool ok;

	orch_core_read_lock(core);
	ok = orch_policy_can_provision_container(core->cfg, &core->env, out);
	orch_core_read_unlock(core);
	return ok;
}

bool
orch_core_adopt(orch_core *core, const orch_engine_spec *spec)
{
	orch_engine *e;
	bool added = false;

	orch_core_lock(core);
	e = orch_state_engine_get(&core->state, spec->container_id);
	if (e == NULL && spec->running)
		added = orch_core_engine_put_locked(core, spec, &e) == ORCH_OK;
	else if (e != NULL && e->running != spec->running)
		orch_state_engine_set_running(
		    &core->state, e, spec->running, orch_core_now(core));
	if (added) {
		orch_kv kv[] = {{"name", e->container_name}};

		orch_core_log_locked(core, ORCH_LOG_ENGINE_ADOPTED,
		    e->container_id, NULL, kv, 1);
		/* Its restored streams join it before anyone sees it idle. */
		orch_core_restore_attach_locked(core, e);
	}
	orch_core_unlock(core);
	return added;
}

orch_err
orch_core_engine_set_running(orch_core *core, const char *id, bool running,
    bool *changed, char *name, size_t name_len)
{
	orch_engine *e;
	bool was = false;
	orch_err rv = ORCH_OK;

	orch_core_lock(core);
	e = orch_state_engine_get(&core->state, id);
	if (e == NULL) {
		rv = ORCH_ENOTFOUND;
		goto out;
	}
	was = e->running;
	if (name != NULL && name_len > 0)
		snprintf(name, name_len, "%s", e->container_name);
	/* A die of an engine already down is a replay; a start always
	 * (re)starts the startup clock, as Docker just started it. */
	if (running || was)
		orch_state_engine_set_running(
		    &core->state, e, running, orch_core_now(core));
out:
	orch_core_unlock(core);
	if (changed != NULL)
		*changed = rv == ORCH_OK && was != running;
	return rv;
}

bool
orch_core_engine_drop(orch_core *core, const char *id, const char *reason)
{
	orch_engine *e;

	orch_core_lock(core);
	e = orch_state_engine_get(&core->state, id);
	if (e != NULL)
		orch_core_engine_remove_locked(core, e, reason);
	orch_core_unlock(core);
	return e != NULL;
}

orch_err
orch_core_engine_resolve(
    orch_core *core, const char *id_or_name, char full[ORCH_CORE_ID_MAX])
{
	orch_engine *e;
	orch_err rv = ORCH_ENOTFOUND;

	full[0] = '\0';
	orch_core_read_lock(core);
	e = orch_state_engine_get(&core->state, id_or_name);
	if (e == NULL)
		e = orch_state_engine_by_name(&core->state, id_or_name);
	if (e != NULL && e->managed) {
		copy_id(full, e->container_id);
		rv = ORCH_OK;
	}
	orch_core_read_unlock(core);
	return rv;
}

int
orch_core_engine_count(orch_core *core)
{
	int n;

	orch_core_read_lock(core);
	n = core->state.counts.engines;
	orch_core_read_unlock(core);
	return n;
}

static const orch_core_seen *
seen_find(const orch_core_seen *seen, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(seen[i].id, id) == 0)
			return &seen[i];
	}
	return NULL;
}

size_t
orch_core_drop_unlisted(orch_core *core, int64_t listed_at_us,
    const orch_core_seen *seen, size_t n,
    void (*on_gone)(void *arg, const orch_engine *e), void *arg)
{
	char(*gone)[ORCH_CORE_ID_MAX] = NULL;
	size_t ngone = 0, cur = 0;
	orch_engine *e;

	orch_core_lock(core);
	/* Collected first: removing while iterating would move the cursor. */
	gone = calloc(core->state.n_engines + 1, sizeof(*gone));
	while (gone != NULL &&
	       (e = orch_state_engine_next(&core->state, &cur)) != NULL) {
		const orch_core_seen *s;

		if (!e->managed || e->last_seen_us >= listed_at_us)
			continue;
		s = seen_find(seen, n, e->container_id);
		if (s == NULL || (!s->running && !e->running))
			copy_id(gone[ngone++], e->container_id);
	}
	for (size_t i = 0; i < ngone; i++) {
		e = orch_state_engine_get(&core->state, gone[i]);
		if (e == NULL)
			continue;
		if (on_gone != NULL)
			on_gone(arg, e);
		orch_core_engine_remove_locked(core, e, "engine_gone");
	}
	/* A full list: what a restore still waits for has no engine. */
	if (gone != NULL)
		orch_core_restore_verdict_locked(core);
	orch_core_unlock(core);
	free(gone);
	return ngone;
}

/* ---- the control loop's candidates ---------------------------------- */

void
orch_core_expire_reservations(orch_core *core)
{
	orch_core_lock(core);
	orch_state_expire(&core->state, orch_core_now(core));
	orch_core_unlock(core);
}

/* Copies the ids of v[0..n) out. */
static void
copy_ids(char (*ids)[ORCH_CORE_ID_MAX], orch_engine *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		copy_id(ids[i], v[i]->container_id);
}

/* The engines of v[0..n) failed to become engines: each is one failure
 * of the general breaker (a half-open trial among them reopens it), and
 * none is counted again. */
static void
count_failed_locked(orch_core *core, orch_engine *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		orch_breaker before = core->general;

		v[i]->startup_pending = false;
		v[i]->breaker_trial = false;
		orch_breaker_record_failure(
		    &core->general, orch_core_now(core));
		orch_core_breaker_note_locked(core, &core->general, &before);
	}
}

size_t
orch_core_startup_expired(
    orch_core *core, char (*ids)[ORCH_CORE_ID_MAX], size_t cap)
{
	orch_engine *v[64];
	size_t n;

	if (cap > 64)
		cap = 64;
	orch_core_lock(core);
	n = orch_policy_startup_expired(
	    &core->state, core->cfg, orch_core_now(core), v, cap);
	count_failed_locked(core, v, n);
	copy_ids(ids, v, n);
	orch_core_unlock(core);
	return n;
}

size_t
orch_core_crash_looping(
    orch_core *core, char (*ids)[ORCH_CORE_ID_MAX], size_t cap)
{
	orch_engine *v[64];
	size_t n;

	if (cap > 64)
		cap = 64;
	orch_core_lock(core);
	n = orch_policy_crash_looping(&core->state, core->cfg, v, cap);
	for (size_t i = 0; i < n; i++)
		v[i]->crash_counted = true;
	count_failed_locked(core, v, n);
	copy_ids(ids, v, n);
	orch_core_unlock(core);
	return n;
}

int
orch_core_autoscale_need(orch_core *core)
{
	orch_state_counts c;
	int start;

	orch_core_read_lock(core);
	c = core->state.counts;
	c.engines += core->provisioning;
	c.free += core->provisioning;
	/* Restoring: the free count is not known yet (restore.h). */
	start = core->restoring ? 0 : orch_policy_autoscale(&c, core->cfg);
	orch_core_read_unlock(core);
	return start;
}

/* Out of selection and of the free count from now until stopped. */
static void
drain_locked(orch_core *core, orch_engine *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		orch_state_engine_set_draining(&core->state, v[i], true);
}

bool
orch_core_drain_confirm(orch_core *core, const char *id)
{
	orch_engine *e;
	bool go = false;

	orch_core_lock(core);
	e = orch_state_engine_get(&core->state, id);
	if (e != NULL && e->draining) {
		/* A stream_started or a reservation of a proxy that chose
		 * it before it was drained: it serves again. */
		go = e->n_active == 0 && e->n_reserved == 0;
		if (!go)
			orch_state_engine_set_draining(&core->state, e, false);
	}
	orch_core_unlock(core);
	return go;
}

void
orch_core_drain_cancel(orch_core *core, const char *id)
{
	orch_engine *e;

	orch_core_lock(core);
	e = orch_state_engine_get(&core->state, id);
	if (e != NULL && e->draining)
		orch_state_engine_set_draining(&core->state, e, false);
	orch_core_unlock(core);
}

size_t
orch_core_gc_candidates(
    orch_core *core, bool forced, char (*ids)[ORCH_CORE_ID_MAX], size_t cap)
{
	orch_engine *v[64];
	size_t n;

	if (cap > 64)
		cap = 64;
	orch_core_lock(core);
	n = core->restoring ? 0
	                    : orch_policy_gc(&core->state, core->cfg,
	                          orch_core_now(core), forced, v, cap);
	drain_locked(core, v, n);
	copy_ids(ids, v, n);
	orch_core_unlock(core);
	return n;
}

orch_scale_plan
orch_core_scale_candidates(
    orch_core *core, int n, char (*ids)[ORCH_CORE_ID_MAX], size_t cap)
{
	orch_engine *v[64];
	orch_scale_plan plan;

	if (cap > 64)
		cap = 64;
	orch_core_lock(core);
	plan = orch_policy_scale(&core->state, core->cfg, n, v, cap);
	if (core->restoring) {
		/* No engine is known idle until its streams are back. */
		plan.start = 0;
		plan.n_stop = 0;
		plan.deferred = true;
	}
	drain_locked(core, v, plan.n_stop);
	copy_ids(ids, v, plan.n_stop);
	orch_core_unlock(core);
	return plan;
}

bool
orch_core_replacement_begin(
    orch_core *core, char sick[ORCH_CORE_ID_MAX], bool *start_first)
{
	orch_replacement rep;
	bool due;

	sick[0] = '\0';
	*start_first = false;
	orch_core_lock(core);
	due = orch_policy_replacement(&core->state, core->cfg,
	    orch_core_now(core), core->last_replacement_us,
	    core->replacement_in_progress, &core->replacement, &rep);
	if (due) {
		orch_breaker before = core->replacement;

		copy_id(sick, rep.engine->container_id);
		copy_id(core->replacing, rep.engine->container_id);
		*start_first = rep.start_first;
		orch_state_engine_set_marked(&core->state, rep.engine, true);
		core->replacement_in_progress = true;
		(void) orch_breaker_try_acquire(
		    &core->replacement, orch_core_now(core));
		orch_core_breaker_note_locked(
		    core, &core->replacement, &before);
	}
	orch_core_unlock(core);
	return due;
}

void
orch_core_replacement_unmark(orch_core *core, const char *id)
{
	orch_engine *e;

	orch_core_lock(core);
	e = orch_state_engine_get(&core->state, id);
	if (e != NULL && e->marked_for_replacement)
		orch_state_engine_set_marked(&core->state, e, false);
	orch_core_unlock(core);
}

void
orch_core_replacement_end(orch_core *core, bool ok)
{
	int64_t now;

	orch_kv kv[] = {{"outcome", ok ? "replaced" : "failed"}};
	orch_breaker before;

	orch_core_lock(core);
	now = orch_core_now(core);
	before = core->replacement;
	if (ok)
		orch_breaker_record_success(&core->replacement, now);
	else
		orch_breaker_record_failure(&core->replacement, now);
	orch_core_breaker_note_locked(core, &core->replacement, &before);
	orch_core_log_locked(core, ORCH_LOG_ENGINE_REPLACED,
	    core->replacing[0] != '\0' ? core->replacing : NULL, NULL, kv, 1);
	core->replacing[0] = '\0';
	core->last_replacement_us = now;
	core->replacement_in_progress = false;
	orch_core_unlock(core);
}

/* ---- probes and stats ------------------------------------------------ */

void
orch_core_count(orch_core *core, orch_core_counter c)
{
	orch_core_lock(core);
	switch (c) {
	case ORCH_COUNT_PROBE_FAILURE:
		core->metrics.probe_failures++;
		break;
	case ORCH_COUNT_COLLECTOR_ERROR:
		core->metrics.collector_errors++;
		break;
	case ORCH_COUNT_CONTAINER_OK:
		core->metrics.provision_container_ok++;
		break;
	case ORCH_COUNT_CONTAINER_FAILED:
		core->metrics.provision_container_failed++;
		break;
	}
	orch_core_unlock(core);
}

size_t
orch_core_visit_probe_targets(
    orch_core *core, void (*fn)(void *arg, const orch_engine *e), void *arg)
{
	orch_engine *e;
	size_t cur = 0, n = 0;

	orch_core_read_lock(core);
	while ((e = orch_state_engine_next(&core->state, &cur)) != NULL) {
		if (!e->managed || !e->running)
			continue;
		fn(arg, e);
		n++;
	}
	orch_core_read_unlock(core);
	return n;
}

int
orch_core_health_unknown(orch_core *core)
{
	int n;

	orch_core_read_lock(core);
	n = core->state.counts.running - core->state.counts.healthy -
	    core->state.counts.unhealthy;
	orch_core_read_unlock(core);
	return n;
}

size_t
orch_core_visit_polled_streams(
    orch_core *core, void (*fn)(void *arg, const orch_stream *s), void *arg)
{
	orch_state *st = &core->state;
	size_t n = 0;

	orch_core_read_lock(core);
	for (orch_list *l = st->streams_active.next; l != &st->streams_active;
	     l = l->next) {
		const orch_stream *s =
		    ORCH_CONTAINER_OF(l, orch_stream, by_status);

		if (s->engine == NULL || !s->engine->managed ||
		    !s->engine->running || s->stat_url == NULL)
			continue;
		fn(arg, s);
		n++;
	}
	orch_core_read_unlock(core);
	return n;
}

bool
orch_core_apply_probe(orch_core *core, const char *id, bool ok, char *name,
    size_t name_len, orch_health *health)
{
	orch_engine *e;
	bool changed = false;

	orch_core_lock(core);
	if (!ok)
		core->metrics.probe_failures++;
	e = orch_state_engine_get(&core->state, id);
	if (e != NULL && e->managed && e->running)
		changed = orch_state_engine_probe(&core->state, e, ok,
		    core->cfg->health_failure_threshold, orch_core_now(core));
	if (changed && e->startup_pending &&
	    e->health == ORCH_HEALTH_HEALTHY) {
		/* The provision succeeded only now: an engine that starts
		 * and never answers is a failure (startup_expired), and a
		 * half-open trial is decided here. */
		orch_breaker before = core->general;

		e->startup_pending = false;
		e->breaker_trial = false;
		orch_breaker_record_success(
		    &core->general, orch_core_now(core));
		orch_core_breaker_note_locked(core, &core->general, &before);
	}
	if (changed && name != NULL && name_len > 0)
		snprintf(name, name_len, "%s", e->container_name);
	if (changed && health != NULL)
		*health = e->health;
	orch_core_unlock(core);
	return changed;
}

orch_err
orch_core_apply_stat(
    orch_core *core, const char *stream_id, const orch_stat *snap)
{
	orch_stream *s;
	orch_err rv = ORCH_ENOTFOUND;

	orch_core_lock(core);
	s = orch_state_stream_get(&core->state, stream_id);
	if (s != NULL && s->active)
		rv = orch_state_stream_add_stat(&core->state, s, snap);
	orch_core_unlock(core);
	return rv;
}

bool
orch_core_stream_session_gone(orch_core *core, const char *stream_id)
{
	orch_stream *s, *ended = NULL;

	orch_core_lock(core);
	s = orch_state_stream_get(&core->state, stream_id);
	if (s != NULL && s->active)
		(void) orch_state_stream_end(&core->state, s->id, NULL,
		    "session_gone", orch_core_now(core), &ended);
	orch_core_unlock(core);
	return ended != NULL;
}
