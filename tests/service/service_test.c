/*
 * The RPC service's core handlers (src/service) over a real server and client
 * on inproc://, judged against CONTRACT.md: every handler's reply field by
 * field, authentication, validation that names the field and leaves the
 * state alone, and a race for the last free slot.
 *
 * Each test opens its own core (orch_config_defaults() plus overrides, a
 * manual clock), server and client. Engines are put into the state
 * directly (the Docker runtime is not part of this test); what the
 * controllers would report goes through orch_core_set_env(). Nothing
 * sleeps: time moves only by the manual clock (moved under the core's lock,
 * which every handler holds while it reads the clock), and the race waits
 * for its completions on a condition variable with a generous deadline.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/err.h"
#include "src/base/version.h"
#include "src/core/breaker.h"
#include "src/core/config.h"
#include "src/core/core.h"
#include "src/core/vpn.h"
#include "src/core/vpncfg.h"
#include "src/rpc/client.h"
#include "src/rpc/server.h"
#include "src/service/service.h"

#define T0 1704110400000000LL /* 2024-01-01T12:00:00Z */
#define SEC 1000000LL

/* ------------------------------------------------------------------------ */
/* Fixture: config + core + server + client. */

typedef void (*tweak_fn)(orch_config *cfg);

struct fx {
	orch_config cfg;
	int64_t now; /* the manual clock; written under the core's lock */
	orch_core core;
	bool core_ok;
	orch_service svc; /* core only: no runtime */
	orch_rpc_server *srv;
	orch_rpc_client *cli;
	char url[64];
	const char *auth;      /* sent with mutating calls of the helpers */
	const char *read_auth; /* sent with reading calls of the helpers */
};

static void
set_str(char **p, const char *v)
{
	free(*p);
	*p = v != NULL ? strdup(v) : NULL;
}

static struct fx *
fx_open(void **state, tweak_fn tweak)
{
	static atomic_int seq;
	struct fx *fx = calloc(1, sizeof(*fx));
	size_t n = 0;
	const orch_method *m = orch_service_methods(&n);
	orch_rpc_server_opts o = {
	    .service = &orch__orchestrator__descriptor,
	    .methods = m,
	    .n_methods = n,
	    .authorize = orch_service_authorize,
	    .contexts = 64,
	    .workers = 2,
	};

	assert_non_null(fx);
	*state = fx;
	orch_config_defaults(&fx->cfg);
	if (tweak != NULL)
		tweak(&fx->cfg);
	fx->now = T0;
	assert_int_equal(orch_core_init(&fx->core, &fx->cfg,
	                     orch_clock_manual(&fx->now), NULL),
	    ORCH_OK);
	fx->core_ok = true;
	fx->svc.core = &fx->core;
	o.arg = &fx->svc;
	snprintf(fx->url, sizeof(fx->url), "inproc://service-test-%d",
	    atomic_fetch_add(&seq, 1));
	assert_int_equal(orch_rpc_server_open(&o, &fx->srv), ORCH_OK);
	assert_int_equal(orch_rpc_server_listen(fx->srv, fx->url), ORCH_OK);
	assert_int_equal(orch_rpc_client_open(fx->url, &fx->cli), ORCH_OK);
	return fx;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	if (fx == NULL)
		return 0;
	orch_rpc_client_close(fx->cli);
	orch_rpc_server_close(fx->srv);
	if (fx->core_ok)
		orch_core_fini(&fx->core);
	orch_config_fini(&fx->cfg);
	free(fx);
	*state = NULL;
	return 0;
}

/* What the controllers would report. */
static void
set_env(struct fx *fx, bool docker_ok, bool image_ok, bool vpn_connected)
{
	orch_env e;

	memset(&e, 0, sizeof(e));
	e.docker_ok = docker_ok;
	e.image_ok = image_ok;
	e.vpn_connected = vpn_connected;
	snprintf(e.vpn_status, sizeof(e.vpn_status), "%s",
	    fx->cfg.gluetun_container_name != NULL ? "running" : "disabled");
	snprintf(e.vpn_health, sizeof(e.vpn_health), "%s",
	    vpn_connected ? "healthy" : "unknown");
	orch_core_set_env(&fx->core, &e);
}

static void
env_ok(struct fx *fx)
{
	set_env(fx, true, true, true);
}

static void
advance(struct fx *fx, int64_t us)
{
	orch_core_lock(&fx->core);
	fx->now += us;
	orch_core_unlock(&fx->core);
}

/* A managed engine as the runtime would put it. */
static void
put_engine_full(struct fx *fx, const char *id, const char *name,
    const char *host, int port, int host_port, bool running, bool forwarded)
{
	char pbuf[16];
	orch_label labels[2] = {
	    {(char *) "orchestrator.managed", (char *) "acestream"},
	    {(char *) "acestream.http_port", pbuf},
	};
	orch_engine_spec s;
	orch_err rv;

	snprintf(pbuf, sizeof(pbuf), "%d", port);
	memset(&s, 0, sizeof(s));
	s.container_id = id;
	s.container_name = name;
	s.host = host;
	s.port = port;
	s.host_http_port = host_port;
	s.container_http_port = port;
	s.labels = labels;
	s.n_labels = 2;
	s.running = running;
	s.forwarded = forwarded;
	orch_core_lock(&fx->core);
	rv = orch_core_engine_put_locked(&fx->core, &s, NULL);
	orch_core_unlock(&fx->core);
	assert_int_equal(rv, ORCH_OK);
}

static void
put_engine(struct fx *fx, const char *id, const char *name, const char *host,
    int port, int host_port)
{
	put_engine_full(fx, id, name, host, port, host_port, true, false);
}

/* n probe results for engine id. */
static void
probe(struct fx *fx, const char *id, bool ok, int n)
{
	orch_engine *e;

	orch_core_lock(&fx->core);
	e = orch_state_engine_get(&fx->core.state, id);
	for (int i = 0; e != NULL && i < n; i++)
		orch_state_engine_probe(&fx->core.state, e, ok,
		    fx->cfg.health_failure_threshold, fx->now);
	orch_core_unlock(&fx->core);
	assert_non_null(e);
}

static void
healthy(struct fx *fx, const char *id)
{
	probe(fx, id, true, 1);
}

static void
unhealthy(struct fx *fx, const char *id)
{
	probe(fx, id, false, fx->cfg.health_failure_threshold);
}

static void
mark(struct fx *fx, const char *id)
{
	orch_engine *e;

	orch_core_lock(&fx->core);
	e = orch_state_engine_get(&fx->core.state, id);
	if (e != NULL)
		orch_state_engine_set_marked(&fx->core.state, e, true);
	orch_core_unlock(&fx->core);
	assert_non_null(e);
}

static void
breaker_fail(struct fx *fx, orch_breaker *b, int n)
{
	orch_core_lock(&fx->core);
	for (int i = 0; i < n; i++)
		orch_breaker_record_failure(b, fx->now);
	orch_core_unlock(&fx->core);
}

static int
reservations(struct fx *fx)
{
	int n;

	orch_core_lock(&fx->core);
	n = fx->core.state.counts.reservations;
	orch_core_unlock(&fx->core);
	return n;
}

/* ------------------------------------------------------------------------ */
/* Calls. */

static orch_err
call(struct fx *fx, const char *method, const void *req, const char *auth,
    orch_rpc_result *res)
{
	orch_rpc_call_opts o = {.authorization = auth, .timeout_ms = 30000};

	return orch_rpc_invoke(
	    fx->cli, method, (const ProtobufCMessage *) req, &o, res);
}

static void
expect(orch_err got, const orch_rpc_result *res, orch_err want)
{
	if (got != want)
		print_message("got %s (%s), want %s\n",
		    orch_err_status_name(got),
		    res->message != NULL ? res->message : "-",
		    orch_err_status_name(want));
	assert_int_equal(got, want);
}

/* INVALID_ARGUMENT naming field, in the detail and in the message. */
static void
expect_field(orch_err got, const orch_rpc_result *res, const char *field)
{
	expect(got, res, ORCH_EINVAL);
	assert_non_null(res->detail);
	assert_non_null(res->detail->field);
	assert_string_equal(res->detail->field, field);
	assert_non_null(res->message);
	assert_non_null(strstr(res->message, field));
}

static void
assert_ts(const Orch__Timestamp *t, int64_t us)
{
	if (us == 0) {
		assert_null(t);
	} else {
		assert_non_null(t);
		assert_int_equal(t->unix_micros, us);
	}
}

static bool
is_hex32(const char *s)
{
	if (s == NULL || strlen(s) != 32)
		return false;
	for (const char *p = s; *p; p++) {
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	}
	return true;
}

static const char *
label_of(const Orch__Engine *e, const char *k)
{
	for (size_t i = 0; i < e->n_labels; i++) {
		if (strcmp(e->labels[i]->key, k) == 0)
			return e->labels[i]->value;
	}
	return NULL;
}

/* ListEngines (read auth), OK; the reply stays in *res. */
static const Orch__EngineList *
list_engines(struct fx *fx, orch_rpc_result *res)
{
	Orch__ListEnginesRequest req = ORCH__LIST_ENGINES_REQUEST__INIT;

	expect(
	    call(fx, "ListEngines", &req, fx->read_auth, res), res, ORCH_OK);
	assert_non_null(res->reply);
	return (const void *) res->reply;
}

static const Orch__Engine *
find_engine(const Orch__EngineList *l, const char *id)
{
	for (size_t i = 0; i < l->n_engines; i++) {
		if (strcmp(l->engines[i]->container_id, id) == 0)
			return l->engines[i];
	}
	return NULL;
}

static const Orch__StreamList *
list_streams(struct fx *fx, const char *container_id, const char *status,
    int limit, orch_rpc_result *res)
{
	Orch__ListStreamsRequest req = ORCH__LIST_STREAMS_REQUEST__INIT;

	req.container_id = (char *) container_id;
	req.status = (char *) status;
	if (limit != 0) {
		req.has_limit = 1;
		req.limit = limit;
	}
	expect(
	    call(fx, "ListStreams", &req, fx->read_auth, res), res, ORCH_OK);
	assert_non_null(res->reply);
	return (const void *) res->reply;
}

/* ListStreams' ids in order, compared as one "a,b," string after the
 * result is released (a failure then reports both lists and leaks
 * nothing). */
static void
expect_streams(struct fx *fx, const char *container_id, const char *status,
    int limit, const char *const *want)
{
	orch_rpc_result res;
	const Orch__StreamList *l =
	    list_streams(fx, container_id, status, limit, &res);
	char got[4096] = "", exp[4096] = "";
	size_t n = 0;

	for (size_t i = 0; i < l->n_streams; i++)
		n += (size_t) snprintf(got + n,
		    n < sizeof(got) ? sizeof(got) - n : 0, "%s,",
		    l->streams[i]->id);
	orch_rpc_result_fini(&res);
	n = 0;
	for (size_t i = 0; want[i] != NULL; i++)
		n += (size_t) snprintf(exp + n,
		    n < sizeof(exp) ? sizeof(exp) - n : 0, "%s,", want[i]);
	assert_string_equal(got, exp);
}

static const Orch__OrchestratorStatus *
get_status(struct fx *fx, orch_rpc_result *res)
{
	Orch__GetStatusRequest req = ORCH__GET_STATUS_REQUEST__INIT;
	const Orch__OrchestratorStatus *st;

	expect(call(fx, "GetStatus", &req, fx->read_auth, res), res, ORCH_OK);
	st = (const void *) res->reply;
	assert_non_null(st);
	assert_non_null(st->engines);
	assert_non_null(st->streams);
	assert_non_null(st->capacity);
	assert_non_null(st->vpn);
	assert_non_null(st->provisioning);
	assert_non_null(st->config);
	assert_non_null(st->version);
	assert_string_equal(st->version, ORCH_VERSION);
	return st;
}

static const Orch__HealthSummary *
get_health(struct fx *fx, orch_rpc_result *res)
{
	Orch__GetHealthRequest req = ORCH__GET_HEALTH_REQUEST__INIT;
	const Orch__HealthSummary *h;

	expect(call(fx, "GetHealth", &req, fx->read_auth, res), res, ORCH_OK);
	h = (const void *) res->reply;
	assert_non_null(h);
	assert_non_null(h->circuit_breakers);
	assert_non_null(h->circuit_breakers->general);
	assert_non_null(h->circuit_breakers->replacement);
	return h;
}

/* A stream_started body; pointers stay inside the struct. */
struct started {
	Orch__StreamStartedRequest req;
	Orch__EngineAddress eng;
	Orch__StreamKey key;
	Orch__SessionInfo ses;
	Orch__StreamStartedRequest__LabelsEntry lab[4];
	Orch__StreamStartedRequest__LabelsEntry *labp[4];
};

static void
started_init(struct started *s, const char *host, int port, const char *key,
    const char *psid)
{
	Orch__StreamStartedRequest r = ORCH__STREAM_STARTED_REQUEST__INIT;
	Orch__EngineAddress a = ORCH__ENGINE_ADDRESS__INIT;
	Orch__StreamKey k = ORCH__STREAM_KEY__INIT;
	Orch__SessionInfo ses = ORCH__SESSION_INFO__INIT;

	memset(s, 0, sizeof(*s));
	s->req = r;
	s->eng = a;
	s->key = k;
	s->ses = ses;
	s->eng.host = (char *) host;
	s->eng.has_port = 1;
	s->eng.port = port;
	s->req.engine = host != NULL ? &s->eng : NULL;
	s->key.key_type = "infohash";
	s->key.key = (char *) key;
	s->req.stream = &s->key;
	s->ses.playback_session_id = (char *) psid;
	s->ses.stat_url = "http://127.0.0.1:6878/ace/stat/abc/xyz";
	s->ses.command_url = "http://127.0.0.1:6878/ace/cmd/abc/xyz";
	s->ses.has_is_live = 1;
	s->ses.is_live = 1;
	s->req.session = &s->ses;
}

