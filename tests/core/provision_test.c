/*
 * The core's provisioning slots (src/core/provision.h) over a manual
 * clock, no runtime: reserve (refusals in policy order, MAX_REPLICAS
 * counting slots in flight, the half-open breaker's one trial, explicit
 * and pooled ports, exhausted pools), renumber and repick, commit and
 * every abort outcome, each checked on the state, the pools (ports
 * released exactly once), the breaker, the environment and the metrics;
 * and 8 threads reserving and ending slots at once.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "src/core/control.h"
#include "src/core/core.h"
#include "src/core/provision.h"
#include "tests/core/fx.h"

#define S(x) ((int64_t) (x) *INT64_C(1000000))
#define T0 S(1700000000)

typedef struct fixture {
	fx_core c;
	bool busy[65536]; /* ports the probe reports held on the host */
} fixture;

static bool
probe(void *arg, int port)
{
	fixture *f = arg;

	return !f->busy[port];
}

static fixture *
fx_new(int http_lo, int http_hi, int https_lo, int https_hi)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_core_config(&f->c, 1, 4);
	f->c.cfg.port_range_host.lo = http_lo;
	f->c.cfg.port_range_host.hi = http_hi;
	f->c.cfg.ace_https_range.lo = https_lo;
	f->c.cfg.ace_https_range.hi = https_hi;
	f->c.cfg.cb_failure_threshold = 2;
	f->c.now = T0;
	fx_core_start(&f->c, NULL, NULL);
	fx_core_env_up(&f->c);
	return f;
}

static void
fx_free(fixture *f)
{
	fx_core_fini(&f->c);
	free(f);
}

static orch_slot_opts
opts(fixture *f, int host_port)
{
	orch_slot_opts o = {host_port, false, probe, f, NULL, false};

	return o;
}

static orch_err
reserve(fixture *f, int host_port, orch_slot *s, orch_refusal *r, orch_diag *d)
{
	orch_slot_opts o = opts(f, host_port);

	return orch_core_slot_reserve(&f->c.core, &o, s, r, d);
}

static orch_slot
reserve_ok(fixture *f)
{
	orch_slot s;
	orch_refusal r;
	orch_diag d;

	assert_int_equal(reserve(f, 0, &s, &r, &d), ORCH_OK);
	assert_int_equal(r.code, ORCH_REFUSE_NONE);
	return s;
}

static int
http_used(fixture *f)
{
	return orch_ports_used(&f->c.core.http_ports);
}

static int
https_used(fixture *f)
{
	return orch_ports_used(&f->c.core.https_ports);
}

/* The engine a committed slot is (ids and names from the number). */
static orch_engine_spec
spec_for(const orch_slot *s, char *id, char *name)
{
	sprintf(id, "%064d", s->number);
	sprintf(name, "acestream-%d", s->number);
	return fx_spec_ports(id, name, s->http_port, 0, s->https_port, true);
}

static void
commit_ok(fixture *f, orch_slot *s)
{
	char id[80], name[40];
	orch_engine_spec sp = spec_for(s, id, name);

	assert_int_equal(
	    orch_core_slot_commit(&f->c.core, s, &sp, 0.25, NULL), ORCH_OK);
}

/* ---- reserve -------------------------------------------------------------
 */

