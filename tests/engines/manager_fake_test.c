/*
 * The engine manager (src/engines/manager.h) against the in-memory fake
 * runtime (tests/runtime/fake_runtime.h): no Docker daemon, a manual clock,
 * and the runtime's answers on demand (a name or a port taken, Docker
 * down, the image missing, a create that fails, slow calls, lost events).
 *
 * Every case checks what the rules promise in the core's own accounting:
 * the state, the port pools, the breakers, the metrics, the provisions in
 * flight, and the fake's log of the calls the manager made. The real
 * daemon cases (manager_test, monitor_test, engines_service_test) hold the
 * same manager to Docker, and the fake to what Docker does.
 *
 * Host ports: the manager's probe is the test's (probe_free): no socket is
 * bound; a port "held on the host" is one the test marks taken.
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
#include <time.h>

#include <cmocka.h>

#include "src/base/time.h"
#include "src/core/config.h"
#include "src/core/control.h"
#include "src/core/core.h"
#include "src/engines/manager.h"
#include "src/engines/plan.h"
#include "tests/engines/fx.h"
#include "tests/runtime/fake_runtime.h"
#include "tests/testlib/testlib.h"

#define IMAGE FX_IMAGE
#define LKEY "orchestrator.managed"
#define LVAL "acestream"
#define HTTP_LO 19000
#define HTTP_HI 19009
#define HTTPS_LO 45000
#define S(x) ((int64_t) (x) *INT64_C(1000000))
#define T0 S(1700000000)

typedef struct fx {
	fx_mgr m; /* config, core (manual clock), manager over the fake */
	orch_fake_rt *fake;
	pthread_mutex_t taken_mu;
	bool taken[65536]; /* host ports held by "another process" */
} fx;

/* ---- helpers ------------------------------------------------------------ */

static bool
probe_free(void *arg, int port)
{
	fx *f = arg;
	bool taken;

	pthread_mutex_lock(&f->taken_mu);
	taken = f->taken[port];
	pthread_mutex_unlock(&f->taken_mu);
	return !taken;
}

static int
setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	pthread_mutex_init(&f->taken_mu, NULL);
	fx_config(&f->m, LKEY, LVAL, "acestream", HTTP_LO, HTTPS_LO,
	    HTTP_HI - HTTP_LO + 1);
	f->m.cfg.min_replicas = 0;
	f->m.cfg.max_replicas = 5;
	f->m.cfg.auto_delete = false;
	f->m.now = T0;
	if (orch_fake_rt_open(&f->fake) != ORCH_OK)
		return -1;
	orch_fake_rt_image_add(f->fake, IMAGE);
	orch_fake_rt_runtime(f->fake, &f->m.rt);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fx *f = *state;

	fx_fini(&f->m);
	orch_fake_rt_close(f->fake);
	pthread_mutex_destroy(&f->taken_mu);
	free(f);
	return 0;
}

/* Core + manager over the fake (after the case set its config). */
static void
start_mgr(fx *f, bool loops)
{
	orch_mgr_opts o = {
	    .port_probe = probe_free,
	    .port_probe_arg = f,
	    .no_loops = !loops,
	};

	fx_start(&f->m, orch_clock_manual(&f->m.now), &o);
}

static void
take_port(fx *f, int port, bool taken)
{
	pthread_mutex_lock(&f->taken_mu);
	f->taken[port] = taken;
	pthread_mutex_unlock(&f->taken_mu);
}

/* A snapshot of the core's accounting. */
typedef struct acct {
	int engines, running, http_used, https_used, provisioning, inflight;
	int failures; /* general breaker's consecutive failures */
	orch_breaker_state breaker;
	bool trial;
	bool docker_ok, image_ok;
	uint64_t ok, failed, refused;
} acct;

static acct
account(fx *f)
{
	acct a;

	orch_core_lock(&f->m.core);
	a.engines = f->m.core.state.counts.engines;
	a.running = f->m.core.state.counts.running;
	a.http_used = orch_ports_used(&f->m.core.http_ports);
	a.https_used = orch_ports_used(&f->m.core.https_ports);
	a.provisioning = f->m.core.provisioning;
	a.inflight = f->m.core.n_inflight;
	a.failures = f->m.core.general.failure_count;
	a.breaker = orch_breaker_state_at(&f->m.core.general, f->m.now);
	a.trial = f->m.core.general.trial_in_flight;
	a.docker_ok = f->m.core.env.docker_ok;
	a.image_ok = f->m.core.env.image_ok;
	a.ok = f->m.core.metrics.provision_engine_ok;
	a.failed = f->m.core.metrics.provision_engine_failed;
	a.refused = f->m.core.metrics.provision_engine_refused;
	orch_core_unlock(&f->m.core);
	return a;
}

/* Nothing of a provision is left over in the core. */
static void
assert_settled(fx *f)
{
	acct a = account(f);

	assert_int_equal(a.provisioning, 0);
	assert_int_equal(a.inflight, 0);
	assert_false(a.trial);
	assert_int_equal(a.http_used, a.engines);
	assert_int_equal(a.https_used, a.engines);
}

static orch_err
provision(fx *f, const orch_engine_request *req, int host_port,
    orch_provision_result *res, orch_refusal *ref, orch_diag *diag)
{
	orch_engine_request dflt = {0};

	return orch_mgr_provision(
	    f->m.mgr, req != NULL ? req : &dflt, host_port, res, ref, diag);
}

static orch_provision_result
provision_ok(fx *f, const orch_engine_request *req)
{
	orch_provision_result res;
	orch_refusal ref;
	orch_diag diag;
	orch_err rv = provision(f, req, 0, &res, &ref, &diag);

	if (rv != ORCH_OK) {
		char *log = orch_fake_rt_log_dump(f->fake);

		fail_msg("provision: %s (%s), refusal %s\n%s",
		    orch_strerror(rv), diag.msg,
		    orch_refusal_code_name(ref.code), log);
	}
	return res;
}

/* Position of the first log line starting with prefix, or -1. */
static int
log_index(fx *f, const char *prefix)
{
	char *log = orch_fake_rt_log_dump(f->fake), *line = log, *nl;
	int i = 0, at = -1;

	while (line != NULL && *line != '\0') {
		nl = strchr(line, '\n');
		if (strncmp(line, prefix, strlen(prefix)) == 0) {
			at = i;
			break;
		}
		line = nl != NULL ? nl + 1 : NULL;
		i++;
	}
	free(log);
	return at;
}

/* A container "someone else" made; labels as given. */
static char *
add_container(fx *f, const char *name, const orch_rt_kv *labels, size_t n,
    int port, bool start)
{
	orch_rt_publish pub = {port, port, "tcp"};
	orch_rt_create_spec spec = {
	    .name = name,
	    .image = IMAGE,
	    .labels = labels,
	    .n_labels = n,
	    .ports = &pub,
	    .n_ports = port > 0 ? 1 : 0,
	    .restart_policy = "unless-stopped",
	};
	char *id = NULL;

	assert_int_equal(
	    orch_fake_rt_add(f->fake, &spec, start, &id), ORCH_OK);
	return id;
}

/* Makes engine id unhealthy by failed probes (after one good one, so
 * that it is not a startup timeout instead). */
static void
make_unhealthy(fx *f, const char *id)
{
	(void) orch_core_apply_probe(&f->m.core, id, true, NULL, 0, NULL);
	for (int i = 0; i < f->m.cfg.health_failure_threshold; i++)
		(void) orch_core_apply_probe(
		    &f->m.core, id, false, NULL, 0, NULL);
	assert_int_equal(fx_eget(&f->m, id).health, ORCH_HEALTH_UNHEALTHY);
}

static void
note_id(void *arg, const orch_engine *e)
{
	char(*ids)[ORCH_CORE_ID_MAX] = arg;
	size_t i = 0;

	while (ids[i][0] != '\0')
		i++;
	if (i < 15)
		snprintf(ids[i], ORCH_CORE_ID_MAX, "%s", e->container_id);
}

/* One good probe for every running engine. */
static void
all_healthy(fx *f)
{
	char ids[16][ORCH_CORE_ID_MAX];

	memset(ids, 0, sizeof(ids));
	(void) orch_core_visit_probe_targets(&f->m.core, note_id, ids);
	for (size_t i = 0; ids[i][0] != '\0'; i++)
		(void) orch_core_apply_probe(
		    &f->m.core, ids[i], true, NULL, 0, NULL);
}