static void
started_label(struct started *s, const char *k, const char *v)
{
	Orch__StreamStartedRequest__LabelsEntry e =
	    ORCH__STREAM_STARTED_REQUEST__LABELS_ENTRY__INIT;
	size_t i = s->req.n_labels;

	assert_true(i < 4);
	s->lab[i] = e;
	s->lab[i].key = (char *) k;
	s->lab[i].value = (char *) v;
	s->labp[i] = &s->lab[i];
	s->req.labels = s->labp;
	s->req.n_labels = i + 1;
}

static orch_err
started_call(struct fx *fx, struct started *s, orch_rpc_result *res)
{
	return call(fx, "StreamStarted", &s->req, fx->auth, res);
}

/* Starts key|psid on the engine found from (cid, host:port); returns
 * the container id the stream landed on (static buffer). */
static const char *
start_ok(struct fx *fx, const char *cid, const char *host, int port,
    const char *key, const char *psid)
{
	static char landed[128];
	struct started s;
	orch_rpc_result res;
	const Orch__Stream *st;

	started_init(&s, host, port, key, psid);
	s.req.container_id = (char *) cid;
	expect(started_call(fx, &s, &res), &res, ORCH_OK);
	st = (const void *) res.reply;
	assert_non_null(st);
	snprintf(landed, sizeof(landed), "%s", st->container_id);
	orch_rpc_result_fini(&res);
	return landed;
}

/* StreamEnded; asserts `updated`. */
static void
end_stream(struct fx *fx, const char *stream_id, const char *container_id,
    const char *reason, bool want_updated)
{
	Orch__StreamEndedRequest req = ORCH__STREAM_ENDED_REQUEST__INIT;
	orch_rpc_result res;
	const Orch__StreamEndedReply *rep;

	req.stream_id = (char *) stream_id;
	req.container_id = (char *) container_id;
	req.reason = (char *) reason;
	expect(call(fx, "StreamEnded", &req, fx->auth, &res), &res, ORCH_OK);
	rep = (const void *) res.reply;
	assert_non_null(rep);
	assert_int_equal(rep->updated, want_updated);
	if (want_updated)
		assert_non_null(rep->stream);
	else
		assert_null(rep->stream);
	orch_rpc_result_fini(&res);
}

/*
 * Everything an RPC client can see of the state (plus the reservation
 * count), as one string: compared before and after a refused call.
 */
static char *
digest(struct fx *fx)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	orch_rpc_result r1, r2, r3, r4;
	const Orch__OrchestratorStatus *st = get_status(fx, &r1);
	const Orch__EngineList *el = list_engines(fx, &r2);
	const Orch__StreamList *sl = list_streams(fx, NULL, NULL, 0, &r3);
	const Orch__HealthSummary *h = get_health(fx, &r4);

	assert_non_null(f);
	fprintf(f,
	    "status=%s engines=%d/%d/%d/%d streams=%d/%d used=%d "
	    "cb=%s\n",
	    st->status, st->engines->total, st->engines->running,
	    st->engines->healthy, st->engines->unhealthy, st->streams->active,
	    st->streams->total, st->capacity->used,
	    st->provisioning->circuit_breaker_state);
	for (size_t i = 0; i < el->n_engines; i++) {
		const Orch__Engine *e = el->engines[i];

		fprintf(f, "E %s %s:%d %s [", e->container_id, e->host,
		    e->port, e->health_status);
		for (size_t j = 0; j < e->n_streams; j++)
			fprintf(f, "%s,", e->streams[j]);
		fprintf(f, "]\n");
	}
	for (size_t i = 0; i < sl->n_streams; i++) {
		const Orch__Stream *s = sl->streams[i];

		fprintf(f, "S %s %s %s %s %s %lld %lld\n", s->id, s->status,
		    s->container_id, s->end_reason ? s->end_reason : "null",
		    s->stat_url ? s->stat_url : "null",
		    (long long) (s->started_at ? s->started_at->unix_micros
		                               : 0),
		    (long long) (s->ended_at ? s->ended_at->unix_micros : 0));
	}
	fprintf(f, "B %s/%d %s/%d\n", h->circuit_breakers->general->state,
	    h->circuit_breakers->general->failure_count,
	    h->circuit_breakers->replacement->state,
	    h->circuit_breakers->replacement->failure_count);
	fprintf(f, "R %d\n", reservations(fx));
	fclose(f);
	orch_rpc_result_fini(&r1);
	orch_rpc_result_fini(&r2);
	orch_rpc_result_fini(&r3);
	orch_rpc_result_fini(&r4);
	return buf;
}

/* ------------------------------------------------------------------------ */
/* Config overrides. */

static void
tw_many_streams(orch_config *c)
{
	c->max_streams_per_engine = 5000;
}

static void
tw_stats(orch_config *c)
{
	c->stats_history_max = 4;
}

static void
tw_engine_host(orch_config *c)
{
	set_str(&c->engine_host, "orch.example");
	c->max_streams_per_engine = 100;
}

static void
tw_two_per_engine(orch_config *c)
{
	c->max_streams_per_engine = 2;
}

static void
tw_one_replica(orch_config *c)
{
	c->max_replicas = 1;
}

static void
tw_two_replicas(orch_config *c)
{
	c->max_replicas = 2;
	c->min_replicas = 1;
}

static void
tw_ttl(orch_config *c)
{
	c->reservation_ttl_s = 7;
}

static void
tw_vpn(orch_config *c)
{
	set_str(&c->gluetun_container_name, "gluetun");
	assert_int_equal(orch_vpncfg_split(c, NULL), ORCH_OK);
}

static void
tw_health(orch_config *c)
{
	c->cb_failure_threshold = 4;
	c->cb_recovery_timeout_s = 120;
	c->cb_replacement_threshold = 2;
	c->cb_replacement_timeout_s = 60;
	c->min_replicas = 2;
	c->health_check_interval_s = 7;
}

static void
tw_api_key(orch_config *c)
{
	set_str(&c->api_key, "sekrit");
}

static void
tw_read_key(orch_config *c)
{
	set_str(&c->api_key, "sekrit");
	set_str(&c->read_api_key, "reader");
}

static void
tw_read_key_only(orch_config *c)
{
	set_str(&c->read_api_key, "reader");
}

/* ------------------------------------------------------------------------ */
/* Ping */

static void
test_ping(void **state)
{
	struct fx *fx = fx_open(state, tw_read_key);
	Orch__PingRequest req = ORCH__PING_REQUEST__INIT;
	const char *auths[] = {
	    NULL, "Basic x", "Bearer wrong", "Bearer reader"};
	orch_rpc_result res;

	/* Always open, whatever is sent, keys configured or not. */
	for (size_t i = 0; i < sizeof(auths) / sizeof(auths[0]); i++) {
		const Orch__PingReply *rep;

		expect(call(fx, "Ping", &req, auths[i], &res), &res, ORCH_OK);
		rep = (const Orch__PingReply *) res.reply;
		assert_non_null(rep);
		assert_string_equal(rep->status, "ok");
		/* The version and build of this library; this fixture's
		 * service carries no revision. */
		assert_non_null(rep->version);
		assert_string_equal(rep->version, ORCH_VERSION);
		assert_non_null(rep->build);
		assert_string_equal(rep->build, orch_build_mode());
		assert_non_null(rep->revision);
		assert_string_equal(rep->revision, "unknown");
		orch_rpc_result_fini(&res);
	}
}

/* ------------------------------------------------------------------------ */
/* ListEngines / GetEngine */

static void
test_list_engines_sorted_with_fields(void **state)
{
	struct fx *fx = fx_open(state, tw_two_per_engine);
	orch_rpc_result res;
	const Orch__EngineList *l;
	const Orch__Engine *e;

	env_ok(fx);
	l = list_engines(fx, &res);
	assert_int_equal(l->n_engines, 0);
	orch_rpc_result_fini(&res);

	/* Put out of port order, at different times. */
	put_engine(fx, "c3", "acestream-3", "10.0.0.1", 19003, 19003);
	advance(fx, SEC);
	put_engine(fx, "c1", "acestream-1", "10.0.0.1", 19001, 19001);
	advance(fx, SEC);
	put_engine(fx, "c2", "acestream-2", "10.0.0.1", 19002, 19002);
	/* Same advertised port on another host: ties break by id. */
	put_engine_full(
	    fx, "c0", "acestream-0", "10.0.0.2", 19001, 19010, true, true);

	l = list_engines(fx, &res);
	assert_int_equal(l->n_engines, 4);
	assert_string_equal(l->engines[0]->container_id, "c0");
	assert_string_equal(l->engines[1]->container_id, "c1");
	assert_string_equal(l->engines[2]->container_id, "c2");
	assert_string_equal(l->engines[3]->container_id, "c3");

	e = l->engines[1];
	assert_string_equal(e->container_name, "acestream-1");
	assert_string_equal(e->host, "10.0.0.1");
	assert_int_equal(e->port, 19001);
	assert_int_equal(e->n_labels, 2);
	assert_string_equal(label_of(e, "orchestrator.managed"), "acestream");
	assert_string_equal(label_of(e, "acestream.http_port"), "19001");
	assert_false(e->forwarded);
	assert_string_equal(e->health_status, "unknown");
	assert_ts(e->first_seen, T0 + SEC);
	assert_ts(e->last_seen, T0 + SEC);
	assert_ts(e->last_health_check, 0);
	assert_ts(e->last_stream_usage, 0);
	assert_ts(e->last_cache_cleanup, 0);
	assert_false(e->has_cache_size_bytes);
	assert_int_equal(e->n_streams, 0);
	assert_true(l->engines[0]->forwarded);
	assert_ts(l->engines[3]->first_seen, T0);
	orch_rpc_result_fini(&res);

	/* A probe: health and last_health_check. */
	advance(fx, 10 * SEC);
	healthy(fx, "c1");
	unhealthy(fx, "c2");
	/* Streams: last_stream_usage and only the active ids. */
	advance(fx, 10 * SEC);
	start_ok(fx, "c1", NULL, 0, "k1", "p1");
	advance(fx, SEC);
	start_ok(fx, "c1", NULL, 0, "k2", "p2");
	advance(fx, SEC);
	end_stream(fx, "k1|p1", NULL, "done", true);

	l = list_engines(fx, &res);
	e = find_engine(l, "c1");
	assert_non_null(e);
	assert_string_equal(e->health_status, "healthy");
	assert_ts(e->last_health_check, T0 + 12 * SEC);
	assert_ts(e->first_seen, T0 + SEC);
	/* Set by stream activity (the start at T0+22 at the earliest; the
	 * contract does not say whether an end also counts as usage). */
	assert_non_null(e->last_stream_usage);
	assert_true(e->last_stream_usage->unix_micros >= T0 + 22 * SEC);
	assert_true(e->last_stream_usage->unix_micros <= T0 + 24 * SEC);
	assert_int_equal(e->n_streams, 1);
	assert_string_equal(e->streams[0], "k2|p2");
	e = find_engine(l, "c2");
	assert_string_equal(e->health_status, "unhealthy");
	assert_ts(e->last_health_check, T0 + 12 * SEC);
	assert_ts(e->last_stream_usage, 0);
	assert_string_equal(find_engine(l, "c3")->health_status, "unknown");
	orch_rpc_result_fini(&res);

	/* The runtime re-puts a known container (a reconcile): same entry,
	 * first_seen kept, streams kept. */
	advance(fx, 5 * SEC);
	put_engine(fx, "c1", "acestream-1", "10.0.0.1", 19001, 19001);
	l = list_engines(fx, &res);
	assert_int_equal(l->n_engines, 4);
	e = find_engine(l, "c1");
	assert_ts(e->first_seen, T0 + SEC);
	assert_int_equal(e->n_streams, 1);
	orch_rpc_result_fini(&res);
}

static void
test_get_engine(void **state)
{
	struct fx *fx = fx_open(state, tw_many_streams);
	Orch__GetEngineRequest req = ORCH__GET_ENGINE_REQUEST__INIT;
	orch_rpc_result res;
	const Orch__GetEngineReply *rep;

	env_ok(fx);
	put_engine(fx, "c1", "acestream-1", "10.0.0.1", 19001, 19001);
	put_engine(fx, "c2", "acestream-2", "10.0.0.1", 19002, 19002);
	start_ok(fx, "c1", NULL, 0, "a", "1");
	advance(fx, SEC);
	start_ok(fx, "c1", NULL, 0, "b", "1");
	advance(fx, SEC);
	start_ok(fx, "c1", NULL, 0, "c", "1");
	start_ok(fx, "c2", NULL, 0, "d", "1");
	advance(fx, SEC);
	end_stream(fx, "b|1", NULL, NULL, true);

	req.container_id = "c1";
	expect(call(fx, "GetEngine", &req, NULL, &res), &res, ORCH_OK);
	rep = (const void *) res.reply;
	assert_non_null(rep->engine);
	assert_string_equal(rep->engine->container_id, "c1");
	assert_string_equal(rep->engine->container_name, "acestream-1");
	assert_string_equal(rep->engine->host, "10.0.0.1");
	assert_int_equal(rep->engine->port, 19001);
	assert_string_equal(rep->engine->health_status, "unknown");
	assert_int_equal(rep->engine->n_streams, 2);
	/* Its active streams only, newest first. */
	assert_int_equal(rep->n_streams, 2);
	assert_string_equal(rep->streams[0]->id, "c|1");
	assert_string_equal(rep->streams[1]->id, "a|1");
	for (size_t i = 0; i < rep->n_streams; i++) {
		assert_string_equal(rep->streams[i]->status, "started");
		assert_string_equal(rep->streams[i]->container_id, "c1");
		assert_null(rep->streams[i]->ended_at);
	}
	orch_rpc_result_fini(&res);

	/* Unknown -> NOT_FOUND (fix: the reference answered 200). */
	req.container_id = "nope";
	expect(call(fx, "GetEngine", &req, NULL, &res), &res, ORCH_ENOTFOUND);
	assert_null(res.reply);
	orch_rpc_result_fini(&res);

	req.container_id = NULL;
	expect_field(
	    call(fx, "GetEngine", &req, NULL, &res), &res, "container_id");
	orch_rpc_result_fini(&res);
	req.container_id = "";
	expect_field(
	    call(fx, "GetEngine", &req, NULL, &res), &res, "container_id");
	orch_rpc_result_fini(&res);
}

