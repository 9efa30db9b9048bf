/*
 * One set of cases over the runtime ops table (src/runtime/runtime.h),
 * run against the fake runtime (tests/runtime/fake_runtime.h) always and
 * against the real Docker daemon when ORCH_TEST_DOCKER is set: what the
 * controllers' tests assume of the fake is what Docker does. Each case
 * asserts the same errors, statuses, states and events of both.
 *
 * Docker isolation: containers carry orchestrator.test=conf-<pid>-<rand>
 * and a random name suffix, publish only on 127.0.0.1:29600-29699 (no
 * other test uses that range), and are removed by the case that made
 * them; the group teardown removes whatever still carries the label.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "src/base/time.h"
#include "src/runtime/docker.h"
#include "src/runtime/runtime.h"
#include "tests/runtime/fake_runtime.h"

#define IMAGE "acestream-sim:latest"
#define MISSING "orch-test-missing/none:latest"
#define LKEY "orchestrator.test"
#define PORT_LO 29600
#define PORT_HI 29699

typedef struct target {
	const char *name;
	orch_runtime rt;
	orch_fake_rt *fake; /* or */
	orch_docker *dk;
} target;

static char label_val[64];
static unsigned rnd;

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void
make_name(char *buf, size_t len, const char *what)
{
	snprintf(buf, len, "orch-conf-%s-%d-%x", what, (int) getpid(), rnd++);
}

