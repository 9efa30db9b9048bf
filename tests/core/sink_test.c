/*
 * The core's observer (src/core/sink.h): every change of the ledger is
 * told to the sink, as records and log entries, in order. A recording
 * sink writes one line per call; each case makes changes through the
 * core's own operations (the ones the handlers and controllers use) and
 * checks the lines. Without a sink nothing is called (persistence off).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "src/core/breaker.h"
#include "src/core/control.h"
#include "src/core/core.h"
#include "src/core/provision.h"
#include "src/core/sink.h"
#include "tests/core/fx.h"

#define S(x) ((int64_t) (x) *INT64_C(1000000))
#define T0 S(1700000000)
#define MAX_LINES 256

typedef struct fixture {
	fx_core c;
	char lines[MAX_LINES][256];
	int n;
} fixture;

static void add(fixture *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
add(fixture *f, const char *fmt, ...)
{
	va_list ap;

	assert_true(f->n < MAX_LINES);
	va_start(ap, fmt);
	vsnprintf(f->lines[f->n++], sizeof(f->lines[0]), fmt, ap);
	va_end(ap);
}

static void
r_stream(void *arg, const orch_stream *s, const orch_engine *e)
{
	add(arg, "stream %s %s on %s reason %s", s->id,
	    s->active ? "started" : "ended", e != NULL ? e->container_id : "-",
	    s->end_reason != NULL ? s->end_reason : "-");
}

static void
r_stat(void *arg, const orch_stream *s, const orch_stat *snap)
{
	add(arg, "stat %s %lld", s->id, (long long) snap->peers);
}

static const char *
change_name(orch_sink_change c)
{
	static const char *const n[] = {"?", "put", "removed", "died",
	    "restarted", "health", "forwarded", "lost"};

	return c <= ORCH_SINK_LOST ? n[c] : "?";
}

static void
r_engine(void *arg, const orch_sink_engine *e)
{
	add(arg, "engine %s %s %s %s", change_name(e->change), e->container_id,
	    orch_health_name(e->health), e->reason != NULL ? e->reason : "-");
}

static void
r_res(void *arg, const orch_reservation *r, const char *cid, bool live)
{
	add(arg, "reservation %s %s %s", live ? "live" : "gone", cid,
	    r->id[0] != '\0' ? "id" : "noid");
}

static void
r_breaker(
    void *arg, const char *name, const orch_breaker *b, int from, int64_t at)
{
	(void) at;
	add(arg, "breaker %s %s->%s count %d", name,
	    orch_breaker_state_name((orch_breaker_state) from),
	    orch_breaker_state_name(b->state), b->failure_count);
}

static void
r_log(void *arg, int64_t ts, orch_log_type t, const char *cid, const char *sid,
    const orch_kv *kv, size_t n)
{
	char data[128] = "";
	size_t len = 0;

	(void) ts;
	for (size_t i = 0; i < n; i++)
		len += (size_t) snprintf(data + len, sizeof(data) - len,
		    " %s=%s", kv[i].key, kv[i].value);
	add(arg, "log %s %s %s%s", orch_log_type_name(t),
	    cid != NULL ? cid : "-", sid != NULL ? sid : "-", data);
}

static const orch_sink_ops rec_ops = {
    r_stream, r_stat, r_engine, r_res, r_breaker, r_log};

static fixture *
fx_new(void)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_core_config(&f->c, 0, 4);
	f->c.cfg.cb_failure_threshold = 2;
	f->c.now = T0;
	fx_core_start(&f->c, &rec_ops, f);
	return f;
}

static void
fx_free(fixture *f)
{
	fx_core_fini(&f->c);
	free(f);
}

static int
find(const fixture *f, int from, const char *line)
{
	for (int i = from; i < f->n; i++) {
		if (strcmp(f->lines[i], line) == 0)
			return i;
	}
	return -1;
}

/* line must be recorded (at or after *at, which moves past it: order). */
static void
expect_at(fixture *f, int *at, const char *line)
{
	int i = find(f, *at, line);

	if (i < 0) {
		for (int k = 0; k < f->n; k++)
			fprintf(stderr, "  [%d] %s\n", k, f->lines[k]);
		fail_msg("not recorded (after #%d): %s", *at, line);
	}
	*at = i + 1;
}

static void
expect(fixture *f, const char *line)
{
	int at = 0;

	expect_at(f, &at, line);
}