static void
test_reserve_numbers_and_ports(void **state)
{
	fixture *f = fx_new(19000, 19009, 45000, 45009);
	orch_slot a, b, c;

	(void) state;
	a = reserve_ok(f);
	assert_int_equal(a.number, 1);
	assert_int_equal(a.http_port, 19000);
	assert_int_equal(a.https_port, 45000);
	assert_int_equal(f->c.core.provisioning, 1);
	assert_int_equal(f->c.core.n_inflight, 1);
	/* A slot in flight holds its number: the next one gets 2. */
	b = reserve_ok(f);
	assert_int_equal(b.number, 2);
	assert_int_equal(b.http_port, 19001);
	assert_int_equal(http_used(f), 2);
	assert_int_equal(https_used(f), 2);
	/* A committed engine holds its name's number too. */
	commit_ok(f, &a);
	assert_int_equal(f->c.core.provisioning, 1);
	orch_core_slot_abort(&f->c.core, &b, ORCH_SLOT_FAILED, NULL);
	c = reserve_ok(f);
	assert_int_equal(c.number, 2); /* 1 is in state, 2 is free again */
	/* The probe's verdict: a port held on the host is skipped. */
	orch_core_slot_abort(&f->c.core, &c, ORCH_SLOT_INVALID, NULL);
	f->busy[19003] = true;
	c = reserve_ok(f);
	assert_int_equal(c.http_port, 19004);
	orch_core_slot_abort(&f->c.core, &c, ORCH_SLOT_INVALID, NULL);
	assert_int_equal(f->c.core.provisioning, 0);
	assert_int_equal(f->c.core.n_inflight, 0);
	assert_int_equal(http_used(f), 1);
	assert_int_equal(https_used(f), 1);
	fx_free(f);
}

static void
test_reserve_refusals(void **state)
{
	fixture *f = fx_new(19000, 19009, 45000, 45009);
	orch_slot s;
	orch_refusal r;
	orch_diag d;
	orch_env env;

	(void) state;
	/* Docker down first, whatever else applies. */
	memset(&env, 0, sizeof(env));
	env.image_ok = false;
	orch_core_set_env(&f->c.core, &env);
	assert_int_equal(reserve(f, 0, &s, &r, &d), ORCH_EUNAVAIL);
	assert_int_equal(r.code, ORCH_REFUSE_DOCKER);
	env.docker_ok = true;
	orch_core_set_env(&f->c.core, &env);
	assert_int_equal(reserve(f, 0, &s, &r, &d), ORCH_EPRECOND);
	assert_int_equal(r.code, ORCH_REFUSE_IMAGE);
	assert_int_equal(f->c.core.metrics.provision_engine_refused, 2);
	assert_int_equal(http_used(f), 0);
	assert_int_equal(f->c.core.provisioning, 0);
	assert_false(s.held);
	env.image_ok = true;
	orch_core_set_env(&f->c.core, &env);

	/* MAX_REPLICAS (4) counts the slots in flight. */
	{
		orch_slot v[4];

		for (int i = 0; i < 4; i++)
			v[i] = reserve_ok(f);
		assert_int_equal(reserve(f, 0, &s, &r, &d), ORCH_EEXHAUSTED);
		assert_int_equal(r.code, ORCH_REFUSE_MAX);
		for (int i = 0; i < 4; i++)
			orch_core_slot_abort(
			    &f->c.core, &v[i], ORCH_SLOT_INVALID, NULL);
	}
	assert_int_equal(http_used(f), 0);
	assert_int_equal(f->c.core.metrics.provision_engine_refused, 3);
	fx_free(f);
}