/* A loopback port of our range free now (for Docker; any for the fake). */
static int
free_port(void)
{
	int start = PORT_LO + rand() % (PORT_HI - PORT_LO + 1);

	for (int i = 0; i <= PORT_HI - PORT_LO; i++) {
		int port =
		    PORT_LO + (start - PORT_LO + i) % (PORT_HI - PORT_LO + 1);
		struct sockaddr_in sa = {.sin_family = AF_INET,
		    .sin_port = htons((uint16_t) port),
		    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

		ok = fd >= 0 &&
		     bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
		if (fd >= 0)
			close(fd);
		if (ok)
			return port;
	}
	fail_msg("no free port in %d-%d", PORT_LO, PORT_HI);
	return -1;
}

static void
remove_ours(const orch_runtime *rt)
{
	orch_rt_kv l = {LKEY, label_val};
	orch_rt_container *v = NULL;
	size_t n = 0;

	if (orch_rt_list(rt, &l, 1, &v, &n, NULL) != ORCH_OK)
		return;
	for (size_t i = 0; i < n; i++)
		(void) orch_rt_remove(rt, v[i].id, true, NULL);
	orch_rt_container_list_free(v, n);
}

static int
setup_fake(void **state)
{
	target *t = calloc(1, sizeof(*t));

	if (t == NULL || orch_fake_rt_open(&t->fake) != ORCH_OK)
		return -1;
	t->name = "fake";
	orch_fake_rt_image_add(t->fake, IMAGE);
	orch_fake_rt_runtime(t->fake, &t->rt);
	*state = t;
	return 0;
}

static int
setup_docker(void **state)
{
	target *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	t->name = "docker";
	*state = t;
	if (getenv("ORCH_TEST_DOCKER") == NULL)
		return 0; /* every case skips */
	if (orch_docker_open(ORCH_DOCKER_DEFAULT_HOST, 30000, &t->dk) !=
	        ORCH_OK ||
	    orch_docker_image_inspect(t->dk, IMAGE, NULL) != ORCH_OK)
		return -1;
	orch_docker_runtime(t->dk, &t->rt);
	return 0;
}

static int
teardown(void **state)
{
	target *t = *state;

	if (t->rt.ops != NULL)
		remove_ours(&t->rt);
	orch_fake_rt_close(t->fake);
	orch_docker_close(t->dk);
	free(t);
	return 0;
}

#define NEED(t)                                                               \
	do {                                                                  \
		if ((t)->rt.ops == NULL)                                      \
			skip();                                               \
	} while (0)

/* Creates a simulator engine with our label (and a key with '='). */
static char *
create(target *t, const char *name, int port, orch_err want, orch_diag *d)
{
	char env_port[32];
	const char *env[] = {env_port, NULL};
	orch_rt_kv labels[] = {{LKEY, label_val}, {"conf.eq=key", "v=1"},
	    {LKEY, "second-ignored"}};
	orch_rt_publish pub = {port, port, "tcp"};
	orch_rt_create_spec spec = {
	    .name = name,
	    .image = IMAGE,
	    .env = env,
	    .labels = labels,
	    .n_labels = 3,
	    .ports = &pub,
	    .n_ports = port > 0 ? 1 : 0,
	    .host_ip = "127.0.0.1",
	    .restart_policy = "no",
	    .cmd = (const char *const[]){"/sim", "engine", NULL},
	};
	char *id = NULL;

	snprintf(env_port, sizeof(env_port), "HTTP_PORT=%d",
	    port > 0 ? port : 6878);
	assert_int_equal(orch_rt_create(&t->rt, &spec, &id, d), want);
	return id;
}

static void
test_life_cycle(void **state)
{
	target *t = *state;
	orch_rt_kv eq[] = {{LKEY, label_val}, {"conf.eq=key", "v=1"}};
	orch_rt_container c, *v = NULL;
	char name[64];
	orch_diag d;
	size_t n = 0;
	char *id, *dup;

	NEED(t);
	make_name(name, sizeof(name), "life");
	id = create(t, name, 0, ORCH_OK, &d);
	assert_int_equal(strlen(id), 64);
	/* The name is taken; the image must exist. */
	dup = create(t, name, 0, ORCH_EEXIST, &d);
	assert_null(dup);
	assert_int_equal(d.status, 409);
	assert_non_null(strstr(d.msg, "already in use"));
	{
		orch_rt_create_spec s = {.image = MISSING};
		char *x = NULL;

		assert_int_equal(
		    orch_rt_create(&t->rt, &s, &x, &d), ORCH_ENOTFOUND);
		assert_int_equal(d.status, 404);
		assert_int_equal(orch_rt_image_inspect(&t->rt, MISSING, &d),
		    ORCH_ENOTFOUND);
	}
	/* Created: not running; labels as pairs, the first value kept. */
	assert_int_equal(orch_rt_inspect(&t->rt, id, &c, &d), ORCH_OK);
	assert_string_equal(c.state, "created");
	assert_false(c.running);
	assert_string_equal(c.name, name);
	assert_string_equal(orch_rt_container_label(&c, LKEY), label_val);
	assert_string_equal(orch_rt_container_label(&c, "conf.eq=key"), "v=1");
	assert_null(orch_rt_container_label(&c, "conf.eq"));
	orch_rt_container_fini(&c);
	/* Kill when not running: 409. */
	assert_int_equal(orch_rt_kill(&t->rt, id, NULL, &d), ORCH_EPRECOND);
	assert_int_equal(d.status, 409);
	/* Start, twice (304). By name and by id prefix. */
	assert_int_equal(orch_rt_start(&t->rt, name, &d), ORCH_OK);
	assert_int_equal(orch_rt_start(&t->rt, id, &d), ORCH_OK);
	assert_int_equal(d.status, 304);
	{
		char prefix[13];

		snprintf(prefix, sizeof(prefix), "%.12s", id);
		assert_int_equal(
		    orch_rt_inspect(&t->rt, prefix, &c, &d), ORCH_OK);
	}
	assert_string_equal(c.state, "running");
	assert_true(c.running);
	orch_rt_container_fini(&c);
	/* List by pairs, one of them with '=' in its key. */
	assert_int_equal(orch_rt_list(&t->rt, eq, 2, &v, &n, &d), ORCH_OK);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, id);
	assert_true(v[0].running);
	assert_string_equal(v[0].state, "running");
	assert_int_equal(v[0].n_env, 0);
	orch_rt_container_list_free(v, n);
	/* Running: remove without force refused (409). */
	assert_int_equal(orch_rt_remove(&t->rt, id, false, &d), ORCH_EPRECOND);
	assert_int_equal(d.status, 409);
	/* Stop, twice (304); then a list says not running. */
	assert_int_equal(orch_rt_stop(&t->rt, id, 1, &d), ORCH_OK);
	assert_int_equal(orch_rt_stop(&t->rt, id, 1, &d), ORCH_OK);
	assert_int_equal(d.status, 304);
	assert_int_equal(orch_rt_list(&t->rt, eq, 2, &v, &n, &d), ORCH_OK);
	assert_int_equal(n, 1);
	assert_false(v[0].running);
	assert_string_equal(v[0].state, "exited");
	orch_rt_container_list_free(v, n);
	/* Remove; then it is gone. */
	assert_int_equal(orch_rt_remove(&t->rt, id, false, &d), ORCH_OK);
	assert_int_equal(orch_rt_inspect(&t->rt, id, &c, &d), ORCH_ENOTFOUND);
	assert_int_equal(d.status, 404);
	assert_int_equal(orch_rt_remove(&t->rt, id, true, &d), ORCH_ENOTFOUND);
	assert_int_equal(orch_rt_start(&t->rt, id, &d), ORCH_ENOTFOUND);
	free(id);
}