static orch_stream *
start(fixture *f, const char *cid, const char *sid, const char *res)
{
	orch_stream_start ev;
	orch_stream *s = NULL;

	memset(&ev, 0, sizeof(ev));
	ev.container_id = cid;
	ev.host = cid == NULL ? "10.0.0.9" : NULL;
	ev.port = cid == NULL ? 6878 : 0;
	ev.key_type = "content_id";
	ev.key = sid;
	ev.stream_id = sid;
	ev.reservation_id = res;
	ev.stat_url = "http://127.0.0.1:19000/ace/stat/x";
	orch_core_lock(&f->c.core);
	assert_int_equal(
	    orch_state_stream_start(&f->c.core.state, &ev, f->c.now, &s),
	    ORCH_OK);
	orch_core_unlock(&f->c.core);
	return s;
}

static void
end(fixture *f, const char *sid, const char *reason)
{
	orch_stream *s = NULL;

	orch_core_lock(&f->c.core);
	assert_int_equal(orch_state_stream_end(&f->c.core.state, sid, NULL,
	                     reason, f->c.now, &s),
	    ORCH_OK);
	orch_core_unlock(&f->c.core);
	assert_non_null(s);
}

static void
test_streams_and_stats(void **state)
{
	fixture *f = fx_new();
	orch_engine_spec a = fx_spec("aaa", "acestream-1", 19000, true);
	orch_stat snap = {0};
	int at = 0;

	(void) state;
	assert_true(orch_core_adopt(&f->c.core, &a));
	start(f, "aaa", "s1", NULL);
	snap.ts_us = f->c.now;
	snap.peers = 7;
	snap.has = ORCH_STAT_PEERS;
	assert_int_equal(
	    orch_core_apply_stat(&f->c.core, "s1", &snap), ORCH_OK);
	end(f, "s1", "done");
	/* An unmanaged address: its stream is recorded, its entry is not an
	 * engine record. */
	start(f, NULL, "u1", NULL);
	end(f, "u1", NULL);
	expect_at(f, &at, "engine put aaa unknown -");
	expect_at(f, &at, "log engine_adopted aaa - name=acestream-1");
	expect_at(f, &at, "stream s1 started on aaa reason -");
	expect_at(f, &at, "stat s1 7");
	expect_at(f, &at, "stream s1 ended on aaa reason done");
	expect_at(f, &at, "stream u1 started on 10.0.0.9:6878 reason -");
	expect_at(f, &at, "stream u1 ended on 10.0.0.9:6878 reason -");
	assert_int_equal(at, f->n); /* and nothing else */
	/* A stat for a stream that is not active is no record. */
	assert_int_equal(
	    orch_core_apply_stat(&f->c.core, "s1", &snap), ORCH_ENOTFOUND);
	assert_int_equal(at, f->n);
	fx_free(f);
}

static void
test_engine_changes(void **state)
{
	fixture *f = fx_new();
	orch_engine_spec a = fx_spec("aaa", "acestream-1", 19000, true);
	bool changed;
	int at = 0;

	(void) state;
	assert_true(orch_core_adopt(&f->c.core, &a));
	start(f, "aaa", "s1", NULL);
	/* Probes: healthy, then unhealthy after the threshold. */
	assert_true(
	    orch_core_apply_probe(&f->c.core, "aaa", true, NULL, 0, NULL));
	for (int i = 0; i < f->c.cfg.health_failure_threshold; i++)
		(void) orch_core_apply_probe(
		    &f->c.core, "aaa", false, NULL, 0, NULL);
	/* Docker's die ends the stream (engine_gone), start brings it back. */
	assert_int_equal(orch_core_engine_set_running(
	                     &f->c.core, "aaa", false, &changed, NULL, 0),
	    ORCH_OK);
	assert_int_equal(orch_core_engine_set_running(
	                     &f->c.core, "aaa", true, &changed, NULL, 0),
	    ORCH_OK);
	orch_core_lock(&f->c.core);
	orch_state_engine_set_forwarded(&f->c.core.state,
	    orch_state_engine_get(&f->c.core.state, "aaa"), true);
	orch_core_unlock(&f->c.core);
	assert_true(orch_core_engine_drop(&f->c.core, "aaa", "idle"));
	expect_at(f, &at, "engine health aaa healthy -");
	expect_at(f, &at, "engine health aaa unhealthy -");
	expect_at(f, &at, "stream s1 ended on aaa reason engine_gone");
	expect_at(f, &at, "engine died aaa unhealthy -");
	expect_at(f, &at, "engine restarted aaa unknown -");
	expect_at(f, &at, "engine forwarded aaa unknown -");
	expect_at(f, &at, "engine removed aaa unknown idle");
	assert_int_equal(at, f->n);
	fx_free(f);
}