/* ---- provisioning ---------------------------------------------------------
 */

static void
test_provision_shape(void **state)
{
	fx *f = *state;
	orch_label labels[] = {{"x.custom", "yes"}};
	orch_label env[] = {{"FOO", "bar"}, {"HTTP_PORT", "1"}};
	orch_engine_request req = {labels, 1, env, 2, NULL, NULL, false, 0};
	orch_provision_result r;
	orch_rt_container c;
	const orch_rt_port *p;
	char want[160];
	fx_esnap e;
	acct a;

	start_mgr(f, false);
	r = provision_ok(f, &req);
	assert_string_equal(r.container_name, "acestream-1");
	assert_int_equal(strlen(r.container_id), 64);
	assert_int_equal(r.host_http_port, HTTP_LO);
	assert_int_equal(r.container_http_port, HTTP_LO);
	assert_int_equal(r.container_https_port, HTTPS_LO);

	/* What the runtime was asked for. */
	assert_int_equal(
	    orch_fake_rt_get(f->fake, r.container_id, &c), ORCH_OK);
	assert_string_equal(c.name, "acestream-1");
	assert_string_equal(c.image, IMAGE);
	assert_string_equal(c.state, "running");
	assert_string_equal(orch_rt_container_label(&c, LKEY), LVAL);
	assert_string_equal(
	    orch_rt_container_label(&c, "acestream.http_port"), "19000");
	assert_string_equal(
	    orch_rt_container_label(&c, "acestream.https_port"), "45000");
	assert_string_equal(
	    orch_rt_container_label(&c, "host.http_port"), "19000");
	assert_null(orch_rt_container_label(&c, "host.https_port"));
	assert_string_equal(orch_rt_container_label(&c, "x.custom"), "yes");
	assert_int_equal(c.n_labels, 5);
	assert_string_equal(fx_env_value(&c, "CONF"),
	    "--http-port=19000\n--https-port=45000\n--bind-all");
	assert_string_equal(fx_env_value(&c, "HTTP_PORT"), "19000");
	assert_string_equal(fx_env_value(&c, "HTTPS_PORT"), "45000");
	assert_string_equal(fx_env_value(&c, "BIND_ALL"), "true");
	assert_string_equal(fx_env_value(&c, "FOO"), "bar");
	assert_null(fx_env_value(&c, "P2P_PORT"));
	snprintf(want, sizeof(want), "%d/tcp", HTTP_LO);
	p = orch_rt_container_port(&c, want);
	assert_non_null(p);
	assert_int_equal(p->n_bindings, 1);
	assert_string_equal(p->bindings[0].host_ip, "127.0.0.1");
	assert_int_equal(atoi(p->bindings[0].host_port), HTTP_LO);
	assert_int_equal(c.n_ports, 1);
	orch_rt_container_fini(&c);

	/* In state at once, ports accounted, the breaker and metrics told. */
	e = fx_eget(&f->m, r.container_id);
	assert_true(e.found && e.managed && e.running);
	assert_string_equal(e.name, "acestream-1");
	assert_int_equal(e.host_http_port, HTTP_LO);
	assert_int_equal(e.container_https_port, HTTPS_LO);
	assert_true(fx_http_in_use(&f->m, HTTP_LO));
	a = account(f);
	assert_int_equal(a.engines, 1);
	assert_int_equal(a.failures, 0);
	assert_int_equal(a.ok, 1);
	/* Started is not yet a breaker success: its first healthy probe
	 * is (defect 1). */
	assert_true(f->m.core.general.last_success_us == 0);
	(void) orch_core_apply_probe(
	    &f->m.core, r.container_id, true, NULL, 0, NULL);
	assert_true(f->m.core.general.last_success_us == T0);
	assert_settled(f);
	/* One create and one start, nothing else. */
	assert_int_equal(
	    orch_fake_rt_log_count(f->fake, "create acestream-1"), 1);
	assert_int_equal(orch_fake_rt_calls(f->fake, ORCH_FAKE_START), 1);
	assert_int_equal(orch_fake_rt_calls(f->fake, ORCH_FAKE_REMOVE), 0);

	/* The next one: next number, next ports. */
	r = provision_ok(f, NULL);
	assert_string_equal(r.container_name, "acestream-2");
	assert_int_equal(r.host_http_port, HTTP_LO + 1);
	assert_int_equal(r.container_https_port, HTTPS_LO + 1);
	assert_settled(f);
}

/*
 * Defects 3 and 12: the caller's mistakes are refused before anything is
 * reserved or created, naming the field, and never count against the
 * breaker: label keys with '=' (which used to override our labels when
 * joined), empty, reserved (ours, or under our prefixes) or with control
 * characters; image references Docker would refuse.
 */
static void
test_bad_requests(void **state)
{
	fx *f = *state;
	static const struct {
		orch_label label;
		const char *image;
		const char *field;
	} cases[] = {
	    {{"orchestrator.managed=x", "y"}, NULL, "labels"},
	    {{"acestream.http_port=1", "evil"}, NULL, "labels"},
	    {{LKEY, "stolen"}, NULL, "labels"},
	    {{"acestream.https_port", "1"}, NULL, "labels"},
	    {{"host.http_port", "1"}, NULL, "labels"},
	    {{"orchestrator.vpn", "x"}, NULL, "labels"},
	    {{"", "empty"}, NULL, "labels"},
	    {{"a\r\nb", "crlf"}, NULL, "labels"},
	    {{"ok", "v\nw"}, NULL, "labels"},
	    {{"ok", "v"}, "A", "image"},
	    {{"ok", "v"}, "Upper/case", "image"},
	    {{"ok", "v"}, "a b", "image"},
	    {{"ok", "v"}, "img:", "image"},
	    {{"ok", "v"}, "img:-tag", "image"},
	    {{"ok", "v"}, "img@sha256:12", "image"},
	    {{"ok", "v"}, "/img", "image"},
	};
	orch_provision_result r;
	orch_refusal ref;
	orch_diag diag;

	f->m.cfg.cb_failure_threshold = 1;
	start_mgr(f, false);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		orch_engine_request req = {&cases[i].label, 1, NULL, 0,
		    cases[i].image, NULL, false, 0};

		assert_int_equal(
		    provision(f, &req, 0, &r, &ref, &diag), ORCH_EINVAL);
		assert_string_equal(diag.field, cases[i].field);
		assert_int_equal(ref.code, ORCH_REFUSE_NONE);
	}
	assert_int_equal(orch_fake_rt_calls(f->fake, ORCH_FAKE_CREATE), 0);
	assert_int_equal(account(f).failures, 0);
	assert_int_equal(account(f).breaker, ORCH_BREAKER_CLOSED);
	/* Valid references still go through. */
	{
		orch_label ok = {"x.custom", "1"};
		orch_engine_request req = {&ok, 1, NULL, 0,
		    "localhost:5000/acestream-sim:latest", NULL, false, 0};

		assert_int_equal(
		    provision(f, &req, 0, &r, &ref, &diag), ORCH_EPRECOND);
		assert_int_equal(account(f).failures, 0);
	}
	assert_settled(f);
}

/* Defect 7: a provision whose deadline passed (queued behind a slow
 * runtime while the caller gave up) creates nothing and answers
 * DEADLINE_EXCEEDED; the breaker is not charged. */
static void
test_provision_deadline(void **state)
{
	fx *f = *state;
	orch_engine_request req = {NULL, 0, NULL, 0, NULL, NULL, false, 0};
	orch_provision_result r;
	orch_refusal ref;
	orch_diag diag;

	start_mgr(f, false);
	req.deadline_ms = orch_mono_ms() - 1;
	assert_int_equal(
	    provision(f, &req, 0, &r, &ref, &diag), ORCH_ETIMEDOUT);
	assert_non_null(strstr(diag.msg, "deadline"));
	assert_int_equal(orch_fake_rt_calls(f->fake, ORCH_FAKE_CREATE), 0);
	assert_int_equal(account(f).failures, 0);
	assert_false(account(f).trial);
	assert_settled(f);
	/* With time left it provisions. */
	req.deadline_ms = orch_mono_ms() + 60000;
	assert_int_equal(provision(f, &req, 0, &r, &ref, &diag), ORCH_OK);
}