static void
test_reserve_breaker_trial(void **state)
{
	fixture *f = fx_new(19000, 19009, 45000, 45009);
	orch_slot a, b, t;
	orch_refusal r;
	orch_diag d;

	(void) state;
	/* Two failures open it (threshold 2). */
	a = reserve_ok(f);
	b = reserve_ok(f);
	orch_core_slot_abort(&f->c.core, &a, ORCH_SLOT_FAILED, NULL);
	orch_core_slot_abort(&f->c.core, &b, ORCH_SLOT_FAILED, NULL);
	assert_int_equal(orch_breaker_state_at(&f->c.core.general, f->c.now),
	    ORCH_BREAKER_OPEN);
	assert_int_equal(reserve(f, 0, &t, &r, &d), ORCH_EPRECOND);
	assert_int_equal(r.code, ORCH_REFUSE_BREAKER);
	assert_true(r.eta_s > 0);
	/* Half-open: one trial; the next is refused until it ends. */
	f->c.now += S(f->c.cfg.cb_recovery_timeout_s + 1);
	t = reserve_ok(f);
	assert_true(f->c.core.general.trial_in_flight);
	assert_int_equal(reserve(f, 0, &a, &r, &d), ORCH_EPRECOND);
	assert_int_equal(r.code, ORCH_REFUSE_BREAKER);
	/* Docker down is not the trial's failure: the slot goes back. */
	orch_core_slot_abort(&f->c.core, &t, ORCH_SLOT_DOCKER_DOWN, &r);
	assert_false(f->c.core.general.trial_in_flight);
	assert_int_equal(r.code, ORCH_REFUSE_DOCKER);
	orch_core_set_docker_ok(&f->c.core, true);
	/* The next trial's engine starts: the trial stays with it until
	 * its first healthy probe, which closes the breaker. */
	t = reserve_ok(f);
	commit_ok(f, &t);
	assert_true(f->c.core.general.trial_in_flight);
	assert_int_equal(reserve(f, 0, &a, &r, &d), ORCH_EPRECOND);
	{
		char id[80];

		sprintf(id, "%064d", t.number);
		(void) orch_core_apply_probe(
		    &f->c.core, id, true, NULL, 0, NULL);
	}
	assert_int_equal(orch_breaker_state_at(&f->c.core.general, f->c.now),
	    ORCH_BREAKER_CLOSED);
	assert_int_equal(f->c.core.general.failure_count, 0);
	assert_false(f->c.core.general.trial_in_flight);
	fx_free(f);
}

static void
test_reserve_host_port(void **state)
{
	fixture *f = fx_new(19000, 19009, 45000, 45009);
	orch_slot s, s2;
	orch_refusal r;
	orch_diag d;

	(void) state;
	/* In the pool: reserved there. */
	assert_int_equal(reserve(f, 19005, &s, &r, &d), ORCH_OK);
	assert_int_equal(s.http_port, 19005);
	assert_true(orch_ports_in_use(&f->c.core.http_ports, 19005));
	/* Taken (the pool says so): EEXIST naming the field. */
	assert_int_equal(reserve(f, 19005, &s2, &r, &d), ORCH_EEXIST);
	assert_string_equal(d.field, "host_port");
	assert_non_null(strstr(d.msg, "19005"));
	assert_false(f->c.core.general.trial_in_flight);
	/* Held on the host (the probe says so). */
	f->busy[19006] = true;
	assert_int_equal(reserve(f, 19006, &s2, &r, &d), ORCH_EEXIST);
	assert_false(orch_ports_in_use(&f->c.core.http_ports, 19006));
	/* Outside the pool: refused, naming the field (defect 15). */
	assert_int_equal(reserve(f, 18000, &s2, &r, &d), ORCH_EINVAL);
	assert_string_equal(d.field, "host_port");
	assert_int_equal(reserve(f, 1, &s2, &r, &d), ORCH_EINVAL);
	assert_int_equal(http_used(f), 1);
	assert_false(f->c.core.general.trial_in_flight);
	orch_core_slot_abort(&f->c.core, &s, ORCH_SLOT_FAILED, NULL);
	assert_int_equal(http_used(f), 0);
	assert_int_equal(https_used(f), 0);
	assert_int_equal(f->c.core.provisioning, 0);
	fx_free(f);
}