static void
test_port_conflict(void **state)
{
	target *t = *state;
	int port = free_port();
	char n1[64], n2[64], key[16];
	orch_rt_container c;
	const orch_rt_port *p;
	orch_diag d;
	char *a, *b;

	NEED(t);
	make_name(n1, sizeof(n1), "pa");
	make_name(n2, sizeof(n2), "pb");
	a = create(t, n1, port, ORCH_OK, &d);
	b = create(t, n2, port, ORCH_OK, &d);
	assert_int_equal(orch_rt_start(&t->rt, a, &d), ORCH_OK);
	/* The second one cannot bind it: Docker's words, status 500. */
	assert_int_equal(orch_rt_start(&t->rt, b, &d), ORCH_EINTERNAL);
	assert_int_equal(d.status, 500);
	assert_non_null(strstr(d.msg, "port is already allocated"));
	assert_int_equal(orch_rt_inspect(&t->rt, b, &c, &d), ORCH_OK);
	assert_string_equal(c.state, "created");
	orch_rt_container_fini(&c);
	/* The first one has it. */
	assert_int_equal(orch_rt_inspect(&t->rt, a, &c, &d), ORCH_OK);
	snprintf(key, sizeof(key), "%d/tcp", port);
	p = orch_rt_container_port(&c, key);
	assert_non_null(p);
	assert_int_equal(p->n_bindings, 1);
	assert_string_equal(p->bindings[0].host_ip, "127.0.0.1");
	assert_int_equal(atoi(p->bindings[0].host_port), port);
	orch_rt_container_fini(&c);
	/* Once the first is gone, the second starts. */
	assert_int_equal(orch_rt_remove(&t->rt, a, true, &d), ORCH_OK);
	assert_int_equal(orch_rt_start(&t->rt, b, &d), ORCH_OK);
	assert_int_equal(orch_rt_remove(&t->rt, b, true, &d), ORCH_OK);
	free(a);
	free(b);
}

typedef struct seen {
	pthread_mutex_t mu;
	char id[80];
	char order[128]; /* actions of id, comma-separated */
	bool exit_code;  /* die carried exitCode */
	bool label_ok;
	int connects;
	int others; /* events of any other container */
} seen;

static void
on_event(void *arg, const orch_rt_event *ev)
{
	seen *s = arg;

	pthread_mutex_lock(&s->mu);
	if (s->id[0] != '\0' && strcmp(ev->id, s->id) != 0)
		s->others++;
	if (s->id[0] != '\0' && strcmp(ev->id, s->id) == 0 &&
	    strcmp(ev->type, "container") == 0 &&
	    (strcmp(ev->action, "create") == 0 ||
	        strcmp(ev->action, "start") == 0 ||
	        strcmp(ev->action, "die") == 0 ||
	        strcmp(ev->action, "destroy") == 0) &&
	    strlen(s->order) + strlen(ev->action) + 2 < sizeof(s->order)) {
		strcat(s->order, ev->action);
		strcat(s->order, ",");
		if (strcmp(ev->action, "die") == 0)
			s->exit_code =
			    orch_rt_event_attr(ev, "exitCode") != NULL;
		s->label_ok = orch_rt_event_attr(ev, LKEY) != NULL;
	}
	pthread_mutex_unlock(&s->mu);
}