static void
test_explicit_host_port(void **state)
{
	fx *f = *state;
	orch_provision_result r;
	orch_refusal ref;
	orch_diag diag;

	start_mgr(f, false);
	/* Outside PORT_RANGE_HOST: refused naming the field (defect 15:
	 * {"host_port":1} used to publish an engine on port 1). */
	assert_int_equal(provision(f, NULL, 1, &r, &ref, &diag), ORCH_EINVAL);
	assert_string_equal(diag.field, "host_port");
	assert_non_null(strstr(diag.msg, "PORT_RANGE_HOST"));
	assert_int_equal(
	    provision(f, NULL, 18500, &r, &ref, &diag), ORCH_EINVAL);
	assert_int_equal(orch_fake_rt_calls(f->fake, ORCH_FAKE_CREATE), 0);
	/* In range: used as given. */
	assert_int_equal(
	    provision(f, NULL, HTTP_LO + 7, &r, &ref, &diag), ORCH_OK);
	assert_int_equal(r.host_http_port, HTTP_LO + 7);
	/* The same port again: in use (the engine holds it; the probe too). */
	take_port(f, HTTP_LO + 7, true);
	assert_int_equal(
	    provision(f, NULL, HTTP_LO + 7, &r, &ref, &diag), ORCH_EEXIST);
	assert_string_equal(diag.field, "host_port");
	assert_non_null(strstr(diag.msg, "19007"));
	/* Inside the pool, then taken there. */
	assert_int_equal(
	    provision(f, NULL, HTTP_LO + 3, &r, &ref, &diag), ORCH_OK);
	assert_true(fx_http_in_use(&f->m, HTTP_LO + 3));
	assert_int_equal(
	    provision(f, NULL, HTTP_LO + 3, &r, &ref, &diag), ORCH_EEXIST);
	assert_int_equal(account(f).failures, 0);
	assert_int_equal(account(f).provisioning, 0);
	assert_false(account(f).trial);
}

static void
test_name_taken_retry(void **state)
{
	fx *f = *state;
	orch_rt_kv other[] = {{"orchestrator.other", "x"}};
	orch_provision_result r;
	char *left;

	start_mgr(f, false);
	/* A leftover holds acestream-1 on the runtime (not ours, so the
	 * reconcile never adopts it and the core does not know the name). */
	left = add_container(f, "acestream-1", other, 1, 0, false);
	r = provision_ok(f, NULL);
	assert_string_equal(r.container_name, "acestream-2");
	assert_int_equal(
	    orch_fake_rt_log_count(f->fake, "create acestream-1"), 1);
	assert_int_equal(
	    orch_fake_rt_log_count(f->fake, "create acestream-2"), 1);
	/* The first attempt left nothing; the leftover is untouched. */
	assert_int_equal(orch_fake_rt_count(f->fake, NULL), 2);
	assert_int_equal(orch_fake_rt_calls(f->fake, ORCH_FAKE_REMOVE), 0);
	assert_int_equal(account(f).failures, 0);
	assert_settled(f);
	/* The number taken on the runtime is retried next time (the core
	 * does not know it): acestream-1 fails again, then acestream-3. */
	r = provision_ok(f, NULL);
	assert_string_equal(r.container_name, "acestream-3");
	assert_settled(f);
	free(left);
}

static void
test_port_conflict_retry(void **state)
{
	fx *f = *state;
	orch_provision_result r;
	acct a;

	start_mgr(f, false);
	/* Someone binds 19000 between the probe and the start: the probe
	 * said free, the runtime says "port is already allocated". */
	orch_fake_rt_block_port(f->fake, HTTP_LO, true);
	r = provision_ok(f, NULL);
	assert_int_equal(r.host_http_port, HTTP_LO + 1);
	assert_string_equal(r.container_name, "acestream-1");
	assert_false(fx_http_in_use(&f->m, HTTP_LO)); /* released, once */
	assert_true(fx_http_in_use(&f->m, HTTP_LO + 1));
	/* The failed container was removed: one container, running. */
	assert_int_equal(orch_fake_rt_count(f->fake, NULL), 1);
	assert_int_equal(orch_fake_rt_count(f->fake, "running"), 1);
	assert_int_equal(orch_fake_rt_calls(f->fake, ORCH_FAKE_START), 2);
	assert_int_equal(orch_fake_rt_calls(f->fake, ORCH_FAKE_REMOVE), 1);
	a = account(f);
	assert_int_equal(a.failures, 0);
	assert_int_equal(a.ok, 1);
	assert_settled(f);

	/* Every port of the range blocked: PORT_ATTEMPTS starts, then a
	 * failure counted against the breaker; ports released exactly
	 * once (the pool holds only the first engine's). */
	for (int p = HTTP_LO; p <= HTTP_HI; p++)
		orch_fake_rt_block_port(f->fake, p, true);
	{
		orch_refusal ref;
		orch_diag diag;

		assert_int_not_equal(
		    provision(f, NULL, 0, &r, &ref, &diag), ORCH_OK);
		assert_int_equal(ref.code, ORCH_REFUSE_NONE);
		assert_non_null(strstr(diag.msg, "port is already allocated"));
	}
	a = account(f);
	assert_int_equal(a.failures, 1);
	assert_int_equal(a.failed, 1);
	assert_int_equal(orch_fake_rt_count(f->fake, NULL), 1);
	assert_settled(f);
}

static void
test_docker_down(void **state)
{
	fx *f = *state;
	orch_provision_result r;
	orch_refusal ref;
	orch_diag diag;
	acct a;
	int creates;

	start_mgr(f, false);
	assert_true(account(f).docker_ok);
	orch_fake_rt_set_down(f->fake, true);
	assert_int_equal(
	    provision(f, NULL, 0, &r, &ref, &diag), ORCH_EUNAVAIL);
	assert_int_equal(ref.code, ORCH_REFUSE_DOCKER);
	assert_string_equal(
	    orch_refusal_code_name(ref.code), "docker_unavailable");
	a = account(f);
	assert_false(a.docker_ok);
	assert_int_equal(a.failures, 0); /* not the engine's fault */
	assert_int_equal(a.breaker, ORCH_BREAKER_CLOSED);
	assert_int_equal(a.refused, 1);
	assert_int_equal(a.engines, 0);
	assert_int_equal(a.http_used, 0); /* nothing leaked */
	assert_settled(f);
	assert_int_equal(orch_fake_rt_count(f->fake, NULL), 0);

	/* Now the policy refuses before any runtime call. */
	creates = orch_fake_rt_calls(f->fake, ORCH_FAKE_CREATE);
	assert_int_equal(
	    provision(f, NULL, 0, &r, &ref, &diag), ORCH_EUNAVAIL);
	assert_int_equal(ref.code, ORCH_REFUSE_DOCKER);
	assert_int_equal(
	    orch_fake_rt_calls(f->fake, ORCH_FAKE_CREATE), creates);
	assert_int_equal(account(f).refused, 2);

	/* Back up: the reconcile says so, and provisioning works again. */
	orch_fake_rt_set_down(f->fake, false);
	orch_mgr_reconcile(f->m.mgr);
	assert_true(account(f).docker_ok);
	(void) provision_ok(f, NULL);
	assert_settled(f);
}

static void
test_image_missing(void **state)
{
	fx *f = *state;
	orch_engine_request custom = {
	    NULL, 0, NULL, 0, "other/image:1", NULL, false, 0};
	orch_provision_result r;
	orch_refusal ref;
	orch_diag diag;
	acct a;

	start_mgr(f, false);
	assert_true(account(f).image_ok);
	/* A request naming a missing image: refused, TARGET_IMAGE still
	 * fine. */
	assert_int_equal(
	    provision(f, &custom, 0, &r, &ref, &diag), ORCH_EPRECOND);
	assert_string_equal(
	    orch_refusal_code_name(ref.code), "image_unavailable");
	assert_true(account(f).image_ok);
	/* TARGET_IMAGE gone from the runtime. */
	orch_fake_rt_image_remove(f->fake, IMAGE);
	assert_int_equal(
	    provision(f, NULL, 0, &r, &ref, &diag), ORCH_EPRECOND);
	assert_int_equal(ref.code, ORCH_REFUSE_IMAGE);
	a = account(f);
	assert_false(a.image_ok);
	assert_int_equal(a.failures, 0);
	assert_int_equal(a.refused, 2);
	assert_int_equal(a.http_used, 0);
	assert_settled(f);
	/* The policy now refuses without asking the runtime. */
	assert_int_equal(
	    provision(f, NULL, 0, &r, &ref, &diag), ORCH_EPRECOND);
	assert_int_equal(orch_fake_rt_calls(f->fake, ORCH_FAKE_CREATE), 2);
	/* The image back: the reconcile sees it. */
	orch_fake_rt_image_add(f->fake, IMAGE);
	orch_mgr_reconcile(f->m.mgr);
	assert_true(account(f).image_ok);
}