static void
test_reserve_pools_exhausted(void **state)
{
	fixture *f = fx_new(19000, 19000, 45000, 45001);
	orch_slot a, b;
	orch_refusal r;
	orch_diag d;

	(void) state;
	a = reserve_ok(f);
	assert_int_equal(reserve(f, 0, &b, &r, &d), ORCH_EEXHAUSTED);
	assert_int_equal(r.code, ORCH_REFUSE_NONE);
	assert_non_null(strstr(d.msg, "PORT_RANGE_HOST"));
	assert_int_equal(https_used(f), 1); /* no HTTPS port taken for it */
	assert_int_equal(f->c.core.provisioning, 1);
	orch_core_slot_abort(&f->c.core, &a, ORCH_SLOT_INVALID, NULL);
	/* HTTPS exhausted: the HTTP port taken for it goes back. */
	f->busy[45000] = true;
	f->busy[45001] = true;
	assert_int_equal(reserve(f, 0, &b, &r, &d), ORCH_EEXHAUSTED);
	assert_non_null(strstr(d.msg, "ACE_HTTPS_RANGE"));
	assert_int_equal(http_used(f), 0);
	assert_int_equal(https_used(f), 0);
	assert_int_equal(f->c.core.provisioning, 0);
	assert_false(f->c.core.general.trial_in_flight);
	assert_int_equal(f->c.core.general.failure_count, 0);
	fx_free(f);
}

/* ---- the retry paths --------------------------------------------------- */

static void
test_renumber_and_repick(void **state)
{
	fixture *f = fx_new(19000, 19002, 45000, 45009);
	orch_slot a, b;
	orch_diag d;

	(void) state;
	a = reserve_ok(f); /* 1 */
	b = reserve_ok(f); /* 2 */
	/* The runtime says acestream-2 is taken: 3 (1 is in flight). */
	orch_core_slot_renumber(&f->c.core, &b);
	assert_int_equal(b.number, 3);
	assert_int_equal(f->c.core.n_inflight, 2);
	orch_core_slot_renumber(&f->c.core, &a);
	assert_int_equal(a.number, 2);
	/* The port was taken meanwhile: the next one, the old one back. */
	assert_int_equal(a.http_port, 19000);
	assert_int_equal(
	    orch_core_slot_repick_port(&f->c.core, &a, &d), ORCH_OK);
	assert_int_equal(a.http_port, 19002);
	assert_false(orch_ports_in_use(&f->c.core.http_ports, 19000));
	assert_int_equal(http_used(f), 2);
	/* None left (19000 skipped by the probe): the slot keeps its port,
	 * and abort releases it once. */
	f->busy[19000] = true;
	assert_int_equal(
	    orch_core_slot_repick_port(&f->c.core, &a, &d), ORCH_EEXHAUSTED);
	assert_non_null(strstr(d.msg, "PORT_RANGE_HOST"));
	assert_int_equal(a.http_port, 19002);
	assert_int_equal(http_used(f), 2);
	orch_core_slot_abort(&f->c.core, &a, ORCH_SLOT_FAILED, NULL);
	orch_core_slot_abort(
	    &f->c.core, &a, ORCH_SLOT_FAILED, NULL); /* no-op */
	assert_int_equal(http_used(f), 1);
	assert_int_equal(f->c.core.general.failure_count, 1);
	orch_core_slot_abort(&f->c.core, &b, ORCH_SLOT_INVALID, NULL);
	assert_int_equal(http_used(f), 0);
	assert_int_equal(https_used(f), 0);
	assert_int_equal(f->c.core.n_inflight, 0);
	fx_free(f);
}

/* ---- commit and abort ------------------------------------------------- */