/* ------------------------------------------------------------------------ */
/* ListStreams / GetStreamStats */

static void
test_list_streams_filters(void **state)
{
	struct fx *fx = fx_open(state, tw_many_streams);
	orch_rpc_result res;
	const Orch__StreamList *l;
	const Orch__Stream *s;

	env_ok(fx);
	put_engine(fx, "e1", "acestream-1", "10.0.0.1", 19001, 19001);
	put_engine(fx, "e2", "acestream-2", "10.0.0.1", 19002, 19002);
	expect_streams(fx, NULL, NULL, 0, (const char *[]){NULL});

	start_ok(fx, "e1", NULL, 0, "s1", "p"); /* T0 */
	advance(fx, SEC);
	start_ok(fx, "e2", NULL, 0, "s2", "p"); /* T0+1 */
	advance(fx, SEC);
	start_ok(fx, "e1", NULL, 0, "s3", "p"); /* T0+2 */
	advance(fx, SEC);
	start_ok(fx, "e2", NULL, 0, "s4", "p"); /* T0+3 */
	advance(fx, SEC);
	end_stream(fx, "s1|p", NULL, "client_disconnect", true); /* T0+4 */
	advance(fx, SEC);
	end_stream(fx, "s4|p", NULL, NULL, true); /* T0+5 */

	expect_streams(fx, NULL, NULL, 0,
	    (const char *[]){"s4|p", "s3|p", "s2|p", "s1|p", NULL});
	expect_streams(
	    fx, NULL, "started", 0, (const char *[]){"s3|p", "s2|p", NULL});
	expect_streams(
	    fx, NULL, "ended", 0, (const char *[]){"s4|p", "s1|p", NULL});
	expect_streams(
	    fx, "e1", NULL, 0, (const char *[]){"s3|p", "s1|p", NULL});
	expect_streams(fx, "e1", "started", 0, (const char *[]){"s3|p", NULL});
	expect_streams(fx, "e1", "ended", 0, (const char *[]){"s1|p", NULL});
	expect_streams(fx, "e2", "started", 0, (const char *[]){"s2|p", NULL});
	expect_streams(fx, "nope", NULL, 0, (const char *[]){NULL});
	/* An explicit limit cuts, active streams included. */
	expect_streams(
	    fx, NULL, NULL, 2, (const char *[]){"s4|p", "s3|p", NULL});
	expect_streams(fx, NULL, "started", 1, (const char *[]){"s3|p", NULL});
	expect_streams(fx, "e2", NULL, 1, (const char *[]){"s4|p", NULL});
	expect_streams(fx, NULL, NULL, 1000,
	    (const char *[]){"s4|p", "s3|p", "s2|p", "s1|p", NULL});

	/* A Stream, field by field: ended and active. */
	l = list_streams(fx, "e1", NULL, 0, &res);
	s = l->streams[1];
	assert_string_equal(s->id, "s1|p");
	assert_string_equal(s->key_type, "infohash");
	assert_string_equal(s->key, "s1");
	assert_string_equal(s->container_id, "e1");
	assert_string_equal(s->playback_session_id, "p");
	assert_string_equal(
	    s->stat_url, "http://127.0.0.1:6878/ace/stat/abc/xyz");
	assert_string_equal(
	    s->command_url, "http://127.0.0.1:6878/ace/cmd/abc/xyz");
	assert_true(s->is_live);
	assert_ts(s->started_at, T0);
	assert_ts(s->ended_at, T0 + 4 * SEC);
	assert_string_equal(s->status, "ended");
	assert_string_equal(s->end_reason, "client_disconnect");
	assert_null(s->stats);
	s = l->streams[0];
	assert_string_equal(s->status, "started");
	assert_ts(s->started_at, T0 + 2 * SEC);
	assert_ts(s->ended_at, 0);
	assert_null(s->end_reason);
	orch_rpc_result_fini(&res);
}

/* 1,100 active streams (oldest) and 200 ended ones (newest): the default
 * limit of 1000 never cuts an active stream; an explicit one does. */
static void
test_list_streams_default_limit_keeps_active(void **state)
{
	struct fx *fx = fx_open(state, tw_many_streams);
	orch_rpc_result res;
	const Orch__StreamList *l;
	const Orch__OrchestratorStatus *st;
	char key[32];
	size_t active;

	env_ok(fx);
	put_engine(fx, "e1", "acestream-1", "10.0.0.1", 19001, 19001);
	for (int i = 0; i < 1100; i++) {
		snprintf(key, sizeof(key), "a%04d", i);
		start_ok(fx, "e1", NULL, 0, key, "p");
		advance(fx, SEC);
	}
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "x%04d", i);
		start_ok(fx, "e1", NULL, 0, key, "p");
		advance(fx, SEC);
	}
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "x%04d|p", i);
		end_stream(fx, key, NULL, "done", true);
		advance(fx, SEC);
	}
	st = get_status(fx, &res);
	assert_int_equal(st->streams->active, 1100);
	assert_int_equal(st->streams->total, 1300);
	orch_rpc_result_fini(&res);

	/* Default: the newest 1000 and every active stream beyond them,
	 * newest first. */
	l = list_streams(fx, NULL, NULL, 0, &res);
	active = 0;
	for (size_t i = 0; i < l->n_streams; i++) {
		active += strcmp(l->streams[i]->status, "started") == 0;
		if (i > 0)
			assert_true(
			    l->streams[i - 1]->started_at->unix_micros >
			    l->streams[i]->started_at->unix_micros);
	}
	assert_int_equal(active, 1100);
	assert_int_equal(l->n_streams, 1300);
	assert_string_equal(l->streams[0]->id, "x0199|p");
	assert_string_equal(l->streams[1299]->id, "a0000|p");
	orch_rpc_result_fini(&res);

	/* The same through the engine's filter. */
	l = list_streams(fx, "e1", NULL, 0, &res);
	assert_int_equal(l->n_streams, 1300);
	assert_string_equal(l->streams[1299]->id, "a0000|p");
	orch_rpc_result_fini(&res);

	l = list_streams(fx, NULL, "started", 0, &res);
	assert_int_equal(l->n_streams, 1100);
	assert_string_equal(l->streams[0]->id, "a1099|p");
	assert_string_equal(l->streams[1099]->id, "a0000|p");
	orch_rpc_result_fini(&res);
	l = list_streams(fx, "e1", "started", 0, &res);
	assert_int_equal(l->n_streams, 1100);
	orch_rpc_result_fini(&res);

	/* An explicit limit cuts. */
	l = list_streams(fx, NULL, NULL, 1000, &res);
	assert_int_equal(l->n_streams, 1000);
	assert_string_equal(l->streams[0]->id, "x0199|p");
	assert_string_equal(l->streams[999]->id, "a0300|p");
	orch_rpc_result_fini(&res);
	l = list_streams(fx, NULL, "started", 1000, &res);
	assert_int_equal(l->n_streams, 1000);
	assert_string_equal(l->streams[999]->id, "a0100|p");
	orch_rpc_result_fini(&res);
	l = list_streams(fx, NULL, "ended", 0, &res);
	assert_int_equal(l->n_streams, 200);
	orch_rpc_result_fini(&res);
}

static void
add_stat(struct fx *fx, const char *stream_id, const orch_stat *snap)
{
	orch_stream *s;
	orch_err rv = ORCH_ENOTFOUND;

	orch_core_lock(&fx->core);
	s = orch_state_stream_get(&fx->core.state, stream_id);
	if (s != NULL)
		rv = orch_state_stream_add_stat(&fx->core.state, s, snap);
	orch_core_unlock(&fx->core);
	assert_int_equal(rv, ORCH_OK);
}

static const Orch__StatSnapshotList *
get_stats(struct fx *fx, const char *id, int64_t since, orch_rpc_result *res)
{
	Orch__GetStreamStatsRequest req = ORCH__GET_STREAM_STATS_REQUEST__INIT;
	Orch__Timestamp t = ORCH__TIMESTAMP__INIT;

	req.stream_id = (char *) id;
	if (since != 0) {
		t.unix_micros = since;
		req.since = &t;
	}
	expect(call(fx, "GetStreamStats", &req, fx->read_auth, res), res,
	    ORCH_OK);
	assert_non_null(res->reply);
	return (const void *) res->reply;
}

static void
test_get_stream_stats(void **state)
{
	struct fx *fx = fx_open(state, tw_stats);
	Orch__GetStreamStatsRequest req = ORCH__GET_STREAM_STATS_REQUEST__INIT;
	orch_rpc_result res;
	const Orch__StatSnapshotList *l;
	const Orch__StatSnapshot *s;
	const Orch__StreamList *sl;
	orch_stat full = {0}, sparse = {0};

	env_ok(fx);
	put_engine(fx, "e1", "acestream-1", "10.0.0.1", 19001, 19001);
	start_ok(fx, "e1", NULL, 0, "k", "p");

	l = get_stats(fx, "k|p", 0, &res);
	assert_int_equal(l->n_stats, 0);
	orch_rpc_result_fini(&res);

	full.ts_us = T0 + 1 * SEC;
	full.peers = 3;
	full.speed_down = 100;
	full.speed_up = 10;
	full.downloaded = 1000;
	full.uploaded = 50;
	snprintf(full.status, sizeof(full.status), "dl");
	full.has = ORCH_STAT_PEERS | ORCH_STAT_SPEED_DOWN |
	           ORCH_STAT_SPEED_UP | ORCH_STAT_DOWNLOADED |
	           ORCH_STAT_UPLOADED | ORCH_STAT_STATUS;
	add_stat(fx, "k|p", &full);
	sparse.ts_us = T0 + 2 * SEC;
	sparse.peers = 4;
	sparse.has = ORCH_STAT_PEERS;
	add_stat(fx, "k|p", &sparse);
	full.ts_us = T0 + 3 * SEC;
	full.peers = 5;
	add_stat(fx, "k|p", &full);

	/* All, oldest first, nulls kept null. */
	l = get_stats(fx, "k|p", 0, &res);
	assert_int_equal(l->n_stats, 3);
	s = l->stats[0];
	assert_ts(s->ts, T0 + SEC);
	assert_true(s->has_peers);
	assert_int_equal(s->peers, 3);
	assert_true(s->has_speed_down);
	assert_int_equal(s->speed_down, 100);
	assert_true(s->has_speed_up);
	assert_int_equal(s->speed_up, 10);
	assert_true(s->has_downloaded);
	assert_int_equal(s->downloaded, 1000);
	assert_true(s->has_uploaded);
	assert_int_equal(s->uploaded, 50);
	assert_string_equal(s->status, "dl");
	s = l->stats[1];
	assert_ts(s->ts, T0 + 2 * SEC);
	assert_true(s->has_peers);
	assert_int_equal(s->peers, 4);
	assert_false(s->has_speed_down);
	assert_false(s->has_speed_up);
	assert_false(s->has_downloaded);
	assert_false(s->has_uploaded);
	assert_null(s->status);
	assert_ts(l->stats[2]->ts, T0 + 3 * SEC);
	assert_int_equal(l->stats[2]->peers, 5);
	orch_rpc_result_fini(&res);

	/* since: snapshots at or after it. */
	l = get_stats(fx, "k|p", T0 + 2 * SEC, &res);
	assert_int_equal(l->n_stats, 2);
	assert_ts(l->stats[0]->ts, T0 + 2 * SEC);
	assert_ts(l->stats[1]->ts, T0 + 3 * SEC);
	orch_rpc_result_fini(&res);
	l = get_stats(fx, "k|p", T0 + 2 * SEC + 1, &res);
	assert_int_equal(l->n_stats, 1);
	orch_rpc_result_fini(&res);
	l = get_stats(fx, "k|p", T0 + 4 * SEC, &res);
	assert_int_equal(l->n_stats, 0);
	orch_rpc_result_fini(&res);

	/* The Stream carries the newest snapshot. */
	sl = list_streams(fx, NULL, NULL, 0, &res);
	assert_non_null(sl->streams[0]->stats);
	assert_ts(sl->streams[0]->stats->ts, T0 + 3 * SEC);
	assert_int_equal(sl->streams[0]->stats->peers, 5);
	orch_rpc_result_fini(&res);

	/* STATS_HISTORY_MAX (4 here): the oldest go. */
	for (int i = 4; i <= 6; i++) {
		sparse.ts_us = T0 + i * SEC;
		add_stat(fx, "k|p", &sparse);
	}
	l = get_stats(fx, "k|p", 0, &res);
	assert_int_equal(l->n_stats, 4);
	assert_ts(l->stats[0]->ts, T0 + 3 * SEC);
	assert_ts(l->stats[3]->ts, T0 + 6 * SEC);
	orch_rpc_result_fini(&res);

	/* An ended stream keeps its history. */
	end_stream(fx, "k|p", NULL, NULL, true);
	l = get_stats(fx, "k|p", 0, &res);
	assert_int_equal(l->n_stats, 4);
	orch_rpc_result_fini(&res);

	req.stream_id = "nope|p";
	expect(call(fx, "GetStreamStats", &req, NULL, &res), &res,
	    ORCH_ENOTFOUND);
	orch_rpc_result_fini(&res);
	req.stream_id = NULL;
	expect_field(
	    call(fx, "GetStreamStats", &req, NULL, &res), &res, "stream_id");
	orch_rpc_result_fini(&res);
}

/* ------------------------------------------------------------------------ */
/* StreamStarted */