static void
test_create_fails(void **state)
{
	fx *f = *state;
	orch_provision_result r, r2;
	orch_refusal ref;
	orch_diag diag;
	acct a;

	f->m.cfg.cb_failure_threshold = 2;
	start_mgr(f, false);
	orch_fake_rt_fail(f->fake, ORCH_FAKE_CREATE, 1, ORCH_EINTERNAL, 500,
	    "HTTP 500: something broke");
	assert_int_equal(
	    provision(f, NULL, 0, &r, &ref, &diag), ORCH_EINTERNAL);
	assert_int_equal(ref.code, ORCH_REFUSE_NONE);
	assert_non_null(strstr(diag.msg, "something broke"));
	a = account(f);
	assert_int_equal(a.failures, 1);
	assert_int_equal(a.failed, 1);
	assert_int_equal(a.http_used, 0);
	assert_false(fx_http_in_use(&f->m, HTTP_LO));
	assert_settled(f);

	/* Created but the start fails: removed, nothing left behind; the
	 * breaker opens at its threshold. */
	orch_fake_rt_fail(
	    f->fake, ORCH_FAKE_START, 1, ORCH_EINTERNAL, 500, "HTTP 500: no");
	assert_int_equal(
	    provision(f, NULL, 0, &r, &ref, &diag), ORCH_EINTERNAL);
	assert_int_equal(orch_fake_rt_count(f->fake, NULL), 0);
	assert_int_equal(orch_fake_rt_calls(f->fake, ORCH_FAKE_REMOVE), 1);
	a = account(f);
	assert_int_equal(a.failures, 2);
	assert_int_equal(a.breaker, ORCH_BREAKER_OPEN);
	assert_settled(f);

	/* Open: refused by the policy, no runtime call. */
	assert_int_equal(
	    provision(f, NULL, 0, &r, &ref, &diag), ORCH_EPRECOND);
	assert_int_equal(ref.code, ORCH_REFUSE_BREAKER);
	assert_int_equal(orch_fake_rt_calls(f->fake, ORCH_FAKE_CREATE), 2);

	/* Half-open after the timeout: one trial, whose engine's first
	 * healthy probe closes it; until then others are refused. */
	f->m.now += S(f->m.cfg.cb_recovery_timeout_s + 1);
	r = provision_ok(f, NULL);
	a = account(f);
	assert_int_equal(a.breaker, ORCH_BREAKER_HALF_OPEN);
	assert_int_equal(
	    provision(f, NULL, 0, &r2, &ref, &diag), ORCH_EPRECOND);
	assert_int_equal(ref.code, ORCH_REFUSE_BREAKER);
	(void) orch_core_apply_probe(
	    &f->m.core, r.container_id, true, NULL, 0, NULL);
	a = account(f);
	assert_int_equal(a.breaker, ORCH_BREAKER_CLOSED);
	assert_int_equal(a.failures, 0);
	assert_settled(f);
}

typedef struct par {
	fx *f;
	orch_err rv;
	orch_refusal ref;
	orch_provision_result res;
} par;

static void *
par_main(void *arg)
{
	par *p = arg;
	orch_engine_request req = {0};
	orch_diag diag;

	p->rv =
	    orch_mgr_provision(p->f->m.mgr, &req, 0, &p->res, &p->ref, &diag);
	return NULL;
}

static void
test_max_replicas_concurrent(void **state)
{
	fx *f = *state;
	pthread_t t[8];
	par p[8];
	int ok = 0, full = 0;
	bool names[4] = {false};

	f->m.cfg.max_replicas = 3;
	start_mgr(f, false);
	/* Slow creates: all eight are in flight together. */
	orch_fake_rt_delay(f->fake, ORCH_FAKE_CREATE, 100);
	for (int i = 0; i < 8; i++) {
		p[i].f = f;
		assert_int_equal(
		    pthread_create(&t[i], NULL, par_main, &p[i]), 0);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 8; i++) {
		if (p[i].rv == ORCH_OK) {
			int n = orch_engine_name_number(
			    "acestream", p[i].res.container_name);

			ok++;
			assert_true(n >= 1 && n <= 3);
			assert_false(names[n]); /* distinct numbers */
			names[n] = true;
		} else {
			assert_int_equal(p[i].rv, ORCH_EEXHAUSTED);
			assert_int_equal(p[i].ref.code, ORCH_REFUSE_MAX);
			full++;
		}
	}
	assert_int_equal(ok, 3);
	assert_int_equal(full, 5);
	assert_int_equal(account(f).engines, 3);
	assert_int_equal(orch_fake_rt_count(f->fake, "running"), 3);
	assert_int_equal(orch_fake_rt_calls(f->fake, ORCH_FAKE_CREATE), 3);
	assert_settled(f);
}

static void
test_delete(void **state)
{
	fx *f = *state;
	orch_rt_kv other[] = {{"orchestrator.other", "x"}};
	orch_rt_kv ours[] = {{LKEY, LVAL}};
	orch_provision_result r, r2;
	char deleted[80], reason[64], *left, *stopped;
	orch_diag diag;

	start_mgr(f, false);
	r = provision_ok(f, NULL);
	fx_stream_on(&f->m, r.container_id, "s1");
	assert_int_equal(orch_mgr_delete(f->m.mgr, r.container_id, deleted,
	                     sizeof(deleted), &diag),
	    ORCH_OK);
	assert_string_equal(deleted, r.container_id);
	assert_false(fx_eget(&f->m, r.container_id).found);
	assert_int_equal(orch_fake_rt_count(f->fake, NULL), 0);
	assert_false(fx_http_in_use(&f->m, r.host_http_port));
	assert_int_equal(
	    fx_stream_status(&f->m, "s1", reason, sizeof(reason)), 2);
	assert_string_equal(reason, "engine_gone");
	assert_int_equal(orch_fake_rt_log_count(f->fake, "stop "), 1);

	/* By name; unknown; not managed (left alone). */
	r2 = provision_ok(f, NULL);
	assert_int_equal(orch_mgr_delete(f->m.mgr, r2.container_name, deleted,
	                     sizeof(deleted), &diag),
	    ORCH_OK);
	assert_string_equal(deleted, r2.container_id);
	assert_int_equal(
	    orch_mgr_delete(f->m.mgr, "nope", deleted, sizeof(deleted), &diag),
	    ORCH_ENOTFOUND);
	assert_string_equal(diag.msg, "no such container");
	left = add_container(f, "someone-else", other, 1, 0, true);
	assert_int_equal(
	    orch_mgr_delete(f->m.mgr, left, deleted, sizeof(deleted), &diag),
	    ORCH_ENOTFOUND);
	assert_non_null(strstr(diag.msg, "not managed"));
	assert_int_equal(orch_fake_rt_count(f->fake, "running"), 1);
	/* A managed container that is no engine in state (stopped). */
	stopped = add_container(f, "generic-1", ours, 1, 0, false);
	assert_int_equal(orch_mgr_delete(f->m.mgr, "generic-1", deleted,
	                     sizeof(deleted), &diag),
	    ORCH_OK);
	assert_string_equal(deleted, stopped);
	assert_int_equal(orch_fake_rt_count(f->fake, NULL), 1);
	assert_settled(f);
	free(left);
	free(stopped);
}

/* ---- reconcile and adoption ------------------------------------------- */

/* Labels an engine of a previous run would carry. */
#define ENGINE_LABELS(http, https)                                            \
	{                                                                     \
		{LKEY, LVAL}, {"acestream.http_port", http},                  \
		    {"acestream.https_port", https},                          \
		    {"host.http_port", http},                                 \
	}