static void
test_commit(void **state)
{
	fixture *f = fx_new(19000, 19009, 45000, 45009);
	orch_slot s = reserve_ok(f), s2;
	char id[80], name[40];
	orch_engine_spec sp;
	orch_engine *e;
	orch_diag d;

	(void) state;
	orch_core_set_docker_ok(&f->c.core, true);
	commit_ok(f, &s);
	assert_false(s.held);
	sprintf(id, "%064d", 1);
	e = orch_state_engine_get(&f->c.core.state, id);
	assert_non_null(e);
	assert_int_equal(e->host_http_port, 19000);
	/* The engine holds the ports now: still used, once. */
	assert_int_equal(http_used(f), 1);
	assert_int_equal(https_used(f), 1);
	assert_int_equal(f->c.core.provisioning, 0);
	assert_int_equal(f->c.core.n_inflight, 0);
	assert_int_equal(f->c.core.metrics.provision_engine_ok, 1);
	assert_int_equal(f->c.core.metrics.prov_count, 1);
	/* Started is not a success yet: the first healthy probe is. */
	assert_true(f->c.core.general.last_success_us == 0);
	assert_true(e->startup_pending);
	assert_true(f->c.core.env.docker_ok);
	/* Removing the engine releases them. */
	orch_core_lock(&f->c.core);
	orch_core_engine_remove_locked(&f->c.core, e, NULL);
	orch_core_unlock(&f->c.core);
	assert_int_equal(http_used(f), 0);

	/* A commit the state refuses (another engine has the name): the
	 * slot unwinds, its ports go back, the breaker trial too. */
	s = reserve_ok(f);
	commit_ok(f, &s);
	s2 = reserve_ok(f);
	sp = spec_for(&s2, id, name);
	sp.container_name = "acestream-1";
	assert_int_equal(
	    orch_core_slot_commit(&f->c.core, &s2, &sp, 0.1, &d), ORCH_EEXIST);
	assert_non_null(strstr(d.msg, "not recorded"));
	assert_false(s2.held);
	assert_int_equal(http_used(f), 1);
	assert_int_equal(https_used(f), 1);
	assert_int_equal(f->c.core.provisioning, 0);
	assert_int_equal(f->c.core.metrics.provision_engine_failed, 1);
	assert_int_equal(f->c.core.general.failure_count, 0);
	/* Committing a slot that holds nothing is refused. */
	assert_int_equal(
	    orch_core_slot_commit(&f->c.core, &s2, &sp, 0.1, &d), ORCH_EINVAL);
	fx_free(f);
}

static char *
id_of(const orch_slot *s, char id[80])
{
	sprintf(id, "%064d", s->number);
	return id;
}

/*
 * Defect 1: an engine that starts but never becomes healthy is a breaker
 * failure, not a success. One failure (threshold 2), then an engine that
 * starts: the count stays at 1; past STARTUP_TIMEOUT_S it is the second
 * failure and the breaker opens. The half-open trial's engine keeps the
 * trial until its probe: removed first (a DELETE) gives it back; never
 * healthy reopens the breaker.
 */
static void
test_breaker_counts_healthy(void **state)
{
	fixture *f = fx_new(19000, 19009, 45000, 45009);
	orch_slot a = reserve_ok(f), b, t, x;
	char ids[4][ORCH_CORE_ID_MAX], id[80];
	orch_refusal r;
	orch_diag d;

	(void) state;
	orch_core_slot_abort(&f->c.core, &a, ORCH_SLOT_FAILED, NULL);
	assert_int_equal(f->c.core.general.failure_count, 1);
	b = reserve_ok(f);
	commit_ok(f, &b);
	assert_int_equal(f->c.core.general.failure_count, 1);
	/* A restart of its container does not reset its clock. */
	f->c.now += S(f->c.cfg.startup_timeout_s - 1);
	(void) orch_core_engine_set_running(
	    &f->c.core, id_of(&b, id), false, NULL, NULL, 0);
	(void) orch_core_engine_set_running(
	    &f->c.core, id_of(&b, id), true, NULL, NULL, 0);
	f->c.now += S(1);
	assert_int_equal(orch_core_startup_expired(&f->c.core, ids, 4), 1);
	assert_string_equal(ids[0], id_of(&b, id));
	assert_int_equal(orch_breaker_state_at(&f->c.core.general, f->c.now),
	    ORCH_BREAKER_OPEN);
	assert_int_equal(orch_core_startup_expired(&f->c.core, ids, 4), 0);
	(void) orch_core_engine_drop(&f->c.core, id_of(&b, id), NULL);
	assert_int_equal(reserve(f, 0, &x, &r, &d), ORCH_EPRECOND);
	assert_int_equal(r.code, ORCH_REFUSE_BREAKER);

	/* Half-open: the trial's engine removed before its probe. */
	f->c.now += S(f->c.cfg.cb_recovery_timeout_s + 1);
	t = reserve_ok(f);
	commit_ok(f, &t);
	assert_true(f->c.core.general.trial_in_flight);
	(void) orch_core_engine_drop(&f->c.core, id_of(&t, id), NULL);
	assert_false(f->c.core.general.trial_in_flight);
	/* The next trial never becomes healthy: open again. */
	t = reserve_ok(f);
	commit_ok(f, &t);
	f->c.now += S(f->c.cfg.startup_timeout_s);
	assert_int_equal(orch_core_startup_expired(&f->c.core, ids, 4), 1);
	assert_false(f->c.core.general.trial_in_flight);
	assert_int_equal(orch_breaker_state_at(&f->c.core.general, f->c.now),
	    ORCH_BREAKER_OPEN);
	assert_int_equal(f->c.core.metrics.provision_engine_ok, 3);
	fx_free(f);
}