static void
test_stream_started_seed_example(void **state)
{
	struct fx *fx = fx_open(state, tw_vpn);
	struct started s;
	orch_rpc_result res;
	const Orch__Stream *st;

	set_env(fx, true, true, true);
	/* The seed's /engines example: a VPN engine reached via gluetun. */
	put_engine(fx, "abc123...", "acestream-1", "gluetun", 19000, 0);
	advance(fx, 5 * SEC);

	/* The seed's stream_started body, verbatim. */
	started_init(&s, "gluetun", 19000, "abc123...", "xyz789");
	s.req.container_id = "abc123...";
	s.ses.stat_url = "http://...";
	s.ses.command_url = "http://...";
	expect(started_call(fx, &s, &res), &res, ORCH_OK);
	st = (const void *) res.reply;
	assert_non_null(st);
	assert_string_equal(st->id, "abc123...|xyz789");
	assert_string_equal(st->key_type, "infohash");
	assert_string_equal(st->key, "abc123...");
	assert_string_equal(st->container_id, "abc123...");
	assert_string_equal(st->playback_session_id, "xyz789");
	assert_string_equal(st->stat_url, "http://...");
	assert_string_equal(st->command_url, "http://...");
	assert_true(st->is_live);
	assert_ts(st->started_at, T0 + 5 * SEC);
	assert_ts(st->ended_at, 0);
	assert_string_equal(st->status, "started");
	assert_null(st->end_reason);
	assert_null(st->stats);
	orch_rpc_result_fini(&res);

	/* Without container_id; with labels; labels.stream_id names it;
	 * is_live 0 is false. */
	started_init(&s, "gluetun", 19000, "k2", "psid2");
	started_label(&s, "source", "acexy");
	started_label(&s, "stream_id", "custom-id");
	s.ses.is_live = 0;
	expect(started_call(fx, &s, &res), &res, ORCH_OK);
	st = (const void *) res.reply;
	assert_string_equal(st->id, "custom-id");
	assert_string_equal(st->container_id, "abc123...");
	assert_false(st->is_live);
	orch_rpc_result_fini(&res);

	/* Each key type; is_live absent is false; no session at all with
	 * labels.stream_id. */
	{
		const char *types[] = {"content_id", "url", "magnet"};

		for (size_t i = 0; i < 3; i++) {
			started_init(&s, "gluetun", 19000, "kk", types[i]);
			s.key.key_type = (char *) types[i];
			s.ses.has_is_live = 0;
			expect(started_call(fx, &s, &res), &res, ORCH_OK);
			st = (const void *) res.reply;
			assert_string_equal(st->key_type, types[i]);
			assert_false(st->is_live);
			orch_rpc_result_fini(&res);
		}
	}
	started_init(&s, "gluetun", 19000, "k3", NULL);
	s.req.session = NULL;
	started_label(&s, "stream_id", "bare");
	expect(started_call(fx, &s, &res), &res, ORCH_OK);
	st = (const void *) res.reply;
	assert_string_equal(st->id, "bare");
	assert_null(st->playback_session_id);
	assert_null(st->stat_url);
	assert_null(st->command_url);
	assert_false(st->is_live);
	orch_rpc_result_fini(&res);

	/* All on the one engine. */
	{
		const Orch__EngineList *l = list_engines(fx, &res);

		assert_int_equal(l->n_engines, 1);
		assert_int_equal(l->engines[0]->n_streams, 6);
		assert_ts(l->engines[0]->last_stream_usage, T0 + 5 * SEC);
		orch_rpc_result_fini(&res);
	}
}

static void
test_stream_started_engine_matching(void **state)
{
	struct fx *fx = fx_open(state, tw_engine_host);
	orch_rpc_result res;
	const Orch__EngineList *l;
	const Orch__Engine *e;
	const Orch__OrchestratorStatus *st;

	env_ok(fx);
	/* e1: advertised by IP, published 19001. e2: advertised by name (a
	 * Docker network), published 19002. e4: advertised at
	 * 127.0.0.1:19001, not published. */
	put_engine(fx, "cid-1", "acestream-1", "10.0.0.5", 19001, 19001);
	put_engine(fx, "cid-2", "acestream-2", "acestream-2", 19002, 19002);
	put_engine(fx, "cid-4", "acestream-4", "127.0.0.1", 19001, 0);

	/* (1) container_id names a known engine: it wins. */
	assert_string_equal(
	    start_ok(fx, "cid-2", "10.0.0.5", 19001, "k", "a"), "cid-2");
	/* container_id alone is enough. */
	assert_string_equal(start_ok(fx, "cid-1", NULL, 0, "k", "b"), "cid-1");
	/* An unknown container_id (Acexy's own) is ignored. */
	assert_string_equal(
	    start_ok(fx, "acexy-container", "10.0.0.5", 19001, "k", "c"),
	    "cid-1");
	/* (2) the advertised address. */
	assert_string_equal(
	    start_ok(fx, NULL, "acestream-2", 19002, "k", "d"), "cid-2");
	/* (2) before (3): 127.0.0.1:19001 is e4's advertised address and
	 * e1's published port. */
	assert_string_equal(
	    start_ok(fx, NULL, "127.0.0.1", 19001, "k", "e"), "cid-4");
	/* (3) loopback or ENGINE_HOST with a published port. */
	assert_string_equal(
	    start_ok(fx, NULL, "localhost", 19002, "k", "f"), "cid-2");
	assert_string_equal(
	    start_ok(fx, NULL, "127.0.0.1", 19002, "k", "g"), "cid-2");
	assert_string_equal(
	    start_ok(fx, NULL, "orch.example", 19002, "k", "h"), "cid-2");
	/* (4) the container name, whatever the port. */
	assert_string_equal(
	    start_ok(fx, NULL, "acestream-1", 6878, "k", "i"), "cid-1");
	/* No match: an unmanaged entry keyed host:port. A published port
	 * counts only for loopback/ENGINE_HOST. */
	assert_string_equal(
	    start_ok(fx, NULL, "10.9.9.9", 6878, "k", "j"), "10.9.9.9:6878");
	assert_string_equal(
	    start_ok(fx, NULL, "10.0.0.5", 19002, "k", "l"), "10.0.0.5:19002");
	assert_string_equal(
	    start_ok(fx, NULL, "localhost", 6878, "k", "m"), "localhost:6878");
	/* The same address again: the same unmanaged entry. */
	assert_string_equal(
	    start_ok(fx, NULL, "10.9.9.9", 6878, "k", "n"), "10.9.9.9:6878");
	/* An unknown container_id with an address of an unmanaged entry. */
	assert_string_equal(
	    start_ok(fx, "acexy-container", "10.9.9.9", 6878, "k", "o"),
	    "10.9.9.9:6878");

	l = list_engines(fx, &res);
	assert_int_equal(l->n_engines, 6);
	e = find_engine(l, "10.9.9.9:6878");
	assert_non_null(e);
	assert_string_equal(e->host, "10.9.9.9");
	assert_int_equal(e->port, 6878);
	assert_int_equal(e->n_labels, 1);
	assert_string_equal(label_of(e, "managed"), "false");
	assert_string_equal(e->health_status, "unknown");
	assert_int_equal(e->n_streams, 3);
	assert_ts(e->first_seen, T0);
	assert_non_null(find_engine(l, "localhost:6878"));
	assert_string_equal(
	    label_of(find_engine(l, "10.0.0.5:19002"), "managed"), "false");
	/* Sorted by port, unmanaged entries included. */
	for (size_t i = 1; i < l->n_engines; i++)
		assert_true(l->engines[i - 1]->port <= l->engines[i]->port);
	assert_int_equal(find_engine(l, "cid-1")->n_streams, 3);
	assert_int_equal(find_engine(l, "cid-2")->n_streams, 5);
	assert_int_equal(find_engine(l, "cid-4")->n_streams, 1);
	orch_rpc_result_fini(&res);

	/* Unmanaged entries count in no engine total. */
	st = get_status(fx, &res);
	assert_int_equal(st->engines->total, 3);
	assert_int_equal(st->capacity->total, 3);
	assert_int_equal(st->streams->active, 14);
	orch_rpc_result_fini(&res);

	/* GetEngine and ListStreams know the unmanaged entry. */
	{
		Orch__GetEngineRequest req = ORCH__GET_ENGINE_REQUEST__INIT;

		req.container_id = "10.9.9.9:6878";
		expect(call(fx, "GetEngine", &req, NULL, &res), &res, ORCH_OK);
		assert_int_equal(
		    ((const Orch__GetEngineReply *) res.reply)->n_streams, 3);
		orch_rpc_result_fini(&res);
	}
	expect_streams(fx, "10.9.9.9:6878", NULL, 0,
	    (const char *[]){"k|o", "k|n", "k|j", NULL});
}

static void
test_stream_started_resend_overwrites(void **state)
{
	struct fx *fx = fx_open(state, tw_many_streams);
	struct started s;
	orch_rpc_result res;
	const Orch__StreamList *l;
	const Orch__EngineList *el;
	const Orch__OrchestratorStatus *st;

	env_ok(fx);
	put_engine(fx, "e1", "acestream-1", "10.0.0.1", 19001, 19001);
	put_engine(fx, "e2", "acestream-2", "10.0.0.1", 19002, 19002);
	start_ok(fx, "e1", NULL, 0, "k", "p");
	advance(fx, SEC);

	/* The same start again, changed: overwritten, not added. */
	started_init(&s, NULL, 0, "k", "p");
	s.req.container_id = "e2";
	s.ses.stat_url = "http://10.0.0.1:19002/ace/stat/new";
	s.ses.is_live = 0;
	expect(started_call(fx, &s, &res), &res, ORCH_OK);
	orch_rpc_result_fini(&res);
	l = list_streams(fx, NULL, NULL, 0, &res);
	assert_int_equal(l->n_streams, 1);
	assert_string_equal(l->streams[0]->id, "k|p");
	assert_string_equal(l->streams[0]->container_id, "e2");
	assert_string_equal(
	    l->streams[0]->stat_url, "http://10.0.0.1:19002/ace/stat/new");
	assert_false(l->streams[0]->is_live);
	assert_string_equal(l->streams[0]->status, "started");
	assert_ts(l->streams[0]->started_at, T0 + SEC);
	orch_rpc_result_fini(&res);
	el = list_engines(fx, &res);
	assert_int_equal(find_engine(el, "e1")->n_streams, 0);
	assert_int_equal(find_engine(el, "e2")->n_streams, 1);
	orch_rpc_result_fini(&res);
	st = get_status(fx, &res);
	assert_int_equal(st->streams->active, 1);
	assert_int_equal(st->streams->total, 1);
	orch_rpc_result_fini(&res);

	/* Identical re-send: still one. */
	expect(started_call(fx, &s, &res), &res, ORCH_OK);
	orch_rpc_result_fini(&res);
	st = get_status(fx, &res);
	assert_int_equal(st->streams->active, 1);
	assert_int_equal(st->streams->total, 1);
	orch_rpc_result_fini(&res);

	/* Ended, then started again: active again, end fields cleared. */
	end_stream(fx, "k|p", NULL, "bye", true);
	advance(fx, SEC);
	expect(started_call(fx, &s, &res), &res, ORCH_OK);
	orch_rpc_result_fini(&res);
	l = list_streams(fx, NULL, NULL, 0, &res);
	assert_int_equal(l->n_streams, 1);
	assert_string_equal(l->streams[0]->status, "started");
	assert_ts(l->streams[0]->ended_at, 0);
	assert_null(l->streams[0]->end_reason);
	orch_rpc_result_fini(&res);
}

/* An unmanaged entry lives while it carries streams; once it is dropped
 * and made again for the same address, the container_id filter must still
 * find every stream recorded against that id. */
static void
test_list_streams_unmanaged_reappears(void **state)
{
	struct fx *fx = fx_open(state, NULL);
	orch_rpc_result res;
	const Orch__StreamList *l;

	env_ok(fx);
	assert_string_equal(
	    start_ok(fx, NULL, "10.9.9.9", 6878, "a", "p"), "10.9.9.9:6878");
	advance(fx, SEC);
	end_stream(fx, "a|p", NULL, "done", true);
	advance(fx, SEC);
	assert_string_equal(
	    start_ok(fx, NULL, "10.9.9.9", 6878, "b", "p"), "10.9.9.9:6878");

	/* Unfiltered, both name the entry. */
	l = list_streams(fx, NULL, NULL, 0, &res);
	assert_int_equal(l->n_streams, 2);
	assert_string_equal(l->streams[0]->container_id, "10.9.9.9:6878");
	assert_string_equal(l->streams[1]->container_id, "10.9.9.9:6878");
	orch_rpc_result_fini(&res);
	/* A filter returns the subset of the unfiltered list whose
	 * container_id matches, including streams recorded against the
	 * dropped entry of the same id (the id's stream group keeps them;
	 * this once returned only b|p). */
	expect_streams(fx, "10.9.9.9:6878", NULL, 0,
	    (const char *[]){"b|p", "a|p", NULL});
	expect_streams(
	    fx, "10.9.9.9:6878", "ended", 0, (const char *[]){"a|p", NULL});
}

/* ------------------------------------------------------------------------ */
/* StreamEnded */