static void
test_reconcile_adoption(void **state)
{
	fx *f = *state;
	orch_rt_kv run[] = ENGINE_LABELS("19005", "45005");
	orch_rt_kv stop[] = ENGINE_LABELS("19006", "45006");
	orch_rt_kv generic[] = {{LKEY, LVAL}};
	char *a, *b, *g;
	fx_esnap e;

	a = add_container(f, "acestream-7", run, 4, 19005, true);
	b = add_container(f, "acestream-8", stop, 4, 19006, false);
	g = add_container(f, "generic-1", generic, 1, 0, true);
	start_mgr(f, false); /* the first reconcile adopts */
	e = fx_eget(&f->m, a);
	assert_true(e.found && e.running && e.managed);
	assert_string_equal(e.name, "acestream-7");
	assert_int_equal(e.host_http_port, 19005);
	assert_int_equal(e.container_https_port, 45005);
	assert_true(fx_http_in_use(&f->m, 19005));
	assert_false(fx_eget(&f->m, b).found); /* stopped: not adopted */
	assert_false(fx_eget(&f->m, g).found); /* no engine labels */
	assert_int_equal(account(f).engines, 1);
	assert_settled(f);
	/* Numbers are the smallest free ones; ports skip the adopted one. */
	{
		orch_provision_result r = provision_ok(f, NULL);

		assert_string_equal(r.container_name, "acestream-1");
		assert_int_not_equal(r.host_http_port, 19005);
	}

	/* A restart (crash, held in "restarting"): alive for the
	 * reconcile (defect 5): it stays, its ports stay held, so that no
	 * new engine takes them before Docker starts it again. */
	assert_int_equal(orch_fake_rt_crash(f->fake, a, true), ORCH_OK);
	/* (A reconcile judges only engines seen before its list: time must
	 * move on the manual clock.) */
	f->m.now += S(1);
	orch_mgr_reconcile(f->m.mgr);
	assert_true(fx_eget(&f->m, a).found);
	assert_true(fx_http_in_use(&f->m, 19005));
	assert_int_equal(orch_fake_rt_start(f->fake, a), ORCH_OK);
	f->m.now += S(1);
	orch_mgr_reconcile(f->m.mgr);
	e = fx_eget(&f->m, a);
	assert_true(e.found && e.running);
	assert_int_equal(e.host_http_port, 19005);
	assert_true(fx_http_in_use(&f->m, 19005));

	/* Gone from the runtime (no events here): the reconcile drops it. */
	assert_int_equal(orch_fake_rt_destroy(f->fake, a), ORCH_OK);
	f->m.now += S(1);
	orch_mgr_reconcile(f->m.mgr);
	assert_false(fx_eget(&f->m, a).found);
	assert_false(fx_http_in_use(&f->m, 19005));
	assert_int_equal(account(f).engines, 1);
	assert_settled(f);

	/* Docker down: the reconcile says so and drops nothing. */
	orch_fake_rt_set_down(f->fake, true);
	orch_mgr_reconcile(f->m.mgr);
	assert_false(account(f).docker_ok);
	assert_int_equal(account(f).engines, 1);
	free(a);
	free(b);
	free(g);
}

/* ---- events --------------------------------------------------------------
 */

static void
test_events(void **state)
{
	fx *f = *state;
	orch_provision_result r;
	orch_rt_kv run[] = ENGINE_LABELS("19008", "45008");
	char reason[64], *x;
	bool ok;

	start_mgr(f, true);
	/* The stream connects and asks for a reconcile; wait for it. */
	TL_WAIT_FOR(
	    ok, orch_fake_rt_calls(f->fake, ORCH_FAKE_LIST) >= 2, 2000);
	assert_true(ok);
	r = provision_ok(f, NULL);
	fx_stream_on(&f->m, r.container_id, "s1");

	/* die: the engine is down, its streams end. */
	assert_int_equal(
	    orch_fake_rt_die(f->fake, r.container_id, 1), ORCH_OK);
	TL_WAIT_FOR(ok, !fx_eget(&f->m, r.container_id).running, 2000);
	assert_true(ok);
	assert_true(fx_eget(&f->m, r.container_id).found);
	assert_int_equal(
	    fx_stream_status(&f->m, "s1", reason, sizeof(reason)), 2);
	assert_string_equal(reason, "engine_gone");
	assert_int_equal(account(f).running, 0);

	/* start: the same engine is back, same ports. */
	assert_int_equal(orch_fake_rt_start(f->fake, r.container_id), ORCH_OK);
	TL_WAIT_FOR(ok, fx_eget(&f->m, r.container_id).running, 2000);
	assert_true(ok);
	assert_int_equal(
	    fx_eget(&f->m, r.container_id).host_http_port, r.host_http_port);

	/* A crash loop: every die ends the streams, every start brings the
	 * same engine back; it ends up running. */
	fx_stream_on(&f->m, r.container_id, "s2");
	assert_int_equal(
	    orch_fake_rt_crash_loop(f->fake, r.container_id, 3), ORCH_OK);
	TL_WAIT_FOR(ok,
	    fx_stream_status(&f->m, "s2", reason, sizeof(reason)) == 2 &&
	        fx_eget(&f->m, r.container_id).running,
	    2000);
	assert_true(ok);
	assert_int_equal(
	    fx_eget(&f->m, r.container_id).host_http_port, r.host_http_port);

	/* destroy: gone, ports released. */
	assert_int_equal(
	    orch_fake_rt_destroy(f->fake, r.container_id), ORCH_OK);
	TL_WAIT_FOR(ok, !fx_eget(&f->m, r.container_id).found, 2000);
	assert_true(ok);
	assert_false(fx_http_in_use(&f->m, r.host_http_port));
	assert_settled(f);

	/* A managed container we did not know starts: adopted by inspect. */
	x = add_container(f, "acestream-9", run, 4, 19008, false);
	assert_int_equal(orch_fake_rt_start(f->fake, x), ORCH_OK);
	TL_WAIT_FOR(ok, fx_eget(&f->m, x).found, 2000);
	assert_true(ok);
	assert_true(fx_http_in_use(&f->m, 19008));

	/* Lost events (kill, die, destroy of a removal): the engine stays
	 * in state until the next reconcile heals it. */
	orch_fake_rt_drop_events(f->fake, 3);
	assert_int_equal(orch_fake_rt_destroy(f->fake, x), ORCH_OK);
	tl_sleep_ms(100);
	assert_true(fx_eget(&f->m, x).found);
	f->m.now += S(1);
	orch_mgr_reconcile(f->m.mgr);
	assert_false(fx_eget(&f->m, x).found);
	assert_false(fx_http_in_use(&f->m, 19008));
	assert_settled(f);
	free(x);
}

static void
test_events_reconnect(void **state)
{
	fx *f = *state;
	orch_provision_result r;
	int lists;
	bool ok;

	start_mgr(f, true);
	TL_WAIT_FOR(
	    ok, orch_fake_rt_calls(f->fake, ORCH_FAKE_LIST) >= 2, 2000);
	assert_true(ok);
	r = provision_ok(f, NULL);
	/* Down: the stream drops; what happens meanwhile is not seen. */
	orch_fake_rt_set_down(f->fake, true);
	tl_sleep_ms(50);
	lists = orch_fake_rt_calls(f->fake, ORCH_FAKE_LIST);
	assert_int_equal(
	    orch_fake_rt_destroy(f->fake, r.container_id), ORCH_OK);
	tl_sleep_ms(50);
	assert_true(fx_eget(&f->m, r.container_id).found);
	/* Up: the reconnect triggers a reconcile, which heals it. */
	f->m.now += S(1);
	orch_fake_rt_set_down(f->fake, false);
	TL_WAIT_FOR(ok, !fx_eget(&f->m, r.container_id).found, 2000);
	assert_true(ok);
	assert_true(orch_fake_rt_calls(f->fake, ORCH_FAKE_LIST) > lists);
	assert_settled(f);
}

/* ---- the control pass ------------------------------------------------ */