/* Defect 6: numbers the runtime's list shows taken (leftovers) are not
 * offered; another prefix or a malformed name takes nothing. */
static void
test_taken_names(void **state)
{
	fixture *f = fx_new(19000, 19009, 45000, 45009);
	const char *names[] = {"acestream-1", "acestream-2", "acestream-4",
	    "other-3", "acestream-x", "acestream-", "acestream-3a"};
	orch_slot s1, s2;

	(void) state;
	assert_int_equal(
	    orch_core_set_taken_names(&f->c.core, names, 7), ORCH_OK);
	assert_int_equal(f->c.core.n_taken, 3);
	s1 = reserve_ok(f);
	assert_int_equal(s1.number, 3);
	s2 = reserve_ok(f);
	assert_int_equal(s2.number, 5);
	orch_core_slot_abort(&f->c.core, &s1, ORCH_SLOT_INVALID, NULL);
	orch_core_slot_abort(&f->c.core, &s2, ORCH_SLOT_INVALID, NULL);
	/* A new list replaces the old one. */
	assert_int_equal(
	    orch_core_set_taken_names(&f->c.core, names, 1), ORCH_OK);
	s1 = reserve_ok(f);
	assert_int_equal(s1.number, 2);
	orch_core_slot_abort(&f->c.core, &s1, ORCH_SLOT_INVALID, NULL);
	fx_free(f);
}