static void
test_reservations(void **state)
{
	fixture *f = fx_new();
	orch_engine_spec a = fx_spec("aaa", "acestream-1", 19000, true);
	char rid[ORCH_RESERVATION_ID_LEN + 1];
	orch_engine *e;
	int at;

	(void) state;
	f->c.cfg.max_streams_per_engine = 1;
	assert_true(orch_core_adopt(&f->c.core, &a));
	at = f->n;
	/* Made, then consumed by a start. */
	orch_core_lock(&f->c.core);
	assert_int_equal(
	    orch_core_select_locked(&f->c.core, true, &e, rid), ORCH_OK);
	orch_core_unlock(&f->c.core);
	expect_at(f, &at, "reservation live aaa id");
	start(f, "aaa", "s1", rid);
	expect_at(f, &at, "reservation gone aaa id");
	end(f, "s1", NULL);
	/* Made, then lapsed. */
	orch_core_lock(&f->c.core);
	assert_int_equal(
	    orch_core_select_locked(&f->c.core, true, &e, rid), ORCH_OK);
	orch_core_unlock(&f->c.core);
	expect_at(f, &at, "reservation live aaa id");
	f->c.now += S(f->c.cfg.reservation_ttl_s + 1);
	orch_core_expire_reservations(&f->c.core);
	expect_at(f, &at, "reservation gone aaa id");
	/* Made, then its engine left. */
	orch_core_lock(&f->c.core);
	assert_int_equal(
	    orch_core_select_locked(&f->c.core, true, &e, rid), ORCH_OK);
	orch_core_unlock(&f->c.core);
	expect_at(f, &at, "reservation live aaa id");
	assert_true(orch_core_engine_drop(&f->c.core, "aaa", NULL));
	expect_at(f, &at, "reservation gone aaa id");
	expect_at(f, &at, "engine removed aaa unknown engine_gone");
	fx_free(f);
}

static void
test_provisioning_and_breakers(void **state)
{
	fixture *f = fx_new();
	orch_slot_opts so;
	orch_slot slot;
	orch_refusal why;
	orch_engine_spec sp;
	int at = 0;

	(void) state;
	memset(&so, 0, sizeof(so));
	orch_core_set_docker_ok(&f->c.core, true);
	orch_core_set_image_present(&f->c.core, true);
	/* Two failures open the general breaker (threshold 2). */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(
		    orch_core_slot_reserve(&f->c.core, &so, &slot, &why, NULL),
		    ORCH_OK);
		orch_core_slot_abort(
		    &f->c.core, &slot, ORCH_SLOT_FAILED, NULL);
	}
	expect_at(f, &at, "breaker general closed->closed count 1");
	expect_at(f, &at, "breaker general closed->open count 2");
	/* Refused while open: the refusal is logged. */
	assert_int_not_equal(
	    orch_core_slot_reserve(&f->c.core, &so, &slot, &why, NULL),
	    ORCH_OK);
	expect_at(f, &at, "log provision_refused - - code=circuit_breaker");
	/* After the timeout, a trial: half-open, then its success closes. */
	f->c.now += S(f->c.cfg.cb_recovery_timeout_s + 1);
	assert_int_equal(
	    orch_core_slot_reserve(&f->c.core, &so, &slot, &why, NULL),
	    ORCH_OK);
	expect_at(f, &at, "breaker general open->half_open count 2");
	sp = fx_spec("ccc", "acestream-1", slot.http_port, true);
	assert_int_equal(
	    orch_core_slot_commit(&f->c.core, &slot, &sp, 0.1, NULL), ORCH_OK);
	expect_at(f, &at, "engine put ccc unknown -");
	expect_at(f, &at, "log engine_provisioned ccc - name=acestream-1");
	/* The trial is decided by the engine's first healthy probe. */
	for (int i = 0; i < f->c.cfg.health_failure_threshold; i++)
		(void) orch_core_apply_probe(
		    &f->c.core, "ccc", true, NULL, 0, NULL);
	expect_at(f, &at, "breaker general half_open->closed count 0");
	/* Docker down mid-way: a refusal too. */
	assert_int_equal(
	    orch_core_slot_reserve(&f->c.core, &so, &slot, &why, NULL),
	    ORCH_OK);
	orch_core_slot_abort(&f->c.core, &slot, ORCH_SLOT_DOCKER_DOWN, NULL);
	expect_at(f, &at, "log provision_refused - - code=docker_unavailable");
	/* A manual reset of an open breaker is a transition. */
	orch_core_lock(&f->c.core);
	f->c.core.replacement.state = ORCH_BREAKER_OPEN;
	f->c.core.replacement.opened_at_us = f->c.now;
	assert_int_equal(
	    orch_core_reset_breaker_locked(&f->c.core, "replacement"),
	    ORCH_OK);
	orch_core_unlock(&f->c.core);
	expect_at(f, &at, "breaker replacement open->closed count 0");
	fx_free(f);
}