static void
on_state(void *arg, bool connected, orch_err err, const char *msg)
{
	seen *s = arg;

	(void) err;
	(void) msg;
	pthread_mutex_lock(&s->mu);
	s->connects += connected;
	pthread_mutex_unlock(&s->mu);
}

static bool
order_is(seen *s, const char *want)
{
	bool r;

	pthread_mutex_lock(&s->mu);
	r = strcmp(s->order, want) == 0;
	pthread_mutex_unlock(&s->mu);
	return r;
}

static void
test_events(void **state)
{
	target *t = *state;
	orch_rt_kv filter = {LKEY, label_val};
	orch_rt_kv bad = {"a=b", "c"};
	orch_rt_events_opts o = {0};
	orch_rt_events *ev = NULL;
	seen s;
	char name[64];
	orch_diag d;
	char *id;
	int64_t deadline;

	NEED(t);
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.mu, NULL);
	o.labels = &bad;
	o.n_labels = 1;
	o.type = "container";
	o.on_event = on_event;
	o.on_state = on_state;
	o.arg = &s;
	/* Docker's filter syntax cannot say a key with '='. */
	assert_int_equal(orch_rt_events_open(&t->rt, &o, &ev), ORCH_EINVAL);
	o.labels = &filter;
	assert_int_equal(orch_rt_events_open(&t->rt, &o, &ev), ORCH_OK);
	deadline = orch_mono_ms() + 5000;
	while (orch_mono_ms() < deadline) {
		bool up;

		pthread_mutex_lock(&s.mu);
		up = s.connects > 0;
		pthread_mutex_unlock(&s.mu);
		if (up)
			break;
		sleep_ms(10);
	}
	make_name(name, sizeof(name), "ev");
	/* The id is known only after create: hold events until set. */
	pthread_mutex_lock(&s.mu);
	id = create(t, name, 0, ORCH_OK, &d);
	snprintf(s.id, sizeof(s.id), "%s", id);
	pthread_mutex_unlock(&s.mu);
	assert_int_equal(orch_rt_start(&t->rt, id, &d), ORCH_OK);
	assert_int_equal(orch_rt_kill(&t->rt, id, NULL, &d), ORCH_OK);
	assert_int_equal(orch_rt_remove(&t->rt, id, true, &d), ORCH_OK);
	deadline = orch_mono_ms() + 10000;
	while (orch_mono_ms() < deadline &&
	       !order_is(&s, "create,start,die,destroy,"))
		sleep_ms(20);
	pthread_mutex_lock(&s.mu);
	if (strcmp(s.order, "create,start,die,destroy,") != 0)
		fail_msg("%s: events %s", t->name, s.order);
	assert_true(s.exit_code);
	assert_true(s.label_ok);
	pthread_mutex_unlock(&s.mu);
	orch_rt_events_close(&t->rt, ev);
	pthread_mutex_destroy(&s.mu);
	free(id);
}

/* The value of network name in c's networks, or NULL. */
static const char *
network_gateway(const orch_rt_container *c, const char *name)
{
	for (size_t i = 0; i < c->n_networks; i++) {
		if (strcmp(c->networks[i].key, name) == 0)
			return c->networks[i].value;
	}
	return NULL;
}

/* A created container's network answer in inspect, for each kind of
 * network a self-inspecting orchestrator may find itself on
 * (src/engines/reach.h): the default bridge (mode "default", attached to
 * "bridge" with a gateway), the host's (mode "host", attached to "host",
 * no gateway), another container's (attached to nothing); list leaves it
 * all empty. */