static void
test_startup_timeout(void **state)
{
	fx *f = *state;
	orch_provision_result r, r2;
	acct a;

	start_mgr(f, false);
	r = provision_ok(f, NULL);
	f->m.now += S(10);
	r2 = provision_ok(f, NULL);
	(void) orch_core_apply_probe(
	    &f->m.core, r2.container_id, true, NULL, 0, NULL);
	/* Before the timeout: nothing. */
	f->m.now += S(f->m.cfg.startup_timeout_s - 11);
	orch_mgr_control_pass(f->m.mgr);
	assert_true(fx_eget(&f->m, r.container_id).found);
	/* After: the one never healthy is removed, a breaker failure. */
	f->m.now += S(2);
	orch_mgr_control_pass(f->m.mgr);
	assert_false(fx_eget(&f->m, r.container_id).found);
	assert_true(fx_eget(&f->m, r2.container_id).found);
	assert_int_equal(orch_fake_rt_count(f->fake, NULL), 1);
	assert_int_equal(orch_fake_rt_log_count(f->fake, "remove "), 1);
	a = account(f);
	assert_int_equal(a.failures, 1);
	assert_int_equal(a.engines, 1);
	assert_settled(f);
}

static void
test_replacement_new_first(void **state)
{
	fx *f = *state;
	orch_provision_result sick, ok;
	int created, stopped;

	f->m.cfg.max_replicas = 3;
	start_mgr(f, false);
	sick = provision_ok(f, NULL);
	ok = provision_ok(f, NULL);
	(void) orch_core_apply_probe(
	    &f->m.core, ok.container_id, true, NULL, 0, NULL);
	make_unhealthy(f, sick.container_id);
	orch_fake_rt_log_clear(f->fake);
	/* Not yet: the grace period. */
	orch_mgr_control_pass(f->m.mgr);
	assert_int_equal(orch_fake_rt_calls(f->fake, ORCH_FAKE_CREATE), 0);
	f->m.now += S(f->m.cfg.health_unhealthy_grace_period_s + 1);
	orch_mgr_control_pass(f->m.mgr);
	/* Below MAX_REPLICAS: the new one started before the sick one
	 * stopped. */
	created = log_index(f, "create acestream-");
	stopped = log_index(f, "stop ");
	assert_true(created >= 0 && stopped >= 0);
	assert_true(created < stopped);
	assert_false(fx_eget(&f->m, sick.container_id).found);
	assert_int_equal(account(f).engines, 2);
	assert_int_equal(f->m.core.replacement.failure_count, 0);
	assert_true(f->m.core.replacement.last_success_us == f->m.now);
	assert_false(f->m.core.replacement_in_progress);
	assert_true(f->m.core.last_replacement_us == f->m.now);
	assert_settled(f);
}

static void
test_replacement_at_max(void **state)
{
	fx *f = *state;
	orch_provision_result sick;
	int created, stopped;

	f->m.cfg.max_replicas = 1;
	start_mgr(f, false);
	sick = provision_ok(f, NULL);
	make_unhealthy(f, sick.container_id);
	f->m.now += S(f->m.cfg.health_unhealthy_grace_period_s + 1);
	orch_fake_rt_log_clear(f->fake);
	orch_mgr_control_pass(f->m.mgr);
	/* At MAX_REPLICAS: the sick one stops first. */
	created = log_index(f, "create acestream-");
	stopped = log_index(f, "stop ");
	assert_true(created >= 0 && stopped >= 0);
	assert_true(stopped < created);
	assert_false(fx_eget(&f->m, sick.container_id).found);
	assert_int_equal(account(f).engines, 1);
	assert_settled(f);

	/* A replacement whose provision fails feeds the replacement
	 * breaker, and the cooldown holds the next one back. */
	{
		char id[80];
		size_t cur = 0;
		orch_engine *e;

		orch_core_lock(&f->m.core);
		e = orch_state_engine_next(&f->m.core.state, &cur);
		snprintf(id, sizeof(id), "%s", e->container_id);
		orch_core_unlock(&f->m.core);
		make_unhealthy(f, id);
		f->m.now += S(f->m.cfg.health_replacement_cooldown_s +
		              f->m.cfg.health_unhealthy_grace_period_s + 1);
		orch_fake_rt_fail(f->fake, ORCH_FAKE_CREATE, 1, ORCH_EINTERNAL,
		    500, "HTTP 500: no");
		orch_mgr_control_pass(f->m.mgr);
		assert_int_equal(f->m.core.replacement.failure_count, 1);
		assert_int_equal(account(f).engines, 0);
	}
	assert_settled(f);
}

/* Issue 10: a sick engine whose stop fails is not left marked for ever
 * (never selected, collected or replaced, yet counted): it is unmarked,
 * and the next replacement (after the cooldown) stops it. */
static void
test_replacement_stop_fails(void **state)
{
	fx *f = *state;
	orch_provision_result sick;

	f->m.cfg.max_replicas = 1;
	start_mgr(f, false);
	sick = provision_ok(f, NULL);
	make_unhealthy(f, sick.container_id);
	f->m.now += S(f->m.cfg.health_unhealthy_grace_period_s + 1);
	orch_fake_rt_fail(
	    f->fake, ORCH_FAKE_STOP, 1, ORCH_EINTERNAL, 500, "HTTP 500: no");
	orch_mgr_control_pass(f->m.mgr);
	assert_true(fx_eget(&f->m, sick.container_id).found);
	orch_core_lock(&f->m.core);
	assert_false(orch_state_engine_get(&f->m.core.state, sick.container_id)
	                 ->marked_for_replacement);
	orch_core_unlock(&f->m.core);
	assert_int_equal(orch_fake_rt_calls(f->fake, ORCH_FAKE_CREATE), 1);
	f->m.now += S(f->m.cfg.health_replacement_cooldown_s + 1);
	orch_mgr_control_pass(f->m.mgr);
	assert_false(fx_eget(&f->m, sick.container_id).found);
	assert_int_equal(account(f).engines, 1);
	assert_settled(f);
}

static void
test_autoscale(void **state)
{
	fx *f = *state;

	f->m.cfg.min_replicas = 2;
	start_mgr(f, false);
	orch_mgr_control_pass(f->m.mgr);
	assert_int_equal(account(f).engines, 2);
	assert_int_equal(orch_fake_rt_calls(f->fake, ORCH_FAKE_CREATE), 2);
	/* Enough: nothing more. */
	orch_mgr_control_pass(f->m.mgr);
	assert_int_equal(account(f).engines, 2);
	/* A busy engine is not free: one more. */
	{
		size_t cur = 0;
		orch_engine *e;
		char id[80];

		orch_core_lock(&f->m.core);
		e = orch_state_engine_next(&f->m.core.state, &cur);
		snprintf(id, sizeof(id), "%s", e->container_id);
		orch_core_unlock(&f->m.core);
		fx_stream_on(&f->m, id, "busy");
	}
	orch_mgr_control_pass(f->m.mgr);
	assert_int_equal(account(f).engines, 3);
	assert_int_equal(f->m.core.state.counts.free, 2);
	/* MAX_REPLICAS caps the autoscaler. */
	f->m.cfg.min_replicas = 10;
	orch_mgr_control_pass(f->m.mgr);
	assert_int_equal(account(f).engines, f->m.cfg.max_replicas);
	orch_mgr_control_pass(f->m.mgr);
	assert_int_equal(orch_fake_rt_calls(f->fake, ORCH_FAKE_CREATE),
	    f->m.cfg.max_replicas);
	assert_settled(f);
}

static void
test_idle_gc(void **state)
{
	fx *f = *state;
	orch_provision_result a, b;

	f->m.cfg.auto_delete = true;
	f->m.cfg.engine_grace_period_s = 30;
	f->m.cfg.min_replicas = 1;
	start_mgr(f, false);
	a = provision_ok(f, NULL);
	b = provision_ok(f, NULL);
	(void) orch_core_apply_probe(
	    &f->m.core, a.container_id, true, NULL, 0, NULL);
	(void) orch_core_apply_probe(
	    &f->m.core, b.container_id, true, NULL, 0, NULL);
	orch_mgr_control_pass(f->m.mgr);
	assert_int_equal(account(f).engines, 2); /* within the grace */
	f->m.now += S(31);
	orch_mgr_control_pass(f->m.mgr);
	/* One stops; MIN_REPLICAS keeps the other. */
	assert_int_equal(account(f).engines, 1);
	assert_int_equal(orch_fake_rt_count(f->fake, NULL), 1);
	assert_int_equal(orch_fake_rt_log_count(f->fake, "stop "), 1);
	f->m.now += S(31);
	orch_mgr_control_pass(f->m.mgr);
	assert_int_equal(account(f).engines, 1);
	assert_settled(f);
}