static void
test_stream_ended_cases(void **state)
{
	struct fx *fx = fx_open(state, tw_many_streams);
	Orch__StreamEndedRequest req = ORCH__STREAM_ENDED_REQUEST__INIT;
	orch_rpc_result res;
	const Orch__StreamEndedReply *rep;
	const Orch__OrchestratorStatus *st;
	const Orch__StreamList *l;

	env_ok(fx);
	put_engine(fx, "e1", "acestream-1", "10.0.0.1", 19001, 19001);
	put_engine(fx, "e2", "acestream-2", "10.0.0.1", 19002, 19002);
	start_ok(fx, "e1", NULL, 0, "s1", "p");
	advance(fx, SEC);
	start_ok(fx, "e2", NULL, 0, "s2", "p");
	advance(fx, SEC);
	start_ok(fx, "e2", NULL, 0, "s3", "p");
	advance(fx, SEC);

	/* Unknown id: nothing ends (fix: the reference ended the newest
	 * stream of any engine). */
	end_stream(fx, "nope|p", NULL, "x", false);
	end_stream(fx, "nope|p", "e1", "x", false);
	st = get_status(fx, &res);
	assert_int_equal(st->streams->active, 3);
	orch_rpc_result_fini(&res);

	/* By id: ends, reason stored. */
	req.stream_id = "s1|p";
	req.reason = "client_disconnect";
	expect(call(fx, "StreamEnded", &req, NULL, &res), &res, ORCH_OK);
	rep = (const void *) res.reply;
	assert_true(rep->updated);
	assert_non_null(rep->stream);
	assert_string_equal(rep->stream->id, "s1|p");
	assert_string_equal(rep->stream->status, "ended");
	assert_string_equal(rep->stream->container_id, "e1");
	assert_string_equal(rep->stream->end_reason, "client_disconnect");
	assert_ts(rep->stream->started_at, T0);
	assert_ts(rep->stream->ended_at, T0 + 3 * SEC);
	orch_rpc_result_fini(&res);

	/* Already ended: updated false (fix), nothing changes. */
	advance(fx, SEC);
	req.reason = "again";
	expect(call(fx, "StreamEnded", &req, NULL, &res), &res, ORCH_OK);
	rep = (const void *) res.reply;
	assert_false(rep->updated);
	assert_null(rep->stream);
	orch_rpc_result_fini(&res);
	l = list_streams(fx, "e1", NULL, 0, &res);
	assert_string_equal(l->streams[0]->end_reason, "client_disconnect");
	assert_ts(l->streams[0]->ended_at, T0 + 3 * SEC);
	orch_rpc_result_fini(&res);

	/* By container_id alone: e2 has two active -> nothing ends. */
	end_stream(fx, NULL, "e2", "x", false);
	/* Neither id: nothing. Unknown container: nothing. e1 has none. */
	end_stream(fx, NULL, NULL, "x", false);
	end_stream(fx, NULL, "nope", "x", false);
	end_stream(fx, NULL, "e1", "x", false);
	st = get_status(fx, &res);
	assert_int_equal(st->streams->active, 2);
	orch_rpc_result_fini(&res);

	/* No reason: end_reason null. */
	req.stream_id = "s3|p";
	req.reason = NULL;
	expect(call(fx, "StreamEnded", &req, NULL, &res), &res, ORCH_OK);
	rep = (const void *) res.reply;
	assert_true(rep->updated);
	assert_null(rep->stream->end_reason);
	orch_rpc_result_fini(&res);

	/* Now e2 has exactly one active: container_id alone ends it. */
	req.stream_id = NULL;
	req.container_id = "e2";
	req.reason = "engine_busy";
	expect(call(fx, "StreamEnded", &req, NULL, &res), &res, ORCH_OK);
	rep = (const void *) res.reply;
	assert_true(rep->updated);
	assert_string_equal(rep->stream->id, "s2|p");
	assert_string_equal(rep->stream->end_reason, "engine_busy");
	orch_rpc_result_fini(&res);

	st = get_status(fx, &res);
	assert_int_equal(st->streams->active, 0);
	assert_int_equal(st->streams->total, 3);
	orch_rpc_result_fini(&res);
	/* All three ended ("newest first" is by start or by end time: the
	 * contract does not say, so the order is not checked here). */
	l = list_streams(fx, NULL, "ended", 0, &res);
	assert_int_equal(l->n_streams, 3);
	for (size_t i = 0; i < l->n_streams; i++)
		assert_string_equal(l->streams[i]->status, "ended");
	orch_rpc_result_fini(&res);
}

/* ------------------------------------------------------------------------ */
/* SelectEngine */

static orch_err
select_engine(struct fx *fx, bool reserve, orch_rpc_result *res)
{
	Orch__SelectEngineRequest req = ORCH__SELECT_ENGINE_REQUEST__INIT;

	if (reserve) {
		req.has_reserve = 1;
		req.reserve = 1;
	}
	return call(fx, "SelectEngine", &req, fx->auth, res);
}

/* SelectEngine answers OK with engine id; copies the reservation id (or
 * "" when none) into rid. */
static void
select_ok(struct fx *fx, bool reserve, const char *want_id, char rid[33])
{
	orch_rpc_result res;
	const Orch__SelectEngineReply *rep;

	expect(select_engine(fx, reserve, &res), &res, ORCH_OK);
	rep = (const void *) res.reply;
	assert_non_null(rep);
	assert_non_null(rep->engine);
	assert_string_equal(rep->engine->container_id, want_id);
	if (reserve) {
		assert_true(is_hex32(rep->reservation_id));
		if (rid != NULL)
			snprintf(rid, 33, "%s", rep->reservation_id);
	} else {
		assert_null(rep->reservation_id);
		if (rid != NULL)
			rid[0] = '\0';
	}
	orch_rpc_result_fini(&res);
}

static void
expect_refusal(orch_err got, const orch_rpc_result *res, orch_err status,
    const char *code)
{
	expect(got, res, status);
	assert_null(res->reply);
	assert_non_null(res->detail);
	assert_non_null(res->detail->refusal);
	assert_string_equal(res->detail->refusal->code, code);
	assert_non_null(res->detail->refusal->message);
	assert_true(res->detail->refusal->message[0] != '\0');
}

static void
select_refused(struct fx *fx, orch_err status, const char *code)
{
	orch_rpc_result res;

	expect_refusal(select_engine(fx, true, &res), &res, status, code);
	if (strcmp(code, "provision_required") != 0)
		assert_string_equal(
		    res.detail->refusal->error, "provisioning_blocked");
	orch_rpc_result_fini(&res);
}

static void
test_select_engine_choice_and_reserve(void **state)
{
	struct fx *fx = fx_open(state, NULL);
	char r1[33], r2[33];
	orch_rpc_result res;
	const Orch__OrchestratorStatus *st;

	env_ok(fx);
	/* No engine, provisioning allowed: provision one. */
	select_refused(fx, ORCH_EPRECOND, "provision_required");
	assert_int_equal(reservations(fx), 0);

	put_engine(fx, "e1", "acestream-1", "10.0.0.1", 19001, 19001);
	put_engine(fx, "e2", "acestream-2", "10.0.0.1", 19002, 19002);
	put_engine(fx, "e3", "acestream-3", "10.0.0.1", 19003, 19003);
	healthy(fx, "e2");
	unhealthy(fx, "e3");

	/* reserve false: the best engine (healthy before unknown), nothing
	 * counted. */
	select_ok(fx, false, "e2", NULL);
	select_ok(fx, false, "e2", NULL);
	assert_int_equal(reservations(fx), 0);

	/* reserve true: counted in the load until consumed or lapsed. */
	select_ok(fx, true, "e2", r1);
	assert_int_equal(reservations(fx), 1);
	select_ok(fx, false, "e1", NULL);
	select_ok(fx, true, "e1", r2);
	assert_string_not_equal(r1, r2);
	assert_int_equal(reservations(fx), 2);
	/* e3 is unhealthy: never chosen. */
	select_refused(fx, ORCH_EPRECOND, "provision_required");
	{
		orch_rpc_result r;

		expect(select_engine(fx, false, &r), &r, ORCH_EPRECOND);
		assert_string_equal(
		    r.detail->refusal->code, "provision_required");
		orch_rpc_result_fini(&r);
	}

	/* Reservations are not streams: capacity.used stays 0. */
	st = get_status(fx, &res);
	assert_int_equal(st->capacity->used, 0);
	assert_int_equal(st->streams->active, 0);
	orch_rpc_result_fini(&res);
}

/* The seed's order: healthy first, then the lowest load, then the oldest
 * last_stream_usage. */
static void
test_select_engine_order(void **state)
{
	struct fx *fx = fx_open(state, tw_two_per_engine);

	env_ok(fx);
	put_engine(fx, "e1", "acestream-1", "10.0.0.1", 19001, 19001);
	put_engine(fx, "e2", "acestream-2", "10.0.0.1", 19002, 19002);
	put_engine(fx, "e3", "acestream-3", "10.0.0.1", 19003, 19003);
	healthy(fx, "e1");
	healthy(fx, "e2");
	/* e3 stays unknown: chosen only when no healthy engine is free. */
	advance(fx, SEC);
	start_ok(fx, "e1", NULL, 0, "a", "p");
	end_stream(fx, "a|p", NULL, NULL, true);
	advance(fx, SEC);
	start_ok(fx, "e2", NULL, 0, "b", "p");
	end_stream(fx, "b|p", NULL, NULL, true);
	/* Same health, same load: e1 was used longest ago. */
	select_ok(fx, false, "e1", NULL);
	advance(fx, SEC);
	start_ok(fx, "e1", NULL, 0, "c", "p");
	end_stream(fx, "c|p", NULL, NULL, true);
	select_ok(fx, false, "e2", NULL);
	/* Lower load wins over older usage. */
	advance(fx, SEC);
	start_ok(fx, "e2", NULL, 0, "d", "p");
	select_ok(fx, false, "e1", NULL);
	/* Both healthy ones at one of two slots; the unknown one is idle:
	 * healthy still first (e1 used last). */
	advance(fx, SEC);
	start_ok(fx, "e1", NULL, 0, "e", "p");
	select_ok(fx, false, "e2", NULL);
	/* Both healthy ones full: the unknown one. */
	start_ok(fx, "e1", NULL, 0, "f", "p");
	start_ok(fx, "e2", NULL, 0, "g", "p");
	select_ok(fx, false, "e3", NULL);
}

static void
test_select_reservation_consumed(void **state)
{
	struct fx *fx = fx_open(state, tw_two_per_engine);
	char rid[33];
	struct started s;
	orch_rpc_result res;

	env_ok(fx);
	put_engine(fx, "e1", "acestream-1", "10.0.0.1", 19001, 19001);
	healthy(fx, "e1");

	select_ok(fx, true, "e1", rid);
	assert_int_equal(reservations(fx), 1);
	/* The proxy starts its stream with the reservation: load stays 1. */
	started_init(&s, "10.0.0.1", 19001, "k", "p");
	started_label(&s, "reservation_id", rid);
	expect(started_call(fx, &s, &res), &res, ORCH_OK);
	orch_rpc_result_fini(&res);
	assert_int_equal(reservations(fx), 0);
	/* One slot left (2 per engine): free. */
	select_ok(fx, true, "e1", rid);
	select_refused(fx, ORCH_EPRECOND, "provision_required");
	/* An unknown reservation id is harmless. */
	started_init(&s, "10.0.0.1", 19001, "k2", "p");
	started_label(
	    &s, "reservation_id", "0123456789abcdef0123456789abcdef");
	expect(started_call(fx, &s, &res), &res, ORCH_OK);
	orch_rpc_result_fini(&res);
	assert_int_equal(reservations(fx), 1);
}

static void
test_select_reservation_lapses(void **state)
{
	struct fx *fx = fx_open(state, tw_ttl);
	char rid[33];

	env_ok(fx);
	put_engine(fx, "e1", "acestream-1", "10.0.0.1", 19001, 19001);
	healthy(fx, "e1");

	/* RESERVATION_TTL_S = 7 here. */
	select_ok(fx, true, "e1", rid);
	select_refused(fx, ORCH_EPRECOND, "provision_required");
	advance(fx, 6 * SEC);
	select_refused(fx, ORCH_EPRECOND, "provision_required");
	assert_int_equal(reservations(fx), 1);
	advance(fx, 2 * SEC);
	select_ok(fx, false, "e1", NULL);
	assert_int_equal(reservations(fx), 0);
	/* A lapsed reservation consumes nothing later. */
	{
		struct started s;
		orch_rpc_result res;

		started_init(&s, "10.0.0.1", 19001, "k", "p");
		started_label(&s, "reservation_id", rid);
		expect(started_call(fx, &s, &res), &res, ORCH_OK);
		orch_rpc_result_fini(&res);
	}
	select_refused(fx, ORCH_EPRECOND, "provision_required");
}

static void
test_select_refusals(void **state)
{
	struct fx *fx = fx_open(state, tw_one_replica);
	orch_rpc_result res;
	const Orch__ProvisioningRefusal *r;

	/* Docker down (the state before any controller reports). */
	expect_refusal(select_engine(fx, true, &res), &res, ORCH_EUNAVAIL,
	    "docker_unavailable");
	r = res.detail->refusal;
	assert_string_equal(r->error, "provisioning_blocked");
	assert_true(r->has_recovery_eta_seconds);
	assert_int_equal(r->recovery_eta_seconds, fx->cfg.monitor_interval_s);
	assert_true(r->can_retry);
	assert_true(r->should_wait);
	orch_rpc_result_fini(&res);

	/* Image missing. */
	set_env(fx, true, false, true);
	select_refused(fx, ORCH_EPRECOND, "image_unavailable");

	/* General breaker open. */
	env_ok(fx);
	breaker_fail(fx, &fx->core.general, fx->cfg.cb_failure_threshold);
	expect_refusal(select_engine(fx, true, &res), &res, ORCH_EPRECOND,
	    "circuit_breaker");
	r = res.detail->refusal;
	assert_true(r->has_recovery_eta_seconds);
	assert_int_equal(
	    r->recovery_eta_seconds, fx->cfg.cb_recovery_timeout_s);
	assert_true(r->should_wait);
	orch_rpc_result_fini(&res);
	advance(fx, 100 * SEC);
	expect_refusal(select_engine(fx, true, &res), &res, ORCH_EPRECOND,
	    "circuit_breaker");
	assert_int_equal(res.detail->refusal->recovery_eta_seconds,
	    fx->cfg.cb_recovery_timeout_s - 100);
	orch_rpc_result_fini(&res);
	orch_core_lock(&fx->core);
	orch_breaker_reset(&fx->core.general);
	orch_core_unlock(&fx->core);

	/* Allowed: provision one. */
	select_refused(fx, ORCH_EPRECOND, "provision_required");

	/* MAX_REPLICAS (1) engines, all busy: max capacity. */
	put_engine(fx, "e1", "acestream-1", "10.0.0.1", 19001, 19001);
	start_ok(fx, "e1", NULL, 0, "k", "p");
	expect_refusal(select_engine(fx, true, &res), &res, ORCH_EEXHAUSTED,
	    "max_capacity");
	assert_true(res.detail->refusal->should_wait);
	orch_rpc_result_fini(&res);
	/* Docker down outranks the rest. */
	set_env(fx, false, true, true);
	select_refused(fx, ORCH_EUNAVAIL, "docker_unavailable");
	assert_int_equal(reservations(fx), 0);
}

/* 32 concurrent SelectEngine{reserve} for one free slot: exactly one
 * reservation. */
struct race {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	int ok;
	int ok_with_rid;
	int refused;
	int other;
	orch_err other_status;
	char engine[64];
};