static void
test_replacement_vpn_and_log(void **state)
{
	fixture *f = fx_new();
	orch_engine_spec a = fx_spec("aaa", "acestream-1", 19000, true);
	char sick[ORCH_CORE_ID_MAX];
	orch_kv kv[] = {{"MIN_REPLICAS", "0"}};
	orch_env env;
	bool first;
	int at = 0;

	(void) state;
	free(f->c.cfg.gluetun_container_name);
	f->c.cfg.gluetun_container_name = strdup("gluetun");
	f->c.cfg.health_unhealthy_grace_period_s = 0;
	assert_true(orch_core_adopt(&f->c.core, &a));
	for (int i = 0; i < f->c.cfg.health_failure_threshold; i++)
		(void) orch_core_apply_probe(
		    &f->c.core, "aaa", false, NULL, 0, NULL);
	assert_true(orch_core_replacement_begin(&f->c.core, sick, &first));
	orch_core_replacement_end(&f->c.core, true);
	expect_at(f, &at, "log engine_replaced aaa - outcome=replaced");
	/* The VPN's tunnel and forwarded port, from the controllers' env. */
	orch_core_lock(&f->c.core);
	env = f->c.core.env;
	orch_core_unlock(&f->c.core);
	env.vpn_connected = true;
	env.vpn_forwarded_port = 54321;
	orch_core_set_env(&f->c.core, &env);
	env.vpn_connected = false;
	env.vpn_forwarded_port = 0;
	orch_core_set_env(&f->c.core, &env);
	orch_core_set_env(&f->c.core, &env); /* no change: nothing */
	expect_at(f, &at, "log vpn_up - -");
	expect_at(f, &at, "log vpn_forwarded_port - - from=0 to=54321");
	expect_at(f, &at, "log vpn_down - -");
	expect_at(f, &at, "log vpn_forwarded_port - - from=54321 to=0");
	assert_int_equal(at, f->n);
	orch_core_log(&f->c.core, ORCH_LOG_CONFIG, NULL, NULL, kv, 1);
	expect(f, "log config - - MIN_REPLICAS=0");
	fx_free(f);
}

static void
test_no_sink_calls_nothing(void **state)
{
	fixture *f = fx_new();
	orch_engine_spec a = fx_spec("aaa", "acestream-1", 19000, true);

	(void) state;
	orch_core_set_sink(&f->c.core, NULL);
	assert_true(orch_core_adopt(&f->c.core, &a));
	start(f, "aaa", "s1", NULL);
	end(f, "s1", NULL);
	orch_core_log(&f->c.core, ORCH_LOG_STARTED, NULL, NULL, NULL, 0);
	assert_true(orch_core_engine_drop(&f->c.core, "aaa", NULL));
	assert_int_equal(f->n, 0);
	fx_free(f);
}

static void
test_type_names(void **state)
{
	(void) state;
	assert_null(orch_log_type_name(ORCH_LOG_NONE));
	assert_null(orch_log_type_name(ORCH_LOG_TYPE_COUNT));
	for (int t = ORCH_LOG_NONE + 1; t < ORCH_LOG_TYPE_COUNT; t++) {
		const char *n = orch_log_type_name((orch_log_type) t);

		assert_non_null(n);
		assert_int_equal(orch_log_type_from_name(n), t);
		for (int u = t + 1; u < ORCH_LOG_TYPE_COUNT; u++)
			assert_string_not_equal(
			    n, orch_log_type_name((orch_log_type) u));
	}
	assert_int_equal(orch_log_type_from_name("nope"), ORCH_LOG_NONE);
	assert_int_equal(orch_log_type_from_name(NULL), ORCH_LOG_NONE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_streams_and_stats),
	    cmocka_unit_test(test_engine_changes),
	    cmocka_unit_test(test_reservations),
	    cmocka_unit_test(test_provisioning_and_breakers),
	    cmocka_unit_test(test_replacement_vpn_and_log),
	    cmocka_unit_test(test_no_sink_calls_nothing),
	    cmocka_unit_test(test_type_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