static void
test_scale_and_gc(void **state)
{
	fx *f = *state;
	char ids[8][80];
	orch_diag diag;
	int to = 0;

	start_mgr(f, false);
	assert_int_equal(orch_mgr_scale(f->m.mgr, 3, &to, &diag), ORCH_OK);
	assert_int_equal(to, 3);
	assert_int_equal(account(f).engines, 3);
	assert_int_equal(orch_mgr_scale(f->m.mgr, 99, &to, &diag), ORCH_OK);
	assert_int_equal(to, f->m.cfg.max_replicas);
	assert_int_equal(account(f).engines, f->m.cfg.max_replicas);
	assert_int_equal(orch_mgr_scale(f->m.mgr, 1, &to, &diag), ORCH_OK);
	assert_int_equal(account(f).engines, 1);
	assert_int_equal(orch_fake_rt_count(f->fake, NULL), 1);
	/* POST /gc: past the grace period, down to MIN_REPLICAS (0); only
	 * a healthy engine is collected (defect 13). */
	all_healthy(f);
	assert_int_equal(orch_mgr_gc(f->m.mgr, ids, 8), 0);
	f->m.now += S(f->m.cfg.engine_grace_period_s + 1);
	assert_int_equal(orch_mgr_gc(f->m.mgr, ids, 8), 1);
	assert_int_equal(strlen(ids[0]), 64);
	assert_int_equal(account(f).engines, 0);
	/* A scale whose provisions fail says how many started. */
	orch_fake_rt_fail(f->fake, ORCH_FAKE_CREATE, 99, ORCH_EINTERNAL, 500,
	    "HTTP 500: no");
	assert_int_equal(
	    orch_mgr_scale(f->m.mgr, 2, &to, &diag), ORCH_EUNAVAIL);
	assert_non_null(strstr(diag.msg, "started 0 of 2"));
	assert_settled(f);
}

/* ---- the lock --------------------------------------------------------- */

static void
test_slow_runtime_off_lock(void **state)
{
	fx *f = *state;
	pthread_t t;
	par p;
	int64_t t0, took;
	bool ok;

	memset(&p, 0, sizeof(p));
	p.f = f;
	p.rv = ORCH_EINTERNAL;
	start_mgr(f, false);
	orch_fake_rt_delay(f->fake, ORCH_FAKE_CREATE, 800);
	assert_int_equal(pthread_create(&t, NULL, par_main, &p), 0);
	/* The provision is inside the runtime's create now. */
	TL_WAIT_FOR(
	    ok, orch_fake_rt_calls(f->fake, ORCH_FAKE_CREATE) == 1, 2000);
	assert_true(ok);
	/* A read under the core's lock is not held up by it. */
	t0 = orch_mono_ms();
	orch_core_lock(&f->m.core);
	assert_int_equal(f->m.core.provisioning, 1);
	assert_int_equal(f->m.core.state.counts.engines, 0);
	orch_core_unlock(&f->m.core);
	assert_int_equal(orch_core_engine_count(&f->m.core), 0);
	took = orch_mono_ms() - t0;
	assert_true(took < 200);
	pthread_join(t, NULL);
	assert_int_equal(p.rv, ORCH_OK);
	assert_int_equal(account(f).engines, 1);
	assert_settled(f);
}

/* ---- generic containers ---------------------------------------------- */

/* ---- defects of the fault campaign (issue 10) ----------------------------
 */

/* Defect 1: an image that starts and never answers. MIN_REPLICAS 1 makes
 * the control loop provision; each engine is removed at STARTUP_TIMEOUT_S
 * as a breaker failure; at the threshold the breaker opens and the loop
 * stops creating containers. */
static void
test_never_healthy_opens_breaker(void **state)
{
	fx *f = *state;
	int creates;

	f->m.cfg.min_replicas = 1;
	f->m.cfg.cb_failure_threshold = 3;
	start_mgr(f, false);
	for (int i = 0; i < 3; i++) {
		orch_mgr_control_pass(f->m.mgr); /* provisions one */
		assert_int_equal(account(f).engines, 1);
		f->m.now += S(f->m.cfg.startup_timeout_s);
		orch_mgr_control_pass(f->m.mgr); /* removes it (+ maybe one) */
		assert_int_equal(account(f).failures, i + 1);
		if (i < 2) {
			/* The same pass started the next one: remove it
			 * at its own timeout on the next round. */
			assert_int_equal(account(f).engines, 1);
			f->m.now += S(f->m.cfg.startup_timeout_s);
			orch_mgr_control_pass(f->m.mgr);
			i++;
			assert_int_equal(account(f).failures, i + 1);
		}
	}
	assert_int_equal(account(f).breaker, ORCH_BREAKER_OPEN);
	creates = orch_fake_rt_calls(f->fake, ORCH_FAKE_CREATE);
	for (int i = 0; i < 5; i++) {
		f->m.now += S(f->m.cfg.startup_timeout_s);
		orch_mgr_control_pass(f->m.mgr);
	}
	assert_int_equal(
	    orch_fake_rt_calls(f->fake, ORCH_FAKE_CREATE), creates);
	assert_int_equal(account(f).engines, 0);
	assert_settled(f);
}

/* Defects 5 and 11: a container Docker keeps restarting is removed after
 * ENGINE_CRASH_LOOP_RESTARTS restarts within the window, counted once
 * against the breaker; its ports go back then, not before. */
static void
test_crash_loop_removed(void **state)
{
	fx *f = *state;
	orch_provision_result r;
	bool ok;

	f->m.cfg.crash_loop_restarts = 3;
	start_mgr(f, true);
	TL_WAIT_FOR(
	    ok, orch_fake_rt_calls(f->fake, ORCH_FAKE_LIST) >= 2, 2000);
	assert_true(ok);
	r = provision_ok(f, NULL);
	(void) orch_core_apply_probe(
	    &f->m.core, r.container_id, true, NULL, 0, NULL);
	assert_int_equal(
	    orch_fake_rt_crash_loop(f->fake, r.container_id, 3), ORCH_OK);
	TL_WAIT_FOR(ok, fx_eget(&f->m, r.container_id).restarts >= 3, 2000);
	assert_true(ok);
	assert_true(fx_http_in_use(&f->m, r.host_http_port));
	orch_mgr_control_pass(f->m.mgr);
	TL_WAIT_FOR(ok, !fx_eget(&f->m, r.container_id).found, 2000);
	assert_true(ok);
	assert_int_equal(orch_fake_rt_count(f->fake, NULL), 0);
	assert_false(fx_http_in_use(&f->m, r.host_http_port));
	assert_int_equal(account(f).failures, 1);
	orch_mgr_control_pass(f->m.mgr);
	assert_int_equal(account(f).failures, 1);
	assert_settled(f);
}

/* Defect 10: a paused engine still exists: the reconcile keeps it (its
 * stream too); probes, not the list, make it unhealthy. */
static void
test_paused_kept(void **state)
{
	fx *f = *state;
	orch_provision_result r;
	char reason[64];

	start_mgr(f, false);
	r = provision_ok(f, NULL);
	fx_stream_on(&f->m, r.container_id, "s1");
	assert_int_equal(
	    orch_fake_rt_pause(f->fake, r.container_id, true), ORCH_OK);
	f->m.now += S(1);
	orch_mgr_reconcile(f->m.mgr);
	assert_true(fx_eget(&f->m, r.container_id).found);
	assert_int_equal(
	    fx_stream_status(&f->m, "s1", reason, sizeof(reason)), 1);
	assert_int_equal(
	    orch_fake_rt_pause(f->fake, r.container_id, false), ORCH_OK);
	f->m.now += S(1);
	orch_mgr_reconcile(f->m.mgr);
	assert_int_equal(
	    fx_stream_status(&f->m, "s1", reason, sizeof(reason)), 1);
	assert_int_equal(account(f).engines, 1);
	assert_settled(f);
}

/* Defects 6 and 14: stopped engine containers (exited, no restart) are
 * removed by the reconcile, and the names every managed container holds
 * are not offered again: 40 leftovers cost no failed create. */