static void
race_done(void *arg, orch_rpc_result *res)
{
	struct race *r = arg;

	pthread_mutex_lock(&r->mu);
	if (res->status == ORCH_OK) {
		const Orch__SelectEngineReply *rep = (const void *) res->reply;

		r->ok++;
		if (rep != NULL && rep->engine != NULL &&
		    is_hex32(rep->reservation_id)) {
			r->ok_with_rid++;
			snprintf(r->engine, sizeof(r->engine), "%s",
			    rep->engine->container_id);
		}
	} else if (res->status == ORCH_EPRECOND && res->detail != NULL &&
	           res->detail->refusal != NULL &&
	           strcmp(res->detail->refusal->code, "provision_required") ==
	               0) {
		r->refused++;
	} else {
		r->other++;
		r->other_status = res->status;
	}
	r->done++;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	orch_rpc_result_fini(res);
}

static void
test_select_race_one_slot(void **state)
{
	struct fx *fx = fx_open(state, NULL);
	Orch__SelectEngineRequest req = ORCH__SELECT_ENGINE_REQUEST__INIT;
	orch_rpc_call_opts o = {.timeout_ms = 30000};

	env_ok(fx);
	put_engine(fx, "busy", "acestream-1", "10.0.0.1", 19001, 19001);
	put_engine(fx, "free", "acestream-2", "10.0.0.1", 19002, 19002);
	healthy(fx, "busy");
	healthy(fx, "free");
	start_ok(fx, "busy", NULL, 0, "k", "p");
	req.has_reserve = 1;
	req.reserve = 1;

	for (int round = 0; round < 4; round++) {
		struct race r;
		pthread_condattr_t ca;
		struct timespec deadline;
		int rc = 0;

		memset(&r, 0, sizeof(r));
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_mutex_init(&r.mu, NULL);
		pthread_cond_init(&r.cv, &ca);
		pthread_condattr_destroy(&ca);

		/* The previous round's reservation lapses. */
		advance(fx, (fx->cfg.reservation_ttl_s + 1) * SEC);
		for (int i = 0; i < 32; i++)
			assert_int_equal(
			    orch_rpc_invoke_async(fx->cli, "SelectEngine",
			        &req.base, &o, race_done, &r),
			    ORCH_OK);
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += 60;
		pthread_mutex_lock(&r.mu);
		while (r.done < 32 && rc != ETIMEDOUT)
			rc = pthread_cond_timedwait(&r.cv, &r.mu, &deadline);
		pthread_mutex_unlock(&r.mu);
		assert_int_equal(r.done, 32);
		if (r.other != 0)
			print_message("unexpected status %s\n",
			    orch_err_status_name(r.other_status));
		assert_int_equal(r.other, 0);
		assert_int_equal(r.ok, 1);
		assert_int_equal(r.ok_with_rid, 1);
		assert_int_equal(r.refused, 31);
		assert_string_equal(r.engine, "free");
		assert_int_equal(reservations(fx), 1);
		pthread_cond_destroy(&r.cv);
		pthread_mutex_destroy(&r.mu);
	}
}

/* ------------------------------------------------------------------------ */
/* GetStatus / GetVpnStatus / GetHealth */

static void
test_get_status_counts(void **state)
{
	struct fx *fx = fx_open(state, NULL);
	orch_rpc_result res;
	const Orch__OrchestratorStatus *st;

	env_ok(fx);
	st = get_status(fx, &res);
	/* MIN_REPLICAS 1 and no healthy engine yet. */
	assert_string_equal(st->status, "degraded");
	assert_int_equal(st->engines->total, 0);
	assert_int_equal(st->capacity->available, 0);
	orch_rpc_result_fini(&res);

	put_engine(fx, "e1", "acestream-1", "10.0.0.1", 19001, 19001);
	put_engine(fx, "e2", "acestream-2", "10.0.0.1", 19002, 19002);
	put_engine(fx, "e3", "acestream-3", "10.0.0.1", 19003, 19003);
	put_engine_full(
	    fx, "e4", "acestream-4", "10.0.0.1", 19004, 19004, false, false);
	put_engine(fx, "e5", "acestream-5", "10.0.0.1", 19005, 19005);
	healthy(fx, "e1");
	unhealthy(fx, "e2");
	healthy(fx, "e5");
	start_ok(fx, "e1", NULL, 0, "s1", "p");
	start_ok(fx, "e3", NULL, 0, "s3", "p");
	start_ok(fx, NULL, "10.9.9.9", 6878, "su", "p"); /* unmanaged */
	start_ok(fx, "e5", NULL, 0, "s5", "p");
	end_stream(fx, "s5|p", NULL, NULL, true);

	st = get_status(fx, &res);
	assert_string_equal(st->status, "healthy");
	assert_int_equal(st->engines->total, 5);
	assert_int_equal(st->engines->running, 4);
	assert_int_equal(st->engines->healthy, 2);
	assert_int_equal(st->engines->unhealthy, 1);
	assert_int_equal(st->streams->active, 3);
	assert_int_equal(st->streams->total, 4);
	/* used = engines at MAX_STREAMS_PER_ENGINE (1) active streams (fix:
	 * the reference counted streams). */
	assert_int_equal(st->capacity->total, 5);
	assert_int_equal(st->capacity->used, 2);
	assert_int_equal(st->capacity->available, 3);
	assert_int_equal(st->capacity->max_replicas, 10);
	assert_int_equal(st->capacity->min_replicas, 1);
	/* VPN disabled. */
	assert_false(st->vpn->enabled);
	assert_false(st->vpn->connected);
	assert_string_equal(st->vpn->health, "unknown");
	assert_null(st->vpn->container);
	assert_false(st->vpn->has_forwarded_port);
	/* Provisioning allowed. */
	assert_true(st->provisioning->can_provision);
	assert_string_equal(st->provisioning->circuit_breaker_state, "closed");
	assert_null(st->provisioning->last_failure);
	assert_null(st->provisioning->blocked_reason);
	assert_null(st->provisioning->blocked_reason_details);
	/* Config. */
	assert_true(st->config->auto_delete);
	assert_int_equal(st->config->grace_period_s, 30);
	assert_string_equal(st->config->target_image, fx->cfg.target_image);
	orch_rpc_result_fini(&res);
}

static void
expect_blocked(struct fx *fx, const char *status, const char *reason,
    const char *code, orch_rpc_result *res)
{
	const Orch__OrchestratorStatus *st = get_status(fx, res);

	assert_string_equal(st->status, status);
	assert_false(st->provisioning->can_provision);
	assert_non_null(st->provisioning->blocked_reason);
	assert_string_equal(st->provisioning->blocked_reason, reason);
	assert_non_null(st->provisioning->blocked_reason_details);
	assert_string_equal(st->provisioning->blocked_reason_details->error,
	    "provisioning_blocked");
	assert_string_equal(
	    st->provisioning->blocked_reason_details->code, code);
}

static void
expect_open(struct fx *fx, const char *status)
{
	orch_rpc_result res;
	const Orch__OrchestratorStatus *st = get_status(fx, &res);

	assert_string_equal(st->status, status);
	assert_true(st->provisioning->can_provision);
	assert_null(st->provisioning->blocked_reason);
	assert_null(st->provisioning->blocked_reason_details);
	orch_rpc_result_fini(&res);
}

static void
test_get_status_formula(void **state)
{
	struct fx *fx = fx_open(state, tw_two_replicas);
	orch_rpc_result res;
	const Orch__OrchestratorStatus *st;

	/* Docker not reported yet: unavailable. */
	expect_blocked(fx, "unavailable", "Docker unavailable",
	    "docker_unavailable", &res);
	orch_rpc_result_fini(&res);

	env_ok(fx);
	/* Fewer than MIN_REPLICAS healthy engines: degraded. */
	expect_open(fx, "degraded");
	put_engine(fx, "e1", "acestream-1", "10.0.0.1", 19001, 19001);
	expect_open(fx, "degraded");
	healthy(fx, "e1");
	expect_open(fx, "healthy");

	/* Image missing. */
	set_env(fx, true, false, true);
	expect_blocked(fx, "degraded", "Engine image unavailable",
	    "image_unavailable", &res);
	orch_rpc_result_fini(&res);
	env_ok(fx);

	/* Breaker open, then half-open after its timeout. */
	advance(fx, SEC);
	breaker_fail(fx, &fx->core.general, fx->cfg.cb_failure_threshold);
	expect_blocked(fx, "degraded", "Circuit breaker is open",
	    "circuit_breaker", &res);
	st = (const void *) res.reply;
	assert_string_equal(st->provisioning->circuit_breaker_state, "open");
	assert_ts(st->provisioning->last_failure, T0 + SEC);
	orch_rpc_result_fini(&res);
	advance(fx, (int64_t) fx->cfg.cb_recovery_timeout_s * SEC);
	st = get_status(fx, &res);
	assert_string_equal(
	    st->provisioning->circuit_breaker_state, "half_open");
	assert_true(st->provisioning->can_provision);
	assert_string_equal(st->status, "healthy");
	orch_rpc_result_fini(&res);
	orch_core_lock(&fx->core);
	orch_breaker_reset(&fx->core.general);
	orch_core_unlock(&fx->core);
	st = get_status(fx, &res);
	assert_string_equal(st->provisioning->circuit_breaker_state, "closed");
	/* The last failure is history, kept after a reset. */
	assert_ts(st->provisioning->last_failure, T0 + SEC);
	orch_rpc_result_fini(&res);

	/* MAX_REPLICAS (2) engines. */
	put_engine(fx, "e2", "acestream-2", "10.0.0.1", 19002, 19002);
	healthy(fx, "e2");
	expect_blocked(
	    fx, "degraded", "Maximum replicas reached", "max_capacity", &res);
	orch_rpc_result_fini(&res);

	/* Docker down outranks everything. */
	set_env(fx, false, true, true);
	expect_blocked(fx, "unavailable", "Docker unavailable",
	    "docker_unavailable", &res);
	st = (const void *) res.reply;
	assert_true(st->provisioning->blocked_reason_details
	                ->has_recovery_eta_seconds);
	assert_true(st->provisioning->blocked_reason_details->can_retry);
	assert_true(st->provisioning->blocked_reason_details->should_wait);
	orch_rpc_result_fini(&res);
}

static void
test_vpn_enabled(void **state)
{
	struct fx *fx = fx_open(state, tw_vpn);
	Orch__GetVpnStatusRequest vreq = ORCH__GET_VPN_STATUS_REQUEST__INIT;
	orch_rpc_result res;
	const Orch__VpnStatus *v;
	const Orch__OrchestratorStatus *st;
	orch_env env;

	orch_vpn_report rep;
	orch_vpn_pub pubs[] = {{8000, 31000}, {19001, 39001}};

	/* Before the VPN monitor's first report. */
	expect(call(fx, "GetVpnStatus", &vreq, NULL, &res), &res, ORCH_OK);
	v = (const void *) res.reply;
	assert_true(v->enabled);
	assert_string_equal(v->status, "unknown");
	assert_string_equal(v->container, "gluetun");
	assert_string_equal(v->health, "unknown");
	assert_false(v->connected);
	assert_false(v->has_forwarded_port);
	assert_null(v->last_check_at);
	assert_int_equal(v->n_vpns, 1);
	assert_string_equal(v->vpns[0]->name, "gluetun");
	assert_string_equal(v->vpns[0]->control, "unknown");
	orch_rpc_result_fini(&res);

	/* Tunnel down: provisioning blocked, status degraded. */
	memset(&env, 0, sizeof(env));
	env.docker_ok = true;
	env.image_ok = true;
	orch_core_set_env(&fx->core, &env);
	memset(&rep, 0, sizeof(rep));
	rep.status = "running";
	rep.health = "unhealthy";
	rep.control = ORCH_VPN_CONTROL_OK;
	rep.tunnel_up = false;
	rep.forwarded_port = -1;
	rep.error = "Gluetun says the tunnel is not running";
	rep.pubs_known = true;
	rep.pubs = pubs;
	rep.n_pubs = 2;
	orch_core_vpn_report(&fx->core, 0, &rep, NULL);
	put_engine(fx, "e1", "acestream-1", "gluetun", 19001, 0);
	healthy(fx, "e1");
	expect_blocked(
	    fx, "degraded", "VPN not connected", "vpn_disconnected", &res);
	st = (const void *) res.reply;
	assert_true(st->vpn->enabled);
	assert_false(st->vpn->connected);
	assert_string_equal(st->vpn->health, "unhealthy");
	assert_string_equal(st->vpn->container, "gluetun");
	assert_false(st->vpn->has_forwarded_port);
	orch_rpc_result_fini(&res);
	start_ok(fx, "e1", NULL, 0, "k", "p");
	select_refused(fx, ORCH_EPRECOND, "vpn_disconnected");

	/* Tunnel up with a forwarded port. */
	advance(fx, 5 * SEC);
	rep.health = "healthy";
	rep.tunnel_up = true;
	rep.forwarded_port = 54321;
	rep.error = NULL;
	orch_core_vpn_report(&fx->core, 0, &rep, NULL);
	expect_open(fx, "healthy");
	st = get_status(fx, &res);
	assert_true(st->vpn->enabled);
	assert_true(st->vpn->connected);
	assert_string_equal(st->vpn->health, "healthy");
	assert_string_equal(st->vpn->container, "gluetun");
	assert_true(st->vpn->has_forwarded_port);
	assert_int_equal(st->vpn->forwarded_port, 54321);
	orch_rpc_result_fini(&res);

	expect(call(fx, "GetVpnStatus", &vreq, NULL, &res), &res, ORCH_OK);
	v = (const void *) res.reply;
	assert_true(v->enabled);
	assert_string_equal(v->status, "running");
	assert_string_equal(v->container, "gluetun");
	assert_string_equal(v->health, "healthy");
	assert_true(v->connected);
	assert_true(v->has_forwarded_port);
	assert_int_equal(v->forwarded_port, 54321);
	assert_ts(v->last_check_at, T0 + 5 * SEC);
	assert_null(v->error);
	assert_int_equal(v->n_vpns, 1);
	assert_true(v->vpns[0]->connected);
	assert_string_equal(v->vpns[0]->control, "ok");
	/* 8000 is the control server's: one port for engines. */
	assert_int_equal(v->vpns[0]->ports_total, 1);
	orch_rpc_result_fini(&res);

	/* The control server refuses our credentials: a configuration
	 * error, not "wait for the VPN". */
	rep.control = ORCH_VPN_CONTROL_AUTH;
	rep.tunnel_up = false;
	rep.error = "control server http://x: HTTP 401";
	orch_core_vpn_report(&fx->core, 0, &rep, NULL);
	expect(call(fx, "GetVpnStatus", &vreq, NULL, &res), &res, ORCH_OK);
	v = (const void *) res.reply;
	assert_false(v->connected);
	assert_string_equal(v->status, "running");
	assert_string_equal(v->error, "control server http://x: HTTP 401");
	assert_string_equal(v->vpns[0]->control, "unauthorized");
	orch_rpc_result_fini(&res);
	expect_blocked(
	    fx, "degraded", "VPN not connected", "vpn_disconnected", &res);
	st = (const void *) res.reply;
	assert_false(st->provisioning->blocked_reason_details->should_wait);
	assert_false(st->provisioning->blocked_reason_details
	                 ->has_recovery_eta_seconds);
	assert_non_null(strstr(
	    st->provisioning->blocked_reason_details->message, "API_KEY"));
	orch_rpc_result_fini(&res);
}