static void
test_abort_outcomes(void **state)
{
	fixture *f = fx_new(19000, 19009, 45000, 45009);
	orch_slot_opts o = opts(f, 0);
	orch_slot s;
	orch_refusal r;
	orch_diag d;

	(void) state;
	/* Docker down: refusal, docker_ok false, the breaker untouched. */
	s = reserve_ok(f);
	orch_core_slot_abort(&f->c.core, &s, ORCH_SLOT_DOCKER_DOWN, &r);
	assert_int_equal(r.code, ORCH_REFUSE_DOCKER);
	assert_int_equal(r.eta_s, f->c.cfg.monitor_interval_s);
	assert_false(f->c.core.env.docker_ok);
	assert_int_equal(f->c.core.general.failure_count, 0);
	assert_int_equal(f->c.core.metrics.provision_engine_refused, 1);
	orch_core_set_docker_ok(&f->c.core, true);

	/* A custom image missing: refusal; TARGET_IMAGE still fine. */
	o.custom_image = true;
	assert_int_equal(
	    orch_core_slot_reserve(&f->c.core, &o, &s, &r, &d), ORCH_OK);
	orch_core_slot_abort(&f->c.core, &s, ORCH_SLOT_IMAGE_MISSING, &r);
	assert_int_equal(r.code, ORCH_REFUSE_IMAGE);
	assert_true(f->c.core.env.image_ok);
	/* TARGET_IMAGE missing: reported. */
	s = reserve_ok(f);
	orch_core_slot_abort(&f->c.core, &s, ORCH_SLOT_IMAGE_MISSING, &r);
	assert_false(f->c.core.env.image_ok);
	assert_int_equal(f->c.core.general.failure_count, 0);
	assert_int_equal(f->c.core.metrics.provision_engine_refused, 3);
	orch_core_set_image_present(&f->c.core, true);

	/* Invalid request: counted failed, not against the breaker. */
	s = reserve_ok(f);
	orch_core_slot_abort(&f->c.core, &s, ORCH_SLOT_INVALID, &r);
	assert_int_equal(r.code, ORCH_REFUSE_NONE);
	assert_int_equal(f->c.core.general.failure_count, 0);
	assert_int_equal(f->c.core.metrics.provision_engine_failed, 1);
	/* Engine failure: a breaker failure. */
	s = reserve_ok(f);
	orch_core_slot_abort(&f->c.core, &s, ORCH_SLOT_FAILED, &r);
	assert_int_equal(f->c.core.general.failure_count, 1);
	assert_true(f->c.core.general.last_failure_us == T0);
	assert_int_equal(f->c.core.metrics.provision_engine_failed, 2);
	/* Every path gave everything back. */
	assert_int_equal(http_used(f), 0);
	assert_int_equal(https_used(f), 0);
	assert_int_equal(f->c.core.provisioning, 0);
	assert_int_equal(f->c.core.n_inflight, 0);
	assert_false(f->c.core.general.trial_in_flight);
	fx_free(f);
}

/* ---- threads ----------------------------------------------------------- */

typedef struct worker {
	fixture *f;
	int id;
	int ok, refused;
} worker;

static void *
worker_main(void *arg)
{
	worker *w = arg;

	for (int i = 0; i < 500; i++) {
		orch_slot s;
		orch_refusal r;
		orch_diag d;

		if (reserve(w->f, 0, &s, &r, &d) != ORCH_OK) {
			w->refused++;
			continue;
		}
		w->ok++;
		if (i % 3 == 0)
			orch_core_slot_renumber(&w->f->c.core, &s);
		orch_core_slot_abort(&w->f->c.core, &s,
		    i % 2 ? ORCH_SLOT_INVALID : ORCH_SLOT_DOCKER_DOWN, NULL);
		orch_core_set_docker_ok(&w->f->c.core, true);
	}
	return NULL;
}

static void
test_concurrent_slots(void **state)
{
	fixture *f = fx_new(19000, 19999, 45000, 45999);
	pthread_t t[8];
	worker w[8];
	int ok = 0;

	(void) state;
	for (int i = 0; i < 8; i++) {
		w[i] = (worker){f, i, 0, 0};
		assert_int_equal(
		    pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		ok += w[i].ok;
	}
	assert_true(ok > 0);
	assert_int_equal(http_used(f), 0);
	assert_int_equal(https_used(f), 0);
	assert_int_equal(f->c.core.provisioning, 0);
	assert_int_equal(f->c.core.n_inflight, 0);
	assert_int_equal(f->c.core.general.failure_count, 0);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reserve_numbers_and_ports),
	    cmocka_unit_test(test_reserve_refusals),
	    cmocka_unit_test(test_reserve_breaker_trial),
	    cmocka_unit_test(test_reserve_host_port),
	    cmocka_unit_test(test_reserve_pools_exhausted),
	    cmocka_unit_test(test_renumber_and_repick),
	    cmocka_unit_test(test_commit),
	    cmocka_unit_test(test_breaker_counts_healthy),
	    cmocka_unit_test(test_taken_names),
	    cmocka_unit_test(test_abort_outcomes),
	    cmocka_unit_test(test_concurrent_slots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