static void
test_leftovers(void **state)
{
	fx *f = *state;
	orch_rt_kv lab[] = ENGINE_LABELS("19300", "45300");
	orch_rt_kv other[] = {{LKEY, LVAL}};
	char *ids[40];
	orch_provision_result r;

	start_mgr(f, false);
	for (int i = 0; i < 40; i++) {
		char name[32];

		snprintf(name, sizeof(name), "acestream-%d", i + 1);
		/* Half of them engine containers that exited, half generic
		 * containers (kept: they are their owner's). */
		if (i % 2 == 0) {
			ids[i] = add_container(f, name, lab, 4, 0, true);
			assert_int_equal(
			    orch_fake_rt_die(f->fake, ids[i], 0), ORCH_OK);
		} else {
			ids[i] = add_container(f, name, other, 1, 0, false);
		}
	}
	f->m.now += S(1);
	orch_mgr_reconcile(f->m.mgr);
	assert_int_equal(orch_fake_rt_count(f->fake, NULL), 20);
	assert_int_equal(orch_fake_rt_calls(f->fake, ORCH_FAKE_CREATE), 0);
	r = provision_ok(f, NULL);
	/* acestream-2, 4, ... 40 are still taken; 1, 3, ... are free. */
	assert_string_equal(r.container_name, "acestream-1");
	assert_int_equal(orch_fake_rt_calls(f->fake, ORCH_FAKE_CREATE), 1);
	r = provision_ok(f, NULL);
	assert_string_equal(r.container_name, "acestream-3");
	assert_int_equal(orch_fake_rt_calls(f->fake, ORCH_FAKE_CREATE), 2);
	assert_int_equal(account(f).failures, 0);
	for (int i = 0; i < 40; i++)
		free(ids[i]);
}

/* Defect 2: an engine GC chose gets a stream before its stop (the
 * runtime's stop is slow: the stream lands in the window): it is not
 * stopped, and it serves again. */
static void
test_gc_race(void **state)
{
	fx *f = *state;
	orch_provision_result a, b;
	char ids[4][80];

	f->m.cfg.min_replicas = 1;
	start_mgr(f, false);
	a = provision_ok(f, NULL);
	b = provision_ok(f, NULL);
	all_healthy(f);
	f->m.now += S(f->m.cfg.engine_grace_period_s + 1);
	/* Chosen and drained; a proxy that had chosen it starts a stream
	 * before the manager confirms the stop. */
	assert_int_equal(orch_core_gc_candidates(&f->m.core, true, ids, 4), 1);
	fx_stream_on(&f->m, ids[0], "late");
	assert_false(orch_core_drain_confirm(&f->m.core, ids[0]));
	assert_true(fx_eget(&f->m, ids[0]).found);
	assert_int_equal(orch_fake_rt_calls(f->fake, ORCH_FAKE_STOP), 0);
	assert_int_equal(f->m.core.state.counts.draining, 0);
	/* Through the manager: the other one is the last free healthy
	 * engine, so nothing is stopped. */
	assert_int_equal(orch_mgr_gc(f->m.mgr, ids, 4), 0);
	assert_int_equal(account(f).engines, 2);
	(void) a;
	(void) b;
	assert_settled(f);
}

static void
test_generic_containers(void **state)
{
	fx *f = *state;
	orch_label labels[] = {{"app", "x"}, {LKEY, "stolen"}, {"k=v", "w"}};
	orch_label env[] = {{"A", "1"}};
	orch_port_publish ports[] = {{80, 18080}};
	orch_container_request req = {
	    IMAGE, "web", env, 1, labels, 3, ports, 1};
	orch_container_result res;
	orch_rt_container c, *v = NULL;
	orch_refusal ref;
	orch_diag diag;
	size_t n = 0;

	start_mgr(f, false);
	assert_int_equal(
	    orch_mgr_provision_container(f->m.mgr, &req, &res, &ref, &diag),
	    ORCH_OK);
	assert_int_equal(strncmp(res.container_name, "web-", 4), 0);
	assert_int_equal(strlen(res.container_name), 12);
	assert_int_equal(
	    orch_mgr_inspect(f->m.mgr, res.container_id, &c, &diag), ORCH_OK);
	assert_string_equal(c.state, "running");
	assert_string_equal(orch_rt_container_label(&c, LKEY), LVAL);
	assert_string_equal(orch_rt_container_label(&c, "k=v"), "w");
	assert_string_equal(fx_env_value(&c, "A"), "1");
	assert_non_null(orch_rt_container_port(&c, "80/tcp"));
	orch_rt_container_fini(&c);
	assert_int_equal(f->m.core.metrics.provision_container_ok, 1);
	/* Not an engine: the reconcile leaves it alone. */
	orch_mgr_reconcile(f->m.mgr);
	assert_int_equal(account(f).engines, 0);

	/* Find by label, a key with '=' included. */
	assert_int_equal(
	    orch_mgr_find_by_label(f->m.mgr, "k=v", "w", &v, &n, &diag),
	    ORCH_OK);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, res.container_id);
	orch_rt_container_list_free(v, n);
	assert_int_equal(
	    orch_mgr_find_by_label(f->m.mgr, "app", "y", &v, &n, &diag),
	    ORCH_OK);
	assert_int_equal(n, 0);
	assert_null(v);

	/* Not managed: not found. */
	{
		orch_rt_kv other[] = {{"app", "x"}};
		char *x = add_container(f, "other", other, 1, 0, true);

		assert_int_equal(
		    orch_mgr_inspect(f->m.mgr, x, &c, &diag), ORCH_ENOTFOUND);
		assert_non_null(strstr(diag.msg, "not found"));
		assert_int_equal(orch_mgr_find_by_label(
		                     f->m.mgr, "app", "x", &v, &n, &diag),
		    ORCH_OK);
		assert_int_equal(n, 1); /* only ours */
		orch_rt_container_list_free(v, n);
		free(x);
	}

	/* The start fails: nothing left, counted as failed. */
	orch_fake_rt_fail(
	    f->fake, ORCH_FAKE_START, 1, ORCH_EINTERNAL, 500, "HTTP 500: no");
	assert_int_equal(
	    orch_mgr_provision_container(f->m.mgr, &req, &res, &ref, &diag),
	    ORCH_EINTERNAL);
	assert_int_equal(f->m.core.metrics.provision_container_failed, 1);
	assert_int_equal(orch_fake_rt_count(f->fake, NULL), 2);
	/* Not an engine: none of the engines' gates holds it. Their image
	 * missing, their breaker open and their MAX_REPLICAS reached refuse
	 * an engine, and a generic container is still created. */
	orch_core_set_image_present(&f->m.core, false);
	orch_core_lock(&f->m.core);
	for (int i = 0; i < f->m.cfg.cb_failure_threshold; i++)
		orch_breaker_record_failure(&f->m.core.general, f->m.now);
	orch_core_unlock(&f->m.core);
	f->m.cfg.max_replicas = 0;
	ports[0].host_port = 18081; /* the first one holds 18080 */
	{
		orch_provision_result pres;

		assert_int_not_equal(
		    provision(f, NULL, 0, &pres, &ref, &diag), ORCH_OK);
		assert_int_not_equal(ref.code, ORCH_REFUSE_NONE);
	}
	if (orch_mgr_provision_container(f->m.mgr, &req, &res, &ref, &diag) !=
	    ORCH_OK)
		fail_msg("generic provision: %s", diag.msg);
	assert_int_equal(ref.code, ORCH_REFUSE_NONE);
	assert_int_equal(f->m.core.metrics.provision_container_ok, 2);
	/* Down: UNAVAILABLE, the one refusal a generic container meets. */
	orch_fake_rt_set_down(f->fake, true);
	orch_core_set_docker_ok(&f->m.core, false);
	assert_int_equal(
	    orch_mgr_provision_container(f->m.mgr, &req, &res, &ref, &diag),
	    ORCH_EUNAVAIL);
	assert_int_equal(ref.code, ORCH_REFUSE_DOCKER);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_provision_shape, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_explicit_host_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_name_taken_retry, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_port_conflict_retry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_docker_down, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_image_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_create_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_max_replicas_concurrent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_reconcile_adoption, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_events_reconnect, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_startup_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_replacement_new_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_replacement_at_max, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_autoscale, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_gc, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_replacement_stop_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_bad_requests, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_provision_deadline, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_never_healthy_opens_breaker, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_crash_loop_removed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_paused_kept, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_leftovers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gc_race, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_scale_and_gc, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_slow_runtime_off_lock, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_generic_containers, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