static void
test_networks(void **state)
{
	target *t = *state;
	orch_rt_kv l = {LKEY, label_val};
	orch_rt_container c, *v = NULL;
	char name[64], host[64], shared[64], mode[80];
	const char *gw;
	orch_rt_create_spec spec = {.image = IMAGE,
	    .labels = &l,
	    .n_labels = 1,
	    .restart_policy = "no",
	    .cmd = (const char *const[]){"/sim", "engine", NULL}};
	orch_diag d;
	size_t n = 0;
	char *id, *hid, *sid;

	NEED(t);
	make_name(name, sizeof(name), "net");
	id = create(t, name, 0, ORCH_OK, &d);
	assert_int_equal(orch_rt_inspect(&t->rt, id, &c, &d), ORCH_OK);
	assert_string_equal(c.network_mode, "default");
	/* Attached before it runs, its addresses only once it does. */
	gw = network_gateway(&c, "bridge");
	assert_non_null(gw);
	assert_string_equal(gw, "");
	orch_rt_container_fini(&c);
	assert_int_equal(orch_rt_start(&t->rt, id, &d), ORCH_OK);
	assert_int_equal(orch_rt_inspect(&t->rt, id, &c, &d), ORCH_OK);
	gw = network_gateway(&c, "bridge");
	assert_non_null(gw);
	assert_true(strlen(gw) >= 7); /* an IPv4 address */
	orch_rt_container_fini(&c);
	assert_int_equal(orch_rt_list(&t->rt, &l, 1, &v, &n, &d), ORCH_OK);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].network_mode, "");
	assert_int_equal(v[0].n_networks, 0);
	orch_rt_container_list_free(v, n);

	make_name(host, sizeof(host), "nethost");
	spec.name = host;
	spec.network = "host";
	assert_int_equal(orch_rt_create(&t->rt, &spec, &hid, &d), ORCH_OK);
	assert_int_equal(orch_rt_inspect(&t->rt, hid, &c, &d), ORCH_OK);
	assert_string_equal(c.network_mode, "host");
	gw = network_gateway(&c, "host");
	assert_non_null(gw);
	assert_string_equal(gw, "");
	orch_rt_container_fini(&c);

	make_name(shared, sizeof(shared), "netshared");
	snprintf(mode, sizeof(mode), "container:%s", id);
	spec.name = shared;
	spec.network = mode;
	assert_int_equal(orch_rt_create(&t->rt, &spec, &sid, &d), ORCH_OK);
	assert_int_equal(orch_rt_inspect(&t->rt, sid, &c, &d), ORCH_OK);
	assert_string_equal(c.network_mode, mode);
	assert_int_equal(c.n_networks, 0);
	orch_rt_container_fini(&c);

	assert_int_equal(orch_rt_remove(&t->rt, sid, true, &d), ORCH_OK);
	assert_int_equal(orch_rt_remove(&t->rt, hid, true, &d), ORCH_OK);
	assert_int_equal(orch_rt_remove(&t->rt, id, true, &d), ORCH_OK);
	free(sid);
	free(hid);
	free(id);
}

/* An events stream for one container by name (the VPN monitor's way of
 * watching Gluetun), and inspect's start time. */