static void
test_vpn_disabled(void **state)
{
	struct fx *fx = fx_open(state, NULL);
	Orch__GetVpnStatusRequest req = ORCH__GET_VPN_STATUS_REQUEST__INIT;
	orch_rpc_result res;
	const Orch__VpnStatus *v;
	orch_env env;

	/* Even if a controller reported VPN facts, disabled stays disabled. */
	memset(&env, 0, sizeof(env));
	env.docker_ok = true;
	env.vpn_connected = true;
	env.vpn_forwarded_port = 1234;
	env.vpn_last_check_us = T0;
	snprintf(env.vpn_status, sizeof(env.vpn_status), "running");
	snprintf(env.vpn_health, sizeof(env.vpn_health), "healthy");
	orch_core_set_env(&fx->core, &env);

	expect(call(fx, "GetVpnStatus", &req, NULL, &res), &res, ORCH_OK);
	v = (const void *) res.reply;
	assert_false(v->enabled);
	assert_string_equal(v->status, "disabled");
	assert_null(v->container);
	assert_string_equal(v->health, "unknown");
	assert_false(v->connected);
	assert_false(v->has_forwarded_port);
	assert_null(v->last_check_at);
	orch_rpc_result_fini(&res);
}

static void
test_get_health(void **state)
{
	struct fx *fx = fx_open(state, tw_health);
	orch_rpc_result res;
	const Orch__HealthSummary *h;
	const Orch__Breaker *g, *r;

	env_ok(fx);
	put_engine(fx, "e1", "acestream-1", "10.0.0.1", 19001, 19001);
	put_engine(fx, "e2", "acestream-2", "10.0.0.1", 19002, 19002);
	put_engine(fx, "e3", "acestream-3", "10.0.0.1", 19003, 19003);
	healthy(fx, "e1");
	unhealthy(fx, "e2");
	mark(fx, "e2");

	h = get_health(fx, &res);
	assert_int_equal(h->total_engines, 3);
	assert_int_equal(h->healthy_engines, 1);
	assert_int_equal(h->unhealthy_engines, 1);
	assert_int_equal(h->marked_for_replacement, 1);
	assert_int_equal(h->minimum_required, 2);
	assert_int_equal(h->health_check_interval, 7);
	g = h->circuit_breakers->general;
	r = h->circuit_breakers->replacement;
	assert_string_equal(g->state, "closed");
	assert_int_equal(g->failure_count, 0);
	assert_int_equal(g->failure_threshold, 4);
	assert_int_equal(g->recovery_timeout, 120);
	assert_null(g->last_failure_time);
	assert_null(g->last_success_time);
	assert_string_equal(r->state, "closed");
	assert_int_equal(r->failure_count, 0);
	assert_int_equal(r->failure_threshold, 2);
	assert_int_equal(r->recovery_timeout, 60);
	assert_null(r->last_failure_time);
	assert_null(r->last_success_time);
	orch_rpc_result_fini(&res);

	advance(fx, SEC);
	breaker_fail(fx, &fx->core.general, 4);
	orch_core_lock(&fx->core);
	orch_breaker_record_failure(&fx->core.replacement, fx->now);
	orch_core_unlock(&fx->core);
	advance(fx, SEC);
	orch_core_lock(&fx->core);
	orch_breaker_record_success(&fx->core.replacement, fx->now);
	orch_core_unlock(&fx->core);

	h = get_health(fx, &res);
	g = h->circuit_breakers->general;
	r = h->circuit_breakers->replacement;
	assert_string_equal(g->state, "open");
	assert_int_equal(g->failure_count, 4);
	assert_ts(g->last_failure_time, T0 + SEC);
	assert_null(g->last_success_time);
	assert_string_equal(r->state, "closed");
	assert_int_equal(r->failure_count, 0);
	assert_ts(r->last_failure_time, T0 + SEC);
	assert_ts(r->last_success_time, T0 + 2 * SEC);
	orch_rpc_result_fini(&res);
	advance(fx, 120 * SEC);
	h = get_health(fx, &res);
	assert_string_equal(h->circuit_breakers->general->state, "half_open");
	orch_rpc_result_fini(&res);
}

/* ------------------------------------------------------------------------ */
/* ResetCircuitBreaker */

static void
reset_breaker(struct fx *fx, const char *which, const char *auth,
    orch_rpc_result *res, orch_err want)
{
	Orch__ResetCircuitBreakerRequest req =
	    ORCH__RESET_CIRCUIT_BREAKER_REQUEST__INIT;

	req.operation_type = (char *) which;
	expect(call(fx, "ResetCircuitBreaker", &req, auth, res), res, want);
}

static void
expect_breakers(struct fx *fx, const char *general, const char *replacement)
{
	orch_rpc_result res;
	const Orch__HealthSummary *h = get_health(fx, &res);

	assert_string_equal(h->circuit_breakers->general->state, general);
	assert_string_equal(
	    h->circuit_breakers->replacement->state, replacement);
	orch_rpc_result_fini(&res);
}

static void
open_both(struct fx *fx)
{
	breaker_fail(fx, &fx->core.general, fx->cfg.cb_failure_threshold);
	breaker_fail(
	    fx, &fx->core.replacement, fx->cfg.cb_replacement_threshold);
	expect_breakers(fx, "open", "open");
}

static void
test_reset_circuit_breaker(void **state)
{
	struct fx *fx = fx_open(state, NULL);
	orch_rpc_result res;
	const Orch__MessageReply *m;
	const Orch__HealthSummary *h;

	env_ok(fx);
	open_both(fx);

	reset_breaker(fx, "general", NULL, &res, ORCH_OK);
	m = (const void *) res.reply;
	assert_non_null(m);
	assert_non_null(m->message);
	assert_true(m->message[0] != '\0');
	orch_rpc_result_fini(&res);
	expect_breakers(fx, "closed", "open");
	h = get_health(fx, &res);
	assert_int_equal(h->circuit_breakers->general->failure_count, 0);
	assert_ts(h->circuit_breakers->general->last_failure_time, T0);
	orch_rpc_result_fini(&res);
	expect_open(fx, "degraded"); /* no healthy engine, but can provision */

	reset_breaker(fx, "replacement", NULL, &res, ORCH_OK);
	orch_rpc_result_fini(&res);
	expect_breakers(fx, "closed", "closed");

	/* Without operation_type: both. */
	open_both(fx);
	reset_breaker(fx, NULL, NULL, &res, ORCH_OK);
	assert_non_null(((const Orch__MessageReply *) res.reply)->message);
	orch_rpc_result_fini(&res);
	expect_breakers(fx, "closed", "closed");

	/* A bad name: INVALID_ARGUMENT about operation_type, nothing reset. */
	open_both(fx);
	reset_breaker(fx, "everything", NULL, &res, ORCH_EINVAL);
	expect_field(res.status, &res, "operation_type");
	orch_rpc_result_fini(&res);
	reset_breaker(fx, "General", NULL, &res, ORCH_EINVAL);
	orch_rpc_result_fini(&res);
	/* Regression (issue 10, item 16): an empty name reset both. */
	reset_breaker(fx, "", NULL, &res, ORCH_EINVAL);
	expect_field(res.status, &res, "operation_type");
	orch_rpc_result_fini(&res);
	expect_breakers(fx, "open", "open");
}

/* ------------------------------------------------------------------------ */
/* Authentication */

/*
 * Calls every row of the method table whose auth class is cls with an
 * empty request (built from the row's input descriptor), as `auth`, and
 * checks the answer: want ORCH_OK means "past the auth check" (any status
 * but UNAUTHENTICATED and PERMISSION_DENIED: a handler answered, with OK,
 * a field error for the empty request, or UNAVAILABLE for want of a
 * runtime); otherwise exactly want with its message. Returns the rows
 * called, so a caller can tell the walk was not empty. No hand-kept list:
 * a new method is covered by its table row.
 */
static int
walk_class(struct fx *fx, orch_auth_class cls, const char *auth, orch_err want,
    const char *message)
{
	size_t n = 0;
	const orch_method *t = orch_service_methods(&n);
	int called = 0;

	for (size_t i = 0; i < n; i++) {
		const ProtobufCMethodDescriptor *md =
		    protobuf_c_service_descriptor_get_method_by_name(
		        &orch__orchestrator__descriptor, t[i].name);
		orch_rpc_result res;
		void *req;
		orch_err rv;

		if (t[i].auth != cls)
			continue;
		assert_non_null(md);
		req = calloc(1, md->input->sizeof_message);
		assert_non_null(req);
		protobuf_c_message_init(md->input, req);
		/* The call's status (a transport failure would be
		 * DEADLINE_EXCEEDED or UNAVAILABLE, neither an auth answer).
		 */
		rv = call(fx, t[i].name, req, auth, &res);
		if (want == ORCH_OK) {
			if (rv == ORCH_EUNAUTH || rv == ORCH_EPERM)
				fail_msg("%s as \"%s\": refused (%s)",
				    t[i].name, auth != NULL ? auth : "(none)",
				    res.message != NULL ? res.message : "");
		} else {
			if (rv != want)
				fail_msg("%s as \"%s\": status %d, want %d",
				    t[i].name, auth != NULL ? auth : "(none)",
				    (int) rv, (int) want);
			assert_null(res.reply);
			assert_string_equal(res.message, message);
		}
		orch_rpc_result_fini(&res);
		free(req);
		called++;
	}
	return called;
}

static void
expect_denied(
    orch_err got, orch_rpc_result *res, orch_err want, const char *message)
{
	expect(got, res, want);
	assert_null(res->reply);
	assert_non_null(res->message);
	assert_string_equal(res->message, message);
	orch_rpc_result_fini(res);
}

/* An engine, a stream on it, env OK: every method has something to do. */
static void
auth_world(struct fx *fx, const char *auth)
{
	fx->auth = auth;
	env_ok(fx);
	put_engine(fx, "e1", "acestream-1", "10.0.0.1", 19001, 19001);
	put_engine(fx, "e2", "acestream-2", "10.0.0.2", 19001, 19002);
	healthy(fx, "e1");
	healthy(fx, "e2");
	start_ok(fx, "e1", NULL, 0, "k", "p");
	fx->auth = NULL;
}

static void
test_auth_mutating(void **state)
{
	struct fx *fx = fx_open(state, tw_api_key);
	orch_rpc_result res;
	char *before, *after;

	auth_world(fx, "Bearer sekrit");
	before = digest(fx);
	assert_true(walk_class(fx, ORCH_AUTH_MUTATE, NULL, ORCH_EUNAUTH,
	                "missing bearer token") > 0);
	walk_class(fx, ORCH_AUTH_MUTATE, "Basic x", ORCH_EUNAUTH,
	    "missing bearer token");
	walk_class(fx, ORCH_AUTH_MUTATE, "sekrit", ORCH_EUNAUTH,
	    "missing bearer token");
	walk_class(
	    fx, ORCH_AUTH_MUTATE, "Bearer wrong", ORCH_EPERM, "invalid token");
	walk_class(fx, ORCH_AUTH_MUTATE, "Bearer sekrit2", ORCH_EPERM,
	    "invalid token");
	/* Auth is judged before the body: a bad body is still 401. */
	{
		struct started s;

		started_init(&s, "10.0.0.1", 0, "", "p");
		expect_denied(call(fx, "StreamStarted", &s.req, NULL, &res),
		    &res, ORCH_EUNAUTH, "missing bearer token");
	}
	after = digest(fx);
	assert_string_equal(before, after);
	free(before);
	free(after);

	/* The right key: every mutating row reaches its handler; a valid
	 * event is accepted. */
	walk_class(fx, ORCH_AUTH_MUTATE, "Bearer sekrit", ORCH_OK, NULL);
	{
		struct started s;

		started_init(&s, "10.0.0.1", 19001, "auth", "p");
		expect(
		    call(fx, "StreamStarted", &s.req, "Bearer sekrit", &res),
		    &res, ORCH_OK);
		assert_non_null(res.reply);
		orch_rpc_result_fini(&res);
	}
	/* Reads and open methods need nothing without READ_API_KEY,
	 * whatever is sent. */
	assert_true(walk_class(fx, ORCH_AUTH_READ, NULL, ORCH_OK, NULL) > 0);
	walk_class(fx, ORCH_AUTH_READ, "Bearer wrong", ORCH_OK, NULL);
	assert_true(walk_class(fx, ORCH_AUTH_OPEN, NULL, ORCH_OK, NULL) > 0);
	walk_class(fx, ORCH_AUTH_OPEN, "Bearer wrong", ORCH_OK, NULL);
}