static void
test_events_by_container(void **state)
{
	target *t = *state;
	orch_rt_events_opts o = {0};
	orch_rt_events *ev = NULL;
	orch_rt_container c;
	const char *names[1];
	char name[64], other_name[64];
	int64_t deadline, started;
	char *id, *other;
	orch_diag d;
	seen s;

	NEED(t);
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.mu, NULL);
	make_name(name, sizeof(name), "evn");
	make_name(other_name, sizeof(other_name), "evo");
	names[0] = name;
	o.containers = names;
	o.n_containers = 1;
	o.type = "container";
	o.on_event = on_event;
	o.on_state = on_state;
	o.arg = &s;
	assert_int_equal(orch_rt_events_open(&t->rt, &o, &ev), ORCH_OK);
	deadline = orch_mono_ms() + 5000;
	while (orch_mono_ms() < deadline) {
		bool up;

		pthread_mutex_lock(&s.mu);
		up = s.connects > 0;
		pthread_mutex_unlock(&s.mu);
		if (up)
			break;
		sleep_ms(10);
	}
	/* The other container's life first: none of it may arrive. */
	pthread_mutex_lock(&s.mu);
	snprintf(s.id, sizeof(s.id), "pending");
	pthread_mutex_unlock(&s.mu);
	other = create(t, other_name, 0, ORCH_OK, &d);
	assert_int_equal(orch_rt_start(&t->rt, other, &d), ORCH_OK);
	assert_int_equal(orch_rt_remove(&t->rt, other, true, &d), ORCH_OK);
	pthread_mutex_lock(&s.mu);
	id = create(t, name, 0, ORCH_OK, &d);
	snprintf(s.id, sizeof(s.id), "%s", id);
	pthread_mutex_unlock(&s.mu);
	/* Never started: no start time; then one, later after a restart. */
	assert_int_equal(orch_rt_inspect(&t->rt, id, &c, &d), ORCH_OK);
	assert_int_equal(c.started_us, 0);
	assert_non_null(c.health);
	orch_rt_container_fini(&c);
	assert_int_equal(orch_rt_start(&t->rt, id, &d), ORCH_OK);
	assert_int_equal(orch_rt_inspect(&t->rt, id, &c, &d), ORCH_OK);
	started = c.started_us;
	assert_true(started > 0);
	orch_rt_container_fini(&c);
	assert_int_equal(orch_rt_kill(&t->rt, id, NULL, &d), ORCH_OK);
	sleep_ms(2); /* a start time that differs at the fake's precision */
	assert_int_equal(orch_rt_start(&t->rt, id, &d), ORCH_OK);
	assert_int_equal(orch_rt_inspect(&t->rt, id, &c, &d), ORCH_OK);
	assert_true(c.started_us > started);
	orch_rt_container_fini(&c);
	assert_int_equal(orch_rt_remove(&t->rt, id, true, &d), ORCH_OK);
	deadline = orch_mono_ms() + 10000;
	while (orch_mono_ms() < deadline &&
	       !order_is(&s, "create,start,die,start,die,destroy,"))
		sleep_ms(20);
	pthread_mutex_lock(&s.mu);
	if (strcmp(s.order, "create,start,die,start,die,destroy,") != 0)
		fail_msg("%s: events %s", t->name, s.order);
	/* In order: the other one's events, if any came, came before. */
	assert_int_equal(s.others, 0);
	pthread_mutex_unlock(&s.mu);
	orch_rt_events_close(&t->rt, ev);
	/* An empty name is refused, as Docker's filter cannot say it. */
	names[0] = "";
	assert_int_equal(orch_rt_events_open(&t->rt, &o, &ev), ORCH_EINVAL);
	pthread_mutex_destroy(&s.mu);
	free(id);
	free(other);
}

int
main(void)
{
	const struct CMUnitTest fake[] = {
	    cmocka_unit_test_setup_teardown(
	        test_life_cycle, setup_fake, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_port_conflict, setup_fake, teardown),
	    cmocka_unit_test_setup_teardown(test_events, setup_fake, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_networks, setup_fake, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_events_by_container, setup_fake, teardown),
	};
	const struct CMUnitTest docker[] = {
	    cmocka_unit_test_setup_teardown(
	        test_life_cycle, setup_docker, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_port_conflict, setup_docker, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_events, setup_docker, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_networks, setup_docker, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_events_by_container, setup_docker, teardown),
	};
	int failed;

	srand((unsigned) (orch_wall_us() ^ getpid()));
	rnd = (unsigned) rand();
	snprintf(label_val, sizeof(label_val), "conf-%d-%08x", (int) getpid(),
	    (unsigned) rand());
	failed = cmocka_run_group_tests_name("fake", fake, NULL, NULL);
	failed += cmocka_run_group_tests_name("docker", docker, NULL, NULL);
	return failed;
}