static void
test_auth_read_key(void **state)
{
	struct fx *fx = fx_open(state, tw_read_key);
	orch_rpc_result res;
	Orch__PingRequest ping = ORCH__PING_REQUEST__INIT;

	auth_world(fx, "Bearer sekrit");
	assert_true(walk_class(fx, ORCH_AUTH_READ, NULL, ORCH_EUNAUTH,
	                "missing bearer token") > 0);
	walk_class(fx, ORCH_AUTH_READ, "Basic reader", ORCH_EUNAUTH,
	    "missing bearer token");
	walk_class(
	    fx, ORCH_AUTH_READ, "Bearer wrong", ORCH_EPERM, "invalid token");
	walk_class(fx, ORCH_AUTH_READ, "Bearer reader", ORCH_OK, NULL);
	walk_class(fx, ORCH_AUTH_READ, "Bearer sekrit", ORCH_OK, NULL);
	/* The read key does not mutate. */
	walk_class(fx, ORCH_AUTH_MUTATE, "Bearer reader", ORCH_EPERM,
	    "invalid token");
	/* Open methods stay open. */
	assert_true(walk_class(fx, ORCH_AUTH_OPEN, NULL, ORCH_OK, NULL) > 0);
	expect(call(fx, "Ping", &ping, NULL, &res), &res, ORCH_OK);
	orch_rpc_result_fini(&res);
}

static void
test_auth_read_key_without_api_key(void **state)
{
	struct fx *fx = fx_open(state, tw_read_key_only);

	auth_world(fx, NULL);
	/* API_KEY unset: mutations need nothing. */
	assert_true(walk_class(fx, ORCH_AUTH_MUTATE, NULL, ORCH_OK, NULL) > 0);
	/* READ_API_KEY set: reads need it. */
	walk_class(
	    fx, ORCH_AUTH_READ, NULL, ORCH_EUNAUTH, "missing bearer token");
	walk_class(fx, ORCH_AUTH_READ, "Bearer reader", ORCH_OK, NULL);
}

/* ------------------------------------------------------------------------ */
/* Bad input: INVALID_ARGUMENT naming the field, state unchanged. */

typedef void (*spoil_fn)(struct started *s);

static void
sp_key_type(struct started *s)
{
	s->key.key_type = "torrent";
}
static void
sp_key_type_null(struct started *s)
{
	s->key.key_type = NULL;
}
static void
sp_key_empty(struct started *s)
{
	s->key.key = "";
}
static void
sp_key_null(struct started *s)
{
	s->key.key = NULL;
}
static void
sp_no_stream(struct started *s)
{
	s->req.stream = NULL;
}
static void
sp_stat_ftp(struct started *s)
{
	s->ses.stat_url = "ftp://x";
}
static void
sp_stat_words(struct started *s)
{
	s->ses.stat_url = "not a url";
}
static void
sp_stat_empty_host(struct started *s)
{
	s->ses.stat_url = "http://";
}
static void
sp_cmd_ftp(struct started *s)
{
	s->ses.command_url = "ftp://x";
}
static void
sp_cmd_words(struct started *s)
{
	s->ses.command_url = "a b";
}
static void
sp_port_0(struct started *s)
{
	s->eng.port = 0;
}
static void
sp_port_big(struct started *s)
{
	s->eng.port = 70000;
}
static void
sp_port_neg(struct started *s)
{
	s->eng.port = -1;
}
static void
sp_port_missing(struct started *s)
{
	s->eng.has_port = 0;
}
static void
sp_host_empty(struct started *s)
{
	s->eng.host = "";
}
static void
sp_host_null(struct started *s)
{
	s->eng.host = NULL;
}
static void
sp_live_2(struct started *s)
{
	s->ses.is_live = 2;
}
static void
sp_live_neg(struct started *s)
{
	s->ses.is_live = -1;
}
static void
sp_no_psid(struct started *s)
{
	s->ses.playback_session_id = NULL;
}
static void
sp_empty_psid(struct started *s)
{
	s->ses.playback_session_id = "";
}
static void
sp_no_session(struct started *s)
{
	s->req.session = NULL;
}

static char long_key[4098];
static char long_host[300];
static char long_url[5000];

static void
fill_long(void)
{
	memset(long_key, 'k', sizeof(long_key) - 1);
	memset(long_host, 'h', sizeof(long_host) - 1);
	memcpy(long_url, "http://x/", 9);
	memset(long_url + 9, 'u', sizeof(long_url) - 10);
}

static void
sp_key_long(struct started *s)
{
	s->key.key = long_key;
}
static void
sp_host_long(struct started *s)
{
	s->eng.host = long_host;
}
static void
sp_stat_long(struct started *s)
{
	s->ses.stat_url = long_url;
}
static void
sp_psid_long(struct started *s)
{
	s->ses.playback_session_id = long_key;
}
static void
sp_cid_long(struct started *s)
{
	s->req.container_id = long_key;
}

static void
sp_stream_id_long(struct started *s)
{
	started_label(s, "stream_id", long_key);
}

static void
sp_no_engine_unknown_cid(struct started *s)
{
	s->req.engine = NULL;
	s->req.container_id = "unknown-container";
}

static void
sp_no_engine(struct started *s)
{
	s->req.engine = NULL;
}

static void
sp_empty_stream_id_label(struct started *s)
{
	started_label(s, "stream_id", "");
}

/* Regressions (issue 10, item 16): accepted before. */
static void
sp_stream_id_crlf(struct started *s)
{
	started_label(s, "stream_id", "abc\r\nX-Injected: 1");
}
static void
sp_stream_id_nul_like(struct started *s)
{
	started_label(s, "stream_id", "a\tb");
}
static void
sp_key_lf(struct started *s)
{
	s->key.key = "abc\ndef";
}
static void
sp_psid_cr(struct started *s)
{
	s->ses.playback_session_id = "p\r";
}
static void
sp_stat_null(struct started *s)
{
	s->ses.stat_url = NULL;
}

static const struct {
	spoil_fn spoil;
	const char *field;
} bad_started[] = {
    {sp_key_type, "stream.key_type"},
    {sp_key_type_null, "stream.key_type"},
    {sp_key_empty, "stream.key"},
    {sp_key_null, "stream.key"},
    {sp_no_stream, "stream"},
    {sp_stat_ftp, "session.stat_url"},
    {sp_stat_words, "session.stat_url"},
    {sp_stat_empty_host, "session.stat_url"},
    {sp_cmd_ftp, "session.command_url"},
    {sp_cmd_words, "session.command_url"},
    {sp_port_0, "engine.port"},
    {sp_port_big, "engine.port"},
    {sp_port_neg, "engine.port"},
    {sp_port_missing, "engine.port"},
    {sp_host_empty, "engine.host"},
    {sp_host_null, "engine.host"},
    {sp_live_2, "session.is_live"},
    {sp_live_neg, "session.is_live"},
    {sp_no_psid, "session.playback_session_id"},
    {sp_empty_psid, "session.playback_session_id"},
    {sp_no_session, "session.playback_session_id"},
    {sp_no_engine_unknown_cid, "engine"},
    {sp_no_engine, "engine"},
    {sp_empty_stream_id_label, "labels.stream_id"},
    {sp_stream_id_crlf, "labels.stream_id"},
    {sp_stream_id_nul_like, "labels.stream_id"},
    {sp_key_lf, "stream.key"},
    {sp_psid_cr, "session.playback_session_id"},
    {sp_stat_null, "session.stat_url"},
    {sp_key_long, "stream.key"},
    {sp_host_long, "engine.host"},
    {sp_stat_long, "session.stat_url"},
    {sp_psid_long, "session.playback_session_id"},
    {sp_cid_long, "container_id"},
    {sp_stream_id_long, "labels.stream_id"},
};

static void
test_bad_input_state_unchanged(void **state)
{
	struct fx *fx = fx_open(state, tw_two_per_engine);
	orch_rpc_result res;
	char *before, *after;
	char rid[33];

	fill_long();
	env_ok(fx);
	put_engine(fx, "e1", "acestream-1", "10.0.0.1", 19001, 19001);
	healthy(fx, "e1");
	start_ok(fx, "e1", NULL, 0, "live", "p");
	start_ok(fx, "e1", NULL, 0, "gone", "p");
	end_stream(fx, "gone|p", NULL, "done", true);
	/* A pending reservation a refused start must not consume. */
	select_ok(fx, true, "e1", rid);
	before = digest(fx);

	for (size_t i = 0; i < sizeof(bad_started) / sizeof(bad_started[0]);
	     i++) {
		struct started s;

		/* A start that would succeed (and would re-send "live|p",
		 * consume the reservation and add an unmanaged entry)... */
		started_init(&s, "10.7.7.7", 6878, "live", "p");
		started_label(&s, "reservation_id", rid);
		/* ...but for one field. */
		bad_started[i].spoil(&s);
		print_message(
		    "bad StreamStarted #%zu: %s\n", i, bad_started[i].field);
		expect_field(
		    started_call(fx, &s, &res), &res, bad_started[i].field);
		assert_null(res.reply);
		orch_rpc_result_fini(&res);
	}

	/* ListStreams */
	{
		Orch__ListStreamsRequest req =
		    ORCH__LIST_STREAMS_REQUEST__INIT;

		req.status = "running";
		expect_field(
		    call(fx, "ListStreams", &req, NULL, &res), &res, "status");
		orch_rpc_result_fini(&res);
		req.status = NULL;
		req.has_limit = 1;
		req.limit = 0;
		expect_field(
		    call(fx, "ListStreams", &req, NULL, &res), &res, "limit");
		orch_rpc_result_fini(&res);
		req.limit = -5;
		expect_field(
		    call(fx, "ListStreams", &req, NULL, &res), &res, "limit");
		orch_rpc_result_fini(&res);
	}
	/* GetEngine, GetStreamStats */
	{
		Orch__GetEngineRequest req = ORCH__GET_ENGINE_REQUEST__INIT;
		Orch__GetStreamStatsRequest sreq =
		    ORCH__GET_STREAM_STATS_REQUEST__INIT;

		expect_field(call(fx, "GetEngine", &req, NULL, &res), &res,
		    "container_id");
		orch_rpc_result_fini(&res);
		expect_field(call(fx, "GetStreamStats", &sreq, NULL, &res),
		    &res, "stream_id");
		orch_rpc_result_fini(&res);
		sreq.stream_id = "";
		expect_field(call(fx, "GetStreamStats", &sreq, NULL, &res),
		    &res, "stream_id");
		orch_rpc_result_fini(&res);
	}
	/* StreamEnded with an empty stream_id (even with a container_id
	 * that has exactly one active stream). */
	{
		Orch__StreamEndedRequest req =
		    ORCH__STREAM_ENDED_REQUEST__INIT;

		req.stream_id = "";
		expect_field(call(fx, "StreamEnded", &req, NULL, &res), &res,
		    "stream_id");
		orch_rpc_result_fini(&res);
		req.container_id = "e1";
		expect_field(call(fx, "StreamEnded", &req, NULL, &res), &res,
		    "stream_id");
		orch_rpc_result_fini(&res);
		req.stream_id = NULL;
		req.container_id = long_key;
		expect_field(call(fx, "StreamEnded", &req, NULL, &res), &res,
		    "container_id");
		orch_rpc_result_fini(&res);
		req.container_id = "e1";
		req.reason = long_host;
		expect_field(
		    call(fx, "StreamEnded", &req, NULL, &res), &res, "reason");
		orch_rpc_result_fini(&res);
	}
	/* ResetCircuitBreaker with a bad name. */
	reset_breaker(fx, "both", NULL, &res, ORCH_EINVAL);
	expect_field(res.status, &res, "operation_type");
	orch_rpc_result_fini(&res);

	after = digest(fx);
	assert_string_equal(before, after);
	free(before);
	free(after);
	assert_int_equal(reservations(fx), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_ping, fx_teardown),
	    cmocka_unit_test_teardown(
	        test_list_engines_sorted_with_fields, fx_teardown),
	    cmocka_unit_test_teardown(test_get_engine, fx_teardown),
	    cmocka_unit_test_teardown(test_list_streams_filters, fx_teardown),
	    cmocka_unit_test_teardown(
	        test_list_streams_default_limit_keeps_active, fx_teardown),
	    cmocka_unit_test_teardown(
	        test_list_streams_unmanaged_reappears, fx_teardown),
	    cmocka_unit_test_teardown(test_get_stream_stats, fx_teardown),
	    cmocka_unit_test_teardown(
	        test_stream_started_seed_example, fx_teardown),
	    cmocka_unit_test_teardown(
	        test_stream_started_engine_matching, fx_teardown),
	    cmocka_unit_test_teardown(
	        test_stream_started_resend_overwrites, fx_teardown),
	    cmocka_unit_test_teardown(test_stream_ended_cases, fx_teardown),
	    cmocka_unit_test_teardown(
	        test_select_engine_choice_and_reserve, fx_teardown),
	    cmocka_unit_test_teardown(test_select_engine_order, fx_teardown),
	    cmocka_unit_test_teardown(
	        test_select_reservation_consumed, fx_teardown),
	    cmocka_unit_test_teardown(
	        test_select_reservation_lapses, fx_teardown),
	    cmocka_unit_test_teardown(test_select_refusals, fx_teardown),
	    cmocka_unit_test_teardown(test_select_race_one_slot, fx_teardown),
	    cmocka_unit_test_teardown(test_get_status_counts, fx_teardown),
	    cmocka_unit_test_teardown(test_get_status_formula, fx_teardown),
	    cmocka_unit_test_teardown(test_vpn_enabled, fx_teardown),
	    cmocka_unit_test_teardown(test_vpn_disabled, fx_teardown),
	    cmocka_unit_test_teardown(test_get_health, fx_teardown),
	    cmocka_unit_test_teardown(test_reset_circuit_breaker, fx_teardown),
	    cmocka_unit_test_teardown(test_auth_mutating, fx_teardown),
	    cmocka_unit_test_teardown(test_auth_read_key, fx_teardown),
	    cmocka_unit_test_teardown(
	        test_auth_read_key_without_api_key, fx_teardown),
	    cmocka_unit_test_teardown(
	        test_bad_input_state_unchanged, fx_teardown),
	};

	return cmocka_run_group_tests_name("service", tests, NULL, NULL);
}
